// How fast the Slack surface answers: the time to acknowledge a signed event (Slack gives three
// seconds) and the time until the reply reaches Slack's Web API, for a read-only command and for
// a state change's confirmation, against `ferry start` and a local stand-in for Slack.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runFerry } from '../test/helpers/ferry-process.ts';
import { postSigned, startSlackStandin } from '../test/helpers/slack-standin.ts';

const SECRET = 'bench-signing-secret';
const ROUNDS = 60;
const WARM_UP = 5;

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-slack-'));
const slack = await startSlackStandin();
const ferry = await runFerry(['start'], { FERRY_DATA_DIR: dataDir, SLACK_BOT_TOKEN: 'xoxb-bench', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: slack.url, FERRY_OPERATORS: 'UBENCH' });

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 10) / 10;
};

async function measure(text: string): Promise<{ ackMs: number[]; replyMs: number[] }> {
  const ackMs: number[] = [];
  const replyMs: number[] = [];
  for (let round = 0; round < ROUNDS + WARM_UP; round += 1) {
    const ts = `${1_900_000_000 + round}.${String(text.length).padStart(6, '0')}`;
    const started = performance.now();
    const reply = slack.waitFor((call) => call.method === 'chat.postMessage' && call.args.thread_ts === ts, 10_000);
    const answer = await postSigned(`${ferry.url}/slack/events`, SECRET, { json: slack.eventCallback({ type: 'app_mention', user: 'UBENCH', text: `<@${slack.botUserId}> ${text}`, ts, channel: 'CBENCH', event_ts: ts }) });
    const acked = performance.now();
    if (answer.status !== 200) throw new Error(`event answered ${answer.status}`);
    await reply;
    if (round < WARM_UP) continue;
    ackMs.push(acked - started);
    replyMs.push(performance.now() - started);
  }
  return { ackMs, replyMs };
}

const summary = (name: string, run: { ackMs: number[]; replyMs: number[] }) => ({
  command: name,
  ackP50Ms: percentile(run.ackMs, 50),
  ackP99Ms: percentile(run.ackMs, 99),
  ackMaxMs: percentile(run.ackMs, 100),
  replyP50Ms: percentile(run.replyMs, 50),
  replyP99Ms: percentile(run.replyMs, 99),
});

try {
  const readOnly = summary('list servers', await measure('list servers'));
  const confirmation = summary('register server … (confirmation)', await measure('register server web-09 from nbd://127.0.0.1:10809/web-09'));
  console.log(JSON.stringify({ benchmark: 'slack surface', rounds: ROUNDS, slackAckLimitMs: 3000, results: [readOnly, confirmation] }, null, 2));
} finally {
  ferry.child.kill('SIGTERM');
  await ferry.exited;
  await slack.close();
  await rm(dataDir, { recursive: true, force: true });
}
