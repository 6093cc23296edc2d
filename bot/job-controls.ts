import type { CommandFrame, Grammar } from '../nlu/frame.ts';
import { prefixedAlternatives } from '../nlu/param-matcher.ts';

// The buttons under a job's progress message. They are found in the catalog, not named in code:
// the operations that pause, resume or cancel a record, by their verb and an id parameter whose
// pattern the record's id matches.

export interface JobControl {
  label: string;
  operationId: string;
  params: Record<string, unknown>;
}

const CONTROLS = [
  { verb: 'pause', label: 'Pause', whenPaused: false },
  { verb: 'resume', label: 'Resume', whenPaused: true },
  { verb: 'cancel', label: 'Cancel', whenPaused: null },
] as const;

/**
 * The single required parameter of `frame` that names the record, or null. Its pattern must take
 * the id by its prefix (^mig-…): a pattern loose enough for any name (a server's) takes every id.
 */
export function recordParam(frame: CommandFrame, recordId: string): string | null {
  const required = frame.params.filter((param) => param.required);
  if (required.length !== 1) return null;
  const param = required[0]!;
  return prefixedAlternatives(param.pattern).some((alternative) => alternative.regex.test(recordId)) ? param.name : null;
}

/** Pause (or Resume while paused) and Cancel for the record, as far as the catalog has them. */
export function jobControls(grammar: Grammar, recordId: string, paused: boolean): JobControl[] {
  const controls: JobControl[] = [];
  for (const control of CONTROLS) {
    if (control.whenPaused !== null && control.whenPaused !== paused) continue;
    for (const frame of grammar.frames) {
      if (frame.verb !== control.verb || !frame.changesState) continue;
      const param = recordParam(frame, recordId);
      if (param === null) continue;
      controls.push({ label: control.label, operationId: frame.id, params: { [param]: recordId } });
      break;
    }
  }
  return controls;
}
