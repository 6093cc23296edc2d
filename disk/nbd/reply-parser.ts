import { BlockIoError, type Extent } from '../block-reader.ts';
import {
  CMD_BLOCK_STATUS,
  CMD_DISC,
  CMD_FLUSH,
  CMD_READ,
  CMD_TRIM,
  CMD_WRITE,
  ERRNO_NAMES,
  REPLY_FLAG_DONE,
  REPLY_TYPE_BLOCK_STATUS,
  REPLY_TYPE_ERROR_BIT,
  REPLY_TYPE_ERROR_OFFSET,
  REPLY_TYPE_NONE,
  REPLY_TYPE_OFFSET_DATA,
  REPLY_TYPE_OFFSET_HOLE,
  SIMPLE_REPLY_HEADER_SIZE,
  SIMPLE_REPLY_MAGIC,
  STATE_HOLE,
  STATE_ZERO,
  STRUCTURED_REPLY_HEADER_SIZE,
  STRUCTURED_REPLY_MAGIC,
} from './protocol.ts';

/** A request sent to the server, which the parser fills in as its reply arrives. */
export interface PendingRequest {
  readonly cookie: number;
  readonly command: number;
  readonly offset: number;
  readonly length: number;
  /** Where a read's data lands: exactly `length` bytes. */
  readonly target: Buffer | null;
  /** Bytes of a read's reply received so far, as data or as holes. */
  covered: number;
  /** The base:allocation extents of a block status reply, within the requested range. */
  extents: Extent[] | null;
  error: BlockIoError | null;
}

/** What the parser needs from the connection: the requests in flight, and where finished ones go. */
export interface ReplyHandler {
  find(cookie: number): PendingRequest | undefined;
  /** The whole reply to `request` arrived; `request.error` says whether it failed. */
  complete(request: PendingRequest): void;
}

/** The server broke the protocol: nothing more it sends can be trusted. */
export class NbdProtocolError extends Error {
  constructor(what: string) {
    super(`the NBD server broke the protocol: ${what}`);
  }
}

const COMMAND_NAMES: Record<number, string> = {
  [CMD_READ]: 'read',
  [CMD_WRITE]: 'write',
  [CMD_DISC]: 'disconnect',
  [CMD_FLUSH]: 'flush',
  [CMD_TRIM]: 'trim',
  [CMD_BLOCK_STATUS]: 'block status',
};

function describeRequest(request: Pick<PendingRequest, 'command' | 'offset' | 'length'>): string {
  const name = COMMAND_NAMES[request.command] ?? `command ${request.command}`;
  return request.command === CMD_FLUSH ? name : `${name} of ${request.length} bytes at offset ${request.offset}`;
}

function replyError(request: PendingRequest, errno: number, message: string, at: number | null): BlockIoError {
  // The protocol asks clients to take an error value they do not know for EINVAL.
  const code = ERRNO_NAMES[errno] ?? 'EINVAL';
  const value = ERRNO_NAMES[errno] ? code : `error ${errno}, taken as ${code}`;
  const where = at === null ? '' : ` (at offset ${at})`;
  return new BlockIoError(`the NBD server failed a ${describeRequest(request)}${where}: ${value}${message ? `: ${message}` : ''}`, code);
}

function readOffset(buffer: Buffer, at: number): number {
  return buffer.readUInt32BE(at) * 2 ** 32 + buffer.readUInt32BE(at + 4);
}

/** Block status chunks may reach 8 MiB by the spec; a bound well above it only rejects nonsense. */
const MAX_METADATA_PAYLOAD = 64 * 1024 * 1024;
const EMPTY: Buffer = Buffer.alloc(0);

const HEADER = 0;
const PAYLOAD = 1;
const DATA = 2;

/**
 * Turns the server's byte stream into completed requests, one socket chunk at a time. Inside a
 * read's data, placeRead() asks for the socket's next read to land straight in the request's target
 * buffer, so that most data is never copied: only what shares a read with a header is. Throws
 * NbdProtocolError when the stream breaks the protocol; the parser is unusable after that.
 */
export class ReplyParser {
  private state = HEADER;
  private readonly header = Buffer.alloc(STRUCTURED_REPLY_HEADER_SIZE);
  private headerFill = 0;
  /** Four bytes until the magic tells which kind of header this is. */
  private headerSize = 4;
  private current: PendingRequest | null = null;
  private structured = false;
  private chunkFlags = 0;
  private chunkType = 0;
  private payloadSize = 0;
  private payloadFill = 0;
  private payload = EMPTY;
  /** For OFFSET_DATA: the data that follows the chunk's offset field. */
  private dataLength = 0;
  private dataTarget = EMPTY;
  private dataAt = 0;
  private dataEnd = 0;

  constructor(
    private readonly handler: ReplyHandler,
    private readonly allocationContextId: number | null,
  ) {}

  /**
   * Where the next socket read should land: the rest of the read data being received, in place in
   * its target (no more, or it would take the next reply's bytes), or null for anywhere else.
   */
  placeRead(): Buffer | null {
    return this.state === DATA ? this.dataTarget.subarray(this.dataAt, this.dataEnd) : null;
  }

  /** Takes the next bytes of the stream; `chunk` is only read during the call, so it may be reused. */
  feed(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.state === DATA) pos = this.takeData(chunk, pos);
      else if (this.state === HEADER) pos = this.takeHeader(chunk, pos);
      else pos = this.takePayload(chunk, pos);
    }
  }

  private takeHeader(chunk: Buffer, pos: number): number {
    const n = Math.min(this.headerSize - this.headerFill, chunk.length - pos);
    chunk.copy(this.header, this.headerFill, pos, pos + n);
    this.headerFill += n;
    if (this.headerFill < this.headerSize) return pos + n;
    if (this.headerSize === 4) {
      const magic = this.header.readUInt32BE(0);
      if (magic === SIMPLE_REPLY_MAGIC) this.headerSize = SIMPLE_REPLY_HEADER_SIZE;
      else if (magic === STRUCTURED_REPLY_MAGIC) this.headerSize = STRUCTURED_REPLY_HEADER_SIZE;
      else throw new NbdProtocolError(`a reply with magic 0x${magic.toString(16).padStart(8, '0')}`);
      return pos + n;
    }
    const structured = this.headerSize === STRUCTURED_REPLY_HEADER_SIZE;
    this.headerFill = 0;
    this.headerSize = 4;
    if (structured) this.startChunk();
    else this.startSimpleReply();
    return pos + n;
  }

  private find(): PendingRequest {
    const cookie = readOffset(this.header, 8);
    const request = this.handler.find(cookie);
    if (!request) throw new NbdProtocolError(`a reply with cookie ${cookie}, which no request is waiting for`);
    this.current = request;
    return request;
  }

  private startSimpleReply(): void {
    const request = this.find();
    const errno = this.header.readUInt32BE(4);
    this.structured = false;
    if (errno !== 0) {
      request.error = replyError(request, errno, '', null);
      this.finish(request);
    } else if (request.command === CMD_READ) {
      this.startData(request.target!, 0, request.length);
    } else {
      this.finish(request);
    }
  }

  private startChunk(): void {
    const request = this.find();
    this.structured = true;
    this.chunkFlags = this.header.readUInt16BE(4);
    this.chunkType = this.header.readUInt16BE(6);
    const length = this.header.readUInt32BE(16);
    if (this.chunkType === REPLY_TYPE_OFFSET_DATA) {
      if (request.command !== CMD_READ || length <= 8) {
        throw new NbdProtocolError(`a data chunk of ${length} bytes in reply to a ${describeRequest(request)}`);
      }
      this.dataLength = length - 8;
      this.startPayload(8);
    } else {
      if (length > MAX_METADATA_PAYLOAD) throw new NbdProtocolError(`a reply chunk of type ${this.chunkType} with ${length} bytes`);
      this.startPayload(length);
    }
  }

  private startPayload(size: number): void {
    this.payloadSize = size;
    this.payloadFill = 0;
    if (size === 0) this.endPayload(EMPTY);
    else this.state = PAYLOAD;
  }

  private takePayload(chunk: Buffer, pos: number): number {
    const need = this.payloadSize - this.payloadFill;
    if (this.payloadFill === 0 && chunk.length - pos >= need) {
      this.state = HEADER;
      this.endPayload(chunk.subarray(pos, pos + need));
      return pos + need;
    }
    if (this.payloadFill === 0) this.payload = Buffer.allocUnsafe(this.payloadSize);
    const n = Math.min(need, chunk.length - pos);
    chunk.copy(this.payload, this.payloadFill, pos, pos + n);
    this.payloadFill += n;
    if (this.payloadFill === this.payloadSize) {
      const payload = this.payload;
      this.payload = EMPTY;
      this.state = HEADER;
      this.endPayload(payload);
    }
    return pos + n;
  }

  private endPayload(payload: Buffer): void {
    const request = this.current!;
    switch (this.chunkType) {
      case REPLY_TYPE_OFFSET_DATA: {
        const at = this.withinRequest(request, readOffset(payload, 0), this.dataLength);
        this.startData(request.target!, at, at + this.dataLength);
        return;
      }
      case REPLY_TYPE_OFFSET_HOLE: {
        if (request.command !== CMD_READ || payload.length !== 12) {
          throw new NbdProtocolError(`a hole chunk of ${payload.length} bytes in reply to a ${describeRequest(request)}`);
        }
        const size = payload.readUInt32BE(8);
        const at = this.withinRequest(request, readOffset(payload, 0), size);
        // Read buffers start uninitialised: a hole must really be written as zeros.
        request.target!.fill(0, at, at + size);
        request.covered += size;
        break;
      }
      case REPLY_TYPE_BLOCK_STATUS:
        this.takeBlockStatus(request, payload);
        break;
      case REPLY_TYPE_NONE:
        if (payload.length !== 0) throw new NbdProtocolError(`an empty chunk with ${payload.length} bytes of payload`);
        break;
      default:
        if ((this.chunkType & REPLY_TYPE_ERROR_BIT) === 0) throw new NbdProtocolError(`a reply chunk of unknown type ${this.chunkType}`);
        request.error ??= this.chunkError(request, payload);
    }
    this.endChunk();
  }

  /** Where a content chunk starts in the request's buffer; it must lie within the request. */
  private withinRequest(request: PendingRequest, offset: number, length: number): number {
    const at = offset - request.offset;
    if (length === 0 || at < 0 || at + length > request.length) {
      throw new NbdProtocolError(`a chunk for ${length} bytes at offset ${offset} in reply to a ${describeRequest(request)}`);
    }
    return at;
  }

  private takeBlockStatus(request: PendingRequest, payload: Buffer): void {
    if (request.command !== CMD_BLOCK_STATUS || payload.length < 12 || (payload.length - 4) % 8 !== 0) {
      throw new NbdProtocolError(`a block status chunk of ${payload.length} bytes in reply to a ${describeRequest(request)}`);
    }
    if (payload.readUInt32BE(0) !== this.allocationContextId) return;
    const end = request.offset + request.length;
    const extents: Extent[] = [];
    let offset = request.offset;
    for (let at = 4; at < payload.length && offset < end; at += 8) {
      const length = payload.readUInt32BE(at);
      if (length === 0) throw new NbdProtocolError(`an extent of 0 bytes at offset ${offset}`);
      const flags = payload.readUInt32BE(at + 4);
      // The last extent may reach past the range asked about; callers get only that range.
      const clipped = Math.min(length, end - offset);
      extents.push({ offset, length: clipped, zero: (flags & STATE_ZERO) !== 0, hole: (flags & STATE_HOLE) !== 0 });
      offset += clipped;
    }
    request.extents = extents;
  }

  private chunkError(request: PendingRequest, payload: Buffer): BlockIoError {
    const messageLength = payload.length >= 6 ? payload.readUInt16BE(4) : 0;
    if (payload.length < 6 || 6 + messageLength > payload.length) {
      throw new NbdProtocolError(`an error chunk of ${payload.length} bytes in reply to a ${describeRequest(request)}`);
    }
    const message = payload.toString('utf8', 6, 6 + messageLength);
    const hasOffset = this.chunkType === REPLY_TYPE_ERROR_OFFSET && payload.length >= 6 + messageLength + 8;
    return replyError(request, payload.readUInt32BE(0), message, hasOffset ? readOffset(payload, 6 + messageLength) : null);
  }

  private endChunk(): void {
    if ((this.chunkFlags & REPLY_FLAG_DONE) !== 0) this.finish(this.current!);
  }

  private startData(target: Buffer, start: number, end: number): void {
    this.dataTarget = target;
    this.dataAt = start;
    this.dataEnd = end;
    this.state = DATA;
  }

  private takeData(chunk: Buffer, pos: number): number {
    const n = Math.min(this.dataEnd - this.dataAt, chunk.length - pos);
    // A read that placeRead() aimed at the target is there already.
    const inPlace = chunk.buffer === this.dataTarget.buffer && chunk.byteOffset + pos === this.dataTarget.byteOffset + this.dataAt;
    if (!inPlace) chunk.copy(this.dataTarget, this.dataAt, pos, pos + n);
    this.dataAt += n;
    if (this.dataAt === this.dataEnd) this.endData();
    return pos + n;
  }

  private endData(): void {
    const request = this.current!;
    request.covered += this.structured ? this.dataLength : request.length;
    this.dataTarget = EMPTY;
    this.state = HEADER;
    if (this.structured) this.endChunk();
    else this.finish(request);
  }

  private finish(request: PendingRequest): void {
    this.current = null;
    if (!request.error && request.command === CMD_READ && request.covered !== request.length) {
      request.error = new BlockIoError(
        `the NBD server's reply to a ${describeRequest(request)} covered ${request.covered} bytes instead of ${request.length}`,
        'EIO',
      );
    } else if (!request.error && request.command === CMD_BLOCK_STATUS && request.extents === null) {
      request.error = new BlockIoError(`the NBD server's reply to a ${describeRequest(request)} had no base:allocation extents`, 'EIO');
    }
    this.handler.complete(request);
  }
}
