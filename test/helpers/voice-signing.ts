import { createHmac } from 'node:crypto';

// Requests to the voice webhooks signed as their senders sign them, written from the published
// schemes rather than with Ferry's own code, so the tests check Ferry against the schemes.

/** Twilio: base64 HMAC-SHA1 of the full URL followed by each POST parameter, sorted by name, name then value. */
export function twilioSignature(authToken: string, url: string, params: Readonly<Record<string, string>>): string {
  const data = url + Object.keys(params).sort().map((name) => `${name}${params[name]}`).join('');
  return createHmac('sha1', authToken).update(data).digest('base64');
}

/** Ferry's transcript webhook: "v1=" + hex HMAC-SHA256 of "<timestamp>.<raw body>". */
export function transcriptSignature(secret: string, timestamp: number, rawBody: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}
