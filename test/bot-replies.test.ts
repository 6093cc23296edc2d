import { describe, expect, it, beforeAll } from 'vitest';
import { CatalogCaller } from '../bot/catalog-caller.ts';
import { resultText } from '../bot/result-text.ts';
import { replyBlocks } from '../bot/slack/blocks.ts';
import { plainText } from '../bot/slack/message-text.ts';
import { conversationOf, threadOf } from '../bot/slack/threads.ts';
import type { Grammar } from '../nlu/frame.ts';
import { grammarOf, SPECS } from './helpers/grammars.ts';

let ferry: Grammar;
let petstore: Grammar;

beforeAll(async () => {
  [ferry, petstore] = await Promise.all([grammarOf(), grammarOf(SPECS.petstore)]);
});

describe('Slack message text', () => {
  it('reads the words as typed: without the bot mention, links as typed, entities decoded', () => {
    expect(plainText('<@UBOT> register server web-01 from <nbd://10.0.0.5:10809/web-01>', 'UBOT')).toBe('register server web-01 from nbd://10.0.0.5:10809/web-01');
    expect(plainText('import <http://example.com/a.qcow2|example.com/a.qcow2> &amp; tell <#C1|ops> <!here> and <@U2>', 'UBOT')).toBe('import example.com/a.qcow2 & tell #ops @here and <@U2>');
    expect(plainText('why &lt;this&gt;', undefined)).toBe('why <this>');
  });

  it('names a thread by workspace, channel and first message, and reads it back', () => {
    const thread = { team: 'T1', channel: 'C2', threadTs: '1700000000.000100' };
    expect(conversationOf(thread)).toBe('slack:T1:C2:1700000000.000100');
    expect(threadOf(conversationOf(thread))).toEqual(thread);
    expect(threadOf('console:host:1')).toBeNull();
  });

  it('escapes what the user typed and shows the interpretation under a confirmation', () => {
    const blocks = replyBlocks({ text: 'Rename <b> & co?', controls: { kind: 'confirm' } }, 'updateThing {"name":"<b>"}');
    expect(blocks[0]).toMatchObject({ type: 'section', text: { text: 'Rename &lt;b&gt; &amp; co?' } });
    expect(blocks[1]).toMatchObject({ type: 'context', elements: [{ text: 'updateThing {"name":"&lt;b&gt;"}' }] });
    expect(blocks[2]).toMatchObject({ type: 'actions', elements: [{ action_id: 'ferry_confirm', style: 'primary' }, { action_id: 'ferry_cancel' }] });
  });
});

describe('results in words', () => {
  it('shows a record by its id, name and status, then its other fields', () => {
    const frame = ferry.byId.get('getServer')!;
    const text = resultText(ferry, frame, { serverId: 'web-01' }, { ok: true, status: 200, body: { id: 'srv-1', name: 'web-01', status: 'available', sizeBytes: 1024, tags: ['a'] } });
    expect(text).toBe('Get server web-01.\nsrv-1 · web-01 · available\nsizeBytes: 1024');
  });

  it('shows a list one item a line, says when it is empty, and cuts a long one', () => {
    const frame = ferry.byId.get('listServers')!;
    expect(resultText(ferry, frame, {}, { ok: true, status: 200, body: { items: [] } })).toBe('List servers:\nNo server found.');
    const many = Array.from({ length: 20 }, (_, i) => ({ id: `srv-${i}`, status: 'available' }));
    const lines = resultText(ferry, frame, {}, { ok: true, status: 200, body: { items: many } }).split('\n');
    expect(lines[1]).toBe('• srv-0 · available');
    expect(lines).toHaveLength(17);
    expect(lines.at(-1)).toBe('… and 5 more.');
  });

  it('says what failed with the problem detail, for any API', () => {
    const frame = petstore.byId.get('getPetById')!;
    expect(resultText(petstore, frame, { petId: 7 }, { ok: false, status: 404, problem: { title: 'Not Found', detail: 'no pet 7' } })).toBe('Sorry, get pet 7 failed (404): no pet 7');
    expect(resultText(petstore, frame, { petId: 7 }, { ok: true, status: 204, body: null })).toBe('Done: get pet 7.');
  });
});

describe('where calls go', () => {
  it("sends Ferry's own operations to FERRY_API_URL and others only to allowed servers", async () => {
    const own = ferry.byId.get('listServers')!.operation;
    const pet = petstore.byId.get('getPetById')!.operation;
    expect(CatalogCaller.isOwn(own)).toBe(true);
    expect(CatalogCaller.isOwn(pet)).toBe(false);
    const caller = new CatalogCaller({ ferryApiUrl: () => 'http://127.0.0.1:9' });
    await expect(caller.call(pet, { petId: 7 })).rejects.toMatchObject({ code: 'refused-url' });
    await expect(caller.call(own, {})).rejects.toMatchObject({ code: 'unreachable' });
  });
});
