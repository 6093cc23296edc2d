import { sourceSize } from '../../disk/source-size.ts';
import type { MigrationRecord, ReplicationRecord, ServerRecord, ServerStatus } from '../../jobs/record-types.ts';
import { TERMINAL_STATUSES } from '../../jobs/records.ts';
import type { HandlerTable, ServiceDeps } from '../handler.ts';
import { conflict, invalidField } from '../problem.ts';
import { refusal } from '../source-policy.ts';
import { filterBy, getByRef } from './common.ts';

const isActive = (record: { status: string }): boolean => !(TERMINAL_STATUSES as readonly string[]).includes(record.status);

/** Checks the source now: its size when it answers, or why it does not. */
export async function checkSource(deps: ServiceDeps, source: string): Promise<Pick<ServerRecord, 'status' | 'sizeBytes' | 'statusReason' | 'checkedAt'>> {
  const checkedAt = new Date().toISOString();
  try {
    return { status: 'available', sizeBytes: await sourceSize(source, deps.sourceTimeoutMs), statusReason: null, checkedAt };
  } catch (error) {
    return { status: 'offline', sizeBytes: null, statusReason: (error as Error).message, checkedAt };
  }
}

/** What a server is doing now: the work under way says more than the last reachability check. */
type LiveServer = Omit<ServerRecord, 'status'> & { status: ServerStatus };

async function withLiveStatus(deps: ServiceDeps, servers: ServerRecord[]): Promise<LiveServer[]> {
  const [migrations, replications] = await Promise.all([
    deps.records.list<MigrationRecord>('migrations'),
    deps.records.list<ReplicationRecord>('replications'),
  ]);
  const migrating = new Set(migrations.filter(isActive).map((migration) => migration.serverId));
  const replicating = new Set(replications.filter(isActive).map((replication) => replication.serverId));
  return servers.map((server) => ({
    ...server,
    status: migrating.has(server.id) ? 'migrating' : replicating.has(server.id) ? 'replicating' : server.status,
  }));
}

/** 'migrating' or 'replicating' while such work on the server is under way, else null. */
export async function activeWorkOn(deps: ServiceDeps, server: ServerRecord): Promise<'migrating' | 'replicating' | null> {
  const [live] = await withLiveStatus(deps, [server]);
  return live!.status === 'migrating' || live!.status === 'replicating' ? live!.status : null;
}

export function serverHandlers(deps: ServiceDeps): HandlerTable {
  return {
    async listServers({ query }) {
      const servers = await withLiveStatus(deps, await deps.records.list<ServerRecord>('servers'));
      return { items: filterBy(servers, query) };
    },

    async getServer({ params }) {
      const [server] = await withLiveStatus(deps, [await getByRef<ServerRecord>(deps, 'servers', params.serverId!, 'server')]);
      return server;
    },

    async registerServer({ body }) {
      const name = body.name as string;
      const source = body.source as string;
      const refused = await refusal(deps.sources, source);
      if (refused) throw invalidField('body', 'source', refused);
      const created = await deps.records.create<ServerRecord>(
        'servers',
        { name, source, tags: (body.tags as string[] | undefined) ?? [], ...(await checkSource(deps, source)) },
        { uniqueName: name },
      );
      if (!created.ok) throw conflict(`a server named ${name} is already registered as ${created.heldBy}`);
      deps.logger.info({ serverId: created.record.id, name, status: created.record.status }, 'server registered');
      return created.record;
    },

    async deregisterServer({ params }) {
      const server = await getByRef<ServerRecord>(deps, 'servers', params.serverId!, 'server');
      const busy = await activeWorkOn(deps, server);
      if (busy) throw conflict(`${server.name} is ${busy}; cancel or stop that first`);
      await deps.records.remove('servers', server);
      return undefined;
    },
  };
}
