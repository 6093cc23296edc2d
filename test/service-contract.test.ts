import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../api-catalog/loader.ts';
import type { CatalogOperation } from '../api-catalog/operation.ts';
import type { ImageRecord, MigrationRecord, PlanRecord, ReplicationRecord, SnapshotRecord } from '../jobs/record-types.ts';
import { RecordStore } from '../jobs/records.ts';
import type { RunningService } from '../service/server.ts';
import { startTestRedis } from './helpers/redis.ts';
import { call, makeSourceDir, startTestService, type ApiAnswer } from './helpers/service.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

let redis: Awaited<ReturnType<typeof startTestRedis>>;
let service: RunningService;
let store: RecordStore;
let client: Redis;
let operations: CatalogOperation[];
let sourceDir: string;
const ajv = addFormats(new Ajv({ strict: false, allErrors: true }));

// Records the calls below work on, made through the API where the API can make them.
const seed: Record<string, string> = {};

async function api(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer> {
  return call(service.url, method, url, body, headers);
}

/** The answer must be the status the spec gives first for success, with a body its schema accepts. */
function expectAsSpecified(operationId: string, answer: ApiAnswer): void {
  const operation = operations.find((candidate) => candidate.operationId === operationId)!;
  const success = operation.responses.filter((response) => /^2/.test(response.status));
  expect(success.map((response) => Number(response.status)), JSON.stringify(answer.body)).toContain(answer.status);
  const schema = success.find((response) => Number(response.status) === answer.status)!.schema;
  if (schema) {
    const validate = ajv.compile(schema);
    expect(validate(answer.body), JSON.stringify(validate.errors)).toBe(true);
  } else {
    expect(answer.body).toBeNull();
  }
}

function expectProblem(answer: ApiAnswer, status: number, field?: string): void {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  expect(answer.contentType).toContain('application/problem+json');
  expect(answer.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
  if (field) expect(answer.body.errors.map((error: { field: string }) => error.field)).toContain(field);
}

beforeAll(async () => {
  redis = await startTestRedis();
  sourceDir = await makeSourceDir();
  service = await startTestService(redis.url, sourceDir);
  client = new Redis(redis.url);
  store = new RecordStore(client);
  operations = await loadCatalog();
  await writeFile(path.join(sourceDir, 'web.raw'), Buffer.alloc(1024 * 1024, 1));
  await writeFile(path.join(sourceDir, 'db.raw'), Buffer.alloc(2 * 1024 * 1024, 2));
});

afterAll(async () => {
  client?.disconnect();
  await service?.close();
  await redis?.stop();
});

interface Case {
  valid: () => Promise<ApiAnswer>;
  invalid: () => Promise<ApiAnswer>;
  invalidField: string;
  unknown?: () => Promise<ApiAnswer>;
}

// Each operation of the contract: a valid call, a call that breaks the schema, and an unknown id.
// Order matters only within this table: later rows use records that earlier rows made.
const cases: Record<string, Case> = {
  registerServer: {
    valid: async () => {
      const answer = await api('POST', '/servers', { name: 'web-01', source: path.join(sourceDir, 'web.raw'), tags: ['web'] });
      seed.server = answer.body.id;
      await api('POST', '/servers', { name: 'db-01', source: path.join(sourceDir, 'db.raw') });
      return answer;
    },
    invalid: () => api('POST', '/servers', { name: 'web 01!', source: '/x' }),
    invalidField: 'name',
  },
  listServers: {
    valid: () => api('GET', '/servers?status=available'),
    invalid: () => api('GET', '/servers?status=sleeping'),
    invalidField: 'status',
  },
  getServer: {
    valid: () => api('GET', '/servers/web-01'),
    invalid: () => api('GET', '/servers/bad%20name'),
    invalidField: 'serverId',
    unknown: () => api('GET', '/servers/srv-nothere'),
  },
  startMigration: {
    valid: async () => {
      const answer = await api('POST', '/migrations', { serverId: 'web-01', targetHost: 'kvm-2', streams: 8 });
      seed.migration = answer.body.id;
      return answer;
    },
    invalid: () => api('POST', '/migrations', { serverId: 'web-01', streams: 65 }),
    invalidField: 'streams',
    unknown: () => api('POST', '/migrations', { serverId: 'srv-nothere' }),
  },
  listMigrations: {
    valid: () => api('GET', '/migrations?serverId=web-01&status=queued'),
    invalid: () => api('GET', '/migrations?status=moving'),
    invalidField: 'status',
  },
  getMigration: {
    valid: () => api('GET', `/migrations/${seed.migration}`),
    invalid: () => api('GET', '/migrations/migration-1'),
    invalidField: 'migrationId',
    unknown: () => api('GET', '/migrations/mig-nothere'),
  },
  pauseMigration: {
    valid: () => api('POST', `/migrations/${seed.migration}/pause`),
    invalid: () => api('POST', '/migrations/MIG-1/pause'),
    invalidField: 'migrationId',
    unknown: () => api('POST', '/migrations/mig-nothere/pause'),
  },
  resumeMigration: {
    valid: () => api('POST', `/migrations/${seed.migration}/resume`),
    invalid: () => api('POST', '/migrations/x/resume'),
    invalidField: 'migrationId',
    unknown: () => api('POST', '/migrations/mig-nothere/resume'),
  },
  cancelMigration: {
    valid: () => api('POST', `/migrations/${seed.migration}/cancel`),
    invalid: () => api('POST', '/migrations/x/cancel'),
    invalidField: 'migrationId',
    unknown: () => api('POST', '/migrations/mig-nothere/cancel'),
  },
  cutoverMigration: {
    valid: async () => {
      // Only a worker completes a migration; the record is put in that state as a worker would.
      const started = await api('POST', '/migrations', { serverId: 'db-01' });
      await store.update<MigrationRecord>('migrations', started.body.id, { status: 'completed' });
      return api('POST', `/migrations/${started.body.id}/cutover`);
    },
    invalid: () => api('POST', '/migrations/x/cutover'),
    invalidField: 'migrationId',
    unknown: () => api('POST', '/migrations/mig-nothere/cutover'),
  },
  createMigrationPlan: {
    valid: async () => {
      const answer = await api('POST', '/plans', { serverIds: ['web-01', 'db-01'], name: 'exit-dc1' });
      seed.plan = answer.body.id;
      return answer;
    },
    invalid: () => api('POST', '/plans', { serverIds: [] }),
    invalidField: 'serverIds',
    unknown: () => api('POST', '/plans', { serverIds: ['web-01', 'srv-nothere'] }),
  },
  listMigrationPlans: {
    valid: () => api('GET', '/plans'),
    invalid: () => api('GET', '/plans?limit=3'),
    invalidField: 'limit',
  },
  getMigrationPlan: {
    valid: () => api('GET', `/plans/${seed.plan}`),
    invalid: () => api('GET', '/plans/p1'),
    invalidField: 'planId',
    unknown: () => api('GET', '/plans/plan-nothere'),
  },
  executeMigrationPlan: {
    valid: async () => {
      // The plan worker marks a computed plan ready; done here as it would.
      await store.update<PlanRecord>('plans', seed.plan!, { status: 'ready', waves: [{ index: 0, serverIds: [seed.server!] }] });
      return api('POST', `/plans/${seed.plan}/execute`, { streams: 2 });
    },
    invalid: () => api('POST', `/plans/${seed.plan}/execute`, { streams: 'many' }),
    invalidField: 'streams',
    unknown: () => api('POST', '/plans/plan-nothere/execute'),
  },
  startReplication: {
    valid: async () => {
      const answer = await api('POST', '/replications', { serverId: 'db-01', intervalMinutes: 30 });
      seed.replication = answer.body.id;
      return answer;
    },
    invalid: () => api('POST', '/replications', { serverId: 'db-01', intervalMinutes: 0 }),
    invalidField: 'intervalMinutes',
    unknown: () => api('POST', '/replications', { serverId: 'nothere' }),
  },
  listReplications: {
    valid: () => api('GET', '/replications?serverId=db-01'),
    invalid: () => api('GET', '/replications?serverId=a%20b'),
    invalidField: 'serverId',
  },
  getReplication: {
    valid: () => api('GET', `/replications/${seed.replication}`),
    invalid: () => api('GET', '/replications/r1'),
    invalidField: 'replicationId',
    unknown: () => api('GET', '/replications/rep-nothere'),
  },
  syncReplication: {
    valid: async () => {
      await store.update<ReplicationRecord>('replications', seed.replication!, { status: 'idle' });
      return api('POST', `/replications/${seed.replication}/sync`);
    },
    invalid: () => api('POST', '/replications/r1/sync'),
    invalidField: 'replicationId',
    unknown: () => api('POST', '/replications/rep-nothere/sync'),
  },
  listSnapshots: {
    valid: async () => {
      const snapshot = await store.create<SnapshotRecord>('snapshots', { replicationId: seed.replication!, serverId: seed.server!, sizeBytes: 2097152, changedBytes: 4096 });
      seed.snapshot = snapshot.ok ? snapshot.record.id : '';
      const answer = await api('GET', `/replications/${seed.replication}/snapshots`);
      expect(answer.body.items.map((item: { id: string }) => item.id)).toEqual([seed.snapshot]);
      return answer;
    },
    invalid: () => api('GET', '/replications/r1/snapshots'),
    invalidField: 'replicationId',
    unknown: () => api('GET', '/replications/rep-nothere/snapshots'),
  },
  stopReplication: {
    valid: () => api('POST', `/replications/${seed.replication}/stop`),
    invalid: () => api('POST', '/replications/r1/stop'),
    invalidField: 'replicationId',
    unknown: () => api('POST', '/replications/rep-nothere/stop'),
  },
  createMachineImage: {
    valid: () => api('POST', `/snapshots/${seed.snapshot}/images`, { name: 'db-golden' }),
    invalid: () => api('POST', `/snapshots/${seed.snapshot}/images`, { name: '' }),
    invalidField: 'name',
    unknown: () => api('POST', '/snapshots/snap-nothere/images'),
  },
  probeDiskImage: {
    valid: () => api('POST', '/images/probe', { sourceUrl: path.join(sourceDir, 'web.raw') }),
    invalid: () => api('POST', '/images/probe', { sourceUrl: 'ftp://x/y' }),
    invalidField: 'sourceUrl',
  },
  importImage: {
    valid: async () => {
      const answer = await api('POST', '/images/imports', { sourceUrl: path.join(sourceDir, 'web.raw'), format: 'raw', name: 'web-base' });
      seed.import = answer.body.id;
      return answer;
    },
    invalid: () => api('POST', '/images/imports', { sourceUrl: path.join(sourceDir, 'web.raw'), format: 'floppy' }),
    invalidField: 'format',
  },
  listImageImports: {
    valid: () => api('GET', '/images/imports?status=queued'),
    invalid: () => api('GET', '/images/imports?status=done'),
    invalidField: 'status',
  },
  getImageImport: {
    valid: () => api('GET', `/images/imports/${seed.import}`),
    invalid: () => api('GET', '/images/imports/i1'),
    invalidField: 'importId',
    unknown: () => api('GET', '/images/imports/imp-nothere'),
  },
  cancelImageImport: {
    valid: () => api('POST', `/images/imports/${seed.import}/cancel`),
    invalid: () => api('POST', '/images/imports/i1/cancel'),
    invalidField: 'importId',
    unknown: () => api('POST', '/images/imports/imp-nothere/cancel'),
  },
  listImages: {
    valid: async () => {
      // Images come from import and build workers; one is stored here as they would store it.
      const image = await store.create<ImageRecord>('images', {
        name: 'ubuntu-base', status: 'available', statusReason: null, progress: null, jobId: null,
        format: 'qcow2', virtualSize: 1 << 30, os: 'ubuntu', source: { kind: 'import', ref: 'imp-seed' }, inspection: null,
      });
      seed.image = image.ok ? image.record.id : '';
      return api('GET', '/images?os=ubuntu&format=qcow2');
    },
    invalid: () => api('GET', '/images?format=iso'),
    invalidField: 'format',
  },
  getImage: {
    valid: () => api('GET', `/images/${seed.image}`),
    invalid: () => api('GET', '/images/image-1'),
    invalidField: 'imageId',
    unknown: () => api('GET', '/images/img-nothere'),
  },
  inspectImage: {
    valid: () => api('POST', `/images/${seed.image}/inspect`),
    invalid: () => api('POST', '/images/image-1/inspect'),
    invalidField: 'imageId',
    unknown: () => api('POST', '/images/img-nothere/inspect'),
  },
  createImagePipeline: {
    valid: async () => {
      const answer = await api('POST', '/pipelines', {
        name: 'web-golden',
        components: [{ kind: 'git', source: 'https://git.example/web.git' }],
        baseImageId: seed.image,
        rebuildOnChange: true,
        schedule: '0 3 * * 1',
      });
      seed.pipeline = answer.body.id;
      return answer;
    },
    invalid: () => api('POST', '/pipelines', { name: 'p', components: [{ kind: 'svn', source: 'x' }] }),
    invalidField: 'components.0.kind',
    unknown: () => api('POST', '/pipelines', { name: 'p2', components: [{ kind: 'file', source: '/x' }], baseImageId: 'img-nothere' }),
  },
  listImagePipelines: {
    valid: () => api('GET', '/pipelines'),
    invalid: () => api('GET', '/pipelines?name=x'),
    invalidField: 'name',
  },
  getImagePipeline: {
    valid: () => api('GET', '/pipelines/web-golden'),
    invalid: () => api('GET', '/pipelines/bad%20name'),
    invalidField: 'pipelineId',
    unknown: () => api('GET', '/pipelines/pipe-nothere'),
  },
  startImageBuild: {
    valid: async () => {
      const answer = await api('POST', `/pipelines/${seed.pipeline}/builds`, { reason: 'nginx security update' });
      seed.build = answer.body.id;
      return answer;
    },
    invalid: () => api('POST', `/pipelines/${seed.pipeline}/builds`, { reason: 42 }),
    invalidField: 'reason',
    unknown: () => api('POST', '/pipelines/pipe-nothere/builds'),
  },
  listImageBuilds: {
    valid: () => api('GET', '/pipelines/web-golden/builds'),
    invalid: () => api('GET', '/pipelines/bad%20name/builds'),
    invalidField: 'pipelineId',
    unknown: () => api('GET', '/pipelines/pipe-nothere/builds'),
  },
  getImageBuild: {
    valid: () => api('GET', `/builds/${seed.build}`),
    invalid: () => api('GET', '/builds/b1'),
    invalidField: 'buildId',
    unknown: () => api('GET', '/builds/bld-nothere'),
  },
  deleteImagePipeline: {
    valid: async () => {
      await store.update('builds', seed.build!, { status: 'completed' });
      return api('DELETE', '/pipelines/web-golden');
    },
    invalid: () => api('DELETE', '/pipelines/bad%20name'),
    invalidField: 'pipelineId',
    unknown: () => api('DELETE', '/pipelines/pipe-nothere'),
  },
  deleteImage: {
    valid: () => api('DELETE', `/images/${seed.image}`),
    invalid: () => api('DELETE', '/images/image-1'),
    invalidField: 'imageId',
    unknown: () => api('DELETE', '/images/img-nothere'),
  },
  deregisterServer: {
    valid: async () => {
      const server = await api('POST', '/servers', { name: 'old-01', source: path.join(sourceDir, 'web.raw') });
      return api('DELETE', `/servers/${server.body.id}`);
    },
    invalid: () => api('DELETE', '/servers/bad%20name'),
    invalidField: 'serverId',
    unknown: () => api('DELETE', '/servers/srv-nothere'),
  },
};

describe('the API contract', () => {
  it('has a case for every operation of the catalog', () => {
    expect(Object.keys(cases).sort()).toEqual(operations.map((operation) => operation.operationId).sort());
  });

  for (const [operationId, testCase] of Object.entries(cases)) {
    it(`${operationId}: answers a valid call as the spec says, 400 naming the field, 404 for an unknown id`, async () => {
      expectAsSpecified(operationId, await testCase.valid());
      expectProblem(await testCase.invalid(), 400, testCase.invalidField);
      if (testCase.unknown) expectProblem(await testCase.unknown(), 404);
    });
  }
});

describe('request handling', () => {
  it('answers malformed JSON with a 400 problem', async () => {
    expectProblem(await api('POST', '/servers', '{"name": "x",'), 400);
  });

  it('answers a missing required field with 400 naming it', async () => {
    expectProblem(await api('POST', '/servers', { name: 'nosource' }), 400, 'source');
  });

  it('answers an unknown field with 400 naming it, rather than dropping it', async () => {
    expectProblem(await api('POST', '/migrations', { serverId: 'web-01', stream: 4 }), 400, 'stream');
  });

  it('does not coerce body types: "6" is not an integer', async () => {
    expectProblem(await api('POST', '/migrations', { serverId: 'web-01', streams: '6' }), 400, 'streams');
  });

  it('answers an unknown route with a 404 problem', async () => {
    expectProblem(await api('GET', '/nowhere'), 404);
  });

  it('refuses a source path outside the allowed folders, naming the field', async () => {
    const answer = await api('POST', '/servers', { name: 'evil', source: '/etc/passwd' });
    expectProblem(answer, 400, 'source');
    expect(answer.body.detail).toMatch(/outside the folders/);
  });

  it('refuses a symbolic link that leads outside the allowed folders', async () => {
    const { symlink } = await import('node:fs/promises');
    await symlink('/etc/hostname', path.join(sourceDir, 'escape.raw'));
    expectProblem(await api('POST', '/servers', { name: 'escape', source: path.join(sourceDir, 'escape.raw') }), 400, 'source');
  });

  it('registers an unreachable source as offline, with the reason', async () => {
    const answer = await api('POST', '/servers', { name: 'gone-01', source: 'nbd://127.0.0.1:1/disk' });
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ status: 'offline', sizeBytes: null, statusReason: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('refuses a second server with the same name with 409', async () => {
    expectProblem(await api('POST', '/servers', { name: 'web-01', source: path.join(sourceDir, 'db.raw') }), 409);
  });

  it('refuses a cutover before the backfill is complete with 409', async () => {
    const started = await api('POST', '/migrations', { serverId: 'web-01' });
    expect(started.status).toBe(202);
    const answer = await api('POST', `/migrations/${started.body.id}/cutover`);
    expectProblem(answer, 409);
    expect(answer.body.detail).toMatch(/queued/);
    expectProblem(await api('POST', '/migrations', { serverId: 'web-01' }), 409);
    await api('POST', `/migrations/${started.body.id}/cancel`);
  });

  it('refuses an X-Ferry-Conversation header with spaces', async () => {
    expectProblem(await api('POST', '/migrations', { serverId: 'web-01' }, { 'x-ferry-conversation': 'a b' }), 400, 'X-Ferry-Conversation');
  });
});
