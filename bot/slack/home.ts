import type { types } from '@slack/bolt';
import type { Grammar } from '../../nlu/frame.ts';
import { isJsonObject } from '../../api-catalog/json.ts';
import type { CatalogCaller } from '../catalog-caller.ts';
import { listFrameFor } from '../question-choices.ts';
import { endingOf } from '../record-endings.ts';
import { listIn } from '../result-text.ts';
import { escaped } from './message-text.ts';

// The App Home tab: the migrations still running, read through the catalog like any command.

const MAX_SHOWN = 20;

const text = (value: unknown): string => (typeof value === 'string' || typeof value === 'number' ? String(value) : '');

export async function homeView(grammar: Grammar, caller: CatalogCaller, conversation: string): Promise<types.HomeView> {
  const list = listFrameFor(grammar, 'migration');
  let lines: string[];
  try {
    const result = list ? await caller.call(list.operation, {}, conversation) : null;
    const items = result?.ok ? (listIn(result.body) ?? []) : null;
    if (items === null) lines = ['The migrations cannot be listed right now.'];
    else {
      const running = items.filter(isJsonObject).filter((item) => endingOf(item) === null);
      lines = running.length === 0 ? ['No migration is running.'] : running.slice(0, MAX_SHOWN).map((item) => `• ${[item.id, item.serverId, item.targetHost, item.status].map(text).filter(Boolean).join(' · ')}`);
    }
  } catch (error) {
    lines = [`The migrations cannot be listed: ${(error as Error).message}`];
  }
  return {
    type: 'home',
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: 'Running migrations' } },
      { type: 'section', text: { type: 'mrkdwn', text: escaped(lines.join('\n')), verbatim: true } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: 'Mention me in a channel, message me, or use /ferry. Say "help" for what I can do.' }] },
    ],
  };
}
