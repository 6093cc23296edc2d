import { Queue, type JobsOptions } from 'bullmq';
import { bullConnection, KEY_PREFIX } from './connection.ts';
import { JOB_KINDS, type JobData, type JobKind } from './kinds.ts';

/** Transient failures (a source that blips, a worker that loses Redis) are retried with backoff. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 1000 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

export function queueName(kind: JobKind): string {
  return kind;
}

/** The producer side: the service enqueues work and takes back what is still waiting. */
export class JobQueues {
  private readonly queues: Map<JobKind, Queue<JobData>>;

  constructor(redisUrl: string, jobOptions: JobsOptions = DEFAULT_JOB_OPTIONS) {
    const connection = bullConnection(redisUrl);
    this.queues = new Map(
      JOB_KINDS.map((kind) => [kind, new Queue<JobData>(queueName(kind), { connection, prefix: KEY_PREFIX, defaultJobOptions: jobOptions })]),
    );
  }

  queue(kind: JobKind): Queue<JobData> {
    return this.queues.get(kind)!;
  }

  /** Enqueues one job; its id joins the record id and a counter, so a record's successive jobs never collide. */
  async enqueue(kind: JobKind, data: JobData): Promise<string> {
    const jobId = `${data.recordId}.${data.action}.${Date.now().toString(36)}`;
    await this.queue(kind).add(data.action, data, { jobId });
    return jobId;
  }

  /** Removes a job that no worker holds; an active job is left to its worker, which watches the record. */
  async withdraw(kind: JobKind, jobId: string): Promise<boolean> {
    const job = await this.queue(kind).getJob(jobId);
    if (!job) return false;
    const state = await job.getState();
    if (state !== 'waiting' && state !== 'delayed' && state !== 'prioritized') return false;
    // A worker may take the job between the two calls; then it is locked and stays with that worker.
    return job.remove().then(
      () => true,
      () => false,
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
  }
}
