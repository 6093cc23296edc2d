import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPECS } from './helpers/grammars.ts';

const BIN = path.join(import.meta.dirname, '..', 'bin', 'ferry.mjs');
let dir: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ferry nlu …` with `input` on its stdin. */
async function ferryNlu(args: string[], input = ''): Promise<Run> {
  const child = spawn(process.execPath, [BIN, 'nlu', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stdout, stderr };
}

const jsonLines = (stdout: string): Record<string, unknown>[] =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-nlu-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ferry nlu', () => {
  it('prints one interpretation of one utterance as a JSON line with --json', async () => {
    const { code, stdout } = await ferryNlu(['--json', 'migrate web-01 to kvm-2 with 8 streams']);
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    const interpretation = JSON.parse(stdout);
    expect(interpretation).toMatchObject({ operationId: 'startMigration', params: { serverId: 'web-01', targetHost: 'kvm-2', streams: 8 }, missing: [] });
    expect(Object.keys(interpretation).sort()).toEqual(['alternatives', 'confidence', 'missing', 'operationId', 'params']);
    expect(interpretation.confidence).toBeGreaterThan(0);
    expect(interpretation.confidence).toBeLessThanOrEqual(1);
  });

  it('prints a short readable rendering without --json, null operation included', async () => {
    const shown = await ferryNlu(['pause', 'migration', 'mig-3']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^operation +pauseMigration$/m);
    expect(shown.stdout).toMatch(/^params +migrationId=mig-3$/m);
    expect(shown.stdout).toMatch(/^missing +-$/m);
    expect(shown.stdout).toMatch(/^confidence +0\.\d+$/m);
    expect(shown.stdout).toMatch(/^alternatives +\w+ 0\.\d+/m);
    const missing = await ferryNlu(['register a server']);
    expect(missing.stdout).toMatch(/^missing +name, source$/m);
    const nothing = await ferryNlu(['--json', 'bake me a chocolate cake']);
    expect(JSON.parse(nothing.stdout)).toMatchObject({ operationId: null, params: {}, missing: [], alternatives: [] });
  });

  it('--jsonl: one interpretation per input line, an error line naming a malformed line, exit 1 at the end', async () => {
    const input = [
      JSON.stringify({ text: 'list servers that are offline' }),
      'this is not json',
      '',
      JSON.stringify({ utterance: 'no text field' }),
      JSON.stringify({ text: 'show migration mig dash 42' }),
    ].join('\n');
    const { code, stdout, stderr } = await ferryNlu(['--jsonl'], `${input}\n`);
    expect(code).toBe(1);
    const lines = jsonLines(stdout);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatchObject({ operationId: 'listServers', params: { status: 'offline' } });
    expect(lines[1]).toMatchObject({ line: 2, error: expect.stringMatching(/^line 2: not JSON/) });
    expect(lines[2]).toMatchObject({ line: 4, error: expect.stringContaining('"text"') });
    expect(lines[3]).toMatchObject({ operationId: 'getMigration', params: { migrationId: 'mig-42' } });
    expect(stderr).toContain('2 of the input lines could not be read');
  });

  it('--jsonl with only good lines exits 0', async () => {
    const { code, stdout } = await ferryNlu(['--jsonl'], `${JSON.stringify({ text: 'list images' })}\n${JSON.stringify({ text: 'what is the weather' })}\n`);
    expect(code).toBe(0);
    expect(jsonLines(stdout).map((line) => line.operationId)).toEqual(['listImages', null]);
  });

  it('--catalog replaces the default catalog: the Petstore is understood, Ferry\'s operations are gone', async () => {
    const pets = await ferryNlu(['--json', '--catalog', SPECS.petstore, 'find pets that are sold']);
    expect(pets.code).toBe(0);
    expect(JSON.parse(pets.stdout)).toMatchObject({ operationId: 'findPetsByStatus', params: { status: ['sold'] } });
    const ferry = await ferryNlu(['--json', '--catalog', SPECS.petstore, 'pause migration mig-3']);
    expect(JSON.parse(ferry.stdout).operationId).not.toBe('pauseMigration');
    const batch = await ferryNlu(['--jsonl', '--catalog', SPECS.petstore], `${JSON.stringify({ text: 'delete pet 12' })}\n`);
    expect(jsonLines(batch.stdout)).toEqual([expect.objectContaining({ operationId: 'deletePet', params: { petId: 12 } })]);
  });

  it('--catalog is repeatable and takes folders', async () => {
    const folder = path.join(dir, 'specs');
    await mkdir(folder);
    await copyFile(SPECS.petstore, path.join(folder, 'petstore.json'));
    const { code, stdout } = await ferryNlu(['--jsonl', '--catalog', folder, '--catalog', path.join(import.meta.dirname, '..', 'api-catalog', 'migration.yaml')], [
      JSON.stringify({ text: 'show pet 5' }),
      JSON.stringify({ text: 'list servers' }),
      JSON.stringify({ text: 'list images' }),
    ].join('\n'));
    expect(code).toBe(0);
    const [pet, servers, images] = jsonLines(stdout).map((line) => line.operationId);
    expect([pet, servers]).toEqual(['getPetById', 'listServers']);
    // images.yaml is in the default catalog only.
    expect(images).not.toBe('listImages');
  });

  it('a catalog that cannot be loaded is a clear error and exit 1', async () => {
    const gone = path.join(dir, 'no-such-spec.yaml');
    const missing = await ferryNlu(['--catalog', gone, 'list servers']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain(`cannot load the catalog: ${gone}`);
    expect(missing.stderr).toContain('no such file or folder');
    const broken = path.join(dir, 'broken.yaml');
    await writeFile(broken, 'openapi: 3.0.3\ninfo: [not, an, object\n');
    const invalid = await ferryNlu(['--jsonl', '--catalog', broken], `${JSON.stringify({ text: 'list servers' })}\n`);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toBe('');
    expect(invalid.stderr).toMatch(/cannot load the catalog: .*broken\.yaml/);
  });

  it('refuses no text, and text together with --jsonl', async () => {
    const none = await ferryNlu([]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/give the text to understand/);
    const both = await ferryNlu(['--jsonl', 'list servers']);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/either the text or --jsonl/);
  });
});
