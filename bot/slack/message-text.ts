// Slack sends message text in its own markup: mentions as <@U123>, links as <url|label> or <url>,
// and &, < and > as entities. The NLU wants the words as typed; Slack wants them escaped back.

/** The words as the user typed them, without the mention of the bot that addressed them. */
export function plainText(text: string, botUserId: string | undefined): string {
  return text
    .replace(/<@([A-Z0-9]+)(?:\|[^>]*)?>/g, (whole, id: string) => (id === botUserId ? ' ' : whole))
    .replace(/<#[A-Z0-9]+\|([^>]*)>/g, '#$1')
    .replace(/<!([a-z]+)(?:\|[^>]*)?>/g, '@$1')
    // A link keeps what was typed: the label when Slack added one (example.com → http://example.com), else the URL.
    .replace(/<([^@#!>|][^>|]*)(?:\|([^>]*))?>/g, (_whole, url: string, label?: string) => label ?? url)
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Text shown as typed in a message: Slack's three control characters escaped. */
export const escaped = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** True when the text mentions the user (a mention in a thread reaches the bot as app_mention too). */
export const mentions = (text: string, userId: string | undefined): boolean => userId !== undefined && text.includes(`<@${userId}`);
