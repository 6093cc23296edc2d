import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { loadCatalog } from '../api-catalog/loader.ts';
import { redisClient } from '../jobs/connection.ts';
import { JobEventBridge } from '../jobs/events.ts';
import { RedisConversationStore } from '../nlu/conversation-store.ts';
import { Dialogue } from '../nlu/dialogue.ts';
import { compileGrammar } from '../nlu/grammar.ts';
import { AuditLog } from './audit-log.ts';
import { Authorisation } from './authorisation.ts';
import { CatalogCaller } from './catalog-caller.ts';
import { ConsoleChat } from './console/console-chat.ts';
import { Conversations } from './conversations.ts';
import { jobControls } from './job-controls.ts';
import { ProgressReporter } from './progress-reporter.ts';
import { recordEndings } from './record-endings.ts';
import { SlackBot } from './slack/slack-bot.ts';
import { VoiceCalls } from './voice/voice-calls.ts';
import { voiceRoutes } from './voice/voice-routes.ts';

// The bot's parts put together: the catalog's grammar, the dialogue with its state in Redis, who
// may run what, the audit log, the caller, the progress reporter fed by the job events, and the
// surfaces asked for: Slack, the terminal, the voice webhooks.

export interface SlackSettings {
  botToken: string;
  signingSecret?: string;
  appToken?: string;
  apiUrl?: string;
}

export interface VoiceSettings {
  /** Twilio's webhook: its auth token and the public URL Twilio is given (FERRY_PUBLIC_URL). */
  twilio: { authToken: string; publicUrl: string } | null;
  /** VOICE_WEBHOOK_SECRET, for the generic transcript webhook. */
  transcriptsSecret: string | null;
  /** The Slack channel where each call gets a thread (FERRY_VOICE_CHANNEL). */
  channel: string | null;
  minConfidence: number;
}

export interface BotOptions {
  redisUrl: string;
  ferryApiUrl: string | (() => string);
  /** Spec files or folders: Ferry's own and any others. */
  catalog: readonly string[];
  /** Servers other specs of the catalog may be called on. */
  callAllow: readonly string[];
  slack: SlackSettings | null;
  voice: VoiceSettings | null;
  console: boolean;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

export interface Bot {
  /** Adds the Slack endpoint to an HTTP server that has not started listening yet. */
  routes(server: FastifyInstance): void;
  /** Connects Socket Mode and opens the console, once the service they call is up. */
  start(): Promise<void>;
  /** Resolves when the console's input ends; null without a console or before `start`. */
  readonly chatEnded: Promise<void> | null;
  stop(): Promise<void>;
}

/** Builds the bot; its surfaces start talking at `start`. */
export async function createBot(options: BotOptions): Promise<Bot> {
  const operations = await loadCatalog(options.catalog);
  const grammar = compileGrammar(operations);
  const authorisation = await Authorisation.fromEnv(options.env);
  const redis = redisClient(options.redisUrl);
  const dialogue = new Dialogue({ grammar, store: new RedisConversationStore(redis) });
  const caller = new CatalogCaller({ ferryApiUrl: options.ferryApiUrl, allow: options.callAllow });
  const conversations = new Conversations({ grammar, dialogue, caller, authorisation, audit: new AuditLog(redis), logger: options.logger });
  const reporter = new ProgressReporter({ redis, controls: (recordId, paused) => jobControls(grammar, recordId, paused), logger: options.logger });
  const slack = options.slack ? new SlackBot({ ...options.slack, conversations, reporter, redis, logger: options.logger }) : null;
  const chat = options.console ? new ConsoleChat({ conversations, reporter }) : null;
  const voice = options.voice;
  if (voice && slack && !voice.channel) options.logger.warn('FERRY_VOICE_CHANNEL is not set: calls are not mirrored to Slack');
  const calls = voice
    ? new VoiceCalls({ conversations, reporter, redis, mirror: slack && voice.channel ? slack.callMirror(voice.channel) : null, minConfidence: voice.minConfidence, logger: options.logger })
    : null;
  let bridge: JobEventBridge | null = null;
  let chatEnded: Promise<void> | null = null;

  return {
    routes: (server) => {
      slack?.routes(server);
      if (calls && voice) voiceRoutes(server, { calls, twilio: voice.twilio, transcriptsSecret: voice.transcriptsSecret, redis, logger: options.logger });
    },
    get chatEnded() {
      return chatEnded;
    },
    async start() {
      bridge = await JobEventBridge.start(options.redisUrl);
      bridge.on((event) => reporter.handle(event));
      await slack?.start();
      // Jobs that ended while no bot listened get their final state now; this may take a while, so it runs on its own.
      void reporter
        .resume(recordEndings(grammar, caller))
        .then((finished) => finished > 0 && options.logger.info({ finished }, 'progress messages of jobs that ended meanwhile brought to their end'))
        .catch((error: Error) => options.logger.warn({ err: error.message }, 'could not look up the jobs of earlier progress messages'));
      chatEnded = chat?.run() ?? null;
      options.logger.info(
        { operations: operations.length, slack: slack ? (options.slack?.appToken ? 'socket mode' : 'http') : 'off', console: chat !== null, voice: voice ? { twilio: voice.twilio !== null, transcripts: voice.transcriptsSecret !== null } : 'off' },
        'bot ready',
      );
    },
    async stop() {
      await slack?.stop();
      await reporter.close();
      await bridge?.close();
      redis.disconnect();
    },
  };
}
