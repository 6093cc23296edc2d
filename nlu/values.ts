import { lexicon } from './lexicon.ts';
import { isNumber } from './utterance.ts';
import { phraseAt, type Token } from './words.ts';

// The values an utterance holds, before anyone decides which parameter they belong to: URLs,
// paths, quoted text, numbers with their units, durations, ids, lists of ids, a name after
// "called", free text after "because".

export type ValueKind = 'url' | 'path' | 'quoted' | 'number' | 'duration' | 'size' | 'rate' | 'id' | 'list' | 'name' | 'text';

export interface Value {
  kind: ValueKind;
  /** Token span [start, end). */
  start: number;
  end: number;
  /** The value as said (for text, the rest of the utterance). */
  raw: string;
  /** For numbers: the number said; for durations, sizes and rates: in seconds, bytes, bits per second. */
  amount?: number;
  /** For lists: the items. */
  items?: Value[];
  /** For names: the word that introduced it (called, named, as…). */
  via?: string;
}

const DETERMINER = new Set(['a', 'an', 'the', 'one', 'per', 'every', 'each']);

/** An id-like word: letters with digits, dashes, dots or underscores (web-01, kvm-a, ubuntu-24.04), or an address (10.0.0.0/16). */
export function isIdLike(token: Token): boolean {
  if (token.kind !== 'word' || isNumber(token)) return false;
  const named = /[a-z]/i.test(token.text) && /[-_.\d:@/]/.test(token.text);
  const numbered = /^\d[\d.:/-]*\d$/.test(token.text) && /[.:/]/.test(token.text);
  return named || numbered;
}

/** True when the id starts with a prefix that an id pattern of the grammar declares (mig-3 when ^mig-… exists). */
export function hasKnownPrefix(raw: string, prefixes: ReadonlySet<string>): boolean {
  const prefix = raw.toLowerCase().match(/^([a-z]{2,10})-/)?.[1];
  return prefix !== undefined && prefixes.has(prefix);
}

function unitAmount(table: ReadonlyMap<string, number>, token: Token | undefined): number | undefined {
  if (!token) return undefined;
  return table.get(token.lower) ?? table.get(token.lemma) ?? (token.lower.endsWith('s') ? table.get(token.lower.slice(0, -1)) : undefined);
}

/** Durations without a number: "half an hour", "every hour", "an hour", "hourly". */
function wordDuration(tokens: readonly Token[], at: number): { end: number; seconds: number } | null {
  const token = tokens[at]!;
  const frequency = lexicon.frequency.get(token.lower);
  if (frequency) return { end: at + 1, seconds: frequency };
  const fraction = lexicon.fractions.get(token.lower);
  if (fraction) {
    let next = at + 1;
    if (['a', 'an', 'of'].includes(tokens[next]?.lower ?? '')) next++;
    if (['a', 'an'].includes(tokens[next]?.lower ?? '')) next++;
    const unit = unitAmount(lexicon.timeUnits, tokens[next]);
    if (unit && tokens[next]!.lower.length > 1) return { end: next + 1, seconds: fraction * unit };
  }
  if (DETERMINER.has(token.lower)) {
    const unit = unitAmount(lexicon.timeUnits, tokens[at + 1]);
    if (unit && tokens[at + 1]!.lower.length > 2) return { end: at + 2, seconds: unit };
  }
  return null;
}

function numberValue(tokens: readonly Token[], at: number): Value {
  const token = tokens[at]!;
  const amount = Number(token.lower);
  const next = tokens[at + 1];
  const span = (kind: ValueKind, factor: number): Value => ({ kind, start: at, end: at + 2, raw: `${token.text} ${next!.text}`, amount: amount * factor });
  const seconds = next && next.lower.length > 1 ? unitAmount(lexicon.timeUnits, next) : undefined;
  if (seconds) return span('duration', seconds);
  const rate = unitAmount(lexicon.rateUnits, next);
  if (rate) return span('rate', rate);
  const bytes = next && next.lower.length > 1 ? unitAmount(lexicon.sizeUnits, next) : undefined;
  if (bytes) return span('size', bytes);
  return { kind: 'number', start: at, end: at + 1, raw: token.lower, amount };
}

function after(tokens: readonly Token[], at: number, phrases: readonly string[][]): number | null {
  const phrase = [...phrases].sort((a, b) => b.length - a.length).find((words) => phraseAt(tokens, at, words));
  return phrase ? at + phrase.length : null;
}

/** The values of an utterance in order; a list also lists its items. */
export function findValues(tokens: readonly Token[], text: string): Value[] {
  const values: Value[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const reasonAt = after(tokens, i, lexicon.reason);
    if (reasonAt !== null && reasonAt < tokens.length && token.lower !== 'as') {
      const rest = text.slice(tokens[reasonAt]!.offset).trim();
      if (rest) values.push({ kind: 'text', start: reasonAt, end: tokens.length, raw: rest.replace(/[.!]+$/, '') });
      break;
    }
    const namingAt = after(tokens, i, lexicon.naming);
    if (namingAt !== null) {
      let at = namingAt;
      while (['a', 'an', 'the', 'it'].includes(tokens[at]?.lower ?? '')) at++;
      const named = tokens[at];
      const functionWord = named !== undefined && (lexicon.prepositions.has(named.lower) || ['PART', 'ADP', 'DET', 'PRON', 'AUX', 'CCONJ'].includes(named.pos));
      if (named && !functionWord && (named.kind === 'word' || named.kind === 'quoted') && !isNumber(named)) {
        values.push({ kind: 'name', start: at, end: at + 1, raw: named.text, via: tokens.slice(i, namingAt).map((t) => t.lower).join(' ') });
      }
    }
    if (token.kind === 'url') values.push({ kind: 'url', start: i, end: i + 1, raw: token.text });
    else if (token.kind === 'path') values.push({ kind: 'path', start: i, end: i + 1, raw: token.text });
    else if (token.kind === 'quoted') values.push({ kind: 'quoted', start: i, end: i + 1, raw: token.text });
    else if (isNumber(token)) {
      const value = numberValue(tokens, i);
      values.push(value);
      i = value.end - 1;
    } else if (isIdLike(token)) values.push({ kind: 'id', start: i, end: i + 1, raw: token.text });
    else {
      const duration = wordDuration(tokens, i);
      if (duration) {
        values.push({ kind: 'duration', start: i, end: duration.end, raw: tokens.slice(i, duration.end).map((t) => t.text).join(' '), amount: duration.seconds });
        i = duration.end - 1;
      }
    }
  }
  return [...values, ...lists(tokens, values)];
}

/** Runs of two or more ids joined by commas and "and": web-01, web-02 and db-01. */
function lists(tokens: readonly Token[], values: readonly Value[]): Value[] {
  const ids = values.filter((value) => value.kind === 'id');
  const found: Value[] = [];
  let run: Value[] = [];
  const flush = (): void => {
    if (run.length >= 2) found.push({ kind: 'list', start: run[0]!.start, end: run.at(-1)!.end, raw: run.map((item) => item.raw).join(', '), items: run });
    run = [];
  };
  for (const id of ids) {
    const previous = run.at(-1);
    const between = previous ? tokens.slice(previous.end, id.start) : [];
    if (previous && between.length > 0 && between.length <= 2 && between.every((token) => lexicon.conjunctions.has(token.lower))) run.push(id);
    else {
      flush();
      run = [id];
    }
  }
  flush();
  return found;
}
