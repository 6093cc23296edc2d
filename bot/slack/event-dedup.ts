import type { Redis } from 'ioredis';

// Slack delivers an event again (with X-Slack-Retry-Num) when the first delivery was not acked
// in three seconds or failed. The event id is remembered, so a retried event is acked and nothing
// more: one command, one answer.

const KEY_PREFIX = 'ferry:slack:event:';
// Slack retries for about an hour at most.
const REMEMBER_SECONDS = 2 * 3600;

/** True the first time an event id is seen, in any process sharing the Redis. */
export async function firstDelivery(redis: Redis, eventId: string): Promise<boolean> {
  return (await redis.set(`${KEY_PREFIX}${eventId}`, '1', 'EX', REMEMBER_SECONDS, 'NX')) === 'OK';
}
