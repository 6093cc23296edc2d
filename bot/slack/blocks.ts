import type { types } from '@slack/bolt';
import type { BotReply } from '../conversations.ts';
import type { JobControl } from '../job-controls.ts';
import type { ProgressView } from '../progress-reporter.ts';
import { escaped } from './message-text.ts';

type KnownBlock = types.KnownBlock;
type Button = types.Button;

// Ferry's replies as Block Kit: the text in a section, and buttons for what the reply offers. The
// action ids below are what the interactivity listeners match on.

export const ACTIONS = {
  confirm: 'ferry_confirm',
  cancel: 'ferry_cancel',
  choose: 'ferry_choose',
  answer: 'ferry_answer',
  control: 'ferry_control',
} as const;

// Slack refuses a section text longer than 3000 characters.
const SECTION_LIMIT = 3000;

// A message holds at most 50 blocks; the buttons and the context take a few.
const MAX_SECTIONS = 45;

const section = (text: string): KnownBlock => ({ type: 'section', text: { type: 'mrkdwn', text, verbatim: true } });

/** The text in as many sections as it needs, cut between lines (the help of a large catalog is long). */
function sections(text: string): KnownBlock[] {
  const parts: string[] = [];
  let current = '';
  for (const line of escaped(text).split('\n')) {
    for (let at = 0; at === 0 || at < line.length; at += SECTION_LIMIT) {
      const piece = line.slice(at, at + SECTION_LIMIT);
      if (current && current.length + 1 + piece.length > SECTION_LIMIT) {
        parts.push(current);
        current = piece;
      } else current = current ? `${current}\n${piece}` : piece;
    }
  }
  if (current) parts.push(current);
  return parts.slice(0, MAX_SECTIONS).map(section);
}

function button(text: string, actionId: string, value: string, style?: 'primary' | 'danger'): Button {
  return { type: 'button', text: { type: 'plain_text', text: text.slice(0, 75), emoji: false }, action_id: actionId, value, ...(style ? { style } : {}) };
}

/** A control's button value: the command it proposes. */
export interface ControlValue {
  operationId: string;
  params: Record<string, unknown>;
  label: string;
}

function controlButtons(controls: readonly JobControl[]): Button[] {
  return controls.map((control) =>
    button(control.label, `${ACTIONS.control}_${control.label.toLowerCase()}`, JSON.stringify({ operationId: control.operationId, params: control.params, label: control.label } satisfies ControlValue), control.label === 'Cancel' ? 'danger' : undefined),
  );
}

/** A reply's blocks; `interpreted` (the operation and parameters) is shown under a confirmation. */
export function replyBlocks(reply: BotReply, interpreted?: string): KnownBlock[] {
  const blocks: KnownBlock[] = sections(reply.text);
  const controls = reply.controls;
  if (!controls) return blocks;
  if (controls.kind === 'confirm') {
    if (interpreted) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: escaped(interpreted).slice(0, SECTION_LIMIT), verbatim: true }] });
    blocks.push({ type: 'actions', elements: [button('Confirm', ACTIONS.confirm, 'yes', 'primary'), button('Cancel', ACTIONS.cancel, 'no')] });
  } else if (controls.kind === 'choose') {
    blocks.push({ type: 'actions', elements: controls.options.map((option, i) => button(option.label, `${ACTIONS.choose}_${i}`, option.operationId)) });
  } else if (controls.choices.length > 0) {
    blocks.push({ type: 'actions', elements: controls.choices.map((choice, i) => button(choice.label, `${ACTIONS.answer}_${i}`, choice.value)) });
  }
  return blocks;
}

/** What a message with buttons becomes once one was pressed: its text, and who pressed what. */
export function answeredBlocks(text: string, answer: string): KnownBlock[] {
  return [...sections(text), { type: 'context', elements: [{ type: 'mrkdwn', text: answer }] }];
}

export function progressBlocks(view: ProgressView): KnownBlock[] {
  const blocks: KnownBlock[] = sections(view.text);
  if (view.controls.length > 0) blocks.push({ type: 'actions', elements: controlButtons(view.controls) });
  return blocks;
}
