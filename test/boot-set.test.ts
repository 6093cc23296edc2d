import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootRanges, layoutFingerprint, readPartitionLayout } from '../disk/engine/boot-set.ts';

const MiB = 1024 * 1024;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bootset-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function partitioned(name: string, extra: string[] = []): Promise<Buffer> {
  const disk = path.join(dir, name);
  await writeFile(disk, '');
  await truncate(disk, 64 * MiB);
  execFileSync('sgdisk', ['-n', '1:2048:+8M', '-t', '1:ef00', '-n', '2:0:+16M', '-n', '3:0:0', ...extra, disk], { stdio: 'ignore' });
  return (await readFile(disk)).subarray(0, MiB);
}

describe('boot set', () => {
  it('reads a GPT written by sgdisk: partitions, entries, and the backup header at the end', async () => {
    const layout = readPartitionLayout(await partitioned('gpt.raw'), 64 * MiB);
    expect(layout.scheme).toBe('gpt');
    expect(layout.partitions.map((p) => [p.start, p.length])).toEqual([
      [MiB, 8 * MiB],
      [9 * MiB, 16 * MiB],
      [25 * MiB, 64 * MiB - 25 * MiB - 33 * 512],
    ]);
    expect(layout.partitions[0]!.type).toBe('c12a7328-f81f-11d2-ba4b-00a0c93ec93b');
    expect(layout.gptEntries).toEqual({ offset: 1024, length: 128 * 128 });
    const ranges = bootRanges(layout, 64 * MiB);
    expect(ranges).toContainEqual({ offset: 0, length: MiB });
    expect(ranges).toContainEqual({ offset: 25 * MiB, length: 64 * 1024 });
    expect(ranges).toContainEqual({ offset: 64 * MiB - 64 * 1024, length: 64 * 1024 });
  });

  it('reads the MBR that sgdisk converts the GPT to, and tells layouts apart', async () => {
    const gpt = readPartitionLayout(await partitioned('gpt2.raw'), 64 * MiB);
    const mbr = readPartitionLayout(await partitioned('mbr.raw', ['--gpttombr=1:2:3']), 64 * MiB);
    expect(mbr.scheme).toBe('mbr');
    expect(mbr.partitions.map((p) => p.start)).toEqual([MiB, 9 * MiB, 25 * MiB]);
    expect(bootRanges(mbr, 64 * MiB)).toHaveLength(4);
    expect(layoutFingerprint(gpt, 64 * MiB)).toBe(layoutFingerprint(readPartitionLayout(await partitioned('gpt3.raw'), 64 * MiB), 64 * MiB));
    expect(layoutFingerprint(gpt, 64 * MiB)).not.toBe(layoutFingerprint(mbr, 64 * MiB));
  });

  it('finds no table on a blank disk or a bare filesystem, and still fetches the head', async () => {
    const blank = readPartitionLayout(Buffer.alloc(MiB), 64 * MiB);
    expect(blank).toEqual({ scheme: 'none', partitions: [], gptEntries: null });
    expect(bootRanges(blank, 100 * 1024)).toEqual([{ offset: 0, length: 100 * 1024 }]);
  });
});
