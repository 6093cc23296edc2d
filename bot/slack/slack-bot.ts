import type { IncomingMessage } from 'node:http';
import { App, HTTPReceiver, type BlockAction, type ButtonAction, type webApi } from '@slack/bolt';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { BotReply, Conversations, Place, Speaker } from '../conversations.ts';
import type { ProgressReporter, ProgressSurface, ProgressView } from '../progress-reporter.ts';
import type { CallMirror } from '../voice/voice-calls.ts';
import { ACTIONS, answeredBlocks, progressBlocks, replyBlocks, type ControlValue } from './blocks.ts';
import { boltLogger } from './bolt-logger.ts';
import { firstDelivery } from './event-dedup.ts';
import { homeView } from './home.ts';
import { escaped, mentions, plainText } from './message-text.ts';
import { conversationOf, isSlackConversation, threadOf, type SlackThread } from './threads.ts';
import { UserGroups } from './user-groups.ts';

// The Slack surface: mentions, direct messages, replies in a thread Ferry is part of, and /ferry
// start or continue a conversation whose replies all go into one thread; buttons confirm, choose
// and answer; each job started there gets a progress message in the thread.

export interface SlackBotOptions {
  botToken: string;
  /** HTTP mode: requests to /slack/events are verified with it. */
  signingSecret?: string;
  /** Socket Mode, when set. */
  appToken?: string;
  /** Slack's Web API (SLACK_API_URL), for tests and air-gapped installs. */
  apiUrl?: string;
  conversations: Conversations;
  reporter: ProgressReporter;
  redis: Redis;
  logger: Logger;
}

export const SLACK_EVENTS_PATH = '/slack/events';

// A thread is Ferry's once it answered there; replies in it need no mention for this long.
const THREAD_KEY_PREFIX = 'ferry:slack:thread:';
const THREAD_REMEMBER_SECONDS = 7 * 24 * 3600;

const REACTIONS: Record<NonNullable<ProgressView['ending']>, string> = {
  completed: 'white_check_mark',
  failed: 'x',
  cancelled: 'heavy_minus_sign',
};

interface Said {
  thread: SlackThread;
  user: string;
  text: string;
  /** The message to react on when a job it started ends. */
  commandTs: string;
}

export class SlackBot {
  readonly app: App;
  private readonly receiver: HTTPReceiver | null;
  private readonly groups: UserGroups;
  private botUserId: string | undefined;
  private teamIdOnce: Promise<string> | null = null;

  constructor(private readonly options: SlackBotOptions) {
    const logger = boltLogger(options.logger);
    const clientOptions = options.apiUrl ? { slackApiUrl: options.apiUrl.endsWith('/') ? options.apiUrl : `${options.apiUrl}/` } : {};
    if (options.appToken) {
      this.receiver = null;
      this.app = new App({ token: options.botToken, appToken: options.appToken, socketMode: true, logger, clientOptions });
    } else {
      if (!options.signingSecret) throw new Error('SLACK_SIGNING_SECRET is needed to verify requests from Slack (or set SLACK_APP_TOKEN for Socket Mode)');
      this.receiver = new HTTPReceiver({ signingSecret: options.signingSecret, endpoints: SLACK_EVENTS_PATH, logger });
      this.app = new App({ token: options.botToken, receiver: this.receiver, logger, clientOptions });
    }
    this.groups = new UserGroups(this.app.client, options.logger);
    options.reporter.addSurface(this.progressSurface());
    this.listen();
  }

  /** Socket Mode connects here; in HTTP mode requests arrive through `routes`. */
  async start(): Promise<void> {
    if (!this.receiver) await this.app.start();
  }

  async stop(): Promise<void> {
    if (!this.receiver) await this.app.stop();
  }

  /**
   * Serves /slack/events on the service's own port. Bolt's receiver reads and verifies the body
   * itself (a bad or stale signature gets 401), so Fastify hands it the raw bytes untouched.
   */
  routes(server: FastifyInstance): void {
    const receiver = this.receiver;
    if (!receiver) return;
    void server.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
      scope.post(SLACK_EVENTS_PATH, (request, reply) => {
        (request.raw as IncomingMessage & { rawBody?: Buffer }).rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        reply.hijack();
        receiver.requestListener(request.raw, reply.raw);
      });
    });
  }

  private get client(): webApi.WebClient {
    return this.app.client;
  }

  private listen(): void {
    const { app } = this;
    // Events are acked by Bolt before this runs; a retried one stops here.
    app.use(async ({ body, context, next }) => {
      this.botUserId ??= context.botUserId;
      const eventId = (body as { event_id?: unknown }).event_id;
      if (typeof eventId === 'string' && !(await firstDelivery(this.options.redis, eventId))) {
        this.options.logger.info({ eventId, retry: context.retryNum }, 'slack event already handled');
        return;
      }
      await next();
    });

    app.event('app_mention', async ({ event, body }) => {
      if (!event.user) return;
      await this.said({ thread: { team: body.team_id, channel: event.channel, threadTs: event.thread_ts ?? event.ts }, user: event.user, text: event.text, commandTs: event.ts });
    });

    app.event('message', async ({ event, body }) => {
      if ('subtype' in event && event.subtype !== undefined) return;
      const message = event as { user?: string; bot_id?: string; text?: string; ts: string; thread_ts?: string; channel: string; channel_type?: string };
      if (!message.user || message.bot_id || !message.text || mentions(message.text, this.botUserId)) return;
      const threadTs = message.thread_ts ?? message.ts;
      const direct = message.channel_type === 'im';
      if (!direct && !(message.thread_ts && (await this.isOurThread(message.channel, message.thread_ts)))) return;
      await this.said({ thread: { team: body.team_id, channel: message.channel, threadTs }, user: message.user, text: message.text, commandTs: message.ts });
    });

    app.command('/ferry', async ({ command, ack, respond }) => {
      await ack();
      let root: string;
      try {
        const posted = await this.client.chat.postMessage({ channel: command.channel_id, text: `<@${command.user_id}> asked: /ferry ${escaped(command.text)}` });
        root = posted.ts!;
      } catch (error) {
        this.options.logger.warn({ channel: command.channel_id, err: (error as Error).message }, 'cannot post in the channel of a slash command');
        await respond({ response_type: 'ephemeral', text: 'I cannot post in this channel. Invite me first (/invite @Ferry), or send me a direct message.' });
        return;
      }
      await this.said({ thread: { team: command.team_id, channel: command.channel_id, threadTs: root }, user: command.user_id, text: command.text || 'help', commandTs: root });
    });

    app.action<BlockAction<ButtonAction>>(new RegExp(`^(${ACTIONS.confirm}|${ACTIONS.cancel})$`), async ({ ack, body, action }) => {
      await ack();
      const yes = action.action_id === ACTIONS.confirm;
      await this.clicked(body, (place, speaker) => this.options.conversations.confirm(place, speaker, yes), yes ? 'Confirmed' : 'Cancelled');
    });

    app.action<BlockAction<ButtonAction>>(new RegExp(`^${ACTIONS.choose}_\\d+$`), async ({ ack, body, action }) => {
      await ack();
      await this.clicked(body, (place, speaker) => this.options.conversations.choose(place, speaker, action.value ?? ''), `Chose ${escaped(action.text.text)}`);
    });

    app.action<BlockAction<ButtonAction>>(new RegExp(`^${ACTIONS.answer}_\\d+$`), async ({ ack, body, action }) => {
      await ack();
      await this.clicked(body, (place, speaker) => this.options.conversations.say(place, speaker, action.value ?? ''), `Answered ${escaped(action.text.text)}`);
    });

    app.action<BlockAction<ButtonAction>>(new RegExp(`^${ACTIONS.control}_`), async ({ ack, body, action }) => {
      await ack();
      const control = JSON.parse(action.value ?? '{}') as ControlValue;
      // The progress message keeps its buttons: the confirmation that follows is where it is decided.
      await this.clicked(body, (place, speaker) => this.options.conversations.propose(place, speaker, { operationId: control.operationId, params: control.params }, `the ${control.label} button of ${Object.values(control.params).join(' ')}`), null);
    });

    app.event('app_home_opened', async ({ event, body }) => {
      if (event.tab !== 'home') return;
      const view = await homeView(this.options.conversations.grammar, this.options.conversations.caller, `slack:${body.team_id}:home:${event.user}`);
      await this.client.views.publish({ user_id: event.user, view });
    });

    app.error(async (error) => {
      this.options.logger.error({ err: error.message, code: (error as { code?: string }).code }, 'slack listener failed');
    });
  }

  private async speakerOf(user: string, channel: string): Promise<Speaker> {
    return { principal: { userId: user, channelId: channel, groupIds: await this.groups.groupsOf(user) }, who: user };
  }

  private placeOf(thread: SlackThread): Place {
    return { surface: 'slack', conversation: conversationOf(thread), where: `${thread.channel}/${thread.threadTs}` };
  }

  private async said(said: Said): Promise<void> {
    const place = this.placeOf(said.thread);
    const reply = await this.options.conversations.say(place, await this.speakerOf(said.user, said.thread.channel), plainText(said.text, this.botUserId));
    await this.reply(said.thread, reply, said.commandTs);
  }

  /** A button: the turn it gives, the pressed message without its buttons (unless null), the reply in the thread. */
  private async clicked(body: BlockAction, turn: (place: Place, speaker: Speaker) => Promise<BotReply>, answer: string | null): Promise<void> {
    const message = body.message;
    const channel = body.channel?.id ?? body.container.channel_id;
    if (!message || !channel || !body.team) return;
    const thread: SlackThread = { team: body.team.id, channel, threadTs: (message.thread_ts as string | undefined) ?? (message.ts as string) };
    const reply = await turn(this.placeOf(thread), await this.speakerOf(body.user.id, channel));
    if (answer !== null && reply.outcome !== 'refused') {
      const text = typeof message.text === 'string' ? message.text : '';
      await this.client.chat
        .update({ channel, ts: message.ts as string, text, blocks: answeredBlocks(text, `${answer} by <@${body.user.id}>`) })
        .catch((error: Error) => this.options.logger.warn({ err: error.message }, 'could not take the buttons off a message'));
    }
    await this.reply(thread, reply, thread.threadTs);
  }

  private async reply(thread: SlackThread, reply: BotReply, commandTs: string): Promise<void> {
    try {
      await this.client.chat.postMessage({ channel: thread.channel, thread_ts: thread.threadTs, text: reply.text, blocks: replyBlocks(reply, reply.interpreted) });
      await this.options.redis.set(`${THREAD_KEY_PREFIX}${thread.channel}:${thread.threadTs}`, '1', 'EX', THREAD_REMEMBER_SECONDS);
    } catch (error) {
      this.options.logger.warn({ channel: thread.channel, err: (error as Error).message }, 'could not post a reply in Slack');
    }
    if (reply.started?.jobId) this.options.reporter.track(conversationOf(thread), reply.started.recordId, reply.started.jobId, commandTs);
  }

  /** Threads in `channel` that mirror phone calls: what was said and answered, and the progress of their jobs. */
  callMirror(channel: string): CallMirror {
    return {
      open: async (callId, callerId) => {
        const posted = await this.client.chat.postMessage({ channel, text: `📞 Call from ${escaped(callerId)} (${escaped(callId)})` });
        const thread: SlackThread = { team: await this.teamId(), channel: posted.channel ?? channel, threadTs: posted.ts! };
        return { conversation: conversationOf(thread), rootRef: posted.ts! };
      },
      post: async (conversation, text) => {
        const thread = threadOf(conversation)!;
        await this.client.chat.postMessage({ channel: thread.channel, thread_ts: thread.threadTs, text: escaped(text) });
      },
    };
  }

  /** The workspace of the bot token, for conversation ids of threads Ferry opens itself. */
  private teamId(): Promise<string> {
    this.teamIdOnce ??= this.client.auth.test().then((answer) => {
      if (!answer.team_id) throw new Error('Slack did not say which workspace the bot token belongs to (auth.test gave no team_id)');
      return answer.team_id;
    });
    // A failed lookup is asked again next time rather than remembered.
    this.teamIdOnce.catch(() => (this.teamIdOnce = null));
    return this.teamIdOnce;
  }

  private async isOurThread(channel: string, threadTs: string): Promise<boolean> {
    return (await this.options.redis.exists(`${THREAD_KEY_PREFIX}${channel}:${threadTs}`)) === 1;
  }

  private progressSurface(): ProgressSurface {
    const where = (conversation: string): SlackThread => threadOf(conversation)!;
    return {
      owns: isSlackConversation,
      post: async (conversation, view) => {
        const thread = where(conversation);
        const posted = await this.client.chat.postMessage({ channel: thread.channel, thread_ts: thread.threadTs, text: view.text, blocks: progressBlocks(view) });
        return posted.ts!;
      },
      update: async (conversation, message, view) => {
        await this.client.chat.update({ channel: where(conversation).channel, ts: message, text: view.text, blocks: progressBlocks(view) });
      },
      ended: async (conversation, view, commandRef) => {
        if (!commandRef || !view.ending) return;
        await this.client.reactions.add({ channel: where(conversation).channel, timestamp: commandRef, name: REACTIONS[view.ending] });
      },
    };
  }
}
