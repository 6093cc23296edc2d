import type { CommandFrame, Grammar } from './frame.ts';
import { matcherOf } from './param-matcher.ts';

// The conversation's memory for "it", "that migration", "the same server": the last id of each
// resource, keyed by the resource nouns id parameters refer to (ParamFrame.refersTo), which are
// the keys understand() looks ids up by.

/** Moves `noun` to the end, so the most recent resource is last, as understand() expects. */
function remember(lastResources: Record<string, string>, noun: string, id: string): void {
  delete lastResources[noun];
  lastResources[noun] = id;
}

function idText(value: unknown): string | null {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number') return String(value);
  return null;
}

/** Remembers the ids the user gave for the frame's parameters that name a resource (the last of a list). */
export function rememberGivenIds(lastResources: Record<string, string>, frame: CommandFrame, params: Record<string, unknown>): void {
  for (const param of frame.params) {
    const value = params[param.name];
    const id = idText(Array.isArray(value) ? value.at(-1) : value);
    if (param.refersTo !== null && id !== null) remember(lastResources, param.refersTo, id);
  }
}

/**
 * The noun ids of the frame's resource are remembered under: the resource itself when some
 * parameter refers to it, or the longest such noun it ends with ("image import" → "import", the
 * noun importId refers to).
 */
function resourceKey(grammar: Grammar, frame: CommandFrame): string {
  const referred = new Set(grammar.frames.flatMap((other) => other.params.map((param) => param.refersTo)));
  const words = frame.resource.split(' ');
  for (let start = 0; start < words.length; start++) {
    const noun = words.slice(start).join(' ');
    if (referred.has(noun)) return noun;
  }
  return frame.resource;
}

/** The id of an operation's result: a record's `id`, or the id of the only item of a list. */
function resultId(result: unknown): string | null {
  if (typeof result !== 'object' || result === null) return null;
  const record = result as { id?: unknown; items?: unknown };
  if (record.id !== undefined) return idText(record.id);
  if (Array.isArray(record.items) && record.items.length === 1) return resultId(record.items[0]);
  return null;
}

/** The noun of the parameters whose pattern gives ids like this one their own prefix (imp-2 → import), if any. */
function nounOfPrefixedId(grammar: Grammar, id: string): string | null {
  for (const frame of grammar.frames) {
    for (const param of frame.params) {
      if (param.refersTo !== null && matcherOf(param).specific.some((pattern) => pattern.test(id))) return param.refersTo;
    }
  }
  return null;
}

/**
 * Remembers the id of what the frame's operation returned: under the resource its prefix names
 * (importImage returns an import, imp-…), else under the frame's resource.
 */
export function rememberResult(lastResources: Record<string, string>, grammar: Grammar, frame: CommandFrame, result: unknown): void {
  const id = resultId(result);
  if (id !== null) remember(lastResources, nounOfPrefixedId(grammar, id) ?? resourceKey(grammar, frame), id);
}
