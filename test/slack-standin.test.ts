import http from 'node:http';
import type { AddressInfo } from 'node:net';
// @slack/web-api is not a direct dependency: use the copy Bolt itself runs on, through its re-export.
import { verifySlackRequest, webApi } from '@slack/bolt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postSigned, signSlackRequest, startSlackStandin, type SlackStandin } from './helpers/slack-standin.ts';

const { ErrorCode, WebClient } = webApi;
type WebClient = webApi.WebClient;
type WebAPIPlatformError = webApi.WebAPIPlatformError;

const SECRET = 'shh-its-a-secret';
const noRetries = { retries: 0 };

async function platformError(promise: Promise<unknown>): Promise<WebAPIPlatformError> {
  try {
    await promise;
  } catch (error) {
    expect((error as { code?: string }).code).toBe(ErrorCode.PlatformError);
    return error as WebAPIPlatformError;
  }
  throw new Error('expected the call to fail');
}

describe('slack stand-in', () => {
  let standin: SlackStandin;
  let client: WebClient;

  beforeAll(async () => {
    standin = await startSlackStandin({ userGroups: [{ id: 'SOPS', users: ['U1', 'U2'] }], failMethods: ['users.info'] });
    client = new WebClient('xoxb-test', { slackApiUrl: standin.url, retryConfig: noRetries });
  });
  afterAll(async () => {
    await standin.close();
  });

  it('answers auth.test with the bot identity and records the bearer token', async () => {
    expect(standin.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/$/);
    const auth = await client.auth.test();
    expect(auth).toMatchObject({ ok: true, user_id: 'UFERRYBOT', bot_id: 'BFERRY', team_id: 'TFERRY' });
    expect(standin.token).toBe('xoxb-test');
  });

  it('posts a message with blocks that come back parsed, then updates it and reacts', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*hello*' } }];
    const posted = await client.chat.postMessage({ channel: 'C1', text: 'hello', blocks, unfurl_links: false });
    expect(posted.ok).toBe(true);
    expect(posted.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(posted.message?.blocks).toEqual(blocks);

    const call = await standin.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'C1');
    expect(call.args.blocks).toEqual(blocks);
    expect(call.args.text).toBe('hello');
    expect(call.args.unfurl_links).toBe('false'); // form fields stay as sent
    expect(call.response.ts).toBe(posted.ts);

    const second = await client.chat.postMessage({ channel: 'C1', text: 'again', thread_ts: posted.ts as string });
    expect(Number(second.ts)).toBeGreaterThan(Number(posted.ts));

    const updated = await client.chat.update({ channel: 'C1', ts: posted.ts as string, text: 'edited' });
    expect(updated).toMatchObject({ ok: true, channel: 'C1', ts: posted.ts, text: 'edited' });

    await client.reactions.add({ channel: 'C1', timestamp: posted.ts as string, name: 'eyes' });
    expect(standin.callsOf('reactions.add')[0]?.args).toMatchObject({ channel: 'C1', timestamp: posted.ts, name: 'eyes' });
    expect((await platformError(client.reactions.add({ channel: 'C1', timestamp: posted.ts as string, name: 'eyes' }))).data.error).toBe(
      'already_reacted',
    );

    const ephemeral = await client.chat.postEphemeral({ channel: 'C1', user: 'U1', text: 'psst' });
    expect(ephemeral.message_ts).toMatch(/^\d{10}\.\d{6}$/);
  });

  it('answers views.publish, usergroups.list and conversations.info', async () => {
    const view = await client.views.publish({ user_id: 'U1', view: { type: 'home', blocks: [] } });
    expect(view.view?.type).toBe('home');
    expect(standin.callsOf('views.publish')[0]?.args.view).toEqual({ type: 'home', blocks: [] });

    const groups = await client.usergroups.list({ include_users: true });
    expect(groups.usergroups).toEqual([expect.objectContaining({ id: 'SOPS', users: ['U1', 'U2'] })]);

    const channel = await client.conversations.info({ channel: 'C1' });
    expect(channel.channel?.id).toBe('C1');
  });

  it('fails unknown methods, failMethods and calls without a token as Slack does', async () => {
    expect((await platformError(client.apiCall('no.such.method'))).data.error).toBe('unknown_method');
    expect((await platformError(client.users.info({ user: 'U1' }))).data.error).toBe('fatal_error');

    const anonymous = new WebClient(undefined, { slackApiUrl: standin.url, retryConfig: noRetries });
    expect((await platformError(anonymous.chat.postMessage({ channel: 'C1', text: 'x' }))).data.error).toBe('not_authed');
    expect(standin.calls.at(-1)).toMatchObject({ method: 'chat.postMessage', response: { ok: false, error: 'not_authed' } });

    standin.failMethods.delete('users.info');
    expect((await client.users.info({ user: 'U1' })).user?.id).toBe('U1');
  });

  it('serves response_urls handed out with interactions', async () => {
    const payload = standin.blockAction({ userId: 'U1', channelId: 'C1', messageTs: '1700000000.000100', actionId: 'approve', value: 'job-1' });
    const command = standin.slashCommand({ userId: 'U1', channelId: 'C1', text: 'list images' });
    expect(payload).toMatchObject({ type: 'block_actions', actions: [{ action_id: 'approve', value: 'job-1', block_id: 'b' }] });
    expect(command.response_url).not.toBe(payload.response_url);

    const response = await fetch(payload.response_url as string, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'done', replace_original: true }),
    });
    expect(response.status).toBe(200);
    const call = await standin.waitFor((c) => c.method === 'response_url');
    expect(call.args).toEqual({ text: 'done', replace_original: true });
    expect(standin.eventCallback({ type: 'app_mention' })).toMatchObject({
      type: 'event_callback',
      authorizations: [{ user_id: 'UFERRYBOT', is_bot: true }],
    });
  });

  it('times out waitFor with the calls seen so far', async () => {
    await expect(standin.waitFor((c) => c.method === 'never', 20)).rejects.toThrow(/no matching call/);
  });
});

describe('request signing', () => {
  const verify = (body: string, headers: Record<string, string>): void =>
    verifySlackRequest({
      signingSecret: SECRET,
      body,
      headers: {
        'x-slack-signature': headers['x-slack-signature'] as string,
        'x-slack-request-timestamp': Number(headers['x-slack-request-timestamp']),
      },
    });

  it('produces signatures Bolt accepts, and that fail for a tampered body or another secret', () => {
    const body = JSON.stringify({ type: 'event_callback', event: { type: 'app_mention', text: 'hi' } });
    const headers = signSlackRequest(SECRET, body);
    expect(headers['x-slack-signature']).toMatch(/^v0=[0-9a-f]{64}$/);
    expect(() => verify(body, headers)).not.toThrow();
    expect(() => verify(body.replace('hi', 'ho'), headers)).toThrow(/signature mismatch/);
    expect(() => verify(body, signSlackRequest('other-secret', body))).toThrow(/signature mismatch/);
    expect(() => verify(body, signSlackRequest(SECRET, body, Math.floor(Date.now() / 1000) - 600))).toThrow(/stale/);
  });

  it('postSigned sends JSON and form bodies with matching signatures', async () => {
    const seen: { contentType: string; body: string; headers: http.IncomingHttpHeaders }[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        seen.push({ contentType: String(req.headers['content-type']), body: Buffer.concat(chunks).toString(), headers: req.headers });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
    try {
      const json = await postSigned(url, SECRET, { json: { type: 'url_verification', challenge: 'c' } });
      const form = await postSigned(url, SECRET, { form: { payload: JSON.stringify({ type: 'block_actions', text: 'a b&c' }) } });
      expect(json).toEqual({ status: 200, text: 'ok' });
      expect(form.status).toBe(200);
      expect(seen[0]?.contentType).toBe('application/json');
      expect(seen[1]?.contentType).toBe('application/x-www-form-urlencoded');
      expect(JSON.parse(new URLSearchParams(seen[1]?.body).get('payload') ?? '')).toEqual({ type: 'block_actions', text: 'a b&c' });
      for (const request of seen) {
        expect(() =>
          verify(request.body, {
            'x-slack-signature': String(request.headers['x-slack-signature']),
            'x-slack-request-timestamp': String(request.headers['x-slack-request-timestamp']),
          }),
        ).not.toThrow();
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
