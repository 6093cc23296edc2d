import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startPrivateRedis, type PrivateRedis } from '../../jobs/private-redis.ts';

/** A Redis of the suite's own, in a temporary folder, removed with it. */
export async function startTestRedis(): Promise<PrivateRedis & { dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-redis-'));
  const redis = await startPrivateRedis(dir);
  return {
    url: redis.url,
    port: redis.port,
    pid: redis.pid,
    dir,
    async stop() {
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
