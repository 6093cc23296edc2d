import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { dereference, validate } from '@readme/openapi-parser';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import {
  HTTP_METHODS,
  type CatalogOperation,
  type JsonSchema,
  type OperationParameter,
  type OperationRequestBody,
  type OperationResponse,
  type ParameterLocation,
} from './operation.ts';

/** A document that cannot be used, with where and why, so whoever wrote it can fix it. */
export class CatalogError extends Error {
  constructor(
    readonly file: string,
    readonly pointer: string,
    readonly reason: string,
  ) {
    super(`${file}#${pointer}: ${reason}`);
    this.name = 'CatalogError';
  }
}

const SPEC_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** The folder holding Ferry's own specs. */
export const DEFAULT_CATALOG = path.dirname(new URL(import.meta.url).pathname);

/** Expands files and folders (not recursively) into the spec files they name, in a stable order. */
export async function catalogFiles(locations: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const location of locations) {
    const absolute = path.resolve(location);
    const info = await stat(absolute).catch(() => {
      throw new CatalogError(absolute, '', 'no such file or folder');
    });
    if (info.isDirectory()) {
      const names = (await readdir(absolute)).filter((name) => SPEC_EXTENSIONS.has(path.extname(name))).sort();
      files.push(...names.map((name) => path.join(absolute, name)));
    } else {
      files.push(absolute);
    }
  }
  return files;
}

/** Loads every OpenAPI 3.x document found at the locations into one list of operations. */
export async function loadCatalog(locations: readonly string[] = [DEFAULT_CATALOG]): Promise<CatalogOperation[]> {
  const operations: CatalogOperation[] = [];
  for (const file of await catalogFiles(locations)) operations.push(...(await loadDocument(file)));
  return operations;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Loads one OpenAPI 3.0 or 3.1 document, YAML or JSON, with every $ref resolved. */
export async function loadDocument(file: string): Promise<CatalogOperation[]> {
  const raw = await readRawDocument(file);
  const version = raw.openapi;
  if (typeof version !== 'string' || !/^3\.[01]\./.test(version)) {
    const found = typeof raw.swagger === 'string' ? `Swagger ${raw.swagger}` : `openapi: ${JSON.stringify(version ?? null)}`;
    throw new CatalogError(file, '/openapi', `only OpenAPI 3.0 and 3.1 documents are supported, this one is ${found}`);
  }
  const result = await validate(file, { validate: { errors: { colorize: false } } }).catch((error: Error) => {
    throw new CatalogError(file, '', error.message);
  });
  if (!result.valid) {
    const first = result.errors[0]?.message ?? 'the document is not valid OpenAPI';
    throw new CatalogError(file, await pointerOfError(file, first), firstLine(first));
  }
  const document = (await dereference(file)) as unknown as JsonObject;
  return operationsOf(file, document);
}

async function readRawDocument(file: string): Promise<JsonObject> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new CatalogError(file, '', `cannot read it (${error.code ?? error.message})`);
  });
  const parsed = parseDocument(file, text);
  if (!isObject(parsed)) throw new CatalogError(file, '', 'the document is not an object');
  return parsed;
}

function parseDocument(file: string, text: string): unknown {
  // JSON is YAML, but the YAML parser takes a hundred times longer over a large JSON document.
  if (path.extname(file) === '.json') {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new CatalogError(file, '', `not valid JSON: ${firstLine((error as Error).message)}`);
    }
  }
  try {
    return parseYaml(text);
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : '';
    throw new CatalogError(file, '', `not valid YAML or JSON${where}: ${firstLine((error as Error).message)}`);
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

/**
 * The parser reports a schema error as a code frame of the dereferenced document printed as JSON
 * with two-space indents, marking the offending line with ">". Printing the same document the same
 * way gives the JSON pointer of that line. Other errors name the place in backquotes, or nowhere.
 */
async function pointerOfError(file: string, message: string): Promise<string> {
  const marked = /^>\s*(\d+)\s*\|/m.exec(message);
  if (marked) {
    const document = await dereference(file, { dereference: { circular: 'ignore' } });
    return pointerAtLine(document, Number(marked[1])) ?? '';
  }
  const quoted = /`(\/[^`]*)`/.exec(message);
  return quoted ? quoted[1]! : '';
}

function pointerAtLine(document: unknown, wanted: number): string | null {
  let line = 1;
  let found: string | null = null;
  const walk = (value: unknown, pointer: string): void => {
    if (line === wanted && found === null) found = pointer;
    if (typeof value !== 'object' || value === null) return;
    const entries = Array.isArray(value)
      ? value.map((item, index) => [String(index), item] as const)
      : Object.entries(value).filter(([, item]) => item !== undefined && typeof item !== 'function');
    if (entries.length === 0) return;
    for (const [key, item] of entries) {
      line += 1;
      walk(item, `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    }
    line += 1;
  };
  walk(document, '');
  return found;
}

function text(value: Json | undefined): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

function firstServerUrl(...holders: (JsonObject | undefined)[]): string | null {
  for (const holder of holders) {
    const servers = holder?.servers;
    if (Array.isArray(servers) && isObject(servers[0]) && typeof servers[0].url === 'string') return servers[0].url;
  }
  return null;
}

function jsonMediaType(content: Json | undefined): { contentType: string; schema: JsonSchema } | null {
  if (!isObject(content)) return null;
  const types = Object.keys(content);
  const chosen = types.find((type) => /[/+]json\b/.test(type)) ?? types[0];
  if (chosen === undefined) return null;
  const media = content[chosen];
  return { contentType: chosen, schema: isObject(media) && isObject(media.schema) ? media.schema : {} };
}

function operationsOf(file: string, document: JsonObject): CatalogOperation[] {
  const info = isObject(document.info) ? document.info : {};
  const source = { file, title: text(info.title) ?? path.basename(file), version: text(info.version) ?? '' };
  const paths = isObject(document.paths) ? document.paths : {};
  const operations: CatalogOperation[] = [];
  for (const [route, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      if (!isObject(operation)) continue;
      const requestBody = requestBodyOf(operation.requestBody);
      operations.push({
        operationId: text(operation.operationId),
        method,
        path: route,
        summary: text(operation.summary),
        description: text(operation.description),
        tags: Array.isArray(operation.tags) ? operation.tags.filter((tag): tag is string => typeof tag === 'string') : [],
        parameters: [...declaredParameters(item.parameters, operation.parameters), ...bodyParameters(requestBody)],
        requestBody,
        responses: responsesOf(operation.responses),
        serverUrl: firstServerUrl(operation, item, document),
        source,
      });
    }
  }
  return operations;
}

/** Path-level parameters apply unless the operation redeclares the same name and location. */
function declaredParameters(pathLevel: Json | undefined, operationLevel: Json | undefined): OperationParameter[] {
  const byKey = new Map<string, OperationParameter>();
  for (const list of [pathLevel, operationLevel]) {
    if (!Array.isArray(list)) continue;
    for (const parameter of list) {
      if (!isObject(parameter) || typeof parameter.name !== 'string' || typeof parameter.in !== 'string') continue;
      const schema = isObject(parameter.schema) ? parameter.schema : (jsonMediaType(parameter.content)?.schema ?? {});
      byKey.set(`${parameter.in}:${parameter.name}`, {
        name: parameter.name,
        in: parameter.in as ParameterLocation,
        required: parameter.required === true || parameter.in === 'path',
        description: text(parameter.description) ?? text(schema.description as Json),
        schema,
      });
    }
  }
  return [...byKey.values()];
}

function requestBodyOf(body: Json | undefined): OperationRequestBody | null {
  if (!isObject(body)) return null;
  const media = jsonMediaType(body.content);
  if (!media) return null;
  return { required: body.required === true, ...media };
}

function bodyParameters(body: OperationRequestBody | null): OperationParameter[] {
  const properties = body?.schema.properties;
  if (!isObject(properties as Json)) return [];
  const required = Array.isArray(body!.schema.required) ? (body!.schema.required as string[]) : [];
  return Object.entries(properties as JsonObject).map(([name, schema]) => {
    const propertySchema = isObject(schema) ? schema : {};
    return {
      name,
      in: 'body',
      required: body!.required && required.includes(name),
      description: text(propertySchema.description),
      schema: propertySchema,
    };
  });
}

function responsesOf(responses: Json | undefined): OperationResponse[] {
  if (!isObject(responses)) return [];
  return Object.entries(responses).map(([status, response]) => {
    const value = isObject(response) ? response : {};
    const media = jsonMediaType(value.content);
    return {
      status,
      description: text(value.description),
      contentType: media?.contentType ?? null,
      schema: media?.schema ?? null,
    };
  });
}
