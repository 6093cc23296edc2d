import { createRequire } from 'node:module';
import path from 'node:path';
import { loadCatalog } from '../../api-catalog/loader.ts';
import type { Grammar } from '../../nlu/frame.ts';
import { compileGrammar } from '../../nlu/grammar.ts';

const fixtures = path.join(import.meta.dirname, '..', 'fixtures', 'specs');

/** Specs the NLU tests use besides Ferry's own: a third party's, and one written for the tests. */
export const SPECS = {
  petstore: path.join(path.dirname(createRequire(import.meta.url).resolve('@readme/oas-examples/package.json')), '3.0/json/petstore.json'),
  hetzner: path.join(fixtures, 'hetzner.cloud.json'),
  backups: path.join(fixtures, 'backup-service.yaml'),
};

/** The grammar of the given specs, or of Ferry's own catalog. */
export async function grammarOf(...specs: string[]): Promise<Grammar> {
  return compileGrammar(await loadCatalog(specs.length > 0 ? specs : undefined));
}
