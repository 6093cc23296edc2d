import type { Redis } from 'ioredis';
import type { InvokeResult } from '../api-catalog/invoker.ts';
import type { ParamFrame } from '../nlu/frame.ts';
import { recordIdOf } from './result-text.ts';

// Every operation run through the bot, whatever the surface, is appended to one Redis stream, so
// an operator can see who did what, where and with which outcome. Entries are written once and
// never changed; the stream is trimmed to a cap so it cannot grow without bound.

export type Surface = 'slack' | 'console' | 'voice';

/** How the call ended: the HTTP status and the id of the record it made or touched, or the error. */
export type AuditResult = { ok: true; status: number; recordId?: string } | { ok: false; status?: number; error: string };

export interface AuditEntry {
  time: Date;
  surface: Surface;
  /** The Slack user id, or the caller's number on voice. */
  who: string;
  /** The channel and thread, or the call id. */
  where: string;
  utterance: string;
  operationId: string;
  params: Record<string, unknown>;
  result: AuditResult;
}

/** An entry as listed, with its stream id (the cursor for `before`). */
export interface ListedAuditEntry extends AuditEntry {
  id: string;
}

/** What the surface knows when it appends: the frame tells which parameters travel as headers. */
export interface AuditAppend {
  time?: Date;
  surface: Surface;
  who: string;
  where: string;
  utterance: string;
  operationId: string;
  params: Readonly<Record<string, unknown>>;
  /** The operation's parameters; values of header and cookie parameters are never stored. */
  paramFrames: readonly Pick<ParamFrame, 'name' | 'in'>[];
  result: AuditResult;
}

export const DEFAULT_AUDIT_KEY = 'ferry:audit';
export const DEFAULT_AUDIT_MAX_LENGTH = 100_000;
// Long enough for any command a person types or says; a paste of a log file is not a command.
const TEXT_LIMIT = 500;
const DROPPED = '[dropped]';
// Inside a URL the brackets would be percent-encoded into something harder to read.
const DROPPED_IN_URL = 'dropped';
// Names under which credentials travel in bodies and URL queries (apiKey, password, X-Amz-Signature…).
const SECRET_NAME = /pass|secret|token|key|signature|credential|auth/i;

export interface AuditLogOptions {
  /** The stream's key (default `ferry:audit`). */
  key?: string;
  /** Entries kept, roughly: Redis trims whole nodes of the stream, so a few more may stay (default 100000). */
  maxLength?: number;
}

function truncated(text: string): string {
  return text.length > TEXT_LIMIT ? `${text.slice(0, TEXT_LIMIT - 1)}…` : text;
}

/** A URL without its password and with the values of credential-like query parameters dropped. */
function urlWithoutCredentials(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  if (!url.password && ![...url.searchParams.keys()].some((name) => SECRET_NAME.test(name))) return text;
  if (url.password) url.password = DROPPED_IN_URL;
  for (const name of [...url.searchParams.keys()]) if (SECRET_NAME.test(name)) url.searchParams.set(name, DROPPED_IN_URL);
  return url.toString();
}

// URLs anywhere in a text: people paste signed download links into commands.
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;
const withoutCredentials = (text: string): string => text.replace(URL_IN_TEXT, urlWithoutCredentials);

function scrubbed(value: unknown): unknown {
  if (typeof value === 'string') return withoutCredentials(value);
  if (Array.isArray(value)) return value.map(scrubbed);
  if (typeof value === 'object' && value !== null) return scrubbedRecord(Object.entries(value));
  return value;
}

function scrubbedRecord(entries: [string, unknown][], hidden: ReadonlySet<string> = new Set()): Record<string, unknown> {
  return Object.fromEntries(entries.map(([name, value]) => [name, hidden.has(name) || SECRET_NAME.test(name) ? DROPPED : scrubbed(value)]));
}

/** The parameters as they may be stored: no header or cookie values, nothing named like a credential. */
function storedParams(params: Readonly<Record<string, unknown>>, frames: AuditAppend['paramFrames']): Record<string, unknown> {
  const hidden = new Set(frames.filter((param) => param.in === 'header' || param.in === 'cookie').map((param) => param.name));
  return scrubbedRecord(Object.entries(params), hidden);
}

/** The audit result of an invoker call: the record id is the `id` of the body when it has one. */
export function auditResultOf(result: InvokeResult): AuditResult {
  if (!result.ok) return { ok: false, status: result.status, error: result.problem.detail ?? result.problem.title };
  const id = recordIdOf(result.body);
  return id === null ? { ok: true, status: result.status } : { ok: true, status: result.status, recordId: id };
}

type StoredFields = Record<'time' | 'surface' | 'who' | 'where' | 'utterance' | 'operationId' | 'params' | 'result', string>;

// Only `append` writes the stream, so its fields are read back as they were written.
function entryOf(id: string, flat: readonly string[]): ListedAuditEntry {
  const fields: Partial<StoredFields> = {};
  for (let at = 0; at + 1 < flat.length; at += 2) fields[flat[at] as keyof StoredFields] = flat[at + 1]!;
  const stored = fields as StoredFields;
  return {
    id,
    time: new Date(stored.time),
    surface: stored.surface as Surface,
    who: stored.who,
    where: stored.where,
    utterance: stored.utterance,
    operationId: stored.operationId,
    params: JSON.parse(stored.params) as Record<string, unknown>,
    result: JSON.parse(stored.result) as AuditResult,
  };
}

export class AuditLog {
  readonly key: string;
  readonly maxLength: number;

  constructor(
    private readonly redis: Redis,
    options: AuditLogOptions = {},
  ) {
    this.key = options.key ?? DEFAULT_AUDIT_KEY;
    this.maxLength = options.maxLength ?? DEFAULT_AUDIT_MAX_LENGTH;
    if (!Number.isInteger(this.maxLength) || this.maxLength < 1) throw new RangeError('maxLength is a whole number of entries, at least 1');
  }

  /** Appends one entry and answers its stream id. */
  async append(entry: AuditAppend): Promise<string> {
    const result: AuditResult = entry.result.ok ? entry.result : { ...entry.result, error: truncated(withoutCredentials(entry.result.error)) };
    const fields: StoredFields = {
      time: (entry.time ?? new Date()).toISOString(),
      surface: entry.surface,
      who: entry.who,
      where: entry.where,
      utterance: truncated(withoutCredentials(entry.utterance)),
      operationId: entry.operationId,
      params: JSON.stringify(storedParams(entry.params, entry.paramFrames)),
      result: JSON.stringify(result),
    };
    const id = await this.redis.xadd(this.key, 'MAXLEN', '~', this.maxLength, '*', ...Object.entries(fields).flat());
    // xadd answers null only with NOMKSTREAM, which is not asked for.
    return id!;
  }

  /** Up to `count` entries, newest first; with `before` (an id from a previous page), only older ones. */
  async list(options: { count: number; before?: string }): Promise<ListedAuditEntry[]> {
    if (!Number.isInteger(options.count) || options.count < 1) throw new RangeError('count is a whole number of entries, at least 1');
    const end = options.before === undefined ? '+' : `(${options.before}`;
    const entries = await this.redis.xrevrange(this.key, end, '-', 'COUNT', options.count);
    return entries.map(([id, flat]) => entryOf(id, flat));
  }
}
