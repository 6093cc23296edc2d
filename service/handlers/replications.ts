import type { ImageRecord, ReplicationRecord, ServerRecord, SnapshotRecord } from '../../jobs/record-types.ts';
import type { HandlerTable, ServiceDeps } from '../handler.ts';
import { conflict } from '../problem.ts';
import { enqueueFor, getByRef, mustGet, queuedFields, transition } from './common.ts';
import { activeWorkOn } from './servers.ts';

export function replicationHandlers(deps: ServiceDeps): HandlerTable {
  return {
    async listReplications({ query }) {
      let items = await deps.records.list<ReplicationRecord>('replications');
      if (typeof query.serverId === 'string') {
        const server = await getByRef<ServerRecord>(deps, 'servers', query.serverId, 'server');
        items = items.filter((replication) => replication.serverId === server.id);
      }
      return { items };
    },

    async startReplication({ body, conversation }) {
      const server = await getByRef<ServerRecord>(deps, 'servers', body.serverId as string, 'server');
      const busy = await activeWorkOn(deps, server);
      if (busy) throw conflict(`${server.name} is already ${busy}; wait for that to end or stop it`);
      const created = await deps.records.create<ReplicationRecord>('replications', {
        ...queuedFields(),
        serverId: server.id,
        serverName: server.name,
        intervalMinutes: body.intervalMinutes as number,
        lastSyncAt: null,
      });
      if (!created.ok) throw new Error('replication ids collided');
      return enqueueFor(deps, 'replications', created.record, 'replicate', 'sync', conversation);
    },

    async getReplication({ params }) {
      return mustGet<ReplicationRecord>(deps, 'replications', params.replicationId!, 'replication');
    },

    async stopReplication({ params }) {
      const replication = await transition<ReplicationRecord>(deps, 'replications', params.replicationId!, { status: 'stopped', statusReason: 'stopped by request' }, ['queued', 'syncing', 'idle'], 'replication', 'stopped');
      if (replication.jobId) await deps.queues.withdraw('replicate', replication.jobId);
      return replication;
    },

    async syncReplication({ params, conversation }) {
      const replication = await transition<ReplicationRecord>(deps, 'replications', params.replicationId!, { status: 'queued', statusReason: null }, ['idle', 'failed'], 'replication', 'synced now');
      return enqueueFor(deps, 'replications', replication, 'replicate', 'sync', conversation);
    },

    async listSnapshots({ params }) {
      const replication = await mustGet<ReplicationRecord>(deps, 'replications', params.replicationId!, 'replication');
      const snapshots = await deps.records.list<SnapshotRecord>('snapshots');
      return { items: snapshots.filter((snapshot) => snapshot.replicationId === replication.id) };
    },

    async createMachineImage({ params, body, conversation }) {
      const snapshot = await mustGet<SnapshotRecord>(deps, 'snapshots', params.snapshotId!, 'snapshot');
      const server = await deps.records.get<ServerRecord>('servers', snapshot.serverId);
      const created = await deps.records.create<ImageRecord>('images', {
        ...queuedFields(),
        status: 'creating',
        name: (body.name as string | undefined) ?? `${server?.name ?? snapshot.serverId}-${snapshot.id}`,
        format: null,
        virtualSize: snapshot.sizeBytes,
        os: null,
        source: { kind: 'snapshot', ref: snapshot.id },
        inspection: null,
      });
      if (!created.ok) throw new Error('image ids collided');
      return enqueueFor(deps, 'images', created.record, 'import', 'snapshot', conversation);
    },
  };
}
