import type { CommandFrame, Grammar, ParamFrame } from '../nlu/frame.ts';
import type { CatalogCaller } from './catalog-caller.ts';
import { listIn } from './result-text.ts';

// Buttons for a question about a resource: when the catalog can list that resource with no
// parameters (the registered servers, for "Which server?"), the first few are offered.

export interface AnswerChoice {
  label: string;
  /** What picking it says, as if typed. */
  value: string;
}

const MAX_CHOICES = 10;

/** The operation that lists a resource without being told anything more. */
export function listFrameFor(grammar: Grammar, resource: string): CommandFrame | undefined {
  return grammar.frames.find((frame) => frame.actionClass === 'list' && frame.resource === resource && frame.params.every((param) => !param.required));
}

/** The value of an item that the parameter takes: its id, or its name, whichever matches the parameter's pattern. */
function valueOf(item: Record<string, unknown>, param: ParamFrame): string | null {
  const pattern = param.pattern ?? param.items?.pattern ?? null;
  const candidates = [item.id, item.name].filter((value): value is string => typeof value === 'string' && value !== '');
  if (pattern === null) return candidates[0] ?? null;
  const matcher = new RegExp(pattern);
  return candidates.find((value) => matcher.test(value)) ?? null;
}

/** Choices for the parameter: its enum values, or items of the matching list operation; empty when there are none. */
export async function choicesFor(grammar: Grammar, caller: CatalogCaller, param: ParamFrame, conversation: string): Promise<AnswerChoice[]> {
  const values = param.enum ?? param.items?.enum;
  if (values) return values.slice(0, MAX_CHOICES).map((value) => ({ label: value, value }));
  if (!param.refersTo) return [];
  const frame = listFrameFor(grammar, param.refersTo);
  if (!frame) return [];
  // The choices are a help, not a condition: a question without them is still a question.
  const result = await caller.call(frame.operation, {}, conversation).catch(() => null);
  const items = result?.ok ? listIn(result.body) : null;
  if (!items) return [];
  const choices: AnswerChoice[] = [];
  for (const item of items) {
    if (typeof item !== 'object' || item === null) continue;
    const record = item as Record<string, unknown>;
    const value = valueOf(record, param);
    if (value === null) continue;
    const name = typeof record.name === 'string' && record.name !== value ? record.name : null;
    choices.push({ label: name ? `${name} (${value})` : value, value });
    if (choices.length === MAX_CHOICES) break;
  }
  return choices;
}
