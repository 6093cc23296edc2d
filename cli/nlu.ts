import { createInterface } from 'node:readline';
import { Command } from 'commander';
import { CatalogError, loadCatalog } from '../api-catalog/loader.ts';
import type { Interpretation } from '../nlu/interpretation.ts';

interface NluFlags {
  catalog: string[];
  json?: boolean;
  jsonl?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

type Understand = (text: string) => Interpretation;

/**
 * The understanding of the catalog's operations. The NLU's language models are loaded only here,
 * when the command runs, so the other commands of the binary start without them.
 */
async function understandingOf(locations: readonly string[]): Promise<Understand> {
  const [{ compileGrammar }, { understand }] = await Promise.all([import('../nlu/grammar.ts'), import('../nlu/understand.ts')]);
  let operations;
  try {
    operations = await loadCatalog(locations.length > 0 ? locations : undefined);
  } catch (error) {
    if (error instanceof CatalogError) throw new Error(`cannot load the catalog: ${error.message}`);
    throw error;
  }
  if (operations.length === 0) throw new Error(`cannot load the catalog: no operations in ${locations.join(', ')}`);
  const grammar = compileGrammar(operations);
  return (text) => understand(grammar, text);
}

/** The interpretation for a reader: one labelled line per field. */
function humanReadable(interpretation: Interpretation): string {
  const value = (item: unknown): string => (typeof item === 'string' ? item : JSON.stringify(item));
  const params = Object.entries(interpretation.params).map(([name, item]) => `${name}=${value(item)}`);
  const alternatives = interpretation.alternatives.map((other) => `${other.operationId} ${other.confidence}`);
  const rows: [string, string][] = [
    ['operation', interpretation.operationId ?? 'none fits'],
    ['params', params.join(' ') || '-'],
    ['missing', interpretation.missing.join(', ') || '-'],
    ['confidence', String(interpretation.confidence)],
    ['alternatives', alternatives.join(', ') || '-'],
  ];
  return rows.map(([label, text]) => `${label.padEnd(13)}${text}`).join('\n');
}

/** The text of one `--jsonl` input line, or why the line cannot be read. */
function textOfLine(line: string): { text: string } | { error: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    return { error: `not JSON (${(error as Error).message})` };
  }
  const text = typeof parsed === 'object' && parsed !== null ? (parsed as { text?: unknown }).text : undefined;
  return typeof text === 'string' ? { text } : { error: 'expected an object with a string "text"' };
}

/** One interpretation per input line, in order; a bad line gets an error line and makes the exit code 1. */
async function interpretLines(understand: Understand): Promise<void> {
  let number = 0;
  let bad = 0;
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    number++;
    if (line.trim() === '') continue;
    const read = textOfLine(line);
    if ('error' in read) bad++;
    const output = 'error' in read ? { line: number, error: `line ${number}: ${read.error}` } : understand(read.text);
    process.stdout.write(`${JSON.stringify(output)}\n`);
  }
  if (bad > 0) {
    process.stderr.write(`ferry: ${bad} of the input lines could not be read\n`);
    process.exitCode = 1;
  }
}

async function nlu(words: string[], flags: NluFlags): Promise<void> {
  const text = words.join(' ');
  if (flags.jsonl && text) throw new Error('give either the text or --jsonl (lines of {"text": …} on stdin), not both');
  if (!flags.jsonl && !text.trim()) throw new Error('give the text to understand, or --jsonl to read lines of {"text": …} on stdin');
  const understand = await understandingOf(flags.catalog);
  if (flags.jsonl) return interpretLines(understand);
  const interpretation = understand(text);
  process.stdout.write(`${flags.json ? JSON.stringify(interpretation) : humanReadable(interpretation)}\n`);
}

export function nluCommand(): Command {
  return new Command('nlu')
    .description("show how Ferry understands an utterance: the operation, its parameters, what is missing, the confidence and the alternatives")
    .argument('[text...]', 'the utterance (quoted, or as several words)')
    .option('--catalog <path>', 'an OpenAPI 3.x spec file or a folder of them, instead of Ferry\'s own catalog (repeatable)', collect, [])
    .option('--json', 'print the interpretation as one JSON line')
    .option('--jsonl', 'read lines of {"text": …} on stdin and write one interpretation per line as JSON')
    .action((words: string[], flags: NluFlags) => nlu(words, flags));
}
