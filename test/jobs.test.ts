import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JobEventBridge, type JobEvent } from '../jobs/events.ts';
import { JobQueues } from '../jobs/queues.ts';
import type { ImportRecord } from '../jobs/record-types.ts';
import { RecordStore } from '../jobs/records.ts';
import { PermanentJobError, startWorkers, type Processor, type WorkerPool } from '../jobs/worker-runner.ts';
import type { RunningService } from '../service/server.ts';
import { startTestRedis } from './helpers/redis.ts';
import { call, makeSourceDir, quietLogger, startTestService } from './helpers/service.ts';

let redis: Awaited<ReturnType<typeof startTestRedis>>;
let service: RunningService;
let client: Redis;
let store: RecordStore;
let queues: JobQueues;
let bridge: JobEventBridge;
let image: string;

const pools: WorkerPool[] = [];

function pool(processor: Processor, extra: { lockDurationMs?: number; shutdownGraceMs?: number } = {}): WorkerPool {
  return track(startWorkers({ redisUrl: redis.url, records: store, logger: quietLogger, concurrency: 2, progressIntervalMs: 0, processors: { import: processor }, lockDurationMs: 1000, ...extra }));
}

// Short locks everywhere: BullMQ runs one stalled-job check per queue at a time, spaced by the
// lock duration of whichever worker ran it last, so one long lock would delay the recovery test.

/** Every pool is closed after its test, so a failing test cannot leave workers that take the next test's jobs. */
function track(workers: WorkerPool): WorkerPool {
  pools.push(workers);
  return workers;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((workers) => workers.close()));
});

async function startImport(conversation?: string): Promise<ImportRecord> {
  const answer = await call(service.url, 'POST', '/images/imports', { sourceUrl: image }, conversation ? { 'x-ferry-conversation': conversation } : {});
  expect(answer.status).toBe(202);
  return answer.body as ImportRecord;
}

async function until<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(50);
  }
}

beforeAll(async () => {
  redis = await startTestRedis();
  const sources = await makeSourceDir();
  image = path.join(sources, 'disk.raw');
  await writeFile(image, Buffer.alloc(4096));
  service = await startTestService(redis.url, sources);
  client = new Redis(redis.url);
  store = new RecordStore(client);
  queues = new JobQueues(redis.url);
  bridge = await JobEventBridge.start(redis.url);
});

afterAll(async () => {
  await bridge?.close();
  await queues?.close();
  client?.disconnect();
  await service?.close();
  await redis?.stop();
});

describe('jobs', () => {
  it('a 202 operation enqueues a job that carries the record id and the conversation', async () => {
    const started = await startImport('slack:C024BE91L:1700000000.000100');
    const job = await queues.queue('import').getJob(started.jobId!);
    expect(job?.data).toEqual({ recordId: started.id, action: 'import', conversation: 'slack:C024BE91L:1700000000.000100' });
    await call(service.url, 'POST', `/images/imports/${started.id}/cancel`);
    expect(await queues.queue('import').getJob(started.jobId!)).toBeUndefined();
  });

  it('a kind with no worker keeps its job waiting and its record queued, with no progress', async () => {
    pool(async () => 'done');
    const server = await call(service.url, 'POST', '/servers', { name: 'idle-01', source: image });
    const migration = await call(service.url, 'POST', '/migrations', { serverId: server.body.id });
    await sleep(500);
    const job = await queues.queue('migrate').getJob(migration.body.jobId);
    expect(await job?.getState()).toBe('waiting');
    expect((await call(service.url, 'GET', `/migrations/${migration.body.id}`)).body).toMatchObject({ status: 'queued', progress: null });
  });

  it('progress events reach QueueEvents listeners with the record and the conversation, and the record', async () => {
    const events: JobEvent[] = [];
    const off = bridge.on((event) => events.push(event));
    pool(async ({ report, records, data }) => {
      await records.update('imports', data.recordId, { status: 'downloading' });
      for (let done = 0; done <= 3; done += 1) {
        await report({ phase: 'downloading', done: done * 1024, total: 3072, message: `chunk ${done}` });
        await sleep(20);
      }
      await records.update('imports', data.recordId, { status: 'completed' });
      return 'ok';
    });
    const started = await startImport('voice:CA1234');
    await until(async () => events.some((event) => event.recordId === started.id && event.type === 'completed'));
    const mine = events.filter((event) => event.recordId === started.id);
    const progress = mine.flatMap((event) => (event.type === 'progress' ? [event.progress] : []));
    expect(progress.map((p) => p.done)).toEqual([0, 1024, 2048, 3072]);
    for (const p of progress) {
      expect(p).toMatchObject({ phase: 'downloading', total: 3072, bytesPerSecond: expect.any(Number), message: expect.stringMatching(/^chunk/) });
      expect(p.etaSeconds === null || p.etaSeconds >= 0).toBe(true);
    }
    expect(progress.at(-1)!.etaSeconds).toBe(0);
    expect(mine.every((event) => event.conversation === 'voice:CA1234' && event.kind === 'import')).toBe(true);
    expect(mine.map((event) => event.type)).toContain('active');
    const record = (await call(service.url, 'GET', `/images/imports/${started.id}`)).body;
    expect(record).toMatchObject({ status: 'completed', progress: { done: 3072, total: 3072 } });
    off();
  });

  it('retries a transient failure with backoff, then succeeds', async () => {
    const attempts: number[] = [];
    pool(async ({ job }) => {
      attempts.push(Date.now());
      if (job.attemptsMade < 2) throw new Error('source blinked');
      return 'ok';
    });
    const started = await startImport();
    // The job is read again once it completed: a copy fetched before the last attempt ended still counts two.
    await until(async () => ((await queues.queue('import').getJobState(started.jobId!)) === 'completed' ? true : null));
    const job = (await queues.queue('import').getJob(started.jobId!))!;
    expect(job.attemptsMade).toBe(3);
    expect(attempts).toHaveLength(3);
    // Exponential: at least 100 ms, then 200 ms, between the attempts.
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(90);
    expect(attempts[2]! - attempts[1]!).toBeGreaterThanOrEqual(190);
  });

  it('fails a permanent error at once and records the reason', async () => {
    pool(async () => {
      throw new PermanentJobError('the image is not a disk image');
    });
    const started = await startImport();
    const record = await until(async () => {
      const current = await store.get<ImportRecord>('imports', started.id);
      return current?.status === 'failed' ? current : null;
    });
    expect(record.statusReason).toBe('the image is not a disk image');
    expect((await queues.queue('import').getJob(started.jobId!))!.attemptsMade).toBe(1);
  });

  it('does not overwrite a cancelled record with a late failure', async () => {
    pool(async ({ data, records }) => {
      await records.update('imports', data.recordId, { status: 'cancelled' });
      throw new PermanentJobError('stopped');
    });
    const started = await startImport();
    await until(async () => (await queues.queue('import').getJob(started.jobId!))?.isFailed());
    await sleep(100);
    expect((await store.get<ImportRecord>('imports', started.id))!.status).toBe('cancelled');
  });

  it('graceful shutdown releases an in-flight job without spending an attempt; another worker finishes it', async () => {
    const first = pool(
      async ({ signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason));
        }),
      { shutdownGraceMs: 200 },
    );
    const started = await startImport();
    await until(async () => (await queues.queue('import').getJob(started.jobId!))?.isActive());
    await first.close();
    const released = (await queues.queue('import').getJob(started.jobId!))!;
    expect(['waiting', 'delayed']).toContain(await released.getState());
    expect(released.attemptsMade).toBe(0);
    pool(async () => 'finished');
    await until(async () => (await queues.queue('import').getJob(started.jobId!))?.isCompleted());
  });

  it('recovers the job of a worker killed with SIGKILL', async () => {
    const started = await startImport();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures/hanging-worker.ts'), redis.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout!.on('data', (data: Buffer) => data.toString().includes('holding') && resolve()));
    expect(await (await queues.queue('import').getJob(started.jobId!))!.isActive()).toBe(true);
    child.kill('SIGKILL');
    pool(async () => 'rescued');
    // The state first, then the job: a job fetched before it completes carries no return value.
    const job = await until(async () => ((await queues.queue('import').getJobState(started.jobId!)) === 'completed' ? queues.queue('import').getJob(started.jobId!) : null));
    expect(job.returnvalue).toBe('rescued');
  });
});
