import { beforeAll, describe, expect, it } from 'vitest';
import type { Grammar } from '../nlu/frame.ts';
import { grammarOf, SPECS } from './helpers/grammars.ts';

let ferry: Grammar;
let fixture: Grammar;

beforeAll(async () => {
  [ferry, fixture] = await Promise.all([grammarOf(), grammarOf(SPECS.backups)]);
});

const frame = (grammar: Grammar, id: string) => {
  const found = grammar.byId.get(id);
  expect(found, id).toBeDefined();
  return found!;
};

describe('the grammar compiler', () => {
  it("makes a frame of every operation of Ferry's catalog", () => {
    expect(ferry.frames).toHaveLength(38);
    const migrate = frame(ferry, 'startMigration');
    expect(migrate).toMatchObject({ verb: 'start', actionClass: 'custom', resource: 'migration', changesState: true });
    expect(ferry.vocabulary.get('startMigration')!.verbs.map((words) => words.join(' '))).toEqual(['start', 'migrate']);
    const byName = new Map(migrate.params.map((param) => [param.name, param]));
    expect(byName.get('serverId')).toMatchObject({ in: 'body', required: true, type: 'string', refersTo: 'server' });
    expect(byName.get('vm')).toMatchObject({ enum: ['none', 'qemu'], required: false });
    expect(byName.get('bandwidthMbps')).toMatchObject({ type: 'number', unit: 'mbps' });
    expect(byName.get('verify')!.cues).toEqual(expect.arrayContaining(['verify', 'compare']));
    expect(frame(ferry, 'startReplication').params.find((param) => param.name === 'intervalMinutes')).toMatchObject({ unit: 'minute' });
    expect(frame(ferry, 'listServers')).toMatchObject({ actionClass: 'list', resource: 'server', changesState: false });
    expect(frame(ferry, 'getMigration')).toMatchObject({ actionClass: 'get', resource: 'migration' });
    expect(frame(ferry, 'deleteImage')).toMatchObject({ actionClass: 'delete', changesState: true });
    expect(frame(ferry, 'cutoverMigration').verb).toBe('cutover');
    expect(frame(ferry, 'createMigrationPlan').params[0]).toMatchObject({ name: 'serverIds', type: 'array', items: { type: 'string' }, refersTo: 'server' });
    const components = frame(ferry, 'createImagePipeline').params.find((param) => param.name === 'components')!;
    expect(components.items!.properties!.map((property) => property.name)).toEqual(['kind', 'source']);
    expect([...ferry.idPrefixes].sort()).toEqual(['bld', 'img', 'imp', 'mig', 'pipe', 'plan', 'rep', 'snap', 'srv']);
  });

  it('reads operationIds in camelCase, PascalCase and snake_case', () => {
    expect(frame(fixture, 'list_backups')).toMatchObject({ verb: 'list', actionClass: 'list', resource: 'backup' });
    expect(frame(fixture, 'StartBackup')).toMatchObject({ verb: 'start', resource: 'backup', changesState: true });
    expect(fixture.vocabulary.get('StartBackup')!.verbs.map((words) => words.join(' '))).toContain('back up');
    expect(frame(fixture, 'get_backup_by_id')).toMatchObject({ verb: 'get', actionClass: 'get', resource: 'backup' });
    expect(frame(fixture, 'get_backup_by_id').params[0]).toMatchObject({ name: 'backupId', in: 'path', refersTo: 'backup', pattern: '^bk-[a-z0-9]+$' });
    const restore = frame(fixture, 'restoreBackup');
    expect(restore).toMatchObject({ verb: 'restore', resource: 'backup' });
    expect(restore.params.find((param) => param.name === 'volumeIds')).toMatchObject({ type: 'array', refersTo: 'volume', items: { pattern: '^vol-[a-z0-9]+$' } });
    expect(frame(fixture, 'StartBackup').params.find((param) => param.name === 'retentionDays')).toMatchObject({ unit: 'day' });
  });

  it('names an operation without an operationId by its method and path, from its summary or its shape', () => {
    expect(frame(fixture, 'DELETE /backups/{backupId}')).toMatchObject({ verb: 'delete', actionClass: 'delete', resource: 'backup' });
    expect(frame(fixture, 'GET /volumes')).toMatchObject({ verb: 'get', actionClass: 'list', resource: 'volume', changesState: false });
    expect(frame(fixture, 'DELETE /volumes/{volumeId}')).toMatchObject({ actionClass: 'delete', resource: 'volume' });
  });

  it("reads a third party's spec: the Swagger Petstore", async () => {
    const grammar = await grammarOf(SPECS.petstore);
    expect(grammar.frames.length).toBeGreaterThanOrEqual(19);
    expect(frame(grammar, 'getPetById')).toMatchObject({ verb: 'get', actionClass: 'get', resource: 'pet' });
    expect(frame(grammar, 'getPetById').params[0]).toMatchObject({ name: 'petId', type: 'integer', refersTo: 'pet' });
    expect(frame(grammar, 'findPetsByStatus')).toMatchObject({ verb: 'find', actionClass: 'list', resource: 'pet' });
    expect(frame(grammar, 'findPetsByStatus').params[0]).toMatchObject({ name: 'status', type: 'array', items: { enum: ['available', 'pending', 'sold'] } });
    expect(frame(grammar, 'deleteOrder')).toMatchObject({ actionClass: 'delete', resource: 'order' });
    expect(frame(grammar, 'placeOrder')).toMatchObject({ verb: 'place', resource: 'order', changesState: true });
  });
});
