import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A local stand-in for Slack's Web API (and for the response_url endpoint Slack hands out with interactions),
 * for end-to-end tests of the Bolt app: point the app at it with `clientOptions: { slackApiUrl: standin.url }`.
 *
 * It speaks the wire format @slack/web-api 8 uses: a POST to `<slackApiUrl><method>` whose body is
 * `application/x-www-form-urlencoded` (objects such as `blocks` JSON-encoded into a string field) or JSON, with the
 * token in `Authorization: Bearer …`. Like Slack, every Web API answer is HTTP 200 with a JSON body whose `ok`
 * says whether the call worked.
 */

export interface SlackCall {
  /** The Web API method (`chat.postMessage`, …), or `response_url` for a POST to a response_url. */
  method: string;
  /**
   * The arguments as sent. Form fields stay strings (`'true'`, `'123'`), except the fields whose value is JSON
   * (blocks, attachments, view, metadata, …) which are parsed; a JSON body is taken as it is.
   */
  args: Record<string, unknown>;
  /** Date.now() when the request arrived. */
  at: number;
  /** What the stand-in answered. */
  response: Record<string, unknown>;
  /** The request path, e.g. `/api/chat.postMessage` or `/response/3`. */
  path: string;
  /** The token the request carried (Bearer header, else a `token` form field), if any. */
  token: string | undefined;
}

export interface SlackUserGroup {
  id: string;
  users: string[];
  handle?: string;
  name?: string;
}

export interface SlackStandinOptions {
  /** The bot's user id, answered by auth.test and put in event authorizations. Default 'UFERRYBOT'. */
  botUserId?: string;
  /** Default 'TFERRY'. */
  teamId?: string;
  /** What usergroups.list answers. Default none. */
  userGroups?: SlackUserGroup[];
  /** Methods that answer `{ ok: false, error: 'fatal_error' }` (may also be changed later via `standin.failMethods`). */
  failMethods?: string[];
}

export interface BlockActionOptions {
  userId: string;
  channelId: string;
  messageTs: string;
  threadTs?: string;
  actionId: string;
  value: string;
  teamId?: string;
  /** The text of the message the button sits in. Default ''. */
  messageText?: string;
  /** The blocks of the message the button sits in. Default []. */
  blocks?: unknown[];
}

export interface SlashCommandOptions {
  userId: string;
  channelId: string;
  text: string;
  teamId?: string;
  /** Default '/ferry'. */
  command?: string;
}

export interface SlackStandin {
  /** Base URL for `slackApiUrl`, ends with '/api/'. */
  url: string;
  /** Every request so far, in arrival order (live array). */
  calls: SlackCall[];
  /** The last token seen on a request. */
  readonly token: string | undefined;
  readonly botUserId: string;
  readonly teamId: string;
  readonly apiAppId: string;
  /** Methods currently made to answer fatal_error; mutable. */
  failMethods: Set<string>;
  /** Resolves with the first call (already recorded or arriving later) the predicate accepts; rejects after timeoutMs (default 5000). */
  waitFor(predicate: (call: SlackCall) => boolean, timeoutMs?: number): Promise<SlackCall>;
  callsOf(method: string): SlackCall[];
  /** An Events API envelope (`type: 'event_callback'`) around the event. */
  eventCallback(event: Record<string, unknown>, opts?: { eventId?: string; teamId?: string }): Record<string, unknown>;
  /** The `payload` object of a block_actions interaction (a button click), with a response_url served by this stand-in. */
  blockAction(opts: BlockActionOptions): Record<string, unknown>;
  /** The form fields of a slash command, with a response_url served by this stand-in. */
  slashCommand(opts: SlashCommandOptions): Record<string, string>;
  /**
   * Socket Mode: `apps.connections.open` (with an `xapp-` token) answers a WebSocket URL on this
   * stand-in, which greets with `hello` as Slack does. `send` delivers an envelope to the connected
   * app and resolves with its acknowledgement (the `payload` it sent back, if any).
   */
  socket: {
    connected(timeoutMs?: number): Promise<void>;
    send(type: 'events_api' | 'interactive' | 'slash_commands', payload: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown> | undefined>;
  };
  close(): Promise<void>;
}

/** Fields Slack takes as JSON-encoded strings in a form body. */
const JSON_FIELDS = new Set([
  'blocks',
  'attachments',
  'view',
  'metadata',
  'unfurls',
  'user_auth_blocks',
  'options',
  'option_groups',
  'profile',
  'prefs',
]);

const API_PREFIX = '/api/';
const RESPONSE_PREFIX = '/response/';
const SOCKET_PATH = '/socket';
const VERIFICATION_TOKEN = 'ferry-verification-token';

type Handler = (args: Record<string, unknown>) => Record<string, unknown>;

function missing(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

function truthy(value: unknown): boolean {
  return value === true || value === 'true' || value === '1' || value === 1;
}

function decodeForm(raw: string): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    if (JSON_FIELDS.has(key)) {
      try {
        args[key] = JSON.parse(value);
        continue;
      } catch {
        // Not JSON after all: keep the string, as Slack would hand it to its own parser.
      }
    }
    args[key] = value;
  }
  return args;
}

function decodeBody(raw: string, contentType: string): Record<string, unknown> {
  if (raw.length === 0) return {};
  if (contentType.includes('application/json')) {
    const parsed: unknown = JSON.parse(raw);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  }
  return decodeForm(raw);
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startSlackStandin(options: SlackStandinOptions = {}): Promise<SlackStandin> {
  const botUserId = options.botUserId ?? 'UFERRYBOT';
  const teamId = options.teamId ?? 'TFERRY';
  const botId = 'BFERRY';
  const apiAppId = 'AFERRYAPP';
  const userGroups = options.userGroups ?? [];
  const failMethods = new Set(options.failMethods ?? []);
  const calls: SlackCall[] = [];
  const waiters = new Set<{ predicate: (call: SlackCall) => boolean; resolve: (call: SlackCall) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  const reactions = new Set<string>();
  let lastToken: string | undefined;
  let tsCounter = 0;
  let responseUrlCounter = 0;
  let triggerCounter = 0;
  let eventCounter = 0;
  let viewCounter = 0;
  let baseUrl = '';

  /** "1700000000.000100", "1700000000.000200", … strictly increasing, like Slack message timestamps. */
  const nextTs = (): string => {
    tsCounter += 100;
    const seconds = 1_700_000_000 + Math.floor(tsCounter / 1_000_000);
    return `${seconds}.${String(tsCounter % 1_000_000).padStart(6, '0')}`;
  };
  const nextTriggerId = (): string => `${++triggerCounter}.${Date.now()}.${randomBytes(8).toString('hex')}`;
  const nextResponseUrl = (): string => `${baseUrl}${RESPONSE_PREFIX}${++responseUrlCounter}`;
  const actionTs = (): string => (Date.now() / 1000).toFixed(6);

  const wss = new WebSocketServer({ noServer: true });
  let socketClient: WebSocket | null = null;
  const socketWaiters = new Set<() => void>();
  const acks = new Map<string, (payload: Record<string, unknown> | undefined) => void>();
  let envelopeCounter = 0;
  wss.on('connection', (client) => {
    socketClient = client;
    client.on('message', (data) => {
      const message = JSON.parse(String(data)) as { envelope_id?: string; payload?: Record<string, unknown> };
      if (message.envelope_id) acks.get(message.envelope_id)?.(message.payload);
    });
    client.send(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'standin', approximate_connection_time: 3600 }, connection_info: { app_id: apiAppId } }));
    for (const waiter of socketWaiters) waiter();
    socketWaiters.clear();
  });

  const handlers: Record<string, Handler> = {
    'apps.connections.open': () => (lastToken?.startsWith('xapp-') ? { ok: true, url: `${baseUrl.replace('http', 'ws')}${SOCKET_PATH}` } : { ok: false, error: 'invalid_auth' }),
    'auth.test': () => ({
      ok: true,
      url: 'https://ferry-test.slack.com/',
      team: 'Ferry Test',
      user: 'ferry',
      team_id: teamId,
      user_id: botUserId,
      bot_id: botId,
      is_enterprise_install: false,
    }),
    'chat.postMessage': (args) => {
      if (missing(args.channel)) return { ok: false, error: 'channel_not_found' };
      if (missing(args.text) && missing(args.blocks) && missing(args.attachments)) return { ok: false, error: 'no_text' };
      const ts = nextTs();
      const { token: _token, ...rest } = args;
      return {
        ok: true,
        channel: args.channel,
        ts,
        message: { type: 'message', user: botUserId, bot_id: botId, team: teamId, ...rest, ts },
      };
    },
    'chat.update': (args) => {
      if (missing(args.channel)) return { ok: false, error: 'channel_not_found' };
      if (missing(args.ts)) return { ok: false, error: 'message_not_found' };
      const { channel, ts, token: _token, ...rest } = args;
      return {
        ok: true,
        channel,
        ts,
        text: typeof args.text === 'string' ? args.text : '',
        message: { type: 'message', user: botUserId, bot_id: botId, team: teamId, ...rest },
      };
    },
    'chat.postEphemeral': (args) => {
      if (missing(args.channel)) return { ok: false, error: 'channel_not_found' };
      if (missing(args.user)) return { ok: false, error: 'user_not_in_channel' };
      if (missing(args.text) && missing(args.blocks) && missing(args.attachments)) return { ok: false, error: 'no_text' };
      return { ok: true, message_ts: nextTs() };
    },
    'reactions.add': (args) => {
      if (missing(args.channel) || missing(args.timestamp) || missing(args.name)) return { ok: false, error: 'invalid_arguments' };
      const key = `${String(args.channel)}/${String(args.timestamp)}/${String(args.name)}`;
      if (reactions.has(key)) return { ok: false, error: 'already_reacted' };
      reactions.add(key);
      return { ok: true };
    },
    'views.publish': (args) => {
      if (missing(args.user_id)) return { ok: false, error: 'invalid_arguments' };
      if (args.view === null || typeof args.view !== 'object') return { ok: false, error: 'invalid_arguments' };
      const view = args.view as Record<string, unknown>;
      return {
        ok: true,
        view: {
          id: `VFERRY${String(++viewCounter).padStart(4, '0')}`,
          team_id: teamId,
          app_id: apiAppId,
          bot_id: botId,
          blocks: [],
          ...view,
          hash: randomBytes(6).toString('hex'),
        },
      };
    },
    'usergroups.list': (args) => ({
      ok: true,
      usergroups: userGroups.map((group) => ({
        id: group.id,
        team_id: teamId,
        handle: group.handle ?? group.id.toLowerCase(),
        name: group.name ?? group.id,
        user_count: group.users.length,
        ...(truthy(args.include_users) ? { users: [...group.users] } : {}),
      })),
    }),
    'users.info': (args) => {
      if (missing(args.user)) return { ok: false, error: 'user_not_found' };
      const id = String(args.user);
      const isBot = id === botUserId;
      const name = isBot ? 'ferry' : `user-${id.toLowerCase()}`;
      return {
        ok: true,
        user: { id, team_id: teamId, name, real_name: name, is_bot: isBot, deleted: false, profile: { display_name: name, real_name: name } },
      };
    },
    'conversations.info': (args) => {
      if (missing(args.channel)) return { ok: false, error: 'channel_not_found' };
      const id = String(args.channel);
      const isIm = id.startsWith('D');
      return {
        ok: true,
        channel: {
          id,
          name: isIm ? undefined : `channel-${id.toLowerCase()}`,
          is_channel: id.startsWith('C'),
          is_group: id.startsWith('G'),
          is_im: isIm,
          is_private: id.startsWith('G') || isIm,
          is_archived: false,
          is_member: true,
          context_team_id: teamId,
        },
      };
    },
  };

  const record = (call: SlackCall): void => {
    calls.push(call);
    for (const waiter of [...waiters]) {
      let matched = false;
      try {
        matched = waiter.predicate(call);
      } catch (error) {
        waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.reject(error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      if (matched) {
        waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(call);
      }
    }
  };

  const answer = (res: http.ServerResponse, status: number, body: Record<string, unknown>): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const at = Date.now();
    const requestUrl = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = requestUrl.pathname;
    const raw = (await readBody(req)).toString('utf8');
    let args: Record<string, unknown>;
    try {
      args = { ...decodeForm(requestUrl.search.slice(1)), ...decodeBody(raw, String(req.headers['content-type'] ?? '')) };
    } catch {
      args = {};
      if (path.startsWith(API_PREFIX)) {
        const method = path.slice(API_PREFIX.length);
        const response = { ok: false, error: 'invalid_json' };
        record({ method, args, at, response, path, token: undefined });
        answer(res, 200, response);
        return;
      }
    }

    if (req.method === 'POST' && path.startsWith(RESPONSE_PREFIX)) {
      const id = Number(path.slice(RESPONSE_PREFIX.length));
      const known = Number.isInteger(id) && id >= 1 && id <= responseUrlCounter;
      const response = known ? { ok: true } : { ok: false, error: 'no_service' };
      record({ method: 'response_url', args, at, response, path, token: undefined });
      answer(res, known ? 200 : 404, response);
      return;
    }

    if (!path.startsWith(API_PREFIX)) {
      answer(res, 404, { ok: false, error: 'not_found' });
      return;
    }

    const method = path.slice(API_PREFIX.length);
    const authorization = String(req.headers.authorization ?? '');
    const bearer = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
    const token = bearer ?? (typeof args.token === 'string' && args.token !== '' ? args.token : undefined);
    if (token !== undefined) lastToken = token;

    const handler = handlers[method];
    let response: Record<string, unknown>;
    if (handler === undefined) response = { ok: false, error: 'unknown_method', req_method: method };
    else if (token === undefined) response = { ok: false, error: 'not_authed' };
    else if (failMethods.has(method)) response = { ok: false, error: 'fatal_error' };
    else response = handler(args);

    record({ method, args, at, response, path, token });
    answer(res, 200, response);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) answer(res, 500, { ok: false, error: 'standin_failure', detail: String(error) });
      else res.destroy();
    });
  });
  server.on('upgrade', (req, socket, head) => {
    if ((req.url ?? '').split('?')[0] !== SOCKET_PATH) return socket.destroy();
    wss.handleUpgrade(req, socket, head, (client) => wss.emit('connection', client, req));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: `${baseUrl}${API_PREFIX}`,
    calls,
    get token() {
      return lastToken;
    },
    botUserId,
    teamId,
    apiAppId,
    failMethods,
    waitFor(predicate, timeoutMs = 5000) {
      const existing = calls.find(predicate);
      if (existing !== undefined) return Promise.resolve(existing);
      return new Promise<SlackCall>((resolve, reject) => {
        const waiter = {
          predicate,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            const seen = calls.map((call) => call.method).join(', ') || 'none';
            reject(new Error(`slack stand-in: no matching call within ${timeoutMs} ms (calls so far: ${seen})`));
          }, timeoutMs),
        };
        waiters.add(waiter);
      });
    },
    socket: {
      connected(timeoutMs = 5000) {
        if (socketClient) return Promise.resolve();
        return new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('slack stand-in: no Socket Mode connection')), timeoutMs);
          socketWaiters.add(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      },
      send(type, payload, timeoutMs = 3000) {
        if (!socketClient) return Promise.reject(new Error('slack stand-in: no Socket Mode connection'));
        const envelopeId = `env-${++envelopeCounter}`;
        const acked = new Promise<Record<string, unknown> | undefined>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`slack stand-in: envelope ${envelopeId} was not acknowledged within ${timeoutMs} ms`)), timeoutMs);
          acks.set(envelopeId, (ack) => {
            clearTimeout(timer);
            acks.delete(envelopeId);
            resolve(ack);
          });
        });
        socketClient.send(JSON.stringify({ envelope_id: envelopeId, type, payload, accepts_response_payload: type !== 'events_api', retry_attempt: 0, retry_reason: '' }));
        return acked;
      },
    },
    callsOf(method) {
      return calls.filter((call) => call.method === method);
    },
    eventCallback(event, opts = {}) {
      const team = opts.teamId ?? teamId;
      return {
        token: VERIFICATION_TOKEN,
        team_id: team,
        api_app_id: apiAppId,
        event,
        type: 'event_callback',
        event_id: opts.eventId ?? `Ev${Date.now().toString(36).toUpperCase()}${String(++eventCounter).padStart(4, '0')}`,
        event_time: Math.floor(Date.now() / 1000),
        authorizations: [{ enterprise_id: null, team_id: team, user_id: botUserId, is_bot: true, is_enterprise_install: false }],
        is_ext_shared_channel: false,
      };
    },
    blockAction(opts) {
      const team = opts.teamId ?? teamId;
      const message: Record<string, unknown> = {
        type: 'message',
        user: botUserId,
        bot_id: botId,
        ts: opts.messageTs,
        text: opts.messageText ?? '',
        blocks: opts.blocks ?? [],
      };
      if (opts.threadTs !== undefined) message.thread_ts = opts.threadTs;
      return {
        type: 'block_actions',
        user: { id: opts.userId, username: `user-${opts.userId.toLowerCase()}`, name: `user-${opts.userId.toLowerCase()}`, team_id: team },
        api_app_id: apiAppId,
        token: VERIFICATION_TOKEN,
        container: { type: 'message', message_ts: opts.messageTs, channel_id: opts.channelId, is_ephemeral: false },
        trigger_id: nextTriggerId(),
        team: { id: team, domain: 'ferry-test' },
        enterprise: null,
        is_enterprise_install: false,
        channel: { id: opts.channelId, name: `channel-${opts.channelId.toLowerCase()}` },
        message,
        state: { values: {} },
        response_url: nextResponseUrl(),
        actions: [
          {
            action_id: opts.actionId,
            block_id: 'b',
            value: opts.value,
            type: 'button',
            text: { type: 'plain_text', text: opts.value, emoji: true },
            action_ts: actionTs(),
          },
        ],
      };
    },
    slashCommand(opts) {
      const team = opts.teamId ?? teamId;
      return {
        token: VERIFICATION_TOKEN,
        team_id: team,
        team_domain: 'ferry-test',
        channel_id: opts.channelId,
        channel_name: `channel-${opts.channelId.toLowerCase()}`,
        user_id: opts.userId,
        user_name: `user-${opts.userId.toLowerCase()}`,
        command: opts.command ?? '/ferry',
        text: opts.text,
        api_app_id: apiAppId,
        is_enterprise_install: 'false',
        response_url: nextResponseUrl(),
        trigger_id: nextTriggerId(),
      };
    },
    async close() {
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error('slack stand-in closed'));
      }
      waiters.clear();
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Headers Slack puts on a request to the app: `v0=` + hex HMAC-SHA256(signingSecret, `v0:<ts>:<raw body>`). */
export function signSlackRequest(
  signingSecret: string,
  rawBody: string,
  timestampSeconds: number = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const signature = createHmac('sha256', signingSecret).update(`v0:${timestampSeconds}:${rawBody}`).digest('hex');
  return {
    'x-slack-request-timestamp': String(timestampSeconds),
    'x-slack-signature': `v0=${signature}`,
  };
}

/**
 * POST a signed request to the app as Slack would: `json` for the Events API (application/json), `form` for
 * interactivity (`{ payload: JSON.stringify(payload) }`) and slash commands (application/x-www-form-urlencoded).
 * extraHeaders are applied last, so they can override the signature headers.
 */
export async function postSigned(
  url: string,
  signingSecret: string,
  body: { json?: unknown; form?: Record<string, string> },
  extraHeaders: Record<string, string> = {},
  timestampSeconds?: number,
): Promise<{ status: number; text: string }> {
  let raw: string;
  let contentType: string;
  if (body.json !== undefined && body.form !== undefined) throw new Error('postSigned: give either json or form, not both');
  if (body.json !== undefined) {
    raw = JSON.stringify(body.json);
    contentType = 'application/json';
  } else if (body.form !== undefined) {
    raw = new URLSearchParams(body.form).toString();
    contentType = 'application/x-www-form-urlencoded';
  } else {
    throw new Error('postSigned: give json or form');
  }
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
      ...signSlackRequest(signingSecret, raw, timestampSeconds),
      ...extraHeaders,
    },
    body: raw,
  });
  return { status: response.status, text: await response.text() };
}
