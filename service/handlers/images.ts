import { openFileSource, openHttpSource, ByteSourceError, type ByteSource } from '../../disk/byte-source.ts';
import { probeImage } from '../../disk/formats/probe.ts';
import type { ImageRecord, ImportRecord, PipelineRecord } from '../../jobs/record-types.ts';
import type { HandlerTable, ServiceDeps } from '../handler.ts';
import { conflict, invalidField } from '../problem.ts';
import { refusal } from '../source-policy.ts';
import { enqueueFor, filterBy, mustGet, queuedFields, transition } from './common.ts';

const IMPORT_RUNNING = ['queued', 'downloading', 'converting', 'inspecting'];

async function allowedSourceUrl(deps: ServiceDeps, sourceUrl: string): Promise<void> {
  const refused = await refusal(deps.sources, sourceUrl);
  if (refused) throw invalidField('body', 'sourceUrl', refused);
}

async function openImage(deps: ServiceDeps, sourceUrl: string): Promise<ByteSource> {
  return sourceUrl.startsWith('/') ? openFileSource(sourceUrl) : openHttpSource(sourceUrl, (url) => refusal(deps.sources, url), deps.sourceTimeoutMs);
}

export function imageHandlers(deps: ServiceDeps): HandlerTable {
  return {
    async probeDiskImage({ body }) {
      const sourceUrl = body.sourceUrl as string;
      await allowedSourceUrl(deps, sourceUrl);
      let source: ByteSource;
      try {
        source = await openImage(deps, sourceUrl);
      } catch (error) {
        if (error instanceof ByteSourceError) {
          return { sourceUrl, format: null, subformat: null, virtualSize: null, bytesRead: 0, supported: false, reason: error.message };
        }
        throw error;
      }
      try {
        return { sourceUrl, ...(await probeImage(source)), bytesRead: source.bytesRead };
      } finally {
        await source.close();
      }
    },

    async listImageImports({ query }) {
      return { items: filterBy(await deps.records.list<ImportRecord>('imports'), query) };
    },

    async importImage({ body, conversation }) {
      const sourceUrl = body.sourceUrl as string;
      await allowedSourceUrl(deps, sourceUrl);
      const created = await deps.records.create<ImportRecord>('imports', {
        ...queuedFields(),
        sourceUrl,
        name: (body.name as string | undefined) ?? null,
        format: body.format as string,
        targetFormat: body.targetFormat as string,
        imageId: null,
      });
      if (!created.ok) throw new Error('import ids collided');
      return enqueueFor(deps, 'imports', created.record, 'import', 'import', conversation);
    },

    async getImageImport({ params }) {
      return mustGet<ImportRecord>(deps, 'imports', params.importId!, 'image import');
    },

    async cancelImageImport({ params }) {
      const imported = await transition<ImportRecord>(deps, 'imports', params.importId!, { status: 'cancelled', statusReason: 'cancelled by request' }, IMPORT_RUNNING, 'image import', 'cancelled');
      if (imported.jobId) await deps.queues.withdraw('import', imported.jobId);
      return imported;
    },

    async listImages({ query }) {
      return { items: filterBy(await deps.records.list<ImageRecord>('images'), query) };
    },

    async getImage({ params }) {
      return mustGet<ImageRecord>(deps, 'images', params.imageId!, 'image');
    },

    async deleteImage({ params }) {
      const image = await mustGet<ImageRecord>(deps, 'images', params.imageId!, 'image');
      const users = (await deps.records.list<PipelineRecord>('pipelines')).filter((pipeline) => pipeline.baseImageId === image.id);
      if (users.length) throw conflict(`${image.id} is the base image of ${users.map((pipeline) => pipeline.name).join(', ')}; change or delete those pipelines first`);
      await deps.records.remove('images', image);
      return undefined;
    },

    async inspectImage({ params, conversation }) {
      const image = await transition<ImageRecord>(
        deps,
        'images',
        params.imageId!,
        { inspection: { status: 'queued', reason: null, at: new Date().toISOString() } },
        ['available'],
        'image',
        'inspected',
      );
      return enqueueFor(deps, 'images', image, 'inspect', 'inspect', conversation);
    },
  };
}
