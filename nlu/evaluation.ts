// Scoring of the NLU against labelled utterances, by the rule DESIGN.md ("Evaluation data") gives,
// shared by `npm run eval:nlu` and the accuracy tests so both report the same figures.
import { readFile } from 'node:fs/promises';
import { isJsonObject } from '../api-catalog/json.ts';
import type { Interpretation } from './interpretation.ts';

/** One labelled utterance: `op` null means nothing in the catalog should match. */
export interface LabelledCase {
  text: string;
  op: string | null;
  /** Only what the user said, typed as the schema says; never defaults. */
  params: Record<string, unknown>;
}

/** A set that cannot be read, naming the file and, for a bad line, its number. */
export class EvalSetError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly reason: string,
  ) {
    super(`${file}${line === null ? '' : `:${line}`}: ${reason}`);
    this.name = 'EvalSetError';
  }
}

const CASE_KEYS = new Set(['text', 'op', 'params']);

/** Parses JSONL text (one case a line, blank lines allowed); `file` only names it in errors. */
export function parseEvalSet(content: string, file: string): LabelledCase[] {
  const cases: LabelledCase[] = [];
  content.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new EvalSetError(file, line, `not JSON (${(error as Error).message})`);
    }
    if (!isJsonObject(value)) throw new EvalSetError(file, line, 'a case must be an object {"text", "op", "params"}');
    // A misspelt key ("parms") would otherwise silently label the case as having no params.
    const unknown = Object.keys(value).filter((key) => !CASE_KEYS.has(key));
    if (unknown.length > 0) throw new EvalSetError(file, line, `unknown key ${unknown.map((key) => JSON.stringify(key)).join(', ')}`);
    const { text, op, params } = value;
    if (typeof text !== 'string' || text.trim() === '') throw new EvalSetError(file, line, '"text" must be a non-empty string');
    if (op !== null && (typeof op !== 'string' || op === '')) throw new EvalSetError(file, line, '"op" must be an operation id or null');
    if (!isJsonObject(params)) throw new EvalSetError(file, line, '"params" must be an object');
    if (op === null && Object.keys(params).length > 0) throw new EvalSetError(file, line, 'a case with "op": null cannot expect params');
    cases.push({ text, op, params });
  });
  if (cases.length === 0) throw new EvalSetError(file, null, 'the set has no cases');
  return cases;
}

export async function readEvalSet(file: string): Promise<LabelledCase[]> {
  const content = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new EvalSetError(file, null, `cannot read it (${error.code ?? error.message})`);
  });
  return parseEvalSet(content, file);
}

/** Equal by DESIGN.md's rule: strings case-insensitively, arrays as sets, objects key by key. */
export function valuesEqual(expected: unknown, got: unknown): boolean {
  if (typeof expected === 'string') return typeof got === 'string' && expected.toLowerCase() === got.toLowerCase();
  if (Array.isArray(expected)) {
    if (!Array.isArray(got)) return false;
    const covers = (from: unknown[], to: unknown[]): boolean => from.every((item) => to.some((other) => valuesEqual(item, other)));
    return covers(expected, got) && covers(got, expected);
  }
  if (isJsonObject(expected)) return isJsonObject(got) && paramsEqual(expected, got);
  return Object.is(expected, got);
}

/**
 * Every expected key has an equal value and no other key is present. A key whose value is
 * undefined counts as absent: the Interpretation is a JSON contract, and JSON drops it.
 */
export function paramsEqual(expected: Record<string, unknown>, got: Record<string, unknown>): boolean {
  const present = (record: Record<string, unknown>): string[] => Object.keys(record).filter((key) => record[key] !== undefined);
  const gotKeys = present(got);
  const expectedKeys = present(expected);
  return gotKeys.length === expectedKeys.length && expectedKeys.every((key) => key in got && valuesEqual(expected[key], got[key]));
}

/** The part of an Interpretation the scoring looks at. */
export type Answer = Pick<Interpretation, 'operationId' | 'params'>;

export interface CaseScore {
  /** The operationId equals the expected op, null included. */
  opRight: boolean;
  /** The params equal the expected ones; meaningful only when the op is right. */
  paramsRight: boolean;
}

export function scoreCase(expected: LabelledCase, got: Answer): CaseScore {
  return { opRight: got.operationId === expected.op, paramsRight: paramsEqual(expected.params, got.params) };
}

export interface Miss {
  text: string;
  expected: { op: string | null; params: Record<string, unknown> };
  got: { op: string | null; params: Record<string, unknown> };
  /** 'op' when the operation is wrong; 'params' when it is right but its params are not. */
  what: 'op' | 'params';
}

export interface SetScore {
  cases: number;
  opRight: number;
  opAccuracy: number;
  /** Cases whose op is right and not null: the denominator of paramAccuracy. */
  paramCases: number;
  paramsRight: number;
  /**
   * The share of cases with right params among those whose op is right and not null. Cases with a
   * wrong op are left out, so an op miss is counted once (in opAccuracy) rather than twice; cases
   * with op null are left out because they have no params to get right.
   */
  paramAccuracy: number;
  /** How many of the cases labelled op null the NLU answered with null. */
  nullRight: { right: number; total: number };
  misses: Miss[];
}

/** A share that is 1 when there is nothing to get wrong, so an empty denominator never fails a threshold. */
function share(right: number, total: number): number {
  return total === 0 ? 1 : right / total;
}

/** Scores every case with `interpret` (understand() bound to a grammar), in the set's order. */
export function scoreSet(cases: readonly LabelledCase[], interpret: (text: string) => Answer): SetScore {
  let opRight = 0;
  let paramCases = 0;
  let paramsRight = 0;
  let nullTotal = 0;
  let nullRight = 0;
  const misses: Miss[] = [];
  for (const expected of cases) {
    const got = interpret(expected.text);
    const score = scoreCase(expected, got);
    if (expected.op === null) {
      nullTotal += 1;
      if (score.opRight) nullRight += 1;
    }
    if (score.opRight) opRight += 1;
    if (score.opRight && expected.op !== null) {
      paramCases += 1;
      if (score.paramsRight) paramsRight += 1;
    }
    const what = !score.opRight ? 'op' : expected.op !== null && !score.paramsRight ? 'params' : null;
    if (what) {
      misses.push({
        text: expected.text,
        expected: { op: expected.op, params: expected.params },
        got: { op: got.operationId, params: got.params },
        what,
      });
    }
  }
  return {
    cases: cases.length,
    opRight,
    opAccuracy: share(opRight, cases.length),
    paramCases,
    paramsRight,
    paramAccuracy: share(paramsRight, paramCases),
    nullRight: { right: nullRight, total: nullTotal },
    misses,
  };
}

/** The misses as lines a person can read in a terminal or a failed assertion. */
export function formatMisses(misses: readonly Miss[]): string {
  const side = (answer: Miss['expected']): string => `${answer.op ?? 'null'} ${JSON.stringify(answer.params)}`;
  return misses.map((miss) => `✗ ${miss.what.padEnd(6)} ${JSON.stringify(miss.text)}\n    expected ${side(miss.expected)}\n    got      ${side(miss.got)}`).join('\n');
}

/** One line of figures, such as "op 58/61 95.1%  params 50/55 90.9%  null 2/2". */
export function formatScore(score: SetScore): string {
  const percent = (value: number): string => `${(value * 100).toFixed(1)}%`;
  return [
    `op ${score.opRight}/${score.cases} ${percent(score.opAccuracy)}`,
    `params ${score.paramsRight}/${score.paramCases} ${percent(score.paramAccuracy)}`,
    `null ${score.nullRight.right}/${score.nullRight.total}`,
  ].join('  ');
}
