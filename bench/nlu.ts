// Latency of understanding one utterance against Ferry's catalog (p50…max over every utterance of
// the dev set and Ferry's own set), and the time to compile a 100-operation third-party spec and
// Ferry's own catalog into a grammar. Writes JSON on stdout.
import path from 'node:path';
import { loadCatalog } from '../api-catalog/loader.ts';
import type { CatalogOperation } from '../api-catalog/operation.ts';
import { readEvalSet } from '../nlu/evaluation.ts';
import { compileGrammar } from '../nlu/grammar.ts';
import { understand } from '../nlu/understand.ts';

const ROOT = path.dirname(import.meta.dirname);
const SETS = [path.resolve(ROOT, '../shared/eval/utterances.dev.jsonl'), path.join(ROOT, 'test/nlu/sets/ferry.jsonl')];
const HETZNER = path.join(ROOT, 'test/fixtures/specs/hetzner.cloud.json');
const WARMUP_PASSES = 3;
const TIMED_PASSES = 5;
const COMPILE_WARMUPS = 2;
const COMPILE_RUNS = 10;
const LOAD_RUNS = 3;

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** Nearest-rank percentile of sorted samples. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function median(samples: readonly number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 50);
}

function timed(work: () => void): number {
  const started = performance.now();
  work();
  return performance.now() - started;
}

/** The first run separately (nothing warmed yet in this process for it), then warm-ups, then the median of the timed runs. */
function benchCompile(operations: readonly CatalogOperation[]): { operations: number; coldMs: number; medianMs: number; runs: number } {
  const coldMs = timed(() => compileGrammar(operations));
  for (let run = 0; run < COMPILE_WARMUPS; run += 1) compileGrammar(operations);
  const samples = Array.from({ length: COMPILE_RUNS }, () => timed(() => compileGrammar(operations)));
  return { operations: operations.length, coldMs: round(coldMs), medianMs: round(median(samples)), runs: COMPILE_RUNS };
}

// Compiling comes first so that the Hetzner spec's cold run is the process's first compile.
const hetznerOperations = (await loadCatalog([HETZNER])).slice(0, 100);
const hetznerCompile = benchCompile(hetznerOperations);
const load: number[] = [];
const loadAndCompile: number[] = [];
for (let run = 0; run < LOAD_RUNS; run += 1) {
  const started = performance.now();
  const operations = (await loadCatalog([HETZNER])).slice(0, 100);
  load.push(performance.now() - started);
  compileGrammar(operations);
  loadAndCompile.push(performance.now() - started);
}
const ferryOperations = await loadCatalog();
const ferryCompile = benchCompile(ferryOperations);

const grammar = compileGrammar(ferryOperations);
const utterances = (await Promise.all(SETS.map(readEvalSet))).flat().map((labelled) => labelled.text);
for (let pass = 0; pass < WARMUP_PASSES; pass += 1) for (const text of utterances) understand(grammar, text);
const perUtterance = utterances.map(() => [] as number[]);
for (let pass = 0; pass < TIMED_PASSES; pass += 1) utterances.forEach((text, index) => perUtterance[index]!.push(timed(() => understand(grammar, text))));
const samples = perUtterance.flat().sort((a, b) => a - b);
// By median over the passes, so one pause for garbage collection does not name an utterance slow.
const slowest = utterances
  .map((text, index) => ({ text, medianMs: round(median(perUtterance[index]!)) }))
  .sort((a, b) => b.medianMs - a.medianMs)
  .slice(0, 5);

console.log(
  JSON.stringify(
    {
      benchmark: 'nlu',
      understanding: {
        catalog: 'ferry',
        operations: ferryOperations.length,
        utterances: utterances.length,
        passes: TIMED_PASSES,
        count: samples.length,
        p50Ms: round(percentile(samples, 50)),
        p95Ms: round(percentile(samples, 95)),
        p99Ms: round(percentile(samples, 99)),
        maxMs: round(samples[samples.length - 1]!),
        targetP99Ms: 5,
        slowest,
      },
      compile: {
        spec: `${path.relative(ROOT, HETZNER)}, first 100 operations`,
        ...hetznerCompile,
        // loadCatalog reads, validates and dereferences the whole document (all of its operations).
        medianLoadMs: round(median(load)),
        medianLoadAndCompileMs: round(median(loadAndCompile)),
        loadAndCompileRuns: LOAD_RUNS,
        targetCompileMs: 300,
      },
      compileFerry: { catalog: 'ferry', ...ferryCompile },
    },
    null,
    2,
  ),
);
