import { Redis } from 'ioredis';

/** Queue keys live under this prefix, and records under `${KEY_PREFIX}:rec:…`. */
export const KEY_PREFIX = 'ferry';

/** BullMQ's workers block on Redis and need commands never to give up while Redis reconnects. */
export function bullConnection(url: string): { url: string; maxRetriesPerRequest: null } {
  return { url, maxRetriesPerRequest: null };
}

export function redisClient(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}
