import { isJsonObject, type JsonObject } from '../api-catalog/json.ts';
import type { Grammar } from '../nlu/frame.ts';
import type { CatalogCaller } from './catalog-caller.ts';
import { recordParam } from './job-controls.ts';
import type { RecordEnding } from './progress-reporter.ts';

// How a job's record says it ended: for progress messages whose job ended while no bot was
// listening, and for telling running jobs from ended ones (the App Home).

/** The ending a record's status says, or null while its job has not ended. */
export function endingOf(record: JsonObject): RecordEnding | null {
  if (record.status === 'completed') return { outcome: 'completed' };
  if (record.status === 'cancelled') return { outcome: 'cancelled' };
  if (record.status === 'failed') return { outcome: 'failed', reason: typeof record.statusReason === 'string' ? record.statusReason : 'the job failed' };
  return null;
}

/** Reads a record through the catalog's get operation whose id parameter takes the record's id by its prefix. */
export function recordEndings(grammar: Grammar, caller: CatalogCaller): (recordId: string) => Promise<RecordEnding | null> {
  return async (recordId) => {
    for (const frame of grammar.frames) {
      if (frame.actionClass !== 'get') continue;
      const param = recordParam(frame, recordId);
      if (param === null) continue;
      const result = await caller.call(frame.operation, { [param]: recordId });
      return result.ok && isJsonObject(result.body) ? endingOf(result.body) : null;
    }
    return null;
  };
}
