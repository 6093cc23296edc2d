import type { OnReadOpts, Socket } from 'node:net';

/** What takes the reads of a socket created with a ReadRouter's `onread`. */
export interface ReadSink {
  /** A buffer for the next read to fill in place, or null to read into the router's scratch buffer. */
  placeRead(): Uint8Array | null;
  /**
   * The next bytes of the stream, valid only during the call: a view of the buffer placeRead() gave
   * when the read went there, else of the scratch buffer, which the next read reuses.
   */
  received(chunk: Buffer): void;
}

/** Room for many small replies in one read; more would only add to what a payload's first read copies. */
const SCRATCH_SIZE = 64 * 1024;

/**
 * The `onread` option of a socket, whose reads then go to one sink at a time, each into a buffer the
 * sink chose: Node fills it in place, where 'data' events would bring a new buffer per read for the
 * consumer to copy from. Node takes `onread` only as it creates a socket, so the router outlives
 * the sinks: a handshake's SocketReader first, then whatever reads the rest of the connection.
 */
export class ReadRouter {
  /** Null only from creating the socket to routing its reads, before any read can complete. */
  private sink: ReadSink | null = null;
  private readonly scratch = Buffer.allocUnsafeSlow(SCRATCH_SIZE);

  readonly onread: OnReadOpts = {
    // Node asks for the next read's buffer right after each read (and once as it creates the socket).
    buffer: () => this.sink?.placeRead() ?? this.scratch,
    callback: (length, buffer) => {
      if (!this.sink) throw new Error('a socket read arrived before anything took its reads');
      this.sink.received(Buffer.from(buffer.buffer, buffer.byteOffset, length));
      return true;
    },
  };

  route(sink: ReadSink): void {
    this.sink = sink;
  }
}

/**
 * Reads exact byte counts from a socket, in order, failing every pending read when it closes. The
 * bytes come from its 'data' events or, for a socket created with a ReadRouter's `onread`, from
 * the router.
 */
export class SocketReader implements ReadSink {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiting: { length: number; resolve: (data: Buffer) => void; reject: (error: Error) => void } | null = null;
  private failure: Error | null = null;
  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.settle();
  };
  private readonly onError = (error: Error): void => this.fail(error);
  private readonly onClose = (): void => this.fail(new Error('the NBD server closed the connection'));

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  read(length: number): Promise<Buffer> {
    if (this.waiting) throw new Error('one read at a time');
    return new Promise((resolve, reject) => {
      this.waiting = { length, resolve, reject };
      this.settle();
    });
  }

  /** Handshake messages are few and small: they go through the router's scratch buffer. */
  placeRead(): null {
    return null;
  }

  received(chunk: Buffer): void {
    // A copy, as the router reuses its scratch buffer.
    this.onData(Buffer.from(chunk));
  }

  /**
   * Stops reading and hands the socket over, paused, so the next reader attaches before any more
   * data flows. Returns what arrived beyond the reads made: it belongs to the next reader.
   */
  detach(): Buffer {
    if (this.waiting) throw new Error('cannot detach while a read is waiting');
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    const leftover = Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return leftover;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    if (this.waiting) {
      this.waiting.reject(this.failure);
      this.waiting = null;
    }
  }

  private settle(): void {
    const waiting = this.waiting;
    if (!waiting) return;
    if (this.buffered >= waiting.length) {
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const data = all.subarray(0, waiting.length);
      const rest = all.subarray(waiting.length);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
      this.waiting = null;
      waiting.resolve(data);
    } else if (this.failure) {
      this.waiting = null;
      waiting.reject(this.failure);
    }
  }
}
