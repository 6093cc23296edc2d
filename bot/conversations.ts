import type { Logger } from 'pino';
import { InvokeError, type InvokeResult } from '../api-catalog/invoker.ts';
import type { ChoiceOption, Command, Dialogue, Permit, Turn } from '../nlu/dialogue.ts';
import type { Grammar } from '../nlu/frame.ts';
import { describeCommand } from '../nlu/wording.ts';
import { auditResultOf, type AuditLog, type AuditResult, type Surface } from './audit-log.ts';
import type { Authorisation, Principal } from './authorisation.ts';
import type { CatalogCaller } from './catalog-caller.ts';
import { helpText, isHelpRequest } from './help.ts';
import { choicesFor, type AnswerChoice } from './question-choices.ts';
import { jobIdOf, recordIdOf, resultText } from './result-text.ts';

// One conversation per thread, whatever the surface: the words or clicks of a turn go through the
// dialogue, the one who speaks is authorised, a ready command is called through the catalog and
// written to the audit log, and what comes back is a reply the surface renders its own way.

/** Where a turn is taken. */
export interface Place {
  surface: Surface;
  /** The conversation id: a Slack thread, the terminal session, a call. It travels as X-Ferry-Conversation. */
  conversation: string;
  /** The place as the audit log shows it (channel and thread, call id). */
  where: string;
  /** Where jobs started here report their progress, when not to `conversation` (a call's Slack thread). */
  reportTo?: string;
}

/** Who takes the turn. */
export interface Speaker {
  principal: Principal;
  /** The speaker as the audit log shows them (a Slack user id, a caller number). */
  who: string;
}

/** What the surface offers beside the text. */
export type Controls =
  | { kind: 'confirm' }
  | { kind: 'choose'; options: ChoiceOption[] }
  | { kind: 'answer'; choices: AnswerChoice[] };

export interface BotReply {
  text: string;
  controls?: Controls;
  /** A job the command started, whose progress the surface follows in this conversation. */
  started?: { recordId: string; jobId: string | null };
  /** How a command that ran ended, or that the speaker may not run it; absent otherwise. */
  outcome?: 'ok' | 'failed' | 'refused';
  /** Under a confirmation: the operation and parameters as understood, for those who want to check. */
  interpreted?: string;
}

export interface ConversationsOptions {
  grammar: Grammar;
  dialogue: Dialogue;
  caller: CatalogCaller;
  authorisation: Authorisation;
  audit: AuditLog | null;
  logger: Logger;
}

export class Conversations {
  constructor(private readonly options: ConversationsOptions) {}

  get grammar(): Grammar {
    return this.options.grammar;
  }

  get caller(): CatalogCaller {
    return this.options.caller;
  }

  private permit(speaker: Speaker): Permit {
    return (frame) => {
      const decision = this.options.authorisation.decide(speaker.principal, frame);
      return decision.allowed ? null : decision.reason;
    };
  }

  /** The reply to words typed or said in the conversation. */
  async say(place: Place, speaker: Speaker, text: string): Promise<BotReply> {
    if (isHelpRequest(text)) return { text: helpText(this.grammar) };
    return this.follow(place, speaker, await this.options.dialogue.handle(place.conversation, text, this.permit(speaker)));
  }

  /** A Confirm or Cancel button. */
  async confirm(place: Place, speaker: Speaker, yes: boolean): Promise<BotReply> {
    return this.follow(place, speaker, await this.options.dialogue.confirm(place.conversation, yes, this.permit(speaker)));
  }

  /** One of the offered operations, by its button. */
  async choose(place: Place, speaker: Speaker, operationId: string): Promise<BotReply> {
    return this.follow(place, speaker, await this.options.dialogue.choose(place.conversation, operationId, this.permit(speaker)));
  }

  /** A command the surface made itself (a Pause button), confirmed like any other. */
  async propose(place: Place, speaker: Speaker, command: Command, utterance: string): Promise<BotReply> {
    return this.follow(place, speaker, await this.options.dialogue.propose(place.conversation, command, utterance, this.permit(speaker)));
  }

  private async follow(place: Place, speaker: Speaker, turn: Turn): Promise<BotReply> {
    switch (turn.kind) {
      case 'ask': {
        const choices = await choicesFor(this.grammar, this.options.caller, turn.param, place.conversation);
        return { text: turn.question, ...(choices.length > 0 ? { controls: { kind: 'answer', choices } } : {}) };
      }
      case 'confirm':
        return { text: turn.prompt, controls: { kind: 'confirm' }, interpreted: `${turn.command.operationId} ${JSON.stringify(turn.command.params)}` };
      case 'choose':
        return { text: turn.prompt, controls: { kind: 'choose', options: turn.options } };
      case 'run':
        return this.run(place, speaker, turn.command, turn.utterance);
      case 'refused':
        return { text: turn.message, outcome: 'refused' };
      default:
        return { text: turn.message };
    }
  }

  private async run(place: Place, speaker: Speaker, command: Command, utterance: string): Promise<BotReply> {
    const frame = this.grammar.byId.get(command.operationId)!;
    let result: InvokeResult;
    try {
      result = await this.options.caller.call(frame.operation, command.params, place.reportTo ?? place.conversation);
    } catch (error) {
      if (!(error instanceof InvokeError)) throw error;
      this.options.logger.warn({ operationId: frame.id, code: error.code, err: error.message }, 'a command could not be called');
      await this.record(place, speaker, utterance, command, { ok: false, error: error.message });
      return { text: `Sorry, I could not ${describeCommand(this.grammar, frame, command.params)}: ${error.message}`, outcome: 'failed' };
    }
    await this.record(place, speaker, utterance, command, auditResultOf(result));
    const text = resultText(this.grammar, frame, command.params, result);
    if (!result.ok) return { text, outcome: 'failed' };
    await this.options.dialogue.recordResult(place.conversation, frame.id, result.body);
    const recordId = result.status === 202 ? recordIdOf(result.body) : null;
    return { text, outcome: 'ok', ...(recordId ? { started: { recordId, jobId: jobIdOf(result.body) } } : {}) };
  }

  private async record(place: Place, speaker: Speaker, utterance: string, command: Command, result: AuditResult): Promise<void> {
    if (!this.options.audit) return;
    const frame = this.grammar.byId.get(command.operationId)!;
    // A command that ran must not be reported as failed because its audit entry could not be written.
    await this.options.audit
      .append({ surface: place.surface, who: speaker.who, where: place.where, utterance, operationId: frame.id, params: command.params, paramFrames: frame.params, result })
      .catch((error: Error) => this.options.logger.error({ err: error.message, operationId: frame.id }, 'could not append to the audit log'));
  }
}
