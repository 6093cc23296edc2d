import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, open, readFile, rm, stat, truncate } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportBackend } from '../disk/nbd/export-backend.ts';
import {
  CMD_DISC,
  CMD_READ,
  CMD_WRITE,
  ERR_UNKNOWN,
  ERR_UNSUP,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  IHAVEOPT,
  INFO_EXPORT,
  NBD_EINVAL,
  NBD_EPERM,
  NBDMAGIC,
  OPT_ABORT,
  OPT_EXPORT_NAME,
  OPT_GO,
  OPT_LIST,
  OPT_STRUCTURED_REPLY,
  REP_ACK,
  REP_INFO,
  REP_SERVER,
  REPLY_FLAG_DONE,
  REPLY_MAGIC,
  REPLY_TYPE_ERROR,
  REPLY_TYPE_OFFSET_DATA,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  TFLAG_READ_ONLY,
} from '../disk/nbd/protocol.ts';
import { startNbdServer, type NbdServerHandle } from '../disk/nbd/server.ts';
import { SocketReader } from '../disk/nbd/socket-reader.ts';
import { RawFile } from '../disk/raw-file.ts';
import { freePort } from './helpers/ferry-process.ts';
import { makeSparseDisk, sha256File, TEST_DISK } from './helpers/nbd-peers.ts';

const execFileAsync = promisify(execFile);
const MiB = 1024 * 1024;
const { size: DISK_SIZE, dataRuns: DATA_RUNS } = TEST_DISK;
const SCRATCH_SIZE = 16 * MiB;

let dir: string;
let diskHash: string;
let scratchPath: string;
const files: RawFile[] = [];
const servers: NbdServerHandle[] = [];
const children = new Set<ChildProcess>();
const serverErrors: Error[] = [];
/** What the writable export was asked to do beyond reads and writes. */
const scratchCalls = { trim: 0, flush: 0 };

let tcpServer: NbdServerHandle;
let unixServer: NbdServerHandle;
let socketPath: string;

async function run(command: string, args: string[]): Promise<string> {
  const running = execFileAsync(command, args, { maxBuffer: 16 * MiB });
  children.add(running.child);
  try {
    return (await running).stdout;
  } finally {
    children.delete(running.child);
  }
}

/** Runs a command expected to fail; resolves with its exit code and what it said. */
async function runFailing(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  try {
    const stdout = await run(command, args);
    return { code: 0, output: stdout };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failure.code ?? null, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
  }
}

function recordingScratch(file: RawFile): ExportBackend {
  return {
    size: file.size,
    readOnly: false,
    multiConn: true,
    description: 'scratch space',
    read: (offset, length) => file.read(offset, length),
    write: (offset, data) => file.write(offset, data),
    flush: () => {
      scratchCalls.flush++;
      return file.flush();
    },
    trim: (offset, length) => {
      scratchCalls.trim++;
      return file.trim(offset, length);
    },
    extents: (offset, length) => file.extents(offset, length),
  };
}

/** A disk of zeros whose reads take a while, so that a client can be cut off mid-stream. */
function slowDisk(size: number, delayMs: (offset: number) => number): ExportBackend & { reads: number; mostAtOnce: number } {
  let underway = 0;
  const disk = {
    size,
    readOnly: true,
    multiConn: true,
    reads: 0,
    mostAtOnce: 0,
    async read(offset: number, length: number): Promise<Buffer> {
      disk.reads++;
      disk.mostAtOnce = Math.max(disk.mostAtOnce, ++underway);
      await sleep(delayMs(offset));
      underway--;
      return Buffer.alloc(length);
    },
  };
  return disk;
}

type Where = { host: string; port: number } | { path: string };

/** A hand-driven NBD client, for what real clients never send. */
class RawClient {
  private constructor(
    readonly socket: net.Socket,
    readonly reader: SocketReader,
  ) {}

  static async connect(where: Where): Promise<RawClient> {
    const socket = net.connect(where);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawClient(socket, new SocketReader(socket));
    const greeting = await client.reader.read(18);
    expect(greeting.readBigUInt64BE(0)).toBe(NBDMAGIC);
    expect(greeting.readBigUInt64BE(8)).toBe(IHAVEOPT);
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
    socket.write(flags);
    return client;
  }

  option(option: number, data: Buffer = Buffer.alloc(0), declaredLength = data.length): void {
    const header = Buffer.alloc(16);
    header.writeBigUInt64BE(IHAVEOPT, 0);
    header.writeUInt32BE(option, 8);
    header.writeUInt32BE(declaredLength, 12);
    this.socket.write(Buffer.concat([header, data]));
  }

  async optionReply(): Promise<{ option: number; type: number; data: Buffer }> {
    const header = await this.reader.read(20);
    expect(header.readBigUInt64BE(0)).toBe(REPLY_MAGIC);
    return { option: header.readUInt32BE(8), type: header.readUInt32BE(12), data: await this.reader.read(header.readUInt32BE(16)) };
  }

  /** Selects an export with NBD_OPT_GO; returns the final reply and the transmission flags, if any. */
  async go(name: string, structured: boolean): Promise<{ type: number; flags: number | null; message: string }> {
    if (structured) {
      this.option(OPT_STRUCTURED_REPLY);
      expect((await this.optionReply()).type).toBe(REP_ACK);
    }
    const nameBytes = Buffer.from(name);
    const data = Buffer.alloc(4 + nameBytes.length + 2);
    data.writeUInt32BE(nameBytes.length, 0);
    nameBytes.copy(data, 4);
    this.option(OPT_GO, data);
    let flags: number | null = null;
    for (;;) {
      const reply = await this.optionReply();
      if (reply.type === REP_INFO && reply.data.readUInt16BE(0) === INFO_EXPORT) flags = reply.data.readUInt16BE(10);
      if (reply.type !== REP_INFO) return { type: reply.type, flags, message: reply.data.toString() };
    }
  }

  request(type: number, cookie: number, offset: number, length: number, payload?: Buffer): void {
    const header = Buffer.alloc(28);
    header.writeUInt32BE(REQUEST_MAGIC, 0);
    header.writeUInt16BE(type, 6);
    header.writeBigUInt64BE(BigInt(cookie), 8);
    header.writeBigUInt64BE(BigInt(offset), 16);
    header.writeUInt32BE(length, 24);
    this.socket.write(payload ? Buffer.concat([header, payload]) : header);
  }

  async simpleReply(): Promise<{ error: number; cookie: number }> {
    const reply = await this.reader.read(16);
    expect(reply.readUInt32BE(0)).toBe(SIMPLE_REPLY_MAGIC);
    return { error: reply.readUInt32BE(4), cookie: Number(reply.readBigUInt64BE(8)) };
  }

  async chunk(): Promise<{ flags: number; type: number; cookie: number; payload: Buffer }> {
    const header = await this.reader.read(20);
    expect(header.readUInt32BE(0)).toBe(STRUCTURED_REPLY_MAGIC);
    return {
      flags: header.readUInt16BE(4),
      type: header.readUInt16BE(6),
      cookie: Number(header.readBigUInt64BE(8)),
      payload: await this.reader.read(header.readUInt32BE(16)),
    };
  }

  /** Resolves once the server has closed the connection. */
  async closedByServer(): Promise<void> {
    await expect(this.reader.read(1)).rejects.toThrow();
  }

  close(): void {
    this.socket.destroy();
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function serve(options: Parameters<typeof startNbdServer>[0]): Promise<NbdServerHandle> {
  const server = await startNbdServer({ ...options, onError: (error) => serverErrors.push(error) });
  servers.push(server);
  return server;
}

/** Leaves a socket file behind, as a server killed with SIGKILL does. */
async function staleSocket(file: string): Promise<void> {
  const script = `require('node:net').createServer().listen(${JSON.stringify(file)}, () => process.kill(process.pid, 'SIGKILL'))`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-nbd-server-'));
  const diskPath = path.join(dir, 'disk.raw');
  diskHash = await makeSparseDisk(diskPath, DISK_SIZE, DATA_RUNS);
  scratchPath = path.join(dir, 'scratch.raw');
  await (await open(scratchPath, 'w')).close();
  await truncate(scratchPath, SCRATCH_SIZE);
  const disk = await RawFile.open(diskPath);
  const scratch = await RawFile.open(scratchPath, { writable: true });
  files.push(disk, scratch);

  tcpServer = await serve({
    listen: { host: '127.0.0.1', port: 0 },
    exports: new Map<string, ExportBackend>([
      ['disk', disk],
      ['scratch', recordingScratch(scratch)],
    ]),
    defaultExport: 'disk',
  });
  socketPath = path.join(dir, 'nbd.sock');
  await staleSocket(socketPath);
  unixServer = await serve({ listen: { socketPath }, exports: new Map([['disk', disk]]) });
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(servers.map((server) => server.close()));
  await Promise.all(files.map((file) => file.close()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('NBD server', () => {
  it('serves a sparse disk byte for byte to nbdcopy and qemu-img', async () => {
    expect('port' in tcpServer.address && tcpServer.address.port).toBeGreaterThan(0);
    const url = tcpServer.url('disk');
    expect(url).toMatch(/^nbd:\/\/127\.0\.0\.1:\d+\/disk$/);
    const viaNbdcopy = path.join(dir, 'nbdcopy.raw');
    const viaQemu = path.join(dir, 'qemu-img.raw');
    await Promise.all([run('nbdcopy', [url, viaNbdcopy]), run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', url, viaQemu])]);
    expect(await sha256File(viaNbdcopy)).toBe(diskHash);
    expect(await sha256File(viaQemu)).toBe(diskHash);
  });

  it('describes its exports to nbdinfo: size, read-only, block status, the list', async () => {
    const info = JSON.parse(await run('nbdinfo', ['--json', tcpServer.url('disk')])) as { structured: boolean; exports: Record<string, unknown>[] };
    expect(info.structured).toBe(true);
    expect(info.exports[0]).toMatchObject({
      'export-size': DISK_SIZE,
      is_read_only: true,
      can_multi_conn: true,
      can_trim: false,
      contexts: ['base:allocation'],
      block_size_maximum: 32 * MiB,
    });

    const { port } = tcpServer.address as { port: number };
    const listed = JSON.parse(await run('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${port}`])) as { exports: Record<string, unknown>[] };
    expect(listed.exports.map((each) => each['export-name'])).toEqual(['disk', 'scratch']);
    expect(listed.exports[1]).toMatchObject({ 'export-size': SCRATCH_SIZE, is_read_only: false, can_trim: true, description: 'scratch space' });

    const defaultExport = JSON.parse(await run('nbdinfo', ['--json', `nbd://127.0.0.1:${port}`])) as { exports: Record<string, unknown>[] };
    expect(defaultExport.exports[0]).toMatchObject({ 'export-size': DISK_SIZE });

    const map = await run('nbdinfo', ['--map', tcpServer.url('disk')]);
    expect(map.trim().split(/\s+/)).toEqual(['0', String(DISK_SIZE), '0', 'data']);
  });

  it('serves over a Unix socket, replacing a stale socket file', async () => {
    const url = unixServer.url('disk');
    expect(url).toBe(`nbd+unix:///disk?socket=${socketPath}`);
    const copy = path.join(dir, 'unix.raw');
    await run('nbdcopy', [url, copy]);
    expect(await sha256File(copy)).toBe(diskHash);
    await expect(startNbdServer({ listen: { socketPath }, exports: new Map([['disk', files[0]!]]) })).rejects.toThrow(/another server is listening/);
  });

  it('takes writes from qemu-io, and accepts trim and flush', async () => {
    const url = tcpServer.url('scratch');
    await run('qemu-io', ['-f', 'raw', '--discard=unmap', '-c', 'write -P 0xab 1M 64k', '-c', 'discard 2M 64k', '-c', 'flush', url]);
    const bytes = await readFile(scratchPath);
    expect(bytes.subarray(MiB, MiB + 64 * 1024).every((byte) => byte === 0xab)).toBe(true);
    expect(bytes[MiB - 1]).toBe(0);
    expect(bytes[MiB + 64 * 1024]).toBe(0);
    expect(scratchCalls.trim).toBeGreaterThan(0);
    expect(scratchCalls.flush).toBeGreaterThan(0);
  });

  it('takes a whole disk from nbdcopy, in requests of many packets', async () => {
    const upload = path.join(dir, 'upload.raw');
    const uploadHash = await makeSparseDisk(upload, SCRATCH_SIZE, [
      [0, 3 * MiB],
      [8 * MiB, 5 * MiB + 4096],
    ]);
    await run('nbdcopy', ['--request-size=4194304', upload, tcpServer.url('scratch')]);
    expect(await sha256File(scratchPath)).toBe(uploadHash);
  });

  it('parses requests however the bytes are split', async () => {
    const client = await RawClient.connect(tcpServer.address as Where);
    expect((await client.go('scratch', false)).type).toBe(REP_ACK);
    client.socket.setNoDelay(true);
    const payload = Buffer.alloc(16, 0xcd);
    const header = Buffer.alloc(28);
    header.writeUInt32BE(REQUEST_MAGIC, 0);
    header.writeUInt16BE(CMD_WRITE, 6);
    header.writeBigUInt64BE(21n, 8);
    header.writeBigUInt64BE(BigInt(4 * MiB), 16);
    header.writeUInt32BE(payload.length, 24);
    for (const byte of Buffer.concat([header, payload])) {
      client.socket.write(Buffer.from([byte]));
      await sleep(1);
    }
    expect(await client.simpleReply()).toEqual({ error: 0, cookie: 21 });
    client.request(CMD_READ, 22, 4 * MiB - 8, 32);
    expect(await client.simpleReply()).toEqual({ error: 0, cookie: 22 });
    const onDisk = await readFile(scratchPath);
    expect(onDisk.subarray(4 * MiB, 4 * MiB + 16).equals(payload)).toBe(true);
    expect((await client.reader.read(32)).equals(onDisk.subarray(4 * MiB - 8, 4 * MiB + 24))).toBe(true);
    client.close();
  });

  it('refuses writes to a read-only export with EPERM and keeps serving', async () => {
    const qemu = await runFailing('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 1M 64k', tcpServer.url('disk')]);
    expect(qemu.code).not.toBe(0);

    const simple = await RawClient.connect(tcpServer.address as Where);
    const selected = await simple.go('disk', false);
    expect(selected.type).toBe(REP_ACK);
    expect(selected.flags! & TFLAG_READ_ONLY).toBe(TFLAG_READ_ONLY);
    simple.request(CMD_WRITE, 7, 0, 4096, Buffer.alloc(4096, 1));
    expect(await simple.simpleReply()).toEqual({ error: NBD_EPERM, cookie: 7 });
    simple.request(CMD_READ, 8, DISK_SIZE - 512, 1024);
    expect(await simple.simpleReply()).toEqual({ error: NBD_EINVAL, cookie: 8 });
    simple.request(CMD_READ, 9, MiB - 16, 32);
    expect(await simple.simpleReply()).toEqual({ error: 0, cookie: 9 });
    const original = await readFile(path.join(dir, 'disk.raw'));
    expect((await simple.reader.read(32)).equals(original.subarray(MiB - 16, MiB + 16))).toBe(true);
    simple.request(CMD_DISC, 10, 0, 0);
    await simple.closedByServer();

    const structured = await RawClient.connect(tcpServer.address as Where);
    expect((await structured.go('disk', true)).type).toBe(REP_ACK);
    structured.request(CMD_WRITE, 11, 0, 512, Buffer.alloc(512));
    const refusal = await structured.chunk();
    expect(refusal).toMatchObject({ flags: REPLY_FLAG_DONE, type: REPLY_TYPE_ERROR, cookie: 11 });
    expect(refusal.payload.readUInt32BE(0)).toBe(NBD_EPERM);
    expect(refusal.payload.subarray(6).toString()).toMatch(/read-only/);
    structured.request(CMD_READ, 12, 0, 4096);
    const data = await structured.chunk();
    expect(data).toMatchObject({ flags: REPLY_FLAG_DONE, type: REPLY_TYPE_OFFSET_DATA, cookie: 12 });
    expect(data.payload.readBigUInt64BE(0)).toBe(0n);
    expect(data.payload.subarray(8).equals(original.subarray(0, 4096))).toBe(true);
    structured.close();

    expect(JSON.parse(await run('nbdinfo', ['--json', tcpServer.url('disk')])).exports[0]['export-size']).toBe(DISK_SIZE);
  });

  it('answers unknown options with ERR_UNSUP, lists exports and refuses unknown ones', async () => {
    const client = await RawClient.connect(tcpServer.address as Where);
    client.option(42, Buffer.from('whatever'));
    expect(await client.optionReply()).toMatchObject({ option: 42, type: ERR_UNSUP });

    client.option(OPT_LIST);
    const names: string[] = [];
    for (let reply = await client.optionReply(); reply.type !== REP_ACK; reply = await client.optionReply()) {
      expect(reply.type).toBe(REP_SERVER);
      names.push(reply.data.toString('utf8', 4, 4 + reply.data.readUInt32BE(0)));
    }
    expect(names).toEqual(['disk', 'scratch']);

    const unknown = await client.go('nope', false);
    expect(unknown.type).toBe(ERR_UNKNOWN);
    expect(unknown.message).toMatch(/no export named "nope"/);

    client.option(OPT_ABORT);
    expect((await client.optionReply()).type).toBe(REP_ACK);
    await client.closedByServer();

    // NBD_OPT_EXPORT_NAME cannot carry an error: the server hangs up.
    const legacy = await RawClient.connect(tcpServer.address as Where);
    legacy.option(OPT_EXPORT_NAME, Buffer.from('nope'));
    await legacy.closedByServer();

    const hostile = await RawClient.connect(tcpServer.address as Where);
    hostile.option(OPT_LIST, Buffer.alloc(0), 1 << 30);
    await hostile.closedByServer();
    expect(serverErrors.splice(0).map((error) => error.message)).toEqual([expect.stringMatching(/1073741824 bytes of data/)]);
  });

  it('survives clients that disconnect mid-stream, and close() disconnects the rest', async () => {
    const slow = slowDisk(1024 * MiB, () => 20);
    const server = await serve({ listen: { host: '127.0.0.1', port: await freePort() }, exports: new Map([['slow', slow]]) });

    const copy = spawn('nbdcopy', [server.url('slow'), 'null:'], { stdio: 'ignore' });
    children.add(copy);
    const exited = new Promise<string | null>((resolve) => copy.once('exit', (_code, signal) => resolve(signal)));
    await waitFor(() => slow.reads > 0, 'nbdcopy to start reading');
    copy.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    children.delete(copy);

    const pipelined = await RawClient.connect(server.address as Where);
    expect((await pipelined.go('slow', true)).type).toBe(REP_ACK);
    for (let cookie = 0; cookie < 32; cookie++) pipelined.request(CMD_READ, cookie, cookie * MiB, MiB);
    pipelined.close();

    await waitFor(() => server.connections === 0, 'the server to notice the clients left');
    const info = JSON.parse(await run('nbdinfo', ['--json', server.url('slow')])) as { exports: Record<string, unknown>[] };
    expect(info.exports[0]).toMatchObject({ 'export-size': 1024 * MiB });

    const lingering = await RawClient.connect(server.address as Where);
    expect((await lingering.go('slow', false)).type).toBe(REP_ACK);
    const readsBefore = slow.reads;
    lingering.request(CMD_READ, 1, 0, 4096);
    await waitFor(() => slow.reads > readsBefore, 'the read to reach the disk');
    await server.close();
    // The read under way is answered before the server hangs up.
    expect(await lingering.simpleReply()).toEqual({ error: 0, cookie: 1 });
    await lingering.reader.read(4096);
    await lingering.closedByServer();
    expect(server.connections).toBe(0);
    expect(serverErrors).toEqual([]);
  });

  it('answers pipelined requests as they finish, holding at most 64 at a time', async () => {
    // The first read is the slowest: its answer must not hold up the others.
    const slow = slowDisk(64 * MiB, (offset) => (offset === 0 ? 150 : 10));
    const server = await serve({ listen: { host: '127.0.0.1', port: 0 }, exports: new Map([['slow', slow]]) });
    const client = await RawClient.connect(server.address as Where);
    expect((await client.go('slow', true)).type).toBe(REP_ACK);
    const count = 200;
    for (let cookie = 0; cookie < count; cookie++) client.request(CMD_READ, cookie, cookie * 4096, 4096);
    const answered: number[] = [];
    for (let i = 0; i < count; i++) {
      const chunk = await client.chunk();
      expect(chunk).toMatchObject({ flags: REPLY_FLAG_DONE, type: REPLY_TYPE_OFFSET_DATA });
      expect(chunk.payload.readBigUInt64BE(0)).toBe(BigInt(chunk.cookie * 4096));
      answered.push(chunk.cookie);
    }
    expect(new Set(answered).size).toBe(count);
    expect(answered[0]).not.toBe(0);
    expect(slow.mostAtOnce).toBe(64);
    client.request(CMD_DISC, 0, 0, 0);
    await client.closedByServer();
    await server.close();
  });

  it('removes its socket file when closed', async () => {
    const file = path.join(dir, 'short-lived.sock');
    const server = await startNbdServer({ listen: { socketPath: file }, exports: new Map([['disk', files[0]!]]) });
    expect((await stat(file)).isSocket()).toBe(true);
    await server.close();
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
  });
});
