import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { JobEvent } from '../jobs/events.ts';
import type { JobProgress } from '../jobs/progress.ts';
import type { JobControl } from './job-controls.ts';
import { endingText, runningText, type JobEnding } from './progress-text.ts';

// One message per job in the conversation that started it, edited as the job reports, never more
// than once per interval (Slack allows about one chat.update a second per message), ending with
// the final state and a reaction on the command. Which message belongs to which job is kept in
// Redis, so a bot restarted in the middle of a job edits the same message again.

export interface ProgressView {
  recordId: string;
  text: string;
  /** The last report, for a surface that draws its own bar; null before the first one. */
  progress: JobProgress | null;
  /** How the job ended, or null while it runs. */
  ending: JobEnding['outcome'] | null;
  controls: JobControl[];
}

/** A surface's side of the progress messages. */
export interface ProgressSurface {
  /** True when the conversation id is one of this surface's (a Slack thread, this terminal). */
  owns(conversation: string): boolean;
  /** Posts the job's message; answers the handle `update` takes. */
  post(conversation: string, view: ProgressView): Promise<string>;
  update(conversation: string, message: string, view: ProgressView): Promise<void>;
  /** The job ended: a reaction on the command's own message (`commandRef`, when it is known). */
  ended(conversation: string, view: ProgressView, commandRef: string | null): Promise<void>;
}

interface Stored {
  conversation: string;
  recordId: string;
  jobId: string;
  message: string | null;
  startedAt: number;
  commandRef: string | null;
  /** The total of the last report, for the average rate at the end. */
  total: number;
  ended: boolean;
}

type Render = (stored: Stored) => ProgressView;

/** How a job's record says it ended, for `resume`. */
export type RecordEnding = { outcome: 'completed' } | Exclude<JobEnding, { outcome: 'completed' }>;

interface Live {
  key: string;
  recordId: string;
  jobId: string;
  conversation: string;
  surface: ProgressSurface;
  commandRef: string | null;
  progress: JobProgress | null;
  latest: Render | null;
  timer: NodeJS.Timeout | null;
  lastSentAt: number;
  chain: Promise<void>;
  closing: boolean;
}

export interface ProgressReporterOptions {
  redis: Redis;
  /** The buttons for a running job's record. */
  controls: (recordId: string, paused: boolean) => JobControl[];
  logger: Logger;
  /** The shortest time between two edits of one message (default 1000 ms). */
  intervalMs?: number;
  /** How long a job's message is remembered after its last edit (default 7 days). */
  ttlSeconds?: number;
  now?: () => number;
}

export const DEFAULT_PROGRESS_INTERVAL_MS = 1000;
const DEFAULT_TTL_SECONDS = 7 * 24 * 3600;
const KEY_PREFIX = 'ferry:bot:progress:';

export class ProgressReporter {
  private readonly live = new Map<string, Live>();
  private readonly surfaces: ProgressSurface[] = [];
  private readonly intervalMs: number;
  private readonly ttlSeconds: number;
  private readonly now: () => number;

  constructor(private readonly options: ProgressReporterOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    this.now = options.now ?? Date.now;
  }

  /** Jobs of the surface's conversations are reported through it from now on. */
  addSurface(surface: ProgressSurface): void {
    this.surfaces.push(surface);
  }

  /** A command started a job here: its message is posted at once, and the command (`commandRef`) gets the reaction at the end. */
  track(conversation: string, recordId: string, jobId: string, commandRef: string | null): void {
    const live = this.liveOf(conversation, recordId, jobId);
    if (!live) return;
    live.commandRef = commandRef;
    this.offer(live, () => this.running(live), false);
  }

  /** Takes one job event from the JobEventBridge. */
  handle(event: JobEvent): void {
    if (!event.conversation) return;
    // A job's first event often comes before the reply of the command that started it; its message
    // waits one interval, so the reply ("Started.") is read first.
    const live = this.liveOf(event.conversation, event.recordId, event.jobId, this.now());
    if (!live) return;
    if (event.type === 'progress') live.progress = event.progress;
    if (event.type === 'active' || event.type === 'progress') return this.offer(live, () => this.running(live), false);
    if (event.type === 'failed') return this.finish(live, { outcome: 'failed', reason: event.reason });
    const result = event.result as { outcome?: unknown } | null;
    this.finish(live, result?.outcome === 'cancelled' ? { outcome: 'cancelled' } : 'completed');
  }

  /**
   * After a restart: the jobs whose messages are not at their end yet are looked up, and those that
   * ended while no bot was listening get their final state now (their events are gone). Answers
   * how many were finished.
   */
  async resume(lookup: (recordId: string) => Promise<RecordEnding | null>): Promise<number> {
    let finished = 0;
    for await (const keys of this.options.redis.scanStream({ match: `${KEY_PREFIX}*`, count: 200 }) as AsyncIterable<string[]>) {
      for (const key of keys) {
        const text = await this.options.redis.get(key);
        const stored = text ? (JSON.parse(text) as Partial<Stored>) : null;
        if (!stored?.recordId || !stored.jobId || !stored.conversation || stored.ended || stored.message === null) continue;
        const ending = await lookup(stored.recordId).catch(() => null);
        const live = ending ? this.liveOf(stored.conversation, stored.recordId, stored.jobId) : null;
        if (!live || !ending) continue;
        this.finish(live, ending.outcome === 'completed' ? 'completed' : ending);
        finished += 1;
      }
    }
    return finished;
  }

  /** The final view; a completed job's duration and average rate are taken from what was stored. */
  private finish(live: Live, ending: Exclude<JobEnding, { outcome: 'completed' }> | 'completed'): void {
    this.offer(
      live,
      (stored) => {
        const ended: JobEnding = ending === 'completed' ? { outcome: 'completed', seconds: (this.now() - stored.startedAt) / 1000, bytes: live.progress?.total ?? stored.total } : ending;
        return { recordId: live.recordId, text: endingText(live.recordId, ended), progress: live.progress, ending: ended.outcome, controls: [] };
      },
      true,
    );
  }

  /** Waits for the messages being sent; timers still pending are dropped. */
  async close(): Promise<void> {
    for (const live of this.live.values()) if (live.timer) clearTimeout(live.timer);
    await Promise.all([...this.live.values()].map((live) => live.chain));
    this.live.clear();
  }

  private liveOf(conversation: string, recordId: string, jobId: string, lastSentAt = -Infinity): Live | null {
    const key = `${KEY_PREFIX}${recordId}:${jobId}`;
    const existing = this.live.get(key);
    if (existing) return existing;
    const surface = this.surfaces.find((candidate) => candidate.owns(conversation));
    if (!surface) return null;
    const live: Live = { key, recordId, jobId, conversation, surface, commandRef: null, progress: null, latest: null, timer: null, lastSentAt, chain: Promise.resolve(), closing: false };
    this.live.set(key, live);
    return live;
  }

  private running(live: Live): ProgressView {
    const paused = live.progress?.phase === 'paused';
    return { recordId: live.recordId, text: runningText(live.recordId, live.progress), progress: live.progress, ending: null, controls: this.options.controls(live.recordId, paused) };
  }

  /** The newest view waits for the interval since the last edit to pass; views it replaces are never sent. Nothing replaces the final one. */
  private offer(live: Live, render: Render, final: boolean): void {
    if (live.closing) return;
    live.closing = final;
    live.latest = render;
    if (live.timer) return;
    const wait = live.lastSentAt + this.intervalMs - this.now();
    if (wait <= 0) this.flush(live);
    else live.timer = setTimeout(() => this.flush(live), wait);
  }

  private flush(live: Live): void {
    live.timer = null;
    const render = live.latest;
    live.latest = null;
    if (!render) return;
    live.lastSentAt = this.now();
    live.chain = live.chain
      .then(() => this.send(live, render))
      .catch((error: Error) => this.options.logger.warn({ recordId: live.recordId, err: error.message }, 'could not update the progress message'));
  }

  private async send(live: Live, render: Render): Promise<void> {
    const stored = await this.load(live);
    if (stored.ended) {
      this.live.delete(live.key);
      return;
    }
    const view = render(stored);
    if (live.progress) stored.total = live.progress.total;
    if (stored.message === null) stored.message = await live.surface.post(live.conversation, view);
    else await live.surface.update(live.conversation, stored.message, view);
    if (view.ending !== null) {
      stored.ended = true;
      this.live.delete(live.key);
      await live.surface.ended(live.conversation, view, stored.commandRef);
    }
    await this.options.redis.set(live.key, JSON.stringify(stored), 'EX', this.ttlSeconds);
  }

  private async load(live: Live): Promise<Stored> {
    const text = await this.options.redis.get(live.key);
    const stored: Stored = text
      ? (JSON.parse(text) as Stored)
      : { conversation: live.conversation, recordId: live.recordId, jobId: live.jobId, message: null, startedAt: this.now(), commandRef: null, total: 0, ended: false };
    stored.commandRef ??= live.commandRef;
    return stored;
  }
}
