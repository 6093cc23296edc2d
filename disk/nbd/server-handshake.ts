import type { Socket } from 'node:net';
import type { ExportBackend } from './export-backend.ts';
import {
  DEFAULT_MAX_PAYLOAD,
  ERR_INVALID,
  ERR_UNKNOWN,
  ERR_UNSUP,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO_BLOCK_SIZE,
  INFO_DESCRIPTION,
  INFO_EXPORT,
  INFO_NAME,
  META_BASE_ALLOCATION,
  NBDMAGIC,
  OPT_ABORT,
  OPT_EXPORT_NAME,
  OPT_GO,
  OPT_INFO,
  OPT_LIST,
  OPT_LIST_META_CONTEXT,
  OPT_SET_META_CONTEXT,
  OPT_STARTTLS,
  OPT_STRUCTURED_REPLY,
  REP_ACK,
  REP_INFO,
  REP_META_CONTEXT,
  REP_SERVER,
  REPLY_MAGIC,
  TFLAG_CAN_MULTI_CONN,
  TFLAG_HAS_FLAGS,
  TFLAG_READ_ONLY,
  TFLAG_SEND_DF,
  TFLAG_SEND_FLUSH,
  TFLAG_SEND_FUA,
  TFLAG_SEND_TRIM,
} from './protocol.ts';
import { NbdProtocolError } from './request-parser.ts';
import { nbdString } from './server-replies.ts';
import { SocketReader } from './socket-reader.ts';

/** The exports a server offers, as the handshake looks them up. */
export interface ExportCatalog {
  /** In the order NBD_OPT_LIST reports them. */
  readonly names: readonly string[];
  /** The export a client named, the empty name standing for the default one; null when there is none. */
  find(name: string): { name: string; backend: ExportBackend } | null;
}

/** What client and server agreed on for the transmission phase. */
export interface Negotiated {
  exportName: string;
  backend: ExportBackend;
  flags: number;
  structuredReplies: boolean;
  /** The id of base:allocation when the client selected it for this export, else null. */
  allocationContextId: number | null;
  /** Bytes that came after the handshake: the start of the first requests. */
  leftover: Buffer;
}

/** Option data is a name and a few queries; anything longer is a client trying to make us hold it. */
const MAX_OPTION_LENGTH = 64 * 1024;
/** Real clients send a handful of options; a thousand is a client that will never finish. */
const MAX_OPTIONS = 1024;

const ALLOCATION_CONTEXT_ID = 1;
const PREFERRED_BLOCK_SIZE = 4096;
const HANDSHAKE_FLAGS = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES;
const KNOWN_CLIENT_FLAGS = FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES;

/** The client closed the connection or the server dropped it: nothing to report. */
class ClientLeft extends Error {}

class InvalidOption extends Error {}

function transmissionFlags(backend: ExportBackend, structuredReplies: boolean): number {
  const readOnly = backend.readOnly || !backend.write;
  let flags = TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_SEND_FUA;
  if (readOnly) flags |= TFLAG_READ_ONLY;
  if (!readOnly && backend.trim) flags |= TFLAG_SEND_TRIM;
  if (structuredReplies) flags |= TFLAG_SEND_DF;
  if (backend.multiConn) flags |= TFLAG_CAN_MULTI_CONN;
  return flags;
}

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

function infoReply(type: number, payload: Buffer): Buffer {
  const data = Buffer.allocUnsafe(2 + payload.length);
  data.writeUInt16BE(type, 0);
  payload.copy(data, 2);
  return data;
}

/** A length-prefixed string inside option data, checked against the bytes that are really there. */
function readString(data: Buffer, at: number, minimumAfter: number): { text: string; end: number } {
  if (data.length - at < 4) throw new InvalidOption('option data ends before a string length');
  const length = data.readUInt32BE(at);
  if (length > data.length - at - 4 - minimumAfter) throw new InvalidOption(`a string of ${length} bytes does not fit in the option data`);
  return { text: data.toString('utf8', at + 4, at + 4 + length), end: at + 4 + length };
}

function parseInfoRequest(data: Buffer): { name: string; requests: number[] } {
  const { text: name, end } = readString(data, 0, 2);
  const count = data.readUInt16BE(end);
  if (data.length !== end + 2 + 2 * count) throw new InvalidOption(`${count} information requests do not match the option length`);
  const requests: number[] = [];
  for (let at = end + 2; at < data.length; at += 2) requests.push(data.readUInt16BE(at));
  return { name, requests };
}

function parseMetaContextRequest(data: Buffer): { name: string; queries: string[] } {
  const { text: name, end } = readString(data, 0, 4);
  const count = data.readUInt32BE(end);
  const queries: string[] = [];
  let at = end + 4;
  for (let i = 0; i < count; i++) {
    const query = readString(data, at, 0);
    queries.push(query.text);
    at = query.end;
  }
  if (at !== data.length) throw new InvalidOption('meta context queries do not match the option length');
  return { name, queries };
}

/** The one context this server knows, for the queries of NBD_OPT_LIST_META_CONTEXT (wildcards allowed). */
function listedContexts(backend: ExportBackend, queries: string[]): string[] {
  if (!backend.extents) return [];
  const matches = queries.length === 0 || queries.some((query) => query === 'base:' || query === META_BASE_ALLOCATION);
  return matches ? [META_BASE_ALLOCATION] : [];
}

/**
 * The server side of the fixed newstyle handshake, driven option by option. One instance per
 * connection; `run` resolves with what was agreed, or null when the client left or was refused.
 */
class Handshake {
  private readonly reader: SocketReader;
  private noZeroes = false;
  private structuredReplies = false;
  /** The export the client last selected base:allocation for. */
  private allocationFor: string | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly catalog: ExportCatalog,
  ) {
    this.reader = new SocketReader(socket);
  }

  async run(): Promise<Negotiated | null> {
    try {
      return await this.haggle();
    } catch (error) {
      if (error instanceof ClientLeft) return null;
      throw error;
    }
  }

  private read(length: number): Promise<Buffer> {
    return this.reader.read(length).catch(() => {
      throw new ClientLeft();
    });
  }

  private async haggle(): Promise<Negotiated | null> {
    const greeting = Buffer.allocUnsafe(18);
    greeting.writeBigUInt64BE(NBDMAGIC, 0);
    greeting.writeBigUInt64BE(IHAVEOPT, 8);
    greeting.writeUInt16BE(HANDSHAKE_FLAGS, 16);
    this.socket.write(greeting);
    const clientFlags = (await this.read(4)).readUInt32BE(0);
    if ((clientFlags & ~KNOWN_CLIENT_FLAGS) !== 0) throw new NbdProtocolError(`the client sent unknown handshake flags 0x${clientFlags.toString(16)}`);
    this.noZeroes = (clientFlags & FLAG_C_NO_ZEROES) !== 0;

    for (let count = 0; count < MAX_OPTIONS; count++) {
      const header = await this.read(16);
      if (header.readBigUInt64BE(0) !== IHAVEOPT) throw new NbdProtocolError('the client sent an option without the IHAVEOPT magic');
      const option = header.readUInt32BE(8);
      const length = header.readUInt32BE(12);
      if (length > MAX_OPTION_LENGTH) throw new NbdProtocolError(`the client sent option ${option} with ${length} bytes of data, over the ${MAX_OPTION_LENGTH} allowed`);
      const data = await this.read(length);
      const outcome = this.answer(option, data);
      if (outcome !== 'continue') return outcome;
      if (this.socket.writableNeedDrain) await drained(this.socket);
    }
    throw new NbdProtocolError(`the client sent ${MAX_OPTIONS} options without choosing an export`);
  }

  /** Answers one option; returns 'continue' while haggling goes on. */
  private answer(option: number, data: Buffer): Negotiated | null | 'continue' {
    try {
      switch (option) {
        case OPT_EXPORT_NAME:
          return this.exportName(data.toString('utf8'));
        case OPT_ABORT:
          this.reply(option, REP_ACK);
          this.socket.end();
          return null;
        case OPT_LIST:
          this.list(data);
          return 'continue';
        case OPT_INFO:
        case OPT_GO:
          return this.info(option, data);
        case OPT_STRUCTURED_REPLY:
          if (data.length > 0) throw new InvalidOption('NBD_OPT_STRUCTURED_REPLY takes no data');
          if (this.structuredReplies) throw new InvalidOption('structured replies are already on');
          this.structuredReplies = true;
          this.reply(option, REP_ACK);
          return 'continue';
        case OPT_LIST_META_CONTEXT:
        case OPT_SET_META_CONTEXT:
          this.metaContext(option, data);
          return 'continue';
        case OPT_STARTTLS:
          this.reply(option, ERR_UNSUP, nbdString('this server does not support TLS'));
          return 'continue';
        default:
          this.reply(option, ERR_UNSUP, nbdString(`option ${option} is not supported by this server`));
          return 'continue';
      }
    } catch (error) {
      if (!(error instanceof InvalidOption)) throw error;
      this.reply(option, ERR_INVALID, nbdString(error.message));
      return 'continue';
    }
  }

  private reply(option: number, type: number, data: Buffer = Buffer.alloc(0)): void {
    const header = Buffer.allocUnsafe(20);
    header.writeBigUInt64BE(REPLY_MAGIC, 0);
    header.writeUInt32BE(option, 8);
    header.writeUInt32BE(type, 12);
    header.writeUInt32BE(data.length, 16);
    this.socket.write(data.length > 0 ? Buffer.concat([header, data]) : header);
  }

  private unknownExport(option: number, name: string): void {
    const which = name === '' ? 'there is no default export' : `there is no export named ${JSON.stringify(name)}`;
    this.reply(option, ERR_UNKNOWN, nbdString(`${which}; this server has ${this.catalog.names.map((each) => JSON.stringify(each)).join(', ')}`));
  }

  private exportName(name: string): Negotiated | null {
    const found = this.catalog.find(name);
    // NBD_OPT_EXPORT_NAME has no way to say no: dropping the connection is the answer.
    if (!found) {
      this.socket.destroy();
      return null;
    }
    const flags = transmissionFlags(found.backend, this.structuredReplies);
    const answer = Buffer.alloc(this.noZeroes ? 10 : 134);
    answer.writeBigUInt64BE(BigInt(found.backend.size), 0);
    answer.writeUInt16BE(flags, 8);
    this.socket.write(answer);
    return this.enter(found.name, found.backend, flags);
  }

  private list(data: Buffer): void {
    if (data.length > 0) throw new InvalidOption('NBD_OPT_LIST takes no data');
    for (const name of this.catalog.names) {
      const nameBytes = Buffer.from(name, 'utf8');
      const description = nbdString(this.catalog.find(name)?.backend.description ?? '');
      const entry = Buffer.allocUnsafe(4 + nameBytes.length + description.length);
      entry.writeUInt32BE(nameBytes.length, 0);
      nameBytes.copy(entry, 4);
      description.copy(entry, 4 + nameBytes.length);
      this.reply(OPT_LIST, REP_SERVER, entry);
    }
    this.reply(OPT_LIST, REP_ACK);
  }

  private info(option: number, data: Buffer): Negotiated | 'continue' {
    const { name, requests } = parseInfoRequest(data);
    const found = this.catalog.find(name);
    if (!found) {
      this.unknownExport(option, name);
      return 'continue';
    }
    const { backend } = found;
    const flags = transmissionFlags(backend, this.structuredReplies);
    const exportInfo = Buffer.allocUnsafe(10);
    exportInfo.writeBigUInt64BE(BigInt(backend.size), 0);
    exportInfo.writeUInt16BE(flags, 8);
    this.reply(option, REP_INFO, infoReply(INFO_EXPORT, exportInfo));
    // The defaults of proto.md, stated so that clients need not guess.
    const blockSize = Buffer.allocUnsafe(12);
    blockSize.writeUInt32BE(1, 0);
    blockSize.writeUInt32BE(PREFERRED_BLOCK_SIZE, 4);
    blockSize.writeUInt32BE(DEFAULT_MAX_PAYLOAD, 8);
    this.reply(option, REP_INFO, infoReply(INFO_BLOCK_SIZE, blockSize));
    if (requests.includes(INFO_NAME)) this.reply(option, REP_INFO, infoReply(INFO_NAME, Buffer.from(found.name, 'utf8')));
    if (requests.includes(INFO_DESCRIPTION) && backend.description) {
      this.reply(option, REP_INFO, infoReply(INFO_DESCRIPTION, nbdString(backend.description)));
    }
    this.reply(option, REP_ACK);
    return option === OPT_GO ? this.enter(found.name, backend, flags) : 'continue';
  }

  private metaContext(option: number, data: Buffer): void {
    if (option === OPT_SET_META_CONTEXT) {
      // Setting replaces the earlier choice even when it fails (proto.md).
      this.allocationFor = null;
      if (!this.structuredReplies) throw new InvalidOption('negotiate structured replies before metadata contexts');
    }
    const { name, queries } = parseMetaContextRequest(data);
    const found = this.catalog.find(name);
    if (!found) {
      this.unknownExport(option, name);
      return;
    }
    if (option === OPT_LIST_META_CONTEXT) {
      for (const context of listedContexts(found.backend, queries)) this.reply(option, REP_META_CONTEXT, this.contextReply(0, context));
    } else if (found.backend.extents && queries.includes(META_BASE_ALLOCATION)) {
      this.allocationFor = found.name;
      this.reply(option, REP_META_CONTEXT, this.contextReply(ALLOCATION_CONTEXT_ID, META_BASE_ALLOCATION));
    }
    this.reply(option, REP_ACK);
  }

  private contextReply(id: number, context: string): Buffer {
    const name = Buffer.from(context, 'utf8');
    const data = Buffer.allocUnsafe(4 + name.length);
    data.writeUInt32BE(id, 0);
    name.copy(data, 4);
    return data;
  }

  private enter(exportName: string, backend: ExportBackend, flags: number): Negotiated {
    return {
      exportName,
      backend,
      flags,
      structuredReplies: this.structuredReplies,
      allocationContextId: this.allocationFor === exportName ? ALLOCATION_CONTEXT_ID : null,
      leftover: this.reader.detach(),
    };
  }
}

/**
 * Runs the handshake on a fresh connection. Resolves with the agreement, leaving the socket paused
 * for the session to take over, or with null when the client left or was refused (the socket is then
 * closed or closing). Throws NbdProtocolError when the client broke the protocol.
 */
export function negotiateWithClient(socket: Socket, catalog: ExportCatalog): Promise<Negotiated | null> {
  return new Handshake(socket, catalog).run();
}
