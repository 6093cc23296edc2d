import type { CatalogOperation, JsonSchema, OperationParameter } from '../api-catalog/operation.ts';
import { changesState } from '../api-catalog/operation.ts';
import type { ActionClass, CommandFrame, FrameVocabulary, Grammar, ParamFrame } from './frame.ts';
import { lexicon } from './lexicon.ts';
import { prefixedAlternatives } from './param-matcher.ts';
import { identifierWords, wordInfo } from './words.ts';

// The compiler: every operation becomes a command frame (what it does, to what, with which
// parameters) and a vocabulary that the scorer compares utterances with. Nothing here knows any
// particular API; it reads operationIds, summaries, paths and schemas.


const DETERMINERS = new Set(['a', 'an', 'the', 'all', 'this', 'that', 'these', 'those', 'my', 'our', 'its', 'one', 'some', 'multiple', 'every', 'each', 'any', 'new', 'existing', 'given', 'specific', 'single', 'several', 'many']);
const PREPOSITIONS = new Set(['by', 'with', 'for', 'from', 'of', 'to', 'in', 'on', 'into', 'at', 'as', 'via', 'using', 'and', 'or']);
const VERSION_SEGMENT = /^(v\d+(\.\d+)*|api|rest)$/i;

export function verbGroupsOf(phrase: readonly string[]): number[] {
  const joined = phrase.join(' ');
  const found: number[] = [];
  lexicon.verbGroups.forEach((group, index) => {
    if (group.phrases.some((words) => words.join(' ') === joined)) found.push(index);
  });
  return found;
}

const isKnownVerb = (word: string): boolean => verbGroupsOf([word]).length > 0;

/** The verb that leads `words`: a lexicon phrase of two words ("power off"), or a known verb. */
function leadingVerb(words: readonly string[], allowTagged: boolean): string[] | null {
  const [first, second] = words;
  if (!first) return null;
  if (second && lexicon.particles.has(second) && verbGroupsOf([first, second]).length > 0) return [first, second];
  if (second && lexicon.particles.has(second) && allowTagged) return [wordInfo(first).lemma, second];
  const lemma = wordInfo(first).lemma;
  if (isKnownVerb(first)) return [first];
  if (isKnownVerb(lemma)) return [lemma];
  if (allowTagged && wordInfo(first).pos === 'VERB') return [lemma];
  return null;
}

function segmentsOf(path: string): { literal: string[]; words: string[]; param: boolean }[] {
  return path
    .split('/')
    .filter((segment) => segment && !VERSION_SEGMENT.test(segment))
    .map((segment) => {
      const param = segment.startsWith('{');
      const words = identifierWords(param ? segment.slice(1, -1) : segment);
      return { literal: param ? [] : words, words, param };
    });
}

/** The singular of a noun; the lemmatiser leaves unknown plurals (datacenters, ips) alone, so those lose their s here. */
function singular(word: string): string {
  if (!word.endsWith('s')) return word;
  const info = wordInfo(word);
  if (info.pos !== 'NOUN' && info.pos !== 'PROPN' && info.pos !== 'VERB') return word;
  if (info.lemma !== word) return info.lemma;
  return /[^su]s$/.test(word) && !/(ss|us|is)$/.test(word) && word.length > 2 ? word.slice(0, -1) : word;
}
const stemOf = (word: string): string => wordInfo(singular(word)).stem;

/** The noun phrase after the verb: determiners skipped, up to the first preposition. */
function nounPhrase(words: readonly string[]): string[] {
  const phrase: string[] = [];
  for (const word of words) {
    if (PREPOSITIONS.has(word)) {
      if (phrase.length > 0) break;
      continue;
    }
    if (DETERMINERS.has(word) && phrase.length === 0) continue;
    phrase.push(word);
  }
  return phrase;
}

function schemaType(schema: JsonSchema): string {
  const type = schema.type;
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) return (type as string[]).find((t) => t !== 'null') ?? 'string';
  for (const key of ['oneOf', 'anyOf', 'allOf']) {
    const options = schema[key];
    if (Array.isArray(options)) {
      const typed = (options as JsonSchema[]).map(schemaType).find((t) => t !== 'null' && t !== 'unknown');
      if (typed) return typed;
    }
  }
  if (schema.properties) return 'object';
  if (schema.enum) return 'string';
  return 'unknown';
}

function schemaEnum(schema: JsonSchema): string[] | null {
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[]).filter((v) => v !== null).map(String);
  for (const key of ['oneOf', 'anyOf', 'allOf']) {
    const options = schema[key];
    if (Array.isArray(options)) {
      const found = (options as JsonSchema[]).map(schemaEnum).find(Boolean);
      if (found) return found;
    }
  }
  return null;
}

function schemaString(schema: JsonSchema, key: string): string | null {
  if (typeof schema[key] === 'string') return schema[key] as string;
  for (const combiner of ['oneOf', 'anyOf', 'allOf']) {
    const options = schema[combiner];
    if (Array.isArray(options)) {
      const found = (options as JsonSchema[]).map((option) => schemaString(option, key)).find(Boolean);
      if (found) return found;
    }
  }
  return null;
}

/** Content words (nouns, verbs, adjectives, names) of a text, lower case. */
function contentWords(text: string | null): string[] {
  if (!text) return [];
  return identifierWords(text.replace(/`[^`]*`/g, ' ')).filter((word) => {
    const pos = wordInfo(word).pos;
    return (pos === 'NOUN' || pos === 'VERB' || pos === 'ADJ' || pos === 'PROPN') && word.length > 1;
  });
}

function unitOf(nameWords: readonly string[], description: string | null): string | null {
  for (const word of nameWords) {
    const unit = lexicon.unitWords.get(word);
    if (unit) return unit;
  }
  const described = (description ?? '').toLowerCase().match(/\b(?:in|of|as)\s+([a-z]+)/g) ?? [];
  for (const phrase of described) {
    const unit = lexicon.unitWords.get(phrase.split(/\s+/)[1]!);
    if (unit) return unit;
  }
  const leading = identifierWords(description ?? '')[0];
  return leading ? (lexicon.unitWords.get(leading) ?? null) : null;
}

/** The resource an id-like parameter names: serverId → server; /pets/{id} → pet. */
function referenceOf(nameWords: readonly string[], parameter: OperationParameter, path: string): string | null {
  const last = nameWords.at(-1);
  if (nameWords.length > 1 && (last === 'id' || last === 'ids' || last === 'uuid' || last === 'slug')) {
    return singular(nameWords.at(-2)!);
  }
  if (parameter.in !== 'path') return null;
  const segments = segmentsOf(path);
  const at = segments.findIndex((segment) => segment.param && segment.words.join('') === nameWords.join(''));
  const before = at > 0 ? segments[at - 1] : undefined;
  return before && !before.param ? singular(before.literal.at(-1)!) : null;
}

function compileParam(parameter: OperationParameter, path: string): ParamFrame {
  const schema = parameter.schema;
  const type = schemaType(schema);
  const nameWords = identifierWords(parameter.name);
  const description = parameter.description ?? schemaString(schema, 'description');
  const itemSchema = (schema.items ?? null) as JsonSchema | null;
  const cues = [...new Set([...nameWords.map(singular), ...contentWords(description).slice(0, 12).map(singular)])];
  return {
    name: parameter.name,
    in: parameter.in,
    required: parameter.required,
    type,
    format: schemaString(schema, 'format'),
    pattern: schemaString(schema, 'pattern'),
    enum: schemaEnum(schema),
    items: itemSchema
      ? { type: schemaType(itemSchema), pattern: schemaString(itemSchema, 'pattern'), enum: schemaEnum(itemSchema), properties: objectProperties(itemSchema, path) }
      : null,
    description,
    cues,
    refersTo: referenceOf(nameWords, parameter, path),
    unit: type === 'integer' || type === 'number' ? unitOf(nameWords, description) : null,
  };
}

function objectProperties(schema: JsonSchema, path: string): ParamFrame[] | null {
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  if (!properties) return null;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  return Object.entries(properties).map(([name, property]) =>
    compileParam({ name, in: 'body', required: required.has(name), description: (property.description as string | undefined) ?? null, schema: property }, path),
  );
}

function actionClassOf(operation: CatalogOperation, verb: readonly string[], lastIsParam: boolean, plural: boolean): ActionClass {
  if (operation.method === 'delete') return 'delete';
  const groups = verbGroupsOf(verb).map((index) => lexicon.verbGroups[index]!.actionClass);
  if (operation.method === 'get') {
    if (lastIsParam) return 'get';
    return groups.includes('list') || plural ? 'list' : 'get';
  }
  if (groups.includes('create') || groups.includes('update') || groups.includes('delete')) return groups[0]!;
  if (groups.length > 0) return 'custom';
  return (lexicon.methodVerbs[operation.method] as ActionClass | undefined) ?? 'custom';
}

function addStems(target: Map<string, number>, words: readonly string[], weight: number): void {
  for (const word of words) {
    if (!/[a-z]/.test(word)) continue;
    const stem = stemOf(word);
    target.set(stem, Math.max(target.get(stem) ?? 0, weight));
  }
}

function compileFrame(operation: CatalogOperation): { frame: CommandFrame; vocabulary: FrameVocabulary } {
  const id = operation.operationId ?? `${operation.method.toUpperCase()} ${operation.path}`;
  const idWords = operation.operationId ? identifierWords(operation.operationId) : [];
  const summaryWords = identifierWords(operation.summary ?? '');
  const segments = segmentsOf(operation.path);
  const lastSegment = segments.at(-1);
  const lastIsParam = lastSegment?.param ?? false;
  // A literal after a path parameter of a POST names an action (/migrations/{id}/pause), not a thing.
  const actionSegment = operation.method === 'post' && lastSegment && !lastSegment.param && segments.at(-2)?.param ? lastSegment.literal : [];
  const pathNouns = new Set(segments.filter((segment) => !segment.param && segment !== lastSegment).flatMap((segment) => segment.literal.map(singular)));
  if (actionSegment.length === 0 && lastSegment && !lastSegment.param) for (const word of lastSegment.literal) pathNouns.add(singular(word));

  const verbs: string[][] = [];
  const addVerb = (verb: string[] | null): void => {
    if (verb && !verbs.some((known) => known.join(' ') === verb.join(' '))) verbs.push(verb);
  };
  // A lexicon verb anywhere in the id (droplets_create); else a word tagged as a verb at its start, unless the path names it as a thing.
  let idVerbAt = idWords.findIndex((_, i) => leadingVerb(idWords.slice(i), false) !== null);
  if (idVerbAt < 0 && idWords.length > 1 && !pathNouns.has(singular(idWords[0]!)) && leadingVerb(idWords, true)) idVerbAt = 0;
  if (idVerbAt >= 0) addVerb(leadingVerb(idWords.slice(idVerbAt), idVerbAt === 0));
  // Summaries start with their verb, sometimes after a qualifier ("Soft-reboot a Server").
  const summaryVerbAt = [0, 1].find((i) => leadingVerb(summaryWords.slice(i), i === 0) !== null) ?? -1;
  const summaryVerb = summaryVerbAt >= 0 ? leadingVerb(summaryWords.slice(summaryVerbAt), summaryVerbAt === 0) : null;
  addVerb(summaryVerb);
  addVerb(leadingVerb(actionSegment, false));
  if (verbs.length === 0) addVerb([lexicon.methodVerbs[operation.method] ?? operation.method]);
  const verb = verbs[0]!;

  // The resource: the operationId's words without the verb, else the summary's noun phrase, else the path.
  const fromId = idVerbAt >= 0 ? [...idWords.slice(0, idVerbAt), ...idWords.slice(idVerbAt + verb.length)] : idWords;
  const summaryRest = summaryWords.slice(summaryVerb ? summaryVerbAt + summaryVerb.length : 0);
  const collectionPath = segments.filter((segment) => !segment.param && !(segment === lastSegment && actionSegment.length > 0));
  const fromPath = collectionPath.at(-1)?.literal ?? [];
  let resourceWords = nounPhrase(fromId);
  if (resourceWords.length === 0) resourceWords = nounPhrase(summaryRest);
  if (resourceWords.length === 0) resourceWords = fromPath;
  if (resourceWords.length === 0) resourceWords = ['item'];
  const plural = resourceWords.at(-1)!.endsWith('s') && singular(resourceWords.at(-1)!) !== resourceWords.at(-1);
  const resource = resourceWords.map(singular);

  const parents = new Set<string>();
  segments.forEach((segment, i) => {
    if (segment.param && i > 0 && !segments[i - 1]!.param && i < segments.length - 1) for (const word of segments[i - 1]!.literal) parents.add(singular(word));
  });
  for (const word of resource) parents.delete(word);

  const params = operation.parameters.filter((p) => p.in === 'path' || p.in === 'query' || p.in === 'body').map((p) => compileParam(p, operation.path));

  const textStems = new Map<string, number>();
  addStems(textStems, contentWords(operation.description), 0.4);
  addStems(textStems, segments.flatMap((segment) => segment.literal), 0.6);
  addStems(textStems, contentWords(operation.summary), 1);
  addStems(textStems, idWords.filter((word) => !PREPOSITIONS.has(word)), 1);

  const verbGroups = new Set(verbs.flatMap(verbGroupsOf));
  // Verbs in the third person in the description's first sentence say what the operation does.
  const firstSentence = (operation.description ?? '').split(/\.\s/)[0]!;
  const describedVerbs = identifierWords(firstSentence)
    .filter((word) => word.endsWith('s') && wordInfo(word).pos === 'VERB' && isKnownVerb(wordInfo(word).lemma))
    .map((word) => wordInfo(word).lemma);
  const frame: CommandFrame = {
    id,
    operation,
    verb: verb.join(' '),
    actionClass: actionClassOf(operation, verb, lastIsParam, plural || idWords[0] === 'list'),
    resource: resource.join(' '),
    params,
    changesState: changesState(operation),
  };
  return {
    frame,
    vocabulary: {
      verbs,
      describedVerbs,
      verbGroups,
      resourceStems: resource.map(stemOf),
      parentStems: [...parents].map(stemOf),
      textStems,
    },
  };
}

/** Compiles the operations of a catalog into the grammar the understanding works from. */
export function compileGrammar(operations: readonly CatalogOperation[]): Grammar {
  const frames: CommandFrame[] = [];
  const vocabulary = new Map<string, FrameVocabulary>();
  const prefixes = new Set<string>();
  for (const operation of operations) {
    const compiled = compileFrame(operation);
    if (vocabulary.has(compiled.frame.id)) continue;
    frames.push(compiled.frame);
    vocabulary.set(compiled.frame.id, compiled.vocabulary);
    for (const param of compiled.frame.params) {
      for (const { prefix } of [...prefixedAlternatives(param.pattern), ...prefixedAlternatives(param.items?.pattern ?? null)]) prefixes.add(prefix);
    }
  }
  const documentFrequency = new Map<string, number>();
  for (const entry of vocabulary.values()) for (const stem of entry.textStems.keys()) documentFrequency.set(stem, (documentFrequency.get(stem) ?? 0) + 1);
  const idf = new Map<string, number>();
  for (const [stem, count] of documentFrequency) idf.set(stem, Math.log(1 + frames.length / count));
  const phrases = new Map<string, string[]>();
  for (const group of lexicon.verbGroups) for (const words of group.phrases) phrases.set(words.join(' '), words);
  for (const entry of vocabulary.values()) for (const words of entry.verbs) phrases.set(words.join(' '), words);
  const verbPhrases = [...phrases.values()].sort((a, b) => b.length - a.length);
  const verbUse = new Map<string, number>();
  for (const entry of vocabulary.values()) for (const words of entry.verbs) verbUse.set(words.join(' '), (verbUse.get(words.join(' ')) ?? 0) + 1);
  const resourceStems = new Set([...vocabulary.values()].flatMap((entry) => [...entry.resourceStems, ...entry.parentStems]));
  const knownStems = new Set([...documentFrequency.keys(), ...resourceStems]);
  for (const frame of frames) for (const param of frame.params) for (const cue of param.cues) knownStems.add(wordInfo(cue).stem);
  return { frames, byId: new Map(frames.map((frame) => [frame.id, frame])), vocabulary, idf, idPrefixes: prefixes, verbPhrases, verbUse, resourceStems, knownStems };
}
