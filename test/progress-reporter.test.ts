import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobControls } from '../bot/job-controls.ts';
import { ProgressReporter, type ProgressSurface, type ProgressView } from '../bot/progress-reporter.ts';
import { endingText, progressBar, runningText } from '../bot/progress-text.ts';
import { createLogger } from '../cli/logger.ts';
import type { JobEvent } from '../jobs/events.ts';
import type { JobProgress } from '../jobs/progress.ts';
import type { Grammar } from '../nlu/frame.ts';
import { grammarOf } from './helpers/grammars.ts';
import { startTestRedis } from './helpers/redis.ts';

// The reporter's timing is driven by a clock the test moves; what it sends is recorded by a
// surface that keeps every call, as Slack's chat.postMessage, chat.update and reactions.add would.

let redis: Awaited<ReturnType<typeof startTestRedis>>;
let client: Redis;
let ferry: Grammar;
let jobs = 0;
const logger = createLogger('silent');

interface Sent {
  kind: 'post' | 'update' | 'ended';
  at: number;
  message?: string;
  view: ProgressView;
  commandRef?: string | null;
}

class RecordingSurface implements ProgressSurface {
  readonly sent: Sent[] = [];
  private posts = 0;
  constructor(private readonly clock: { now: number }) {}
  owns = (conversation: string): boolean => conversation.startsWith('test:');
  async post(_conversation: string, view: ProgressView): Promise<string> {
    this.sent.push({ kind: 'post', at: this.clock.now, view });
    return `message-${++this.posts}`;
  }
  async update(_conversation: string, message: string, view: ProgressView): Promise<void> {
    this.sent.push({ kind: 'update', at: this.clock.now, message, view });
  }
  async ended(_conversation: string, view: ProgressView, commandRef: string | null): Promise<void> {
    this.sent.push({ kind: 'ended', at: this.clock.now, view, commandRef });
  }
}

function reporterWith(clock: { now: number }): { reporter: ProgressReporter; surface: RecordingSurface } {
  const surface = new RecordingSurface(clock);
  const reporter = new ProgressReporter({ redis: client, controls: (recordId, paused) => jobControls(ferry, recordId, paused), logger, now: () => clock.now, intervalMs: 1000 });
  reporter.addSurface(surface);
  return { reporter, surface };
}

const progress = (phase: string, done: number, total = 1000): JobProgress => ({ phase, done, total, bytesPerSecond: 100, etaSeconds: Math.ceil((total - done) / 100), message: '', at: new Date(0).toISOString() });

function event(jobId: string, detail: Partial<JobEvent> & Pick<JobEvent, 'type'>, conversation = 'test:thread'): JobEvent {
  return { kind: 'migrate', jobId, recordId: 'mig-abc1', conversation, ...detail } as JobEvent;
}

/** Lets the reporter's timers and Redis calls run, with the clock moved forward by `ms`. */
async function advance(clock: { now: number }, ms: number): Promise<void> {
  clock.now += ms;
  await new Promise((resolve) => setTimeout(resolve, ms === 0 ? 20 : Math.min(ms, 1100) + 20));
}

beforeAll(async () => {
  redis = await startTestRedis();
  client = new Redis(redis.url);
  ferry = await grammarOf();
});

afterAll(async () => {
  client.disconnect();
  await redis.stop();
});

describe('progress text', () => {
  it('draws a bar with percentage, bytes, rate and time left, and the end with duration and average rate', () => {
    expect(progressBar(0.42)).toBe('[████████░░░░░░░░░░░░]');
    expect(runningText('mig-1', { phase: 'backfilling', done: 430 * 1024 * 1024, total: 1024 ** 3, bytesPerSecond: 85 * 1024 * 1024, etaSeconds: 7, message: '', at: '' })).toBe(
      'mig-1 · backfilling\n[████████░░░░░░░░░░░░] 41% · 430.0 MiB of 1.0 GiB · 85.0 MiB/s · ETA 7s',
    );
    expect(runningText('mig-1', null)).toBe('mig-1 · starting');
    expect(endingText('mig-1', { outcome: 'completed', seconds: 200, bytes: 1024 ** 3 })).toBe('mig-1 completed in 3m 20s, 1.0 GiB (5.1 MiB/s on average).\n[████████████████████] 100%');
    expect(endingText('mig-1', { outcome: 'failed', reason: 'the source went away' })).toBe('mig-1 failed: the source went away');
    expect(endingText('mig-1', { outcome: 'cancelled' })).toBe('mig-1 was cancelled.');
  });
});

describe('the progress message', () => {
  it('is posted once and edited no more than once a second, with the newest figures, until its final state', async () => {
    const clock = { now: 1_000_000 };
    const { reporter, surface } = reporterWith(clock);
    const jobId = `job-${++jobs}`;
    reporter.track('test:thread', 'mig-abc1', jobId, 'command-ts');
    await advance(clock, 0);
    for (let done = 100; done <= 500; done += 100) {
      reporter.handle(event(jobId, { type: 'progress', progress: progress('backfilling', done) }));
      await advance(clock, 300);
    }
    reporter.handle(event(jobId, { type: 'completed', result: { outcome: 'completed' } }));
    // A report arriving after the end must not replace the final state.
    reporter.handle(event(jobId, { type: 'progress', progress: progress('backfilling', 600) }));
    await advance(clock, 1000);
    await reporter.close();

    expect(surface.sent.map((sent) => sent.kind)).toEqual(['post', 'update', 'update', 'ended']);
    const gaps = surface.sent.slice(1, 3).map((sent, i) => sent.at - surface.sent[i]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1000);
    expect(surface.sent[1]!.view.text).toMatch(/^mig-abc1 · backfilling\n.* (30|40)% /);
    expect(surface.sent[1]!.view.controls.map((control) => control.label)).toEqual(['Pause', 'Cancel']);
    const final = surface.sent[2]!;
    expect(final.message).toBe('message-1');
    expect(final.view.text).toMatch(/^mig-abc1 completed in \d+s, 1000 B/);
    expect(final.view.controls).toEqual([]);
    expect(surface.sent[3]).toMatchObject({ kind: 'ended', commandRef: 'command-ts', view: { ending: 'completed' } });
  });

  it('offers Resume instead of Pause while paused, and ends as cancelled when the job says so', async () => {
    const clock = { now: 2_000_000 };
    const { reporter, surface } = reporterWith(clock);
    const jobId = `job-${++jobs}`;
    reporter.handle(event(jobId, { type: 'progress', progress: progress('paused', 100) }));
    await advance(clock, 1000);
    reporter.handle(event(jobId, { type: 'completed', result: { outcome: 'cancelled' } }));
    await advance(clock, 1000);
    await reporter.close();
    expect(surface.sent[0]!.view.controls).toEqual([
      { label: 'Resume', operationId: 'resumeMigration', params: { migrationId: 'mig-abc1' } },
      { label: 'Cancel', operationId: 'cancelMigration', params: { migrationId: 'mig-abc1' } },
    ]);
    expect(surface.sent.at(-1)).toMatchObject({ kind: 'ended', view: { ending: 'cancelled', text: 'mig-abc1 was cancelled.' }, commandRef: null });
  });

  it('is picked up again by a restarted bot: the same message is edited, not a new one posted', async () => {
    const clock = { now: 3_000_000 };
    const first = reporterWith(clock);
    const jobId = `job-${++jobs}`;
    first.reporter.track('test:thread', 'mig-abc1', jobId, 'command-ts');
    first.reporter.handle(event(jobId, { type: 'progress', progress: progress('backfilling', 100) }));
    await advance(clock, 0);
    await first.reporter.close();
    expect(first.surface.sent.map((sent) => sent.kind)).toEqual(['post']);

    const restarted = reporterWith(clock);
    restarted.reporter.handle(event(jobId, { type: 'progress', progress: progress('backfilling', 700) }));
    await advance(clock, 1000);
    restarted.reporter.handle(event(jobId, { type: 'failed', reason: 'the source disk went away' }));
    await advance(clock, 1000);
    await restarted.reporter.close();
    expect(restarted.surface.sent.map((sent) => [sent.kind, sent.message])).toEqual([
      ['update', 'message-1'],
      ['update', 'message-1'],
      ['ended', undefined],
    ]);
    expect(restarted.surface.sent[1]!.view.text).toBe('mig-abc1 failed: the source disk went away');
    // The reaction still goes on the command that started the job before the restart.
    expect(restarted.surface.sent[2]!.commandRef).toBe('command-ts');
  });

  it('brings to its end, after a restart, the message of a job that ended while no bot listened', async () => {
    const clock = { now: 5_000_000 };
    const first = reporterWith(clock);
    const [done, running] = [`job-${++jobs}`, `job-${++jobs}`];
    first.reporter.track('test:thread', 'mig-res1', done, 'command-ts');
    first.reporter.track('test:thread', 'mig-res2', running, null);
    await advance(clock, 0);
    await first.reporter.close();

    const restarted = reporterWith(clock);
    const looked: string[] = [];
    const finished = await restarted.reporter.resume(async (recordId) => {
      looked.push(recordId);
      return recordId === 'mig-res1' ? { outcome: 'failed', reason: 'the worker lost its disk' } : null;
    });
    await advance(clock, 0);
    await restarted.reporter.close();
    expect(finished).toBe(1);
    expect(looked.sort()).toEqual(['mig-res1', 'mig-res2']);
    expect(restarted.surface.sent.map((sent) => [sent.kind, sent.view.text])).toEqual([
      ['update', 'mig-res1 failed: the worker lost its disk'],
      ['ended', 'mig-res1 failed: the worker lost its disk'],
    ]);
    // Once at its end, a message is not looked up again.
    const again = reporterWith(clock);
    const lookedAgain: string[] = [];
    await again.reporter.resume(async (recordId) => {
      lookedAgain.push(recordId);
      return null;
    });
    expect(lookedAgain).toEqual(['mig-res2']);
  });

  it('leaves alone jobs of conversations no surface owns', async () => {
    const clock = { now: 4_000_000 };
    const { reporter, surface } = reporterWith(clock);
    reporter.handle(event(`job-${++jobs}`, { type: 'progress', progress: progress('backfilling', 1) }, 'voice:CA123'));
    reporter.handle({ ...event(`job-${++jobs}`, { type: 'active' }), conversation: null });
    await advance(clock, 0);
    await reporter.close();
    expect(surface.sent).toEqual([]);
  });
});
