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
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { Bot } from '../bot/bot-runtime.ts';
import { applianceCommand } from './appliance.ts';
import { auditCommand } from './audit.ts';
import { cloneCommand } from './clone.ts';
import { ConfigError, readConfig, type FerryConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { nluCommand } from './nlu.ts';

type Stop = () => Promise<void>;

/**
 * Runs the parts until SIGINT or SIGTERM (or the returned function is called), then stops them in
 * reverse order; a second signal forces exit.
 */
function runUntilSignalled(logger: Logger, stops: Stop[]): (reason: string) => Promise<void> {
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      logger.warn({ signal }, 'forced exit');
      process.exit(130);
    }
    stopping = true;
    logger.info({ reason: signal }, 'shutting down');
    for (const part of [...stops].reverse()) {
      await part().catch((error: Error) => logger.error({ err: error.message }, 'error while shutting down'));
    }
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', (signal) => void stop(signal));
  process.on('SIGTERM', (signal) => void stop(signal));
  return stop;
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

async function runService(config: FerryConfig, logger: Logger, redisUrl: string, stops: Stop[], bot: Bot | null): Promise<string> {
  const service = await startService({
    ...(bot ? { routes: bot.routes } : {}),
    redisUrl,
    host: config.host,
    port: config.port,
    logger,
    sources: { allowedDirs: config.sourceDirs, allowedHosts: config.sourceHosts },
    sourceTimeoutMs: config.sourceTimeoutMs,
  });
  stops.push(() => service.close());
  return service.url;
}

/** The bot alone still needs a port for Slack's requests (in HTTP mode) and the voice webhooks. */
async function serveBotEndpoints(config: FerryConfig, logger: Logger, bot: Bot, stops: Stop[]): Promise<void> {
  const server = Fastify({ loggerInstance: logger as FastifyBaseLogger });
  bot.routes(server);
  await server.listen({ host: config.host, port: config.port });
  stops.push(() => server.close());
  logger.info({ host: config.host, port: config.port }, 'bot endpoints listening');
}

/** Which surface talks: Slack when configured, else the terminal when there is one (or when asked for), else none. */
type BotMode = 'none' | 'auto' | 'console';

/** True when the bot talks on this terminal. */
const onTerminal = (config: FerryConfig, mode: BotMode): boolean => mode === 'console' || (mode === 'auto' && !config.slack && process.stdin.isTTY === true);

async function buildBot(config: FerryConfig, logger: Logger, redisUrl: string, mode: BotMode, ferryApiUrl: () => string): Promise<Bot | null> {
  if (mode === 'none') return null;
  const console = onTerminal(config, mode);
  if (!config.slack && !config.voice && !console) {
    logger.info('neither Slack (SLACK_BOT_TOKEN) nor voice (TWILIO_AUTH_TOKEN, VOICE_WEBHOOK_SECRET) is configured and the input is not a terminal: no bot surface runs (`ferry chat` talks on a pipe too)');
    return null;
  }
  // The bot brings Bolt, Twilio and the language models: a second of start-up the other parts do without.
  const { createBot } = await import('../bot/bot-runtime.ts');
  return createBot({ redisUrl, ferryApiUrl, catalog: config.catalog, callAllow: config.callAllow, slack: mode === 'console' ? null : config.slack, voice: mode === 'console' ? null : config.voice, console, logger });
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
async function launch(parts: { service: boolean; workers: boolean; bot: BotMode }, overrides: Record<string, string>): Promise<void> {
  const config = readConfig({ ...process.env, ...overrides });
  // The log shares the terminal with the conversation: it says only what goes wrong unless asked for more.
  const logger = createLogger(onTerminal(config, parts.bot) && !process.env.FERRY_LOG_LEVEL ? 'warn' : config.logLevel);
  const stops: Stop[] = [];
  const stop = runUntilSignalled(logger, stops);
  try {
    const redisUrl = await openRedis(config, logger, stops, parts.service && parts.workers);
    let serviceUrl: string | null = null;
    const bot = await buildBot(config, logger, redisUrl, parts.bot, () => serviceUrl ?? config.apiUrl);
    if (parts.service) serviceUrl = await runService(config, logger, redisUrl, stops, bot);
    else if (bot && parts.bot !== 'console' && (config.slack?.signingSecret || config.voice)) await serveBotEndpoints(config, logger, bot, stops);
    if (parts.workers) runWorkers(config, logger, redisUrl, stops);
    if (bot) {
      stops.push(() => bot.stop());
      await bot.start();
    }
    logger.info({ startupMs: Math.round(performance.now()), ...parts }, 'ferry ready');
    void bot?.chatEnded?.then(() => stop('end of the chat input'));
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

  const flags = (options: { port?: string; concurrency?: string }): Record<string, string> => ({
    ...(options.port ? { FERRY_PORT: options.port } : {}),
    ...(options.concurrency ? { FERRY_WORKER_CONCURRENCY: options.concurrency } : {}),
  });

  program
    .command('start')
    .description('run the service, the workers and the bot in one process (with a private Redis unless REDIS_URL is set); the bot talks on Slack when SLACK_BOT_TOKEN is set, else on the terminal')
    .option('--port <n>', 'HTTP port of the service and of /slack/events (FERRY_PORT)', port)
    .option('--concurrency <n>', 'jobs each worker runs at once (FERRY_WORKER_CONCURRENCY)', concurrency)
    .action((options: { port?: string; concurrency?: string }) => launch({ service: true, workers: true, bot: 'auto' }, flags(options)));

  program
    .command('chat')
    .description('as `ferry start`, with the conversation on this terminal (or pipe) instead of Slack; the chat ends with its input')
    .option('--port <n>', 'HTTP port of the service (FERRY_PORT)', port)
    .option('--concurrency <n>', 'jobs each worker runs at once (FERRY_WORKER_CONCURRENCY)', concurrency)
    .action((options: { port?: string; concurrency?: string }) => launch({ service: true, workers: true, bot: 'console' }, flags(options)));

  program
    .command('service')
    .description('run only the API service')
    .option('--port <n>', 'HTTP port (FERRY_PORT)', port)
    .action((options: { port?: string }) => launch({ service: true, workers: false, bot: 'none' }, flags(options)));

  program
    .command('worker')
    .description('run only the job workers')
    .option('--concurrency <n>', 'jobs each worker runs at once (FERRY_WORKER_CONCURRENCY)', concurrency)
    .action((options: { concurrency?: string }) => launch({ service: false, workers: true, bot: 'none' }, flags(options)));

  program
    .command('bot')
    .description('run only the bot, calling the service at FERRY_API_URL: Slack when SLACK_BOT_TOKEN is set (its /slack/events on --port), else the terminal')
    .option('--port <n>', 'HTTP port of /slack/events (FERRY_PORT)', port)
    .action((options: { port?: string }) => launch({ service: false, workers: false, bot: 'auto' }, flags(options)));

  program.addCommand(auditCommand());

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
