import {
  NBD_EINVAL,
  NBD_EIO,
  NBD_ENOMEM,
  NBD_ENOSPC,
  NBD_ENOTSUP,
  NBD_EOVERFLOW,
  NBD_EPERM,
  NBD_ESHUTDOWN,
  REPLY_FLAG_DONE,
  REPLY_TYPE_BLOCK_STATUS,
  REPLY_TYPE_ERROR,
  REPLY_TYPE_NONE,
  REPLY_TYPE_OFFSET_DATA,
  SIMPLE_REPLY_HEADER_SIZE,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_HEADER_SIZE,
  STRUCTURED_REPLY_MAGIC,
} from './protocol.ts';

/** Error values NBD defines, by the errno names backends throw; proto.md folds EDQUOT and EFBIG into ENOSPC. */
const ERRNO_BY_CODE: Record<string, number> = {
  EPERM: NBD_EPERM,
  EACCES: NBD_EPERM,
  EROFS: NBD_EPERM,
  EIO: NBD_EIO,
  ENOMEM: NBD_ENOMEM,
  EINVAL: NBD_EINVAL,
  ENOSPC: NBD_ENOSPC,
  EDQUOT: NBD_ENOSPC,
  EFBIG: NBD_ENOSPC,
  EOVERFLOW: NBD_EOVERFLOW,
  ENOTSUP: NBD_ENOTSUP,
  EOPNOTSUPP: NBD_ENOTSUP,
  ESHUTDOWN: NBD_ESHUTDOWN,
};

/** The NBD error value for what a backend threw: its `code` when NBD has one, EIO otherwise. */
export function nbdErrno(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  return (typeof code === 'string' && ERRNO_BY_CODE[code]) || NBD_EIO;
}

/** NBD strings (names, messages) are limited to 4096 bytes (proto.md, Conventions). */
export const MAX_STRING_BYTES = 4096;

/** Text as an NBD string, cut to the length limit. */
export function nbdString(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length > MAX_STRING_BYTES ? bytes.subarray(0, MAX_STRING_BYTES) : bytes;
}

export function simpleReply(cookie: bigint, error: number): Buffer {
  const reply = Buffer.allocUnsafe(SIMPLE_REPLY_HEADER_SIZE);
  reply.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  reply.writeUInt32BE(error, 4);
  reply.writeBigUInt64BE(cookie, 8);
  return reply;
}

function chunkHeader(target: Buffer, flags: number, type: number, cookie: bigint, length: number): void {
  target.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  target.writeUInt16BE(flags, 4);
  target.writeUInt16BE(type, 6);
  target.writeBigUInt64BE(cookie, 8);
  target.writeUInt32BE(length, 16);
}

/** The header and offset of a final OFFSET_DATA chunk; the data follows on the wire as its own buffer. */
export function dataChunkHeader(cookie: bigint, offset: number, dataLength: number): Buffer {
  const header = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_SIZE + 8);
  chunkHeader(header, REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, cookie, 8 + dataLength);
  header.writeBigUInt64BE(BigInt(offset), STRUCTURED_REPLY_HEADER_SIZE);
  return header;
}

export function doneChunk(cookie: bigint): Buffer {
  const chunk = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_SIZE);
  chunkHeader(chunk, REPLY_FLAG_DONE, REPLY_TYPE_NONE, cookie, 0);
  return chunk;
}

/** A final error chunk, with a message for the person behind the client. */
export function errorChunk(cookie: bigint, error: number, message: string): Buffer {
  const text = nbdString(message);
  const chunk = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_SIZE + 6 + text.length);
  chunkHeader(chunk, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, cookie, 6 + text.length);
  chunk.writeUInt32BE(error, STRUCTURED_REPLY_HEADER_SIZE);
  chunk.writeUInt16BE(text.length, STRUCTURED_REPLY_HEADER_SIZE + 4);
  text.copy(chunk, STRUCTURED_REPLY_HEADER_SIZE + 6);
  return chunk;
}

export interface StatusDescriptor {
  length: number;
  flags: number;
}

export function blockStatusChunk(cookie: bigint, contextId: number, descriptors: readonly StatusDescriptor[]): Buffer {
  const payload = 4 + 8 * descriptors.length;
  const chunk = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_SIZE + payload);
  chunkHeader(chunk, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, cookie, payload);
  let at = chunk.writeUInt32BE(contextId, STRUCTURED_REPLY_HEADER_SIZE);
  for (const { length, flags } of descriptors) {
    at = chunk.writeUInt32BE(length, at);
    at = chunk.writeUInt32BE(flags, at);
  }
  return chunk;
}
