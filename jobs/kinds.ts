/** One queue per kind of work. */
export const JOB_KINDS = ['migrate', 'import', 'inspect', 'plan', 'replicate', 'build'] as const;

export type JobKind = (typeof JOB_KINDS)[number];

/** What every job carries: the record it works for and, when known, the conversation to report to. */
export interface JobData {
  recordId: string;
  /** Which step of the record's work, for kinds with more than one (a plan is computed, then executed). */
  action: string;
  /** An opaque reference to the conversation (a Slack thread, a call) that asked for the work. */
  conversation?: string;
}

/** Work that must run on a particular machine (a migration lands on its target host) has a queue per host. */
const HOST_BOUND: ReadonlySet<JobKind> = new Set(['migrate']);

/** The host a migration goes to when none is named: the one machine of a single-machine install. */
export const DEFAULT_TARGET_HOST = 'default';

/** The queue of a kind of work, and for host-bound work, of one host (BullMQ forbids ':' in names). */
export function queueName(kind: JobKind, host: string = DEFAULT_TARGET_HOST): string {
  return HOST_BOUND.has(kind) ? `${kind}.${host}` : kind;
}

/** The kind of work a queue carries, from its name. */
export function kindOfQueue(name: string): JobKind | null {
  const kind = name.split('.')[0]!;
  return isJobKind(kind) ? kind : null;
}

export function isJobKind(value: string): value is JobKind {
  return (JOB_KINDS as readonly string[]).includes(value);
}
