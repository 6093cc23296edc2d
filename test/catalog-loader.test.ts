import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { CatalogError, loadCatalog, loadDocument } from '../api-catalog/loader.ts';

const examples = path.dirname(createRequire(import.meta.url).resolve('@readme/oas-examples/package.json'));
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'ferry-catalog-'));
});

async function refusal(name: string, text: string): Promise<CatalogError> {
  const file = path.join(scratch, name);
  await writeFile(file, text);
  const error = await loadDocument(file).then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(CatalogError);
  return error as CatalogError;
}

describe('the catalog loader', () => {
  it("loads Ferry's own specs: every operation of the contract with its parameters", async () => {
    const operations = await loadCatalog();
    const byId = new Map(operations.map((operation) => [operation.operationId, operation]));
    expect(operations).toHaveLength(38);
    const migrate = byId.get('startMigration')!;
    expect(migrate).toMatchObject({ method: 'post', path: '/migrations', serverUrl: expect.stringMatching(/^http/) });
    expect(migrate.parameters.map((p) => `${p.name}${p.required ? '*' : ''}`)).toEqual(['serverId*', 'targetHost', 'vm', 'bootFirst', 'streams', 'bandwidthMbps', 'verify']);
    expect(migrate.parameters.find((p) => p.name === 'vm')!.schema.enum).toEqual(['none', 'qemu']);
    expect(migrate.parameters.find((p) => p.name === 'streams')!.schema).toMatchObject({ minimum: 1, maximum: 64 });
    expect(byId.get('createImagePipeline')!.parameters.filter((p) => p.required).map((p) => p.name)).toEqual(['name', 'components']);
    // Every id parameter declares its pattern, and every operation explains itself to people.
    for (const operation of operations) {
      expect(operation.summary, operation.operationId!).toBeTruthy();
      expect(operation.description, operation.operationId!).toBeTruthy();
      for (const parameter of operation.parameters.filter((p) => /Id$/.test(p.name) && p.schema.type === 'string')) {
        expect(parameter.schema.pattern, `${operation.operationId}.${parameter.name}`).toBeTruthy();
        expect(parameter.description, `${operation.operationId}.${parameter.name}`).toBeTruthy();
      }
    }
    expect(byId.get('getMigration')!.parameters[0]!.schema.pattern).toBe('^mig-[a-z0-9]+$');
  });

  it('loads third-party documents: the Swagger Petstore (OpenAPI 3.0, YAML and JSON) and an OpenAPI 3.1 example', async () => {
    const yaml = await loadDocument(path.join(examples, '3.0/yaml/petstore.yaml'));
    const json = await loadDocument(path.join(examples, '3.0/json/petstore.json'));
    expect(yaml.map((o) => o.operationId)).toEqual(json.map((o) => o.operationId));
    const findById = yaml.find((operation) => operation.operationId === 'getPetById')!;
    expect(findById).toMatchObject({ method: 'get', path: '/pet/{petId}' });
    expect(findById.parameters[0]).toMatchObject({ name: 'petId', in: 'path', required: true, schema: { type: 'integer' } });
    const addPet = yaml.find((operation) => operation.operationId === 'addPet')!;
    // The body's $ref is resolved, so its properties become parameters.
    expect(addPet.parameters.map((p) => p.name)).toEqual(expect.arrayContaining(['name', 'photoUrls', 'status']));
    const trains = await loadDocument(path.join(examples, '3.1/yaml/train-travel.yaml'));
    expect(trains.length).toBeGreaterThan(3);
  });

  it('refuses a document that breaks OpenAPI with the file, the JSON pointer and the reason', async () => {
    const error = await refusal(
      'no-schema.yaml',
      'openapi: 3.1.0\ninfo: {title: t, version: "1"}\npaths:\n  /a:\n    get:\n      parameters:\n        - {name: id, in: query}\n      responses: {"200": {description: ok}}\n',
    );
    expect(error.file).toBe(path.join(scratch, 'no-schema.yaml'));
    expect(error.pointer).toBe('/paths/~1a/get/parameters/0');
    expect(error.reason).toMatch(/schema/);
    expect(error.message).toContain('no-schema.yaml#/paths/~1a/get/parameters/0');
  });

  it('refuses YAML or JSON that does not parse, a $ref to nowhere, and Swagger 2.0, each saying why', async () => {
    expect((await refusal('bad.yaml', 'openapi: 3.0.0\ninfo: [unclosed\n')).reason).toMatch(/not valid YAML or JSON at line/);
    expect((await refusal('bad.json', '{"openapi": "3.0.0", "info": {')).reason).toMatch(/^not valid JSON: /);
    const dangling = await refusal(
      'dangling.yaml',
      'openapi: 3.0.3\ninfo: {title: t, version: "1"}\npaths:\n  /a:\n    get:\n      responses:\n        "200":\n          description: ok\n          content: {application/json: {schema: {$ref: "#/components/schemas/Nope"}}}\n',
    );
    expect(dangling.reason).toMatch(/Nope/);
    const swagger = await refusal('swagger.json', JSON.stringify({ swagger: '2.0', info: { title: 't', version: '1' }, paths: {} }));
    expect(swagger).toMatchObject({ pointer: '/openapi', reason: expect.stringMatching(/only OpenAPI 3\.0 and 3\.1.*Swagger 2\.0/) });
  });

  it('names a missing file', async () => {
    await expect(loadCatalog([path.join(scratch, 'absent.yaml')])).rejects.toThrow(/no such file/);
  });
});
