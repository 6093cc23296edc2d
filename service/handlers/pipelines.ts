import type { BuildRecord, ImageRecord, PipelineRecord } from '../../jobs/record-types.ts';
import type { HandlerTable, ServiceDeps } from '../handler.ts';
import { conflict } from '../problem.ts';
import { enqueueFor, getByRef, mustGet, queuedFields } from './common.ts';

const BUILD_RUNNING = ['queued', 'building'];

export function pipelineHandlers(deps: ServiceDeps): HandlerTable {
  const buildsOf = async (pipelineId: string): Promise<BuildRecord[]> =>
    (await deps.records.list<BuildRecord>('builds')).filter((build) => build.pipelineId === pipelineId);

  return {
    async listImagePipelines() {
      return { items: await deps.records.list<PipelineRecord>('pipelines') };
    },

    async createImagePipeline({ body }) {
      const baseImageId = (body.baseImageId as string | undefined) ?? null;
      if (baseImageId) await mustGet<ImageRecord>(deps, 'images', baseImageId, 'image');
      const name = body.name as string;
      const created = await deps.records.create<PipelineRecord>(
        'pipelines',
        {
          name,
          components: body.components as PipelineRecord['components'],
          baseImageId,
          format: body.format as string,
          rebuildOnChange: body.rebuildOnChange as boolean,
          schedule: (body.schedule as string | undefined) ?? null,
          lastBuildId: null,
        },
        { uniqueName: name },
      );
      if (!created.ok) throw conflict(`a pipeline named ${name} already exists as ${created.heldBy}`);
      return created.record;
    },

    async getImagePipeline({ params }) {
      return getByRef<PipelineRecord>(deps, 'pipelines', params.pipelineId!, 'pipeline');
    },

    async deleteImagePipeline({ params }) {
      const pipeline = await getByRef<PipelineRecord>(deps, 'pipelines', params.pipelineId!, 'pipeline');
      const running = (await buildsOf(pipeline.id)).filter((build) => BUILD_RUNNING.includes(build.status));
      if (running.length) throw conflict(`${pipeline.name} has builds under way (${running.map((build) => build.id).join(', ')}); wait for them to end`);
      await deps.records.remove('pipelines', pipeline);
      return undefined;
    },

    async listImageBuilds({ params }) {
      const pipeline = await getByRef<PipelineRecord>(deps, 'pipelines', params.pipelineId!, 'pipeline');
      return { items: await buildsOf(pipeline.id) };
    },

    async startImageBuild({ params, body, conversation }) {
      const pipeline = await getByRef<PipelineRecord>(deps, 'pipelines', params.pipelineId!, 'pipeline');
      const created = await deps.records.create<BuildRecord>('builds', {
        ...queuedFields(),
        pipelineId: pipeline.id,
        reason: (body.reason as string | undefined) ?? null,
        imageId: null,
      });
      if (!created.ok) throw new Error('build ids collided');
      await deps.records.update<PipelineRecord>('pipelines', pipeline.id, { lastBuildId: created.record.id });
      return enqueueFor(deps, 'builds', created.record, 'build', 'build', conversation);
    },

    async getImageBuild({ params }) {
      return mustGet<BuildRecord>(deps, 'builds', params.buildId!, 'image build');
    },
  };
}
