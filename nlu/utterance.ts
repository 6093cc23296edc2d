import nlp from 'compromise';
import { lexicon } from './lexicon.ts';
import { phraseAt, tokenize, type Token } from './words.ts';

// Turns raw text into the tokens the grammar reads: filler dropped, number words made numbers,
// and ids said aloud ("mig 42", "mig dash forty two") joined as they are written (mig-42).

const numberCache = new Map<string, number | null>();

/** The value of number words such as "eight" or "twenty five" (compromise reads them). */
function numberWords(words: string): number | null {
  let value = numberCache.get(words);
  if (value === undefined) {
    const found = nlp(words).numbers().get() as unknown[];
    value = typeof found[0] === 'number' ? found[0] : null;
    numberCache.set(words, value);
  }
  return value;
}

const isNumberWord = (token: Token): boolean => token.kind === 'word' && token.pos === 'NUM' && /^[a-z-]+$/.test(token.lower);
export const isNumber = (token: Token | undefined): boolean => token !== undefined && token.kind === 'word' && /^\d+(\.\d+)?$/.test(token.lower);

function numberToken(text: string, value: number, offset: number): Token {
  const lower = String(value);
  return { text, lower, kind: 'word', lemma: lower, stem: lower, pos: 'NUM', offset };
}

function joinNumberWords(tokens: Token[]): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (!isNumberWord(tokens[i]!)) {
      out.push(tokens[i]!);
      continue;
    }
    let end = i + 1;
    while (end < tokens.length && (isNumberWord(tokens[end]!) || (tokens[end]!.lower === 'and' && isNumberWord(tokens[end + 1] ?? tokens[end]!) && tokens[end + 1]?.lower !== 'and'))) end++;
    const span = tokens.slice(i, end).map((token) => token.text).join(' ');
    const value = numberWords(span);
    if (value === null) out.push(...tokens.slice(i, end));
    else out.push(numberToken(span, value, tokens[i]!.offset));
    i = end - 1;
  }
  return out;
}

const DASH = new Set(['dash', 'hyphen', 'minus', '-']);

function joinSpokenIds(tokens: Token[], idPrefixes: ReadonlySet<string>): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const dashed = DASH.has(tokens[i + 1]?.lower ?? '') && tokens[i + 2] !== undefined;
    const next = tokens[i + (dashed ? 2 : 1)];
    const spokenPrefix = idPrefixes.has(token.lower) && next !== undefined && (isNumber(next) || (dashed && next.kind === 'word'));
    const spokenDash = dashed && token.kind === 'word' && next!.kind === 'word';
    if (spokenPrefix || spokenDash) {
      const text = `${token.text}-${next!.text.replace(/\s+/g, '')}`;
      const lower = `${token.lower}-${next!.lower}`;
      out.push({ text: isNumber(next) ? `${token.text}-${next!.lower}` : text, lower, kind: 'word', lemma: lower, stem: lower, pos: 'PROPN', offset: token.offset });
      i += dashed ? 2 : 1;
    } else out.push(token);
  }
  return out;
}

function dropFiller(tokens: Token[]): Token[] {
  const phrases = [...lexicon.filler].sort((a, b) => b.length - a.length);
  const out: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const phrase = phrases.find((words) => phraseAt(tokens, i, words));
    if (phrase) i += phrase.length - 1;
    else out.push(tokens[i]!);
  }
  return out;
}

/** The tokens of an utterance, ready for the grammar. */
export function prepare(text: string, idPrefixes: ReadonlySet<string>): Token[] {
  return joinSpokenIds(joinNumberWords(dropFiller(tokenize(text))), idPrefixes);
}
