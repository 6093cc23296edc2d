// Start-up time of `ferry start` (to "ready" and to the first answered request) and memory at rest.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runFerry } from '../test/helpers/ferry-process.ts';

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 102.4) / 10;
}

const runs: { readyMs: number; firstAnswerMs: number; ferryRssMiB: number; redisRssMiB: number }[] = [];
for (let run = 0; run < 5; run += 1) {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-'));
  const started = performance.now();
  const ferry = await runFerry(['start'], { FERRY_DATA_DIR: dataDir });
  const readyMs = performance.now() - started;
  await fetch(`${ferry.url}/servers`);
  const firstAnswerMs = performance.now() - started;
  await sleep(2000);
  const redisPid = Number((await readFile(path.join(dataDir, 'redis', 'redis.pid'), 'utf8')).trim());
  runs.push({ readyMs: Math.round(readyMs), firstAnswerMs: Math.round(firstAnswerMs), ferryRssMiB: await rssMiB(ferry.child.pid!), redisRssMiB: await rssMiB(redisPid) });
  ferry.child.kill('SIGTERM');
  await ferry.exited;
  await rm(dataDir, { recursive: true, force: true });
}
const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(
  JSON.stringify(
    {
      benchmark: 'ferry start',
      runs: runs.length,
      medianReadyMs: median(runs.map((r) => r.readyMs)),
      medianFirstAnswerMs: median(runs.map((r) => r.firstAnswerMs)),
      medianFerryRssMiB: median(runs.map((r) => r.ferryRssMiB)),
      medianRedisRssMiB: median(runs.map((r) => r.redisRssMiB)),
      runsDetail: runs,
    },
    null,
    2,
  ),
);
