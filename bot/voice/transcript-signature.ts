import { createHmac, timingSafeEqual } from 'node:crypto';

// The generic transcript webhook is signed as Slack and Stripe sign theirs: X-Ferry-Timestamp
// (Unix seconds) and X-Ferry-Signature "v1=" + hex HMAC-SHA256 of "<timestamp>.<raw body>" with
// VOICE_WEBHOOK_SECRET. The timestamp bounds how long a captured request can be replayed.

export const MAX_AGE_SECONDS = 5 * 60;

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

export function signTranscript(secret: string, timestamp: number, rawBody: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

export function checkTranscriptSignature(secret: string, timestamp: string | undefined, signature: string | undefined, rawBody: string, nowMs = Date.now()): SignatureCheck {
  if (!timestamp || !signature) return { ok: false, reason: 'X-Ferry-Timestamp and X-Ferry-Signature are required' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'X-Ferry-Timestamp must be Unix seconds' };
  const age = nowMs / 1000 - Number(timestamp);
  if (age > MAX_AGE_SECONDS) return { ok: false, reason: 'the request is older than five minutes; sign it again with the current time' };
  if (age < -MAX_AGE_SECONDS) return { ok: false, reason: "the request's timestamp is in the future; check the sender's clock" };
  const expected = Buffer.from(signTranscript(secret, Number(timestamp), rawBody));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'the signature does not match the body' };
  return { ok: true };
}
