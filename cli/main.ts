import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command, InvalidArgumentError } from 'commander';
import type { Logger } from 'pino';
import { buildProcessors } from '../jobs/processors.ts';
import { RecordStore } from '../jobs/records.ts';
import { redisClient } from '../jobs/connection.ts';
import { startPrivateRedis, RedisUnavailableError } from '../jobs/private-redis.ts';
import { startWorkers } from '../jobs/worker-runner.ts';
import { startService } from '../service/server.ts';
import { applianceCommand } from './appliance.ts';
import { cloneCommand } from './clone.ts';
import { ConfigError, readConfig, type FerryConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { nluCommand } from './nlu.ts';

type Stop = () => Promise<void>;

/** Runs the parts until SIGINT or SIGTERM, then stops them in reverse order; a second signal forces exit. */
function runUntilSignalled(logger: Logger, stops: Stop[]): void {
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      logger.warn({ signal }, 'forced exit');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    for (const part of [...stops].reverse()) {
      await part().catch((error: Error) => logger.error({ err: error.message }, 'error while shutting down'));
    }
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', (signal) => void stop(signal));
  process.on('SIGTERM', (signal) => void stop(signal));
}

/**
 * REDIS_URL when set; otherwise, for `ferry start` only, a private redis-server with its data under
 * the data directory. Parts run apart must share one Redis, which a private one cannot be.
 */
async function openRedis(config: FerryConfig, logger: Logger, stops: Stop[], allInOne: boolean): Promise<string> {
  if (config.redisUrl) return config.redisUrl;
  if (!allInOne) throw new ConfigError('set REDIS_URL to the Redis the service and the workers share (only `ferry start` runs a private one)');
  const redis = await startPrivateRedis(path.join(config.dataDir, 'redis'));
  logger.info({ port: redis.port, pid: redis.pid, dir: path.join(config.dataDir, 'redis') }, 'private redis started');
  stops.push(() => redis.stop());
  return redis.url;
}

async function runService(config: FerryConfig, logger: Logger, redisUrl: string, stops: Stop[]): Promise<void> {
  const service = await startService({
    redisUrl,
    host: config.host,
    port: config.port,
    logger,
    sources: { allowedDirs: config.sourceDirs, allowedHosts: config.sourceHosts },
    sourceTimeoutMs: config.sourceTimeoutMs,
  });
  stops.push(() => service.close());
}

function runWorkers(config: FerryConfig, logger: Logger, redisUrl: string, stops: Stop[]): void {
  const redis = redisClient(redisUrl);
  const pool = startWorkers({
    redisUrl,
    records: new RecordStore(redis),
    logger,
    processors: buildProcessors({ dataDir: config.dataDir, targetHost: config.targetHost }),
    concurrency: config.workerConcurrency,
    shutdownGraceMs: config.shutdownGraceMs,
    targetHost: config.targetHost,
  });
  stops.push(async () => {
    await pool.close();
    redis.disconnect();
  });
}

function port(text: string): string {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new InvalidArgumentError('a port is a whole number from 0 to 65535');
  return text;
}

function concurrency(text: string): string {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 256) throw new InvalidArgumentError('concurrency is a whole number from 1 to 256');
  return text;
}

/** Runs the given parts in this process, with configuration from the environment and the flags. */
async function launch(parts: { service: boolean; workers: boolean }, overrides: Record<string, string>): Promise<void> {
  const config = readConfig({ ...process.env, ...overrides });
  const logger = createLogger(config.logLevel);
  const stops: Stop[] = [];
  runUntilSignalled(logger, stops);
  try {
    const redisUrl = await openRedis(config, logger, stops, parts.service && parts.workers);
    if (parts.service) await runService(config, logger, redisUrl, stops);
    if (parts.workers) runWorkers(config, logger, redisUrl, stops);
    logger.info({ startupMs: Math.round(performance.now()), ...parts }, 'ferry ready');
  } catch (error) {
    logger.fatal({ err: (error as Error).message }, 'could not start');
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    throw error;
  }
}

export function buildProgram(): Command {
  const program = new Command('ferry')
    .description('Migrate servers into virtual machines and manage VM images by conversation.')
    .showHelpAfterError();

  program
    .command('start')
    .description('run the service and the workers in one process (with a private Redis unless REDIS_URL is set)')
    .option('--port <n>', 'HTTP port of the service (FERRY_PORT)', port)
    .option('--concurrency <n>', 'jobs each worker runs at once (FERRY_WORKER_CONCURRENCY)', concurrency)
    .action((options: { port?: string; concurrency?: string }) =>
      launch({ service: true, workers: true }, {
        ...(options.port ? { FERRY_PORT: options.port } : {}),
        ...(options.concurrency ? { FERRY_WORKER_CONCURRENCY: options.concurrency } : {}),
      }),
    );

  program
    .command('service')
    .description('run only the API service')
    .option('--port <n>', 'HTTP port (FERRY_PORT)', port)
    .action((options: { port?: string }) => launch({ service: true, workers: false }, options.port ? { FERRY_PORT: options.port } : {}));

  program
    .command('worker')
    .description('run only the job workers')
    .option('--concurrency <n>', 'jobs each worker runs at once (FERRY_WORKER_CONCURRENCY)', concurrency)
    .action((options: { concurrency?: string }) =>
      launch({ service: false, workers: true }, options.concurrency ? { FERRY_WORKER_CONCURRENCY: options.concurrency } : {}),
    );

  program.addCommand(cloneCommand());
  program.addCommand(applianceCommand());
  program.addCommand(nluCommand());

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    const known = error instanceof ConfigError || error instanceof RedisUnavailableError;
    process.stderr.write(`ferry: ${(error as Error).message}\n`);
    if (!known && process.env.FERRY_LOG_LEVEL === 'debug') process.stderr.write(`${(error as Error).stack}\n`);
    process.exit(1);
  }
}
