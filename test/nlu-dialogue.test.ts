import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisConversationStore, type RedisConversationStoreOptions } from '../nlu/conversation-store.ts';
import { Dialogue, type Turn } from '../nlu/dialogue.ts';
import type { Grammar } from '../nlu/frame.ts';
import { conversationReply, ordinalChoice } from '../nlu/replies.ts';
import { grammarOf, SPECS } from './helpers/grammars.ts';
import { startTestRedis } from './helpers/redis.ts';

let redis: Awaited<ReturnType<typeof startTestRedis>>;
let client: Redis;
let ferry: Grammar;
let petstore: Grammar;
let conversations = 0;
const clients: Redis[] = [];

/** A conversation id no other test uses. */
const newConversation = (): string => `test-${++conversations}`;

function dialogueOf(grammar: Grammar, store: RedisConversationStoreOptions = {}, connection = client): Dialogue {
  return new Dialogue({ grammar, store: new RedisConversationStore(connection, store) });
}

/** A run turn without the utterance it came from, which the tests of the command need not repeat. */
function ran(turn: Turn | undefined): unknown {
  if (turn?.kind !== 'run') return turn;
  const { utterance: _utterance, ...rest } = turn;
  return rest;
}

/** Says each line in turn and returns every turn. */
async function say(dialogue: Dialogue, conversationId: string, ...lines: string[]): Promise<Turn[]> {
  const turns: Turn[] = [];
  for (const line of lines) turns.push(await dialogue.handle(conversationId, line));
  return turns;
}

beforeAll(async () => {
  redis = await startTestRedis();
  client = new Redis(redis.url);
  [ferry, petstore] = await Promise.all([grammarOf(), grammarOf(SPECS.petstore)]);
});

afterAll(async () => {
  for (const connection of [client, ...clients]) connection.disconnect();
  await redis.stop();
});

describe('slot filling', () => {
  it('asks for each missing required parameter in turn, then confirms, then runs with all of them', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    const [askName, askSource, confirm, run] = await say(dialogue, id, 'register a server', 'ftp-1', 'nbd://192.0.2.10:10809/vda', 'yes');
    expect(askName).toMatchObject({ kind: 'ask', param: { name: 'name' }, command: { operationId: 'registerServer', params: {} } });
    expect(askName!.kind === 'ask' && askName.question).toBe('What name for the server?');
    expect(askSource).toMatchObject({ kind: 'ask', param: { name: 'source' }, command: { operationId: 'registerServer', params: { name: 'ftp-1' } } });
    expect(confirm).toEqual({
      kind: 'confirm',
      command: { operationId: 'registerServer', params: { name: 'ftp-1', source: 'nbd://192.0.2.10:10809/vda' } },
      prompt: 'Register server with name ftp-1 and source nbd://192.0.2.10:10809/vda. Shall I go ahead?',
    });
    expect(ran(run)).toEqual({ kind: 'run', command: { operationId: 'registerServer', params: { name: 'ftp-1', source: 'nbd://192.0.2.10:10809/vda' } } });
    // Nothing is pending any more: a second yes is not taken for anything.
    expect((await dialogue.handle(id, 'yes')).kind).toBe('not-understood');
  });

  it('asks again, saying what is expected, when the reply holds no value for the parameter', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    const [, , again, confirm] = await say(dialogue, id, 'register a server called ftp-2', 'hmm', 'somewhere over there', '/dev/sdb');
    expect(again).toMatchObject({ kind: 'ask', param: { name: 'source' }, command: { params: { name: 'ftp-2' } } });
    expect(again!.kind === 'ask' && again.question).toMatch(/^Sorry, I did not get the source from that\. Where the server's disk is read from: an NBD URL .*What source for the server\?$/);
    expect(confirm).toMatchObject({ kind: 'confirm', command: { operationId: 'registerServer', params: { name: 'ftp-2', source: '/dev/sdb' } } });
  });

  it('asks which resource an id parameter names, reads an id said aloud, and offers enum values as choices', async () => {
    const id = newConversation();
    const [ask, confirm, , resume] = await say(dialogueOf(ferry), id, 'pause migration', 'mig dash 7', 'no', 'resume it');
    expect(ask).toMatchObject({ kind: 'ask', param: { name: 'migrationId' }, question: 'Which migration?' });
    expect(ask).not.toHaveProperty('choices');
    expect(confirm).toMatchObject({ kind: 'confirm', command: { operationId: 'pauseMigration', params: { migrationId: 'mig-7' } }, prompt: 'Pause migration mig-7. Shall I go ahead?' });
    // An id given as an answer is remembered like one given in the command.
    expect(resume).toMatchObject({ kind: 'confirm', command: { operationId: 'resumeMigration', params: { migrationId: 'mig-7' } } });

    const pets = newConversation();
    const [askStatus, run] = await say(dialogueOf(petstore), pets, 'find pets by status', 'sold');
    expect(askStatus).toMatchObject({ kind: 'ask', param: { name: 'status' }, choices: ['available', 'pending', 'sold'], question: 'Which status: available, pending or sold?' });
    expect(ran(run)).toEqual({ kind: 'run', command: { operationId: 'findPetsByStatus', params: { status: ['sold'] } } });
  });

  it('takes a clear new command instead of an answer, dropping the pending one', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    const [, instead, later] = await say(dialogue, id, 'register a server', 'list the migrations', 'ftp-1');
    expect(ran(instead)).toEqual({ kind: 'run', command: { operationId: 'listMigrations', params: {} } });
    // The registration was dropped: a name alone is no longer an answer to anything.
    expect(later!.kind).not.toBe('ask');
  });

  it('takes turns of one conversation in the order they came, even when they overlap', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    const [first, second] = await Promise.all([dialogue.handle(id, 'register a server'), dialogue.handle(id, 'ftp-3')]);
    expect(first).toMatchObject({ kind: 'ask', param: { name: 'name' } });
    expect(second).toMatchObject({ kind: 'ask', param: { name: 'source' }, command: { params: { name: 'ftp-3' } } });
  });
});

describe('confirmation', () => {
  it('runs a state-changing command after yes, and cancels it after no', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    const [confirm, run] = await say(dialogue, id, 'migrate web-01 to kvm-2 with 8 streams without verification', 'Yes, go ahead!');
    const command = { operationId: 'startMigration', params: { serverId: 'web-01', targetHost: 'kvm-2', streams: 8, verify: false } };
    expect(confirm).toEqual({ kind: 'confirm', command, prompt: 'Start migration of server web-01 with target host kvm-2, streams 8 and verify off. Shall I go ahead?' });
    expect(ran(run)).toEqual({ kind: 'run', command });

    const [, refused, after] = await say(dialogue, id, 'delete image img-4', 'no', 'yes');
    expect(refused).toEqual({ kind: 'cancelled', message: 'Cancelled: delete image img-4.' });
    expect(after!.kind).toBe('not-understood');
  });

  it('runs a read-only command at once, with no confirmation', async () => {
    const [run] = await say(dialogueOf(ferry), newConversation(), 'show migration mig-3');
    expect(ran(run)).toEqual({ kind: 'run', command: { operationId: 'getMigration', params: { migrationId: 'mig-3' } } });
  });

  it('asks for yes or no again after another reply, and takes a new command instead', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    const [, unclear, replaced, run] = await say(dialogue, id, 'deregister server web-01', 'hmm, not sure', 'cancel mig-3', 'do it');
    expect(unclear).toEqual({
      kind: 'confirm',
      command: { operationId: 'deregisterServer', params: { serverId: 'web-01' } },
      prompt: 'Please answer yes or no. Deregister server web-01. Shall I go ahead?',
    });
    // "cancel mig-3" is a command (cancelMigration), not an abandon.
    expect(replaced).toMatchObject({ kind: 'confirm', command: { operationId: 'cancelMigration', params: { migrationId: 'mig-3' } } });
    expect(ran(run)).toEqual({ kind: 'run', command: { operationId: 'cancelMigration', params: { migrationId: 'mig-3' } } });
  });

  it('takes yes and no from buttons; a button with nothing to confirm does nothing', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    await dialogue.handle(id, 'cut over migration mig-5');
    expect(ran(await dialogue.confirm(id, true))).toEqual({ kind: 'run', command: { operationId: 'cutoverMigration', params: { migrationId: 'mig-5' } } });
    // A second click on the same button must not run it twice.
    expect(await dialogue.confirm(id, true)).toEqual({ kind: 'not-understood', message: 'There is nothing waiting for a yes or no.' });
    await dialogue.handle(id, 'resume migration mig-5');
    expect(await dialogue.confirm(id, false)).toEqual({ kind: 'cancelled', message: 'Cancelled: resume migration mig-5.' });
  });
});

describe('cancel', () => {
  it('a bare cancel abandons a question; the next message starts afresh', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    const [, cancelled, fresh, nothing] = await say(dialogue, id, 'register a server', 'cancel', 'list servers', 'never mind');
    expect(cancelled).toEqual({ kind: 'cancelled', message: 'Cancelled: register server.' });
    expect(ran(fresh)).toEqual({ kind: 'run', command: { operationId: 'listServers', params: {} } });
    expect(nothing).toEqual({ kind: 'cancelled', message: 'There is nothing to cancel.' });
  });

  it('abandons at every stage, with any of the phrases', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    const [, atQuestion] = await say(dialogue, id, 'register a server called ftp-4', 'Forget it.');
    expect(atQuestion).toEqual({ kind: 'cancelled', message: 'Cancelled: register server with name ftp-4.' });
    const [, atConfirmation] = await say(dialogue, id, 'pause migration mig-8', 'ok, never mind');
    expect(atConfirmation).toEqual({ kind: 'cancelled', message: 'Cancelled: pause migration mig-8.' });
    const [choice, atChoice, after] = await say(dialogue, id, 'what builds has pipe-4 done', 'cancel', 'the first one');
    expect(choice!.kind).toBe('choose');
    expect(atChoice).toEqual({ kind: 'cancelled', message: 'Cancelled.' });
    expect(after!.kind).toBe('not-understood');
  });
});

describe('disambiguation', () => {
  it('offers both operations when they fit equally, then reads the utterance again as the one chosen by button', async () => {
    const dialogue = dialogueOf(petstore);
    const id = newConversation();
    const choice = await dialogue.handle(id, 'create users from an input array');
    expect(choice).toEqual({
      kind: 'choose',
      options: [
        { operationId: 'createUsersWithArrayInput', label: 'create users with array input' },
        { operationId: 'createUsersWithListInput', label: 'create users with list input' },
      ],
      prompt: 'Which do you mean: create users with array input or create users with list input?',
    });
    expect(await dialogue.choose(id, 'createUsersWithListInput')).toEqual({
      kind: 'confirm',
      command: { operationId: 'createUsersWithListInput', params: {} },
      prompt: 'Create users with list input. Shall I go ahead?',
    });
    expect(await dialogue.choose(id, 'createUsersWithArrayInput')).toEqual({ kind: 'not-understood', message: 'That choice is no longer open. Say again what you want to do.' });
  });

  it('keeps the parameters of the original utterance for the operation chosen in words', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    const [choice, byOrdinal] = await say(dialogue, id, 'what builds has pipe-4 done', 'the second one');
    expect(choice.kind).toBe('choose');
    const offered = choice.kind === 'choose' ? choice.options.map((option) => option.operationId) : [];
    expect([...offered].sort()).toEqual(['getImagePipeline', 'listImageBuilds']);
    expect(ran(byOrdinal)).toEqual({ kind: 'run', command: { operationId: offered[1], params: { pipelineId: 'pipe-4' } } });

    const other = newConversation();
    const [, unclear, byWords] = await say(dialogue, other, 'what builds has pipe-4 done', 'hmm', 'show the pipeline');
    expect(unclear).toMatchObject({ kind: 'choose', prompt: expect.stringMatching(/^Please pick one\. Which do you mean: (list image builds or get image pipeline|get image pipeline or list image builds)\?$/) });
    expect(ran(byWords)).toEqual({ kind: 'run', command: { operationId: 'getImagePipeline', params: { pipelineId: 'pipe-4' } } });
  });

  it('offers no choice when the best operation is clearly ahead, and offers every close one with a wide margin (at most 3)', async () => {
    const clear = await dialogueOf(ferry).handle(newConversation(), 'list servers');
    expect(clear.kind).toBe('run');
    const wide = new Dialogue({ grammar: ferry, store: new RedisConversationStore(client), closeMargin: 1 });
    const choice = await wide.handle(newConversation(), 'show migration mig-3');
    expect(choice.kind === 'choose' && choice.options.map((option) => option.operationId)).toEqual(['getMigration', 'pauseMigration', 'resumeMigration']);
  });
});

describe('"it" and "that migration"', () => {
  it('refers to the id the user gave last', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    const [shown, paused] = await say(dialogue, id, 'show migration mig-3', 'pause it');
    expect(ran(shown)).toEqual({ kind: 'run', command: { operationId: 'getMigration', params: { migrationId: 'mig-3' } } });
    expect(paused).toEqual({ kind: 'confirm', command: { operationId: 'pauseMigration', params: { migrationId: 'mig-3' } }, prompt: 'Pause migration mig-3. Shall I go ahead?' });
  });

  it('refers to what a command returned: a record, or the only item of a list', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    await dialogue.recordResult(id, 'startMigration', { id: 'mig-9', serverId: 'srv-1', status: 'queued' });
    expect(await dialogue.handle(id, 'cancel that migration')).toMatchObject({ kind: 'confirm', command: { operationId: 'cancelMigration', params: { migrationId: 'mig-9' } } });
    await dialogue.recordResult(id, 'listServers', { items: [{ id: 'srv-4', name: 'web-01' }] });
    expect(await dialogue.handle(id, 'deregister the same server')).toMatchObject({ kind: 'confirm', command: { operationId: 'deregisterServer', params: { serverId: 'srv-4' } } });
    // importImage's resource is an image, but it returns an import: the id's prefix says so.
    const other = newConversation();
    await dialogue.recordResult(other, 'importImage', { id: 'imp-2', status: 'queued' });
    expect(await dialogue.handle(other, 'cancel it')).toMatchObject({ kind: 'confirm', command: { operationId: 'cancelImageImport', params: { importId: 'imp-2' } } });
  });

  it('remembers nothing from a list of several, or from a result without an id', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    await dialogue.recordResult(id, 'listMigrations', { items: [{ id: 'mig-1' }, { id: 'mig-2' }] });
    await dialogue.recordResult(id, 'getMigration', 'not a record');
    expect(await dialogue.handle(id, 'pause it')).toMatchObject({ kind: 'ask', param: { name: 'migrationId' } });
  });
});

describe('state in Redis', () => {
  it('survives a restart: a new Dialogue on a new connection takes the next answer', async () => {
    const id = newConversation();
    await say(dialogueOf(ferry), id, 'register a server', 'ftp-5');
    const connection = new Redis(redis.url);
    clients.push(connection);
    const restarted = dialogueOf(ferry, {}, connection);
    expect(await restarted.handle(id, 'nbd://192.0.2.10:10809/vda')).toMatchObject({
      kind: 'confirm',
      command: { operationId: 'registerServer', params: { name: 'ftp-5', source: 'nbd://192.0.2.10:10809/vda' } },
    });
    expect(await restarted.confirm(id, true)).toMatchObject({ kind: 'run' });
  });

  it('keeps the state as JSON under the prefix, with an expiry refreshed on each turn', async () => {
    const store = new RedisConversationStore(client, { ttlSeconds: 600, prefix: 'test:conversation:' });
    const dialogue = new Dialogue({ grammar: ferry, store });
    const id = newConversation();
    await dialogue.handle(id, 'register a server');
    const key = `test:conversation:${id}`;
    expect(store.keyOf(id)).toBe(key);
    expect(JSON.parse((await client.get(key))!)).toEqual({
      pending: { awaiting: 'answer', command: { operationId: 'registerServer', params: {} }, param: 'name', utterance: 'register a server' },
      lastResources: {},
    });
    expect(await client.ttl(key)).toBeGreaterThan(590);
    await client.expire(key, 5);
    await dialogue.handle(id, 'ftp-6');
    expect(await client.ttl(key)).toBeGreaterThan(590);
    expect(await client.exists(`ferry:conversation:${id}`)).toBe(0);
  });

  it('forgets a conversation when its key expires', async () => {
    const store = new RedisConversationStore(client, { ttlSeconds: 1 });
    const dialogue = new Dialogue({ grammar: ferry, store });
    const id = newConversation();
    await dialogue.handle(id, 'register a server called ftp-7');
    const key = store.keyOf(id);
    expect(key).toBe(`ferry:conversation:${id}`);
    expect(await client.ttl(key)).toBe(1);
    const deadline = Date.now() + 3000;
    while ((await client.exists(key)) === 1 && Date.now() < deadline) await sleep(50);
    expect(await client.exists(key)).toBe(0);
    // The question about the source is gone: a URL alone is not an answer any more.
    expect((await dialogue.handle(id, 'nbd://192.0.2.10:10809/vda')).kind).not.toBe('confirm');
  });

  it('drops a pending command whose operation the catalog no longer has', async () => {
    const id = newConversation();
    await dialogueOf(ferry).handle(id, 'register a server');
    expect(await dialogueOf(petstore).handle(id, 'ftp-8')).toMatchObject({ kind: 'not-understood' });
    expect(JSON.parse((await client.get(`ferry:conversation:${id}`))!).pending).toBeNull();
  });

  it('starts afresh from a state it cannot read', async () => {
    const store = new RedisConversationStore(client);
    const id = newConversation();
    await client.set(store.keyOf(id), '{"pending": {"awaiting": "something else"}, "lastResources": {}}');
    expect(await store.load(id)).toEqual({ pending: null, lastResources: {} });
    await client.set(store.keyOf(id), 'not json');
    expect(ran(await new Dialogue({ grammar: ferry, store }).handle(id, 'list servers'))).toEqual({ kind: 'run', command: { operationId: 'listServers', params: {} } });
  });
});

describe('who may run it, and commands a surface proposes', () => {
  // A permit that lets anyone read but only "op" change anything, as a surface's authorisation would.
  const readOnly = (frame: Grammar['frames'][number]): string | null => (frame.changesState ? 'Sorry, you may only read.' : null);

  it('gives the run turn the words of the command, not of the answers that completed it', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    const turns = await say(dialogue, id, 'register a server called ftp-1', 'nbd://192.0.2.10:10809/vda', 'yes');
    expect(turns[2]).toMatchObject({ kind: 'run', utterance: 'register a server called ftp-1' });
  });

  it('refuses before asking anything, and leaves nothing pending', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    expect(await dialogue.handle(id, 'register a server', readOnly)).toEqual({ kind: 'refused', message: 'Sorry, you may only read.' });
    expect((await dialogue.handle(id, 'ftp-1', readOnly)).kind).not.toBe('confirm');
    expect(ran(await dialogue.handle(id, 'list servers', readOnly))).toEqual({ kind: 'run', command: { operationId: 'listServers', params: {} } });
  });

  it('asks again at the confirmation, since someone else may press the button, and keeps it for one who may', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    expect((await dialogue.handle(id, 'pause migration mig-7')).kind).toBe('confirm');
    expect(await dialogue.confirm(id, true, readOnly)).toEqual({ kind: 'refused', message: 'Sorry, you may only read.' });
    // The command waits for someone who may run it.
    expect(ran(await dialogue.confirm(id, true))).toEqual({ kind: 'run', command: { operationId: 'pauseMigration', params: { migrationId: 'mig-7' } } });
  });

  it('takes a proposed command through the same confirmation', async () => {
    const dialogue = dialogueOf(ferry);
    const id = newConversation();
    const command = { operationId: 'pauseMigration', params: { migrationId: 'mig-7' } };
    expect(await dialogue.propose(id, command, 'the Pause button')).toEqual({ kind: 'confirm', command, prompt: 'Pause migration mig-7. Shall I go ahead?' });
    expect(await dialogue.confirm(id, true)).toEqual({ kind: 'run', command, utterance: 'the Pause button' });
    await expect(dialogue.propose(id, { operationId: 'noSuchThing', params: {} }, 'x')).rejects.toThrow(/no operation noSuchThing/);
  });
});

describe('replies about the conversation', () => {
  it('reads yes, no and abandon phrases with politeness and punctuation around them, and only bare', () => {
    expect(['yes', 'Yes please!', 'ok', 'Yes, go ahead.', 'OK, do it.', 'sure thing'].map(conversationReply)).toEqual(['yes', 'yes', 'yes', 'yes', 'yes', null]);
    expect(['no', 'Nope.', 'no thanks', "don\u2019t", 'no, cancel'].map(conversationReply)).toEqual(['no', 'no', 'no', 'no', 'no']);
    expect(['cancel', 'never mind', 'forget it', 'stop please', 'abort!', 'ok'].map(conversationReply)).toEqual(['abandon', 'abandon', 'abandon', 'abandon', 'abandon', 'yes']);
    expect(['cancel mig-3', 'stop the replication', 'yes migrate web-01', 'please', ''].map(conversationReply)).toEqual([null, null, null, null, null]);
  });

  it('reads which choice "the second one" or "3" picks', () => {
    expect(['the first one', 'second', 'option 3', 'number two', 'one', 'the third please'].map(ordinalChoice)).toEqual([1, 2, 3, 2, 1, 3]);
    expect(['the second server', 'first migrate web-01', 'fourth', ''].map(ordinalChoice)).toEqual([null, null, null, null]);
  });

  it('says what Ferry can do when nothing fits', async () => {
    const turn = await dialogueOf(ferry).handle(newConversation(), 'bake me a chocolate cake');
    expect(turn).toEqual({
      kind: 'not-understood',
      message: 'Sorry, I did not understand that. I can work with migrations, images, replications, image pipelines, servers, migration plans and more. For example: list migrations.',
    });
  });
});
