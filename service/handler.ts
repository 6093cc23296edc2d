import type { Logger } from 'pino';
import type { JobQueues } from '../jobs/queues.ts';
import type { RecordStore } from '../jobs/records.ts';
import type { SourcePolicy } from './source-policy.ts';

/** What a request brings to a handler, already validated against the operation's schemas. */
export interface RequestInput {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
  /** The X-Ferry-Conversation header: the thread or call a job reports its progress to. */
  conversation: string | undefined;
}

/** Returns the response body (undefined for an empty answer); the status comes from the spec. */
export type Handler = (input: RequestInput) => Promise<unknown>;

export interface ServiceDeps {
  records: RecordStore;
  queues: JobQueues;
  sources: SourcePolicy;
  logger: Logger;
  /** How long registerServer waits for a source to answer. */
  sourceTimeoutMs: number;
}

export type HandlerTable = Record<string, Handler>;
