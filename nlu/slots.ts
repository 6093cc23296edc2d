import type { CommandFrame, ParamFrame } from './frame.ts';
import { lexicon } from './lexicon.ts';
import { verbGroupsOf } from './grammar.ts';
import { cueStrength, matcherOf, type ParamMatcher } from './param-matcher.ts';
import { hasKnownPrefix, isIdLike, type Value } from './values.ts';
import { phraseAt, stemsMatch, wordInfo, type Token } from './words.ts';

// Filling a frame's parameters from an utterance's values. Values are given out from the most
// certain kind to the least: enum words and switches first, then ids whose pattern names their
// parameter, URLs, names and reasons, numbers by their units and cue words, and last the plain
// ids by the words around them ("to kvm-2", "server web-01").

export interface Filled {
  value: unknown;
  /** How sure the filling is: 1.5 for an id with its own prefix, down to 0.3 for a guess by position. */
  strength: number;
}

export interface Filling {
  params: Map<string, Filled>;
  /** Token indices the parameters took. */
  used: Set<number>;
  /** Values of the utterance that no parameter of this frame could take. */
  leftOver: Value[];
}

export interface SlotInput {
  tokens: readonly Token[];
  values: readonly Value[];
  /** Token span of the main verb, which is never a value. */
  verbSpan: [number, number] | null;
  /** The utterance as written, for values that span words the tokens do not keep (a cron schedule). */
  text: string;
  /** Prefixes of ids the grammar knows (mig, srv…): such an id belongs to its own parameter, never a generic one. */
  idPrefixes: ReadonlySet<string>;
  /** Stems the grammar's documentation uses: a word among them is a thing, not a name. */
  knownStems: ReadonlySet<string>;
  /** Stems of the grammar's resource nouns. */
  resourceStems: ReadonlySet<string>;
  /** The utterance answers a question about the frame's one parameter: any value of its type will do. */
  answering?: boolean;
}

const ARTICLES = new Set(['a', 'an', 'the']);
const normal = (text: string): string => text.toLowerCase().replace(/[^a-z0-9]/g, '');
/** Parts of speech a plain word can have and still be a name ("pipeline golden"), unlike "servers that". */
const PLAIN_VALUE_POS = new Set(['NOUN', 'PROPN', 'ADJ', 'X', 'NUM']);
/** Parts of speech of words that hold a sentence together and are never values. */
const FUNCTION_POS = new Set(['ADP', 'DET', 'AUX', 'CCONJ', 'SCONJ', 'PRON', 'PART', 'PUNCT']);
/** Words after which a setter's new value comes ("set the name to …"). */
const SETTING = new Set(['to', 'as', 'into', '=']);
const SKIPPED_BEFORE_VALUE = new Set(['the', 'a', 'an', 'it', 'number', 'no', 'id', '#', 'named', 'called']);

/**
 * The enum value the words at `start` say: written the same once case and separators go ("agent
 * based" → AGENT_BASED, "q cow 2" → qcow2), or the only value that shares their lemma ("converted"
 * → converting).
 */
function enumMatch(values: readonly string[], tokens: readonly Token[], start: number, length: number): string | null {
  const window = tokens.slice(start, start + length);
  if (window.some((token) => token.kind !== 'word')) return null;
  const said = normal(window.map((token) => token.lower).join(''));
  const exact = values.find((value) => normal(value) === said);
  if (exact || length > 1 || said.length <= 3) return exact ?? null;
  const lemma = window[0]!.lemma;
  const kin = values.filter((value) => /^[a-z]+$/i.test(value) && wordInfo(value.toLowerCase()).lemma === lemma);
  return kin.length === 1 ? kin[0]! : null;
}

/** How strongly the words around a span announce the parameter; nearer words count more. */
function nearbyCue(matcher: ParamMatcher, tokens: readonly Token[], start: number, end: number, reach: number, reachAfter = reach): number {
  let sum = 0;
  for (let i = Math.max(0, start - reach); i < Math.min(tokens.length, end + reachAfter); i++) {
    if (i >= start && i < end) continue;
    const distance = i < start ? start - i : i - end + 1;
    sum += cueStrength(matcher, tokens[i]!.stem) / distance;
    const preposition = lexicon.prepositions.get(tokens[i]!.lower);
    const adjacent = tokens.slice(i + 1, start).every((token) => ARTICLES.has(token.lower));
    if (preposition && adjacent && i < start && preposition.some((word) => matcher.cueWords.has(word))) sum += 0.6;
  }
  return Math.min(sum, 1.5);
}

class FrameFilling {
  readonly params = new Map<string, Filled>();
  readonly used = new Set<number>();
  private readonly matchers: ParamMatcher[];

  constructor(
    private readonly frame: CommandFrame,
    private readonly input: SlotInput,
  ) {
    this.matchers = frame.params.map(matcherOf);
  }

  private free(start: number, end: number): boolean {
    for (let i = start; i < end; i++) {
      if (this.used.has(i)) return false;
      if (this.input.verbSpan && i >= this.input.verbSpan[0] && i < this.input.verbSpan[1]) return false;
    }
    return true;
  }

  private take(param: ParamFrame, value: unknown, strength: number, start: number, end: number): void {
    this.params.set(param.name, { value, strength });
    for (let i = start; i < end; i++) this.used.add(i);
  }

  private open(predicate: (matcher: ParamMatcher) => boolean): ParamMatcher[] {
    return this.matchers.filter((matcher) => !this.params.has(matcher.param.name) && predicate(matcher));
  }

  enums(): void {
    const { tokens } = this.input;
    const candidates: { matcher: ParamMatcher; value: string; start: number; end: number; score: number }[] = [];
    for (const matcher of this.open((m) => Boolean(m.param.enum ?? m.param.items?.enum))) {
      const values = matcher.param.enum ?? matcher.param.items!.enum!;
      for (let start = 0; start < tokens.length; start++) {
        for (let length = 3; length >= 1; length--) {
          if (!this.free(start, start + length)) continue;
          const value = enumMatch(values, tokens, start, length);
          if (value) {
            candidates.push({ matcher, value, start, end: start + length, score: 1 + nearbyCue(matcher, tokens, start, start + length, 3) });
            break;
          }
        }
      }
    }
    candidates.sort((a, b) => b.score - a.score);
    for (const candidate of candidates) {
      const { param } = candidate.matcher;
      if (!this.free(candidate.start, candidate.end)) continue;
      if (param.type === 'array') {
        const previous = (this.params.get(param.name)?.value as string[] | undefined) ?? [];
        this.take(param, [...previous, candidate.value], 1, candidate.start, candidate.end);
      } else if (!this.params.has(param.name)) this.take(param, candidate.value, 1, candidate.start, candidate.end);
    }
  }

  /** "without a vm", "no vm": an enum that has a value for nothing gets it. */
  negatedEnums(): void {
    const { tokens } = this.input;
    for (const matcher of this.open((m) => Boolean(m.param.enum?.some((value) => lexicon.noneValues.has(value.toLowerCase()))))) {
      const none = matcher.param.enum!.find((value) => lexicon.noneValues.has(value.toLowerCase()))!;
      const cueAt = tokens.findIndex((token, i) => this.free(i, i + 1) && matcher.nameStems.some((stem) => stemsMatch(token.stem, stem)));
      if (cueAt < 0) continue;
      for (let i = Math.max(0, cueAt - 2); i < cueAt; i++) {
        if (lexicon.negation.some((words) => phraseAt(tokens, i, words)) && this.free(i, cueAt + 1)) {
          this.take(matcher.param, none, 1, i, cueAt + 1);
          break;
        }
      }
    }
  }

  switches(): void {
    const { tokens } = this.input;
    for (const matcher of this.open((m) => m.param.type === 'boolean')) {
      const cueAt = matcher.nameStems.map((stem) => tokens.findIndex((token, i) => this.free(i, i + 1) && stemsMatch(token.stem, stem)));
      if (cueAt.length === 0 || cueAt.some((at) => at < 0)) continue;
      const first = Math.min(...cueAt);
      const last = Math.max(...cueAt);
      if (last - first > 3) continue;
      let negatedAt = -1;
      for (let i = Math.max(0, first - 3); i < first; i++) if (lexicon.negation.some((words) => phraseAt(tokens, i, words))) negatedAt = i;
      const start = negatedAt >= 0 ? negatedAt : first;
      this.take(matcher.param, negatedAt < 0, 1, start, last + 1);
    }
  }

  objectLists(): void {
    const { tokens, values } = this.input;
    for (const matcher of this.open((m) => m.param.type === 'array' && Boolean(m.param.items?.properties))) {
      const properties = matcher.param.items!.properties!;
      const kind = properties.find((property) => property.enum);
      const target = properties.find((property) => property !== kind && property.type === 'string' && property.required) ?? properties.find((p) => p !== kind && p.type === 'string');
      if (!kind || !target) continue;
      const items: Record<string, string>[] = [];
      for (let i = 0; i < tokens.length; i++) {
        const said = kind.enum!.find((value) => normal(value) === normal(tokens[i]!.lower));
        if (!said || !this.free(i, i + 1)) continue;
        const value = values.find((v) => v.start > i && v.start <= i + 3 && ['url', 'path', 'quoted', 'id'].includes(v.kind) && this.free(v.start, v.end));
        if (!value) continue;
        items.push({ [kind.name]: said, [target.name]: value.raw });
        this.used.add(i);
        for (let t = value.start; t < value.end; t++) this.used.add(t);
      }
      if (items.length > 0) this.params.set(matcher.param.name, { value: items, strength: 1.2 });
    }
  }

  /** Plain words after an array parameter's name: "with tags prod and shop", "tagged puppy". */
  wordLists(): void {
    const { tokens } = this.input;
    for (const matcher of this.open((m) => m.param.type === 'array' && m.param.items?.type === 'string' && !m.param.items.enum && !m.itemPattern)) {
      const cueAt = tokens.findIndex((token, i) => this.free(i, i + 1) && matcher.nameStems.some((stem) => stemsMatch(token.stem, stem)));
      if (cueAt < 0) continue;
      const items: string[] = [];
      let at = cueAt + 1;
      while (at < tokens.length && ['it', 'them', 'the', 'as', 'with', ':'].includes(tokens[at]!.lower)) at++;
      let end = at;
      while (at < tokens.length && this.free(at, at + 1)) {
        const token = tokens[at]!;
        if (lexicon.conjunctions.has(token.lower) && items.length > 0) {
          at++;
          continue;
        }
        const plain = token.kind === 'quoted' || (token.kind === 'word' && !FUNCTION_POS.has(token.pos) && !lexicon.prepositions.has(token.lower));
        if (!plain) break;
        items.push(token.text);
        end = ++at;
      }
      if (items.length > 0) this.take(matcher.param, items, 1, cueAt, end);
    }
  }

  /** Values whose pattern spans several words, after the parameter's name ("on the schedule 0 3 * * 1"). */
  patternSpans(): void {
    const { tokens, text } = this.input;
    for (const matcher of this.open((m) => m.param.type === 'string' && m.pattern !== null && /\\s| /.test(m.param.pattern ?? ''))) {
      const cueAt = tokens.findIndex((token, i) => this.free(i, i + 1) && matcher.nameStems.some((stem) => stemsMatch(token.stem, stem)));
      if (cueAt < 0) continue;
      const from = tokens[cueAt]!.offset + tokens[cueAt]!.text.length;
      const rest = text.slice(from);
      const words = rest.trim().split(/\s+/).slice(0, 12);
      for (let count = words.length; count > 0; count--) {
        const candidate = words.slice(0, count).join(' ').replace(/[.,;!?]+$/, '');
        if (!matcher.pattern!.test(candidate)) continue;
        const start = from + rest.indexOf(words[0]!);
        const end = start + candidate.length;
        const covered = tokens.map((token, i) => (token.offset >= start && token.offset < end ? i : -1)).filter((i) => i >= 0);
        this.params.set(matcher.param.name, { value: candidate, strength: 1 });
        for (const i of [cueAt, ...covered]) this.used.add(i);
        break;
      }
    }
  }

  lists(): void {
    for (const list of this.input.values.filter((value) => value.kind === 'list')) {
      if (!this.free(list.start, list.end)) continue;
      const target = this.open((m) => m.param.type === 'array' && (m.param.items?.type ?? 'string') === 'string' && !m.param.items?.enum)
        .filter((m) => list.items!.every((item) => !m.itemPattern || m.itemPattern.test(item.raw)))
        .sort((a, b) => b.itemSpecific.length - a.itemSpecific.length)[0];
      if (target) this.take(target.param, list.items!.map((item) => item.raw), 1.2, list.start, list.end);
    }
  }

  specificIds(): void {
    for (const value of this.input.values.filter((v) => v.kind === 'id' || v.kind === 'name')) {
      if (!this.free(value.start, value.end)) continue;
      const said = value.raw.toLowerCase();
      const single = this.open((m) => m.param.type !== 'array' && m.specific.some((regex) => regex.test(said)))[0];
      const many = this.open((m) => m.param.type === 'array' && m.itemSpecific.some((regex) => regex.test(said)))[0];
      if (single) this.take(single.param, said, 1.5, value.start, value.end);
      else if (many) this.take(many.param, [said], 1.3, value.start, value.end);
    }
  }

  urls(): void {
    for (const value of this.input.values.filter((v) => v.kind === 'url' || v.kind === 'path')) {
      if (!this.free(value.start, value.end)) continue;
      const candidates = this.open((m) => m.param.type === 'string' && m.takesUrl && (!m.pattern || m.pattern.test(value.raw)));
      const best = candidates.sort((a, b) => nearbyCue(b, this.input.tokens, value.start, value.end, 2) - nearbyCue(a, this.input.tokens, value.start, value.end, 2))[0];
      if (best) this.take(best.param, value.raw, 1, value.start, value.end);
    }
  }

  reasons(): void {
    const text = this.input.values.find((value) => value.kind === 'text');
    const target = text && this.open((m) => m.takesReason)[0];
    if (text && target) this.take(target.param, text.raw, 1, text.start, text.end);
  }

  /** A name after "called" or "named" is a name unless it is a word of the API's own ("as an image"). */
  private isName(value: Value): boolean {
    if (value.kind !== 'name') return false;
    const token = this.input.tokens[value.start]!;
    return value.via !== 'as' || token.kind === 'quoted' || isIdLike(token) || !this.input.knownStems.has(token.stem);
  }

  names(): void {
    for (const value of this.input.values.filter((v) => this.isName(v))) {
      if (!this.free(value.start, value.end)) continue;
      const target = this.open((m) => m.takesName > 0 && (!m.pattern || m.pattern.test(value.raw))).sort((a, b) => b.takesName - a.takesName)[0];
      if (target) this.take(target.param, value.raw, 1, value.start, value.end);
    }
  }

  numbers(): void {
    const { tokens } = this.input;
    const pairs: { matcher: ParamMatcher; value: Value; amount: number; score: number }[] = [];
    for (const value of this.input.values.filter((v) => ['number', 'duration', 'rate', 'size'].includes(v.kind))) {
      for (const matcher of this.open((m) => m.param.type === 'integer' || m.param.type === 'number')) {
        const { unitFactor } = matcher;
        let amount = value.amount!;
        let score = 0;
        if (value.kind !== 'number') {
          if (!unitFactor || unitFactor.kind !== (value.kind === 'duration' ? 'time' : value.kind)) continue;
          amount = value.amount! / unitFactor.factor;
          score += 1.2;
        }
        const after = tokens[value.end];
        if (value.kind === 'number' && after) score += cueStrength(matcher, after.stem) * 1.2;
        score += nearbyCue(matcher, tokens, value.start, value.end, 3, 0) * 0.8;
        const before = this.previousWord(value.start);
        if (before && matcher.refersToStem && stemsMatch(before.stem, matcher.refersToStem)) score += 1.3;
        if (value.kind === 'number' && !after && matcher.param.required) score += 0.3;
        if (score < 0.5 && !this.input.answering) continue;
        pairs.push({ matcher, value, amount: matcher.param.type === 'integer' ? Math.round(amount) : Math.round(amount * 1000) / 1000, score });
      }
    }
    this.assign(pairs);
  }

  /** The last word before `at`, skipping articles and "number". */
  private previousWord(at: number): Token | undefined {
    let i = at - 1;
    while (i >= 0 && SKIPPED_BEFORE_VALUE.has(this.input.tokens[i]!.lower)) i--;
    return i >= 0 ? this.input.tokens[i] : undefined;
  }

  /** Does the utterance say this id belongs to another kind of thing (mig-3 is no server)? */
  private foreignId(matcher: ParamMatcher, raw: string): boolean {
    return hasKnownPrefix(raw, this.input.idPrefixes) && !matcher.specific.some((regex) => regex.test(raw.toLowerCase()));
  }

  /** The main verb changes something (set, change, rename), so "to" introduces a new value, not a target. */
  private setting(): boolean {
    const span = this.input.verbSpan;
    if (!span) return false;
    const words = this.input.tokens.slice(span[0], span[1]).map((token) => token.lemma);
    return lexicon.verbCues.has(words[0]!) || verbGroupsOf(words).some((group) => lexicon.verbGroups[group]!.actionClass === 'update');
  }

  /** A word in the cue position of "set <cue> … to <value>", or the cue a verb implies ("rename … to"). */
  private setterCue(matcher: ParamMatcher, at: number): number {
    const { tokens } = this.input;
    const before = tokens[at - 1];
    if (!before || !SETTING.has(before.lower) || !this.setting()) return 0;
    // The share of the parameter's name said before "to": "last name" is lastName's, not firstName's.
    const window = tokens.slice(Math.max(0, at - 6), at - 1);
    const named = matcher.nameStems.filter((stem) => window.some((token) => stemsMatch(token.stem, stem))).length;
    let best = named > 0 ? 0.5 + (0.5 * named) / matcher.nameStems.length : 0;
    if (matcher.refersToStem && window.some((token) => stemsMatch(token.stem, matcher.refersToStem!))) best = Math.max(best, 1);
    const verb = this.input.verbSpan ? tokens[this.input.verbSpan[0]]! : undefined;
    const implied = verb ? lexicon.verbCues.get(verb.lemma) : undefined;
    if (implied && matcher.nameStems.some((stem) => stemsMatch(stem, wordInfo(implied).stem))) best = Math.max(best, 1);
    return best;
  }

  /** Plain words that are values by position: after an id parameter's noun or a parameter's name ("pipeline golden", "os ubuntu"), or before a listed resource ("windows images"). */
  private plainWordValues(known: readonly Value[]): Value[] {
    const { tokens } = this.input;
    const head = this.frame.resource.split(' ').at(-1)!;
    const found: Value[] = [];
    tokens.forEach((token, i) => {
      if (token.kind !== 'word' || !PLAIN_VALUE_POS.has(token.pos) || known.some((v) => v.start === i) || lexicon.prepositions.has(token.lower)) return;
      if (this.matchers.some((m) => m.nameStems.some((stem) => stemsMatch(token.stem, stem)))) return;
      const before = this.previousWord(i);
      const announced =
        before !== undefined &&
        this.matchers.some((m) => (m.refersToStem && stemsMatch(before.stem, m.refersToStem)) || (m.param.type === 'string' && !m.param.enum && m.nameStems.some((stem) => stemsMatch(before.stem, stem))));
      // "windows images": a name before the listed noun filters the list; an adjective ("available isos") only describes it.
      const modifier = this.frame.actionClass === 'list' && token.pos !== 'ADJ' && stemsMatch(tokens[i + 1]?.stem ?? '', wordInfo(head).stem) && !this.input.resourceStems.has(token.stem);
      const newValue = SETTING.has(tokens[i - 1]?.lower ?? '') && this.setting();
      if (announced || modifier || newValue) found.push({ kind: 'id', start: i, end: i + 1, raw: token.text });
    });
    return found;
  }

  plainIds(): void {
    const { tokens } = this.input;
    const verbEnd = this.input.verbSpan?.[1] ?? 0;
    const resourceStems = this.frame.resource.split(' ').map((word) => wordInfo(word).stem);
    const head = resourceStems.at(-1)!;
    const pairs: { matcher: ParamMatcher; value: Value; amount: string; score: number }[] = [];
    const said = this.input.values.filter((v) => v.kind === 'id' || v.kind === 'quoted' || (v.kind === 'name' && this.isName(v)));
    for (const value of [...said, ...this.plainWordValues(said)]) {
      if (!this.free(value.start, value.end)) continue;
      for (const matcher of this.open((m) => (m.param.type === 'string' || (m.param.type === 'array' && m.param.items?.type === 'string')) && !m.param.enum && !m.param.items?.enum && !m.param.format?.startsWith('date'))) {
        const pattern = matcher.param.type === 'array' ? matcher.itemPattern : matcher.pattern;
        if (pattern && !pattern.test(value.raw)) continue;
        if (this.foreignId(matcher, value.raw)) continue;
        let score = (matcher.param.required ? 0.2 : 0) + (matcher.refersToStem ? 0.3 : 0);
        const before = this.previousWord(value.start);
        const directObject = before !== undefined && (before === tokens[verbEnd - 1] || resourceStems.some((stem) => stemsMatch(stem, before.stem)));
        if (before) {
          score += cueStrength(matcher, before.stem) * 1.2;
          const preposition = lexicon.prepositions.get(before.lower);
          if (preposition && preposition.some((word) => matcher.cueWords.has(word))) score += 0.7;
          if (directObject && matcher.refersToStem) score += 0.6;
          else if (directObject && matcher.param.required) score += 0.3;
          if (lexicon.prepositions.has(before.lower) && !preposition?.some((word) => matcher.cueWords.has(word)) && matcher.refersToStem && this.frame.resource.endsWith(matcher.param.refersTo ?? '')) score -= 0.3;
        } else if (matcher.refersToStem) score += 0.3;
        score += this.setterCue(matcher, value.start) * 1.2;
        if (matcher.takesName > 0) {
          // What a create names right after its verb is the new thing's name ("register shop-db from …").
          if (value.kind === 'name') score += matcher.takesName;
          else if (directObject && this.frame.actionClass === 'create') score += 0.9 * matcher.takesName;
          else score -= 0.4;
        }
        if (this.frame.actionClass === 'list' && !matcher.refersToStem && !pattern && stemsMatch(tokens[value.end]?.stem ?? '', head)) score += 0.5;
        if (score < 0.3 && !this.input.answering) continue;
        pairs.push({ matcher, value, amount: value.raw, score });
      }
    }
    this.assign(pairs);
  }

  private assign(pairs: { matcher: ParamMatcher; value: Value; amount: unknown; score: number }[]): void {
    pairs.sort((a, b) => b.score - a.score);
    for (const pair of pairs) {
      if (this.params.has(pair.matcher.param.name) || !this.free(pair.value.start, pair.value.end)) continue;
      const value = pair.matcher.param.type === 'array' ? [pair.amount] : pair.amount;
      this.take(pair.matcher.param, value, Math.min(1, 0.3 + pair.score / 2), pair.value.start, pair.value.end);
    }
  }

  leftOver(): Value[] {
    return this.input.values.filter((value) => value.kind !== 'list' && value.kind !== 'text' && this.free(value.start, value.end));
  }
}

/** The parameters of `frame` that the utterance gives, and what it gives that the frame cannot take. */
export function fillSlots(frame: CommandFrame, input: SlotInput): Filling {
  const filling = new FrameFilling(frame, input);
  filling.enums();
  filling.negatedEnums();
  filling.switches();
  filling.objectLists();
  filling.patternSpans();
  filling.lists();
  filling.wordLists();
  filling.specificIds();
  filling.urls();
  filling.reasons();
  filling.names();
  filling.numbers();
  filling.plainIds();
  return { params: filling.params, used: filling.used, leftOver: filling.leftOver() };
}
