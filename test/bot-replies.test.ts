import { readFileSync } from 'node:fs';
import { describe, expect, it, beforeAll } from 'vitest';
import { parse } from 'yaml';
import { SLACK_EVENTS_PATH } from '../bot/slack/slack-bot.ts';
import { ConfigError, readConfig } from '../cli/config.ts';
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

describe('long replies in Slack', () => {
  it('are cut between lines into sections Slack accepts, all of the text kept', () => {
    const text = Array.from({ length: 200 }, (_, i) => `line ${i} of the help, long enough to need several sections`).join('\n');
    const blocks = replyBlocks({ text }) as { type: string; text: { text: string } }[];
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    expect(blocks.every((block) => block.type === 'section' && block.text.text.length <= 3000)).toBe(true);
    expect(blocks.map((block) => block.text.text).join('\n')).toBe(text);
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

describe('the Slack app', () => {
  it('asks in its manifest for the events, scopes and URLs the bot uses', () => {
    const manifest = parse(readFileSync(new URL('../manifest.yml', import.meta.url), 'utf8')) as {
      features: { slash_commands: { command: string; url: string }[]; app_home: { home_tab_enabled: boolean } };
      oauth_config: { scopes: { bot: string[] } };
      settings: { event_subscriptions: { request_url: string; bot_events: string[] }; interactivity: { is_enabled: boolean; request_url: string } };
    };
    expect(manifest.settings.event_subscriptions.bot_events.sort()).toEqual(['app_home_opened', 'app_mention', 'message.channels', 'message.groups', 'message.im']);
    expect(manifest.oauth_config.scopes.bot.sort()).toEqual(['app_mentions:read', 'channels:history', 'chat:write', 'commands', 'groups:history', 'im:history', 'reactions:write', 'usergroups:read']);
    const urls = [manifest.settings.event_subscriptions.request_url, manifest.settings.interactivity.request_url, ...manifest.features.slash_commands.map((command) => command.url)];
    expect(urls.every((url) => new URL(url).pathname === SLACK_EVENTS_PATH)).toBe(true);
    expect(manifest.features.slash_commands.map((command) => command.command)).toEqual(['/ferry']);
    expect(manifest.features.app_home.home_tab_enabled).toBe(true);
  });

  it('needs a way to verify Slack besides the bot token, and says which', () => {
    expect(() => readConfig({ SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(ConfigError);
    expect(() => readConfig({ SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(/SLACK_SIGNING_SECRET .* or SLACK_APP_TOKEN/);
    expect(() => readConfig({ SLACK_SIGNING_SECRET: 's' })).toThrow(/SLACK_BOT_TOKEN is not set/);
    expect(() => readConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's', SLACK_API_URL: 'ftp://x' })).toThrow(/SLACK_API_URL must be an http/);
    expect(readConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' }).slack).toEqual({ botToken: 'xoxb-1', appToken: 'xapp-1' });
    expect(readConfig({}).slack).toBeNull();
  });
});
