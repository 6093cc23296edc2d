/** A typed progress report, as workers publish it and the bot renders it. */
export interface JobProgress {
  phase: string;
  /** Units done (bytes for copies) and the total; total 0 means unknown. */
  done: number;
  total: number;
  bytesPerSecond: number;
  /** Seconds left at the current rate; null while it cannot be told. */
  etaSeconds: number | null;
  message: string;
  at: string;
}

export type ProgressUpdate = Pick<JobProgress, 'phase' | 'done' | 'total'> & { message?: string };

/**
 * Turns raw counts into rate and ETA over a sliding window, and says when a report is due, so that
 * reports go out at most once per interval (chat surfaces are rate limited) except at phase changes.
 */
export class ProgressMeter {
  private samples: { at: number; done: number }[] = [];
  private lastEmitAt = -Infinity;
  private lastPhase: string | null = null;

  constructor(
    private readonly intervalMs = 1000,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The progress to publish, or null when the last report is too recent. */
  next(update: ProgressUpdate): JobProgress | null {
    const at = this.now();
    if (update.phase !== this.lastPhase) this.samples = [];
    this.samples.push({ at, done: update.done });
    while (this.samples.length > 2 && at - this.samples[0]!.at > this.windowMs) this.samples.shift();
    const phaseChanged = update.phase !== this.lastPhase;
    const finished = update.total > 0 && update.done >= update.total;
    if (!phaseChanged && !finished && at - this.lastEmitAt < this.intervalMs) return null;
    this.lastEmitAt = at;
    this.lastPhase = update.phase;
    const first = this.samples[0]!;
    const seconds = (at - first.at) / 1000;
    const bytesPerSecond = seconds > 0 ? Math.max(0, (update.done - first.done) / seconds) : 0;
    const remaining = update.total - update.done;
    const etaSeconds = update.total > 0 && bytesPerSecond > 0 ? Math.ceil(remaining / bytesPerSecond) : finished ? 0 : null;
    return {
      phase: update.phase,
      done: update.done,
      total: update.total,
      bytesPerSecond: Math.round(bytesPerSecond),
      etaSeconds,
      message: update.message ?? '',
      at: new Date(at).toISOString(),
    };
  }
}
