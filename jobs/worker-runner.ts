import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { bullConnection, KEY_PREFIX } from './connection.ts';
import { queueName, type JobData, type JobKind } from './kinds.ts';
import { ProgressMeter, type JobProgress, type ProgressUpdate } from './progress.ts';
import { collectionOf, TERMINAL_STATUSES, type RecordStore } from './records.ts';

/** What a processor gets: its job, the record store, a progress reporter and a stop signal. */
export interface JobContext {
  job: Job<JobData>;
  data: JobData;
  records: RecordStore;
  logger: Logger;
  /** Publishes progress at most once a second (and at every phase change), to the job and its record. */
  report(update: ProgressUpdate): Promise<void>;
  /** Aborted when the worker shuts down: stop at the next safe point and return or throw. */
  signal: AbortSignal;
}

export type Processor = (context: JobContext) => Promise<unknown>;

/** A failure that retrying cannot mend (bad input, a broken image): the job fails at once. */
export class PermanentJobError extends UnrecoverableError {}

export interface WorkerPoolOptions {
  redisUrl: string;
  records: RecordStore;
  logger: Logger;
  processors: Partial<Record<JobKind, Processor>>;
  concurrency: number;
  /** How long a job's lock lasts without renewal; a killed worker's jobs are taken up again after it. */
  lockDurationMs?: number;
  /** How long shutdown waits for in-flight jobs before asking them to stop and releasing them. */
  shutdownGraceMs?: number;
  progressIntervalMs?: number;
  /** The host this worker runs host-bound work (migrations) for. */
  targetHost?: string;
}

export interface WorkerPool {
  readonly kinds: JobKind[];
  close(): Promise<void>;
}

/**
 * Runs one BullMQ worker per kind that has a processor. Kinds without one are not consumed, so
 * their jobs wait, and their records stay queued, until a worker that knows them starts.
 */
export function startWorkers(options: WorkerPoolOptions): WorkerPool {
  const { records, logger, concurrency } = options;
  const lockDuration = options.lockDurationMs ?? 30_000;
  const shutdown = new AbortController();
  const workers: Worker<JobData>[] = [];
  const kinds = Object.keys(options.processors) as JobKind[];

  for (const kind of kinds) {
    const processor = options.processors[kind]!;
    const worker = new Worker<JobData>(
      queueName(kind, options.targetHost),
      async (job, token) => {
        const jobLogger = logger.child({ kind, jobId: job.id, recordId: job.data.recordId });
        const meter = new ProgressMeter(options.progressIntervalMs);
        const collection = collectionOf(job.data.recordId);
        if (!collection) throw new PermanentJobError(`job for an unknown kind of record: ${job.data.recordId}`);
        const report = async (update: ProgressUpdate): Promise<void> => {
          const progress: JobProgress | null = meter.next(update);
          if (!progress) return;
          await Promise.all([job.updateProgress({ ...progress }), records.update(collection, job.data.recordId, { progress })]);
        };
        try {
          return await processor({ job, data: job.data, records, logger: jobLogger, report, signal: shutdown.signal });
        } catch (error) {
          if (shutdown.signal.aborted && !(error instanceof UnrecoverableError)) {
            // Released, not failed: the job goes back to the queue without spending an attempt.
            await job.moveToDelayed(Date.now(), token);
            jobLogger.info('released at shutdown');
            throw new DelayedError();
          }
          throw error;
        }
      },
      {
        connection: bullConnection(options.redisUrl),
        prefix: KEY_PREFIX,
        concurrency,
        lockDuration,
        stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
        maxStalledCount: 2,
      },
    );
    worker.on('failed', (job, error) => {
      if (!job || error instanceof DelayedError) return;
      const attempts = job.opts.attempts ?? 1;
      const final = error instanceof UnrecoverableError || error.name === 'UnrecoverableError' || job.attemptsMade >= attempts;
      logger.warn({ kind, jobId: job.id, attempt: job.attemptsMade, final, err: error.message }, 'job failed');
      if (!final) return;
      const collection = collectionOf(job.data.recordId);
      if (!collection) return;
      void records
        .update(collection, job.data.recordId, { status: 'failed', statusReason: error.message }, { notFrom: TERMINAL_STATUSES })
        .catch((updateError: Error) => logger.error({ err: updateError.message }, 'could not record a failure'));
    });
    worker.on('error', (error) => logger.error({ kind, err: error.message }, 'worker error'));
    workers.push(worker);
  }
  logger.info({ kinds, concurrency }, kinds.length ? 'workers started' : 'no job kinds have workers yet');

  return {
    kinds,
    async close() {
      const closing = Promise.all(workers.map((worker) => worker.close()));
      const grace = options.shutdownGraceMs ?? 10_000;
      const timer = setTimeout(() => shutdown.abort(new Error('worker shutting down')), grace);
      try {
        await closing;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
