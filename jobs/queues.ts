import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { bullConnection, KEY_PREFIX, redisClient } from './connection.ts';
import { queueName, type JobData, type JobKind } from './kinds.ts';

/** Transient failures (a source that blips, a worker that loses Redis) are retried with backoff. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 1000 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

/** A set of every queue name work was ever sent to, so listeners find per-host queues as they appear. */
export const QUEUE_REGISTRY_KEY = `${KEY_PREFIX}:queues`;

/** The producer side: the service enqueues work and takes back what is still waiting. */
export class JobQueues {
  private readonly queues = new Map<string, Queue<JobData>>();
  private readonly registry: Redis;

  constructor(
    private readonly redisUrl: string,
    private readonly jobOptions: JobsOptions = DEFAULT_JOB_OPTIONS,
  ) {
    this.registry = redisClient(redisUrl);
  }

  /** The queue of a kind of work (and of a host, for work bound to one). */
  queue(kind: JobKind, host?: string): Queue<JobData> {
    const name = queueName(kind, host);
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue<JobData>(name, { connection: bullConnection(this.redisUrl), prefix: KEY_PREFIX, defaultJobOptions: this.jobOptions });
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** Enqueues one job; its id joins the record id and a counter, so a record's successive jobs never collide. */
  async enqueue(kind: JobKind, data: JobData, host?: string): Promise<string> {
    const jobId = `${data.recordId}.${data.action}.${Date.now().toString(36)}`;
    const queue = this.queue(kind, host);
    await this.registry.sadd(QUEUE_REGISTRY_KEY, queue.name);
    await queue.add(data.action, data, { jobId });
    return jobId;
  }

  /** How many workers listen on a queue now; none means the work waits until one starts. */
  async workerCount(kind: JobKind, host?: string): Promise<number> {
    return (await this.queue(kind, host).getWorkers()).length;
  }

  /** Whether a worker holds the job now (rather than it waiting, or being over). */
  async isActive(kind: JobKind, jobId: string, host?: string): Promise<boolean> {
    const job = await this.queue(kind, host).getJob(jobId);
    return job ? (await job.getState()) === 'active' : false;
  }

  /** Removes a job that no worker holds; an active job is left to its worker, which watches the record. */
  async withdraw(kind: JobKind, jobId: string, host?: string): Promise<boolean> {
    const job = await this.queue(kind, host).getJob(jobId);
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
    this.registry.disconnect();
  }
}
