// `npm run eval:nlu`: scores the NLU on labelled utterance sets and prints every miss, then the
// accuracies. It is a report, so it exits 0 whatever the figures; 2 when a set or spec cannot be read.
import path from 'node:path';
import { Command } from 'commander';
import { CatalogError, loadCatalog } from '../api-catalog/loader.ts';
import { EvalSetError, formatMisses, formatScore, readEvalSet, scoreSet, type SetScore } from '../nlu/evaluation.ts';
import { compileGrammar } from '../nlu/grammar.ts';
import { understand } from '../nlu/understand.ts';

const REPO_ROOT = path.dirname(import.meta.dirname);
const DEV_SET = path.join(process.env.FERRY_EVAL_DIR ?? path.resolve(REPO_ROOT, '../shared/eval'), 'utterances.dev.jsonl');

const collect = (value: string, previous: string[]): string[] => [...previous, value];

const program = new Command('eval-nlu')
  .description('Score the NLU on labelled utterances ({"text", "op", "params"} per line).')
  .option('--set <file>', `a JSONL set to score (repeatable; default ${path.relative(process.cwd(), DEV_SET)})`, collect, [])
  .option('--catalog <path>', "a spec file or folder that replaces Ferry's catalog (repeatable)", collect, [])
  .option('--json', 'print one JSON object instead of text')
  .parse();

const options = program.opts<{ set: string[]; catalog: string[]; json?: boolean }>();
const setFiles = options.set.length > 0 ? options.set.map((file) => path.resolve(file)) : [DEV_SET];

try {
  const operations = await loadCatalog(options.catalog.length > 0 ? options.catalog : undefined);
  const grammar = compileGrammar(operations);
  const results: { file: string; score: SetScore }[] = [];
  for (const file of setFiles) {
    const cases = await readEvalSet(file);
    results.push({ file, score: scoreSet(cases, (text) => understand(grammar, text)) });
  }
  if (options.json) {
    console.log(JSON.stringify({ catalog: options.catalog.length > 0 ? options.catalog : 'ferry', operations: operations.length, sets: results.map(({ file, score }) => ({ file, ...score })) }, null, 2));
  } else {
    for (const { file, score } of results) {
      console.log(`${path.relative(process.cwd(), file)}: ${score.cases} cases, ${score.misses.length} missed`);
      if (score.misses.length > 0) console.log(formatMisses(score.misses));
      console.log(`${formatScore(score)}\n`);
    }
  }
} catch (error) {
  if (!(error instanceof EvalSetError || error instanceof CatalogError)) throw error;
  console.error(`eval-nlu: ${error.message}`);
  process.exitCode = 2;
}
