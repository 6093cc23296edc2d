import type { InvokeResult } from '../api-catalog/invoker.ts';
import { isJsonObject, type JsonObject } from '../api-catalog/json.ts';
import type { CommandFrame, Grammar } from '../nlu/frame.ts';
import { capitalised, describeCommand } from '../nlu/wording.ts';

// What an operation answered, as a few plain lines for any API: a record by its id, name and
// status, a list one item a line, an error by the problem's detail. The raw answer stays with the API.

const MAX_ITEMS = 15;
const MAX_FIELDS = 8;
const MAX_VALUE = 120;

// The fields that tell a record apart and say where it stands, in the order they are shown.
const HEADLINE_FIELDS = ['id', 'name', 'status'];


function scalar(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value.length > MAX_VALUE ? `${value.slice(0, MAX_VALUE - 1)}…` : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return null;
}

/** "mig-3 · web-01 · backfilling", or the first few scalar values when the item has none of those fields. */
function headline(item: unknown): string {
  if (!isJsonObject(item)) return scalar(item) ?? JSON.stringify(item);
  const known = HEADLINE_FIELDS.map((field) => scalar(item[field])).filter((value): value is string => value !== null);
  const shown = known.length > 0 ? known : Object.values(item).map(scalar).filter((value): value is string => value !== null).slice(0, 3);
  return shown.join(' · ') || '(no fields)';
}

/** The list in an answer: the answer itself, or its one array field (`items`, `servers`…). */
export function listIn(body: unknown): unknown[] | null {
  if (Array.isArray(body)) return body;
  if (!isJsonObject(body)) return null;
  const arrays = Object.values(body).filter(Array.isArray);
  return arrays.length === 1 ? arrays[0]! : null;
}

function listText(items: unknown[], frame: CommandFrame): string {
  if (items.length === 0) return `No ${frame.resource} found.`;
  const lines = items.slice(0, MAX_ITEMS).map((item) => `• ${headline(item)}`);
  if (items.length > MAX_ITEMS) lines.push(`… and ${items.length - MAX_ITEMS} more.`);
  return lines.join('\n');
}

// Timestamps (createdAt, updatedAt…) say little in a chat; the API has them.
const isTimestamp = (name: string): boolean => /[a-z]At$/.test(name);

function recordText(record: JsonObject): string {
  const fields = Object.entries(record)
    .filter(([name]) => !HEADLINE_FIELDS.includes(name) && !isTimestamp(name))
    .map(([name, value]) => [name, scalar(value)] as const)
    .filter((entry): entry is readonly [string, string] => entry[1] !== null)
    .slice(0, MAX_FIELDS);
  return [headline(record), ...fields.map(([name, value]) => `${name}: ${value}`)].join('\n');
}

/** The answer of a call in words, with what was asked for as its first line. */
export function resultText(grammar: Grammar, frame: CommandFrame, params: Readonly<Record<string, unknown>>, result: InvokeResult): string {
  const asked = describeCommand(grammar, frame, params);
  if (!result.ok) return `Sorry, ${asked} failed (${result.status}): ${result.problem.detail ?? result.problem.title}`;
  const body = result.body;
  if (body === null || body === undefined || body === '') return `Done: ${asked}.`;
  if (frame.actionClass === 'list' || Array.isArray(body)) {
    const items = listIn(body);
    if (items) return `${capitalised(asked)}:\n${listText(items, frame)}`;
  }
  if (isJsonObject(body)) {
    const started = result.status === 202 ? ' Started.' : '';
    return `${capitalised(asked)}.${started}\n${recordText(body)}`;
  }
  return `${capitalised(asked)}: ${scalar(body) ?? JSON.stringify(body)}`;
}

/** The id of the record an answer holds (the `id` field of an object body), if any. */
export function recordIdOf(body: unknown): string | null {
  return isJsonObject(body) && typeof body.id === 'string' ? body.id : null;
}

/** The job a 202 answer started, when the record names it (Ferry's records carry `jobId`). */
export function jobIdOf(body: unknown): string | null {
  return isJsonObject(body) && typeof body.jobId === 'string' ? body.jobId : null;
}

