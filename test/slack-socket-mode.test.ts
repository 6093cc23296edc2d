import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, type FerryProcess } from './helpers/ferry-process.ts';
import { startSlackStandin, type SlackCall, type SlackStandin } from './helpers/slack-standin.ts';

// `ferry start` with SLACK_APP_TOKEN: no public address, the events come over Socket Mode's
// WebSocket, which the stand-in opens through apps.connections.open as Slack does.

const OPERATOR = 'UOPERATOR';
const CHANNEL = 'CSOCKET';

let slack: SlackStandin;
let ferry: FerryProcess;
let dataDir: string;

const replyIn = (threadTs: string, pattern: RegExp): Promise<SlackCall> =>
  slack.waitFor((call) => call.method === 'chat.postMessage' && call.args.thread_ts === threadTs && pattern.test(String(call.args.text)), 10_000);

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-socket-'));
  slack = await startSlackStandin();
  ferry = await runFerry(['start'], { FERRY_DATA_DIR: dataDir, SLACK_BOT_TOKEN: 'xoxb-socket', SLACK_APP_TOKEN: 'xapp-socket', SLACK_API_URL: slack.url, FERRY_OPERATORS: OPERATOR });
  await slack.socket.connected();
}, 60_000);

afterAll(async () => {
  ferry?.child.kill('SIGTERM');
  await ferry?.exited;
  await slack?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('Slack over Socket Mode', () => {
  it('opens the connection with the app token and serves no /slack/events', async () => {
    expect(slack.callsOf('apps.connections.open').at(-1)?.token).toBe('xapp-socket');
    expect((await fetch(`${ferry.url}/slack/events`, { method: 'POST' })).status).toBe(404);
  });

  it('acknowledges a mention at once and answers in its thread', async () => {
    const ts = '1800000100.000100';
    await slack.socket.send('events_api', slack.eventCallback({ type: 'app_mention', user: OPERATOR, text: `<@${slack.botUserId}> list servers`, ts, channel: CHANNEL, event_ts: ts }));
    const reply = await replyIn(ts, /^List servers:/);
    expect(reply.token).toBe('xoxb-socket');
  });

  it('confirms a state change by a button sent over the socket', async () => {
    const ts = '1800000200.000100';
    await slack.socket.send('events_api', slack.eventCallback({ type: 'app_mention', user: OPERATOR, text: `<@${slack.botUserId}> register server web-05 from nbd://127.0.0.1:9/web-05`, ts, channel: CHANNEL, event_ts: ts }));
    const confirmation = await replyIn(ts, /Shall I go ahead\?$/);
    await slack.socket.send('interactive', slack.blockAction({ userId: OPERATOR, channelId: CHANNEL, messageTs: String(confirmation.response.ts), threadTs: ts, actionId: 'ferry_confirm', value: 'yes', messageText: String(confirmation.args.text) }));
    const registered = await replyIn(ts, /^Register server with name web-05 [^?]*\n/);
    expect(String(registered.args.text)).toMatch(/srv-[a-z0-9]+ · web-05 · offline/);
    expect((await fetch(`${ferry.url}/servers/web-05`)).status).toBe(200);
  });

  it('takes /ferry over the socket', async () => {
    await slack.socket.send('slash_commands', slack.slashCommand({ userId: OPERATOR, channelId: CHANNEL, text: 'list migrations' }));
    const root = await slack.waitFor((call) => call.method === 'chat.postMessage' && call.args.thread_ts === undefined && String(call.args.text).includes('/ferry list migrations'));
    await replyIn(String(root.response.ts), /^List migrations:/);
  });
});
