import type { Command, ConversationState, ConversationStore, Pending } from './conversation-store.ts';
import type { CommandFrame, Grammar, ParamFrame } from './frame.ts';
import type { Interpretation, UnderstandingContext } from './interpretation.ts';
import { rememberGivenIds, rememberResult } from './last-resources.ts';
import { conversationReply, ordinalChoice } from './replies.ts';
import { extractValue, understand } from './understand.ts';
import {
  CHOICE_CANCELLED,
  CHOICE_CLOSED,
  NOTHING_TO_CANCEL,
  NOTHING_TO_CONFIRM,
  cancelledMessage,
  choiceLabels,
  choicePrompt,
  confirmationPrompt,
  notUnderstoodMessage,
  pickAgain,
  question,
  questionAgain,
  yesOrNoAgain,
} from './wording.ts';

// The conversation around understanding, for every surface (Slack, the terminal, voice): ask for
// what is missing one question at a time, confirm what changes state, offer a choice when two
// operations fit almost equally, and remember ids for "it". Each turn loads the conversation's
// state from the store and saves it back, so any process can take the next turn.

export type { Command } from './conversation-store.ts';

export interface ChoiceOption {
  operationId: string;
  label: string;
}

/** What the surface does next. */
export type Turn =
  /** Ask for one required parameter; `choices` are its enum values, when it has them. */
  | { kind: 'ask'; param: ParamFrame; question: string; choices?: string[]; command: Command }
  /** Show the command and wait for yes or no (or `Dialogue.confirm`). */
  | { kind: 'confirm'; command: Command; prompt: string }
  /** Offer the operations that fit almost equally (or `Dialogue.choose`). */
  | { kind: 'choose'; options: ChoiceOption[]; prompt: string }
  /** The command is ready: the surface invokes it, then reports the result with `Dialogue.recordResult`. */
  | { kind: 'run'; command: Command; utterance: string }
  /** The one asking may not run the operation: `message` says so politely. Nothing is pending. */
  | { kind: 'refused'; message: string }
  | { kind: 'cancelled'; message: string }
  | { kind: 'not-understood'; message: string };

/**
 * Whether the one taking the turn may run an operation: null when they may, else the sentence that
 * says why not. It is asked when a command is understood (before any question or confirmation) and
 * again when it is confirmed, since another person may press the button.
 */
export type Permit = (frame: CommandFrame) => string | null;

const ANYONE: Permit = () => null;

/** The state a turn works on, and whether the one taking it may run an operation. */
interface TurnInProgress {
  state: ConversationState;
  permit: Permit;
}

export interface DialogueOptions {
  grammar: Grammar;
  store: ConversationStore;
  /** Operations whose confidence is within this of the best one's are offered as a choice (default 0.05). */
  closeMargin?: number;
  /** How confident understanding must be for a reply to a question to count as a new command (default 0.5). */
  minConfidence?: number;
}

export const DEFAULT_CLOSE_MARGIN = 0.05;
export const DEFAULT_MIN_CONFIDENCE = 0.5;
/** At most this many operations are offered at once. */
const MAX_CHOICES = 3;

export class Dialogue {
  private readonly grammar: Grammar;
  private readonly store: ConversationStore;
  private readonly closeMargin: number;
  private readonly minConfidence: number;
  /** The turn each conversation is taking: turns of one conversation run one after the other. */
  private readonly turns = new Map<string, Promise<unknown>>();

  constructor(options: DialogueOptions) {
    this.grammar = options.grammar;
    this.store = options.store;
    this.closeMargin = options.closeMargin ?? DEFAULT_CLOSE_MARGIN;
    this.minConfidence = options.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
  }

  /** The next turn after the user said `text`. */
  handle(conversationId: string, text: string, permit: Permit = ANYONE): Promise<Turn> {
    return this.turn(conversationId, permit, (turn) => this.reply(turn, text));
  }

  /** A yes or no given by a button rather than in words. */
  confirm(conversationId: string, yes: boolean, permit: Permit = ANYONE): Promise<Turn> {
    return this.turn(conversationId, permit, (turn) => {
      if (turn.state.pending?.awaiting !== 'confirmation') return { kind: 'not-understood', message: NOTHING_TO_CONFIRM };
      return this.answerConfirmation(turn, turn.state.pending, yes);
    });
  }

  /** One of the offered operations picked by a button: the original utterance is read again as that operation. */
  choose(conversationId: string, operationId: string, permit: Permit = ANYONE): Promise<Turn> {
    return this.turn(conversationId, permit, (turn) => {
      const pending = turn.state.pending;
      if (pending?.awaiting !== 'choice' || !pending.operationIds.includes(operationId)) return { kind: 'not-understood', message: CHOICE_CLOSED };
      return this.chosen(turn, pending, operationId, {});
    });
  }

  /**
   * A command the surface put together itself (a Pause button under a progress message), taken as
   * if it had been said in `utterance`: asked about, confirmed and permitted like any other.
   */
  async propose(conversationId: string, command: Command, utterance: string, permit: Permit = ANYONE): Promise<Turn> {
    if (!this.grammar.byId.has(command.operationId)) throw new RangeError(`the catalog has no operation ${command.operationId}`);
    return this.turn(conversationId, permit, (turn) => this.accept(turn, command, utterance));
  }

  /** What a command the surface ran returned: its id becomes what "it" refers to. */
  async recordResult(conversationId: string, operationId: string, result: unknown): Promise<void> {
    await this.turn(conversationId, ANYONE, (turn) => {
      const frame = this.grammar.byId.get(operationId);
      if (frame) rememberResult(turn.state.lastResources, this.grammar, frame, result);
    });
  }

  /** Runs `step` on the conversation's state and saves the state, one turn per conversation at a time. */
  private turn<T>(conversationId: string, permit: Permit, step: (turn: TurnInProgress) => T): Promise<T> {
    const previous = this.turns.get(conversationId) ?? Promise.resolve();
    const current = previous.then(async () => {
      const loaded = await this.store.load(conversationId);
      if (loaded.pending && !this.pendingIsKnown(loaded.pending)) loaded.pending = null;
      const result = step({ state: loaded, permit });
      await this.store.save(conversationId, loaded);
      return result;
    });
    const settled = current.then(
      () => undefined,
      () => undefined,
    );
    this.turns.set(conversationId, settled);
    void settled.then(() => {
      if (this.turns.get(conversationId) === settled) this.turns.delete(conversationId);
    });
    return current;
  }

  /** False when the catalog changed since the state was saved and no longer has the pending operations. */
  private pendingIsKnown(pending: Pending): boolean {
    if (pending.awaiting === 'choice') return pending.operationIds.every((id) => this.grammar.byId.has(id));
    const frame = this.grammar.byId.get(pending.command.operationId);
    return frame !== undefined && (pending.awaiting !== 'answer' || frame.params.some((param) => param.name === pending.param));
  }

  private frame(operationId: string): CommandFrame {
    return this.grammar.byId.get(operationId)!;
  }

  private cancelled(command: Command): string {
    return cancelledMessage(this.grammar, this.frame(command.operationId), command.params);
  }

  private context(turn: TurnInProgress): UnderstandingContext {
    return { lastResources: turn.state.lastResources };
  }

  private interpret(turn: TurnInProgress, text: string): Interpretation {
    return understand(this.grammar, text, this.context(turn));
  }

  /** True when the interpretation is sure enough to replace what is pending. */
  private isNewCommand(interpretation: Interpretation): boolean {
    return interpretation.operationId !== null && interpretation.confidence >= this.minConfidence;
  }

  private reply(turn: TurnInProgress, text: string): Turn {
    const said = conversationReply(text);
    if (said === 'abandon') return this.abandon(turn);
    const pending = turn.state.pending;
    if (!pending) return this.newCommand(turn, text, this.interpret(turn, text));
    if (pending.awaiting === 'answer') return this.answerQuestion(turn, pending, text);
    if (pending.awaiting === 'confirmation') return said ? this.answerConfirmation(turn, pending, said === 'yes') : this.otherThanYesOrNo(turn, pending, text);
    return this.answerChoice(turn, pending, text);
  }

  private abandon(turn: TurnInProgress): Turn {
    const pending = turn.state.pending;
    turn.state.pending = null;
    if (!pending) return { kind: 'cancelled', message: NOTHING_TO_CANCEL };
    if (pending.awaiting === 'choice') return { kind: 'cancelled', message: CHOICE_CANCELLED };
    return { kind: 'cancelled', message: this.cancelled(pending.command) };
  }

  private newCommand(turn: TurnInProgress, text: string, interpretation: Interpretation): Turn {
    turn.state.pending = null;
    if (interpretation.operationId === null) return { kind: 'not-understood', message: notUnderstoodMessage(this.grammar) };
    const close = interpretation.alternatives.filter((other) => interpretation.confidence - other.confidence <= this.closeMargin);
    if (close.length > 0) {
      const operationIds = [interpretation.operationId, ...close.map((other) => other.operationId)].slice(0, MAX_CHOICES);
      turn.state.pending = { awaiting: 'choice', utterance: text, operationIds };
      return this.choiceTurn(operationIds, false);
    }
    return this.accept(turn, { operationId: interpretation.operationId, params: interpretation.params }, text);
  }

  /** Takes the command as the user means it, and goes on to what it still needs. */
  private accept(turn: TurnInProgress, command: Command, utterance: string): Turn {
    const frame = this.frame(command.operationId);
    rememberGivenIds(turn.state.lastResources, frame, command.params);
    const refusal = turn.permit(frame);
    if (refusal !== null) {
      turn.state.pending = null;
      return { kind: 'refused', message: refusal };
    }
    return this.proceed(turn, command, utterance);
  }

  /** The next step of a command: a question for the first missing required parameter, a confirmation, or running it. */
  private proceed(turn: TurnInProgress, command: Command, utterance: string): Turn {
    const frame = this.frame(command.operationId);
    const missing = frame.params.find((param) => param.required && command.params[param.name] === undefined);
    if (missing) {
      turn.state.pending = { awaiting: 'answer', command, param: missing.name, utterance };
      return this.askTurn(missing, command, question(frame, missing));
    }
    if (frame.changesState) {
      turn.state.pending = { awaiting: 'confirmation', command, utterance };
      return { kind: 'confirm', command, prompt: confirmationPrompt(this.grammar, frame, command.params) };
    }
    turn.state.pending = null;
    return { kind: 'run', command, utterance };
  }

  private askTurn(param: ParamFrame, command: Command, text: string): Turn {
    const choices = param.enum ?? param.items?.enum;
    return { kind: 'ask', param, question: text, ...(choices ? { choices } : {}), command };
  }

  private answerQuestion(turn: TurnInProgress, pending: Extract<Pending, { awaiting: 'answer' }>, text: string): Turn {
    const frame = this.frame(pending.command.operationId);
    const param = frame.params.find((candidate) => candidate.name === pending.param)!;
    const value = extractValue(this.grammar, param, text);
    if (value !== undefined) {
      const command = { ...pending.command, params: { ...pending.command.params, [param.name]: value } };
      return this.accept(turn, command, pending.utterance);
    }
    const other = this.interpret(turn, text);
    if (this.isNewCommand(other)) return this.newCommand(turn, text, other);
    return this.askTurn(param, pending.command, questionAgain(frame, param));
  }

  private answerConfirmation(turn: TurnInProgress, pending: Extract<Pending, { awaiting: 'confirmation' }>, yes: boolean): Turn {
    if (yes) {
      // Someone not allowed pressed Confirm: the command stays pending for someone who is.
      const refusal = turn.permit(this.frame(pending.command.operationId));
      if (refusal !== null) return { kind: 'refused', message: refusal };
      turn.state.pending = null;
      return { kind: 'run', command: pending.command, utterance: pending.utterance };
    }
    turn.state.pending = null;
    return { kind: 'cancelled', message: this.cancelled(pending.command) };
  }

  private otherThanYesOrNo(turn: TurnInProgress, pending: Extract<Pending, { awaiting: 'confirmation' }>, text: string): Turn {
    const other = this.interpret(turn, text);
    if (this.isNewCommand(other)) return this.newCommand(turn, text, other);
    const frame = this.frame(pending.command.operationId);
    return { kind: 'confirm', command: pending.command, prompt: yesOrNoAgain(confirmationPrompt(this.grammar, frame, pending.command.params)) };
  }

  /**
   * A reply to a choice: "the second one", or words that name one of the operations ("show the pipeline"),
   * whose parameters are added to the original utterance's; else a new command, or the choice again.
   */
  private answerChoice(turn: TurnInProgress, pending: Extract<Pending, { awaiting: 'choice' }>, text: string): Turn {
    const ordinal = ordinalChoice(text);
    if (ordinal !== null && ordinal <= pending.operationIds.length) return this.chosen(turn, pending, pending.operationIds[ordinal - 1]!, {});
    const other = this.interpret(turn, text);
    if (other.operationId !== null && pending.operationIds.includes(other.operationId)) return this.chosen(turn, pending, other.operationId, other.params);
    if (this.isNewCommand(other)) return this.newCommand(turn, text, other);
    return this.choiceTurn(pending.operationIds, true);
  }

  private chosen(turn: TurnInProgress, pending: Extract<Pending, { awaiting: 'choice' }>, operationId: string, said: Record<string, unknown>): Turn {
    const original = understand(this.grammar, pending.utterance, this.context(turn), { operationId });
    return this.accept(turn, { operationId, params: { ...original.params, ...said } }, pending.utterance);
  }

  private choiceTurn(operationIds: readonly string[], again: boolean): Turn {
    const labels = choiceLabels(operationIds.map((id) => this.frame(id)));
    const prompt = choicePrompt(labels);
    return {
      kind: 'choose',
      options: operationIds.map((operationId, i) => ({ operationId, label: labels[i]! })),
      prompt: again ? pickAgain(prompt) : prompt,
    };
  }
}
