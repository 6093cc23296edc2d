import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, type FerryProcess } from './helpers/ferry-process.ts';
import { serveSourceDisk, type Peer } from './helpers/nbd-peers.ts';
import { startTestRedis } from './helpers/redis.ts';
import { postSigned, startSlackStandin, type SlackCall, type SlackStandin } from './helpers/slack-standin.ts';

// The parts run apart, as on several machines: `ferry service`, `ferry worker` and `ferry bot`
// share one Redis. The bot is killed in the middle of a migration and started again; the new
// process edits the same progress message to the end.

const SECRET = 'restart-signing-secret';
const OPERATOR = 'UOPERATOR';
const CHANNEL = 'CRESTART';
const MiB = 1024 * 1024;

let redis: Awaited<ReturnType<typeof startTestRedis>>;
let slack: SlackStandin;
let dataDir: string;
let peer: Peer;
let source: string;
const processes: FerryProcess[] = [];

async function start(args: string[], env: Record<string, string>): Promise<FerryProcess> {
  const started = await runFerry(args, { REDIS_URL: redis.url, FERRY_DATA_DIR: dataDir, ...env });
  processes.push(started);
  return started;
}

function botEnv(apiUrl: string): Record<string, string> {
  return { FERRY_API_URL: apiUrl, SLACK_BOT_TOKEN: 'xoxb-restart', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: slack.url, FERRY_OPERATORS: OPERATOR };
}

beforeAll(async () => {
  redis = await startTestRedis();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bot-restart-'));
  slack = await startSlackStandin();
  const served = await serveSourceDisk(dataDir, 'web-01', 16 * MiB, 8 * MiB);
  peer = served.peer;
  source = served.url;
}, 60_000);

afterAll(async () => {
  for (const running of processes) {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGTERM');
    await running.exited;
  }
  await peer?.stop();
  await slack?.close();
  await redis?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a bot restarted in the middle of a job', () => {
  it('takes up the same progress message and brings it to the end', async () => {
    const service = await start(['service'], {});
    await start(['worker'], {});
    const registered = await fetch(`${service.url}/servers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'web-01', source }) });
    expect(registered.status).toBe(201);

    const bot = await start(['bot'], botEnv(service.url));
    const ts = '1800000300.000100';
    const mention = slack.eventCallback({ type: 'app_mention', user: OPERATOR, text: `<@${slack.botUserId}> migrate web-01 at 12 mbps`, ts, channel: CHANNEL, event_ts: ts });
    expect((await postSigned(`${bot.url}/slack/events`, SECRET, { json: mention })).status).toBe(200);
    const confirmation = await slack.waitFor((call) => call.method === 'chat.postMessage' && call.args.thread_ts === ts && /Shall I go ahead\?$/.test(String(call.args.text)), 10_000);
    const click = slack.blockAction({ userId: OPERATOR, channelId: CHANNEL, messageTs: String(confirmation.response.ts), threadTs: ts, actionId: 'ferry_confirm', value: 'yes', messageText: String(confirmation.args.text) });
    expect((await postSigned(`${bot.url}/slack/events`, SECRET, { form: { payload: JSON.stringify(click) } })).status).toBe(200);

    const progress = await slack.waitFor((call) => call.method === 'chat.postMessage' && call.args.thread_ts === ts && /^mig-[a-z0-9]+ · /.test(String(call.args.text)), 20_000);
    const edits = (): SlackCall[] => slack.callsOf('chat.update').filter((call) => call.args.ts === progress.response.ts);
    await slack.waitFor((call) => call.method === 'chat.update' && call.args.ts === progress.response.ts, 10_000);
    bot.child.kill('SIGKILL');
    await bot.exited;
    const editsBefore = edits().length;

    await start(['bot'], botEnv(service.url));
    const reaction = await slack.waitFor((call) => call.method === 'reactions.add' && call.args.timestamp === ts, 60_000);
    expect(reaction.args.name).toBe('white_check_mark');
    // The restarted bot posted no second progress message: it edited the first one.
    expect(slack.callsOf('chat.postMessage').filter((call) => call.args.thread_ts === ts && /^mig-/.test(String(call.args.text)))).toHaveLength(1);
    expect(edits().length).toBeGreaterThan(editsBefore + 1);
    expect(String(edits().at(-1)!.args.text)).toMatch(/^mig-[a-z0-9]+ completed in \d+s, 16\.0 MiB/);
  }, 120_000);
});
