import type { Socket } from 'node:net';
import type { Extent } from '../block-reader.ts';
import type { ExportBackend } from './export-backend.ts';
import {
  CMD_BLOCK_STATUS,
  CMD_DISC,
  CMD_FLAG_DF,
  CMD_FLAG_FUA,
  CMD_FLAG_REQ_ONE,
  CMD_FLUSH,
  CMD_READ,
  CMD_TRIM,
  CMD_WRITE,
  DEFAULT_MAX_PAYLOAD,
  NBD_EINVAL,
  NBD_ENOSPC,
  NBD_EOVERFLOW,
  NBD_EPERM,
  STATE_HOLE,
  STATE_ZERO,
  TFLAG_READ_ONLY,
  TFLAG_SEND_TRIM,
} from './protocol.ts';
import { NbdProtocolError, RequestParser, type NbdRequest } from './request-parser.ts';
import type { Negotiated } from './server-handshake.ts';
import {
  blockStatusChunk,
  dataChunkHeader,
  doneChunk,
  errorChunk,
  nbdErrno,
  simpleReply,
  type StatusDescriptor,
} from './server-replies.ts';

/** Requests worked on at once per connection; more wait in the socket until some finish. */
const MAX_IN_FLIGHT = 64;
/** Data held per connection, in requests under way and replies not yet sent, before reading pauses. */
const MAX_HELD_BYTES = 128 * 1024 * 1024;
/** proto.md asks servers to keep one block status chunk under 2^20 descriptors. */
const MAX_DESCRIPTORS = 1 << 20;
/** How long a client may take to hang up once the server has said goodbye. */
const CLOSE_GRACE_MS = 1000;

const COMMAND_NAMES: Record<number, string> = {
  [CMD_READ]: 'read',
  [CMD_WRITE]: 'write',
  [CMD_FLUSH]: 'flush',
  [CMD_TRIM]: 'trim',
  [CMD_BLOCK_STATUS]: 'block status',
};

/** A request refused before it reached the backend: the client's mistake, not the server's. */
class Refusal extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

/** What a request's success sends back: data for a read, descriptors for block status, nothing else. */
type Outcome = { data: Buffer } | { descriptors: StatusDescriptor[] } | null;

/**
 * Extents as base:allocation descriptors, from `offset` for at most `length` bytes, neighbours of
 * the same state merged. A backend that cannot say anything about `offset` gets status 0 for the
 * whole range, which proto.md allows for any block ("allocated, contents unknown").
 */
function statusDescriptors(extents: readonly Extent[], offset: number, length: number, justOne: boolean): StatusDescriptor[] {
  const end = offset + length;
  const descriptors: StatusDescriptor[] = [];
  let at = offset;
  for (const extent of extents) {
    if (extent.offset > at || extent.offset + extent.length <= at) break;
    const flags = (extent.hole ? STATE_HOLE : 0) | (extent.zero ? STATE_ZERO : 0);
    const piece = Math.min(extent.offset + extent.length, end) - at;
    const last = descriptors.at(-1);
    if (last && last.flags === flags) last.length += piece;
    else descriptors.push({ length: piece, flags });
    at += piece;
    if (at >= end || justOne || descriptors.length >= MAX_DESCRIPTORS) break;
  }
  return descriptors.length > 0 ? descriptors : [{ length, flags: 0 }];
}

/**
 * The transmission phase of one connection. Requests are parsed as bytes arrive and run at once,
 * each reply written as soon as it is ready, in whatever order they finish; reading pauses while
 * too many requests or too many bytes are under way.
 */
export class NbdSession {
  private readonly parser = new RequestParser(DEFAULT_MAX_PAYLOAD);
  private readonly backend: ExportBackend;
  private readonly readOnly: boolean;
  private readonly canTrim: boolean;
  /** Received bytes not parsed yet, kept while reading is paused. */
  private backlog: Buffer | null = null;
  private backlogAt = 0;
  private running = 0;
  private runningBytes = 0;
  private paused = false;
  /** After NBD_CMD_DISC or at server shutdown: no new requests are taken. */
  private stopping = false;
  private idleWaiters: (() => void)[] = [];
  private socketClosed = false;
  /** Resolves once the connection is closed and no backend call is under way. */
  readonly finished: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly negotiated: Negotiated,
    private readonly report: (error: Error) => void,
  ) {
    this.backend = negotiated.backend;
    this.readOnly = (negotiated.flags & TFLAG_READ_ONLY) !== 0;
    this.canTrim = (negotiated.flags & TFLAG_SEND_TRIM) !== 0;
    const closed = new Promise<void>((resolve) =>
      socket.once('close', () => {
        this.socketClosed = true;
        resolve();
      }),
    );
    this.finished = closed.then(() => this.idle());
  }

  start(): void {
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('drain', () => this.resumeIfRoom());
    if (this.negotiated.leftover.length > 0) this.receive(this.negotiated.leftover);
    if (!this.paused) this.socket.resume();
  }

  /** Stops taking requests, lets those under way finish and answer, then closes the connection. */
  async shutdown(): Promise<void> {
    this.stop();
    await this.idle();
    if (!this.socketClosed) {
      this.socket.end();
      const grace = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
      this.socket.once('close', () => clearTimeout(grace));
    }
    await this.finished;
  }

  private idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Reading goes on, to see the client hang up, but what it sends is dropped. */
  private stop(): void {
    this.stopping = true;
    this.backlog = null;
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private receive(chunk: Buffer): void {
    if (this.stopping) return;
    if (this.backlog) {
      this.backlog = Buffer.concat([this.backlog.subarray(this.backlogAt), chunk]);
      this.backlogAt = 0;
    } else {
      this.backlog = chunk;
      this.backlogAt = 0;
    }
    this.parse();
  }

  private parse(): void {
    while (this.backlog && !this.paused && !this.stopping) {
      let step: ReturnType<RequestParser['next']>;
      try {
        step = this.parser.next(this.backlog, this.backlogAt);
      } catch (error) {
        if (!(error instanceof NbdProtocolError)) throw error;
        this.report(new Error(`NBD client of export ${JSON.stringify(this.negotiated.exportName)} broke the protocol: ${error.message}`));
        this.stop();
        this.socket.destroy();
        return;
      }
      this.backlogAt = step.end;
      if (this.backlogAt >= this.backlog.length) this.backlog = null;
      if (step.request) this.dispatch(step.request);
    }
  }

  private tooBusy(): boolean {
    return this.running >= MAX_IN_FLIGHT || this.runningBytes + this.socket.writableLength >= MAX_HELD_BYTES;
  }

  private resumeIfRoom(): void {
    if (!this.paused || this.stopping || this.tooBusy()) return;
    this.paused = false;
    this.parse();
    if (!this.paused && !this.stopping) this.socket.resume();
  }

  private dispatch(request: NbdRequest): void {
    if (request.type === CMD_DISC) {
      this.stop();
      void this.idle().then(() => this.socket.end());
      return;
    }
    const bytes = request.type === CMD_READ || request.type === CMD_WRITE ? request.length : 0;
    this.running++;
    this.runningBytes += bytes;
    void this.serve(request).finally(() => {
      this.running--;
      this.runningBytes -= bytes;
      if (this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      this.resumeIfRoom();
    });
    if (this.tooBusy()) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private async serve(request: NbdRequest): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.perform(request);
    } catch (error) {
      if (!(error instanceof Refusal)) this.reportFailure(request, error);
      this.sendError(request, error instanceof Refusal ? error.errno : nbdErrno(error), error instanceof Error ? error.message : String(error));
      return;
    }
    this.sendSuccess(request, outcome);
  }

  private perform(request: NbdRequest): Promise<Outcome> {
    this.checkFlags(request);
    switch (request.type) {
      case CMD_READ:
        return this.read(request);
      case CMD_WRITE:
        return this.write(request);
      case CMD_FLUSH:
        return this.flush();
      case CMD_TRIM:
        return this.trim(request);
      case CMD_BLOCK_STATUS:
        return this.blockStatus(request);
      default:
        throw new Refusal(NBD_EINVAL, `command ${request.type} is not supported by this server`);
    }
  }

  private checkFlags({ type, flags }: NbdRequest): void {
    let allowed = CMD_FLAG_FUA;
    if (type === CMD_READ && this.negotiated.structuredReplies) allowed |= CMD_FLAG_DF;
    if (type === CMD_BLOCK_STATUS) allowed |= CMD_FLAG_REQ_ONE;
    if ((flags & ~allowed) !== 0) throw new Refusal(NBD_EINVAL, `flags 0x${flags.toString(16)} are not valid for ${COMMAND_NAMES[type] ?? `command ${type}`}`);
  }

  private checkRange({ offset, length }: NbdRequest, errno: number): void {
    if (offset + length > this.backend.size) {
      throw new Refusal(errno, `${length} bytes at offset ${offset} reach past the end of the export (${this.backend.size} bytes)`);
    }
  }

  private async read(request: NbdRequest): Promise<Outcome> {
    const { offset, length } = request;
    if (length > DEFAULT_MAX_PAYLOAD) {
      throw new Refusal(this.negotiated.structuredReplies ? NBD_EOVERFLOW : NBD_EINVAL, `reads are limited to ${DEFAULT_MAX_PAYLOAD} bytes`);
    }
    this.checkRange(request, NBD_EINVAL);
    if (length === 0) return { data: Buffer.alloc(0) };
    const data = await this.backend.read(offset, length);
    // The reply's length is the request's: anything else would desynchronise the stream.
    if (data.length !== length) throw new Error(`the export returned ${data.length} bytes for a read of ${length}`);
    return { data };
  }

  private async write(request: NbdRequest): Promise<Outcome> {
    const { offset, length, payload } = request;
    if (this.readOnly || !this.backend.write) throw new Refusal(NBD_EPERM, 'the export is read-only');
    if (length > DEFAULT_MAX_PAYLOAD) throw new Refusal(NBD_EINVAL, `writes are limited to ${DEFAULT_MAX_PAYLOAD} bytes`);
    this.checkRange(request, NBD_ENOSPC);
    if (!payload) return null;
    await this.backend.write(offset, payload);
    if (request.flags & CMD_FLAG_FUA) await this.backend.flush?.();
    return null;
  }

  private async flush(): Promise<Outcome> {
    await this.backend.flush?.();
    return null;
  }

  private async trim(request: NbdRequest): Promise<Outcome> {
    if (this.readOnly) throw new Refusal(NBD_EPERM, 'the export is read-only');
    if (!this.canTrim || !this.backend.trim) throw new Refusal(NBD_EINVAL, 'the export does not support trim');
    this.checkRange(request, NBD_EINVAL);
    await this.backend.trim(request.offset, request.length);
    if (request.flags & CMD_FLAG_FUA) await this.backend.flush?.();
    return null;
  }

  private async blockStatus(request: NbdRequest): Promise<Outcome> {
    const { offset, length } = request;
    if (this.negotiated.allocationContextId === null || !this.backend.extents) {
      throw new Refusal(NBD_EINVAL, 'block status needs the base:allocation metadata context, which was not selected');
    }
    if (length === 0) throw new Refusal(NBD_EINVAL, 'block status of 0 bytes');
    this.checkRange(request, NBD_EINVAL);
    const extents = await this.backend.extents(offset, length);
    return { descriptors: statusDescriptors(extents, offset, length, (request.flags & CMD_FLAG_REQ_ONE) !== 0) };
  }

  private reportFailure(request: NbdRequest, error: unknown): void {
    const what = COMMAND_NAMES[request.type] ?? `command ${request.type}`;
    const why = error instanceof Error ? error.message : String(error);
    const message = `export ${JSON.stringify(this.negotiated.exportName)}: ${what} of ${request.length} bytes at offset ${request.offset} failed: ${why}`;
    this.report(new Error(message, { cause: error }));
  }

  /** Writes one reply in one go; replies for a client that is gone are dropped. */
  private send(...buffers: Buffer[]): void {
    if (!this.socket.writable) return;
    this.socket.cork();
    for (const buffer of buffers) this.socket.write(buffer);
    this.socket.uncork();
  }

  private sendSuccess({ cookie, offset }: NbdRequest, outcome: Outcome): void {
    if (outcome && 'data' in outcome) {
      if (!this.negotiated.structuredReplies) this.send(simpleReply(cookie, 0), outcome.data);
      else if (outcome.data.length === 0) this.send(doneChunk(cookie));
      else this.send(dataChunkHeader(cookie, offset, outcome.data.length), outcome.data);
    } else if (outcome) {
      this.send(blockStatusChunk(cookie, this.negotiated.allocationContextId!, outcome.descriptors));
    } else {
      this.send(simpleReply(cookie, 0));
    }
  }

  private sendError({ cookie }: NbdRequest, errno: number, message: string): void {
    this.send(this.negotiated.structuredReplies ? errorChunk(cookie, errno, message) : simpleReply(cookie, errno));
  }
}
