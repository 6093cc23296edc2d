import winkNLP from 'wink-nlp';
import model from 'wink-eng-lite-web-model';

// Word-level linguistics: wink-nlp gives lemmas, stems and parts of speech. Results are cached per
// word, because a command vocabulary is small and the same words come back in every utterance.

const wink = winkNLP(model);
const its = wink.its;

export interface WordInfo {
  lemma: string;
  stem: string;
  pos: string;
}

const cache = new Map<string, WordInfo>();

/** Lemma, stem and part of speech of one lower-case word, read without its sentence. */
export function wordInfo(word: string): WordInfo {
  let info = cache.get(word);
  if (info) return info;
  if (/[^a-z']/.test(word)) {
    info = { lemma: word, stem: word, pos: /^\d+(\.\d+)?$/.test(word) ? 'NUM' : 'PROPN' };
  } else {
    const tokens = wink.readDoc(word).tokens();
    // wink's typings leave lemma and stem out of what `out` accepts, though the model provides both.
    const out = tokens.out.bind(tokens) as (as: unknown) => string[];
    const lemmas = out(its.lemma);
    const stems = out(its.stem);
    const tags = out(its.pos);
    info = lemmas.length === 1 ? { lemma: lemmas[0]!, stem: stems[0]!, pos: tags[0]! } : { lemma: word, stem: word, pos: 'X' };
    // Stem the lemma, so irregular forms meet their word (kept → keep).
    if (info.lemma !== word && /^[a-z]+$/.test(info.lemma)) info.stem = wordInfo(info.lemma).stem;
  }
  cache.set(word, info);
  return info;
}

/** True when two stems name the same word family (migrate/migration, verify/verification). */
export function stemsMatch(a: string, b: string): boolean {
  if (a === b) return true;
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  return short.length >= 5 && long.startsWith(short);
}

export type TokenKind = 'word' | 'url' | 'path' | 'quoted' | 'punct';

export interface Token {
  /** As written (quotes removed for quoted text). */
  text: string;
  lower: string;
  kind: TokenKind;
  lemma: string;
  stem: string;
  pos: string;
  /** Where the token starts in the utterance. */
  offset: number;
}

const TOKEN = new RegExp(
  [
    String.raw`(?<url>[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s,;"'<>]*[^\s,;"'<>.?!)])`,
    String.raw`(?<quoted>"[^"]*"|“[^”]*”|'[^'\s][^']*[^'\s]'(?=\s|$|[,.?!]))`,
    String.raw`(?<path>(?<![\w/])\/[^\s,;"']*[^\s,;"'.?!)])`,
    String.raw`(?<word>[A-Za-z0-9](?:[A-Za-z0-9._:@+'’\/-]*[A-Za-z0-9])?)`,
    String.raw`(?<punct>[,?!&])`,
  ].join('|'),
  'g',
);

function makeToken(text: string, kind: TokenKind, offset: number): Token {
  const lower = text.toLowerCase().replace(/’/g, "'");
  if (kind !== 'word') return { text, lower, kind, lemma: lower, stem: lower, pos: kind === 'punct' ? 'PUNCT' : 'X', offset };
  const info = wordInfo(lower);
  return { text, lower, kind, lemma: info.lemma, stem: info.stem, pos: info.pos, offset };
}

const CONTRACTIONS: Record<string, string[]> = {
  "don't": ['do', 'not'],
  "doesn't": ['does', 'not'],
  "didn't": ['did', 'not'],
  "can't": ['can', 'not'],
  "cannot": ['can', 'not'],
  "won't": ['will', 'not'],
  "isn't": ['is', 'not'],
  "aren't": ['are', 'not'],
  "shouldn't": ['should', 'not'],
  "what's": ['what', 'is'],
  "where's": ['where', 'is'],
  "how's": ['how', 'is'],
  "let's": ['let', 'us'],
  "it's": ['it', 'is'],
  "i'd": ['i', 'would'],
};

/** Splits an utterance into tokens, keeping URLs, paths, quoted text and ids such as web-01 whole. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  for (const match of text.matchAll(TOKEN)) {
    const groups = match.groups!;
    const at = match.index;
    if (groups.url) tokens.push(makeToken(groups.url, 'url', at));
    else if (groups.quoted) tokens.push(makeToken(groups.quoted.slice(1, -1), 'quoted', at));
    else if (groups.path) tokens.push(makeToken(groups.path, 'path', at));
    else if (groups.word) {
      const word = groups.word.replace(/’/g, "'");
      const expanded = CONTRACTIONS[word.toLowerCase()];
      if (expanded) for (const part of expanded) tokens.push(makeToken(part, 'word', at));
      else tokens.push(makeToken(word.replace(/'s$/i, ''), 'word', at));
    } else tokens.push(makeToken(groups.punct!, 'punct', at));
  }
  return tokens;
}

/**
 * The words of an identifier in any style: startMigration, StartReplication, get_pet_by_id,
 * droplets-create, oneClicks_list, getHTTPStatus.
 */
export function identifierWords(identifier: string): string[] {
  return identifier
    .replace(/\b([A-Z]{2,})s\b/g, (_, acronym: string) => ` ${acronym.toLowerCase()}s `)
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word.toLowerCase());
}

/** True when `words` occurs in `tokens` at `at`, comparing lower-case forms or lemmas. */
export function phraseAt(tokens: readonly Token[], at: number, words: readonly string[]): boolean {
  if (at + words.length > tokens.length) return false;
  return words.every((word, i) => tokens[at + i]!.lower === word || tokens[at + i]!.lemma === word);
}
