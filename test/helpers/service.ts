import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DEFAULT_JOB_OPTIONS } from '../../jobs/queues.ts';
import { startService, type RunningService } from '../../service/server.ts';

export const quietLogger = pino({ level: 'silent' });

export async function makeSourceDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'ferry-sources-'));
}

export function startTestService(redisUrl: string, sourceDir: string): Promise<RunningService> {
  return startService({
    redisUrl,
    host: '127.0.0.1',
    port: 0,
    logger: quietLogger,
    sources: { allowedDirs: [sourceDir], allowedHosts: ['127.0.0.1', 'localhost'] },
    sourceTimeoutMs: 2000,
    // Short backoff so retries happen within a test; attempts and the exponential shape stay as in production.
    jobOptions: { ...DEFAULT_JOB_OPTIONS, attempts: 3, backoff: { type: 'exponential', delay: 100 } },
  });
}

export interface ApiAnswer {
  status: number;
  contentType: string;
  // Answers are checked field by field against what each test expects.
  body: any;
}

/** One HTTP call to the service, as any client would make it. */
export async function call(
  baseUrl: string,
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiAnswer> {
  const response = await fetch(`${baseUrl}${url}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : null };
}
