import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isFarewell } from '../../nlu/replies.ts';
import type { Conversations, Place, Speaker } from '../conversations.ts';
import type { ProgressReporter } from '../progress-reporter.ts';
import { forTheEar } from './spoken.ts';

// A phone call is a conversation like a Slack thread, one per call id. Replies are written for the
// ear; a transcript heard with too little confidence is asked again rather than acted on. When
// Slack is set up, each call has a thread in the voice channel with what was said and answered,
// and a job started on the call reports its progress there.

/** The Slack side of calls. */
export interface CallMirror {
  /** Opens the call's thread; answers its conversation id and its first message (for the reaction). */
  open(callId: string, callerId: string): Promise<{ conversation: string; rootRef: string }>;
  post(conversation: string, text: string): Promise<void>;
}

export interface HeardWords {
  callId: string;
  callerId: string;
  text: string;
  /** How sure the transcription is, 0 to 1, when the service says. */
  confidence: number | null;
}

export interface VoiceReply {
  /** What to say. */
  reply: string;
  /** True while a yes or no is expected. */
  awaitingConfirmation: boolean;
  /** The caller said goodbye. */
  hangUp: boolean;
}

interface CallState {
  thread: { conversation: string; rootRef: string } | null;
  awaitingConfirmation: boolean;
}

export interface VoiceCallsOptions {
  conversations: Conversations;
  reporter: ProgressReporter;
  redis: Redis;
  mirror: CallMirror | null;
  /** Transcripts less sure than this are asked again (default 0.5). */
  minConfidence?: number;
  logger: Logger;
}

export const DEFAULT_MIN_CONFIDENCE = 0.5;
export const GREETING = 'Ferry here. What shall I do?';
export const NOT_CAUGHT = 'Sorry, I did not catch that. Please say it again.';
const GOODBYE = 'Goodbye.';
const KEY_PREFIX = 'ferry:voice:call:';
// Longer than any call; the dialogue's own state expires after 30 minutes of silence.
const CALL_TTL_SECONDS = 6 * 3600;

export class VoiceCalls {
  private readonly minConfidence: number;

  constructor(private readonly options: VoiceCallsOptions) {
    this.minConfidence = options.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
  }

  /** The first words of a call, before anything was said. */
  async greet(callId: string, callerId: string): Promise<VoiceReply> {
    const state = await this.load(callId);
    await this.openThread(callId, callerId, state);
    await this.save(callId, state);
    return { reply: GREETING, awaitingConfirmation: false, hangUp: false };
  }

  /** The reply to what the caller said. */
  async heard(words: HeardWords): Promise<VoiceReply> {
    const state = await this.load(words.callId);
    await this.openThread(words.callId, words.callerId, state);
    const text = words.text.trim();
    let answer: VoiceReply;
    let written: string;
    if (text === '' || (words.confidence !== null && words.confidence < this.minConfidence)) {
      answer = { reply: NOT_CAUGHT, awaitingConfirmation: state.awaitingConfirmation, hangUp: false };
      written = `${NOT_CAUGHT} (confidence ${words.confidence ?? 'unknown'})`;
    } else if (isFarewell(text)) {
      answer = { reply: GOODBYE, awaitingConfirmation: false, hangUp: true };
      written = GOODBYE;
    } else {
      const reply = await this.options.conversations.say(this.placeOf(words.callId, state), this.speakerOf(words.callerId), text);
      answer = { reply: forTheEar(reply.text, this.options.conversations.grammar.idPrefixes), awaitingConfirmation: reply.controls?.kind === 'confirm', hangUp: false };
      written = reply.text;
      if (reply.started?.jobId && state.thread) this.options.reporter.track(state.thread.conversation, reply.started.recordId, reply.started.jobId, state.thread.rootRef);
    }
    state.awaitingConfirmation = answer.awaitingConfirmation;
    await this.save(words.callId, state);
    await this.mirror(state, `${words.callerId} said: "${text}"\nFerry: ${written}`);
    return answer;
  }

  private placeOf(callId: string, state: CallState): Place {
    return { surface: 'voice', conversation: `voice:${callId}`, where: `call ${callId}`, ...(state.thread ? { reportTo: state.thread.conversation } : {}) };
  }

  private speakerOf(callerId: string): Speaker {
    return { principal: { callerId }, who: callerId };
  }

  private async openThread(callId: string, callerId: string, state: CallState): Promise<void> {
    if (state.thread || !this.options.mirror) return;
    try {
      state.thread = await this.options.mirror.open(callId, callerId);
    } catch (error) {
      // The call goes on without its mirror; the next turn tries again.
      this.options.logger.warn({ callId, err: (error as Error).message }, 'could not open the Slack thread of a call');
    }
  }

  private async mirror(state: CallState, text: string): Promise<void> {
    if (!state.thread || !this.options.mirror) return;
    await this.options.mirror.post(state.thread.conversation, text).catch((error: Error) => this.options.logger.warn({ err: error.message }, 'could not mirror a call turn to Slack'));
  }

  private async load(callId: string): Promise<CallState> {
    const text = await this.options.redis.get(`${KEY_PREFIX}${callId}`);
    return text ? (JSON.parse(text) as CallState) : { thread: null, awaitingConfirmation: false };
  }

  private async save(callId: string, state: CallState): Promise<void> {
    await this.options.redis.set(`${KEY_PREFIX}${callId}`, JSON.stringify(state), 'EX', CALL_TTL_SECONDS);
  }
}
