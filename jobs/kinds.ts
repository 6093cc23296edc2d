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

export function isJobKind(value: string): value is JobKind {
  return (JOB_KINDS as readonly string[]).includes(value);
}
