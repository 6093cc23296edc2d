import type { JobKind } from './kinds.ts';
import { migrateProcessor, type MigrateEnvironment } from './migrate.ts';
import type { Processor } from './worker-runner.ts';

/**
 * The processors this build of Ferry has, by job kind. A kind missing here has no worker yet, so
 * its jobs wait in their queue and their records stay queued until a later version consumes them.
 */
export function buildProcessors(env: MigrateEnvironment): Partial<Record<JobKind, Processor>> {
  return { migrate: migrateProcessor(env) };
}
