import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthConfigError, loadAuthConfig, parseOperators } from '../bot/auth-config.ts';
import { Authorisation, levelOf } from '../bot/authorisation.ts';
import type { CommandFrame, Grammar } from '../nlu/frame.ts';
import { grammarOf } from './helpers/grammars.ts';

let dir: string;
let grammar: Grammar;
let files = 0;

const frame = (id: string): CommandFrame => grammar.byId.get(id)!;

/** Writes `text` to a new file of the suite's folder and returns its path. */
async function authFile(text: string): Promise<string> {
  const file = path.join(dir, `auth-${++files}.yaml`);
  await writeFile(file, text);
  return file;
}

async function authorisationOf(text: string, operators = ''): Promise<Authorisation> {
  return Authorisation.fromEnv({ FERRY_AUTH_FILE: await authFile(text), FERRY_OPERATORS: operators });
}

const FILE = `
users:
  U0CHANGE1: change
  U0DESTROY: destroy
groups:
  S0ONCALL1: destroy
channels:
  C0MIGRATE: change
callers:
  +4930123456:
    user: U0DESTROY
`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-auth-'));
  grammar = await grammarOf();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the level an operation needs', () => {
  it('is read for GET, change for other state changes, destroy for DELETE and cancellations', () => {
    expect(levelOf(frame('listServers'))).toBe('read');
    expect(levelOf(frame('getMigration'))).toBe('read');
    expect(levelOf(frame('startMigration'))).toBe('change');
    expect(levelOf(frame('registerServer'))).toBe('change');
    expect(levelOf(frame('pauseMigration'))).toBe('change');
    expect(levelOf(frame('stopReplication'))).toBe('change');
    expect(levelOf(frame('deleteImage'))).toBe('destroy');
    expect(levelOf(frame('deregisterServer'))).toBe('destroy');
    expect(levelOf(frame('cancelMigration'))).toBe('destroy');
    expect(levelOf(frame('cancelImageImport'))).toBe('destroy');
  });

  it('is destroy for a POST whose verb the NLU classes as a deletion', () => {
    const base = frame('startMigration');
    const removal: CommandFrame = { ...base, id: 'removeTag', verb: 'remove', actionClass: 'delete' };
    expect(levelOf(removal)).toBe('destroy');
  });
});

describe('decide', () => {
  it('lets everyone read and nothing else when there is neither a file nor operators', async () => {
    const auth = await Authorisation.fromEnv({});
    expect(auth.decide({ userId: 'U0SOMEONE' }, frame('listServers'))).toEqual({ allowed: true });
    expect(auth.decide({ callerId: '+15550100' }, frame('getMigration'))).toEqual({ allowed: true });
    const refused = auth.decide({ userId: 'U0SOMEONE', channelId: 'C0GENERAL' }, frame('startMigration'));
    expect(refused).toEqual({
      allowed: false,
      reason:
        'Sorry, you may not run "start migration": it is a command that changes things, and you may run read-only commands. ' +
        "A Ferry operator can grant it to you, one of your groups or this channel in Ferry's authorisation file.",
    });
  });

  it('lets operators run everything, with or without a file, by user id or caller number', async () => {
    const withoutFile = await Authorisation.fromEnv({ FERRY_OPERATORS: 'U0OPERATOR, +4930999999' });
    const withFile = await authorisationOf(FILE, 'U0OPERATOR,+4930999999');
    for (const auth of [withoutFile, withFile]) {
      expect(auth.decide({ userId: 'U0OPERATOR' }, frame('deleteImage'))).toEqual({ allowed: true });
      expect(auth.decide({ callerId: '+4930999999' }, frame('cancelMigration'))).toEqual({ allowed: true });
      expect(auth.decide({ userId: 'U0SOMEONE' }, frame('deleteImage')).allowed).toBe(false);
    }
  });

  it("lets the terminal's user run everything: they hold the machine already", async () => {
    const auth = await Authorisation.fromEnv({});
    expect(auth.decide({ terminal: true }, frame('deleteImage'))).toEqual({ allowed: true });
    expect(auth.decide({ terminal: false }, frame('deleteImage')).allowed).toBe(false);
  });

  it('grants by user, group and channel, taking the highest', async () => {
    const auth = await authorisationOf(FILE);
    expect(auth.decide({ userId: 'U0CHANGE1' }, frame('startMigration'))).toEqual({ allowed: true });
    const refused = auth.decide({ userId: 'U0CHANGE1' }, frame('cancelMigration'));
    expect(refused.allowed).toBe(false);
    expect(!refused.allowed && refused.reason).toBe(
      'Sorry, you may not run "cancel migration": it is a destructive command, and you may run commands that change things, but not destructive ones. ' +
        "A Ferry operator can grant it to you, one of your groups in Ferry's authorisation file.",
    );
    // A group grant lifts a user with less of their own.
    expect(auth.decide({ userId: 'U0CHANGE1', groupIds: ['S0OTHER01', 'S0ONCALL1'] }, frame('deleteImage'))).toEqual({ allowed: true });
    // Anyone may change things in the migrations channel, and no more; elsewhere they only read.
    expect(auth.decide({ userId: 'U0SOMEONE', channelId: 'C0MIGRATE' }, frame('startMigration'))).toEqual({ allowed: true });
    expect(auth.decide({ userId: 'U0SOMEONE', channelId: 'C0MIGRATE' }, frame('deleteImage')).allowed).toBe(false);
    expect(auth.decide({ userId: 'U0SOMEONE', channelId: 'C0ELSEWHR' }, frame('startMigration')).allowed).toBe(false);
    // The channel grants, it does not cap: a destroyer keeps their level in the migrations channel.
    expect(auth.decide({ userId: 'U0DESTROY', channelId: 'C0MIGRATE' }, frame('deleteImage'))).toEqual({ allowed: true });
  });

  it("gives a mapped caller the user's permissions, and an unknown caller read-only with a way to be linked", async () => {
    const auth = await authorisationOf(`
users:
  U0DESTROY: destroy
callers:
  +4930123456:
    user: U0DESTROY
  "+4930555000":
    level: change
`);
    expect(auth.userOf({ callerId: '+49 30 123456' })).toBe('U0DESTROY');
    expect(auth.decide({ callerId: '+4930123456' }, frame('deleteImage'))).toEqual({ allowed: true });
    expect(auth.decide({ callerId: '+4930555000' }, frame('startMigration'))).toEqual({ allowed: true });
    expect(auth.decide({ callerId: '+4930555000' }, frame('deleteImage')).allowed).toBe(false);
    const stranger = auth.decide({ callerId: '+15550100' }, frame('pauseMigration'));
    expect(!stranger.allowed && stranger.reason).toBe(
      'Sorry, you may not run "pause migration": it is a command that changes things, and you may run read-only commands. ' +
        "A Ferry operator can link your phone number to your Slack user, or grant it to your number in Ferry's authorisation file.",
    );
  });
});

describe('the authorisation file', () => {
  it('is refused when it cannot be read, naming the file', async () => {
    const missing = path.join(dir, 'nowhere.yaml');
    await expect(loadAuthConfig(missing)).rejects.toThrow(new AuthConfigError(`${missing}: the authorisation file (FERRY_AUTH_FILE) cannot be read: no such file`));
    await expect(Authorisation.fromEnv({ FERRY_AUTH_FILE: missing })).rejects.toThrow(AuthConfigError);
  });

  it.each([
    ['users:\n  U0CHANGE1: admin\n', 'users.U0CHANGE1 must be one of read, change, destroy'],
    ['users:\n  alice: change\n', 'users.alice: the key must be a Slack user id (U… or W…)'],
    ['groups:\n  C0MIGRATE: change\n', 'groups.C0MIGRATE: the key must be a Slack user group id (S…)'],
    ['channels:\n  U0CHANGE1: read\n', 'channels.U0CHANGE1: the key must be a Slack channel id (C…, G… or D…)'],
    ['callers:\n  "030 123456":\n    user: U0CHANGE1\n', 'callers."030 123456": the key must be a phone number in E.164 form (+4930123456)'],
    ['callers:\n  "+4930123456":\n    user: alice\n', 'callers."+4930123456".user must be a Slack user id (U… or W…)'],
    ['callers:\n  "+4930123456":\n    name: alice\n', 'callers."+4930123456".name is not a field of a caller; a caller has level and user'],
    ['callers:\n  "+4930123456": U0CHANGE1\n', 'callers."+4930123456" must be a mapping'],
    ['admins:\n  U0CHANGE1: destroy\n', 'admins is not a section; the sections are users, groups, channels, callers'],
    ['users: [U0CHANGE1]\n', 'users must be a mapping'],
    ['- U0CHANGE1\n', 'the top level must be a mapping'],
  ])('refuses %j, naming the field', async (text, problem) => {
    const file = await authFile(text);
    await expect(loadAuthConfig(file)).rejects.toThrow(new AuthConfigError(`${file}: ${problem}`));
  });

  it('is refused when it is not YAML', async () => {
    const file = await authFile('users:\n  U0CHANGE1: change\n  U0CHANGE1: read\n');
    await expect(loadAuthConfig(file)).rejects.toThrow(`${file}: not valid YAML: `);
  });

  it('accepts the documented example', async () => {
    const config = await loadAuthConfig(path.join(import.meta.dirname, '..', 'docs', 'auth.example.yaml'));
    expect(config.users.size).toBeGreaterThan(0);
    expect([...config.callers.values()].some((caller) => caller.user !== undefined)).toBe(true);
  });
});

describe('FERRY_OPERATORS', () => {
  it('takes Slack user ids and caller numbers, and refuses anything else by name', () => {
    expect(parseOperators(' U0OPERATOR ,W0GRID0001,+49 30 999999,, ')).toEqual(new Set(['U0OPERATOR', 'W0GRID0001', '+4930999999']));
    expect(parseOperators(undefined)).toEqual(new Set());
    expect(() => parseOperators('U0OPERATOR,alice')).toThrow('FERRY_OPERATORS: "alice" is neither a Slack user id (U… or W…) nor a phone number in E.164 form (+4930123456)');
  });
});
