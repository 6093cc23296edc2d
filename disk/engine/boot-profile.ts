import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Range } from './boot-set.ts';

/** The most a profile may ask to prefetch, so a profile recorded during heavy use cannot delay a boot. */
export const MAX_PROFILE_BYTES = 256 * 1024 * 1024;

interface StoredProfile {
  fingerprint: string;
  ranges: [number, number][];
  recordedAt: string;
}

/**
 * Boot profiles by disk layout fingerprint: the ranges a guest read while it booted, kept as one
 * JSON file each so the next migration of a disk laid out alike fetches them before "boot ready".
 */
export class BootProfileStore {
  constructor(private readonly dir: string) {}

  private fileOf(fingerprint: string): string {
    if (!/^[0-9a-f]{8,64}$/.test(fingerprint)) throw new Error(`not a layout fingerprint: ${fingerprint}`);
    return path.join(this.dir, `${fingerprint}.json`);
  }

  async load(fingerprint: string): Promise<Range[] | null> {
    let text: string;
    try {
      text = await readFile(this.fileOf(fingerprint), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const stored = JSON.parse(text) as StoredProfile;
    if (!Array.isArray(stored.ranges)) return null;
    return stored.ranges
      .filter((pair) => Number.isSafeInteger(pair[0]) && Number.isSafeInteger(pair[1]) && pair[0] >= 0 && pair[1] > 0)
      .map(([offset, length]) => ({ offset, length }));
  }

  async save(fingerprint: string, ranges: Range[]): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = this.fileOf(fingerprint);
    const stored: StoredProfile = { fingerprint, ranges: ranges.map((range) => [range.offset, range.length]), recordedAt: new Date().toISOString() };
    await writeFile(`${file}.new`, `${JSON.stringify(stored)}\n`);
    await rename(`${file}.new`, file);
  }
}

/** Joins chunk indexes into ranges of adjacent chunks, keeping at most `maxBytes` in all. */
export function chunksToRanges(chunks: Iterable<number>, chunkSize: number, size: number, maxBytes = MAX_PROFILE_BYTES): Range[] {
  const sorted = [...chunks].sort((a, b) => a - b);
  const ranges: Range[] = [];
  let total = 0;
  for (const chunk of sorted) {
    const offset = chunk * chunkSize;
    const length = Math.min(chunkSize, size - offset);
    if (length <= 0 || total + length > maxBytes) break;
    total += length;
    const last = ranges.at(-1);
    if (last && last.offset + last.length === offset) last.length += length;
    else ranges.push({ offset, length });
  }
  return ranges;
}
