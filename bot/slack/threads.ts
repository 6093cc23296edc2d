// A Slack conversation is a thread: its id names the workspace, the channel and the thread's
// first message, so a job's progress (which carries the id) finds its way back to the thread.

export interface SlackThread {
  team: string;
  channel: string;
  /** The ts of the thread's first message. */
  threadTs: string;
}

const PREFIX = 'slack:';

export const conversationOf = (thread: SlackThread): string => `${PREFIX}${thread.team}:${thread.channel}:${thread.threadTs}`;

export const isSlackConversation = (conversation: string): boolean => conversation.startsWith(PREFIX);

export function threadOf(conversation: string): SlackThread | null {
  if (!isSlackConversation(conversation)) return null;
  const [team, channel, threadTs] = conversation.slice(PREFIX.length).split(':');
  return team && channel && threadTs ? { team, channel, threadTs } : null;
}
