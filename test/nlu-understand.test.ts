import { beforeAll, describe, expect, it } from 'vitest';
import type { Grammar } from '../nlu/frame.ts';
import { grammarOf, SPECS } from './helpers/grammars.ts';
import { extractValue, understand } from '../nlu/understand.ts';

let ferry: Grammar;
let fixture: Grammar;

beforeAll(async () => {
  [ferry, fixture] = await Promise.all([grammarOf(), grammarOf(SPECS.backups)]);
});

const param = (grammar: Grammar, operationId: string, name: string) => grammar.byId.get(operationId)!.params.find((p) => p.name === name)!;

describe('understanding typed values', () => {
  it('fills ids by their pattern, targets by "to", numbers said as words and switches turned off by negation', () => {
    expect(understand(ferry, 'migrate db-3 to kvm-2 without verification with eight streams')).toMatchObject({
      operationId: 'startMigration',
      params: { serverId: 'db-3', targetHost: 'kvm-2', streams: 8, verify: false },
      missing: [],
    });
    expect(understand(ferry, "migrate web-3 and don't boot first").params).toEqual({ serverId: 'web-3', bootFirst: false });
  });

  it("converts durations to the parameter's unit", () => {
    expect(understand(ferry, 'replicate web-01 every half hour').params).toEqual({ serverId: 'web-01', intervalMinutes: 30 });
    expect(understand(ferry, 'replicate srv-abc every 2 hours').params).toEqual({ serverId: 'srv-abc', intervalMinutes: 120 });
    expect(understand(fixture, 'back up vol 9 with compression, keep it for two weeks, label it gold').params).toEqual({
      volumeId: 'vol-9',
      retentionDays: 14,
      compress: true,
      label: 'gold',
    });
  });

  it('matches enums loosely, takes URLs, rates in their unit and the reason after "because"', () => {
    expect(understand(fixture, 'back up vol-7 agent based every half hour without compression because of the audit')).toMatchObject({
      operationId: 'StartBackup',
      params: { volumeId: 'vol-7', mode: 'AGENT_BASED', intervalMinutes: 30, compress: false, reason: 'the audit' },
    });
    expect(understand(fixture, 'write the backup of vol-3 to https://store.example.com/b1 limited to 0.2 gbps').params).toEqual({
      volumeId: 'vol-3',
      destinationUrl: 'https://store.example.com/b1',
      maxBandwidthMbps: 200,
    });
    expect(understand(ferry, 'rebuild db-golden because the kernel changed').params).toEqual({ pipelineId: 'db-golden', reason: 'the kernel changed' });
  });

  it('joins ids said aloud, reads lists and names', () => {
    expect(understand(ferry, 'resume mig dash forty two').params).toEqual({ migrationId: 'mig-42' });
    expect(understand(fixture, 'show backup bk 12')).toMatchObject({ operationId: 'get_backup_by_id', params: { backupId: 'bk-12' } });
    expect(understand(fixture, 'restore bk-4 onto vol-1, vol-2 and vol-3').params).toEqual({ backupId: 'bk-4', volumeIds: ['vol-1', 'vol-2', 'vol-3'] });
    expect(understand(ferry, 'create a plan for web-01, web-02 and db-01 called wave-1').params).toEqual({ serverIds: ['web-01', 'web-02', 'db-01'], name: 'wave-1' });
    expect(understand(ferry, 'register server web-5 from /dev/sdb').params).toEqual({ name: 'web-5', source: '/dev/sdb' });
  });

  it('says what is missing and gives only what was said, never defaults', () => {
    const interpretation = understand(ferry, 'register a new server');
    expect(interpretation).toMatchObject({ operationId: 'registerServer', params: {}, missing: ['name', 'source'] });
    expect(understand(fixture, 'list the failed backups')).toMatchObject({ operationId: 'list_backups', params: { state: 'failed' } });
    expect(understand(fixture, 'show me the volumes')).toMatchObject({ operationId: 'GET /volumes', params: {} });
  });

  it('returns null for what no operation does', () => {
    for (const text of ['good morning ferry', 'what time is it in Tokyo', "what's the weather like", 'hello', '']) {
      expect(understand(ferry, text), text).toMatchObject({ operationId: null, params: {}, missing: [], alternatives: [] });
    }
  });

  it('resolves "it" and "that migration" to the last resource of the conversation, when a verb says what to do', () => {
    const context = { lastResources: { server: 'web-09', migration: 'mig-7' } };
    expect(understand(ferry, 'pause it', context)).toMatchObject({ operationId: 'pauseMigration', params: { migrationId: 'mig-7' }, missing: [] });
    expect(understand(ferry, 'cancel that migration', context)).toMatchObject({ operationId: 'cancelMigration', params: { migrationId: 'mig-7' } });
    expect(understand(ferry, 'migrate the same server to hv-3', context).params).toEqual({ serverId: 'web-09', targetHost: 'hv-3' });
    expect(understand(ferry, 'pause it')).toMatchObject({ operationId: 'pauseMigration', missing: ['migrationId'] });
    // The resource mentioned last wins a bare "it"; another kind of action in the same class still finds it.
    const three = { lastResources: { migration: 'mig-9', server: 'srv-4', import: 'imp-2' } };
    const cancel = understand(ferry, 'cancel it', three);
    expect(cancel).toMatchObject({ operationId: 'cancelImageImport', params: { importId: 'imp-2' } });
    expect(cancel.confidence - cancel.alternatives[0]!.confidence).toBeGreaterThan(0.05);
    expect(understand(ferry, 'delete it', { lastResources: { server: 'srv-4' } })).toMatchObject({ operationId: 'deregisterServer', params: { serverId: 'srv-4' } });
  });

  it('gives alternatives with their confidence, best first, and reads an utterance as a chosen operation', () => {
    const interpretation = understand(fixture, 'delete backup bk-3');
    expect(interpretation.operationId).toBe('DELETE /backups/{backupId}');
    expect(interpretation.confidence).toBeGreaterThan(interpretation.alternatives[0]!.confidence);
    const confidences = interpretation.alternatives.map((alternative) => alternative.confidence);
    expect(confidences).toEqual([...confidences].sort((a, b) => b - a));
    expect(understand(fixture, 'delete backup bk-3', undefined, { operationId: 'get_backup_by_id' })).toMatchObject({
      operationId: 'get_backup_by_id',
      params: { backupId: 'bk-3' },
      alternatives: [],
    });
  });

  it('reads an answer to a question about one parameter', () => {
    expect(extractValue(ferry, param(ferry, 'startMigration', 'streams'), 'eight')).toBe(8);
    expect(extractValue(ferry, param(ferry, 'startMigration', 'verify'), 'no')).toBe(false);
    expect(extractValue(ferry, param(ferry, 'startMigration', 'vm'), 'qemu please')).toBe('qemu');
    expect(extractValue(ferry, param(ferry, 'startReplication', 'intervalMinutes'), 'every two hours')).toBe(120);
    expect(extractValue(ferry, param(ferry, 'pauseMigration', 'migrationId'), 'mig dash 4')).toBe('mig-4');
    expect(extractValue(ferry, param(ferry, 'registerServer', 'source'), 'nbd://10.0.0.5:10809/sda')).toBe('nbd://10.0.0.5:10809/sda');
    expect(extractValue(ferry, param(ferry, 'registerServer', 'name'), 'ftp-1')).toBe('ftp-1');
    expect(extractValue(fixture, param(fixture, 'StartBackup', 'mode'), 'agentless')).toBe('AGENTLESS');
    expect(extractValue(ferry, param(ferry, 'pauseMigration', 'migrationId'), 'the blue one')).toBeUndefined();
    expect(extractValue(ferry, param(ferry, 'startMigration', 'streams'), 'lots')).toBeUndefined();
    expect(extractValue(ferry, param(ferry, 'pauseMigration', 'migrationId'), 'mig 42')).toBe('mig-42');
    expect(extractValue(ferry, param(ferry, 'getServer', 'serverId'), 'pause migration mig-3')).toBeUndefined();
  });
});
