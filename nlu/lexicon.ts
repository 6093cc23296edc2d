import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { ActionClass } from './frame.ts';

// The lexicons are data (nlu/lexicon/*.yaml): adding a synonym is an edit there, not in code.

export interface VerbGroup {
  actionClass: ActionClass;
  /** Lemmas and phrases, each as its words. */
  phrases: string[][];
}

export interface Lexicon {
  verbGroups: VerbGroup[];
  particles: Set<string>;
  methodVerbs: Record<string, string>;
  filler: string[][];
  questionOpeners: Set<string>;
  collection: Set<string>;
  negation: string[][];
  naming: string[][];
  nameParts: Set<string>;
  reason: string[][];
  reference: string[][];
  prepositions: Map<string, string[]>;
  yes: Set<string>;
  no: Set<string>;
  conjunctions: Set<string>;
  /** Verb → the parameter word it changes (rename → name). */
  verbCues: Map<string, string>;
  noneValues: Set<string>;
  /** Seconds per time unit word. */
  timeUnits: Map<string, number>;
  frequency: Map<string, number>;
  fractions: Map<string, number>;
  /** Bytes per size unit and bits per second per rate unit. */
  sizeUnits: Map<string, number>;
  rateUnits: Map<string, number>;
  /** How a parameter's name or description names its unit → the unit's key above. */
  unitWords: Map<string, string>;
  /** Abbreviation → the words it stands for (os → operating system), both ways round. */
  abbreviations: Map<string, string[]>;
}

function readYaml(name: string): Record<string, unknown> {
  return parse(readFileSync(new URL(`./lexicon/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
}

const words = (phrase: string): string[] => phrase.toLowerCase().split(/\s+/).filter(Boolean);
const phrases = (list: unknown): string[][] => (list as string[]).map((item) => words(String(item)));
const numbers = (table: unknown): Map<string, number> => new Map(Object.entries(table as Record<string, number>));

function load(): Lexicon {
  const verbs = readYaml('verbs.yaml');
  const said = readYaml('phrases.yaml');
  const units = readYaml('units.yaml');
  const nouns = readYaml('nouns.yaml');
  return {
    verbGroups: (verbs.groups as { class: ActionClass; words: string[] }[]).map((group) => ({
      actionClass: group.class,
      phrases: phrases(group.words),
    })),
    particles: new Set(verbs.particles as string[]),
    methodVerbs: verbs.methods as Record<string, string>,
    filler: phrases(said.filler),
    questionOpeners: new Set(said.questionOpeners as string[]),
    collection: new Set((said.collection as string[]).map(String)),
    negation: phrases(said.negation),
    naming: phrases(said.naming),
    nameParts: new Set(said.nameParts as string[]),
    reason: phrases(said.reason),
    reference: phrases(said.reference),
    prepositions: new Map(Object.entries(said.prepositions as Record<string, string[]>)),
    yes: new Set((said.yes as unknown[]).map(String)),
    no: new Set((said.no as unknown[]).map(String)),
    conjunctions: new Set((said.conjunctions as string[]).map(String)),
    verbCues: new Map(Object.entries(said.verbCues as Record<string, string>)),
    noneValues: new Set((said.noneValues as unknown[]).map(String)),
    timeUnits: numbers(units.time),
    frequency: numbers(units.frequency),
    fractions: numbers(units.fractions),
    sizeUnits: numbers(units.size),
    rateUnits: numbers(units.rate),
    unitWords: new Map(Object.entries(units.unitWords as Record<string, string>)),
    abbreviations: new Map(Object.entries(nouns.abbreviations as Record<string, string>).map(([short, long]) => [short, words(long)])),
  };
}

export const lexicon: Lexicon = load();
