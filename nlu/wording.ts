import type { CommandFrame, Grammar, ParamFrame } from './frame.ts';
import { lexicon } from './lexicon.ts';
import { identifierWords } from './words.ts';

// What Ferry says in a conversation: questions, confirmations, choices. Plain short sentences with
// no markup, because a voice reads them aloud; a chat surface may format them its own way.

/** The plural of a noun phrase: its last word takes the ending. */
export function plural(noun: string): string {
  if (/(s|x|z|ch|sh)$/.test(noun)) return `${noun}es`;
  if (/[^aeiou]y$/.test(noun)) return `${noun.slice(0, -1)}ies`;
  return `${noun}s`;
}

export const capitalised = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);

/** "a", "a and b", "a, b and c" (or with "or"). */
function listed(items: readonly string[], conjunction: 'and' | 'or' = 'and'): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} ${conjunction} ${items.at(-1)}`;
}

const firstSentence = (text: string): string => (/^.*?[.!?](?=\s|$)/s.exec(text)?.[0] ?? `${text}.`).replace(/\s+/g, ' ');

/** What a parameter is called in a sentence: the resource it names, or its name as words (bandwidthMbps → bandwidth mbps). */
export function paramNoun(param: ParamFrame): string {
  return param.refersTo ?? identifierWords(param.name).join(' ');
}

export function enumOf(param: ParamFrame): string[] | null {
  return param.enum ?? param.items?.enum ?? null;
}

/** A value as it is read out: switches on and off, lists with commas, objects by their values. */
function spoken(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (Array.isArray(value)) return value.map(spoken).join(', ');
  if (typeof value === 'object' && value !== null) return Object.values(value).map(spoken).join(' ');
  return String(value);
}

/** True when the parameter is the id of the frame's own resource (migrationId of pauseMigration, importId of getImageImport). */
export function identifiesResource(frame: CommandFrame, param: ParamFrame): boolean {
  return param.refersTo !== null && (frame.resource === param.refersTo || frame.resource.endsWith(` ${param.refersTo}`));
}

/** The operation in words: "pause migration", "list servers". */
export function operationName(frame: CommandFrame): string {
  return `${frame.verb} ${frame.actionClass === 'list' ? plural(frame.resource) : frame.resource}`;
}

/** The operation's name, told apart from others of the grammar that share its verb and resource. */
export function operationLabel(grammar: Grammar, frame: CommandFrame): string {
  const namesakes = grammar.frames.filter((other) => operationName(other) === operationName(frame));
  return choiceLabels(namesakes)[namesakes.indexOf(frame)]!;
}

/** The command in words: "register server with name ftp-1 and source nbd://…", "pause migration mig-3". */
export function describeCommand(grammar: Grammar, frame: CommandFrame, params: Record<string, unknown>): string {
  const given = frame.params.filter((param) => params[param.name] !== undefined);
  const own = given.filter((param) => identifiesResource(frame, param));
  const related = given.filter((param) => param.refersTo !== null && !own.includes(param));
  const others = given.filter((param) => param.refersTo === null);
  const words = [operationLabel(grammar, frame)];
  for (const param of own) words.push(spoken(params[param.name]));
  for (const param of related) words.push('of', Array.isArray(params[param.name]) ? plural(param.refersTo!) : param.refersTo!, spoken(params[param.name]));
  if (others.length > 0) words.push('with', listed(others.map((param) => `${paramNoun(param)} ${spoken(params[param.name])}`)));
  return words.join(' ');
}

export function confirmationPrompt(grammar: Grammar, frame: CommandFrame, params: Record<string, unknown>): string {
  return `${capitalised(describeCommand(grammar, frame, params))}. Shall I go ahead?`;
}

export function yesOrNoAgain(prompt: string): string {
  return `Please answer yes or no. ${prompt}`;
}

/** One short question for one missing parameter. */
export function question(frame: CommandFrame, param: ParamFrame): string {
  if (param.refersTo) return `Which ${param.type === 'array' ? plural(param.refersTo) : param.refersTo}?`;
  const values = enumOf(param);
  if (values) return `Which ${paramNoun(param)}: ${listed(values, 'or')}?`;
  if (param.type === 'boolean') return `${capitalised(paramNoun(param))}, yes or no?`;
  return `What ${paramNoun(param)} for the ${frame.resource}?`;
}

/** The unit as a word in the plural when the lexicon knows that plural ("minutes"), else as it is ("mbps"). */
export function unitName(unit: string): string {
  return lexicon.unitWords.get(plural(unit)) === unit ? plural(unit) : unit;
}

/** What kind of value the parameter takes, in a sentence; null when the question already lists the values. */
function expectation(param: ParamFrame): string | null {
  if (enumOf(param) || param.type === 'boolean') return null;
  if (param.type === 'integer' || param.type === 'number') {
    const kind = param.type === 'integer' ? 'a whole number' : 'a number';
    return `It is ${kind}${param.unit ? ` of ${unitName(param.unit)}` : ''}.`;
  }
  if (param.type === 'array') return `Give one or more, separated by commas.${param.description ? ` ${firstSentence(param.description)}` : ''}`;
  if (param.description) return firstSentence(param.description);
  if (param.pattern) return `It must match the pattern ${param.pattern}.`;
  return null;
}

/** The question again, after a reply that held no value for it, saying what is expected. */
export function questionAgain(frame: CommandFrame, param: ParamFrame): string {
  const expected = expectation(param);
  return `Sorry, I did not get the ${paramNoun(param)} from that.${expected ? ` ${expected}` : ''} ${question(frame, param)}`;
}

/**
 * Names for operations offered side by side: verb and resource ("pause migration") when those
 * tell them apart, else their summaries, else their operationIds as words.
 */
export function choiceLabels(frames: readonly CommandFrame[]): string[] {
  const namings: ((frame: CommandFrame) => string)[] = [
    operationName,
    (frame) => (frame.operation.summary ? frame.operation.summary.charAt(0).toLowerCase() + frame.operation.summary.slice(1).replace(/\.$/, '') : frame.id),
    (frame) => identifierWords(frame.id).join(' '),
  ];
  for (const naming of namings) {
    const labels = frames.map(naming);
    if (new Set(labels).size === labels.length) return labels;
  }
  return frames.map((frame) => frame.id);
}

export function choicePrompt(labels: readonly string[]): string {
  return `Which do you mean: ${listed(labels, 'or')}?`;
}

export function pickAgain(prompt: string): string {
  return `Please pick one. ${prompt}`;
}

export function cancelledMessage(grammar: Grammar, frame: CommandFrame, params: Record<string, unknown>): string {
  return `Cancelled: ${describeCommand(grammar, frame, params)}.`;
}

export const CHOICE_CANCELLED = 'Cancelled.';

export const NOTHING_TO_CANCEL = 'There is nothing to cancel.';
export const NOTHING_TO_CONFIRM = 'There is nothing waiting for a yes or no.';
export const CHOICE_CLOSED = 'That choice is no longer open. Say again what you want to do.';

/** How many resources the reply to an utterance Ferry did not understand names. */
const RESOURCES_NAMED = 6;

/** A short reply to an utterance nothing fits: what Ferry can act on, with one example. */
export function notUnderstoodMessage(grammar: Grammar): string {
  const operations = new Map<string, number>();
  for (const frame of grammar.frames) operations.set(frame.resource, (operations.get(frame.resource) ?? 0) + 1);
  // The resources with the most operations say best what the catalog is about.
  const byUse = [...operations].sort((a, b) => b[1] - a[1]).map(([resource]) => resource);
  const resources = byUse.map(plural);
  const named = resources.length > RESOURCES_NAMED ? `${resources.slice(0, RESOURCES_NAMED).join(', ')} and more` : listed(resources);
  const lists = grammar.frames.filter((frame) => frame.actionClass === 'list' && frame.params.every((param) => !param.required));
  const example = byUse.map((resource) => lists.find((frame) => frame.resource === resource)).find((frame) => frame !== undefined);
  const hint = example ? ` For example: ${operationName(example)}.` : '';
  return resources.length > 0 ? `Sorry, I did not understand that. I can work with ${named}.${hint}` : 'Sorry, I did not understand that, and no operations are loaded.';
}
