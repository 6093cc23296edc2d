import { setTimeout as sleep } from 'node:timers/promises';
import type { BlockReader, Extent } from '../block-reader.ts';

/** The connections to a migration's source. */
export interface SourceConnections {
  /** Pipelined backfill reads and block status. */
  backfill: BlockReader;
  /**
   * Reads a guest is waiting on. A separate connection when the source allows several, so they do
   * not queue behind the backfill's requests; otherwise the same reader as `backfill`.
   */
  onDemand: BlockReader;
  /** Disconnects politely, once what is in flight is answered. */
  close(): Promise<void>;
  /** Drops the connections at once, for a source that stopped answering. */
  destroy(reason: string): void;
}

export class SourceReadError extends Error {}

// Errors that mean the connection is gone or stuck, so a retry needs a new one.
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'ECONNABORTED', 'ESHUTDOWN', 'ENOTCONN']);

function errorCode(error: unknown): string | undefined {
  return (error as { code?: unknown }).code === undefined ? undefined : String((error as { code: unknown }).code);
}

export interface SourceReadsOptions {
  connect(): Promise<SourceConnections>;
  /** Tries per request before the copy fails; transient read errors and lost connections are retried. */
  attempts: number;
  /** A request without an answer for this long counts as a lost connection. */
  timeoutMs: number;
  onReconnect?(reason: string): void;
  /** Called before each retry, with the error that caused it. */
  onRetry?(error: unknown): void;
}

/**
 * Reads from the source with retries: a read error is tried again after a pause, and a lost or
 * stuck connection is replaced once for all the requests that were on it.
 */
export class SourceReads {
  private connections: SourceConnections | null = null;
  private generation = 0;
  private reconnecting: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly options: SourceReadsOptions) {}

  async open(): Promise<void> {
    this.connections = await this.options.connect();
  }

  get size(): number {
    return this.current().backfill.size;
  }

  read(offset: number, length: number, purpose: 'backfill' | 'onDemand'): Promise<Buffer> {
    return this.withRetries(`reading ${length} bytes at offset ${offset}`, (connections) =>
      (purpose === 'backfill' ? connections.backfill : connections.onDemand).read(offset, length),
    );
  }

  extents(offset: number, length: number): Promise<Extent[]> {
    return this.withRetries(`asking which blocks are allocated at offset ${offset}`, (connections) => connections.backfill.extents(offset, length));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.reconnecting?.catch(() => undefined);
    const connections = this.connections;
    this.connections = null;
    if (!connections) return;
    // A polite disconnect waits for answers; a source that stopped answering is dropped instead.
    const timer = setTimeout(() => connections.destroy('it did not answer while disconnecting'), this.options.timeoutMs);
    await connections.close().catch(() => undefined);
    clearTimeout(timer);
  }

  private current(): SourceConnections {
    if (!this.connections) throw new SourceReadError(this.closed ? 'the source was detached' : 'the source is not connected');
    return this.connections;
  }

  private async withRetries<T>(what: string, operation: (connections: SourceConnections) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.options.attempts; attempt += 1) {
      if (this.reconnecting) await this.reconnecting.catch(() => undefined);
      const generation = this.generation;
      try {
        return await this.withTimeout(operation(this.current()));
      } catch (error) {
        lastError = error;
        if (this.closed) break;
        const lost = error instanceof TimeoutError || CONNECTION_LOST.has(errorCode(error) ?? '') || !this.connections;
        if (lost) await this.reconnect(generation, (error as Error).message).catch((reconnectError: Error) => (lastError = reconnectError));
        if (attempt < this.options.attempts) {
          this.options.onRetry?.(error);
          await sleep(Math.min(5000, 100 * 2 ** (attempt - 1)));
        }
      }
    }
    const reason = lastError instanceof Error ? lastError.message : String(lastError);
    throw new SourceReadError(`${what} from the source failed ${this.options.attempts} times; the last error: ${reason}`);
  }

  private async withTimeout<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`the source did not answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Replaces the connections of `generation`, unless another request already did. */
  private reconnect(generation: number, reason: string): Promise<void> {
    if (generation !== this.generation || this.closed) return this.reconnecting ?? Promise.resolve();
    this.generation += 1;
    const old = this.connections;
    this.connections = null;
    this.options.onReconnect?.(reason);
    this.reconnecting = (async () => {
      // The old connections may be stuck; waiting for their answers could take forever.
      old?.destroy(reason);
      this.connections = await this.options.connect();
    })().finally(() => {
      this.reconnecting = null;
    });
    return this.reconnecting;
  }
}

class TimeoutError extends Error {}
