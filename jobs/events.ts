import { Queue, QueueEvents } from 'bullmq';
import { bullConnection, KEY_PREFIX } from './connection.ts';
import { JOB_KINDS, type JobData, type JobKind } from './kinds.ts';
import type { JobProgress } from './progress.ts';
import { queueName } from './queues.ts';

type JobEventDetail =
  | { type: 'active' }
  | { type: 'progress'; progress: JobProgress }
  | { type: 'completed' }
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

/**
 * Listens to every queue's events through BullMQ QueueEvents (Redis streams, so it works from any
 * process) and hands each one on with the job's record id and conversation, looked up once per job.
 */
export class JobEventBridge {
  private readonly events: QueueEvents[] = [];
  private readonly queues = new Map<JobKind, Queue<JobData>>();
  private readonly jobData = new Map<string, Promise<JobData | null>>();
  private readonly listeners = new Set<JobEventListener>();

  private constructor(private readonly redisUrl: string) {}

  /** Resolves once every QueueEvents connection is listening, so no event after that is missed. */
  static async start(redisUrl: string, kinds: readonly JobKind[] = JOB_KINDS): Promise<JobEventBridge> {
    const bridge = new JobEventBridge(redisUrl);
    await Promise.all(kinds.map((kind) => bridge.listen(kind)));
    return bridge;
  }

  on(listener: JobEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async listen(kind: JobKind): Promise<void> {
    const connection = bullConnection(this.redisUrl);
    const queue = new Queue<JobData>(queueName(kind), { connection, prefix: KEY_PREFIX });
    const events = new QueueEvents(queueName(kind), { connection, prefix: KEY_PREFIX });
    this.queues.set(kind, queue);
    this.events.push(events);
    events.on('active', ({ jobId }) => this.emit(kind, jobId, { type: 'active' }));
    events.on('progress', ({ jobId, data }) => {
      if (isProgress(data)) this.emit(kind, jobId, { type: 'progress', progress: data });
    });
    events.on('completed', ({ jobId }) => this.emit(kind, jobId, { type: 'completed' }));
    events.on('failed', ({ jobId, failedReason }) => this.emit(kind, jobId, { type: 'failed', reason: failedReason }));
    await events.waitUntilReady();
    await queue.waitUntilReady();
  }

  private dataOf(kind: JobKind, jobId: string): Promise<JobData | null> {
    const key = `${kind}:${jobId}`;
    let data = this.jobData.get(key);
    if (!data) {
      data = this.queues
        .get(kind)!
        .getJob(jobId)
        .then((job) => job?.data ?? null)
        .catch(() => null);
      this.jobData.set(key, data);
    }
    return data;
  }

  private emit(kind: JobKind, jobId: string, detail: JobEventDetail): void {
    // Events of one job are handed on in the order they arrived, since each waits on the same lookup.
    void this.dataOf(kind, jobId).then((data) => {
      if (FINISHED.has(detail.type)) this.jobData.delete(`${kind}:${jobId}`);
      if (!data) return;
      const event = { kind, jobId, recordId: data.recordId, conversation: data.conversation ?? null, ...detail } as JobEvent;
      for (const listener of this.listeners) listener(event);
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.events.map((events) => events.close()), ...[...this.queues.values()].map((queue) => queue.close())]);
  }
}
