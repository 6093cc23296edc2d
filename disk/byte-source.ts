import { open } from 'node:fs/promises';

/** Random reads from an image wherever it is, counting what was read. */
export interface ByteSource {
  readonly size: number;
  readonly bytesRead: number;
  /** Reads up to `length` bytes at `offset`; fewer only at the end of the image. */
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

export class ByteSourceError extends Error {}

export async function openFileSource(path: string): Promise<ByteSource> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new ByteSourceError(`cannot open ${path}: ${error.code === 'ENOENT' ? 'no such file' : (error.code ?? error.message)}`);
  });
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    throw new ByteSourceError(`${path} is not a file`);
  }
  let bytesRead = 0;
  return {
    size: info.size,
    get bytesRead() {
      return bytesRead;
    },
    async read(offset, length) {
      const buffer = Buffer.alloc(Math.max(0, Math.min(length, info.size - offset)));
      const { bytesRead: got } = await handle.read(buffer, 0, buffer.length, offset);
      bytesRead += got;
      return buffer.subarray(0, got);
    },
    close: () => handle.close(),
  };
}

const MAX_REDIRECTS = 5;

/**
 * Reads an image over HTTP with Range requests. Redirects are followed one at a time and each
 * target is checked with `allow`, so a redirect cannot lead where the configuration forbids.
 */
export async function openHttpSource(url: string, allow: (url: string) => Promise<string | null>, timeoutMs = 10_000): Promise<ByteSource> {
  let current = url;
  let response: Response | null = null;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
    const refused = await allow(current);
    if (refused) throw new ByteSourceError(refused);
    response = await fetch(current, { headers: { range: 'bytes=0-0' }, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) }).catch((error: Error) => {
      throw new ByteSourceError(`cannot reach ${current}: ${(error.cause as Error | undefined)?.message ?? error.message}`);
    });
    await response.body?.cancel();
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      current = new URL(location, current).toString();
      continue;
    }
    break;
  }
  if (!response || response.status >= 300) throw new ByteSourceError(`${current} answered HTTP ${response?.status ?? 'redirects without end'}`);
  const total = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1];
  if (response.status !== 206 || !total) throw new ByteSourceError(`${current} does not serve byte ranges, so it cannot be probed without downloading it whole`);
  const size = Number(total);
  const target = current;
  let bytesRead = 0;
  return {
    size,
    get bytesRead() {
      return bytesRead;
    },
    async read(offset, length) {
      const end = Math.min(size, offset + length) - 1;
      if (end < offset) return Buffer.alloc(0);
      const part = await fetch(target, { headers: { range: `bytes=${offset}-${end}` }, signal: AbortSignal.timeout(timeoutMs) });
      if (part.status !== 206) throw new ByteSourceError(`${target} answered HTTP ${part.status} to a range request`);
      const data = Buffer.from(await part.arrayBuffer());
      bytesRead += data.length;
      return data;
    },
    close: async () => {},
  };
}
