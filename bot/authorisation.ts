import type { CommandFrame } from '../nlu/frame.ts';
import { choiceLabels } from '../nlu/wording.ts';
import { EMPTY_AUTH_CONFIG, LEVELS, loadAuthConfig, normaliseCaller, parseOperators, type AuthConfig, type Level } from './auth-config.ts';

// Who may run what. Every surface (Slack, console, voice) asks `decide` before it runs a command,
// so a permission cannot depend on where the words came from.

/** Who asks, as far as the surface knows: a Slack user with their groups, and/or a phone caller, in a channel. */
export interface Principal {
  userId?: string;
  /** The caller's number (voice); a caller mapped to a Slack user gets that user's permissions. */
  callerId?: string;
  /** The user's Slack user groups, as the surface looked them up. */
  groupIds?: readonly string[];
  /** The channel (or DM) the command was typed in. */
  channelId?: string;
  /** Typed at the terminal of the machine Ferry runs on, whose user already holds its data and its Redis. */
  terminal?: boolean;
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

// RFC 9110's safe methods: they cannot change anything, whatever the operation is called.
const SAFE_METHODS = new Set(['get', 'head', 'options', 'trace']);

// Verbs that end something for good although the method is POST (cancelMigration). Words of the
// lexicon's delete class (remove, deregister, purge…) already give the frame actionClass 'delete'.
const DESTRUCTIVE_VERBS = new Set(['cancel', 'abort', 'kill']);

/** The level an operation needs: read for safe methods, destroy for deletions and cancellations, change for the rest. */
export function levelOf(frame: CommandFrame): Level {
  if (SAFE_METHODS.has(frame.operation.method)) return 'read';
  if (frame.operation.method === 'delete' || frame.actionClass === 'delete') return 'destroy';
  if (DESTRUCTIVE_VERBS.has(frame.verb.split(' ')[0]!)) return 'destroy';
  return 'change';
}

const rank = (level: Level): number => LEVELS.indexOf(level);
const highest = (levels: readonly Level[]): Level => levels.reduce((best, level) => (rank(level) > rank(best) ? level : best), 'read');

// How the refusal names what the command needs and what the principal has.
const NEEDS: Record<Level, string> = {
  read: 'a read-only command',
  change: 'a command that changes things',
  destroy: 'a destructive command',
};
const MAY_RUN: Record<Level, string> = {
  read: 'read-only commands',
  change: 'commands that change things, but not destructive ones',
  destroy: 'every command',
};

export interface AuthorisationOptions {
  config?: AuthConfig;
  /** Slack user ids and caller numbers allowed everything (FERRY_OPERATORS). */
  operators?: Iterable<string>;
}

export class Authorisation {
  private readonly config: AuthConfig;
  private readonly operators: ReadonlySet<string>;

  constructor(options: AuthorisationOptions = {}) {
    this.config = options.config ?? EMPTY_AUTH_CONFIG;
    this.operators = new Set(options.operators ?? []);
  }

  /** From FERRY_AUTH_FILE (optional) and FERRY_OPERATORS; a bad file or entry stops with the reason. */
  static async fromEnv(env: NodeJS.ProcessEnv = process.env): Promise<Authorisation> {
    const operators = parseOperators(env.FERRY_OPERATORS);
    const config = env.FERRY_AUTH_FILE ? await loadAuthConfig(env.FERRY_AUTH_FILE) : undefined;
    return new Authorisation({ config, operators });
  }

  /** The Slack user whose permissions the principal has: its own, or the one its caller number is mapped to. */
  userOf(principal: Principal): string | undefined {
    if (principal.userId) return principal.userId;
    return principal.callerId ? this.config.callers.get(normaliseCaller(principal.callerId))?.user : undefined;
  }

  /**
   * What the principal may run. The rule: everyone may read; otherwise the level is the highest
   * granted to the user (or the user a caller is mapped to), the caller number, any of the user's
   * groups, or the channel where they ask. An operator (FERRY_OPERATORS) may run everything.
   * The channel grants rather than caps, so a team's channel can be opened to all its members
   * without listing each of them.
   */
  levelFor(principal: Principal): Level {
    if (principal.terminal) return 'destroy';
    const user = this.userOf(principal);
    const caller = principal.callerId ? normaliseCaller(principal.callerId) : undefined;
    if ((user && this.operators.has(user)) || (caller && this.operators.has(caller))) return 'destroy';
    const granted: (Level | undefined)[] = [
      user ? this.config.users.get(user) : undefined,
      caller ? this.config.callers.get(caller)?.level : undefined,
      ...(principal.groupIds ?? []).map((group) => this.config.groups.get(group)),
      principal.channelId ? this.config.channels.get(principal.channelId) : undefined,
    ];
    return highest(granted.filter((level): level is Level => level !== undefined));
  }

  decide(principal: Principal, frame: CommandFrame): Decision {
    const needed = levelOf(frame);
    const level = this.levelFor(principal);
    if (rank(level) >= rank(needed)) return { allowed: true };
    // A caller who is nobody's phone yet may simply need linking to their Slack user.
    const unlinked = principal.callerId !== undefined && this.userOf(principal) === undefined;
    const whom = unlinked ? 'link your phone number to your Slack user, or grant it to your number' : `grant it to you, one of your groups${principal.channelId ? ' or this channel' : ''}`;
    return {
      allowed: false,
      reason: `Sorry, you may not run "${choiceLabels([frame])[0]}": it is ${NEEDS[needed]}, and you may run ${MAY_RUN[level]}. A Ferry operator can ${whom} in Ferry's authorisation file.`,
    };
  }
}
