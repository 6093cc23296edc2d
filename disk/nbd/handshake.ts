import net from 'node:net';
import {
  ERR_UNSUP,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO_BLOCK_SIZE,
  INFO_EXPORT,
  META_BASE_ALLOCATION,
  NBDMAGIC,
  OPT_ABORT,
  OPT_EXPORT_NAME,
  OPT_GO,
  OPT_INFO,
  OPT_SET_META_CONTEXT,
  OPT_STRUCTURED_REPLY,
  REP_ACK,
  REP_FLAG_ERROR,
  REP_INFO,
  REP_META_CONTEXT,
  REPLY_ERRORS,
  REPLY_MAGIC,
  TFLAG_CAN_MULTI_CONN,
  TFLAG_READ_ONLY,
  TFLAG_SEND_DF,
  TFLAG_SEND_FLUSH,
  TFLAG_SEND_TRIM,
} from './protocol.ts';
import { ReadRouter, SocketReader, type ReadSink } from './socket-reader.ts';
import type { NbdAddress } from './url.ts';

/** What the server says of an export during the handshake. */
export interface ExportInfo {
  size: number;
  flags: number;
  readOnly: boolean;
  canFlush: boolean;
  canTrim: boolean;
  canStructuredReads: boolean;
  canMultiConn: boolean;
  /** Block size constraints (minimum, preferred, maximum), when the server states them. */
  blockSize: { minimum: number; preferred: number; maximum: number } | null;
  /** The server agreed to structured replies for the transmission phase. */
  structuredReplies: boolean;
  /** The id the server gave the base:allocation metadata context, or null when block status is off. */
  allocationContextId: number | null;
}

/** Extensions to ask for before entering the transmission phase; servers without them go without. */
export interface NegotiateOptions {
  structuredReplies?: boolean;
  /** Select base:allocation, for NBD_CMD_BLOCK_STATUS; needs structured replies. */
  blockStatus?: boolean;
}

type Extensions = Pick<ExportInfo, 'structuredReplies' | 'allocationContextId'>;

const NO_EXTENSIONS: Extensions = { structuredReplies: false, allocationContextId: null };

export class NbdHandshakeError extends Error {}

function describeExport(size: bigint, flags: number, blockSize: ExportInfo['blockSize'], extensions: Extensions): ExportInfo {
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new NbdHandshakeError(`export size ${size} is too large`);
  return {
    size: Number(size),
    flags,
    readOnly: (flags & TFLAG_READ_ONLY) !== 0,
    canFlush: (flags & TFLAG_SEND_FLUSH) !== 0,
    canTrim: (flags & TFLAG_SEND_TRIM) !== 0,
    canStructuredReads: (flags & TFLAG_SEND_DF) !== 0,
    canMultiConn: (flags & TFLAG_CAN_MULTI_CONN) !== 0,
    blockSize,
    ...extensions,
  };
}

/**
 * A socket connected to an NBD server. It is created with a ReadRouter's `onread`, so that the
 * transmission phase can choose where each read lands; until then its reads go to `reader`.
 */
export interface NbdSocket {
  readonly socket: net.Socket;
  readonly router: ReadRouter;
  readonly reader: SocketReader;
}

export function connectSocket(address: NbdAddress, timeoutMs: number): Promise<NbdSocket> {
  return new Promise((resolve, reject) => {
    const router = new ReadRouter();
    const target = address.transport === 'tcp' ? { host: address.host, port: address.port } : { path: address.socketPath };
    const socket = net.connect({ ...target, onread: router.onread });
    const reader = new SocketReader(socket);
    router.route(reader);
    const where = address.transport === 'tcp' ? `${address.host}:${address.port}` : address.socketPath;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NbdHandshakeError(`no answer from ${where} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      resolve({ socket, router, reader });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new NbdHandshakeError(`cannot connect to ${where}: ${error.code ?? error.message}`));
    });
  });
}

function optionRequest(option: number, data: Buffer): Buffer {
  const header = Buffer.alloc(16);
  header.writeBigUInt64BE(IHAVEOPT, 0);
  header.writeUInt32BE(option, 8);
  header.writeUInt32BE(data.length, 12);
  return Buffer.concat([header, data]);
}

function infoRequest(exportName: string): Buffer {
  const name = Buffer.from(exportName, 'utf8');
  const data = Buffer.alloc(4 + name.length + 2 + 4);
  data.writeUInt32BE(name.length, 0);
  name.copy(data, 4);
  data.writeUInt16BE(2, 4 + name.length);
  data.writeUInt16BE(INFO_EXPORT, 6 + name.length);
  data.writeUInt16BE(INFO_BLOCK_SIZE, 8 + name.length);
  return data;
}

function metaContextRequest(exportName: string, query: string): Buffer {
  const name = Buffer.from(exportName, 'utf8');
  const queryBytes = Buffer.from(query, 'utf8');
  const data = Buffer.alloc(4 + name.length + 4 + 4 + queryBytes.length);
  let at = data.writeUInt32BE(name.length, 0);
  at += name.copy(data, at);
  at = data.writeUInt32BE(1, at);
  at = data.writeUInt32BE(queryBytes.length, at);
  queryBytes.copy(data, at);
  return data;
}

interface OptionReply {
  type: number;
  data: Buffer;
}

/** Option replies carry names and short messages; anything far larger is not an NBD server talking. */
const MAX_OPTION_REPLY = 64 * 1024;

async function readOptionReply(reader: SocketReader, option: number): Promise<OptionReply> {
  const header = await reader.read(20);
  if (header.readBigUInt64BE(0) !== REPLY_MAGIC) throw new NbdHandshakeError('bad option reply from the NBD server');
  const answered = header.readUInt32BE(8);
  if (answered !== option) throw new NbdHandshakeError(`the NBD server answered option ${answered} when asked about option ${option}`);
  const length = header.readUInt32BE(16);
  if (length > MAX_OPTION_REPLY) throw new NbdHandshakeError(`the NBD server sent an option reply of ${length} bytes`);
  return { type: header.readUInt32BE(12), data: await reader.read(length) };
}

/**
 * Asks for an optional extension. Returns the replies that came before the ACK, or null when the
 * server refused: whatever the error, the client simply goes on without the extension.
 */
async function requestExtension(socket: net.Socket, reader: SocketReader, option: number, data: Buffer): Promise<OptionReply[] | null> {
  socket.write(optionRequest(option, data));
  const replies: OptionReply[] = [];
  for (;;) {
    const reply = await readOptionReply(reader, option);
    if (reply.type === REP_ACK) return replies;
    if ((reply.type & REP_FLAG_ERROR) !== 0) return null;
    replies.push(reply);
  }
}

async function negotiateExtensions(socket: net.Socket, reader: SocketReader, exportName: string, options: NegotiateOptions): Promise<Extensions> {
  if (!options.structuredReplies) return NO_EXTENSIONS;
  if (!(await requestExtension(socket, reader, OPT_STRUCTURED_REPLY, Buffer.alloc(0)))) return NO_EXTENSIONS;
  if (!options.blockStatus) return { structuredReplies: true, allocationContextId: null };
  const contexts = await requestExtension(socket, reader, OPT_SET_META_CONTEXT, metaContextRequest(exportName, META_BASE_ALLOCATION));
  const allocation = contexts?.find(
    (reply) => reply.type === REP_META_CONTEXT && reply.data.length > 4 && reply.data.toString('utf8', 4) === META_BASE_ALLOCATION,
  );
  return { structuredReplies: true, allocationContextId: allocation ? allocation.data.readUInt32BE(0) : null };
}

/**
 * Runs the fixed newstyle handshake on a connected socket. Mode `go` ends in the transmission phase,
 * after asking for the extensions in `options`; the caller then gives the socket's reads to its own
 * sink with handOver(). Mode `info` only asks about the export and leaves politely with
 * NBD_OPT_ABORT. Servers without NBD_OPT_INFO/GO are served with the older NBD_OPT_EXPORT_NAME.
 */
export async function negotiate(connection: NbdSocket, exportName: string, mode: 'go' | 'info', options: NegotiateOptions = {}): Promise<ExportInfo> {
  const { socket, reader } = connection;
  const greeting = await reader.read(18);
  if (greeting.readBigUInt64BE(0) !== NBDMAGIC) throw new NbdHandshakeError('the peer is not an NBD server');
  if (greeting.readBigUInt64BE(8) !== IHAVEOPT) throw new NbdHandshakeError('the NBD server only speaks the old handshake, which is not supported');
  const serverFlags = greeting.readUInt16BE(16);
  if ((serverFlags & FLAG_FIXED_NEWSTYLE) === 0) throw new NbdHandshakeError('the NBD server does not speak the fixed newstyle handshake');
  const noZeroes = (serverFlags & FLAG_NO_ZEROES) !== 0;
  const clientFlags = Buffer.alloc(4);
  clientFlags.writeUInt32BE(FLAG_C_FIXED_NEWSTYLE | (noZeroes ? FLAG_C_NO_ZEROES : 0));
  socket.write(clientFlags);

  const extensions = mode === 'go' ? await negotiateExtensions(socket, reader, exportName, options) : NO_EXTENSIONS;
  return selectExport(socket, reader, exportName, noZeroes, mode, extensions);
}

/**
 * Gives the reads of a connection past its handshake to `sink`: first the bytes that the handshake's
 * reader holds beyond its last read (it keeps taking reads until now), then every later read.
 */
export function handOver(connection: NbdSocket, sink: ReadSink): void {
  const leftover = connection.reader.detach();
  connection.router.route(sink);
  if (leftover.length > 0) sink.received(leftover);
  // detach() paused the socket, as readers that live on 'data' events need.
  connection.socket.resume();
}

async function selectExport(
  socket: net.Socket,
  reader: SocketReader,
  exportName: string,
  noZeroes: boolean,
  mode: 'go' | 'info',
  extensions: Extensions,
): Promise<ExportInfo> {
  const option = mode === 'go' ? OPT_GO : OPT_INFO;
  socket.write(optionRequest(option, infoRequest(exportName)));
  let size: bigint | null = null;
  let flags = 0;
  let blockSize: ExportInfo['blockSize'] = null;
  for (;;) {
    const { type, data } = await readOptionReply(reader, option);
    if (type === REP_INFO && data.length >= 2) {
      const info = data.readUInt16BE(0);
      if (info === INFO_EXPORT && data.length >= 12) {
        size = data.readBigUInt64BE(2);
        flags = data.readUInt16BE(10);
      } else if (info === INFO_BLOCK_SIZE && data.length >= 14) {
        blockSize = { minimum: data.readUInt32BE(2), preferred: data.readUInt32BE(6), maximum: data.readUInt32BE(10) };
      }
    } else if (type === REP_ACK) {
      if (size === null) throw new NbdHandshakeError('the NBD server did not say the size of the export');
      if (mode === 'info') await abortOptions(socket, reader);
      return describeExport(size, flags, blockSize, extensions);
    } else if (type === ERR_UNSUP) {
      return exportNameFallback(socket, reader, exportName, noZeroes, mode, extensions);
    } else if ((type & REP_FLAG_ERROR) !== 0) {
      const message = data.toString('utf8');
      const reason = REPLY_ERRORS[type] ?? `error ${type - REP_FLAG_ERROR}`;
      throw new NbdHandshakeError(`export ${JSON.stringify(exportName)}: ${reason}${message ? ` (${message})` : ''}`);
    }
  }
}

async function abortOptions(socket: net.Socket, reader: SocketReader): Promise<void> {
  socket.write(optionRequest(OPT_ABORT, Buffer.alloc(0)));
  // The server may acknowledge the abort or just close; either way the conversation is over.
  await reader.read(20).catch(() => undefined);
}

async function exportNameFallback(
  socket: net.Socket,
  reader: SocketReader,
  exportName: string,
  noZeroes: boolean,
  mode: 'go' | 'info',
  extensions: Extensions,
): Promise<ExportInfo> {
  socket.write(optionRequest(OPT_EXPORT_NAME, Buffer.from(exportName, 'utf8')));
  const reply = await reader.read(10 + (noZeroes ? 0 : 124)).catch(() => {
    throw new NbdHandshakeError(`export ${JSON.stringify(exportName)} is unknown to the NBD server`);
  });
  const info = describeExport(reply.readBigUInt64BE(0), reply.readUInt16BE(8), null, extensions);
  if (mode === 'info') socket.end();
  return info;
}

/** Asks an NBD server about one export and disconnects. */
export async function queryExport(address: NbdAddress, timeoutMs = 5000): Promise<ExportInfo> {
  const connection = await connectSocket(address, timeoutMs);
  const { socket } = connection;
  const timer = setTimeout(() => socket.destroy(new NbdHandshakeError(`the NBD handshake did not finish within ${timeoutMs} ms`)), timeoutMs);
  try {
    return await negotiate(connection, address.exportName, 'info');
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}
