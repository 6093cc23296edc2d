import type { Grammar } from '../nlu/frame.ts';
import type { CatalogCaller } from './catalog-caller.ts';
import { recordParam } from './job-controls.ts';
import type { RecordEnding } from './progress-reporter.ts';

// How a job's record says it ended, read through the catalog's get operation for that record (the
// one whose id parameter's pattern the record's id matches), for progress messages whose job ended
// while no bot was listening.

type Json = Record<string, unknown>;

export function recordEndings(grammar: Grammar, caller: CatalogCaller): (recordId: string) => Promise<RecordEnding | null> {
  return async (recordId) => {
    for (const frame of grammar.frames) {
      if (frame.actionClass !== 'get') continue;
      const param = recordParam(frame, recordId);
      if (param === null) continue;
      const result = await caller.call(frame.operation, { [param]: recordId });
      const record = result.ok && typeof result.body === 'object' && result.body !== null ? (result.body as Json) : null;
      if (record?.status === 'completed') return { outcome: 'completed' };
      if (record?.status === 'cancelled') return { outcome: 'cancelled' };
      if (record?.status === 'failed') return { outcome: 'failed', reason: typeof record.statusReason === 'string' ? record.statusReason : 'the job failed' };
      return null;
    }
    return null;
  };
}
