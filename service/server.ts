import type { JobsOptions } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { DEFAULT_CATALOG, loadCatalog } from '../api-catalog/loader.ts';
import { JobQueues } from '../jobs/queues.ts';
import { RecordStore } from '../jobs/records.ts';
import { redisClient } from '../jobs/connection.ts';
import { buildApp } from './app.ts';
import { ferryHandlers } from './handlers/index.ts';
import type { SourcePolicy } from './source-policy.ts';

export interface ServiceOptions {
  redisUrl: string;
  host: string;
  port: number;
  logger: Logger;
  sources: SourcePolicy;
  sourceTimeoutMs: number;
  /** Options of the jobs it enqueues; the queues' defaults (five attempts, exponential backoff) otherwise. */
  jobOptions?: JobsOptions;
  /** Adds routes of other parts (the bot's Slack endpoint) to the same port before it listens. */
  routes?: (app: FastifyInstance) => void;
}

export interface RunningService {
  app: FastifyInstance;
  /** The URL the service answers on, with the port it really got. */
  url: string;
  close(): Promise<void>;
}

/** Serves Ferry's own specs over HTTP, with records in Redis and jobs on the queues. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const redis: Redis = redisClient(options.redisUrl);
  const queues = new JobQueues(options.redisUrl, options.jobOptions);
  const records = new RecordStore(redis);
  const operations = await loadCatalog([DEFAULT_CATALOG]);
  const app = buildApp(
    operations,
    ferryHandlers({ records, queues, logger: options.logger, sources: options.sources, sourceTimeoutMs: options.sourceTimeoutMs }),
    options.logger,
  );
  options.routes?.(app);
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  options.logger.info({ url, operations: operations.length }, 'service listening');
  return {
    app,
    url,
    async close() {
      await app.close();
      await queues.close();
      redis.disconnect();
    },
  };
}
