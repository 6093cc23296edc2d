import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A token bucket in bytes. A request larger than a second's worth still goes through, after the
 * wait it costs, so a limit below the request size slows the copy rather than stalling it.
 */
export class RateLimiter {
  private tokens: number;
  private updatedAt: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly bytesPerSecond: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`a bandwidth limit must be above zero, not ${bytesPerSecond}`);
    this.tokens = bytesPerSecond / 10;
    this.updatedAt = now();
  }

  /** Waits until `bytes` may be sent; callers are served in the order they asked. An abort ends the wait early. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(async () => {
      this.refill();
      this.tokens -= bytes;
      if (this.tokens < 0) await sleep((-this.tokens / this.bytesPerSecond) * 1000, undefined, { signal }).catch(() => undefined);
    });
    this.queue = turn;
    return turn;
  }

  /** Counts bytes that had to go at once (a guest waiting on a read) against the same budget; a negative count refunds. */
  charge(bytes: number): void {
    this.refill();
    this.tokens -= bytes;
  }

  private refill(): void {
    const at = this.now();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((at - this.updatedAt) / 1000) * this.bytesPerSecond);
    this.updatedAt = at;
  }
}
