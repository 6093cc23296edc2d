import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatalogCaller } from '../bot/catalog-caller.ts';
import { recordEndings } from '../bot/record-endings.ts';
import type { RunningService } from '../service/server.ts';
import { grammarOf } from './helpers/grammars.ts';
import { startTestRedis } from './helpers/redis.ts';
import { call, makeSourceDir, startTestService } from './helpers/service.ts';

// After a restart the bot asks the service how jobs ended: through the catalog's get operation of
// the record, found by the record id's pattern.

let redis: Awaited<ReturnType<typeof startTestRedis>>;
let service: RunningService;
let sourceDir: string;

beforeAll(async () => {
  redis = await startTestRedis();
  sourceDir = await makeSourceDir();
  service = await startTestService(redis.url, sourceDir);
});

afterAll(async () => {
  await service.close();
  await redis.stop();
});

describe('how a record says its job ended', () => {
  it('is nothing while the job is queued, and cancelled once cancelled; an id no operation reads is nothing', async () => {
    const ending = recordEndings(await grammarOf(), new CatalogCaller({ ferryApiUrl: service.url }));
    const disk = path.join(sourceDir, 'web-31.raw');
    await writeFile(disk, Buffer.alloc(1024 * 1024));
    expect((await call(service.url, 'POST', '/servers', { name: 'web-31', source: disk })).status).toBe(201);
    const started = await call(service.url, 'POST', '/migrations', { serverId: 'web-31', targetHost: 'nowhere-1' });
    expect(started.status).toBe(202);
    const id = String(started.body.id);
    expect(await ending(id)).toBeNull();
    expect((await call(service.url, 'POST', `/migrations/${id}/cancel`)).status).toBeLessThan(300);
    expect(await ending(id)).toEqual({ outcome: 'cancelled' });
    expect(await ending('xyz-1')).toBeNull();
  });
});
