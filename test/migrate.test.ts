import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobEventBridge, type JobEvent } from '../jobs/events.ts';
import { volumePathOf } from '../jobs/migrate.ts';
import type { RunningService } from '../service/server.ts';
import { startCountingProxy, type CountingProxy } from './helpers/counting-proxy.ts';
import { serveSourceDisk, sha256File, type Peer } from './helpers/nbd-peers.ts';
import { startTestRedis } from './helpers/redis.ts';
import { call, makeSourceDir, startTestService } from './helpers/service.ts';

const MiB = 1024 * 1024;
let redis: Awaited<ReturnType<typeof startTestRedis>>;
let service: RunningService;
let dataDir: string;
let bridge: JobEventBridge;
const events: JobEvent[] = [];
const peers: Peer[] = [];
const workers = new Set<ChildProcess>();
const proxies: CountingProxy[] = [];

function startWorker(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures', 'migrate-worker.ts'), redis.url, dataDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  workers.add(child);
  child.once('exit', () => workers.delete(child));
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`the worker exited with ${code}`)));
  });
}

async function stopWorker(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

/** A served disk of `dataMiB` MiB of random data (and as much of holes), registered as a server. */
async function registeredDisk(name: string, dataMiB: number, proxied = false): Promise<{ sha: string; disk: string; proxy: CountingProxy | null }> {
  const { peer, url, port, sha, file: disk } = await serveSourceDisk(dataDir, name, 2 * dataMiB * MiB, dataMiB * MiB);
  peers.push(peer);
  const proxy = proxied ? await startCountingProxy(port) : null;
  if (proxy) proxies.push(proxy);
  const source = proxy ? `nbd://127.0.0.1:${proxy.port}/${name}` : url;
  expect((await call(service.url, 'POST', '/servers', { name, source })).status).toBe(201);
  return { sha, disk, proxy };
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function migration(id: string): Promise<Record<string, any>> {
  return (await call(service.url, 'GET', `/migrations/${id}`)).body;
}

function untilStatus(id: string, statuses: string[], timeoutMs?: number): Promise<Record<string, any>> {
  return waitFor(`${id} to be ${statuses.join(' or ')}`, async () => {
    const record = await migration(id);
    return statuses.includes(record.status) ? record : null;
  }, timeoutMs);
}

beforeAll(async () => {
  redis = await startTestRedis();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-migrate-'));
  service = await startTestService(redis.url, await makeSourceDir());
  bridge = await JobEventBridge.start(redis.url);
  bridge.on((event) => events.push(event));
  await startWorker();
});

afterAll(async () => {
  await Promise.all([...workers].map((child) => stopWorker(child, 'SIGKILL')));
  await bridge.close();
  await service.close();
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await Promise.all(peers.map((peer) => peer.stop()));
  await redis.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('the migrate job', () => {
  it('copies the disk through booting, backfilling and verifying to completed, with progress at most once a second', async () => {
    const { sha } = await registeredDisk('web-01', 12);
    const started = await call(service.url, 'POST', '/migrations', { serverId: 'web-01', bandwidthMbps: 48 }, { 'X-Ferry-Conversation': 'slack:C1/1.2' });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    expect((await call(service.url, 'POST', `/migrations/${id}/cutover`)).status).toBe(409);
    const seen = new Set<string>();
    await waitFor('completion', async () => {
      const record = await migration(id);
      seen.add(record.status);
      return record.status === 'completed' || record.status === 'failed' ? record : null;
    });
    const done = await migration(id);
    expect(done).toMatchObject({ status: 'completed', statusReason: null, transfer: { bytes: 24 * MiB, repairedBytes: 0, verifiedBytes: 24 * MiB } });
    expect(done.transfer.fetchedBytes).toBeLessThan(14 * MiB);
    expect(done.transfer.bootReadyMs).toBeGreaterThanOrEqual(0);
    expect(seen).toContain('backfilling');
    expect(await sha256File(volumePathOf(dataDir, id))).toBe(sha);

    const progress = events.filter((event) => event.recordId === id && event.type === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.every((event) => event.conversation === 'slack:C1/1.2')).toBe(true);
    // Within a phase, reports are a second apart; a phase change or the end may come sooner.
    const reports = progress.flatMap((event) => (event.type === 'progress' ? [event.progress] : []));
    const gaps = reports.slice(1).flatMap((later, i) => {
      const earlier = reports[i]!;
      return earlier.phase === later.phase && later.done < later.total ? [Date.parse(later.at) - Date.parse(earlier.at)] : [];
    });
    expect(gaps.length).toBeGreaterThan(0);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(900);
    expect(reports.some((p) => p.phase === 'backfilling' && p.bytesPerSecond > 0 && p.etaSeconds !== null && p.total === 24 * MiB)).toBe(true);

    const cut = await call(service.url, 'POST', `/migrations/${id}/cutover`);
    expect(cut.status).toBe(200);
    expect((await call(service.url, 'GET', '/servers/web-01')).body.status).toBe('migrated');
  });

  it('pauses and resumes the running job, and a cancel removes its volume', async () => {
    await registeredDisk('db-01', 16);
    const id = (await call(service.url, 'POST', '/migrations', { serverId: 'db-01', bandwidthMbps: 40 })).body.id as string;
    await untilStatus(id, ['backfilling']);
    expect((await call(service.url, 'POST', `/migrations/${id}/pause`)).status).toBe(200);
    // Requests already in flight land after the pause; after that, nothing moves.
    await sleep(1500);
    const held = (await migration(id)).progress;
    await sleep(1300);
    const still = await migration(id);
    expect(still.status).toBe('paused');
    expect(still.progress.done).toBe(held.done);
    expect(still.progress.phase).toBe('paused');
    expect((await call(service.url, 'POST', `/migrations/${id}/resume`)).body.status).toBe('backfilling');
    await waitFor('the copy to move again', async () => (await migration(id)).progress.done > held.done);
    expect((await call(service.url, 'POST', `/migrations/${id}/cancel`)).body.status).toBe('cancelled');
    await waitFor('the volume to be removed', () => stat(volumePathOf(dataDir, id)).then(() => false, () => true));
    await sleep(300);
    expect((await migration(id)).status).toBe('cancelled');
  });

  it('resumes after the worker is killed with SIGKILL at about half, fetching within one batch of the disk', async () => {
    const [worker] = [...workers];
    const { sha, proxy } = await registeredDisk('app-02', 32, true);
    const id = (await call(service.url, 'POST', '/migrations', { serverId: 'app-02', bandwidthMbps: 32, streams: 2, verify: false })).body.id as string;
    await waitFor('half the data', async () => {
      const record = await migration(id);
      return record.progress && record.progress.phase === 'backfilling' && record.progress.done >= 16 * MiB;
    });
    await stopWorker(worker!, 'SIGKILL');
    const fetchedBeforeKill = proxy!.downstreamBytes;
    expect(fetchedBeforeKill).toBeLessThan(30 * MiB);
    await startWorker();
    const done = await untilStatus(id, ['completed', 'failed'], 30_000);
    expect(done.status).toBe('completed');
    expect(await sha256File(volumePathOf(dataDir, id))).toBe(sha);
    expect(done.transfer.resumedBytes).toBeGreaterThan(0);
    // One batch: what a second of copying at the limit fetches (4 MB), plus two 2 MiB requests in
    // flight. Starting over would have fetched the 16 MiB copied before the kill a second time.
    expect(proxy!.downstreamBytes).toBeLessThan(40 * MiB);
  }, 40_000);

  it('fails a qemu migration with the reason when qemu is not installed, and says when no worker serves a host', async () => {
    await registeredDisk('vm-01', 1);
    const id = (await call(service.url, 'POST', '/migrations', { serverId: 'vm-01', vm: 'qemu' })).body.id as string;
    const failed = await untilStatus(id, ['failed', 'completed']);
    expect(failed.statusReason).toMatch(/qemu-system-x86_64 .*install the qemu-system-x86 package/);

    await registeredDisk('vm-02', 1);
    const elsewhere = await call(service.url, 'POST', '/migrations', { serverId: 'vm-02', targetHost: 'kvm-9' });
    expect(elsewhere.body).toMatchObject({ status: 'queued', targetHost: 'kvm-9', statusReason: expect.stringMatching(/no worker serves target host kvm-9/) });
  });
});
