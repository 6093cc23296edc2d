import type net from 'node:net';
import { BlockIoError, type Extent } from '../block-reader.ts';
import { connectSocket, handOver, negotiate, NbdHandshakeError, type ExportInfo, type NbdSocket } from './handshake.ts';
import {
  CMD_BLOCK_STATUS,
  CMD_DISC,
  CMD_FLAG_FUA,
  CMD_FLUSH,
  CMD_READ,
  CMD_TRIM,
  CMD_WRITE,
  DEFAULT_MAX_PAYLOAD,
  REQUEST_HEADER_SIZE,
  REQUEST_MAGIC,
  TFLAG_SEND_FUA,
} from './protocol.ts';
import { NbdProtocolError, ReplyParser, type PendingRequest } from './reply-parser.ts';
import type { NbdAddress } from './url.ts';

export interface NbdClientOptions {
  /** Limit for connecting and the handshake. Requests have none: callers decide how long to wait. */
  timeoutMs?: number;
  /** Ask for structured replies (default true): sparse reads, and error messages from the server. */
  structuredReplies?: boolean;
  /** Ask for base:allocation (default true) so blockStatus can tell holes; needs structured replies. */
  blockStatus?: boolean;
}

interface Waiter extends PendingRequest {
  resolve(request: PendingRequest): void;
  reject(error: Error): void;
}

/**
 * The block status length field has 32 bits; this is the largest length that is a multiple of every
 * minimum block size a server may state (powers of two up to 64 KiB).
 */
const MAX_STATUS_LENGTH = 2 ** 32 - 2 ** 16;

function alignDown(value: number, alignment: number): number {
  return value - (value % alignment);
}

function alignUp(value: number, alignment: number): number {
  return alignDown(value + alignment - 1, alignment);
}

function writeUInt64(buffer: Buffer, value: number, at: number): void {
  buffer.writeUInt32BE(Math.floor(value / 2 ** 32), at);
  buffer.writeUInt32BE(value >>> 0, at + 4);
}

function requestHeader(command: number, flags: number, cookie: number, offset: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(REQUEST_HEADER_SIZE);
  header.writeUInt32BE(REQUEST_MAGIC, 0);
  header.writeUInt16BE(flags, 4);
  header.writeUInt16BE(command, 6);
  writeUInt64(header, cookie, 8);
  writeUInt64(header, offset, 16);
  header.writeUInt32BE(length, 24);
  return header;
}

function describeAddress(address: NbdAddress): string {
  const name = encodeURIComponent(address.exportName);
  return address.transport === 'tcp' ? `nbd://${address.host}:${address.port}/${name}` : `nbd+unix:///${name}?socket=${address.socketPath}`;
}

function clipExtents(extents: Extent[], start: number, end: number): Extent[] {
  const clipped: Extent[] = [];
  for (const extent of extents) {
    const from = Math.max(extent.offset, start);
    const to = Math.min(extent.offset + extent.length, end);
    if (to > from) clipped.push({ ...extent, offset: from, length: to - from });
  }
  return clipped;
}

/**
 * One NBD connection in the transmission phase. Requests are pipelined: any number may be in flight,
 * and the server answers them in any order. When the connection drops, every pending request and
 * every later call rejects with a BlockIoError (code ECONNRESET).
 */
export class NbdClient {
  private readonly pending = new Map<number, Waiter>();
  private nextCookie = 1;
  private failure: BlockIoError | null = null;
  private closing: Promise<void> | null = null;
  private whenIdle: (() => void) | null = null;
  private readonly alignment: number;
  private readonly maxRequest: number;
  private readonly socket: net.Socket;

  private constructor(
    connection: NbdSocket,
    readonly info: ExportInfo,
    private readonly where: string,
  ) {
    const socket = (this.socket = connection.socket);
    this.alignment = Math.max(info.blockSize?.minimum ?? 1, 1);
    // Every server must take 32 MiB; going no higher also bounds the memory of one request.
    const maximum = Math.min(info.blockSize?.maximum ?? DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_PAYLOAD);
    this.maxRequest = Math.max(alignDown(maximum, this.alignment), this.alignment);
    const parser = new ReplyParser(
      { find: (cookie) => this.pending.get(cookie), complete: (request) => this.complete(request) },
      info.allocationContextId,
    );
    socket.on('error', (error: NodeJS.ErrnoException) => this.dropped(error.code));
    socket.on('close', () => this.dropped(undefined));
    // Reads land where the parser places them: read data straight in the buffer its request returns.
    handOver(connection, {
      placeRead: () => (this.failure ? null : parser.placeRead()),
      received: (chunk) => {
        if (this.failure) return;
        try {
          parser.feed(chunk);
        } catch (error) {
          const message = error instanceof NbdProtocolError ? error.message : `cannot read the NBD server's replies: ${(error as Error).message}`;
          this.fail(new BlockIoError(`${message} (${where})`, 'EPROTO'));
        }
      },
    });
    if (socket.destroyed) this.dropped(undefined);
  }

  static async connect(address: NbdAddress, options: NbdClientOptions = {}): Promise<NbdClient> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const where = describeAddress(address);
    const connection = await connectSocket(address, timeoutMs);
    const { socket } = connection;
    const timer = setTimeout(
      () => socket.destroy(new NbdHandshakeError(`the NBD handshake with ${where} did not finish within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      const info = await negotiate(connection, address.exportName, 'go', {
        structuredReplies: options.structuredReplies ?? true,
        blockStatus: options.blockStatus ?? true,
      });
      return new NbdClient(connection, info, where);
    } catch (error) {
      socket.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Requests sent and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** False once the connection dropped or close() was called. */
  get isOpen(): boolean {
    return this.failure === null && this.closing === null;
  }

  /** Reads a range, in several requests when it exceeds what the server takes in one. */
  async read(offset: number, length: number): Promise<Buffer> {
    this.checkOpen();
    this.checkRange('read', offset, length);
    if (length === 0) return Buffer.alloc(0);
    // Servers that state a minimum block size get whole blocks; the caller gets what it asked for.
    const start = alignDown(offset, this.alignment);
    const end = Math.min(alignUp(offset + length, this.alignment), this.info.size);
    const buffer = Buffer.allocUnsafe(end - start);
    const pieces: Promise<PendingRequest>[] = [];
    for (let at = 0; at < buffer.length; at += this.maxRequest) {
      const size = Math.min(this.maxRequest, buffer.length - at);
      pieces.push(this.send(CMD_READ, start + at, size, 0, buffer.subarray(at, at + size)));
    }
    await Promise.all(pieces);
    return buffer.subarray(offset - start, offset - start + length);
  }

  /** Writes data; with `fua`, it is durable when this resolves (by a flush if the server lacks FUA). */
  async write(offset: number, data: Buffer, options: { fua?: boolean } = {}): Promise<void> {
    this.checkWritable('write', offset, data.length);
    const fuaOnWire = options.fua === true && (this.info.flags & TFLAG_SEND_FUA) !== 0;
    const pieces: Promise<PendingRequest>[] = [];
    for (let at = 0; at < data.length; at += this.maxRequest) {
      const size = Math.min(this.maxRequest, data.length - at);
      pieces.push(this.send(CMD_WRITE, offset + at, size, fuaOnWire ? CMD_FLAG_FUA : 0, null, data.subarray(at, at + size)));
    }
    await Promise.all(pieces);
    if (options.fua === true && !fuaOnWire) await this.flush();
  }

  /** Makes every write the server has answered durable; a no-op for servers without a write cache. */
  async flush(): Promise<void> {
    this.checkOpen();
    if (!this.info.canFlush) return;
    await this.send(CMD_FLUSH, 0, 0);
  }

  /** Tells the server a range is no longer needed; a hint, so a no-op for servers without trim. */
  async trim(offset: number, length: number): Promise<void> {
    this.checkWritable('trim', offset, length);
    if (!this.info.canTrim) return;
    const pieces: Promise<PendingRequest>[] = [];
    for (let at = 0; at < length; at += this.maxRequest) pieces.push(this.send(CMD_TRIM, offset + at, Math.min(this.maxRequest, length - at)));
    await Promise.all(pieces);
  }

  /**
   * What is allocated in a range, from base:allocation. The extents may end before the range does
   * (ask again from there). Without base:allocation the whole range is reported as data.
   */
  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    this.checkOpen();
    this.checkRange('query block status of', offset, length);
    if (length === 0) return [];
    if (this.info.allocationContextId === null) return [{ offset, length, zero: false, hole: false }];
    const start = alignDown(offset, this.alignment);
    const end = Math.min(alignUp(offset + length, this.alignment), this.info.size, start + MAX_STATUS_LENGTH);
    const request = await this.send(CMD_BLOCK_STATUS, start, end - start);
    const extents = clipExtents(request.extents!, offset, offset + length);
    if (extents.length === 0) {
      throw new BlockIoError(`the NBD server ${this.where} reported no extents for ${length} bytes at offset ${offset}`, 'EIO');
    }
    return extents;
  }

  /**
   * Disconnects the way the protocol asks (NBD_CMD_DISC), once the requests in flight are answered:
   * servers may fail those still pending at the disconnect (nbdkit does, with ESHUTDOWN).
   */
  close(): Promise<void> {
    this.closing ??= this.disconnect();
    return this.closing;
  }

  /** Drops the connection at once, failing what is in flight: for a server that stopped answering. */
  destroy(reason = 'the connection was abandoned'): void {
    this.fail(new BlockIoError(`the NBD connection to ${this.where} was dropped: ${reason}`, 'ECONNABORTED'));
  }

  private async disconnect(): Promise<void> {
    if (this.pending.size > 0 && !this.failure) await new Promise<void>((resolve) => (this.whenIdle = resolve));
    this.whenIdle = null;
    if (!this.failure) {
      this.failure = new BlockIoError(`the NBD connection to ${this.where} was closed`, 'ESHUTDOWN');
      this.socket.end(requestHeader(CMD_DISC, 0, this.nextCookie++, 0, 0));
    }
    if (!this.socket.closed) await new Promise((resolve) => this.socket.once('close', resolve));
  }

  private checkRange(what: string, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.info.size) {
      throw new BlockIoError(`cannot ${what} ${length} bytes at offset ${offset}: the export ${this.where} has ${this.info.size} bytes`, 'EINVAL');
    }
  }

  private checkOpen(): void {
    if (this.failure) throw this.failure;
    if (this.closing) throw new BlockIoError(`the NBD connection to ${this.where} is closing`, 'ESHUTDOWN');
  }

  private checkWritable(what: string, offset: number, length: number): void {
    this.checkOpen();
    this.checkRange(what, offset, length);
    if (this.info.readOnly) throw new BlockIoError(`cannot ${what}: the export ${this.where} is read-only`, 'EPERM');
    const end = offset + length;
    if (offset % this.alignment !== 0 || (end % this.alignment !== 0 && end !== this.info.size)) {
      throw new BlockIoError(
        `cannot ${what} ${length} bytes at offset ${offset}: the export ${this.where} takes whole blocks of ${this.alignment} bytes`,
        'EINVAL',
      );
    }
  }

  private send(
    command: number,
    offset: number,
    length: number,
    flags = 0,
    target: Buffer | null = null,
    payload: Buffer | null = null,
  ): Promise<PendingRequest> {
    const cookie = this.nextCookie++;
    return new Promise((resolve, reject) => {
      this.pending.set(cookie, { cookie, command, offset, length, target, covered: 0, extents: null, error: null, resolve, reject });
      const header = requestHeader(command, flags, cookie, offset, length);
      if (payload) {
        // Corked, header and payload leave in one writev.
        this.socket.cork();
        this.socket.write(header);
        this.socket.write(payload);
        this.socket.uncork();
      } else {
        this.socket.write(header);
      }
    });
  }

  private complete(request: PendingRequest): void {
    const waiter = this.pending.get(request.cookie)!;
    this.pending.delete(request.cookie);
    if (request.error) {
      waiter.reject(request.error);
      // The protocol asks a client told ESHUTDOWN to disconnect softly.
      if (request.error.code === 'ESHUTDOWN') void this.close();
    } else {
      waiter.resolve(request);
    }
    if (this.pending.size === 0) this.whenIdle?.();
  }

  private dropped(code: string | undefined): void {
    const count = this.pending.size;
    const how = code ? ` (${code})` : '';
    this.fail(
      new BlockIoError(
        `the NBD server ${this.where} closed the connection${how} with ${count} request${count === 1 ? '' : 's'} pending`,
        'ECONNRESET',
      ),
    );
  }

  private fail(error: BlockIoError): void {
    if (this.failure) return;
    this.failure = error;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const waiter of waiting) waiter.reject(error);
    this.socket.destroy();
    this.whenIdle?.();
  }
}
