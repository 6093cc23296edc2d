import type { Socket } from 'node:net';

/** Reads exact byte counts from a socket, in order, failing every pending read when it closes. */
export class SocketReader {
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
