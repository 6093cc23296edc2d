import type { webApi } from '@slack/bolt';
import type { Logger } from 'pino';

// The authorisation file may grant a level to a Slack user group. Slack lists groups with their
// members in one call (usergroups:read), so the whole list is kept for a few minutes.

const CACHE_MS = 5 * 60 * 1000;

export class UserGroups {
  private members: Promise<Map<string, string[]>> | null = null;
  private fetchedAt = 0;
  private warned = false;

  constructor(
    private readonly client: webApi.WebClient,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async groupsOf(userId: string): Promise<string[]> {
    if (!this.members || this.now() - this.fetchedAt > CACHE_MS) {
      this.fetchedAt = this.now();
      this.members = this.fetch();
    }
    return (await this.members).get(userId) ?? [];
  }

  private async fetch(): Promise<Map<string, string[]>> {
    const byUser = new Map<string, string[]>();
    try {
      const answer = await this.client.usergroups.list({ include_users: true });
      for (const group of answer.usergroups ?? []) {
        for (const user of group.users ?? []) byUser.set(user, [...(byUser.get(user) ?? []), group.id!]);
      }
    } catch (error) {
      // Without the scope, grants to groups cannot apply; users and channels still do.
      if (!this.warned) this.logger.warn({ err: (error as Error).message }, 'cannot list Slack user groups; grants to groups are not applied (add the usergroups:read scope)');
      this.warned = true;
    }
    return byUser;
  }
}
