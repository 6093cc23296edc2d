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
  NBDMAGIC,
  OPT_ABORT,
  OPT_EXPORT_NAME,
  OPT_GO,
  OPT_INFO,
  REP_ACK,
  REP_FLAG_ERROR,
  REP_INFO,
  REPLY_ERRORS,
  REPLY_MAGIC,
  TFLAG_CAN_MULTI_CONN,
  TFLAG_READ_ONLY,
  TFLAG_SEND_DF,
  TFLAG_SEND_FLUSH,
  TFLAG_SEND_TRIM,
} from './protocol.ts';
import { SocketReader } from './socket-reader.ts';
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
}

export class NbdHandshakeError extends Error {}

function describeExport(size: bigint, flags: number, blockSize: ExportInfo['blockSize']): ExportInfo {
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
  };
}

export function connectSocket(address: NbdAddress, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      address.transport === 'tcp' ? net.connect({ host: address.host, port: address.port }) : net.connect({ path: address.socketPath });
    const where = address.transport === 'tcp' ? `${address.host}:${address.port}` : address.socketPath;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NbdHandshakeError(`no answer from ${where} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      resolve(socket);
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

/**
 * Runs the fixed newstyle handshake on a connected socket. Mode `go` ends in the transmission phase;
 * mode `info` only asks about the export and leaves politely with NBD_OPT_ABORT. Servers without
 * NBD_OPT_INFO/GO are served with the older NBD_OPT_EXPORT_NAME.
 */
export async function negotiate(socket: net.Socket, exportName: string, mode: 'go' | 'info'): Promise<ExportInfo> {
  const reader = new SocketReader(socket);
  const greeting = await reader.read(18);
  if (greeting.readBigUInt64BE(0) !== NBDMAGIC) throw new NbdHandshakeError('the peer is not an NBD server');
  if (greeting.readBigUInt64BE(8) !== IHAVEOPT) throw new NbdHandshakeError('the NBD server only speaks the old handshake, which is not supported');
  const serverFlags = greeting.readUInt16BE(16);
  if ((serverFlags & FLAG_FIXED_NEWSTYLE) === 0) throw new NbdHandshakeError('the NBD server does not speak the fixed newstyle handshake');
  const noZeroes = (serverFlags & FLAG_NO_ZEROES) !== 0;
  const clientFlags = Buffer.alloc(4);
  clientFlags.writeUInt32BE(FLAG_C_FIXED_NEWSTYLE | (noZeroes ? FLAG_C_NO_ZEROES : 0));
  socket.write(clientFlags);

  const option = mode === 'go' ? OPT_GO : OPT_INFO;
  socket.write(optionRequest(option, infoRequest(exportName)));
  let size: bigint | null = null;
  let flags = 0;
  let blockSize: ExportInfo['blockSize'] = null;
  for (;;) {
    const header = await reader.read(20);
    if (header.readBigUInt64BE(0) !== REPLY_MAGIC) throw new NbdHandshakeError('bad option reply from the NBD server');
    const type = header.readUInt32BE(12);
    const data = await reader.read(header.readUInt32BE(16));
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
      return describeExport(size, flags, blockSize);
    } else if (type === ERR_UNSUP) {
      return exportNameFallback(socket, reader, exportName, noZeroes, mode);
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
): Promise<ExportInfo> {
  socket.write(optionRequest(OPT_EXPORT_NAME, Buffer.from(exportName, 'utf8')));
  const reply = await reader.read(10 + (noZeroes ? 0 : 124)).catch(() => {
    throw new NbdHandshakeError(`export ${JSON.stringify(exportName)} is unknown to the NBD server`);
  });
  const info = describeExport(reply.readBigUInt64BE(0), reply.readUInt16BE(8), null);
  if (mode === 'info') socket.end();
  return info;
}

/** Asks an NBD server about one export and disconnects. */
export async function queryExport(address: NbdAddress, timeoutMs = 5000): Promise<ExportInfo> {
  const socket = await connectSocket(address, timeoutMs);
  const timer = setTimeout(() => socket.destroy(new NbdHandshakeError(`the NBD handshake did not finish within ${timeoutMs} ms`)), timeoutMs);
  try {
    return await negotiate(socket, address.exportName, 'info');
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}
