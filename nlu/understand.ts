import type { CommandFrame, Grammar, ParamFrame } from './frame.ts';
import { verbGroupsOf } from './grammar.ts';
import type { Interpretation, UnderstandingContext } from './interpretation.ts';
import { lexicon } from './lexicon.ts';
import { cueStrength, matcherOf } from './param-matcher.ts';
import { fillSlots, type Filling } from './slots.ts';
import { prepare } from './utterance.ts';
import { findValues, hasKnownPrefix, type Value } from './values.ts';
import { phraseAt, stemsMatch, wordInfo, type Token } from './words.ts';

// The understanding: every frame is scored against the utterance — its verb, its resource noun,
// the values it can take and the words its documentation shares with the utterance — and the
// best frame's parameters are what the utterance said.

/** A frame scores this much before it is taken for a match at all. */
const MIN_SCORE = 3;

interface Verb {
  span: [number, number];
  words: string[];
  groups: number[];
}

interface Analysis {
  text: string;
  tokens: Token[];
  values: Value[];
  verb: Verb | null;
  /** Stem of each token, and the stems of what an abbreviation stands for. */
  stems: { stem: string; at: number }[];
  collection: boolean;
  references: number[];
}

const SHOW = verbGroupsOf(['show']);

function mainVerb(grammar: Grammar, tokens: readonly Token[]): Verb | null {
  const opener = tokens[0];
  if (opener && lexicon.questionOpeners.has(opener.lower) && !grammar.verbPhrases.some((phrase) => phraseAt(tokens, 0, phrase))) {
    return { span: [0, 1], words: ['show'], groups: SHOW };
  }
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i]!.kind !== 'word' || /\d/.test(tokens[i]!.lower)) continue;
    // "servers replicating", "imports being converted": a participle after the start describes, it does not command.
    if (i > 0 && /(ing|ed)$/.test(tokens[i]!.lower) && tokens[i]!.lower !== tokens[i]!.lemma) continue;
    const words = grammar.verbPhrases.find((phrase) => phraseAt(tokens, i, phrase));
    if (words) return { span: [i, i + words.length], words, groups: verbGroupsOf(words) };
  }
  return null;
}

function analyse(grammar: Grammar, text: string): Analysis {
  const tokens = prepare(text, grammar.idPrefixes);
  const stems: Analysis['stems'] = [];
  tokens.forEach((token, at) => {
    if (token.kind !== 'word') return;
    stems.push({ stem: token.stem, at });
    for (const word of lexicon.abbreviations.get(token.lower) ?? []) stems.push({ stem: wordInfo(word).stem, at });
  });
  const references: number[] = [];
  tokens.forEach((_, i) => {
    if (lexicon.reference.some((words) => phraseAt(tokens, i, words))) references.push(i);
  });
  return {
    text,
    tokens,
    values: findValues(tokens, text),
    verb: mainVerb(grammar, tokens),
    stems,
    collection: tokens.some((token) => lexicon.collection.has(token.lower)),
    references,
  };
}

interface Scored {
  frame: CommandFrame;
  score: number;
  filling: Filling;
  params: Record<string, unknown>;
  missing: string[];
}

function isSpecific(grammar: Grammar, value: Value): boolean {
  if (value.kind === 'url' || value.kind === 'path') return true;
  return value.kind === 'id' && hasKnownPrefix(value.raw, grammar.idPrefixes);
}

const QUALIFYING = new Set(['of', 'for', 'from', 'in', 'on', 'with', 'to']);

const LEFT_OVER_COST: Partial<Record<Value['kind'], number>> = { id: 0.7, number: 0.5, duration: 0.5, size: 0.5, rate: 0.5, name: 0.3, quoted: 0.3 };

function verbScore(grammar: Grammar, frame: CommandFrame, analysis: Analysis): number {
  const vocabulary = grammar.vocabulary.get(frame.id)!;
  const { verb } = analysis;
  if (!verb) return 0;
  const said = verb.words.join(' ');
  const lemma = verb.words.map((word) => wordInfo(word).lemma).join(' ');
  const own = vocabulary.verbs.map((words) => words.join(' ')).find((words) => words === said || words === lemma);
  // A verb only one operation uses says more than one that many share.
  if (own) return 2.8 + 0.6 / (grammar.verbUse.get(own) ?? 1);
  if (verb.groups.some((group) => vocabulary.verbGroups.has(group)) || vocabulary.describedVerbs.includes(lemma)) return 2.4;
  const classes = verb.groups.map((group) => lexicon.verbGroups[group]!.actionClass);
  // "delete it" for an operation that deregisters: the same kind of action in other words.
  if (frame.actionClass !== 'custom' && frame.actionClass !== 'get' && frame.actionClass !== 'list' && classes.includes(frame.actionClass)) return 2.4;
  if (classes.some((c) => c === 'get' || c === 'list') && (frame.actionClass === 'get' || frame.actionClass === 'list')) return 2.2;
  return 0;
}

/** Resource evidence: the head noun said, its modifiers, an id that names it, a verb of the same family. */
function resourceScore(grammar: Grammar, scored: Scored, analysis: Analysis, fromContext: boolean, context: UnderstandingContext | undefined): number {
  const { frame, filling } = scored;
  const vocabulary = grammar.vocabulary.get(frame.id)!;
  const stems = vocabulary.resourceStems;
  const head = stems.at(-1)!;
  const verbSpan = analysis.verb?.span ?? [0, 0];
  const inVerb = (at: number): boolean => at >= verbSpan[0] && at < verbSpan[1];
  const said = analysis.stems.filter((entry) => !filling.used.has(entry.at));
  let score = 0;
  // A verb of the head's family ("migrating", "migrated") tells less than the noun itself; a
  // plural such as "builds" is tagged as a verb out of context, and is a noun here.
  const nounLike = (at: number): boolean => {
    const token = analysis.tokens[at]!;
    return token.pos !== 'VERB' || token.lower === token.lemma || token.lower.endsWith('s');
  };
  const headAt = said.find((entry) => !inVerb(entry.at) && nounLike(entry.at) && stemsMatch(entry.stem, head));
  if (headAt) {
    score += 2.5;
    const token = analysis.tokens[headAt.at]!;
    // "replications of server wiki-1": a noun after "of" qualifies what is asked for, it is not it.
    let before = headAt.at - 1;
    while (before >= 0 && ['a', 'an', 'the', 'this', 'that', 'its', 'my'].includes(analysis.tokens[before]!.lower)) before--;
    if (analysis.verb && before >= 0 && QUALIFYING.has(analysis.tokens[before]!.lower) && before > verbSpan[1]) score -= 0.6;
    const plural = token.lower !== token.lemma && token.lower.endsWith('s');
    if (plural && frame.actionClass === 'get') score -= 1;
    if (!plural && frame.actionClass === 'list' && !analysis.collection) score -= 0.3;
  } else if (said.some((entry) => stemsMatch(entry.stem, head) || stemsMatch(analysis.tokens[entry.at]!.lemma, head))) {
    score += 1.2;
  } else {
    const named = frame.params.some((param) => {
      const filled = scored.filling.params.get(param.name);
      return filled && filled.strength >= 1.5 && param.refersTo !== null && stemsMatch(wordInfo(param.refersTo.split(' ').at(-1)!).stem, head);
    });
    if (named) score += 1.5;
    else if (fromContext) score += 1.5 + recency(frame, context);
    else if (stems.length > 2 && stems.slice(0, -1).every((modifier) => said.some((entry) => stemsMatch(entry.stem, modifier)))) score += 1.5;
  }
  // Modifiers tell "image import" from "import" when a noun was said; an id or "it" names the resource whole.
  for (const modifier of stems.slice(0, -1)) {
    if (said.some((entry) => !inVerb(entry.at) && stemsMatch(entry.stem, modifier))) score += 0.6;
    else if (headAt) score -= 0.3;
  }
  for (const parent of vocabulary.parentStems) if (said.some((entry) => stemsMatch(entry.stem, parent))) score += 0.5;
  if (analysis.collection && frame.actionClass === 'list') score += 0.4;
  return score;
}

/** Words the frame's documentation shares with the utterance, weighted by how rare they are among frames. */
function overlapScore(grammar: Grammar, frame: CommandFrame, analysis: Analysis, filling: Filling): number {
  const vocabulary = grammar.vocabulary.get(frame.id)!;
  const text = vocabulary.textStems;
  // The verb and the resource have had their say; the other words are what tells similar frames apart.
  const seen = new Set<string>(vocabulary.resourceStems);
  const span = analysis.verb?.span ?? [0, 0];
  let score = 0;
  for (const { stem, at } of analysis.stems) {
    if (filling.used.has(at) || (at >= span[0] && at < span[1]) || seen.has(stem)) continue;
    seen.add(stem);
    const weight = text.get(stem);
    if (weight) score += weight * (grammar.idf.get(stem) ?? 0) * 0.35;
  }
  return Math.min(score, 1.5);
}

/** Nouns said that nothing of the frame mentions ("attach volume…" to a frame about networks). */
function unexplainedNouns(grammar: Grammar, frame: CommandFrame, analysis: Analysis, filling: Filling): number {
  const vocabulary = grammar.vocabulary.get(frame.id)!;
  const known = (stem: string): boolean =>
    vocabulary.textStems.has(stem) ||
    vocabulary.resourceStems.includes(stem) ||
    vocabulary.parentStems.includes(stem) ||
    frame.params.some((param) => cueStrength(matcherOf(param), stem) > 0);
  let cost = 0;
  analysis.tokens.forEach((token, at) => {
    if (token.kind === 'word' && token.pos === 'NOUN' && !filling.used.has(at) && grammar.knownStems.has(token.stem) && !known(token.stem)) cost += 0.3;
  });
  return Math.min(cost, 1.2);
}

function secondaryVerbScore(grammar: Grammar, frame: CommandFrame, analysis: Analysis, filling: Filling): number {
  const verbs = grammar.vocabulary.get(frame.id)!.verbs.filter((words) => words.length === 1).map((words) => words[0]!);
  const span = analysis.verb?.span ?? [0, 0];
  const found = analysis.tokens.some((token, at) => (at < span[0] || at >= span[1]) && !filling.used.has(at) && verbs.includes(token.lemma));
  return found ? 0.8 : 0;
}

/** Up to 0.8 more for the resource mentioned last, so a bare "it" means the latest thing talked about. */
function recency(frame: CommandFrame, context: UnderstandingContext | undefined): number {
  const order = Object.keys(context?.lastResources ?? {});
  const rank = Math.max(...frame.params.map((param) => (param.refersTo ? order.indexOf(param.refersTo) : -1)));
  return rank < 0 ? 0 : (0.8 * (rank + 1)) / order.length;
}

/** Fills required ids that the utterance leaves to "it" or "that migration" from the conversation. */
function resolveReferences(frame: CommandFrame, analysis: Analysis, params: Record<string, unknown>, context: UnderstandingContext | undefined): boolean {
  const last = context?.lastResources;
  if (!last || analysis.references.length === 0) return false;
  const named = analysis.references.map((at) => analysis.tokens[at + 1]).filter((token): token is Token => token !== undefined);
  let resolved = false;
  for (const param of frame.params) {
    if (!param.required || param.refersTo === null || params[param.name] !== undefined) continue;
    const id = last[param.refersTo];
    if (id === undefined) continue;
    const nounGiven = named.find((token) => Object.keys(last).some((resource) => stemsMatch(wordInfo(resource).stem, token.stem)));
    if (nounGiven && !stemsMatch(nounGiven.stem, wordInfo(param.refersTo).stem)) continue;
    const typed = (param.type === 'integer' || param.type === 'number') && /^\d+(\.\d+)?$/.test(id) ? Number(id) : id;
    params[param.name] = param.type === 'array' ? [typed] : typed;
    resolved = true;
  }
  return resolved;
}

function scoreFrame(grammar: Grammar, frame: CommandFrame, analysis: Analysis, context: UnderstandingContext | undefined): Scored {
  const filling = fillSlots(frame, {
    tokens: analysis.tokens,
    values: analysis.values,
    verbSpan: analysis.verb?.span ?? null,
    text: analysis.text,
    idPrefixes: grammar.idPrefixes,
    knownStems: grammar.knownStems,
    resourceStems: grammar.resourceStems,
  });
  const params: Record<string, unknown> = {};
  for (const param of frame.params) {
    const filled = filling.params.get(param.name);
    if (filled) params[param.name] = filled.value;
  }
  // "it" stands for the conversation's resource only when the verb says what to do with it.
  const verb = verbScore(grammar, frame, analysis);
  const fromContext = verb >= 2.4 && resolveReferences(frame, analysis, params, context);
  const missing = frame.params.filter((param) => param.required && params[param.name] === undefined).map((param) => param.name);
  const scored: Scored = { frame, score: 0, filling, params, missing };
  let score = verb + resourceScore(grammar, scored, analysis, fromContext, context);
  for (const filled of filling.params.values()) score += 0.6 * filled.strength;
  for (const value of filling.leftOver) score -= isSpecific(grammar, value) ? 1.5 : (LEFT_OVER_COST[value.kind] ?? 0);
  score -= 0.15 * missing.length;
  if (frame.actionClass === 'get' && missing.length > 0) score -= 0.6;
  score += overlapScore(grammar, frame, analysis, filling) + secondaryVerbScore(grammar, frame, analysis, filling);
  score -= unexplainedNouns(grammar, frame, analysis, filling);
  scored.score = score;
  return scored;
}

const round = (value: number): number => Math.round(value * 1000) / 1000;
/** How well the best frame fits at all: its score on a logistic curve (4 → 0.5, 7 → 0.88). */
const fitOf = (score: number): number => 1 / (1 + Math.exp(-(score - 4) / 1.5));
/**
 * An alternative's confidence falls with its distance below the best score, not with its own score
 * on the curve, which flattens near the top: two frames 0.3 apart are close (within 0.05) wherever
 * they sit, two frames a whole value apart are not.
 */
const alternativeConfidence = (best: number, score: number): number => fitOf(best) * Math.exp(-(best - score) / 5);

export interface UnderstandOptions {
  /** Read the utterance as this operation only (after the user chose it from alternatives). */
  operationId?: string;
}

/** What `text` asks for in terms of the grammar's operations. */
export function understand(grammar: Grammar, text: string, context?: UnderstandingContext, options: UnderstandOptions = {}): Interpretation {
  const analysis = analyse(grammar, text);
  const frames = options.operationId ? [grammar.byId.get(options.operationId)].filter((frame): frame is CommandFrame => frame !== undefined) : grammar.frames;
  const ranked = frames.map((frame) => scoreFrame(grammar, frame, analysis, context)).sort((a, b) => b.score - a.score);
  const best = ranked[0];
  if (!best || (!options.operationId && best.score < MIN_SCORE)) return { operationId: null, params: {}, missing: [], confidence: best ? round(fitOf(best.score)) : 0, alternatives: [] };
  return {
    operationId: best.frame.id,
    params: best.params,
    missing: best.missing,
    confidence: round(fitOf(best.score)),
    alternatives: ranked
      .slice(1, 4)
      .filter((other) => other.score >= MIN_SCORE)
      .map((other) => ({ operationId: other.frame.id, confidence: round(alternativeConfidence(best.score, other.score)) })),
  };
}

/**
 * The value `text` gives for one parameter when it answers a question about it ("web-01", "eight",
 * "every half hour", "no"), typed as the parameter's schema says; undefined when it gives none.
 */
export function extractValue(grammar: Grammar, param: ParamFrame, text: string): unknown {
  const single: CommandFrame = {
    id: 'answer',
    operation: { operationId: 'answer', method: 'get', path: '/', summary: null, description: null, tags: [], parameters: [], requestBody: null, responses: [], serverUrl: null, source: { file: '', title: '', version: '' } },
    verb: 'answer',
    actionClass: 'custom',
    resource: param.refersTo ?? param.name,
    params: [param],
    changesState: false,
  };
  const tokens = prepare(text, grammar.idPrefixes);
  const words = tokens.map((token) => token.lower);
  if (param.type === 'boolean' && words.length <= 3) {
    if (words.some((word) => lexicon.no.has(word))) return false;
    if (words.some((word) => lexicon.yes.has(word))) return true;
  }
  const values = findValues(tokens, text);
  const filled = fillSlots(single, {
    tokens,
    values,
    verbSpan: null,
    text,
    idPrefixes: grammar.idPrefixes,
    knownStems: grammar.knownStems,
    resourceStems: grammar.resourceStems,
    answering: true,
  }).params.get(param.name);
  if (filled) return filled.value;
  const whole = text.trim();
  if (param.type === 'string' && !param.enum && whole && (!param.pattern || new RegExp(param.pattern, 'u').test(whole))) return whole;
  if (param.type === 'array' && values.some((value) => value.kind === 'list')) return values.find((value) => value.kind === 'list')!.items!.map((item) => item.raw);
  return undefined;
}
