import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import twilio from 'twilio';
import { Ajv } from 'ajv';
import { checkTranscriptSignature, MAX_AGE_SECONDS } from './transcript-signature.ts';
import type { VoiceCalls, VoiceReply } from './voice-calls.ts';

// The voice webhooks, on the same port as the API and Slack:
// - POST /voice/twilio: Twilio's call webhook and <Gather input="speech"> callbacks, verified by
//   X-Twilio-Signature, answered with TwiML that says the reply and listens for the next words;
// - POST /voice/transcripts: any transcription service, verified by X-Ferry-Signature, answered
//   with JSON for the service to speak.

export const TWILIO_PATH = '/voice/twilio';
export const TRANSCRIPTS_PATH = '/voice/transcripts';

export interface VoiceRoutesOptions {
  calls: VoiceCalls;
  /** Twilio's auth token and the public URL Twilio calls (its signature covers the URL). */
  twilio: { authToken: string; publicUrl: string } | null;
  /** VOICE_WEBHOOK_SECRET, for the generic webhook. */
  transcriptsSecret: string | null;
  redis: Redis;
  logger: Logger;
}

const LANGUAGE = 'en-US';
const SEEN_PREFIX = 'ferry:voice:seen:';

const transcriptSchema = {
  type: 'object',
  required: ['text', 'callerId', 'sessionId'],
  properties: {
    text: { type: 'string', maxLength: 2000 },
    callerId: { type: 'string', minLength: 1, maxLength: 64 },
    sessionId: { type: 'string', pattern: '^[\\x21-\\x7e]{1,100}$' },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
  },
} as const;

interface Transcript {
  text: string;
  callerId: string;
  sessionId: string;
  confidence?: number;
}

const validTranscript = new Ajv({ allErrors: true }).compile<Transcript>(transcriptSchema);

function problem(reply: FastifyReply, status: number, title: string, detail: string): FastifyReply {
  return reply.code(status).type('application/problem+json').send({ type: 'about:blank', title, status, detail });
}

/** TwiML: say the reply and listen for the next words, or say goodbye and hang up. */
function twiml(answer: VoiceReply): string {
  const response = new twilio.twiml.VoiceResponse();
  if (answer.hangUp) {
    response.say(answer.reply);
    response.hangup();
    return response.toString();
  }
  const gather = response.gather({ input: ['speech'], action: TWILIO_PATH, method: 'POST', speechTimeout: 'auto', language: LANGUAGE, ...(answer.awaitingConfirmation ? { hints: 'yes, no' } : {}) });
  gather.say({ language: LANGUAGE }, answer.reply);
  // Gather falls through when nothing was said.
  response.say({ language: LANGUAGE }, 'I did not hear anything. Call again when you need me. Goodbye.');
  response.hangup();
  return response.toString();
}

export function voiceRoutes(server: FastifyInstance, options: VoiceRoutesOptions): void {
  void server.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

    if (options.twilio) {
      const { authToken, publicUrl } = options.twilio;
      scope.post(TWILIO_PATH, async (request, reply) => {
        const params = Object.fromEntries(new URLSearchParams(typeof request.body === 'string' ? request.body : ''));
        const signature = request.headers['x-twilio-signature'];
        // Twilio signs the URL it called, which is the public one, not the one this server sees.
        const url = `${publicUrl.replace(/\/+$/, '')}${request.url}`;
        if (typeof signature !== 'string' || !twilio.validateRequest(authToken, signature, url, params)) {
          options.logger.warn({ url, callSid: params.CallSid }, 'refused a Twilio request with a bad signature');
          return reply.code(403).type('text/plain').send('The X-Twilio-Signature does not match this request; check TWILIO_AUTH_TOKEN and FERRY_PUBLIC_URL.');
        }
        if (!params.CallSid || !params.From) return reply.code(400).type('text/plain').send('CallSid and From are required.');
        const answer =
          params.SpeechResult === undefined
            ? await options.calls.greet(params.CallSid, params.From)
            : await options.calls.heard({ callId: params.CallSid, callerId: params.From, text: params.SpeechResult, confidence: params.Confidence ? Number(params.Confidence) : null });
        return reply.type('text/xml').send(twiml(answer));
      });
    }

    if (options.transcriptsSecret) {
      const secret = options.transcriptsSecret;
      scope.post(TRANSCRIPTS_PATH, async (request, reply) => {
        const raw = typeof request.body === 'string' ? request.body : '';
        const timestamp = request.headers['x-ferry-timestamp'];
        const signature = request.headers['x-ferry-signature'];
        const check = checkTranscriptSignature(secret, typeof timestamp === 'string' ? timestamp : undefined, typeof signature === 'string' ? signature : undefined, raw);
        if (!check.ok) return problem(reply, 401, 'Unauthorized', check.reason);
        // A signed request seen before is a replay: within the timestamp's window it is refused.
        const fresh = await options.redis.set(`${SEEN_PREFIX}${signature}`, '1', 'EX', 2 * MAX_AGE_SECONDS, 'NX');
        if (fresh !== 'OK') return problem(reply, 409, 'Conflict', 'this request was handled already; send each transcript once, with its own timestamp');
        let body: unknown;
        try {
          body = JSON.parse(raw);
        } catch {
          return problem(reply, 400, 'Bad Request', 'the body is not valid JSON; send {"text", "callerId", "sessionId", "confidence"?}');
        }
        if (!validTranscript(body)) {
          const detail = (validTranscript.errors ?? [])
            .map((error) => (error.keyword === 'required' ? `${String(error.params.missingProperty)} is required` : `${error.instancePath.slice(1) || 'the body'} ${error.message}`))
            .join('; ');
          return problem(reply, 400, 'Bad Request', detail);
        }
        const answer = await options.calls.heard({ callId: body.sessionId, callerId: body.callerId, text: body.text, confidence: body.confidence ?? null });
        return reply.send({ reply: answer.reply, awaitingConfirmation: answer.awaitingConfirmation, sessionId: body.sessionId });
      });
    }
  });
}
