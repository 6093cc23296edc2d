import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvokeError, invoke, type InvokeOptions, type InvokeResult } from '../api-catalog/invoker.ts';
import { loadCatalog } from '../api-catalog/loader.ts';
import type { CatalogOperation, OperationParameter } from '../api-catalog/operation.ts';
import { JobQueues } from '../jobs/queues.ts';
import type { RunningService } from '../service/server.ts';
import { startTestRedis } from './helpers/redis.ts';
import { makeSourceDir, startTestService } from './helpers/service.ts';

let redis: Awaited<ReturnType<typeof startTestRedis>>;
let service: RunningService;
let queues: JobQueues;
let catalog: CatalogOperation[];
let sourceDir: string;

/** What the local stand-in server saw of one request. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let local: Server;
let localUrl: string;
const seen: Seen[] = [];

// Answers by path, so each test can ask for the kind of answer it is about.
const answers: Record<string, (reply: (status: number, type: string | null, body: string, extra?: Record<string, string>) => void) => void> = {
  '/empty': (reply) => reply(204, null, ''),
  '/text': (reply) => reply(200, 'text/plain; charset=utf-8', 'all is well'),
  '/broken': (reply) => reply(500, 'text/plain', 'disk on fire'),
  '/teapot': (reply) => reply(418, 'application/problem+json', JSON.stringify({ type: 'urn:x:teapot', detail: 'short and stout', hint: 'use a kettle' })),
  '/not-json': (reply) => reply(200, 'application/json', '{"half":'),
  '/moved': (reply) => reply(302, 'text/plain', '', { location: '/elsewhere?token=s3cret' }),
  '/hang': () => {},
};

function operation(fields: Partial<CatalogOperation> & Pick<CatalogOperation, 'method' | 'path'>): CatalogOperation {
  return {
    operationId: null,
    summary: null,
    description: null,
    tags: [],
    parameters: [],
    requestBody: null,
    responses: [],
    serverUrl: null,
    source: { file: 'test', title: 'test', version: '1' },
    ...fields,
  };
}

function parameter(name: string, where: OperationParameter['in'], required = false): OperationParameter {
  return { name, in: where, required, description: null, schema: { type: 'string' } };
}

function op(operationId: string): CatalogOperation {
  const found = catalog.find((candidate) => candidate.operationId === operationId);
  if (!found) throw new Error(`no ${operationId} in the catalog`);
  return found;
}

function ferry(extra: Partial<InvokeOptions> = {}): InvokeOptions {
  return { serverUrl: service.url, allow: [service.url], ...extra };
}

function toLocal(extra: Partial<InvokeOptions> = {}): InvokeOptions {
  return { serverUrl: localUrl, allow: [localUrl], ...extra };
}

/** The error invoke threw; fails the test when it answered instead. */
async function failure(call: Promise<InvokeResult>): Promise<InvokeError> {
  const outcome = await call.then(
    (result) => result,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(InvokeError);
  return outcome as InvokeError;
}

// Bodies and problems are checked field by field against what each test expects, as in helpers/service.ts.
function success(result: InvokeResult): { status: number; body: any } {
  if (!result.ok) throw new Error(`expected success, got ${result.status}: ${JSON.stringify(result.problem)}`);
  return result;
}

function problem(result: InvokeResult): { status: number; problem: Record<string, any> } {
  if (result.ok) throw new Error(`expected a problem, got ${result.status}: ${JSON.stringify(result.body)}`);
  return result;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

beforeAll(async () => {
  redis = await startTestRedis();
  sourceDir = await makeSourceDir();
  await writeFile(path.join(sourceDir, 'web.raw'), Buffer.alloc(1024 * 1024, 1));
  service = await startTestService(redis.url, sourceDir);
  queues = new JobQueues(redis.url);
  catalog = await loadCatalog();

  local = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://local');
      seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString() });
      const answer = answers[url.pathname];
      const reply = (status: number, type: string | null, body: string, extra: Record<string, string> = {}): void => {
        response.writeHead(status, { ...(type ? { 'content-type': type } : {}), ...extra }).end(body);
      };
      if (answer) answer(reply);
      else reply(200, 'application/json', JSON.stringify({ echoed: true }));
    });
  });
  local.listen(0, '127.0.0.1');
  await once(local, 'listening');
  localUrl = `http://127.0.0.1:${(local.address() as AddressInfo).port}`;
});

afterAll(async () => {
  local?.closeAllConnections();
  local?.close();
  await queues?.close();
  await service?.close();
  await redis?.stop();
});

describe('invoking Ferry’s own operations', () => {
  let serverId: string;

  it('registerServer posts the body params and answers the created record', async () => {
    const source = path.join(sourceDir, 'web.raw');
    const result = success(await invoke(op('registerServer'), { name: 'web-01', source, tags: ['web'] }, ferry()));
    expect(result.status).toBe(201);
    expect(result.body).toMatchObject({ id: expect.stringMatching(/^srv-/), name: 'web-01', source, tags: ['web'] });
    serverId = result.body.id;
  });

  it('getServer puts the id in the path', async () => {
    const result = success(await invoke(op('getServer'), { serverId }, ferry()));
    expect(result).toMatchObject({ status: 200, body: { id: serverId, name: 'web-01' } });
  });

  it('listServers sends the status as a query parameter', async () => {
    const available = success(await invoke(op('listServers'), { status: 'available' }, ferry()));
    expect(available.body.items.map((server: { id: string }) => server.id)).toEqual([serverId]);
    const offline = success(await invoke(op('listServers'), { status: 'offline' }, ferry()));
    expect(offline.body.items).toEqual([]);
  });

  it('an unknown id answers the service’s 404 problem', async () => {
    const result = problem(await invoke(op('getServer'), { serverId: 'srv-nothere' }, ferry()));
    expect(result.status).toBe(404);
    expect(result.problem).toMatchObject({ type: 'urn:ferry:problem:not-found', title: 'Not found', status: 404, detail: expect.stringContaining('srv-nothere') });
  });

  it('a body that breaks the schema answers a 400 problem naming the field', async () => {
    const result = problem(await invoke(op('registerServer'), { name: 'web 01!', source: '/x' }, ferry()));
    expect(result.status).toBe(400);
    expect(result.problem.title).toBe('Invalid request');
    expect(result.problem.errors.map((error: { field: string }) => error.field)).toContain('name');
  });

  it('a required body the user gave nothing of is still sent, so the service names what is missing', async () => {
    const result = problem(await invoke(op('registerServer'), {}, ferry()));
    expect(result.status).toBe(400);
    expect(result.problem.detail).toMatch(/name|source/);
  });

  it('the conversation reaches the service and travels with the job', async () => {
    const conversation = 'slack:C024BE91L:1700000000.000100';
    const result = success(await invoke(op('startMigration'), { serverId: 'web-01' }, ferry({ conversation })));
    expect(result.status).toBe(202);
    const job = await queues.queue('migrate').getJob(result.body.jobId);
    expect(job?.data).toMatchObject({ recordId: result.body.id, conversation });
    success(await invoke(op('cancelMigration'), { migrationId: result.body.id }, ferry()));
  });

  it('a 204 answer has a null body', async () => {
    const source = path.join(sourceDir, 'web.raw');
    const spare = success(await invoke(op('registerServer'), { name: 'spare-01', source }, ferry()));
    expect(await invoke(op('deregisterServer'), { serverId: spare.body.id }, ferry())).toEqual({ ok: true, status: 204, body: null });
  });

  it('the serverUrl option wins over the spec’s server, which the allow-list then does not cover', async () => {
    expect(op('getServer').serverUrl).toBe('http://127.0.0.1:8080');
    const error = await failure(invoke(op('getServer'), { serverId }, { allow: [service.url] }));
    expect(error.code).toBe('refused-url');
    expect(error.message).toContain('http://127.0.0.1:8080/servers/');
  });
});

describe('building the request', () => {
  const search = operation({
    operationId: 'searchThings',
    method: 'get',
    path: '/things/{owner}/items',
    parameters: [parameter('owner', 'path', true), parameter('tag', 'query'), parameter('limit', 'query'), parameter('X-Trace', 'header')],
  });

  it('encodes path params, repeats query arrays and sends header params', async () => {
    seen.length = 0;
    success(await invoke(search, { owner: 'a b/c?', tag: ['red', 'blue green'], limit: 3, 'X-Trace': 't-1' }, toLocal()));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe('GET');
    expect(seen[0]!.url).toBe('/things/a%20b%2Fc%3F/items?tag=red&tag=blue+green&limit=3');
    expect(seen[0]!.headers['x-trace']).toBe('t-1');
    expect(seen[0]!.body).toBe('');
  });

  it('goes under the server URL’s own path', async () => {
    seen.length = 0;
    success(await invoke(search, { owner: 'me' }, toLocal({ serverUrl: `${localUrl}/api/v2/` })));
    expect(seen[0]!.url).toBe('/api/v2/things/me/items');
  });

  it('sends only the body params given, as JSON, with the conversation and the configured headers', async () => {
    const create = operation({
      method: 'post',
      path: '/things',
      parameters: [parameter('name', 'body', true), parameter('size', 'body'), parameter('labels', 'body')],
      requestBody: { required: true, contentType: 'application/json', schema: { type: 'object' } },
    });
    seen.length = 0;
    success(await invoke(create, { name: 'box', labels: ['a'] }, toLocal({ conversation: 'voice:CA1234', headers: { authorization: 'Bearer s3cret' } })));
    expect(seen[0]!.method).toBe('POST');
    expect(JSON.parse(seen[0]!.body)).toEqual({ name: 'box', labels: ['a'] });
    expect(seen[0]!.headers).toMatchObject({ 'content-type': 'application/json', 'x-ferry-conversation': 'voice:CA1234', authorization: 'Bearer s3cret' });
  });

  it('a missing path param is an error naming it, and nothing is sent', async () => {
    seen.length = 0;
    const error = await failure(invoke(search, { tag: 'red' }, toLocal()));
    expect(error.code).toBe('missing-parameter');
    expect(error.message).toContain('searchThings needs owner');
    expect(seen).toHaveLength(0);
  });

  it('a dot segment as a path param is refused, since it would call another path', async () => {
    const error = await failure(invoke(search, { owner: '..' }, toLocal()));
    expect(error.code).toBe('invalid-parameter');
    expect(seen).toHaveLength(0);
  });

  it('a param the operation does not take is refused rather than dropped', async () => {
    const error = await failure(invoke(search, { owner: 'me', colour: 'red' }, toLocal()));
    expect(error).toMatchObject({ code: 'invalid-parameter', message: expect.stringContaining('no parameter colour') });
  });

  it('a header value HTTP forbids is refused without quoting it', async () => {
    const error = await failure(invoke(search, { owner: 'me' }, toLocal({ headers: { authorization: 'Bearer s3cret\nx' } })));
    expect(error.code).toBe('invalid-parameter');
    expect(error.message).toContain('authorization');
    expect(error.message).not.toContain('s3cret');
  });
});

describe('reading the answer', () => {
  const get = (at: string): CatalogOperation => operation({ method: 'get', path: at });

  it('a 204 is null, a text answer is its text', async () => {
    expect(await invoke(get('/empty'), {}, toLocal())).toEqual({ ok: true, status: 204, body: null });
    expect(await invoke(get('/text'), {}, toLocal())).toEqual({ ok: true, status: 200, body: 'all is well' });
  });

  it('an error without a problem document becomes one from the status text and the body', async () => {
    expect(await invoke(get('/broken'), {}, toLocal())).toEqual({ ok: false, status: 500, problem: { title: 'Internal Server Error', status: 500, detail: 'disk on fire' } });
  });

  it('a problem document keeps its members and gets a title when it has none', async () => {
    expect(await invoke(get('/teapot'), {}, toLocal())).toEqual({
      ok: false,
      status: 418,
      problem: { type: 'urn:x:teapot', title: "I'm a Teapot", detail: 'short and stout', hint: 'use a kettle' },
    });
  });

  it('JSON that does not parse is the server’s fault, said so', async () => {
    const error = await failure(invoke(get('/not-json'), {}, toLocal()));
    expect(error).toMatchObject({ code: 'bad-response', message: expect.stringContaining('not valid JSON') });
  });

  it('a redirect is not followed, and its query is not echoed', async () => {
    const error = await failure(invoke(get('/moved'), {}, toLocal()));
    expect(error.code).toBe('redirect');
    expect(error.message).toContain(`${localUrl}/elsewhere`);
    expect(error.message).not.toContain('s3cret');
    expect(seen.some((request) => request.url.startsWith('/elsewhere'))).toBe(false);
  });
});

describe('where calls may go, and when they fail', () => {
  const get = operation({ operationId: 'getMeta', method: 'get', path: '/latest/meta-data', serverUrl: 'http://169.254.169.254' });

  it('a URL outside the allow-list is refused before any request, with what is allowed', async () => {
    const error = await failure(invoke(get, {}, { allow: [localUrl, 'api.example.com'] }));
    expect(error.code).toBe('refused-url');
    expect(error.message).toContain('http://169.254.169.254/latest/meta-data');
    expect(error.message).toContain(`${localUrl}, api.example.com`);
    expect(error.message).toContain('allow-list');
  });

  it('an empty allow-list allows nothing', async () => {
    const error = await failure(invoke(get, {}, toLocal({ allow: [] })));
    expect(error.message).toContain('(nothing)');
  });

  it('URL prefixes match whole path segments; host entries match a host on any port or one port', async () => {
    const thing = operation({ method: 'get', path: '/v2/x' });
    success(await invoke(thing, {}, toLocal({ allow: [`${localUrl}/v2`] })));
    expect((await failure(invoke(operation({ method: 'get', path: '/v20/x' }), {}, toLocal({ allow: [`${localUrl}/v2`] })))).code).toBe('refused-url');
    success(await invoke(thing, {}, toLocal({ allow: ['127.0.0.1'] })));
    success(await invoke(thing, {}, toLocal({ allow: [new URL(localUrl).host] })));
    expect((await failure(invoke(thing, {}, toLocal({ allow: ['127.0.0.1:1'] })))).code).toBe('refused-url');
    expect((await failure(invoke(thing, {}, toLocal({ allow: ['http://127.0.0.1'] })))).code).toBe('refused-url');
  });

  it('an operation with no usable server URL says to give one', async () => {
    const relative = operation({ method: 'get', path: '/x', serverUrl: '/v1' });
    expect(await failure(invoke(relative, {}, { allow: [localUrl] }))).toMatchObject({ code: 'no-server', message: expect.stringContaining('"/v1"') });
    expect(await failure(invoke(operation({ method: 'get', path: '/x' }), {}, { allow: [localUrl] }))).toMatchObject({ code: 'no-server' });
  });

  it('a server nobody listens on is unreachable, said plainly', async () => {
    const port = await freePort();
    const error = await failure(invoke(operation({ operationId: 'getX', method: 'get', path: '/x' }), {}, { serverUrl: `http://127.0.0.1:${port}`, allow: ['127.0.0.1'] }));
    expect(error.code).toBe('unreachable');
    expect(error.message).toContain(`getX: cannot reach http://127.0.0.1:${port}/x: connection refused`);
    expect(error.message).toContain('check that the server is running');
  });

  it('a server that never answers times out, without echoing the headers', async () => {
    const started = Date.now();
    const error = await failure(invoke(operation({ operationId: 'wait', method: 'get', path: '/hang' }), {}, toLocal({ timeoutMs: 300, headers: { authorization: 'Bearer s3cret' } })));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error.code).toBe('timeout');
    expect(error.message).toBe(`wait: ${localUrl}/hang did not answer within 300 ms; check that the server is healthy, or allow a longer timeout`);
  });
});
