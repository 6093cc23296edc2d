import { realpath } from 'node:fs/promises';
import path from 'node:path';

/** Which local folders and which remote hosts the service may read disks and images from. */
export interface SourcePolicy {
  allowedDirs: string[];
  /** Host names or addresses; '*' allows any. */
  allowedHosts: string[];
}

async function resolvedPath(candidate: string): Promise<string> {
  // A symbolic link must not lead outside the allowed folders, so links are followed first.
  return realpath(candidate).catch(() => path.resolve(candidate));
}

function within(dir: string, candidate: string): boolean {
  const relative = path.relative(dir, candidate);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** Returns why a source is refused, or null when the configuration allows it. */
export async function refusal(policy: SourcePolicy, source: string): Promise<string | null> {
  if (source.startsWith('/')) {
    const candidate = await resolvedPath(source);
    for (const dir of policy.allowedDirs) {
      if (within(await resolvedPath(dir), candidate)) return null;
    }
    return `${source} is outside the folders Ferry may read (FERRY_SOURCE_DIRS: ${policy.allowedDirs.join(', ') || 'none'})`;
  }
  let host: string;
  try {
    const url = new URL(source);
    host = url.protocol === 'nbd+unix:' ? 'localhost' : url.hostname.replace(/^\[|\]$/g, '');
    if (url.protocol === 'nbd+unix:') {
      const socket = url.searchParams.get('socket');
      if (socket) return refusal(policy, socket);
    }
  } catch {
    return `${source} is neither an absolute path nor a URL`;
  }
  if (policy.allowedHosts.includes('*') || policy.allowedHosts.includes(host)) return null;
  return `host ${host} is not one Ferry may read from (FERRY_SOURCE_HOSTS: ${policy.allowedHosts.join(', ') || 'none'})`;
}
