import type { HandlerTable, ServiceDeps } from '../handler.ts';
import { imageHandlers } from './images.ts';
import { migrationHandlers } from './migrations.ts';
import { pipelineHandlers } from './pipelines.ts';
import { planHandlers } from './plans.ts';
import { replicationHandlers } from './replications.ts';
import { serverHandlers } from './servers.ts';

/** Every operation of Ferry's own specs, by operationId. */
export function ferryHandlers(deps: ServiceDeps): HandlerTable {
  return {
    ...serverHandlers(deps),
    ...migrationHandlers(deps),
    ...planHandlers(deps),
    ...replicationHandlers(deps),
    ...imageHandlers(deps),
    ...pipelineHandlers(deps),
  };
}
