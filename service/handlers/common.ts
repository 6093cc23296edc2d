import type { JobKind } from '../../jobs/kinds.ts';
import type { JobbedRecord } from '../../jobs/record-types.ts';
import type { Collection, StoredRecord } from '../../jobs/records.ts';
import type { ServiceDeps } from '../handler.ts';
import { conflict, notFound } from '../problem.ts';

const NAMED: Partial<Record<Collection, string>> = { servers: 'srv-', pipelines: 'pipe-' };

export async function mustGet<T extends StoredRecord>(deps: ServiceDeps, collection: Collection, id: string, what: string): Promise<T> {
  const record = await deps.records.get<T>(collection, id);
  if (!record) throw notFound(what, id);
  return record;
}

/** Servers and pipelines are found by id or by name. */
export async function getByRef<T extends StoredRecord>(deps: ServiceDeps, collection: Collection, ref: string, what: string): Promise<T> {
  const idPrefix = NAMED[collection];
  const id = idPrefix && ref.startsWith(idPrefix) ? ref : ((await deps.records.idForName(collection, ref)) ?? ref);
  return mustGet<T>(deps, collection, id, what);
}

/** The fields every job-backed record starts with. */
export function queuedFields(): Pick<JobbedRecord, 'status' | 'statusReason' | 'progress' | 'jobId'> {
  return { status: 'queued', statusReason: null, progress: null, jobId: null };
}

/** Enqueues the record's work and remembers the job on the record. */
export async function enqueueFor<T extends JobbedRecord>(
  deps: ServiceDeps,
  collection: Collection,
  record: T,
  kind: JobKind,
  action: string,
  conversation: string | undefined,
  host?: string,
): Promise<T> {
  const jobId = await deps.queues.enqueue(kind, { recordId: record.id, action, ...(conversation ? { conversation } : {}) }, host);
  const updated = await deps.records.update<T>(collection, record.id, { jobId } as Partial<T>);
  return updated.ok ? updated.record : { ...record, jobId };
}

function spell(statuses: readonly string[]): string {
  return statuses.length === 1 ? statuses[0]! : `${statuses.slice(0, -1).join(', ')} or ${statuses.at(-1)}`;
}

/** Moves a record to a new state when it is in one of `from`; otherwise 404 or 409 saying why. */
export async function transition<T extends StoredRecord>(
  deps: ServiceDeps,
  collection: Collection,
  id: string,
  patch: Partial<T>,
  from: readonly string[],
  what: string,
  verb: string,
): Promise<T> {
  const result = await deps.records.update<T>(collection, id, patch, { from });
  if (result.ok) return result.record;
  if (result.reason === 'missing') throw notFound(what, id);
  throw conflict(`${id} is ${result.status}; only a ${spell(from)} ${what} can be ${verb}`);
}

/** Keeps the items whose fields equal every query value given. */
export function filterBy<T extends object>(items: T[], query: Record<string, unknown>): T[] {
  const wanted = Object.entries(query).filter(([, value]) => value !== undefined);
  return items.filter((item) => wanted.every(([field, value]) => (item as Record<string, unknown>)[field] === value));
}
