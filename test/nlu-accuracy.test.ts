// Accuracy of the NLU on labelled sets (the shared dev set, Ferry's own set, and sets for two
// third-party APIs it was not written for), and the scorer those figures rest on.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../api-catalog/loader.ts';
import { EvalSetError, formatMisses, type Answer, parseEvalSet, readEvalSet, scoreCase, scoreSet, valuesEqual, type LabelledCase, type SetScore } from '../nlu/evaluation.ts';
import { compileGrammar } from '../nlu/grammar.ts';
import { understand } from '../nlu/understand.ts';

const root = path.dirname(import.meta.dirname);
const sets = path.join(root, 'test/nlu/sets');
const examples = path.dirname(createRequire(import.meta.url).resolve('@readme/oas-examples/package.json'));

async function score(setFile: string, catalog?: string[]): Promise<SetScore> {
  const grammar = compileGrammar(await loadCatalog(catalog));
  return scoreSet(await readEvalSet(setFile), (text) => understand(grammar, text));
}

/** Failure messages carry the misses, so a red test says which utterances went wrong. */
function report(result: SetScore): string {
  return `${result.misses.length} misses:\n${formatMisses(result.misses)}\n`;
}

// The dev set is shared evaluation data beside the repository, not in it; a clone elsewhere (or
// FERRY_EVAL_DIR pointing nowhere) has only the sets below, and the skip says so.
const devSet = path.join(process.env.FERRY_EVAL_DIR ?? path.resolve(root, '../shared/eval'), 'utterances.dev.jsonl');

describe('NLU accuracy', () => {
  it.skipIf(!existsSync(devSet))(`the dev set (${devSet}) with Ferry's catalog: op ≥ 95%, params ≥ 90%, every null line null`, async () => {
    const result = await score(devSet);
    expect(result.opAccuracy, report(result)).toBeGreaterThanOrEqual(0.95);
    expect(result.paramAccuracy, report(result)).toBeGreaterThanOrEqual(0.9);
    expect(result.nullRight.total).toBeGreaterThan(0);
    expect(result.nullRight.right, report(result)).toBe(result.nullRight.total);
  });

  it("Ferry's own set: op ≥ 90%, params ≥ 85%", async () => {
    const result = await score(path.join(sets, 'ferry.jsonl'));
    expect(result.opAccuracy, report(result)).toBeGreaterThanOrEqual(0.9);
    expect(result.paramAccuracy, report(result)).toBeGreaterThanOrEqual(0.85);
  });

  it('the Petstore set with the Petstore spec: op ≥ 90%', async () => {
    const result = await score(path.join(sets, 'petstore.jsonl'), [path.join(examples, '3.0/json/petstore.json')]);
    expect(result.opAccuracy, report(result)).toBeGreaterThanOrEqual(0.9);
  });

  it('the Hetzner Cloud set with its vendored spec: op ≥ 90%', async () => {
    const result = await score(path.join(sets, 'hetzner-cloud.jsonl'), [path.join(root, 'test/fixtures/specs/hetzner.cloud.json')]);
    expect(result.opAccuracy, report(result)).toBeGreaterThanOrEqual(0.9);
  });
});

describe('the scorer', () => {
  const labelled = (op: string | null, params: Record<string, unknown> = {}): LabelledCase => ({ text: 't', op, params });

  it('compares strings case-insensitively, and only with strings', () => {
    expect(scoreCase(labelled('getServer', { serverId: 'Web-01' }), { operationId: 'getServer', params: { serverId: 'web-01' } })).toEqual({ opRight: true, paramsRight: true });
    expect(valuesEqual('7', 7)).toBe(false);
    expect(valuesEqual(30, 30)).toBe(true);
    expect(valuesEqual(false, false)).toBe(true);
    expect(valuesEqual(false, 'false')).toBe(false);
  });

  it('compares arrays as sets, objects key by key with the same rules', () => {
    expect(valuesEqual(['app-01', 'db-7'], ['DB-7', 'app-01'])).toBe(true);
    expect(valuesEqual(['app-01', 'db-7'], ['app-01'])).toBe(false);
    expect(valuesEqual(['app-01'], ['app-01', 'db-7'])).toBe(false);
    expect(valuesEqual([{ kind: 'git', source: 'https://x/Y.git' }], [{ source: 'https://x/y.git', kind: 'GIT' }])).toBe(true);
    expect(valuesEqual([{ kind: 'git', source: 'https://x/y.git' }], [{ kind: 'git', source: 'https://x/y.git', extra: 1 }])).toBe(false);
  });

  it('fails params with an unexpected or a missing key; an undefined value counts as absent', () => {
    const expected = labelled('startMigration', { serverId: 'app-01' });
    expect(scoreCase(expected, { operationId: 'startMigration', params: { serverId: 'app-01', streams: 4 } }).paramsRight).toBe(false);
    expect(scoreCase(expected, { operationId: 'startMigration', params: {} }).paramsRight).toBe(false);
    expect(scoreCase(expected, { operationId: 'startMigration', params: { serverId: 'app-01', vm: undefined } }).paramsRight).toBe(true);
  });

  it('treats op null as an answer: right when both are null, wrong when either is not', () => {
    expect(scoreCase(labelled(null), { operationId: null, params: {} }).opRight).toBe(true);
    expect(scoreCase(labelled(null), { operationId: 'listServers', params: {} }).opRight).toBe(false);
    expect(scoreCase(labelled('listServers'), { operationId: null, params: {} }).opRight).toBe(false);
  });

  it('counts params only among cases whose op is right and not null, and lists each miss once', () => {
    const rows: [LabelledCase, Answer][] = [
      [{ text: 'right', op: 'getServer', params: { serverId: 'a' } }, { operationId: 'getServer', params: { serverId: 'a' } }],
      [{ text: 'wrong params', op: 'getServer', params: { serverId: 'b' } }, { operationId: 'getServer', params: { serverId: 'c' } }],
      [{ text: 'wrong op', op: 'listServers', params: {} }, { operationId: 'listMigrations', params: { status: 'failed' } }],
      [{ text: 'null right', op: null, params: {} }, { operationId: null, params: {} }],
      [{ text: 'null wrong', op: null, params: {} }, { operationId: 'listServers', params: {} }],
    ];
    const answers = new Map(rows.map(([labelledCase, answer]) => [labelledCase.text, answer]));
    const result = scoreSet(
      rows.map(([labelledCase]) => labelledCase),
      (text) => answers.get(text)!,
    );
    expect(result).toMatchObject({ cases: 5, opRight: 3, paramCases: 2, paramsRight: 1, nullRight: { right: 1, total: 2 } });
    expect(result.opAccuracy).toBeCloseTo(0.6);
    expect(result.paramAccuracy).toBeCloseTo(0.5);
    expect(result.misses.map((miss) => [miss.text, miss.what])).toEqual([
      ['wrong params', 'params'],
      ['wrong op', 'op'],
      ['null wrong', 'op'],
    ]);
  });

  it('names the file and line of a malformed case', () => {
    const good = '{"text": "show images", "op": "listImages", "params": {}}';
    const cases: [string, RegExp][] = [
      [`${good}\n\n{"text": "x", "op": "listImages"`, /set\.jsonl:3: not JSON/],
      [`${good}\n{"text": "x", "op": "listImages", "parms": {}}`, /set\.jsonl:2: unknown key "parms"/],
      [`{"text": "x", "op": 4, "params": {}}`, /set\.jsonl:1: "op" must be/],
      [`{"text": "hi", "op": null, "params": {"a": 1}}`, /set\.jsonl:1: a case with "op": null/],
      ['\n', /set\.jsonl: the set has no cases/],
    ];
    for (const [content, message] of cases) {
      expect(() => parseEvalSet(content, 'set.jsonl')).toThrow(message);
    }
    expect(() => parseEvalSet(good, 'set.jsonl')).not.toThrow();
  });

  it('says which file cannot be read', async () => {
    await expect(readEvalSet('/nonexistent/set.jsonl')).rejects.toThrow(EvalSetError);
    await expect(readEvalSet('/nonexistent/set.jsonl')).rejects.toThrow(/\/nonexistent\/set\.jsonl: cannot read it \(ENOENT\)/);
  });
});
