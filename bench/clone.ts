// Copy throughput of `ferry clone` against nbdcopy from the same qemu-nbd on loopback, boot-ready
// time, and the latency of 4 KiB guest reads of not-yet-copied chunks with the backfill running
// and idle (paused). Writes JSON on stdout.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CloneSession } from '../disk/engine/clone-session.ts';
import { NbdClient } from '../disk/nbd/client.ts';
import { parseNbdUrl } from '../disk/nbd/url.ts';
import { serveWithQemuNbd } from '../test/helpers/nbd-peers.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const SIZE = 1024 * MiB;
const REGION = 16 * MiB;
const ROUNDS = 3;
const LATENCY_SAMPLES = 200;

/** 1 GiB: random data in three of every four 16 MiB regions, holes in the fourth. */
async function makeDisk(file: string): Promise<number> {
  const handle = await open(file, 'w');
  let data = 0;
  await handle.truncate(SIZE);
  for (let offset = 0; offset < SIZE; offset += REGION) {
    if ((offset / REGION) % 4 === 3) continue;
    await handle.write(randomBytes(REGION), 0, REGION, offset);
    data += REGION;
  }
  // Written back before the first copy, so neither copier competes with it.
  await handle.sync();
  await handle.close();
  return data;
}

/** `--flush` makes nbdcopy's copy durable at the end, as Ferry's is before it reports completion. */
async function timeNbdcopy(url: string, target: string): Promise<number> {
  const started = performance.now();
  await run('nbdcopy', ['--flush', url, target]);
  return (performance.now() - started) / 1000;
}

interface FerryRun {
  seconds: number;
  wallSeconds: number;
  bootReadyMs: number;
  fetchedBytes: number;
}

/** Runs the real command line; `seconds` is the copy's own time, without Node's start-up. */
async function timeFerryClone(url: string, target: string, extra: string[]): Promise<FerryRun> {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(import.meta.dirname, '..', 'bin', 'ferry.mjs'), 'clone', url, target, '--json', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`ferry clone exited with ${code}`);
  const summary = JSON.parse(out) as { seconds: number; bootReadyMs: number; fetchedBytes: number };
  return { seconds: summary.seconds, wallSeconds: (performance.now() - started) / 1000, bootReadyMs: summary.bootReadyMs, fetchedBytes: summary.fetchedBytes };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** Reads 4 KiB at random offsets of data regions whose chunks are not copied yet, one at a time. */
async function sampleReads(guest: NbdClient, session: CloneSession, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let tries = 0; latencies.length < count && tries < count * 50; tries += 1) {
    const region = Math.floor(Math.random() * (SIZE / REGION));
    if (region % 4 === 3) continue;
    const offset = region * REGION + Math.floor(Math.random() * (REGION / 4096)) * 4096;
    if (session.engine.isPresent(offset)) continue;
    const started = performance.now();
    await guest.read(offset, 4096);
    latencies.push(performance.now() - started);
  }
  return latencies;
}

async function onDemandLatency(url: string, target: string, socketPath: string): Promise<Record<string, unknown>> {
  const session = await CloneSession.open({ source: url, target, serve: { socketPath }, verify: false });
  let bootReady!: () => void;
  const booted = new Promise<void>((resolve) => (bootReady = resolve));
  const running = session.run();
  const watch = setInterval(() => session.engine.snapshot().bootReadyMs !== null && bootReady(), 1);
  await booted;
  clearInterval(watch);
  const guest = await NbdClient.connect(parseNbdUrl(session.exportUrl!));
  session.engine.pause();
  const idle = await sampleReads(guest, session, LATENCY_SAMPLES);
  session.engine.resume();
  const underBackfill = await sampleReads(guest, session, LATENCY_SAMPLES);
  const presentWhenMeasured = session.engine.snapshot().presentBytes;
  await running;
  await guest.close();
  await session.close('finish');
  const figures = (values: number[]): Record<string, number> => ({
    samples: values.length,
    p50Ms: Number(percentile(values, 50).toFixed(3)),
    p99Ms: Number(percentile(values, 99).toFixed(3)),
  });
  return {
    backfilling: figures(underBackfill),
    idle: figures(idle),
    p99Ratio: Number((percentile(underBackfill, 99) / percentile(idle, 99)).toFixed(2)),
    backfillProgressAfterSamples: Number((presentWhenMeasured / SIZE).toFixed(3)),
  };
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-clone-'));
try {
  const disk = path.join(dir, 'source.raw');
  const dataBytes = await makeDisk(disk);
  const { peer, url } = await serveWithQemuNbd(disk);
  const nbdcopy: number[] = [];
  const ferry: FerryRun[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const target = path.join(dir, 'target.raw');
    nbdcopy.push(await timeNbdcopy(url, target));
    await rm(target, { force: true });
    ferry.push(await timeFerryClone(url, target, ['--no-verify']));
    await rm(target, { force: true });
  }
  const verified = await timeFerryClone(url, path.join(dir, 'verified.raw'), []);
  await rm(path.join(dir, 'verified.raw'), { force: true });
  const latency = await onDemandLatency(url, path.join(dir, 'served.raw'), path.join(dir, 'guest.sock'));
  await peer.stop();

  const median = (values: number[]): number => percentile(values, 50);
  const mbps = (seconds: number): number => Number((SIZE / seconds / 1e6).toFixed(1));
  const nbdcopySeconds = median(nbdcopy);
  const ferrySeconds = median(ferry.map((r) => r.seconds));
  const { stdout: version } = await run('nbdcopy', ['--version']);
  console.log(
    JSON.stringify(
      {
        benchmark: 'ferry clone vs nbdcopy',
        disk: { bytes: SIZE, dataBytes, source: 'qemu-nbd --read-only --shared=8, loopback TCP' },
        machine: { cpus: os.cpus().length, node: process.version, nbdcopy: version.split('\n')[0] },
        rounds: ROUNDS,
        nbdcopy: { flags: '--flush', seconds: nbdcopy.map((s) => Number(s.toFixed(3))), medianDiskMBps: mbps(nbdcopySeconds) },
        ferryClone: {
          seconds: ferry.map((r) => Number(r.seconds.toFixed(3))),
          wallSeconds: ferry.map((r) => Number(r.wallSeconds.toFixed(3))),
          medianDiskMBps: mbps(ferrySeconds),
          fetchedBytes: ferry[0]!.fetchedBytes,
        },
        throughputRatio: Number((nbdcopySeconds / ferrySeconds).toFixed(3)),
        bootReadyMs: median(ferry.map((r) => r.bootReadyMs)),
        withVerification: { seconds: Number(verified.seconds.toFixed(3)), medianDiskMBps: mbps(verified.seconds) },
        onDemand4KiBReads: latency,
      },
      null,
      2,
    ),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
