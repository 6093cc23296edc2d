import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FieldError } from './problem.ts';

// ajv-formats is CommonJS; under ESM its function is the module's default.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function compiler(coerceTypes: boolean): Ajv {
  // strict off: OpenAPI schemas carry keywords JSON Schema does not know (example, xml, discriminator).
  const ajv = new Ajv({ strict: false, allErrors: true, coerceTypes, useDefaults: true, removeAdditional: false });
  addFormats(ajv);
  return ajv;
}

// Path and query values arrive as text and are coerced to the declared type; a JSON body must
// already have the right types, so "6" for an integer is an error there rather than a guess.
const coercing = compiler(true);
const strict = compiler(false);

export function compileValidator(schema: object, part: string): ValidateFunction {
  return (part === 'body' ? strict : coercing).compile(schema);
}

const PARTS: Record<string, FieldError['in']> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

function describe(error: ErrorObject): string {
  if (error.keyword === 'enum') return `must be one of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  if (error.keyword === 'additionalProperties') return 'is not a known field';
  if (error.keyword === 'required') return 'is required';
  if (error.keyword === 'pattern') return `must match ${error.params.pattern}`;
  return error.message ?? 'is not valid';
}

/** Turns ajv's errors into field errors, naming each field the way the request wrote it. */
export function fieldErrors(errors: ErrorObject[], context: string): FieldError[] {
  const where = PARTS[context] ?? 'body';
  // anyOf/oneOf report each branch and then themselves; the branch errors say more.
  const useful = errors.filter((error) => !['anyOf', 'oneOf', 'if'].includes(error.keyword));
  return (useful.length ? useful : errors).map((error) => {
    const segments = error.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const extra = (error.params.missingProperty ?? error.params.additionalProperty) as string | undefined;
    if (extra !== undefined) segments.push(extra);
    const field = segments.length ? segments.join('.') : where;
    const pointer = segments.length ? `/${segments.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}` : '';
    return { in: where, field, pointer, message: describe(error) };
  });
}
