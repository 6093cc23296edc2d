import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/ferry-process.ts';
import { makeSparseDisk, serveSourceDisk, type Peer } from './helpers/nbd-peers.ts';

// `ferry chat` driven as a person at a terminal would, through its stdin and stdout.

const BIN = path.join(import.meta.dirname, '../bin/ferry.mjs');
const MiB = 1024 * 1024;

let dataDir: string;
let peer: Peer;
let source: string;

/** One `ferry chat` process with its output so far. */
class Chat {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  output = '';
  apiUrl = '';

  constructor(port: number) {
    this.apiUrl = `http://127.0.0.1:${port}`;
    this.child = spawn(process.execPath, [BIN, 'chat'], {
      env: { ...process.env, FERRY_DATA_DIR: path.join(dataDir, `chat-${port}`), FERRY_SOURCE_DIRS: dataDir, FERRY_PORT: String(port), FERRY_LOG_LEVEL: 'warn', SLACK_BOT_TOKEN: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdout.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  }

  static async start(): Promise<Chat> {
    const chat = new Chat(await freePort());
    await chat.expectOutput(/^ferry> Hello\. Tell me what to do, or say "help"/m, 0, 60_000);
    return chat;
  }

  /** Waits until the output after `from` matches. */
  async expectOutput(pattern: RegExp, from: number, timeoutMs = 15_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.output.slice(Math.max(0, from)));
      if (match) return match;
      if (Date.now() > deadline) throw new Error(`no ${pattern} in the output after ${from}:\n${this.output.slice(from)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Types a line and waits for the reply that matches. */
  say(line: string, reply: RegExp, timeoutMs?: number): Promise<RegExpExecArray> {
    const from = this.output.length;
    this.child.stdin.write(`${line}\n`);
    return this.expectOutput(reply, from, timeoutMs);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await this.exited;
    }
  }
}

let chat: Chat;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-chat-'));
  const served = await serveSourceDisk(dataDir, 'web-01', 16 * MiB, 8 * MiB);
  peer = served.peer;
  source = served.url;
  chat = await Chat.start();
  const registered = await fetch(`${chat.apiUrl}/servers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'web-01', source }) });
  expect(registered.status).toBe(201);
}, 90_000);

afterAll(async () => {
  await chat?.stop();
  await peer?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('ferry chat', () => {
  it('confirms by y and n before changing anything', async () => {
    const disk = path.join(dataDir, 'db-02.raw');
    await makeSparseDisk(disk, MiB, []);
    await chat.say(`register server db-02 from ${disk}`, new RegExp(`^ferry> Register server with name db-02 and source ${disk}\\. Shall I go ahead\\? \\[y/n\\]$`, 'm'));
    await chat.say('n', /^ferry> Cancelled: register server/m);
    expect((await fetch(`${chat.apiUrl}/servers/db-02`)).status).toBe(404);
    await chat.say(`register server db-02 from ${disk}`, /\[y\/n\]$/m);
    await chat.say('y', /^ferry> Register server with name db-02 and source .*\n\s+srv-[a-z0-9]+ · db-02 · available$/m);
    expect((await fetch(`${chat.apiUrl}/servers/db-02`)).status).toBe(200);
  });

  it('asks for what is missing with numbered choices, and takes the number', async () => {
    const choice = await chat.say('start a migration', /^ferry> Which server\?\n(?:\s+\d\) .*\n)*?\s+(\d)\) web-01 \((srv-[a-z0-9]+)\)$/m);
    await chat.say(choice[1]!, new RegExp(`^ferry> Start migration of server ${choice[2]}\\. Shall I go ahead\\? \\[y/n\\]$`, 'm'));
    await chat.say('no', /^ferry> Cancelled: start migration/m);
  });

  it('migrates a disk and prints its progress until it completes', async () => {
    await chat.say('migrate web-01 at 24 mbps', /Shall I go ahead\? \[y\/n\]$/m);
    const from = chat.output.length;
    const started = await chat.say('yes', /^ferry> Start migration of server web-01 with bandwidth mbps 24\. Started\.\n\s+(mig-[a-z0-9]+)/m);
    const id = started[1]!;
    await chat.expectOutput(new RegExp(`^ferry> ${id} · (booting|backfilling|verifying)[^\\n]*\\n\\s+\\[[█░]+\\] \\d+% · `, 'm'), from, 30_000);
    await chat.expectOutput(new RegExp(`^ferry> ${id} completed in \\d+s, 16\\.0 MiB`, 'm'), from, 60_000);
  }, 90_000);

  it('says what it can do, and ends with its input', async () => {
    const short = await Chat.start();
    try {
      await short.say('help', /^ferry> Here is what I can do\./m);
      short.child.stdin.end();
      expect(await short.exited).toBe(0);
    } finally {
      await short.stop();
    }
  }, 60_000);
});
