import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloneSession, type CloneOptions } from '../disk/engine/clone-session.ts';
import type { EngineEvent } from '../disk/engine/engine.ts';
import { NbdClient } from '../disk/nbd/client.ts';
import { parseNbdUrl } from '../disk/nbd/url.ts';
import { freePort } from './helpers/ferry-process.ts';
import { makeSparseDisk, serveWithQemuNbd, sha256File, startPeer, type Peer, type ServedDisk } from './helpers/nbd-peers.ts';

const MiB = 1024 * 1024;
let dir: string;
const peers: Peer[] = [];
let counter = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-engine-'));
});

afterAll(async () => {
  await Promise.all(peers.map((peer) => peer.stop()));
  await rm(dir, { recursive: true, force: true });
});

function file(name: string): string {
  counter += 1;
  return path.join(dir, `${counter}-${name}`);
}

/** A 64 MiB disk: 9 MiB of random data in four runs, holes elsewhere. */
async function sparseDisk(): Promise<{ path: string; sha: string; size: number }> {
  const disk = file('source.raw');
  const size = 64 * MiB;
  const sha = await makeSparseDisk(disk, size, [
    [0, MiB],
    [5 * MiB, 3 * MiB],
    [30 * MiB + 4096, 1 * MiB],
    [60 * MiB, 4 * MiB],
  ]);
  return { path: disk, sha, size };
}

async function qemuNbd(disk: string, port?: number): Promise<ServedDisk> {
  const served = await serveWithQemuNbd(disk, port === undefined ? {} : { port });
  peers.push(served.peer);
  return served;
}

async function clone(options: Omit<CloneOptions, 'target'> & { target?: string }): Promise<{ session: CloneSession; events: EngineEvent[]; target: string }> {
  const events: EngineEvent[] = [];
  const target = options.target ?? file('target.raw');
  const session = await CloneSession.open({
    streams: 8,
    requestSize: 2 * MiB,
    ...options,
    target,
    onEvent: (event) => {
      events.push(event);
      options.onEvent?.(event);
    },
  });
  return { session, events, target };
}

describe('clone', () => {
  it('copies a disk with holes from qemu-nbd byte for byte, without fetching the holes', async () => {
    const disk = await sparseDisk();
    const { url } = await qemuNbd(disk.path);
    const { session, events, target } = await clone({ source: url });
    const summary = await session.run();
    await session.close('finish');
    expect(await sha256File(target)).toBe(disk.sha);
    expect(summary.outcome).toBe('completed');
    expect(summary.fetchedBytes).toBeGreaterThanOrEqual(9 * MiB);
    expect(summary.fetchedBytes).toBeLessThan(12 * MiB);
    expect(summary.zeroBytes).toBeGreaterThan(50 * MiB);
    expect(summary.verifiedBytes).toBe(disk.size);
    expect(summary.repairedBytes).toBe(0);
    expect(summary.bootReadyMs).toBeGreaterThanOrEqual(0);
    expect(events.map((event) => event.type === 'phase' && event.phase).filter(Boolean)).toEqual(['booting', 'backfilling', 'verifying', 'completed']);
    await expect(readFile(`${target}.ferry-state`)).rejects.toThrow(/ENOENT/);
  });

  it('copies from a local raw file, and refuses to overwrite a file it did not start', async () => {
    const disk = await sparseDisk();
    const { session, target } = await clone({ source: disk.path });
    await session.run();
    await session.close('finish');
    expect(await sha256File(target)).toBe(disk.sha);
    await expect(clone({ source: disk.path, target })).rejects.toThrow(/already exists/);
  });

  it('comes out identical through nbdkit failing 1% of reads and delaying every one', async () => {
    // 32 MiB of data in 64 KiB requests, copied and verified: about 1000 reads, so some do fail.
    const disk = { path: file('faulty.raw'), size: 64 * MiB, sha: '' };
    disk.sha = await makeSparseDisk(disk.path, disk.size, [[0, 32 * MiB]]);
    const port = await freePort();
    const url = `nbd://127.0.0.1:${port}/`;
    const args = ['--foreground', '--exit-with-parent', '--readonly', '--ipaddr', '127.0.0.1', '--port', String(port), '--filter=error', '--filter=delay'];
    peers.push(await startPeer('nbdkit', [...args, 'file', disk.path, 'error=EIO', 'error-pread-rate=1%', 'delay-read=2ms'], parseNbdUrl(url)));
    const { session, target } = await clone({ source: url, requestSize: 64 * 1024 });
    const summary = await session.run();
    await session.close('finish');
    expect(await sha256File(target)).toBe(disk.sha);
    expect(summary.retriedReads).toBeGreaterThan(0);
  });

  it('reconnects when the source drops in the middle, and the copy is identical', async () => {
    const disk = await sparseDisk();
    const source = await qemuNbd(disk.path);
    const { session, events, target } = await clone({ source: source.url, bandwidthBytesPerSecond: 8 * MiB, streams: 4 });
    const running = session.run();
    await sleep(500);
    expect(session.engine.snapshot().presentBytes).toBeLessThan(disk.size);
    await source.peer.stop();
    await sleep(200);
    await qemuNbd(disk.path, source.port);
    const summary = await running;
    await session.close('finish');
    expect(summary.outcome).toBe('completed');
    expect(events.some((event) => event.type === 'reconnecting')).toBe(true);
    expect(await sha256File(target)).toBe(disk.sha);
  });

  it('fails with the reason when the source stays away, and the next run resumes from what was copied', async () => {
    const disk = await sparseDisk();
    const source = await qemuNbd(disk.path);
    const target = file('target.raw');
    const first = await clone({ source: source.url, target, bandwidthBytesPerSecond: 8 * MiB, streams: 4 });
    const running = first.session.run();
    await sleep(600);
    await source.peer.stop();
    await expect(running).rejects.toThrow(/from the source failed \d+ times; the last error: .*(ECONNREFUSED|closed|connect)/i);
    await first.session.close('keep');
    await qemuNbd(disk.path, source.port);
    const second = await clone({ source: source.url, target });
    const summary = await second.session.run();
    await second.session.close('finish');
    expect(summary.resumedBytes).toBeGreaterThan(0);
    expect(summary.fetchedBytes).toBeLessThan(9 * MiB);
    expect(await sha256File(target)).toBe(disk.sha);
  }, 20_000);

  it('pauses, resumes and cancels', async () => {
    const disk = await sparseDisk();
    const { url } = await qemuNbd(disk.path);
    const { session } = await clone({ source: url, bandwidthBytesPerSecond: 4 * MiB, streams: 2, requestSize: 256 * 1024 });
    const running = session.run();
    await sleep(300);
    session.engine.pause();
    await sleep(200);
    const paused = session.engine.snapshot();
    await sleep(400);
    expect(session.engine.snapshot().fetchedBytes).toBe(paused.fetchedBytes);
    expect(paused.paused).toBe(true);
    session.engine.resume();
    await sleep(200);
    expect(session.engine.snapshot().fetchedBytes).toBeGreaterThan(paused.fetchedBytes);
    session.engine.cancel();
    expect((await running).outcome).toBe('cancelled');
    await session.close('discard');
  });
});

describe('the local export while the backfill runs', () => {
  it('serves not-yet-copied chunks from the source and keeps what the guest writes', async () => {
    const disk = await sparseDisk();
    const { url } = await qemuNbd(disk.path);
    const socketPath = file('guest.sock');
    const { session, target } = await clone({ source: url, bandwidthBytesPerSecond: 6 * MiB, streams: 2, requestSize: 256 * 1024, serve: { socketPath } });
    const running = session.run();
    const guest = await NbdClient.connect(parseNbdUrl(session.exportUrl!));
    const original = await readFile(disk.path);
    // Far from the start, so the backfill has not reached it.
    for (const [offset, length] of [
      [61 * MiB + 777, 5000],
      [30 * MiB, 2 * MiB],
      [45 * MiB, 4096],
    ] as const) {
      expect(session.engine.snapshot().presentBytes).toBeLessThan(disk.size);
      expect((await guest.read(offset, length)).equals(original.subarray(offset, offset + length))).toBe(true);
    }
    const partial = randomBytes(1000);
    const whole = randomBytes(256 * 1024);
    await guest.write(62 * MiB + 100, partial);
    await guest.write(63 * MiB, whole);
    await guest.flush();
    expect((await guest.read(62 * MiB, 4096)).subarray(100, 1100).equals(partial)).toBe(true);
    const summary = await running;
    await guest.close();
    await session.close('finish');
    expect(summary.onDemandReads).toBeGreaterThanOrEqual(3);
    expect(summary.guestWrittenBytes).toBe(1000 + 256 * 1024);
    const expected = Buffer.from(original);
    partial.copy(expected, 62 * MiB + 100);
    whole.copy(expected, 63 * MiB);
    expect((await readFile(target)).equals(expected)).toBe(true);
  });
});

describe('the boot set', () => {
  it('fetches the partition tables and each partition head first, and replays the boot profile', async () => {
    const disk = file('gpt.raw');
    const size = 64 * MiB;
    await makeSparseDisk(disk, size, [[40 * MiB, 2 * MiB]]);
    execFileSync('sgdisk', ['-n', '1:2048:+8M', '-n', '2:0:+16M', '-n', '3:0:0', disk], { stdio: 'ignore' });
    const handle = await open(disk, 'r+');
    for (const start of [MiB, 9 * MiB, 25 * MiB]) await handle.write(randomBytes(8192), 0, 8192, start);
    await handle.close();
    const { url } = await qemuNbd(disk);
    const profileDir = file('profiles');
    const isPresent = (session: CloneSession, offset: number): boolean => session.engine.isPresent(offset);

    const checks: Record<string, boolean> = {};
    const first = await clone({
      source: url,
      profileDir,
      serve: { socketPath: file('boot.sock') },
      bandwidthBytesPerSecond: 8 * MiB,
      streams: 2,
      requestSize: 128 * 1024,
      onEvent: (event) => {
        if (event.type !== 'boot-ready') return;
        for (const offset of [0, 512, MiB, 9 * MiB, 25 * MiB, size - 4096]) checks[`head ${offset}`] = isPresent(first.session, offset);
        checks['middle not yet'] = !isPresent(first.session, 50 * MiB);
      },
    });
    const running = first.session.run();
    const guest = await NbdClient.connect(parseNbdUrl(first.session.exportUrl!));
    await guest.read(40 * MiB, 64 * 1024);
    await guest.close();
    expect((await running).bootProfile?.ranges).toContainEqual({ offset: 40 * MiB, length: 64 * 1024 });
    await first.session.close('finish');
    expect(Object.values(checks).every(Boolean), JSON.stringify(checks)).toBe(true);

    let profiled = false;
    const second = await clone({
      source: url,
      profileDir,
      bandwidthBytesPerSecond: 8 * MiB,
      streams: 2,
      requestSize: 128 * 1024,
      onEvent: (event) => {
        if (event.type === 'boot-ready') profiled = isPresent(second.session, 40 * MiB) && !isPresent(second.session, 41 * MiB);
      },
    });
    await second.session.run();
    await second.session.close('finish');
    expect(profiled).toBe(true);
  });
});
