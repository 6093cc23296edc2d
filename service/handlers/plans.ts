import type { PlanRecord, ServerRecord } from '../../jobs/record-types.ts';
import type { HandlerTable, ServiceDeps } from '../handler.ts';
import { enqueueFor, getByRef, mustGet, queuedFields, transition } from './common.ts';

export function planHandlers(deps: ServiceDeps): HandlerTable {
  return {
    async listMigrationPlans() {
      return { items: await deps.records.list<PlanRecord>('plans') };
    },

    async createMigrationPlan({ body, conversation }) {
      const refs = body.serverIds as string[];
      const servers = await Promise.all(refs.map((ref) => getByRef<ServerRecord>(deps, 'servers', ref, 'server')));
      const created = await deps.records.create<PlanRecord>('plans', {
        ...queuedFields(),
        name: (body.name as string | undefined) ?? `plan for ${servers.map((server) => server.name).join(', ')}`.slice(0, 100),
        serverIds: [...new Set(servers.map((server) => server.id))],
        streams: null,
        waves: [],
      });
      if (!created.ok) throw new Error('plan ids collided');
      return enqueueFor(deps, 'plans', created.record, 'plan', 'compute', conversation);
    },

    async getMigrationPlan({ params }) {
      return mustGet<PlanRecord>(deps, 'plans', params.planId!, 'plan');
    },

    async executeMigrationPlan({ params, body, conversation }) {
      const plan = await transition<PlanRecord>(
        deps,
        'plans',
        params.planId!,
        { status: 'executing', statusReason: null, streams: (body.streams as number | undefined) ?? null },
        ['ready'],
        'plan',
        'executed',
      );
      return enqueueFor(deps, 'plans', plan, 'plan', 'execute', conversation);
    },
  };
}
