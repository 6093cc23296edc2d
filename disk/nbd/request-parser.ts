import { CMD_WRITE, REQUEST_HEADER_SIZE, REQUEST_MAGIC } from './protocol.ts';

/** One transmission request as the client sent it. */
export interface NbdRequest {
  flags: number;
  type: number;
  cookie: bigint;
  /** Exact up to 2^53; anything larger lies past every export, which is all the server needs to know. */
  offset: number;
  length: number;
  /** The data of a WRITE; null for other commands and for a WRITE too large to accept, whose data was skipped. */
  payload: Buffer | null;
}

export class NbdProtocolError extends Error {}

/**
 * Cuts the byte stream of the transmission phase into requests, whatever the chunking of 'data'
 * events. A WRITE's data lands in one buffer sized from its header, or stays a view of the chunk
 * when one chunk holds all of it; the data of a WRITE over `maxPayload` is counted off and dropped,
 * so that the session can refuse it without holding it.
 */
export class RequestParser {
  private readonly header = Buffer.allocUnsafe(REQUEST_HEADER_SIZE);
  private headerFill = 0;
  private pending: NbdRequest | null = null;
  /** Bytes of the pending request's data still to come. */
  private missing = 0;
  private collected: Buffer | null = null;

  constructor(private readonly maxPayload: number) {}

  /**
   * Consumes `chunk` from `start` until one request is complete or the chunk is used up. Returns
   * where it stopped and the completed request, if any; the caller decides whether to go on.
   */
  next(chunk: Buffer, start: number): { end: number; request: NbdRequest | null } {
    let at = start;
    if (!this.pending) {
      if (this.headerFill === 0 && chunk.length - at >= REQUEST_HEADER_SIZE) {
        this.startRequest(chunk, at);
        at += REQUEST_HEADER_SIZE;
      } else {
        const take = Math.min(REQUEST_HEADER_SIZE - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + take);
        this.headerFill += take;
        at += take;
        if (this.headerFill < REQUEST_HEADER_SIZE) return { end: at, request: null };
        this.headerFill = 0;
        this.startRequest(this.header, 0);
      }
    }
    if (this.missing > 0) at = this.takeData(chunk, at);
    if (this.missing > 0) return { end: at, request: null };
    const request = this.pending!;
    this.pending = null;
    this.collected = null;
    return { end: at, request };
  }

  private startRequest(source: Buffer, at: number): void {
    const magic = source.readUInt32BE(at);
    if (magic !== REQUEST_MAGIC) throw new NbdProtocolError(`bad request magic 0x${magic.toString(16)}`);
    const type = source.readUInt16BE(at + 6);
    const length = source.readUInt32BE(at + 24);
    this.pending = {
      flags: source.readUInt16BE(at + 4),
      type,
      cookie: source.readBigUInt64BE(at + 8),
      offset: source.readUInt32BE(at + 16) * 0x1_0000_0000 + source.readUInt32BE(at + 20),
      length,
      payload: null,
    };
    this.missing = type === CMD_WRITE ? length : 0;
  }

  private takeData(chunk: Buffer, at: number): number {
    const request = this.pending!;
    const take = Math.min(this.missing, chunk.length - at);
    if (request.length > this.maxPayload) {
      this.missing -= take;
      return at + take;
    }
    if (!this.collected && take === request.length) {
      request.payload = chunk.subarray(at, at + take);
    } else {
      if (!this.collected) {
        this.collected = Buffer.allocUnsafe(request.length);
        request.payload = this.collected;
      }
      chunk.copy(this.collected, request.length - this.missing, at, at + take);
    }
    this.missing -= take;
    return at + take;
  }
}
