import type { Socket } from 'node:net';

/** Reads exact byte counts from a socket, in order, failing every pending read when it closes. */
export class SocketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiting: { length: number; resolve: (data: Buffer) => void; reject: (error: Error) => void } | null = null;
  private failure: Error | null = null;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.settle();
    });
    const fail = (error: Error): void => {
      this.failure ??= error;
      if (this.waiting) {
        this.waiting.reject(this.failure);
        this.waiting = null;
      }
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the NBD server closed the connection')));
  }

  read(length: number): Promise<Buffer> {
    if (this.waiting) throw new Error('one read at a time');
    return new Promise((resolve, reject) => {
      this.waiting = { length, resolve, reject };
      this.settle();
    });
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
