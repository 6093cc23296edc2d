import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NbdClient } from '../disk/nbd/client.ts';
import { NbdPool, openNbd } from '../disk/nbd/pool.ts';
import {
  ERR_UNSUP,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO_EXPORT,
  NBDMAGIC,
  OPT_GO,
  REP_ACK,
  REP_INFO,
  REPLY_MAGIC,
  SIMPLE_REPLY_MAGIC,
} from '../disk/nbd/protocol.ts';
import type { NbdAddress } from '../disk/nbd/url.ts';
import { freePort } from './helpers/ferry-process.ts';
import { makeSparseDisk, startPeer, TEST_DISK, type Peer } from './helpers/nbd-peers.ts';

const MiB = 1024 * 1024;
const { size: DISK_SIZE, dataRuns: DATA_RUNS } = TEST_DISK;

let dir: string;
let disk: string;
let diskBytes: Buffer;
let diskHash: string;
/** Servers, stopped first at the end so that no client can wait on one that went quiet. */
const servers: { stop(): Promise<void> }[] = [];
const clients: { close(): Promise<void> }[] = [];
type TcpAddress = Extract<NbdAddress, { transport: 'tcp' }>;

let qemuTcp: TcpAddress;
let qemuUnix: NbdAddress;
let nbdkitFile: TcpAddress;

async function tcp(exportName = ''): Promise<TcpAddress> {
  return { transport: 'tcp', host: '127.0.0.1', port: await freePort(), exportName };
}

async function serve(command: string, args: string[], address: NbdAddress): Promise<Peer> {
  const peer = await startPeer(command, args, address);
  servers.push(peer);
  return peer;
}

function qemuNbd(address: NbdAddress, ...args: string[]): Promise<Peer> {
  const where = address.transport === 'tcp' ? ['--bind=127.0.0.1', `--port=${address.port}`] : [`--socket=${address.socketPath}`];
  return serve('qemu-nbd', ['--persistent', `--export-name=${address.exportName}`, ...where, ...args], address);
}

function nbdkit(address: TcpAddress, ...args: string[]): Promise<Peer> {
  return serve('nbdkit', ['--foreground', '--exit-with-parent', '--ipaddr', '127.0.0.1', '--port', String(address.port), ...args], address);
}

async function connect(address: NbdAddress, options: Parameters<typeof NbdClient.connect>[1] = {}): Promise<NbdClient> {
  const client = await NbdClient.connect(address, options);
  clients.push(client);
  return client;
}

async function readWhole(client: NbdClient, pieceSize = 2 * MiB): Promise<string> {
  const pieces: Promise<Buffer>[] = [];
  for (let offset = 0; offset < client.info.size; offset += pieceSize) pieces.push(client.read(offset, Math.min(pieceSize, client.info.size - offset)));
  const hash = createHash('sha256');
  for (const piece of await Promise.all(pieces)) hash.update(piece);
  return hash.digest('hex');
}

function isData(offset: number): boolean {
  return DATA_RUNS.some(([start, length]) => offset >= start && offset < start + length);
}

/** Every run boundary of the layout, where an extent must begin or end. */
const BOUNDARIES = new Set(DATA_RUNS.flatMap(([start, length]) => [start, start + length]));

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-nbd-client-'));
  disk = path.join(dir, 'disk.raw');
  diskHash = await makeSparseDisk(disk, DISK_SIZE, DATA_RUNS);
  diskBytes = await readFile(disk);
  [qemuTcp, nbdkitFile] = await Promise.all([tcp('disk'), tcp()]);
  qemuUnix = { transport: 'unix', socketPath: path.join(dir, 'qemu.sock'), exportName: 'disk' };
  await Promise.all([
    qemuNbd(qemuTcp, '--read-only', '--format=raw', disk),
    qemuNbd(qemuUnix, '--read-only', '--format=raw', disk),
    nbdkit(nbdkitFile, '--readonly', 'file', disk),
  ]);
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  await Promise.allSettled(clients.map((client) => client.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('NbdClient reads', () => {
  const cases: [string, () => NbdAddress, boolean][] = [
    ['qemu-nbd over TCP', () => qemuTcp, true],
    ['qemu-nbd over a Unix socket', () => qemuUnix, true],
    ['nbdkit file', () => nbdkitFile, true],
    ['qemu-nbd with simple replies only', () => qemuTcp, false],
  ];
  for (const [name, address, structuredReplies] of cases) {
    it(`reads a sparse disk byte for byte from ${name}`, async () => {
      const client = await connect(address(), { structuredReplies });
      expect(client.info).toMatchObject({ size: DISK_SIZE, structuredReplies });
      expect(await readWhole(client)).toBe(diskHash);
      await client.close();
    });
  }

  it('splits a read larger than the server takes at once, all requests in flight together', async () => {
    const client = await connect(qemuTcp);
    expect(client.info.blockSize?.maximum).toBe(32 * MiB);
    const read = client.read(4 * MiB + 3, 40 * MiB);
    expect(client.inFlight).toBe(2);
    expect((await read).equals(diskBytes.subarray(4 * MiB + 3, 44 * MiB + 3))).toBe(true);
    await client.close();
  });

  for (const [name, address] of [
    ['qemu-nbd', () => qemuTcp],
    ['nbdkit', () => nbdkitFile],
  ] as const) {
    it(`answers 200 concurrent reads of random ranges from ${name}, each with its own bytes`, async () => {
      const client = await connect(address());
      const ranges = Array.from({ length: 200 }, () => {
        const length = randomInt(1, MiB);
        return [randomInt(0, DISK_SIZE - length), length] as const;
      });
      const reads = ranges.map(([offset, length]) => client.read(offset, length));
      expect(client.inFlight).toBe(200);
      const results = await Promise.all(reads);
      results.forEach((data, index) => {
        const [offset, length] = ranges[index]!;
        expect(data.equals(diskBytes.subarray(offset, offset + length)), `read ${index}: ${length} bytes at ${offset}`).toBe(true);
      });
      expect(client.inFlight).toBe(0);
      await client.close();
    });
  }

  it('refuses reads beyond the end of the export without asking the server', async () => {
    const client = await connect(qemuTcp);
    await expect(client.read(DISK_SIZE - 10, 11)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/has 67108864 bytes/) });
    expect((await client.read(DISK_SIZE - 10, 10)).equals(diskBytes.subarray(DISK_SIZE - 10))).toBe(true);
    await client.close();
  });
});

describe('NbdClient block status', () => {
  for (const [name, address] of [
    ['qemu-nbd', () => qemuTcp],
    ['nbdkit', () => nbdkitFile],
  ] as const) {
    it(`reports the holes of the disk from ${name}`, async () => {
      const client = await connect(address());
      expect(client.info.allocationContextId).not.toBeNull();
      let offset = 0;
      while (offset < DISK_SIZE) {
        const extents = await client.blockStatus(offset, DISK_SIZE - offset);
        for (const extent of extents) {
          expect(extent.offset).toBe(offset);
          const end = extent.offset + extent.length;
          const crossed = [...BOUNDARIES].filter((boundary) => boundary > extent.offset && boundary < end);
          expect(crossed, `extent ${JSON.stringify(extent)} spans data and hole`).toEqual([]);
          const data = isData(extent.offset);
          expect(extent, `extent at ${extent.offset}`).toMatchObject({ hole: !data, zero: !data });
          offset = end;
        }
      }
      expect(offset).toBe(DISK_SIZE);
      expect(await client.blockStatus(5 * MiB - 100, 200)).toEqual([
        { offset: 5 * MiB - 100, length: 100, zero: true, hole: true },
        { offset: 5 * MiB, length: 100, zero: false, hole: false },
      ]);
      await client.close();
    });
  }

  it('reports the whole range as data when base:allocation was not negotiated', async () => {
    const client = await connect(qemuTcp, { blockStatus: false });
    expect(client.info).toMatchObject({ structuredReplies: true, allocationContextId: null });
    expect(await client.blockStatus(MiB, 4 * MiB)).toEqual([{ offset: MiB, length: 4 * MiB, zero: false, hole: false }]);
    await client.close();
  });
});

describe('NbdClient writes', () => {
  it('writes, flushes and trims an nbdkit memory export, and reads it back', async () => {
    const address = await tcp();
    await nbdkit(address, 'memory', String(16 * MiB));
    const client = await connect(address);
    const data = randomBytes(3 * MiB);
    await Promise.all([client.write(MiB, data, { fua: true }), client.write(8 * MiB, data.subarray(0, MiB))]);
    await client.flush();
    expect((await client.read(MiB, 3 * MiB)).equals(data)).toBe(true);
    await client.trim(2 * MiB, MiB);
    const after = await client.read(MiB, 3 * MiB);
    expect(after.subarray(MiB, 2 * MiB).equals(Buffer.alloc(MiB))).toBe(true);
    expect(after.subarray(2 * MiB).equals(data.subarray(2 * MiB))).toBe(true);
    expect((await client.blockStatus(2 * MiB, MiB))[0]).toMatchObject({ offset: 2 * MiB, zero: true });
    await client.close();
  });

  it('writes through qemu-nbd into its disk file', async () => {
    const file = path.join(dir, 'writable.raw');
    await writeFile(file, Buffer.alloc(8 * MiB));
    const address = await tcp('w');
    await qemuNbd(address, '--format=raw', '--cache=none', file);
    const client = await connect(address);
    const data = randomBytes(2 * MiB);
    await client.write(3 * MiB, data);
    await client.flush();
    expect((await readFile(file)).subarray(3 * MiB, 5 * MiB).equals(data)).toBe(true);
    await client.close();
  });

  it('refuses to write to a read-only export', async () => {
    const client = await connect(qemuTcp);
    await expect(client.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: 'EPERM', message: expect.stringMatching(/read-only/) });
    await client.close();
  });
});

describe('NbdClient failures', () => {
  it('rejects a read the server fails with EIO and keeps serving the other requests', async () => {
    const trigger = path.join(dir, 'fail-reads');
    const address = await tcp();
    await nbdkit(address, '--filter=error', 'memory', String(16 * MiB), 'error=EIO', 'error-pread-rate=1', `error-pread-file=${trigger}`);
    for (const structuredReplies of [true, false]) {
      const client = await connect(address, { structuredReplies });
      const data = randomBytes(MiB);
      await writeFile(trigger, '');
      const [read, written, status] = await Promise.allSettled([client.read(0, MiB), client.write(4 * MiB, data), client.blockStatus(0, 8 * MiB)]);
      expect(read).toMatchObject({ status: 'rejected', reason: { code: 'EIO', message: expect.stringMatching(/failed a read of 1048576 bytes at offset 0: EIO/) } });
      expect(written.status).toBe('fulfilled');
      expect(status.status).toBe('fulfilled');
      await unlink(trigger);
      expect((await client.read(4 * MiB, MiB)).equals(data)).toBe(true);
      await client.close();
    }
  });

  it('rejects every pending request with ECONNRESET when the server dies mid-transfer', async () => {
    const file = path.join(dir, 'slow.raw');
    await writeFile(file, randomBytes(16 * MiB));
    const address = await tcp('slow');
    // Throttled to 16 MiB/s, so most of 16 MiB of reads are still pending when the server dies.
    const peer = await qemuNbd(
      address,
      '--read-only',
      '--object=throttle-group,id=slow,x-bps-read=16777216',
      '--image-opts',
      `driver=throttle,throttle-group=slow,file.driver=raw,file.file.driver=file,file.file.filename=${file}`,
    );
    const client = await connect(address);
    const reads = Array.from({ length: 16 }, (_, index) => client.read(index * MiB, MiB));
    await Promise.race(reads);
    peer.process.kill('SIGKILL');
    const results = await Promise.allSettled(reads);
    const rejected = results.filter((result) => result.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const result of rejected) {
      expect(result.reason).toMatchObject({ code: 'ECONNRESET', message: expect.stringMatching(/closed the connection.* with \d+ requests? pending/) });
    }
    expect(client.inFlight).toBe(0);
    expect(client.isOpen).toBe(false);
    await expect(client.read(0, 512)).rejects.toMatchObject({ code: 'ECONNRESET' });
    await client.close();
  });

  it('drops the connection on a reply for a cookie no request has', async () => {
    const server = await fakeServer((request) => simpleReply(request.readBigUInt64BE(8) + 1000n));
    const client = await connect(server.address);
    expect(client.info).toMatchObject({ size: MiB, structuredReplies: false, allocationContextId: null });
    const reads = [client.read(0, 512), client.read(512, 512)];
    for (const read of reads) await expect(read).rejects.toMatchObject({ code: 'EPROTO', message: expect.stringMatching(/cookie \d+, which no request is waiting for/) });
    await expect(client.flush()).rejects.toMatchObject({ code: 'EPROTO' });
  });

  it('keeps bytes that arrive with the end of the handshake: bad magic there is caught', async () => {
    const server = await fakeServer(() => Buffer.alloc(0), Buffer.alloc(16, 0xff));
    const client = await connect(server.address);
    await expect(client.read(0, 512)).rejects.toMatchObject({ code: 'EPROTO', message: expect.stringMatching(/magic 0xffffffff/) });
  });
});

describe('NbdPool', () => {
  it('opens several connections to nbdkit, which offers multi-conn, and reads through them', async () => {
    const pool = await NbdPool.open(nbdkitFile, { connections: 3 });
    clients.push(pool);
    expect(pool.info.canMultiConn).toBe(true);
    expect(pool.connectionCount).toBe(3);
    expect(pool.size).toBe(DISK_SIZE);
    const hash = createHash('sha256');
    const pieces = await Promise.all(Array.from({ length: 32 }, (_, index) => pool.read(index * 2 * MiB, 2 * MiB)));
    for (const piece of pieces) hash.update(piece);
    expect(hash.digest('hex')).toBe(diskHash);
    expect((await pool.extents(0, 2 * MiB))[0]).toMatchObject({ offset: 0, length: MiB, hole: false });
    await pool.close();
  });

  it('opens one connection to qemu-nbd, which does not offer multi-conn', async () => {
    const pool = await openNbd(`nbd://127.0.0.1:${qemuTcp.port}/disk`);
    clients.push(pool);
    expect(pool.info.canMultiConn).toBe(false);
    expect(pool.connectionCount).toBe(1);
    expect((await pool.read(5 * MiB, 4096)).equals(diskBytes.subarray(5 * MiB, 5 * MiB + 4096))).toBe(true);
    await pool.close();
    await expect(openNbd('http://example.com/')).rejects.toThrow(/not an NBD URL/);
  });
});

function simpleReply(cookie: bigint): Buffer {
  const reply = Buffer.alloc(16);
  reply.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  reply.writeBigUInt64BE(cookie, 8);
  return reply;
}

function optionReply(option: number, type: number, data: Buffer): Buffer {
  const header = Buffer.alloc(20);
  header.writeBigUInt64BE(REPLY_MAGIC, 0);
  header.writeUInt32BE(option, 8);
  header.writeUInt32BE(type, 12);
  header.writeUInt32BE(data.length, 16);
  return Buffer.concat([header, data]);
}

/**
 * A misbehaving NBD server for the protocol violations real servers never commit: it refuses every
 * option but NBD_OPT_GO (a 1 MiB read-only export), sends `afterGo` with the final ACK, and answers
 * each request header with what `answer` returns.
 */
async function fakeServer(answer: (request: Buffer) => Buffer, afterGo = Buffer.alloc(0)): Promise<{ address: NbdAddress }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const greeting = Buffer.alloc(18);
    greeting.writeBigUInt64BE(NBDMAGIC, 0);
    greeting.writeBigUInt64BE(IHAVEOPT, 8);
    greeting.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
    socket.write(greeting);
    let input = Buffer.alloc(0);
    let phase: 'flags' | 'options' | 'transmission' = 'flags';
    socket.on('data', (chunk: Buffer) => {
      input = Buffer.concat([input, chunk]);
      for (;;) {
        if (phase === 'flags' && input.length >= 4) {
          input = input.subarray(4);
          phase = 'options';
        } else if (phase === 'options' && input.length >= 16 && input.length >= 16 + input.readUInt32BE(12)) {
          const option = input.readUInt32BE(8);
          input = input.subarray(16 + input.readUInt32BE(12));
          if (option !== OPT_GO) {
            socket.write(optionReply(option, ERR_UNSUP, Buffer.alloc(0)));
            continue;
          }
          const info = Buffer.alloc(12);
          info.writeUInt16BE(INFO_EXPORT, 0);
          info.writeBigUInt64BE(BigInt(MiB), 2);
          info.writeUInt16BE(0b11, 10);
          socket.write(Buffer.concat([optionReply(option, REP_INFO, info), optionReply(option, REP_ACK, Buffer.alloc(0)), afterGo]));
          phase = 'transmission';
        } else if (phase === 'transmission' && input.length >= 28) {
          socket.write(answer(input.subarray(0, 28)));
          input = input.subarray(28);
        } else {
          return;
        }
      }
    });
    socket.on('error', () => undefined);
  });
  const address = await tcp();
  await new Promise<void>((resolve) => server.listen(address.port, '127.0.0.1', resolve));
  servers.push({
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
  return { address };
}
