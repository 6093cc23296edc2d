import type { Redis } from 'ioredis';
import { isJsonObject } from '../api-catalog/json.ts';

// Where a conversation's state lives between turns. It is kept in Redis, not in memory, so a bot
// restarted while a question or a confirmation is open takes the next message up where it was.

/** An operation with the parameters the user gave so far. */
export interface Command {
  operationId: string;
  params: Record<string, unknown>;
}

/** What the conversation waits for from the user. */
export type Pending =
  /** The answer to a question about one required parameter of the command. */
  | { awaiting: 'answer'; command: Command; param: string; utterance: string }
  /** Yes or no before the command changes anything. */
  | { awaiting: 'confirmation'; command: Command; utterance: string }
  /** Which of close operations the utterance meant. */
  | { awaiting: 'choice'; utterance: string; operationIds: string[] };

export interface ConversationState {
  pending: Pending | null;
  /** The last id of each resource noun, the most recent last (as `UnderstandingContext.lastResources`). */
  lastResources: Record<string, string>;
}

export interface ConversationStore {
  /** The conversation's state; a fresh one when there was none or it expired. */
  load(conversationId: string): Promise<ConversationState>;
  /** Keeps the state, for a full expiry period from now. */
  save(conversationId: string, state: ConversationState): Promise<void>;
}

export const DEFAULT_CONVERSATION_TTL_SECONDS = 30 * 60;
export const DEFAULT_CONVERSATION_PREFIX = 'ferry:conversation:';

export interface RedisConversationStoreOptions {
  /** How long a conversation nobody speaks in is kept (default 30 minutes). */
  ttlSeconds?: number;
  /** Prefix of the keys, followed by the conversation id (default `ferry:conversation:`). */
  prefix?: string;
}

const AWAITING = new Set<string>(['answer', 'confirmation', 'choice']);

function isState(value: unknown): value is ConversationState {
  if (!isJsonObject(value) || !isJsonObject(value.lastResources)) return false;
  return value.pending === null || (isJsonObject(value.pending) && AWAITING.has(String(value.pending.awaiting)) && typeof value.pending.utterance === 'string');
}

const freshState = (): ConversationState => ({ pending: null, lastResources: {} });

/** Each conversation's state as one JSON string under `prefix + conversationId`, expiring `ttlSeconds` after the last turn. */
export class RedisConversationStore implements ConversationStore {
  readonly ttlSeconds: number;
  readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    options: RedisConversationStoreOptions = {},
  ) {
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_CONVERSATION_TTL_SECONDS;
    this.prefix = options.prefix ?? DEFAULT_CONVERSATION_PREFIX;
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 1) throw new RangeError('ttlSeconds is a whole number of seconds, at least 1');
  }

  keyOf(conversationId: string): string {
    return `${this.prefix}${conversationId}`;
  }

  async load(conversationId: string): Promise<ConversationState> {
    const json = await this.redis.get(this.keyOf(conversationId));
    if (json === null) return freshState();
    let stored: unknown;
    try {
      stored = JSON.parse(json);
    } catch {
      stored = null;
    }
    // A state this version cannot read (written by another one, or damaged) counts as expired:
    // the user is asked again rather than stuck.
    return isState(stored) ? stored : freshState();
  }

  async save(conversationId: string, state: ConversationState): Promise<void> {
    await this.redis.set(this.keyOf(conversationId), JSON.stringify(state), 'EX', this.ttlSeconds);
  }
}
