import type { ParamFrame } from './frame.ts';
import { lexicon } from './lexicon.ts';
import { identifierWords, stemsMatch, wordInfo } from './words.ts';

// How one parameter recognises its values and the words that announce it. Built once per
// parameter and kept, because every utterance asks the same questions of the same parameters.

export interface ParamMatcher {
  param: ParamFrame;
  pattern: RegExp | null;
  /** Alternatives of the pattern that start with a literal prefix (^mig-…): a match names this parameter. */
  specific: RegExp[];
  itemPattern: RegExp | null;
  itemSpecific: RegExp[];
  /** Stems of the parameter's name words (without prepositions): strong cues. */
  nameStems: string[];
  /** Stems of its description's content words: weak cues. */
  descriptionStems: string[];
  /** Name and description words, lower case, for the prepositions' cue lists. */
  cueWords: Set<string>;
  refersToStem: string | null;
  takesUrl: boolean;
  /** How much the parameter is the name of a thing: 1 for `name` or `username`, 0.5 for `firstName`, else 0. */
  takesName: number;
  takesReason: boolean;
  /** Base units per unit of the parameter (60 for minutes, 1e6 for mbps, 1e9 for gb). */
  unitFactor: { kind: 'time' | 'rate' | 'size'; factor: number } | null;
}

const NAME_PREPOSITIONS = new Set(['by', 'with', 'on', 'of', 'for', 'to', 'in', 'at', 'after', 'before', 'from', 'is', 'the', 'a']);
const URL_CUES = new Set(['url', 'uri', 'link', 'href', 'location', 'repository', 'repo', 'address', 'endpoint', 'git']);
const NAME_CUES = new Set(['name', 'title', 'label', 'alias']);
const REASON_CUES = new Set(['reason', 'why', 'comment', 'message', 'note', 'justification', 'cause']);

function compile(pattern: string | null): RegExp | null {
  if (!pattern) return null;
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return null;
  }
}

/** The alternatives of a pattern that begin with a literal word and a dash (^mig-, ^(srv-…|…)), with that word. */
export function prefixedAlternatives(pattern: string | null): { prefix: string; regex: RegExp }[] {
  if (!pattern) return [];
  const body = pattern.replace(/^\^/, '').replace(/\$$/, '');
  const inner = body.startsWith('(') && body.endsWith(')') ? body.slice(1, -1) : body;
  return inner.split('|').flatMap((alternative) => {
    const prefix = alternative.match(/^([a-z]{2,10})-/)?.[1];
    const regex = prefix ? compile(`^(?:${alternative})$`) : null;
    return prefix && regex ? [{ prefix, regex }] : [];
  });
}

const specificAlternatives = (pattern: string | null): RegExp[] => prefixedAlternatives(pattern).map((alternative) => alternative.regex);

function unitFactor(unit: string | null): ParamMatcher['unitFactor'] {
  if (!unit) return null;
  const time = lexicon.timeUnits.get(unit);
  if (time) return { kind: 'time', factor: time };
  const rate = lexicon.rateUnits.get(unit);
  if (rate) return { kind: 'rate', factor: rate };
  const size = lexicon.sizeUnits.get(unit);
  if (size) return { kind: 'size', factor: size };
  return null;
}

/** A word that names the thing itself rather than a part of its name: user in username, not first in firstName. */
const isThing = (word: string): boolean => !lexicon.nameParts.has(word);

const matchers = new WeakMap<ParamFrame, ParamMatcher>();

export function matcherOf(param: ParamFrame): ParamMatcher {
  let matcher = matchers.get(param);
  if (matcher) return matcher;
  // Glued compounds (username, hostname) are read as their words, so "name" is seen in them.
  const nameWords = identifierWords(param.name)
    .flatMap((word) => (word.length > 4 && word.endsWith('name') ? [word, word.slice(0, -4), 'name'] : [word]))
    .filter((word) => !NAME_PREPOSITIONS.has(word));
  const descriptionWords = param.cues.filter((cue) => !nameWords.includes(cue));
  const cueWords = new Set([...nameWords, ...descriptionWords]);
  const pattern = compile(param.pattern);
  matcher = {
    param,
    pattern,
    specific: specificAlternatives(param.pattern),
    itemPattern: compile(param.items?.pattern ?? null),
    itemSpecific: specificAlternatives(param.items?.pattern ?? null),
    nameStems: nameWords.map((word) => wordInfo(word).stem),
    descriptionStems: descriptionWords.map((word) => wordInfo(word).stem),
    cueWords,
    refersToStem: param.refersTo ? wordInfo(param.refersTo.split(' ').at(-1)!).stem : null,
    takesUrl:
      param.format === 'uri' || param.format === 'url' || nameWords.some((word) => URL_CUES.has(word) || word === 'source') ||
      /:\/\/|https?|nbd/.test(param.pattern ?? '') || descriptionWords.some((word) => URL_CUES.has(word)),
    takesName: param.type !== 'string' || !nameWords.some((word) => NAME_CUES.has(word)) ? 0 : nameWords.length === 1 || nameWords.every((word) => isThing(word) || NAME_CUES.has(word)) ? 1 : 0.5,
    takesReason: [...cueWords].some((word) => REASON_CUES.has(word)) && param.type === 'string',
    unitFactor: unitFactor(param.unit),
  };
  matchers.set(param, matcher);
  return matcher;
}

/** How strongly `stem` cues the parameter: 1 for its name, 0.5 for its description, else 0. */
export function cueStrength(matcher: ParamMatcher, stem: string): number {
  if (matcher.nameStems.some((cue) => stemsMatch(cue, stem))) return 1;
  if (matcher.refersToStem && stemsMatch(matcher.refersToStem, stem)) return 1;
  if (matcher.descriptionStems.some((cue) => stemsMatch(cue, stem))) return 0.5;
  return 0;
}
