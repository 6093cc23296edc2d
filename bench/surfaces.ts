// How fast the bot's surfaces answer, against `ferry start` and a local stand-in for Slack:
// - Slack: the time to acknowledge a signed event (Slack gives three seconds) and until the reply
//   reaches Slack's Web API, for a read-only command and for a state change's confirmation;
// - voice: the time from a signed transcript (JSON) or a Twilio speech callback to the answer that
//   is spoken (Twilio waits up to 15 seconds), with each call's turn mirrored to Slack.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runFerry } from '../test/helpers/ferry-process.ts';
import { postSigned, startSlackStandin } from '../test/helpers/slack-standin.ts';
import { transcriptSignature, twilioSignature } from '../test/helpers/voice-signing.ts';

const SECRET = 'bench-signing-secret';
const VOICE_SECRET = 'bench-voice-secret';
const TWILIO_TOKEN = 'bench-twilio-token';
const PUBLIC_URL = 'https://ferry.example.com';
const ROUNDS = 60;
const WARM_UP = 5;

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-slack-'));
const slack = await startSlackStandin();
const ferry = await runFerry(['start'], {
  FERRY_DATA_DIR: dataDir,
  SLACK_BOT_TOKEN: 'xoxb-bench',
  SLACK_SIGNING_SECRET: SECRET,
  SLACK_API_URL: slack.url,
  FERRY_OPERATORS: 'UBENCH',
  VOICE_WEBHOOK_SECRET: VOICE_SECRET,
  TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
  FERRY_PUBLIC_URL: PUBLIC_URL,
  FERRY_VOICE_CHANNEL: 'CVOICE',
});

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

/** One timed voice turn per round, each in a call of its own so that every turn opens its Slack thread too. */
async function measureVoice(kind: 'transcript' | 'twilio', text: string): Promise<number[]> {
  const ms: number[] = [];
  for (let round = 0; round < ROUNDS + WARM_UP; round += 1) {
    const call = `bench-${kind}-${round}`;
    let request: RequestInit & { url: string };
    if (kind === 'transcript') {
      const raw = JSON.stringify({ text, callerId: '+15550001111', sessionId: call });
      const timestamp = Math.floor(Date.now() / 1000);
      const signature = transcriptSignature(VOICE_SECRET, timestamp, raw);
      request = { url: `${ferry.url}/voice/transcripts`, method: 'POST', headers: { 'content-type': 'application/json', 'x-ferry-timestamp': String(timestamp), 'x-ferry-signature': signature }, body: raw };
    } else {
      const params: Record<string, string> = { CallSid: call, From: '+15550001111', SpeechResult: text, Confidence: '0.9' };
      const signature = twilioSignature(TWILIO_TOKEN, `${PUBLIC_URL}/voice/twilio`, params);
      request = { url: `${ferry.url}/voice/twilio`, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: new URLSearchParams(params).toString() };
    }
    const started = performance.now();
    const answer = await fetch(request.url, request);
    await answer.text();
    if (answer.status !== 200) throw new Error(`${kind} answered ${answer.status}`);
    if (round >= WARM_UP) ms.push(performance.now() - started);
  }
  return ms;
}

const voiceSummary = (name: string, ms: number[]) => ({ webhook: name, p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99), maxMs: percentile(ms, 100) });

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
  const voice = [voiceSummary('POST /voice/transcripts: list servers', await measureVoice('transcript', 'list servers')), voiceSummary('POST /voice/twilio: list servers', await measureVoice('twilio', 'list servers'))];
  console.log(JSON.stringify({ benchmark: 'bot surfaces', rounds: ROUNDS, slack: { ackLimitMs: 3000, results: [readOnly, confirmation] }, voice: { twilioTimeoutMs: 15_000, results: voice } }, null, 2));
} finally {
  ferry.child.kill('SIGTERM');
  await ferry.exited;
  await slack.close();
  await rm(dataDir, { recursive: true, force: true });
}
