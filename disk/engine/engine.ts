import { performance } from 'node:perf_hooks';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Extent } from '../block-reader.ts';
import { BlockIoError } from '../block-reader.ts';
import type { ChunkedVolume } from '../volume/chunked-volume.ts';
import { chunksToRanges } from './boot-profile.ts';
import { BOOT_HEAD_BYTES, bootRanges, layoutFingerprint, readPartitionLayout, type Range } from './boot-set.ts';
import { RateLimiter } from './rate-limiter.ts';
import { SourceReads, type SourceConnections } from './source-reads.ts';

export interface EngineOptions {
  connect(): Promise<SourceConnections>;
  volume: ChunkedVolume;
  /** Backfill requests in flight at once. */
  streams: number;
  /** Bytes per backfill request; a multiple of the volume's chunk size. */
  requestSize: number;
  bandwidthBytesPerSecond?: number | null;
  /** Compare every chunk the guest did not write with the source once the backfill is done. */
  verify?: boolean;
  /** Fetch the boot set before anything else (default); without it the copy runs in disk order. */
  bootFirst?: boolean;
  /** Ranges a guest read while booting from a disk laid out alike, fetched before boot ready. */
  loadBootProfile?(fingerprint: string): Promise<Range[] | null>;
  /** Chunks fetched since the last commit are made durable after this many bytes, or after `commitIntervalMs`. */
  commitBytes?: number;
  commitIntervalMs?: number;
  readAttempts?: number;
  readTimeoutMs?: number;
  /** Guest reads within this long of boot ready make up the boot profile. */
  profileWindowMs?: number;
  onEvent?(event: EngineEvent): void;
}

export type EnginePhase = 'connecting' | 'booting' | 'backfilling' | 'verifying' | 'completed' | 'cancelled' | 'failed';

export type EngineEvent =
  | { type: 'phase'; phase: EnginePhase }
  | { type: 'boot-ready'; ms: number }
  | { type: 'reconnecting'; reason: string }
  | { type: 'repaired'; offset: number; length: number };

export interface EngineStats {
  phase: EnginePhase;
  paused: boolean;
  size: number;
  /** Bytes whose final content is in the volume: fetched, known zero, written by the guest, or kept from an earlier run. */
  presentBytes: number;
  /** Bytes read from the source for the copy (the boot set, the backfill and on-demand reads). */
  fetchedBytes: number;
  /** Bytes the source reported as holes or zeros, which were not copied. */
  zeroBytes: number;
  /** Bytes already present when this run started (a resumed copy). */
  resumedBytes: number;
  onDemandReads: number;
  onDemandBytes: number;
  guestWrittenBytes: number;
  verifiedBytes: number;
  /** Bytes that differed from the source at verification and were copied again. */
  repairedBytes: number;
  /** Source requests tried again after an error or a lost connection. */
  retriedReads: number;
  bootReadyMs: number | null;
}

export interface EngineSummary extends EngineStats {
  outcome: 'completed' | 'cancelled';
  seconds: number;
  /** The layout fingerprint of the disk and what the guest read while booting, for the next migration. */
  bootProfile: { fingerprint: string; ranges: Range[] } | null;
}

export class EngineCancelled extends Error {}

interface Reservation {
  /** Settles when the chunks are present (written locally), or failed. */
  promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
  /** Settles as soon as fetched bytes are in memory, before they are written, or when the reservation ends. */
  arrived: Promise<void>;
  arrive(offset: number, bytes: Buffer): void;
  fetched: { offset: number; bytes: Buffer } | null;
}

function reservation(): Reservation {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  let arrive!: () => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const arrived = new Promise<void>((res) => (arrive = res));
  // Nobody may be waiting on it; the failure is reported where it happened.
  promise.catch(() => undefined);
  const held: Reservation = {
    promise,
    arrived,
    fetched: null,
    resolve() {
      arrive();
      resolve();
    },
    reject(error) {
      arrive();
      reject(error);
    },
    arrive(offset, bytes) {
      held.fetched = { offset, bytes };
      arrive();
    },
  };
  return held;
}

/** The chunks [first, first + count) and what to do with them. */
interface Work {
  first: number;
  count: number;
  zero: boolean;
  reservation: Reservation;
}

const EXTENT_WINDOW = 1024 * 1024 * 1024;
/** How long the backfill stays quiet after a guest request, so a guest's burst runs at idle latency. */
const GUEST_QUIET_MS = 10;
/**
 * Syncing often keeps few dirty pages in the kernel, which would otherwise throttle every write
 * once they pile up (measured here: 768 MiB made durable in 0.37 s syncing every 32 MiB, 2.1 s
 * syncing once at the end). It also bounds what a killed worker fetches again.
 */
const DEFAULT_COMMIT_BYTES = 32 * 1024 * 1024;
const ZERO_RUN_BYTES = 256 * 1024 * 1024;
const ZEROES = Buffer.alloc(4 * 1024 * 1024);

function isZero(buffer: Buffer): boolean {
  for (let at = 0; at < buffer.length; at += ZEROES.length) {
    const piece = buffer.subarray(at, Math.min(buffer.length, at + ZEROES.length));
    if (!piece.equals(ZEROES.subarray(0, piece.length))) return false;
  }
  return true;
}

/**
 * Boot-then-backfill: fetches the blocks a machine boots from, then every other chunk of the source
 * into the volume, while serving the volume to a guest that may read ahead of the copy (fetched on
 * demand) and write to it (kept, never overwritten by the copy).
 */
export class MigrationEngine {
  private readonly volume: ChunkedVolume;
  private readonly source: SourceReads;
  private readonly limiter: RateLimiter | null;
  /** Chunks being fetched or written; their promise settles when the chunk is present (or not). */
  private readonly inflight = new Map<number, Reservation>();
  private phase: EnginePhase = 'connecting';
  private paused = false;
  private resumeGate: Reservation | null = null;
  private stopped: Error | null = null;
  /** Until when the backfill holds new requests, as a guest is busy (see GUEST_QUIET_MS). */
  private guestActiveUntil = 0;
  /** Guest reads waiting on the source; the backfill issues nothing new meanwhile, so they go first. */
  private guestFetches = 0;
  private guestDone: Reservation | null = null;
  /** Aborted when the copy stops, to end waits for bandwidth and for the guest at once. */
  private readonly stopping = new AbortController();
  private cursor = 0;
  private planning: Promise<unknown> = Promise.resolve();
  private extentCache: Extent[] = [];
  private sinceCommitBytes = 0;
  private lastCommitAt = performance.now();
  private startedAt = 0;
  private bootReadyAt: number | null = null;
  private readonly bootReads = new Set<number>();
  private fingerprint: string | null = null;
  private readonly stats = {
    fetchedBytes: 0,
    zeroBytes: 0,
    resumedBytes: 0,
    onDemandReads: 0,
    onDemandBytes: 0,
    guestWrittenBytes: 0,
    verifiedBytes: 0,
    repairedBytes: 0,
    retriedReads: 0,
  };

  constructor(private readonly options: EngineOptions) {
    this.volume = options.volume;
    if (options.requestSize % this.volume.chunkSize !== 0 || options.requestSize <= 0) {
      throw new RangeError(`the request size must be a multiple of the ${this.volume.chunkSize}-byte chunk, not ${options.requestSize}`);
    }
    if (!Number.isInteger(options.streams) || options.streams < 1) throw new RangeError(`streams must be a whole number of at least 1, not ${options.streams}`);
    this.limiter = options.bandwidthBytesPerSecond ? new RateLimiter(options.bandwidthBytesPerSecond) : null;
    // Every stream may wait on it at once.
    setMaxListeners(options.streams + 8, this.stopping.signal);
    this.source = new SourceReads({
      connect: options.connect,
      attempts: options.readAttempts ?? 6,
      timeoutMs: options.readTimeoutMs ?? 30_000,
      onReconnect: (reason) => this.emit({ type: 'reconnecting', reason }),
      onRetry: () => (this.stats.retriedReads += 1),
    });
    this.stats.resumedBytes = this.presentBytes();
  }

  get size(): number {
    return this.volume.size;
  }

  snapshot(): EngineStats {
    return {
      phase: this.phase,
      paused: this.paused,
      size: this.volume.size,
      presentBytes: this.presentBytes(),
      ...this.stats,
      bootReadyMs: this.bootReadyAt === null ? null : Math.round(this.bootReadyAt - this.startedAt),
    };
  }

  /** Whether the byte at `offset` already holds its final content locally. */
  isPresent(offset: number): boolean {
    return this.volume.present.has(this.volume.chunkOf(offset));
  }

  /** Runs the copy to its end: boot set, backfill, verification. The volume stays open for the guest. */
  async run(): Promise<EngineSummary> {
    this.startedAt = performance.now();
    try {
      await this.source.open();
      if (this.source.size !== this.volume.size) {
        throw new BlockIoError(`the source is ${this.source.size} bytes but the volume was made for ${this.volume.size}`, 'EINVAL');
      }
      if (this.options.bootFirst ?? true) {
        this.setPhase('booting');
        await this.fetchBootSet();
        this.bootReadyAt = performance.now();
        this.emit({ type: 'boot-ready', ms: Math.round(this.bootReadyAt - this.startedAt) });
      }
      this.setPhase('backfilling');
      await this.backfill();
      await this.volume.commit();
      if (this.options.verify) {
        this.setPhase('verifying');
        await this.verifyAll();
        await this.volume.commit();
      }
      this.setPhase('completed');
      return this.summary('completed');
    } catch (error) {
      if (this.stopped instanceof EngineCancelled) {
        await this.volume.commit().catch(() => undefined);
        this.setPhase('cancelled');
        return this.summary('cancelled');
      }
      this.setPhase('failed');
      await this.volume.commit().catch(() => undefined);
      throw error;
    } finally {
      await this.source.close();
    }
  }

  /** Stops issuing backfill and verification reads; the guest is still served. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.resumeGate = reservation();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.resumeGate?.resolve();
    this.resumeGate = null;
  }

  cancel(): void {
    this.stop(new EngineCancelled('the copy was cancelled'));
  }

  private stop(reason: Error): void {
    this.stopped ??= reason;
    this.stopping.abort();
    this.resumeGate?.resolve();
  }

  // --- the guest's side: what the local export calls ---

  async guestRead(offset: number, length: number): Promise<Buffer> {
    this.checkRange(offset, length);
    this.guestActiveUntil = performance.now() + GUEST_QUIET_MS;
    const [first, last] = this.chunkSpan(offset, length);
    if (performance.now() - (this.bootReadyAt ?? this.startedAt) < (this.options.profileWindowMs ?? 60_000)) {
      for (let chunk = first; chunk <= last; chunk += 1) this.bootReads.add(chunk);
    }
    const waits = this.ensurePresent(first, last, 'guest', null);
    if (waits.length) {
      // Served from the fetched bytes when one fetch covers the read: no wait for the local write.
      const held = this.inflight.get(first);
      if (held && this.inflight.get(last) === held) {
        await held.arrived;
        const fetched = held.fetched;
        if (fetched && fetched.offset <= offset && offset + length <= fetched.offset + fetched.bytes.length) {
          return fetched.bytes.subarray(offset - fetched.offset, offset - fetched.offset + length);
        }
      }
      await Promise.all(waits);
    }
    return this.volume.read(offset, length);
  }

  async guestWrite(offset: number, data: Buffer): Promise<void> {
    this.checkRange(offset, data.length);
    this.guestActiveUntil = performance.now() + GUEST_QUIET_MS;
    const [first, last] = this.chunkSpan(offset, data.length);
    // Marked before anything is awaited, so a verification running meanwhile never repairs over it.
    for (let chunk = first; chunk <= last; chunk += 1) this.volume.guestWritten.set(chunk);
    const end = offset + data.length;
    const covers = (chunk: number): boolean => {
      const range = this.volume.chunkRange(chunk);
      return range.offset >= offset && range.offset + range.length <= end;
    };
    const owned: number[] = [];
    const held = reservation();
    const waits = this.ensurePresent(first, last, 'guest', { covers, owned, held });
    const settle = (error: Error | null): void => {
      for (const chunk of owned) if (this.inflight.get(chunk) === held) this.inflight.delete(chunk);
      if (error) held.reject(error);
      else held.resolve();
    };
    try {
      if (waits.length) await Promise.all(waits);
      await this.volume.write(offset, data);
    } catch (error) {
      settle(error as Error);
      throw error;
    }
    for (let chunk = first; chunk <= last; chunk += 1) this.volume.present.set(chunk);
    settle(null);
    this.stats.guestWrittenBytes += data.length;
  }

  guestFlush(): Promise<void> {
    return this.volume.flush();
  }

  // --- the copy ---

  private async fetchBootSet(): Promise<void> {
    const headLength = Math.min(BOOT_HEAD_BYTES, this.volume.size);
    await this.waitFor(this.ensurePresent(...this.chunkSpan(0, headLength), 'boot', null));
    const layout = readPartitionLayout(await this.volume.read(0, headLength), this.volume.size);
    this.fingerprint = layoutFingerprint(layout, this.volume.size);
    const ranges = bootRanges(layout, this.volume.size);
    const profile = (await this.options.loadBootProfile?.(this.fingerprint)) ?? [];
    const waits = [...ranges, ...profile]
      .filter((range) => range.offset >= 0 && range.length > 0 && range.offset + range.length <= this.volume.size)
      .flatMap((range) => this.ensurePresent(...this.chunkSpan(range.offset, range.length), 'boot', null));
    await this.waitFor(waits);
  }

  private async waitFor(waits: Promise<void>[]): Promise<void> {
    await Promise.all(waits);
    if (this.stopped) throw this.stopped;
  }

  /** Backfills until every chunk is present; chunks a failed on-demand read left behind get another pass. */
  private async backfill(): Promise<void> {
    while (!this.volume.present.complete) {
      this.cursor = 0;
      const loops = Array.from({ length: this.options.streams }, (_, index) => this.backfillLoop(index));
      const results = await Promise.allSettled(loops);
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) throw failed.reason;
      await Promise.allSettled([...this.inflight.values()].map((held) => held.promise));
      if (this.stopped) throw this.stopped;
    }
  }

  private async backfillLoop(index: number): Promise<void> {
    for (;;) {
      await this.checkpoint();
      // One stream keeps going whatever the guest does, so a busy guest slows the copy but never stops it.
      if (index > 0) await this.yieldToGuest();
      // The share of bandwidth is taken before any chunk is reserved, so a guest read never waits
      // behind a request that is itself waiting for bandwidth. Holes cost nothing and are refunded.
      await this.limiter?.take(this.options.requestSize, this.stopping.signal);
      await this.checkpoint();
      const work = await this.plan();
      this.limiter?.charge((work && !work.zero ? work.count * this.volume.chunkSize : 0) - this.options.requestSize);
      if (!work) return;
      try {
        if (work.zero) await this.fillZero(work);
        else await this.fetch(work, 'backfill');
      } catch (error) {
        this.stop(error as Error);
        throw error;
      }
      await this.maybeCommit(work.count * this.volume.chunkSize);
    }
  }

  /**
   * Holds the backfill while a guest read waits on the source, and for a moment after any guest
   * request: on a busy host the backfill's CPU and disk work would otherwise delay the guest.
   */
  private async yieldToGuest(): Promise<void> {
    for (;;) {
      if (this.guestFetches > 0 && this.guestDone) await this.guestDone.promise;
      const quiet = this.guestActiveUntil - performance.now();
      if (quiet <= 0 || this.stopped) return;
      await sleep(quiet, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
  }

  /** Waits while paused; throws once the copy was cancelled or failed elsewhere. */
  private async checkpoint(): Promise<void> {
    while (this.paused && !this.stopped) await this.resumeGate?.promise;
    if (this.stopped) throw this.stopped;
  }

  private plan(): Promise<Work | null> {
    const next = this.planning.then(() => this.planNow());
    this.planning = next.catch(() => undefined);
    return next;
  }

  private async planNow(): Promise<Work | null> {
    const { present } = this.volume;
    for (;;) {
      const first = present.nextClear(this.cursor);
      if (first < 0) return null;
      if (this.inflight.has(first)) {
        this.cursor = first + 1;
        continue;
      }
      let kind = this.chunkKind(first);
      if (!kind) {
        await this.loadExtents(first);
        // The guest may have taken the chunk meanwhile; look again from the same place.
        if (present.has(first) || this.inflight.has(first)) continue;
        kind = this.chunkKind(first) ?? 'data';
      }
      const zero = kind === 'zero';
      const limit = Math.max(1, Math.floor((zero ? ZERO_RUN_BYTES : this.options.requestSize) / this.volume.chunkSize));
      let count = 1;
      while (
        count < limit &&
        first + count < this.volume.chunkCount &&
        !present.has(first + count) &&
        !this.inflight.has(first + count) &&
        this.chunkKind(first + count) === kind
      ) {
        count += 1;
      }
      this.cursor = first + count;
      return { first, count, zero, reservation: this.reserve(first, count) };
    }
  }

  private reserve(first: number, count: number): Reservation {
    const held = reservation();
    for (let chunk = first; chunk < first + count; chunk += 1) this.inflight.set(chunk, held);
    return held;
  }

  private release(work: Work, error: Error | null): void {
    for (let chunk = work.first; chunk < work.first + work.count; chunk += 1) {
      if (this.inflight.get(chunk) === work.reservation) this.inflight.delete(chunk);
    }
    if (error) work.reservation.reject(error);
    else work.reservation.resolve();
  }

  private span(work: Pick<Work, 'first' | 'count'>): Range {
    const start = this.volume.chunkRange(work.first);
    const end = this.volume.chunkRange(work.first + work.count - 1);
    return { offset: start.offset, length: end.offset + end.length - start.offset };
  }

  /** Copies a run of chunks from the source: for the backfill, the boot set, or a guest waiting on it. */
  private async fetch(work: Work, purpose: 'backfill' | 'boot' | 'guest'): Promise<void> {
    const { offset, length } = this.span(work);
    try {
      if (purpose !== 'backfill') this.limiter?.charge(length);
      const data = await this.source.read(offset, length, purpose === 'backfill' ? 'backfill' : 'onDemand');
      work.reservation.arrive(offset, data);
      // A new volume reads as zeros already: skipping zeros keeps it as sparse as its source.
      if (this.volume.resumed || !isZero(data)) await this.volume.write(offset, data);
    } catch (error) {
      this.release(work, error as Error);
      throw error;
    }
    for (let chunk = work.first; chunk < work.first + work.count; chunk += 1) this.volume.present.set(chunk);
    this.stats.fetchedBytes += length;
    if (purpose === 'guest') this.stats.onDemandBytes += length;
    this.release(work, null);
  }

  /**
   * Chunks the source reports as zeros need no copy. A new volume reads as zeros already; one left by
   * an earlier run may hold bytes written before a crash and is checked.
   */
  private async fillZero(work: Work): Promise<void> {
    const { offset, length } = this.span(work);
    try {
      if (this.volume.resumed) {
        for (let at = offset; at < offset + length; at += ZEROES.length) {
          const piece = Math.min(ZEROES.length, offset + length - at);
          if (!isZero(await this.volume.read(at, piece))) await this.volume.write(at, ZEROES.subarray(0, piece));
        }
      }
    } catch (error) {
      this.release(work, error as Error);
      throw error;
    }
    for (let chunk = work.first; chunk < work.first + work.count; chunk += 1) this.volume.present.set(chunk);
    this.stats.zeroBytes += length;
    this.release(work, null);
  }

  /**
   * Makes sure chunks [first, last] will be present: returns what to wait for. Missing chunks are
   * fetched at once, ahead of the backfill, except those a guest write covers whole (`write.covers`),
   * which are reserved for that write instead.
   */
  private ensurePresent(
    first: number,
    last: number,
    purpose: 'boot' | 'guest',
    write: { covers(chunk: number): boolean; owned: number[]; held: Reservation } | null,
  ): Promise<void>[] {
    const waits: Promise<void>[] = [];
    let runStart = -1;
    const flushRun = (end: number): void => {
      if (runStart < 0) return;
      const work: Work = { first: runStart, count: end - runStart, zero: false, reservation: this.reserve(runStart, end - runStart) };
      const fetching = this.fetch(work, purpose);
      if (purpose === 'guest') {
        this.stats.onDemandReads += 1;
        this.guestFetches += 1;
        this.guestDone ??= reservation();
        void fetching.finally(() => {
          this.guestFetches -= 1;
          if (this.guestFetches === 0) {
            this.guestDone?.resolve();
            this.guestDone = null;
          }
        }).catch(() => undefined);
      }
      waits.push(fetching);
      runStart = -1;
    };
    for (let chunk = first; chunk <= last; chunk += 1) {
      const held = this.volume.present.has(chunk) ? undefined : this.inflight.get(chunk);
      const missing = !this.volume.present.has(chunk) && !held;
      if (missing && !write?.covers(chunk)) {
        if (runStart < 0) runStart = chunk;
        continue;
      }
      flushRun(chunk);
      if (held) waits.push(held.promise);
      else if (missing && write) {
        this.inflight.set(chunk, write.held);
        write.owned.push(chunk);
      }
    }
    flushRun(last + 1);
    return waits;
  }

  private async maybeCommit(bytes: number): Promise<void> {
    this.sinceCommitBytes += bytes;
    const due = this.sinceCommitBytes >= (this.options.commitBytes ?? DEFAULT_COMMIT_BYTES) || performance.now() - this.lastCommitAt >= (this.options.commitIntervalMs ?? 1000);
    if (!due) return;
    this.sinceCommitBytes = 0;
    this.lastCommitAt = performance.now();
    await this.volume.commit();
  }

  // --- what the source says is allocated ---

  private async loadExtents(chunk: number): Promise<void> {
    const offset = this.volume.chunkRange(chunk).offset;
    const extents = await this.source.extents(offset, Math.min(EXTENT_WINDOW, this.volume.size - offset));
    this.extentCache = extents.filter((extent) => extent.length > 0);
  }

  /** 'zero' when the whole chunk reads as zeros at the source, 'data' when not, null when not known yet. */
  private chunkKind(chunk: number): 'zero' | 'data' | null {
    const { offset, length } = this.volume.chunkRange(chunk);
    const cache = this.extentCache;
    let low = 0;
    let high = cache.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const extent = cache[middle]!;
      if (extent.offset + extent.length <= offset) low = middle + 1;
      else if (extent.offset > offset) high = middle - 1;
      else {
        let covered = offset;
        for (let i = middle; i < cache.length && covered < offset + length; i += 1) {
          const next = cache[i]!;
          if (next.offset > covered) return null;
          if (!next.zero) return 'data';
          covered = next.offset + next.length;
        }
        return covered >= offset + length ? 'zero' : null;
      }
    }
    return null;
  }

  // --- verification ---

  private async verifyAll(): Promise<void> {
    const windowChunks = this.options.requestSize / this.volume.chunkSize;
    const windows = Math.ceil(this.volume.chunkCount / windowChunks);
    let next = 0;
    this.extentCache = [];
    const loop = async (): Promise<void> => {
      for (;;) {
        await this.checkpoint();
        const index = next;
        next += 1;
        if (index >= windows) return;
        const first = index * windowChunks;
        await this.verifyWindow(first, Math.min(windowChunks, this.volume.chunkCount - first));
      }
    };
    const results = await Promise.allSettled(Array.from({ length: this.options.streams }, loop));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async verifyWindow(first: number, count: number): Promise<void> {
    const { offset, length } = this.span({ first, count });
    const chunks = Array.from({ length: count }, (_, i) => first + i).filter((chunk) => !this.volume.guestWritten.has(chunk));
    if (chunks.length === 0) return;
    const extents = await this.source.extents(offset, length);
    const allZero = extents.every((extent) => extent.zero) && extents.reduce((sum, extent) => sum + extent.length, 0) >= length;
    let expected: Buffer;
    if (allZero) expected = length <= ZEROES.length ? ZEROES.subarray(0, length) : Buffer.alloc(length);
    else {
      await this.limiter?.take(length, this.stopping.signal);
      expected = await this.source.read(offset, length, 'backfill');
    }
    const actual = await this.volume.read(offset, length);
    for (const chunk of chunks) {
      const range = this.volume.chunkRange(chunk);
      const at = range.offset - offset;
      const want = expected.subarray(at, at + range.length);
      if (actual.subarray(at, at + range.length).equals(want)) continue;
      // The guest may have written it since; its write wins.
      if (this.volume.guestWritten.has(chunk) || this.inflight.has(chunk)) continue;
      const work: Work = { first: chunk, count: 1, zero: false, reservation: this.reserve(chunk, 1) };
      try {
        await this.volume.write(range.offset, want);
      } finally {
        this.release(work, null);
      }
      this.stats.repairedBytes += range.length;
      this.emit({ type: 'repaired', offset: range.offset, length: range.length });
    }
    this.stats.verifiedBytes += length;
  }

  // --- bookkeeping ---

  private summary(outcome: EngineSummary['outcome']): EngineSummary {
    const ranges = chunksToRanges(this.bootReads, this.volume.chunkSize, this.volume.size);
    return {
      ...this.snapshot(),
      outcome,
      seconds: (performance.now() - this.startedAt) / 1000,
      bootProfile: this.fingerprint && ranges.length ? { fingerprint: this.fingerprint, ranges } : null,
    };
  }

  private presentBytes(): number {
    const { present, chunkCount, chunkSize, size } = this.volume;
    const lastShort = chunkCount * chunkSize - size;
    return present.size * chunkSize - (present.has(chunkCount - 1) ? lastShort : 0);
  }

  private chunkSpan(offset: number, length: number): [number, number] {
    return [this.volume.chunkOf(offset), this.volume.chunkOf(offset + Math.max(1, length) - 1)];
  }

  private checkRange(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.volume.size) {
      throw new BlockIoError(`${length} bytes at ${offset} go past the end of the ${this.volume.size}-byte disk`, 'EINVAL');
    }
  }

  private setPhase(phase: EnginePhase): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.emit({ type: 'phase', phase });
  }

  private emit(event: EngineEvent): void {
    this.options.onEvent?.(event);
  }
}
