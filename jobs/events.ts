import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { bullConnection, KEY_PREFIX, redisClient } from './connection.ts';
import { JOB_KINDS, kindOfQueue, queueName, type JobData, type JobKind } from './kinds.ts';
import type { JobProgress } from './progress.ts';
import { QUEUE_REGISTRY_KEY } from './queues.ts';

type JobEventDetail =
  | { type: 'active' }
  | { type: 'progress'; progress: JobProgress }
  /** `result` is what the processor returned (a migration's `{ outcome: 'cancelled' }`, for one). */
  | { type: 'completed'; result: unknown }
  | { type: 'failed'; reason: string };

/** One thing that happened to a job, with what a surface needs to find the thread to report into. */
export type JobEvent = {
  kind: JobKind;
  jobId: string;
  recordId: string;
  conversation: string | null;
} & JobEventDetail;

export type JobEventListener = (event: JobEvent) => void;

const FINISHED = new Set(['completed', 'failed']);

function isProgress(value: unknown): value is JobProgress {
  return typeof value === 'object' && value !== null && 'phase' in value && 'done' in value && 'total' in value;
}

/** How often the bridge looks for queues that appeared since (a migration to a new target host). */
const DISCOVERY_INTERVAL_MS = 2000;

/**
 * Listens to every queue's events through BullMQ QueueEvents (Redis streams, so it works from any
 * process) and hands each one on with the job's record id and conversation, looked up once per job.
 */
export class JobEventBridge {
  private readonly events: QueueEvents[] = [];
  private readonly queues = new Map<string, Queue<JobData>>();
  private readonly jobData = new Map<string, Promise<JobData | null>>();
  private readonly listeners = new Set<JobEventListener>();
  private readonly registry: Redis;
  private discovery: NodeJS.Timeout | null = null;

  private constructor(
    private readonly redisUrl: string,
    private readonly kinds: readonly JobKind[],
  ) {
    this.registry = redisClient(redisUrl);
  }

  /** Resolves once every known queue is listened to, so no event after that is missed. */
  static async start(redisUrl: string, kinds: readonly JobKind[] = JOB_KINDS): Promise<JobEventBridge> {
    const bridge = new JobEventBridge(redisUrl, kinds);
    await Promise.all(kinds.map((kind) => bridge.listen(queueName(kind))));
    await bridge.discover();
    bridge.discovery = setInterval(() => void bridge.discover().catch(() => undefined), DISCOVERY_INTERVAL_MS);
    return bridge;
  }

  /** Listens to queues named in the registry that are not listened to yet (per-host queues). */
  private async discover(): Promise<void> {
    const names = await this.registry.smembers(QUEUE_REGISTRY_KEY);
    const fresh = names.filter((name) => !this.queues.has(name) && this.kinds.includes(kindOfQueue(name)!));
    await Promise.all(fresh.map((name) => this.listen(name)));
  }

  on(listener: JobEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async listen(name: string): Promise<void> {
    const kind = kindOfQueue(name)!;
    const connection = bullConnection(this.redisUrl);
    const queue = new Queue<JobData>(name, { connection, prefix: KEY_PREFIX });
    const events = new QueueEvents(name, { connection, prefix: KEY_PREFIX });
    this.queues.set(name, queue);
    this.events.push(events);
    events.on('active', ({ jobId }) => this.emit(name, kind, jobId, { type: 'active' }));
    events.on('progress', ({ jobId, data }) => {
      if (isProgress(data)) this.emit(name, kind, jobId, { type: 'progress', progress: data });
    });
    events.on('completed', ({ jobId, returnvalue }) => this.emit(name, kind, jobId, { type: 'completed', result: returnvalue }));
    events.on('failed', ({ jobId, failedReason }) => this.emit(name, kind, jobId, { type: 'failed', reason: failedReason }));
    await events.waitUntilReady();
    await queue.waitUntilReady();
  }

  private dataOf(name: string, jobId: string): Promise<JobData | null> {
    const key = `${name}:${jobId}`;
    let data = this.jobData.get(key);
    if (!data) {
      data = this.queues
        .get(name)!
        .getJob(jobId)
        .then((job) => job?.data ?? null)
        .catch(() => null);
      this.jobData.set(key, data);
    }
    return data;
  }

  private emit(name: string, kind: JobKind, jobId: string, detail: JobEventDetail): void {
    // Events of one job are handed on in the order they arrived, since each waits on the same lookup.
    void this.dataOf(name, jobId).then((data) => {
      if (FINISHED.has(detail.type)) this.jobData.delete(`${name}:${jobId}`);
      if (!data) return;
      const event = { kind, jobId, recordId: data.recordId, conversation: data.conversation ?? null, ...detail } as JobEvent;
      for (const listener of this.listeners) listener(event);
    });
  }

  async close(): Promise<void> {
    if (this.discovery) clearInterval(this.discovery);
    this.registry.disconnect();
    await Promise.all([...this.events.map((events) => events.close()), ...[...this.queues.values()].map((queue) => queue.close())]);
  }
}
