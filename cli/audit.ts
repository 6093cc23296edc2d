import path from 'node:path';
import { Command } from 'commander';
import { AuditLog, type ListedAuditEntry } from '../bot/audit-log.ts';
import { redisClient } from '../jobs/connection.ts';
import { runningPrivateRedisUrl } from '../jobs/private-redis.ts';
import { ConfigError, readConfig } from './config.ts';
import { boundedInteger } from './units.ts';

// `ferry audit`: what was run through the bot, newest first, from the audit stream in Redis.

function line(entry: ListedAuditEntry): string {
  const result = entry.result.ok ? `ok ${entry.result.status}${entry.result.recordId ? ` ${entry.result.recordId}` : ''}` : `failed${entry.result.status ? ` ${entry.result.status}` : ''}: ${entry.result.error}`;
  return `${entry.id}  ${entry.time.toISOString()}  ${entry.surface} ${entry.who} in ${entry.where}  "${entry.utterance}"  → ${entry.operationId} ${JSON.stringify(entry.params)}  ${result}`;
}

export function auditCommand(): Command {
  return new Command('audit')
    .description('list the operations run through the bot (who, where, the words, the operation and its parameters, the result), newest first')
    .option('--count <n>', 'entries to list', boundedInteger(1, 10_000, 'the count'), 20)
    .option('--before <id>', 'only entries older than this entry id (the first column), to page back')
    .option('--json', 'one JSON object per line')
    .action(async (options: { count: number; before?: string; json?: boolean }) => {
      const config = readConfig();
      const url = config.redisUrl ?? (await runningPrivateRedisUrl(path.join(config.dataDir, 'redis')));
      if (!url) throw new ConfigError(`set REDIS_URL to the Redis the bot writes its audit log to (no private Redis of \`ferry start\` runs under ${config.dataDir})`);
      const redis = redisClient(url);
      try {
        const entries = await new AuditLog(redis).list({ count: options.count, ...(options.before ? { before: options.before } : {}) });
        for (const entry of entries) process.stdout.write(`${options.json ? JSON.stringify(entry) : line(entry)}\n`);
      } finally {
        redis.disconnect();
      }
    });
}
