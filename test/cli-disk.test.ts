import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../service/server.ts';
import { freePort, runFerry, type FerryProcess } from './helpers/ferry-process.ts';
import { makeSparseDisk, serveWithQemuNbd, sha256File, type Peer } from './helpers/nbd-peers.ts';
import { startTestRedis } from './helpers/redis.ts';
import { call, makeSourceDir, startTestService } from './helpers/service.ts';

const run = promisify(execFile);
const BIN = path.join(import.meta.dirname, '..', 'bin', 'ferry.mjs');
const MiB = 1024 * 1024;
let dir: string;
let source: { path: string; sha: string; url: string };
const peers: Peer[] = [];
const children: FerryProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-disk-'));
  const disk = path.join(dir, 'source.raw');
  const sha = await makeSparseDisk(disk, 64 * MiB, [
    [0, 2 * MiB],
    [20 * MiB, 4 * MiB],
    [50 * MiB, 3 * MiB],
  ]);
  const { peer, url } = await serveWithQemuNbd(disk);
  peers.push(peer);
  source = { path: disk, sha, url };
});

afterAll(async () => {
  for (const child of children) child.child.kill('SIGKILL');
  await Promise.all(peers.map((peer) => peer.stop()));
  await rm(dir, { recursive: true, force: true });
});

describe('ferry clone', () => {
  it('copies an NBD export and prints the JSON summary; a second run refuses to overwrite', async () => {
    const target = path.join(dir, 'one.raw');
    const { stdout } = await run(process.execPath, [BIN, 'clone', source.url, target, '--json', '--streams', '4', '--request-size', '1M']);
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({ bytes: 64 * MiB, outcome: 'completed', onDemandReads: 0, bootReadyMs: expect.any(Number), seconds: expect.any(Number) });
    expect(summary.fetchedBytes).toBeLessThan(10 * MiB);
    expect(await sha256File(target)).toBe(source.sha);
    await expect(run(process.execPath, [BIN, 'clone', source.url, target])).rejects.toMatchObject({ stderr: expect.stringMatching(/already exists; remove it or choose another target/) });
    await expect(run(process.execPath, [BIN, 'clone', source.url, path.join(dir, 'x.raw'), '--request-size', '100'])).rejects.toMatchObject({
      stderr: expect.stringMatching(/multiple of 64K/),
    });
  });

  it('serves the copy while it runs: nbdcopy reads the source bytes from it; SIGINT keeps what was copied for the next run', async () => {
    const target = path.join(dir, 'served.raw');
    const socket = path.join(dir, 'guest.sock');
    const child = spawn(process.execPath, [BIN, 'clone', source.url, target, '--serve', `unix:${socket}`, '--bandwidth', '16', '--streams', '2', '--request-size', '256K'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('boot ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`ferry clone exited with ${code}: ${stderr}`)));
    });
    expect(stderr).toContain(`serving the copy at nbd+unix:///disk?socket=${socket}`);
    const copy = path.join(dir, 'through-export.raw');
    await run('nbdcopy', [`nbd+unix:///disk?socket=${socket}`, copy]);
    expect(await sha256File(copy)).toBe(source.sha);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/run the same command again to resume/);
    const { stdout } = await run(process.execPath, [BIN, 'clone', source.url, target, '--json']);
    expect(JSON.parse(stdout).resumedBytes).toBeGreaterThan(2 * MiB);
    expect(await sha256File(target)).toBe(source.sha);
  });
});

describe('ferry appliance', () => {
  let service: RunningService;
  let stopRedis: () => Promise<void>;

  beforeAll(async () => {
    const redis = await startTestRedis();
    stopRedis = () => redis.stop();
    service = await startTestService(redis.url, await makeSourceDir());
  });

  afterAll(async () => {
    await service.close();
    await stopRedis();
  });

  it('serves disks read-only and registers them, again after a restart, and says why a name clash is refused', async () => {
    const port = await freePort();
    const env = { FERRY_API_URL: service.url };
    const args = ['appliance', '--listen', `127.0.0.1:${port}`, `web-09=${source.path}`];
    const first = await runFerry(args, env, 'registered with the service');
    children.push(first);
    const server = (await call(service.url, 'GET', '/servers/web-09')).body;
    expect(server).toMatchObject({ source: `nbd://127.0.0.1:${port}/web-09`, status: 'available', sizeBytes: 64 * MiB, tags: ['appliance'] });
    const { stdout } = await run('nbdinfo', ['--json', `nbd://127.0.0.1:${port}/web-09`]);
    expect(JSON.parse(stdout).exports[0]).toMatchObject({ 'export-size': 64 * MiB, is_read_only: true });

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const again = await runFerry(args, env, 'registered with the service');
    children.push(again);
    expect(again.logs.at(-1)).toMatchObject({ serverId: server.id });

    const otherPort = await freePort();
    const clash = await runFerry(['appliance', '--listen', `127.0.0.1:${otherPort}`, `web-09=${source.path}`], env, 'registration refused');
    children.push(clash);
    expect(clash.logs.at(-1)!.err).toMatch(/registered with another source .*NAME=DISK/);
    expect((await call(service.url, 'GET', '/servers')).body.items).toHaveLength(1);
  });
});
