import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, type FerryProcess } from './helpers/ferry-process.ts';
import { serveSourceDisk, type Peer } from './helpers/nbd-peers.ts';
import { startSlackStandin, type SlackCall, type SlackStandin } from './helpers/slack-standin.ts';
import { transcriptSignature, twilioSignature } from './helpers/voice-signing.ts';

// `ferry start` with both voice webhooks and Slack: requests are signed here exactly as Twilio's
// documentation and Ferry's JSON contract say, without Ferry's code, and each call's mirror thread
// is read from the stand-in for Slack's Web API.

const TWILIO_TOKEN = 'twilio-auth-token-0123456789';
const VOICE_SECRET = 'voice-webhook-secret-abcdef';
const PUBLIC_URL = 'https://ferry.example.com';
const VOICE_CHANNEL = 'CVOICE';
const OPERATOR_PHONE = '+15550001111';
const OTHER_PHONE = '+15559998888';
const MiB = 1024 * 1024;

let slack: SlackStandin;
let ferry: FerryProcess;
let dataDir: string;
let peer: Peer;
let calls = 0;

async function twilio(params: Record<string, string>, signature = twilioSignature(TWILIO_TOKEN, `${PUBLIC_URL}/voice/twilio`, params)): Promise<{ status: number; text: string }> {
  const response = await fetch(`${ferry.url}/voice/twilio`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
    body: new URLSearchParams(params).toString(),
  });
  return { status: response.status, text: await response.text() };
}

/** One Twilio call: the webhook when it comes in, then each <Gather> callback with what was heard. */
function twilioCall(from: string) {
  const callSid = `CA${String(++calls).padStart(32, '0')}`;
  const base = { AccountSid: 'AC00000000000000000000000000000000', CallSid: callSid, From: from, To: '+15550000000', Direction: 'inbound', CallStatus: 'in-progress' };
  return {
    callSid,
    start: () => twilio(base),
    say: (speech: string, confidence = 0.93) => twilio({ ...base, SpeechResult: speech, Confidence: String(confidence) }),
  };
}

async function transcript(body: Record<string, unknown>, options: { timestamp?: number; secret?: string } = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const raw = JSON.stringify(body);
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return send(raw, timestamp, transcriptSignature(options.secret ?? VOICE_SECRET, timestamp, raw));
}

async function send(raw: string, timestamp: number, signature: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${ferry.url}/voice/transcripts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-ferry-timestamp': String(timestamp), 'x-ferry-signature': signature },
    body: raw,
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** What the TwiML says, and whether it listens again (and for yes or no). */
function twiml(text: string): { says: string[]; gathers: boolean; hints: string | null; hangsUp: boolean } {
  const says = [...text.matchAll(/<Say[^>]*>([^<]*)<\/Say>/g)].map((match) => match[1]!.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>'));
  const gather = /<Gather ([^>]*)>/.exec(text);
  return { says, gathers: gather !== null && /input="speech"/.test(gather[1]!) && /action="\/voice\/twilio"/.test(gather[1]!), hints: gather ? (/hints="([^"]*)"/.exec(gather[1]!)?.[1] ?? null) : null, hangsUp: text.includes('<Hangup/>') };
}

const mirrorRoot = (callSid: string): Promise<SlackCall> =>
  slack.waitFor((call) => call.method === 'chat.postMessage' && call.args.channel === VOICE_CHANNEL && call.args.thread_ts === undefined && String(call.args.text).includes(callSid));
const mirrored = (root: SlackCall, pattern: RegExp, timeoutMs?: number): Promise<SlackCall> =>
  slack.waitFor((call) => call.method === 'chat.postMessage' && call.args.thread_ts === root.response.ts && pattern.test(String(call.args.text)), timeoutMs);

async function api(route: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${ferry.url}${route}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-voice-'));
  slack = await startSlackStandin();
  const served = await serveSourceDisk(dataDir, 'web-01', 16 * MiB, 8 * MiB);
  peer = served.peer;
  const source = served.url;
  ferry = await runFerry(['start'], {
    FERRY_DATA_DIR: dataDir,
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_SIGNING_SECRET: 'unused-in-this-suite',
    SLACK_API_URL: slack.url,
    TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
    FERRY_PUBLIC_URL: PUBLIC_URL,
    VOICE_WEBHOOK_SECRET: VOICE_SECRET,
    FERRY_VOICE_CHANNEL: VOICE_CHANNEL,
    FERRY_OPERATORS: OPERATOR_PHONE,
  });
  const registered = await fetch(`${ferry.url}/servers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'web-01', source }) });
  expect(registered.status).toBe(201);
}, 60_000);

afterAll(async () => {
  ferry?.child.kill('SIGTERM');
  await ferry?.exited;
  await peer?.stop();
  await slack?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('Twilio', () => {
  it('greets a call, answers a read-only command for the ear and listens again, mirrored in a Slack thread', async () => {
    const call = twilioCall(OTHER_PHONE);
    const greeting = twiml((await call.start()).text);
    expect(greeting).toMatchObject({ says: ['Ferry here. What shall I do?', 'I did not hear anything. Call again when you need me. Goodbye.'], gathers: true, hints: null });
    const root = await mirrorRoot(call.callSid);
    expect(String(root.args.text)).toContain(OTHER_PHONE);

    const answer = await call.say('list servers');
    expect(answer.status).toBe(200);
    expect(twiml(answer.text)).toMatchObject({ says: ['List servers. web-01, available.', expect.any(String)], gathers: true });
    const turn = await mirrored(root, /said: "list servers"/);
    expect(String(turn.args.text)).toMatch(/^\+15559998888 said: "list servers"\nFerry: List servers:\n• srv-[a-z0-9]+ · web-01 · available/);
  });

  it('reads a state change back and runs it on a spoken yes; its job reports progress in the call thread', async () => {
    const call = twilioCall(OPERATOR_PHONE);
    await call.start();
    const root = await mirrorRoot(call.callSid);
    const question = twiml((await call.say('migrate web-01 at 24 mbps')).text);
    expect(question).toMatchObject({ says: ['Start migration of server web-01 with bandwidth mbps 24. Shall I go ahead?', expect.any(String)], gathers: true, hints: 'yes, no' });
    expect(((await api('/migrations')).body.items as unknown[]).length).toBe(0);

    const done = twiml((await call.say('yes please')).text);
    const spoken = /^Start migration of server web-01 with bandwidth mbps 24\. Started\. mig ((?:[a-z0-9] )*[a-z0-9]), queued\.$/.exec(done.says[0]!);
    expect(spoken).not.toBeNull();
    const migrationId = `mig-${spoken![1]!.replaceAll(' ', '')}`;
    expect((await api(`/migrations/${migrationId}`)).status).toBe(200);

    const reaction = await slack.waitFor((call) => call.method === 'reactions.add' && call.args.timestamp === root.response.ts, 60_000);
    expect(reaction.args.name).toBe('white_check_mark');
    const progress = await mirrored(root, new RegExp(`^${migrationId} · `));
    const last = slack.callsOf('chat.update').filter((update) => update.args.ts === progress.response.ts).at(-1)!;
    expect(String(last.args.text)).toMatch(new RegExp(`^${migrationId} completed in \\d+s, 16\\.0 MiB`));
  }, 90_000);

  it('does nothing on a spoken no', async () => {
    const call = twilioCall(OPERATOR_PHONE);
    expect(twiml((await call.say('deregister server web-01')).text).says[0]).toBe('Deregister server web-01. Shall I go ahead?');
    expect(twiml((await call.say('no')).text).says[0]).toBe('Cancelled: deregister server web-01.');
    expect((await api('/servers/web-01')).status).toBe(200);
  });

  it('asks again when the transcript is not sure enough, and keeps waiting for the yes or no', async () => {
    const call = twilioCall(OPERATOR_PHONE);
    await call.say('deregister server web-01');
    const unsure = twiml((await call.say('yes', 0.21)).text);
    expect(unsure).toMatchObject({ says: ['Sorry, I did not catch that. Please say it again.', expect.any(String)], gathers: true, hints: 'yes, no' });
    expect((await api('/servers/web-01')).status).toBe(200);
    expect(twiml((await call.say('no')).text).says[0]).toBe('Cancelled: deregister server web-01.');
  });

  it('refuses a forged signature with 403 and does nothing', async () => {
    const call = twilioCall(OPERATOR_PHONE);
    const params = { CallSid: call.callSid, From: OPERATOR_PHONE, SpeechResult: 'deregister server web-01', Confidence: '0.9' };
    const forged = await twilio(params, twilioSignature(TWILIO_TOKEN, `${PUBLIC_URL}/voice/twilio`, { ...params, From: OTHER_PHONE }));
    expect(forged.status).toBe(403);
    const wrongUrl = await twilio(params, twilioSignature(TWILIO_TOKEN, 'https://elsewhere.example.com/voice/twilio', params));
    expect(wrongUrl.status).toBe(403);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Not even the call's mirror thread was opened.
    expect(slack.calls.some((call) => String(call.args.text ?? '').includes(params.CallSid))).toBe(false);
  });

  it('says goodbye and hangs up when the caller is done', async () => {
    const call = twilioCall(OTHER_PHONE);
    expect(twiml((await call.say("that's all, thanks")).text)).toMatchObject({ says: ['Goodbye.'], gathers: false, hangsUp: true });
  });
});

describe('the JSON transcript webhook', () => {
  it('answers a read-only command with the reply to speak', async () => {
    const answer = await transcript({ text: 'list servers', callerId: OTHER_PHONE, sessionId: 'session-read-1', confidence: 0.9 });
    expect(answer).toEqual({ status: 200, json: { reply: 'List servers. web-01, available.', awaitingConfirmation: false, sessionId: 'session-read-1' } });
  });

  it('waits for a yes to change anything, and lets only operators change things', async () => {
    const asked = await transcript({ text: 'register server web-07 from nbd://127.0.0.1:1/web-07', callerId: OPERATOR_PHONE, sessionId: 'session-op-1' });
    expect(asked.json).toMatchObject({ awaitingConfirmation: true, sessionId: 'session-op-1' });
    expect(String(asked.json.reply)).toMatch(/^Register server with name web-07 .* Shall I go ahead\?$/);
    expect((await api('/servers/web-07')).status).toBe(404);
    const refusedByNo = await transcript({ text: 'no', callerId: OPERATOR_PHONE, sessionId: 'session-op-1' });
    expect(refusedByNo.json).toEqual({ reply: 'Cancelled: register server with name web-07 and source nbd://127.0.0.1:1/web-07.', awaitingConfirmation: false, sessionId: 'session-op-1' });

    const other = await transcript({ text: 'register server web-07 from nbd://127.0.0.1:1/web-07', callerId: OTHER_PHONE, sessionId: 'session-other-1' });
    expect(other.json).toMatchObject({ awaitingConfirmation: false });
    expect(String(other.json.reply)).toMatch(/^Sorry, you may not run "register server": it is a command that changes things, and you may run read-only commands\. A Ferry operator can link your phone number/);
  });

  it('refuses a forged signature, an old timestamp and a replay; says what is wrong with a bad body', async () => {
    const body = { text: 'list servers', callerId: OTHER_PHONE, sessionId: 'session-bad-1' };
    expect((await transcript(body, { secret: 'not-the-secret' })).status).toBe(401);
    const old = await transcript(body, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect(old).toMatchObject({ status: 401, json: { detail: 'the request is older than five minutes; sign it again with the current time' } });

    const raw = JSON.stringify({ ...body, sessionId: 'session-replayed' });
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = transcriptSignature(VOICE_SECRET, timestamp, raw);
    expect((await send(raw, timestamp, signature)).status).toBe(200);
    expect((await send(raw, timestamp, signature)).status).toBe(409);

    const missing = await transcript({ text: 'list servers', sessionId: 'session-bad-2' });
    expect(missing).toMatchObject({ status: 400, json: { detail: 'callerId is required' } });
  });
});
