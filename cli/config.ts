import path from 'node:path';
import { DEFAULT_CATALOG } from '../api-catalog/loader.ts';
import type { SlackSettings, VoiceSettings } from '../bot/bot-runtime.ts';
import { DEFAULT_TARGET_HOST } from '../jobs/kinds.ts';

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
  /** The host this machine's workers receive migrations for. */
  targetHost: string;
  /** The API service, for parts that call it from elsewhere (the appliance, the bot on its own). */
  apiUrl: string;
  /** Slack, when SLACK_BOT_TOKEN is set. */
  slack: SlackSettings | null;
  /** The voice webhooks, when TWILIO_AUTH_TOKEN or VOICE_WEBHOOK_SECRET is set. */
  voice: VoiceSettings | null;
  /** The specs the bot understands: Ferry's own, then those of FERRY_CATALOG. */
  catalog: string[];
  /** Servers the other specs may be called on (FERRY_CALL_ALLOW). */
  callAllow: string[];
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

function targetHost(text: string | undefined): string {
  if (!text) return DEFAULT_TARGET_HOST;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(text)) throw new ConfigError(`FERRY_TARGET_HOST must be a host name such as kvm-2, not ${JSON.stringify(text)}`);
  return text;
}

function apiUrl(text: string | undefined): string {
  const value = text || 'http://127.0.0.1:8080';
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error();
  } catch {
    throw new ConfigError(`FERRY_API_URL must be an http:// or https:// URL, not ${JSON.stringify(value)}`);
  }
  return value.replace(/\/+$/, '');
}

function httpUrl(name: string, value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return value;
  } catch {
    // reported below
  }
  throw new ConfigError(`${name} must be an http:// or https:// URL, not ${JSON.stringify(value)}`);
}

function slack(env: NodeJS.ProcessEnv): SlackSettings | null {
  const botToken = env.SLACK_BOT_TOKEN;
  if (!botToken) {
    if (env.SLACK_APP_TOKEN || env.SLACK_SIGNING_SECRET) throw new ConfigError('SLACK_BOT_TOKEN is not set: Slack needs the bot token (xoxb-…) besides SLACK_APP_TOKEN or SLACK_SIGNING_SECRET');
    return null;
  }
  if (!env.SLACK_APP_TOKEN && !env.SLACK_SIGNING_SECRET) {
    throw new ConfigError('set SLACK_SIGNING_SECRET (requests to /slack/events) or SLACK_APP_TOKEN (Socket Mode) with SLACK_BOT_TOKEN');
  }
  return {
    botToken,
    ...(env.SLACK_SIGNING_SECRET ? { signingSecret: env.SLACK_SIGNING_SECRET } : {}),
    ...(env.SLACK_APP_TOKEN ? { appToken: env.SLACK_APP_TOKEN } : {}),
    ...(env.SLACK_API_URL ? { apiUrl: httpUrl('SLACK_API_URL', env.SLACK_API_URL) } : {}),
  };
}

function voice(env: NodeJS.ProcessEnv): VoiceSettings | null {
  const authToken = env.TWILIO_AUTH_TOKEN || null;
  const transcriptsSecret = env.VOICE_WEBHOOK_SECRET || null;
  if (!authToken && !transcriptsSecret) return null;
  if (authToken && !env.FERRY_PUBLIC_URL) throw new ConfigError("set FERRY_PUBLIC_URL to the address Twilio calls (https://ferry.example.com): Twilio's signature covers it");
  const minConfidence = env.FERRY_VOICE_MIN_CONFIDENCE ? Number(env.FERRY_VOICE_MIN_CONFIDENCE) : 0.5;
  if (!(minConfidence >= 0 && minConfidence <= 1)) throw new ConfigError(`FERRY_VOICE_MIN_CONFIDENCE must be a number from 0 to 1, not ${JSON.stringify(env.FERRY_VOICE_MIN_CONFIDENCE)}`);
  return {
    twilio: authToken ? { authToken, publicUrl: httpUrl('FERRY_PUBLIC_URL', env.FERRY_PUBLIC_URL!) } : null,
    transcriptsSecret,
    channel: env.FERRY_VOICE_CHANNEL || null,
    minConfidence,
  };
}

const list = (text: string | undefined): string[] => (text ?? '').split(',').map((item) => item.trim()).filter(Boolean);

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
    targetHost: targetHost(env.FERRY_TARGET_HOST),
    apiUrl: apiUrl(env.FERRY_API_URL),
    slack: slack(env),
    voice: voice(env),
    catalog: [DEFAULT_CATALOG, ...list(env.FERRY_CATALOG).map((entry) => path.resolve(entry))],
    callAllow: list(env.FERRY_CALL_ALLOW),
  };
}
