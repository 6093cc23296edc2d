import { paramsEqual } from './evaluation.ts';
import type { CommandFrame, Grammar, ParamFrame } from './frame.ts';
import { lexicon } from './lexicon.ts';
import { matcherOf, prefixedAlternatives } from './param-matcher.ts';
import { understand } from './understand.ts';
import { enumOf, identifiesResource, operationName, paramNoun, plural, unitName } from './wording.ts';
import { identifierWords, wordInfo } from './words.ts';

// Example utterances built from the command frames alone, for the help reply: the operation's verb
// and resource, and a plausible value for each required parameter, chosen from its pattern,
// format, enum, type and unit. Nothing here knows a particular API.

/** One example: what to say, and the parameters saying it gives. */
export interface ExampleCommand {
  utterance: string;
  params: Record<string, unknown>;
}

/** The last word of a noun phrase, which a made-up value is named after ("image pipeline" → pipeline). */
const headOf = (noun: string): string => noun.split(' ').at(-1)!;

/** The URL scheme a pattern asks for (`^(nbd(\+unix)?://.+|/.+)$` → nbd, `https?://` → https), or null. */
function schemeOf(pattern: string | null): string | null {
  const at = pattern?.indexOf('://') ?? -1;
  if (!pattern || at < 0) return null;
  const before = pattern.slice(0, at).replace(/\([^()]*\)\?$/, '').replace(/\?$/, '');
  return /([a-z][a-z0-9]*)$/.exec(before)?.[1] ?? null;
}

/** Values written as a schema `format` says; a second parameter of the same format gets the next ("from … to …"). */
const FORMATTED: Record<string, string[]> = {
  'date-time': ['2025-01-31T12:00:00Z', '2025-01-31T13:00:00Z'],
  date: ['2025-01-31', '2025-02-01'],
  time: ['12:00:00', '13:00:00'],
  email: ['ops@example.com', 'dev@example.com'],
  uuid: ['3f2b8c1e-5d4a-4e6b-9c7d-1a2b3c4d5e6f', '7a1d2e3f-4b5c-4d6e-8f90-a1b2c3d4e5f6'],
  ipv4: ['192.0.2.10', '192.0.2.11'],
  ipv6: ['2001:db8::10', '2001:db8::11'],
  hostname: ['host.example.com', 'host2.example.com'],
};

/** Ids numbered from here: the operation's own resource gets the first, resources it names others. */
const OWN_NUMBER = 42;
const OTHER_NUMBER = 7;

/**
 * A plausible string for a parameter, or for an item of it: an id with its pattern's prefix
 * (mig-1), a value of its format, a URL named after `slug`, or a name made of `noun` (my-server),
 * whichever its pattern accepts.
 */
function stringValue(param: ParamFrame, noun: string, slug: string, options: { item?: boolean; used?: ReadonlySet<unknown> } = {}): string {
  const matcher = matcherOf(param);
  const pattern = options.item ? (param.items?.pattern ?? null) : param.pattern;
  const regex = options.item ? matcher.itemPattern : matcher.pattern;
  const prefixed = prefixedAlternatives(pattern)[0];
  if (prefixed) return `${prefixed.prefix}-1`;
  // A description that says the value is an ISO 8601 time is as good as the format saying so.
  const format = options.item ? null : (param.format ?? (/\biso[ -]?8601\b/i.test(param.description ?? '') ? 'date-time' : null));
  const formatted = format ? FORMATTED[format] : undefined;
  if (formatted) return formatted.find((value) => !options.used?.has(value)) ?? formatted[0]!;
  const candidates = matcher.takesUrl
    ? [...[schemeOf(pattern), 'https'].filter((scheme) => scheme !== null).map((scheme) => `${scheme}://example.com/${slug}`), `/${slug}`]
    : [`my-${noun}`, `${noun}-1`, `${noun}1`, noun];
  return candidates.find((candidate) => !regex || regex.test(candidate)) ?? candidates[0]!;
}

/** The preposition that best announces the parameter ("from" a source, "to" a target, "every" an interval), or null. */
function prepositionFor(param: ParamFrame): string | null {
  const names = identifierWords(param.name);
  let best: { word: string; rank: number } | null = null;
  for (const [word, cues] of lexicon.prepositions) {
    const rank = Math.min(...names.map((name) => cues.indexOf(name)).filter((index) => index >= 0));
    if (Number.isFinite(rank) && (!best || rank < best.rank)) best = { word, rank };
  }
  return best?.word ?? null;
}

/**
 * How one required parameter is said. A value that belongs to a noun of the sentence (the
 * operation's resource, or a resource it names) goes right after that noun where the wording
 * says it ("for a floating ip" → "for floating ip 7"), else it is added as `alone` says.
 */
interface Phrase {
  param: ParamFrame;
  value: unknown;
  noun: string[] | null;
  spoken: string;
  alone: string;
}

/** The noun for the resource a path parameter names, as the path says it (/floating_ips/{id} → floating ip). */
function resourceNoun(frame: CommandFrame, param: ParamFrame): string {
  const segments = frame.operation.path.split('/');
  const at = segments.indexOf(`{${param.name}}`);
  const words = at > 0 ? identifierWords(segments[at - 1]!) : [];
  const last = words.at(-1);
  return last && param.refersTo && (last === param.refersTo || last === plural(param.refersTo)) ? [...words.slice(0, -1), param.refersTo].join(' ') : param.refersTo!;
}

interface Made {
  slug: string;
  /** The next number for an id of another resource. */
  number: number;
  used: Set<unknown>;
  /** Whether a parameter has been introduced by "with" already, so that the next is not. */
  withSaid: boolean;
}

function phraseFor(frame: CommandFrame, param: ParamFrame, made: Made): Phrase {
  const { slug } = made;
  const own = identifiesResource(frame, param);
  const resource = frame.actionClass === 'list' ? plural(frame.resource) : frame.resource;
  const said = (value: unknown, spoken: string, noun: string | null, alone = spoken): Phrase => ({ param, value, noun: noun?.split(' ') ?? null, spoken, alone });
  const values = enumOf(param);
  const number = param.type === 'integer' || param.type === 'number';
  if (param.refersTo !== null && param.type !== 'array') {
    const value = number ? (own ? OWN_NUMBER : made.number++) : stringValue(param, headOf(param.refersTo), slug);
    if (own) return said(value, String(value), resource);
    const noun = resourceNoun(frame, param);
    return said(value, String(value), noun, `${frame.actionClass === 'list' ? 'for' : 'of'} ${noun} ${value}`);
  }
  if (number) {
    const value = !param.unit ? 4 : lexicon.timeUnits.has(param.unit) ? 30 : lexicon.rateUnits.has(param.unit) ? 100 : 4;
    const preposition = prepositionFor(param);
    const spoken = `${value} ${param.unit ? unitName(param.unit) : paramNoun(param)}`;
    return said(value, spoken, null, preposition ? `${preposition} ${spoken}` : spoken);
  }
  if (param.type === 'boolean') return said(true, `with ${paramNoun(param)}`, null);
  if (param.type === 'array') {
    const items = param.items;
    const kind = items?.properties?.find((property) => property.enum);
    const target = items?.properties?.find((property) => property !== kind && property.type === 'string' && property.required);
    if (kind && target) {
      // A list of objects is said one object at a time: its kind, then its value ("git https://…").
      const item = { [kind.name]: kind.enum![0]!, [target.name]: stringValue(target, headOf(frame.resource), slug) };
      return said([item], '', null, `with ${identifierWords(param.name).join(' ').replace(/s$/, '')} ${kind.enum![0]} ${item[target.name]}`);
    }
    if (values) return said([values[0]!], values[0]!.replace(/_/g, ' '), null);
    if (param.refersTo && prefixedAlternatives(items?.pattern ?? null).length > 0) {
      const noun = plural(param.refersTo);
      const first = stringValue(param, param.refersTo, slug, { item: true });
      const second = first.replace(/1$/, '2');
      return said([first, second], `${first} and ${second}`, noun, `of ${noun} ${first} and ${second}`);
    }
    // Plain words are read as the list after its last name word ("with tags …"); a URL only when quoted.
    const item = param.refersTo ?? identifierWords(param.name).at(-1)!.replace(/s$/, '');
    const value = stringValue(param, item, slug, { item: true });
    return said([value], '', null, `with ${plural(item)} ${value.includes('://') ? `'${value}'` : value}`);
  }
  const introduced = (words: string): string => {
    if (made.withSaid) return words;
    made.withSaid = true;
    return `with ${words}`;
  };
  if (values) return said(values[0]!, '', null, introduced(`${paramNoun(param)} ${values[0]!.replace(/_/g, ' ')}`));
  const value = stringValue(param, headOf(matcherOf(param).takesName > 0 ? frame.resource : paramNoun(param)), slug, { used: made.used });
  made.used.add(value);
  // What a create makes is named right after it ("register server my-server"); anything else is "named" so.
  if (matcherOf(param).takesName > 0) return said(value, frame.actionClass === 'create' ? value : `named ${value}`, resource);
  const preposition = prepositionFor(param);
  return said(value, value, null, preposition ? `${preposition} ${value}` : introduced(`${paramNoun(param)} ${value}`));
}

const ARTICLES = new Set(['a', 'an', 'the']);
const NOUNS = new Set(['NOUN', 'PROPN']);

/**
 * `words` with `spoken` after the noun phrase `noun` (its article dropped), or null when the words
 * do not say the noun as a phrase of its own ("floating ip" in "change floating ip protection" is not).
 */
function placed(words: readonly string[], noun: readonly string[], spoken: string): string[] | null {
  const last = noun.at(-1)!;
  for (let at = 0; at + noun.length <= words.length; at++) {
    const window = words.slice(at, at + noun.length);
    const same = window.every((word, i) => (i < noun.length - 1 ? word === noun[i] : word === last || word === plural(last)));
    const next = words[at + noun.length];
    if (!same || (next !== undefined && NOUNS.has(wordInfo(next).pos))) continue;
    const before = at > 0 && ARTICLES.has(words[at - 1]!) ? at - 1 : at;
    return [...words.slice(0, before), ...window, ...(spoken ? spoken.split(' ') : []), ...words.slice(at + noun.length)];
  }
  return null;
}

/** The example said with `head` as its verb phrase: each parameter after its noun where `head` names it, the rest after. */
function worded(head: readonly string[], phrases: readonly Phrase[]): string {
  let words = [...head];
  const rest: string[] = [];
  for (const phrase of phrases) {
    const inserted = phrase.noun ? placed(words, phrase.noun, phrase.spoken) : null;
    if (inserted) words = inserted;
    else rest.push(phrase.alone);
  }
  return [...words, ...rest].filter(Boolean).join(' ');
}

/** The words of an operation's summary, lower case, without its closing full stop. */
const summaryWords = (frame: CommandFrame): string[] =>
  (frame.operation.summary ?? '').toLowerCase().replace(/[.!]+$/, '').split(/\s+/).filter(Boolean);

/**
 * Ways to say the operation, the plainest first: its verb and resource ("pause migration"), then
 * its operationId as words, which tell apart operations that share verb and resource, then its
 * summary ("change reverse dns entry for a primary ip"), then the verb with the resource's last
 * word, then the verb with the path's words.
 */
export function exampleCommands(frame: CommandFrame): ExampleCommand[] {
  const required = frame.params.filter((param) => param.required);
  // A URL made up for a new thing names it after the thing (nbd://example.com/my-server).
  const named = required.find((param) => param.type === 'string' && param.refersTo === null && !enumOf(param) && matcherOf(param).takesName > 0);
  const slug = named ? stringValue(named, headOf(frame.resource), headOf(frame.resource)) : headOf(frame.resource);
  const made: Made = { slug, number: OTHER_NUMBER, used: new Set(), withSaid: false };
  const phrases = required.map((param) => phraseFor(frame, param, made));
  const params = Object.fromEntries(phrases.map((phrase) => [phrase.param.name, phrase.value]));
  const name = operationName(frame).split(' ');
  const heads = [
    name,
    frame.operation.operationId ? identifierWords(frame.operation.operationId) : [],
    summaryWords(frame),
    // The verb and the resource's head noun alone, when its other words cue a parameter of their own.
    [...frame.verb.split(' '), name.at(-1)!],
    // The verb and the path's words, when the resource is a word that many paths end in (/books/search).
    [...frame.verb.split(' '), ...frame.operation.path.split('/').filter((segment) => segment && !segment.startsWith('{')).flatMap(identifierWords)],
  ];
  const utterances = [...new Set(heads.filter((head) => head.length > 0).map((head) => worded(head, phrases)))];
  return utterances.map((utterance) => ({ utterance, params }));
}

/** True when `example` is understood as its frame, with the parameters it gives and nothing missing. */
export function roundTrips(grammar: Grammar, frame: CommandFrame, example: ExampleCommand): boolean {
  const got = understand(grammar, example.utterance);
  return got.operationId === frame.id && got.missing.length === 0 && paramsEqual(example.params, got.params);
}

/** How near the top of the understanding of `example` its frame comes: 0 as the operation meant, then its place among the alternatives. */
function rankOf(grammar: Grammar, frame: CommandFrame, example: ExampleCommand): number {
  const got = understand(grammar, example.utterance);
  if (got.operationId === frame.id) return 0;
  const at = got.alternatives.findIndex((alternative) => alternative.operationId === frame.id);
  return at < 0 ? Infinity : at + 1;
}

/**
 * The first way of saying the operation that is understood back as it with its parameters; when
 * none is, the one that brings the operation nearest the top (an operation whose documentation
 * another's covers is then offered as a choice), else the plainest.
 */
export function exampleCommand(grammar: Grammar, frame: CommandFrame): ExampleCommand {
  const candidates = exampleCommands(frame);
  const understood = candidates.find((candidate) => roundTrips(grammar, frame, candidate));
  if (understood) return understood;
  const ranks = candidates.map((candidate) => rankOf(grammar, frame, candidate));
  return candidates[ranks.indexOf(Math.min(...ranks))]!;
}

/** One natural example of what to say for the operation, with a plausible value for each required parameter. */
export function exampleUtterance(grammar: Grammar, frame: CommandFrame): string {
  return exampleCommand(grammar, frame).utterance;
}
