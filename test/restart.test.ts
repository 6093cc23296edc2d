import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive } from '../jobs/private-redis.ts';
import { runFerry } from './helpers/ferry-process.ts';
import { startTestRedis } from './helpers/redis.ts';
import { call, makeSourceDir, startTestService } from './helpers/service.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('records survive restarts', () => {
  it('a new service on the same Redis serves the records of the old one', async () => {
    const redis = await startTestRedis();
    cleanups.push(() => redis.stop());
    const sources = await makeSourceDir();
    await writeFile(path.join(sources, 'a.raw'), Buffer.alloc(8192));
    const first = await startTestService(redis.url, sources);
    const server = await call(first.url, 'POST', '/servers', { name: 'app-01', source: path.join(sources, 'a.raw') });
    const migration = await call(first.url, 'POST', '/migrations', { serverId: 'app-01', streams: 3 });
    await first.close();
    const second = await startTestService(redis.url, sources);
    cleanups.push(() => second.close());
    expect((await call(second.url, 'GET', '/servers/app-01')).body).toMatchObject({ id: server.body.id, sizeBytes: 8192 });
    expect((await call(second.url, 'GET', `/migrations/${migration.body.id}`)).body).toMatchObject({ status: 'queued', streams: 3 });
  });

  it('`ferry start` keeps its records in its own Redis across a restart, and stops that Redis on exit', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-data-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    await mkdir(path.join(dataDir, 'sources'));
    await writeFile(path.join(dataDir, 'sources', 'b.raw'), Buffer.alloc(65536));
    const env = { FERRY_DATA_DIR: dataDir };

    const first = await runFerry(['start'], env);
    expect(first.ready).toMatchObject({ service: true, workers: true, startupMs: expect.any(Number) });
    const registered = await call(first.url, 'POST', '/servers', { name: 'db-02', source: path.join(dataDir, 'sources', 'b.raw') });
    expect(registered.status).toBe(201);
    const redisPid = Number((await readFile(path.join(dataDir, 'redis', 'redis.pid'), 'utf8')).trim());
    const password = (await readFile(path.join(dataDir, 'redis', 'redis.conf'), 'utf8')).match(/requirepass (\S+)/)![1]!;
    expect(isAlive(redisPid)).toBe(true);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(isAlive(redisPid)).toBe(false);
    // The log must never carry the Redis password.
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect(JSON.stringify(first.logs)).not.toContain(password);

    const second = await runFerry(['start'], env);
    cleanups.push(async () => {
      second.child.kill('SIGTERM');
      await second.exited;
    });
    const listed = await call(second.url, 'GET', '/servers');
    expect(listed.body.items).toEqual([expect.objectContaining({ id: registered.body.id, name: 'db-02', sizeBytes: 65536 })]);
  });

  it('`ferry service` and `ferry worker` run apart against one Redis', async () => {
    const redis = await startTestRedis();
    cleanups.push(() => redis.stop());
    const env = { REDIS_URL: redis.url, FERRY_DATA_DIR: redis.dir };
    const service = await runFerry(['service'], env);
    const worker = await runFerry(['worker', '--concurrency', '3'], env);
    expect(service.ready).toMatchObject({ service: true, workers: false });
    expect(worker.ready).toMatchObject({ service: false, workers: true });
    expect((await call(service.url, 'GET', '/servers')).body).toEqual({ items: [] });
    for (const part of [worker, service]) {
      part.child.kill('SIGTERM');
      expect(await part.exited).toBe(0);
    }
  });
});

describe('configuration errors', () => {
  it('`ferry worker` without REDIS_URL says what to set and exits 1', async () => {
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync(process.execPath, [path.join(import.meta.dirname, '../bin/ferry.mjs'), 'worker'], {
      env: { ...process.env, REDIS_URL: '' },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/set REDIS_URL/);
  });
});
