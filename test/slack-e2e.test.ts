import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, type FerryProcess } from './helpers/ferry-process.ts';
import { serveSourceDisk, type Peer } from './helpers/nbd-peers.ts';
import { postSigned, signSlackRequest, startSlackStandin, type SlackCall, type SlackStandin } from './helpers/slack-standin.ts';

// `ferry start` as it runs for a workspace: Slack's requests are signed and sent to /slack/events
// on the service's port, and everything the bot says goes to a local stand-in for Slack's Web API.

const BIN = path.join(import.meta.dirname, '../bin/ferry.mjs');
const SECRET = 'test-signing-secret-0123456789abcdef';
const OPERATOR = 'UOPERATOR';
const READER = 'UREADER';
const CHANNEL = 'COPS';
const MiB = 1024 * 1024;

let slack: SlackStandin;
let ferry: FerryProcess;
let dataDir: string;
let peer: Peer;
let source: string;
let stamp = 1_800_000_000;

/** A fresh message ts, as Slack would give the user's message. */
const nextTs = (): string => `${++stamp}.000100`;

async function send(event: Record<string, unknown>, options: { eventId?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  const answer = await postSigned(`${ferry.url}/slack/events`, SECRET, { json: slack.eventCallback(event, options.eventId ? { eventId: options.eventId } : {}) }, options.headers);
  return { status: answer.status, ms: Date.now() - started };
}

/** A mention of the bot in the channel, as a new thread; answers the message's ts. */
async function mention(user: string, text: string, threadTs?: string): Promise<string> {
  const ts = nextTs();
  const { status, ms } = await send({ type: 'app_mention', user, text: `<@${slack.botUserId}> ${text}`, ts, channel: CHANNEL, event_ts: ts, ...(threadTs ? { thread_ts: threadTs } : {}) });
  expect(status).toBe(200);
  expect(ms).toBeLessThan(3000);
  return ts;
}

async function click(user: string, message: SlackCall, actionId: string, value: string): Promise<void> {
  const payload = slack.blockAction({
    userId: user,
    channelId: CHANNEL,
    messageTs: String(message.response.ts),
    threadTs: String(message.args.thread_ts),
    actionId,
    value,
    messageText: String(message.args.text),
  });
  const answer = await postSigned(`${ferry.url}/slack/events`, SECRET, { form: { payload: JSON.stringify(payload) } });
  expect(answer.status).toBe(200);
}

/** The first reply in the thread whose text matches. */
const replyMatching = (threadTs: string, pattern: RegExp, timeoutMs = 10_000): Promise<SlackCall> =>
  slack.waitFor((call) => call.method === 'chat.postMessage' && call.args.thread_ts === threadTs && pattern.test(String(call.args.text)), timeoutMs);
const repliesIn = (threadTs: string): SlackCall[] => slack.callsOf('chat.postMessage').filter((call) => call.args.thread_ts === threadTs);
const replyIn = (threadTs: string, after = 0, timeoutMs = 10_000): Promise<SlackCall> =>
  slack.waitFor((call) => call.method === 'chat.postMessage' && call.args.thread_ts === threadTs && repliesIn(threadTs).indexOf(call) >= after, timeoutMs);

type Block = { type: string; elements?: { action_id?: string; value?: string; text?: { text: string } | string }[] };
const blocksOf = (call: SlackCall): Block[] => (call.args.blocks as Block[] | undefined) ?? [];
const buttonsOf = (call: SlackCall): { action_id?: string; value?: string; text?: unknown }[] => blocksOf(call).flatMap((block) => (block.type === 'actions' ? (block.elements ?? []) : []));
const actionIds = (call: SlackCall): string[] => buttonsOf(call).map((button) => button.action_id ?? '');

async function api(method: string, route: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${ferry.url}${route}`, { method, ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-slack-'));
  slack = await startSlackStandin({ userGroups: [{ id: 'SOPS', users: ['UGROUPED'] }] });
  const served = await serveSourceDisk(dataDir, 'web-01', 16 * MiB, 8 * MiB);
  peer = served.peer;
  source = served.url;
  ferry = await runFerry(['start'], {
    FERRY_DATA_DIR: dataDir,
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_API_URL: slack.url,
    FERRY_OPERATORS: OPERATOR,
  });
  expect((await api('POST', '/servers', { name: 'web-01', source })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  ferry?.child.kill('SIGTERM');
  await ferry?.exited;
  await peer?.stop();
  await slack?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('Slack', () => {
  it('answers a mention in its thread, within three seconds, with the bot token', async () => {
    const ts = await mention(READER, 'list servers');
    const reply = await replyIn(ts);
    expect(reply.args.channel).toBe(CHANNEL);
    expect(String(reply.args.text)).toMatch(/^List servers/);
    expect(reply.token).toBe('xoxb-test-token');
  });

  it('shows Confirm and Cancel for a state change, and changes nothing until Confirm is pressed', async () => {
    const ts = await mention(OPERATOR, `register server web-02 from ${source}`);
    const confirmation = await replyIn(ts);
    expect(String(confirmation.args.text)).toBe(`Register server with name web-02 and source ${source}. Shall I go ahead?`);
    expect(actionIds(confirmation)).toEqual(['ferry_confirm', 'ferry_cancel']);
    // The operation and parameters as understood are shown under the question.
    expect(JSON.stringify(confirmation.args.blocks)).toContain('registerServer');
    await sleep(500);
    expect((await api('GET', '/servers/web-02')).status).toBe(404);

    await click(OPERATOR, confirmation, 'ferry_confirm', 'yes');
    const done = await replyIn(ts, 1);
    expect(String(done.args.text)).toMatch(/^Register server with name web-02/);
    expect((await api('GET', '/servers/web-02')).status).toBe(200);
    // The pressed message loses its buttons and says who confirmed.
    const taken = await slack.waitFor((call) => call.method === 'chat.update' && call.args.ts === confirmation.response.ts);
    expect(actionIds(taken)).toEqual([]);
    expect(JSON.stringify(taken.args.blocks)).toContain(`Confirmed by <@${OPERATOR}>`);
    // A second press runs nothing.
    await click(OPERATOR, confirmation, 'ferry_confirm', 'yes');
    expect(String((await replyIn(ts, 2)).args.text)).toBe('There is nothing waiting for a yes or no.');
  });

  it('refuses a user without permission, politely, and offers no buttons', async () => {
    const ts = await mention(READER, `register server db-09 from ${source}`);
    const reply = await replyIn(ts);
    expect(String(reply.args.text)).toMatch(/^Sorry, you may not run "register server": it is a command that changes things, and you may run read-only commands\./);
    expect(actionIds(reply)).toEqual([]);
    expect((await api('GET', '/servers/db-09')).status).toBe(404);
  });

  it('migrates a small disk with one progress message, edited at most once a second, to a completed state', async () => {
    const ts = await mention(OPERATOR, 'migrate web-01 at 24 mbps');
    const confirmation = await replyIn(ts);
    expect(actionIds(confirmation)).toEqual(['ferry_confirm', 'ferry_cancel']);
    await click(OPERATOR, confirmation, 'ferry_confirm', 'yes');
    const started = await replyMatching(ts, /^Start migration of server web-01 with bandwidth mbps 24\. Started\./);
    const migrationId = /\b(mig-[a-z0-9]+)\b/.exec(String(started.args.text))?.[1];
    expect(migrationId).toBeDefined();

    const reaction = await slack.waitFor((call) => call.method === 'reactions.add' && call.args.timestamp === ts, 60_000);
    expect(reaction.args.name).toBe('white_check_mark');
    const progress = repliesIn(ts).find((call) => String(call.args.text).startsWith(migrationId!))!;
    expect(progress).toBeDefined();
    const edits = slack.callsOf('chat.update').filter((call) => call.args.ts === progress.response.ts);
    expect(edits.length).toBeGreaterThanOrEqual(2);
    const times = [progress.at, ...edits.map((call) => call.at)];
    const gaps = times.slice(1).map((at, i) => at - times[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(950);
    // Along the way: a bar, a percentage, bytes, a rate and the buttons to pause and cancel.
    expect(edits.some((call) => /\[█*░*\] \d+% · [\d.]+ [KMG]?i?B of 16\.0 MiB · [\d.]+ [KMG]?i?B\/s/.test(String(call.args.text)))).toBe(true);
    expect(edits.some((call) => actionIds(call).some((id) => id.startsWith('ferry_control_pause')))).toBe(true);
    const last = edits.at(-1)!;
    expect(String(last.args.text)).toMatch(new RegExp(`^${migrationId} completed in \\d+s, 16\\.0 MiB \\([\\d.]+ [KMG]?i?B/s on average\\)\\.`));
    expect(actionIds(last)).toEqual([]);
    expect((await api('GET', `/migrations/${migrationId}`)).body.status).toBe('completed');
  }, 90_000);

  it('pauses and cancels from the buttons of the progress message, confirmed and authorised like any command', async () => {
    const ts = await mention(OPERATOR, 'migrate web-01 at 4 mbps');
    await click(OPERATOR, await replyIn(ts), 'ferry_confirm', 'yes');
    const started = await replyMatching(ts, /^Start migration of server web-01 with bandwidth mbps 4\. Started\./);
    const migrationId = /\b(mig-[a-z0-9]+)\b/.exec(String(started.args.text))![1]!;
    const controlled = (label: string) => (call: SlackCall) =>
      (call.method === 'chat.update' || call.method === 'chat.postMessage') && String(call.args.text).startsWith(`${migrationId} · `) && actionIds(call).includes(`ferry_control_${label}`);
    const running = await slack.waitFor(controlled('pause'), 20_000);
    const pause = buttonsOf(running).find((button) => button.action_id === 'ferry_control_pause')!;
    const message = { ...running, response: { ...running.response, ts: running.args.ts ?? running.response.ts }, args: { ...running.args, thread_ts: ts } };

    // Someone who may only read is refused, and nothing is left waiting for them.
    await click(READER, message, 'ferry_control_pause', pause.value!);
    await replyMatching(ts, /^Sorry, you may not run "pause migration"/);

    await click(OPERATOR, message, 'ferry_control_pause', pause.value!);
    const confirmPause = await replyMatching(ts, new RegExp(`^Pause migration ${migrationId}\\. Shall I go ahead\\?$`));
    await click(OPERATOR, confirmPause, 'ferry_confirm', 'yes');
    await replyMatching(ts, new RegExp(`^Pause migration ${migrationId}\\.\\n`));
    const paused = await slack.waitFor(controlled('resume'), 20_000);

    const cancel = buttonsOf(paused).find((button) => button.action_id === 'ferry_control_cancel')!;
    await click(OPERATOR, message, 'ferry_control_cancel', cancel.value!);
    const confirmCancel = await replyMatching(ts, new RegExp(`^Cancel migration ${migrationId}\\. Shall I go ahead\\?$`));
    await click(OPERATOR, confirmCancel, 'ferry_confirm', 'yes');
    const reaction = await slack.waitFor((call) => call.method === 'reactions.add' && call.args.timestamp === ts, 30_000);
    expect(reaction.args.name).toBe('heavy_minus_sign');
    const last = slack.callsOf('chat.update').filter((call) => call.args.ts === message.response.ts).at(-1)!;
    expect(String(last.args.text)).toBe(`${migrationId} was cancelled.`);
  }, 90_000);

  it('writes each command run through the bot to the audit log, which ferry audit lists', async () => {
    const ts = await mention(READER, 'list migration plans');
    await replyIn(ts);
    // Without REDIS_URL, `ferry audit` finds the private Redis of the `ferry start` with the same data directory.
    const env: NodeJS.ProcessEnv = { ...process.env, FERRY_DATA_DIR: dataDir };
    delete env.REDIS_URL;
    const listed = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [BIN, 'audit', '--json', '--count', '100'], { env }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    const entries = listed.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.find((entry) => entry.where === `${CHANNEL}/${ts}`)).toMatchObject({
      surface: 'slack',
      who: READER,
      utterance: 'list migration plans',
      operationId: 'listMigrationPlans',
      params: {},
      result: { ok: true, status: 200 },
    });
  });

  it('acknowledges a retried event without answering it twice', async () => {
    const ts = nextTs();
    const event = { type: 'app_mention', user: READER, text: `<@${slack.botUserId}> list migrations`, ts, channel: CHANNEL, event_ts: ts };
    expect((await send(event, { eventId: 'Ev0RETRIED' })).status).toBe(200);
    await replyIn(ts);
    expect((await send(event, { eventId: 'Ev0RETRIED', headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } })).status).toBe(200);
    await sleep(1500);
    expect(repliesIn(ts)).toHaveLength(1);
  });

  it('answers 401 and nothing else to a forged or stale signature', async () => {
    const forgedTs = nextTs();
    const body = JSON.stringify(slack.eventCallback({ type: 'app_mention', user: OPERATOR, text: `<@${slack.botUserId}> list servers`, ts: forgedTs, channel: CHANNEL, event_ts: forgedTs }));
    const forged = await fetch(`${ferry.url}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...signSlackRequest('not-the-secret', body) }, body });
    expect(forged.status).toBe(401);
    const staleTs = nextTs();
    const stale = await postSigned(
      `${ferry.url}/slack/events`,
      SECRET,
      { json: slack.eventCallback({ type: 'app_mention', user: OPERATOR, text: `<@${slack.botUserId}> list servers`, ts: staleTs, channel: CHANNEL, event_ts: staleTs }) },
      {},
      Math.floor(Date.now() / 1000) - 6 * 60,
    );
    expect(stale.status).toBe(401);
    await sleep(1000);
    expect([...repliesIn(forgedTs), ...repliesIn(staleTs)]).toEqual([]);
  });

  it('asks for a missing server with a button per registered server, and continues the thread without a mention', async () => {
    const ts = await mention(OPERATOR, 'start a migration');
    const question = await replyIn(ts);
    expect(String(question.args.text)).toBe('Which server?');
    const server = (await api('GET', '/servers/web-01')).body;
    expect(buttonsOf(question).map((button) => [button.text, button.value])).toContainEqual([{ type: 'plain_text', text: `web-01 (${server.id})`, emoji: false }, server.id]);
    // A plain reply in the thread, with no mention, is the answer.
    const replyTs = nextTs();
    expect((await send({ type: 'message', channel_type: 'channel', user: OPERATOR, text: 'web-01', ts: replyTs, thread_ts: ts, channel: CHANNEL, event_ts: replyTs })).status).toBe(200);
    const confirmation = await replyIn(ts, 1);
    expect(String(confirmation.args.text)).toBe('Start migration of server web-01. Shall I go ahead?');
  });

  it('answers a direct message in its thread, and offers a button per operation when two fit as well', async () => {
    const ts = nextTs();
    expect((await send({ type: 'message', channel_type: 'im', user: READER, text: 'get a server', ts, channel: 'DREADER', event_ts: ts })).status).toBe(200);
    const choice = await slack.waitFor((call) => call.method === 'chat.postMessage' && call.args.thread_ts === ts && call.args.channel === 'DREADER');
    expect(String(choice.args.text)).toBe('Which do you mean: get server or list servers?');
    expect(buttonsOf(choice).map((button) => button.value)).toEqual(['getServer', 'listServers']);
    const payload = slack.blockAction({ userId: READER, channelId: 'DREADER', messageTs: String(choice.response.ts), threadTs: ts, actionId: 'ferry_choose_1', value: 'listServers', messageText: String(choice.args.text) });
    expect((await postSigned(`${ferry.url}/slack/events`, SECRET, { form: { payload: JSON.stringify(payload) } })).status).toBe(200);
    const listed = await replyMatching(ts, /^List servers:\n(?:• .*\n)*• srv-[a-z0-9]+ · web-01 · /);
    expect(listed.args.channel).toBe('DREADER');
  });

  it('starts a thread from /ferry and answers help from the catalog', async () => {
    const answer = await postSigned(`${ferry.url}/slack/events`, SECRET, { form: slack.slashCommand({ userId: READER, channelId: CHANNEL, text: 'help' }) });
    expect(answer.status).toBe(200);
    const root = await slack.waitFor((call) => call.method === 'chat.postMessage' && call.args.thread_ts === undefined && String(call.args.text).includes('/ferry help'));
    const help = await replyIn(String(root.response.ts));
    expect(String(help.args.text)).toMatch(/^Here is what I can do/);
    expect(String(help.args.text)).toContain('Start migration: "start migration of server srv-1"');
  });

  it('publishes the running migrations on the App Home tab', async () => {
    expect((await send({ type: 'app_home_opened', user: READER, channel: 'DHOME', tab: 'home', event_ts: nextTs() })).status).toBe(200);
    const published = await slack.waitFor((call) => call.method === 'views.publish' && call.args.user_id === READER);
    const view = JSON.stringify(published.args.view);
    expect(view).toContain('Running migrations');
    // The list was read through the catalog: it says what runs, or that nothing does, never that it could not be read.
    expect(view).toMatch(/No migration is running\.|• mig-[a-z0-9]+ · srv-[a-z0-9]+ · default · /);
  });
});
