import type { MigrationRecord, ServerRecord } from '../../jobs/record-types.ts';
import type { HandlerTable, ServiceDeps } from '../handler.ts';
import { conflict } from '../problem.ts';
import { enqueueFor, filterBy, getByRef, mustGet, queuedFields, transition } from './common.ts';
import { activeWorkOn, checkSource } from './servers.ts';
import { DEFAULT_TARGET_HOST } from '../../jobs/kinds.ts';

const RUNNING = ['queued', 'booting', 'backfilling', 'verifying'];

/** Enqueues a migration on its target host's queue, and says so on the record when no worker serves that host. */
async function enqueueMigration(deps: ServiceDeps, migration: MigrationRecord, conversation: string | undefined): Promise<MigrationRecord> {
  const queued = await enqueueFor(deps, 'migrations', migration, 'migrate', 'migrate', conversation, migration.targetHost);
  if ((await deps.queues.workerCount('migrate', migration.targetHost)) > 0) return queued;
  const reason = `no worker serves target host ${migration.targetHost} yet; it starts when one does (ferry worker with FERRY_TARGET_HOST=${migration.targetHost})`;
  const updated = await deps.records.update<MigrationRecord>('migrations', migration.id, { statusReason: reason }, { from: ['queued'] });
  return updated.ok ? updated.record : queued;
}

/** A server can be migrated when its source answers and no other migration or replication holds it. */
async function migratableServer(deps: ServiceDeps, ref: string): Promise<ServerRecord> {
  let server = await getByRef<ServerRecord>(deps, 'servers', ref, 'server');
  const busy = await activeWorkOn(deps, server);
  if (busy) throw conflict(`${server.name} is already ${busy}; wait for that to end or cancel it`);
  if (server.status === 'offline') {
    const update = await deps.records.update<ServerRecord>('servers', server.id, await checkSource(deps, server.source));
    if (update.ok) server = update.record;
    if (server.status === 'offline') throw conflict(`the source of ${server.name} is unreachable: ${server.statusReason}`);
  }
  return server;
}

export function migrationHandlers(deps: ServiceDeps): HandlerTable {
  return {
    async listMigrations({ query }) {
      const { serverId, ...rest } = query;
      let items = filterBy(await deps.records.list<MigrationRecord>('migrations'), rest);
      if (typeof serverId === 'string') {
        const server = await getByRef<ServerRecord>(deps, 'servers', serverId, 'server');
        items = items.filter((migration) => migration.serverId === server.id);
      }
      return { items };
    },

    async startMigration({ body, conversation }) {
      const server = await migratableServer(deps, body.serverId as string);
      const created = await deps.records.create<MigrationRecord>('migrations', {
        ...queuedFields(),
        serverId: server.id,
        serverName: server.name,
        targetHost: (body.targetHost as string | undefined) ?? DEFAULT_TARGET_HOST,
        vm: body.vm as MigrationRecord['vm'],
        bootFirst: body.bootFirst as boolean,
        streams: body.streams as number,
        bandwidthMbps: (body.bandwidthMbps as number | undefined) ?? null,
        verify: body.verify as boolean,
        planId: null,
        cutoverAt: null,
        volumePath: null,
        exportUrl: null,
        transfer: null,
      });
      if (!created.ok) throw new Error('migration ids collided');
      deps.logger.info({ migrationId: created.record.id, serverId: server.id, targetHost: created.record.targetHost }, 'migration queued');
      return enqueueMigration(deps, created.record, conversation);
    },

    async getMigration({ params }) {
      return mustGet<MigrationRecord>(deps, 'migrations', params.migrationId!, 'migration');
    },

    async pauseMigration({ params }) {
      const migration = await transition<MigrationRecord>(deps, 'migrations', params.migrationId!, { status: 'paused' }, ['queued', 'booting', 'backfilling'], 'migration', 'paused');
      // A waiting job is taken back; a running one sees the paused record and stops at its next chunk.
      if (migration.jobId) await deps.queues.withdraw('migrate', migration.jobId, migration.targetHost);
      return migration;
    },

    async resumeMigration({ params, conversation }) {
      const paused = await mustGet<MigrationRecord>(deps, 'migrations', params.migrationId!, 'migration');
      // A job that still holds the migration (paused in place, serving its VM) picks the change up itself.
      if (paused.jobId && (await deps.queues.isActive('migrate', paused.jobId, paused.targetHost))) {
        return transition<MigrationRecord>(deps, 'migrations', paused.id, { status: 'backfilling', statusReason: null }, ['paused'], 'migration', 'resumed');
      }
      const migration = await transition<MigrationRecord>(deps, 'migrations', paused.id, { status: 'queued', statusReason: null }, ['paused'], 'migration', 'resumed');
      return enqueueMigration(deps, migration, conversation);
    },

    async cancelMigration({ params }) {
      const migration = await transition<MigrationRecord>(deps, 'migrations', params.migrationId!, { status: 'cancelled', statusReason: 'cancelled by request' }, [...RUNNING, 'paused'], 'migration', 'cancelled');
      if (migration.jobId) await deps.queues.withdraw('migrate', migration.jobId, migration.targetHost);
      return migration;
    },

    async cutoverMigration({ params }) {
      const existing = await mustGet<MigrationRecord>(deps, 'migrations', params.migrationId!, 'migration');
      if (existing.cutoverAt) throw conflict(`${existing.id} was already cut over at ${existing.cutoverAt}`);
      if (existing.status !== 'completed') {
        throw conflict(`${existing.id} is ${existing.status}; cutover needs the whole disk copied and verified (status completed)`);
      }
      const migration = await transition<MigrationRecord>(deps, 'migrations', existing.id, { cutoverAt: new Date().toISOString() }, ['completed'], 'migration', 'cut over');
      await deps.records.update<ServerRecord>('servers', migration.serverId, { status: 'migrated', statusReason: null });
      return migration;
    },
  };
}
