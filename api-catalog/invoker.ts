// Calls one catalog operation over HTTP with the parameters a conversation gathered. Every command
// of the bot and the console goes through here, so this is where the allow-list is enforced: a
// spec dropped into the catalog names its own server, and nothing outside what the operator allowed
// may be called because of it.

import { STATUS_CODES } from 'node:http';
import { isJsonObject } from './json.ts';
import type { CatalogOperation } from './operation.ts';

export interface InvokeOptions {
  /**
   * Where calls may go. An entry with a scheme is a URL prefix (`https://api.example.com/v2`
   * allows that origin and paths under /v2); an entry without one is a host (`api.example.com`
   * allows it on any port, `127.0.0.1:8080` only on that port). Anything else is refused.
   */
  allow: readonly string[];
  /** Wins over the operation's own server URL, as FERRY_API_URL does for Ferry's own specs. */
  serverUrl?: string;
  /** The thread the command came from; the service hands it to the job so progress finds its way back. */
  conversation?: string;
  /** For the whole exchange, answer body included. */
  timeoutMs?: number;
  /** Sent as given and never logged or echoed: they may hold credentials. They win over header parameters. */
  headers?: Readonly<Record<string, string>>;
}

/** An RFC 9457 problem; any extension members the server sent (such as Ferry's `errors`) are kept. */
export interface Problem {
  title: string;
  detail?: string;
  [member: string]: unknown;
}

export type InvokeResult = { ok: true; status: number; body: unknown } | { ok: false; status: number; problem: Problem };

export type InvokeErrorCode =
  | 'missing-parameter'
  | 'invalid-parameter'
  | 'no-server'
  | 'refused-url'
  | 'unsupported-body'
  | 'redirect'
  | 'unreachable'
  | 'timeout'
  | 'bad-response';

/** The call could not be made or understood; the message says what was wrong and what to do. */
export class InvokeError extends Error {
  constructor(
    readonly code: InvokeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InvokeError';
  }
}

export const DEFAULT_TIMEOUT_MS = 15_000;

// A problem made from a non-problem answer quotes the body; an HTML error page need not be quoted whole.
const DETAIL_LIMIT = 1000;

type Scalar = string | number | boolean;

const TEMPLATE = /\{([^}]+)\}/g;

export async function invoke(operation: CatalogOperation, params: Readonly<Record<string, unknown>>, options: InvokeOptions): Promise<InvokeResult> {
  const label = labelOf(operation);
  const request = buildRequest(operation, params, options);
  const where = shown(request.url);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    const response = await fetch(request.url, {
      method: operation.method.toUpperCase(),
      headers: request.headers,
      body: request.body,
      // A redirect could lead outside the allow-list, so it is reported rather than followed.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    return await readResponse(response, label, where);
  } catch (error) {
    if (error instanceof InvokeError) throw error;
    if (error instanceof Error && error.name === 'TimeoutError') {
      throw new InvokeError('timeout', `${label}: ${where} did not answer within ${timeoutMs} ms; check that the server is healthy, or allow a longer timeout`, { cause: error });
    }
    throw new InvokeError('unreachable', `${label}: cannot reach ${where}: ${networkReason(error)}; check that the server is running and that its URL is right`, { cause: error });
  }
}

interface PreparedRequest {
  url: URL;
  headers: Headers;
  body: string | undefined;
}

/** Everything that can be wrong before a request is found here, so a bad call never reaches the network. */
function buildRequest(operation: CatalogOperation, params: Readonly<Record<string, unknown>>, options: InvokeOptions): PreparedRequest {
  const label = labelOf(operation);
  // A name the operation does not know would otherwise be dropped without a word.
  const declared = new Set([...operation.parameters.map((parameter) => parameter.name), ...templateNames(operation.path)]);
  const undeclared = Object.keys(params).filter((name) => !declared.has(name));
  if (undeclared.length > 0) {
    throw new InvokeError('invalid-parameter', `${label} has no parameter ${undeclared.join(', ')}; it takes ${[...declared].join(', ') || 'none'}`);
  }
  const given = (name: string): unknown => (params[name] === null ? undefined : params[name]);

  // The template, not the parameter list, is what must be filled: a spec may forget to declare one.
  const path = operation.path.replace(TEMPLATE, (_, name: string) => {
    const value = given(name);
    if (value === undefined || value === '') throw new InvokeError('missing-parameter', `${label} needs ${name}; ask for it before calling`);
    const segment = scalars(value, name, label).map(String);
    // URL parsers resolve dot segments even percent-encoded, which would call a different path.
    if (segment.length === 1 && (segment[0] === '.' || segment[0] === '..')) {
      throw new InvokeError('invalid-parameter', `${label}: ${name} cannot be ${JSON.stringify(segment[0])}`);
    }
    return segment.map(encodeURIComponent).join(',');
  });

  const url = resolve(serverOf(operation, options, label), path);
  const headers = new Headers();
  const cookies: string[] = [];
  let body: Record<string, unknown> | undefined;
  for (const parameter of operation.parameters) {
    const value = given(parameter.name);
    if (value === undefined) continue;
    const name = parameter.name;
    if (parameter.in === 'query') {
      for (const item of scalars(value, name, label)) url.searchParams.append(name, String(item));
    } else if (parameter.in === 'header') {
      setHeader(headers, name, scalars(value, name, label).join(', '), label);
    } else if (parameter.in === 'cookie') {
      cookies.push(`${name}=${encodeURIComponent(scalars(value, name, label).join(','))}`);
    } else if (parameter.in === 'body') {
      (body ??= {})[name] = value;
    }
  }

  if (cookies.length > 0) setHeader(headers, 'cookie', cookies.join('; '), label);
  for (const [name, value] of Object.entries(options.headers ?? {})) setHeader(headers, name, value, label);
  if (options.conversation !== undefined) setHeader(headers, 'x-ferry-conversation', options.conversation, label);
  if (!headers.has('accept')) headers.set('accept', 'application/json, application/problem+json;q=0.9, */*;q=0.5');

  let payload: string | undefined;
  if (operation.requestBody) {
    if (!isJson(operation.requestBody.contentType)) {
      throw new InvokeError('unsupported-body', `${label} takes a ${operation.requestBody.contentType} body; the invoker sends JSON bodies only`);
    }
    // Only what was given: the server applies its own defaults and names a missing required field.
    payload = JSON.stringify(body ?? {});
    headers.set('content-type', operation.requestBody.contentType);
  }

  if (!isAllowed(url, options.allow)) {
    const allowed = options.allow.length > 0 ? options.allow.join(', ') : 'nothing';
    throw new InvokeError('refused-url', `${label}: refused to call ${shown(url)}, which is outside the allowed hosts and URL prefixes (${allowed}); add it to the allow-list if it should be called`);
  }
  return { url, headers, body: payload };
}

function templateNames(path: string): string[] {
  return [...path.matchAll(TEMPLATE)].map((match) => match[1]!);
}

function labelOf(operation: CatalogOperation): string {
  return operation.operationId ?? `${operation.method.toUpperCase()} ${operation.path}`;
}

function serverOf(operation: CatalogOperation, options: InvokeOptions, label: string): URL {
  const server = options.serverUrl ?? operation.serverUrl;
  if (server === null) throw new InvokeError('no-server', `${label}: its spec names no server; give a server URL for it`);
  // Relative server URLs and unfilled {variables} land here too: both need an explicit server URL.
  const url = URL.canParse(server) ? new URL(server) : null;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new InvokeError('no-server', `${label}: server URL ${JSON.stringify(server)} is not an absolute http(s) URL; give one that is`);
  }
  return url;
}

/** The operation's path goes under the server URL's path (OpenAPI's rule), not in place of it. */
function resolve(server: URL, path: string): URL {
  const url = new URL(server.origin);
  url.pathname = server.pathname.replace(/\/+$/, '') + path;
  return url;
}

function scalars(value: unknown, name: string, label: string): Scalar[] {
  const items = Array.isArray(value) ? value : [value];
  if (items.every((item): item is Scalar => ['string', 'number', 'boolean'].includes(typeof item))) return items;
  throw new InvokeError('invalid-parameter', `${label}: ${name} must be a string, number or boolean, or a list of them`);
}

function setHeader(headers: Headers, name: string, value: string, label: string): void {
  try {
    headers.set(name, value);
  } catch {
    // undici's own message quotes the value, which may be a credential, so it is not passed on as the cause.
    throw new InvokeError('invalid-parameter', `${label}: header ${name} has a name or value HTTP does not allow (the value is not shown)`);
  }
}

function isAllowed(url: URL, allow: readonly string[]): boolean {
  return allow.some((entry) => {
    if (!entry.includes('://')) return [url.host, url.hostname].includes(entry.toLowerCase());
    if (!URL.canParse(entry)) return false;
    const prefix = new URL(entry);
    if (prefix.origin !== url.origin) return false;
    const base = prefix.pathname.replace(/\/+$/, '');
    // By whole segments, so /v2 does not allow /v20.
    return base === '' || url.pathname === base || url.pathname.startsWith(`${base}/`);
  });
}

/** A URL as it may appear in messages and logs: the query (which may carry an API key) and any credentials are left out. */
function shown(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function isJson(contentType: string): boolean {
  const media = contentType.split(';')[0]!.trim().toLowerCase();
  return media === 'application/json' || media.endsWith('+json');
}

async function readResponse(response: Response, label: string, where: string): Promise<InvokeResult> {
  const status = response.status;
  if (status >= 300 && status < 400) {
    const location = response.headers.get('location');
    const target = location && URL.canParse(location, where) ? shown(new URL(location, where)) : 'an unnamed address';
    await response.body?.cancel();
    throw new InvokeError('redirect', `${label}: ${where} redirects (${status}) to ${target}; redirects are not followed, so give the final server URL`);
  }
  const text = await response.text();
  const contentType = response.headers.get('content-type') ?? '';
  if (response.ok) {
    if (text === '') return { ok: true, status, body: null };
    if (!isJson(contentType)) return { ok: true, status, body: text };
    try {
      return { ok: true, status, body: JSON.parse(text) as unknown };
    } catch (error) {
      throw new InvokeError('bad-response', `${label}: ${where} answered ${status} with ${contentType} that is not valid JSON; the server is at fault`, { cause: error });
    }
  }
  return { ok: false, status, problem: problemOf(status, response.statusText, contentType, text) };
}

function problemOf(status: number, statusText: string, contentType: string, text: string): Problem {
  const title = statusText || STATUS_CODES[status] || `HTTP ${status}`;
  if (isJson(contentType) && contentType.toLowerCase().includes('problem+json')) {
    const parsed = parseObject(text);
    if (parsed) {
      const { title: given, detail, ...members } = parsed;
      return { ...members, title: typeof given === 'string' && given !== '' ? given : title, ...(typeof detail === 'string' ? { detail } : {}) };
    }
  }
  const detail = text.trim();
  return { title, status, ...(detail ? { detail: detail.length > DETAIL_LIMIT ? `${detail.slice(0, DETAIL_LIMIT)}…` : detail } : {}) };
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return isJsonObject(value) ? value : null;
  } catch {
    return null;
  }
}

/** What undici's "fetch failed" hides in its cause, said plainly for the common cases. */
function networkReason(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  const code = codeOf(cause) ?? codeOf(cause instanceof AggregateError ? cause.errors[0] : undefined);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens there)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'the connection was closed before an answer';
    default:
      return code ?? (cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error));
  }
}

function codeOf(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null && 'code' in value && typeof value.code === 'string' ? value.code : undefined;
}
