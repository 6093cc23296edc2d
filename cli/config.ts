import path from 'node:path';

/** Everything Ferry reads from its environment; the README's configuration table lists the same. */
export interface FerryConfig {
  redisUrl: string | null;
  dataDir: string;
  host: string;
  port: number;
  logLevel: string;
  workerConcurrency: number;
  sourceDirs: string[];
  sourceHosts: string[];
  sourceTimeoutMs: number;
  shutdownGraceMs: number;
}

export class ConfigError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`);
  return value;
}

function dirList(text: string | undefined, fallback: string[]): string[] {
  if (text === undefined) return fallback;
  return text.split(/[,:]/).map((item) => item.trim()).filter(Boolean);
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): FerryConfig {
  const dataDir = path.resolve(env.FERRY_DATA_DIR || '.data');
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  const logLevel = env.FERRY_LOG_LEVEL || 'info';
  if (!levels.includes(logLevel)) throw new ConfigError(`FERRY_LOG_LEVEL must be one of ${levels.join(', ')}`);
  return {
    redisUrl: env.REDIS_URL || null,
    dataDir,
    host: env.FERRY_HOST || '127.0.0.1',
    port: integer(env, 'FERRY_PORT', 8080, 0, 65535),
    logLevel,
    workerConcurrency: integer(env, 'FERRY_WORKER_CONCURRENCY', 2, 1, 256),
    sourceDirs: dirList(env.FERRY_SOURCE_DIRS, [path.join(dataDir, 'sources')]).map((dir) => path.resolve(dir)),
    sourceHosts: env.FERRY_SOURCE_HOSTS === undefined ? ['*'] : env.FERRY_SOURCE_HOSTS.split(',').map((h) => h.trim()).filter(Boolean),
    sourceTimeoutMs: integer(env, 'FERRY_SOURCE_TIMEOUT_MS', 5000, 100, 120_000),
    shutdownGraceMs: integer(env, 'FERRY_SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
  };
}
