import { mkdtemp, rm, truncate } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkBitmap } from '../disk/volume/chunk-bitmap.ts';
import { ChunkedVolume, statePathOf } from '../disk/volume/chunked-volume.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-volume-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const options = (name: string) => ({ path: path.join(dir, name), size: 10 * 65536 + 1000, chunkSize: 65536, sourceId: 'nbd://src/disk' });

describe('chunk bitmap', () => {
  it('counts, finds clear bits and hands out only what changed', () => {
    const bits = new ChunkBitmap(20);
    for (const index of [0, 1, 2, 3, 4, 5, 6, 7, 9, 17]) bits.set(index);
    expect(bits.set(3)).toBe(false);
    expect(bits.size).toBe(10);
    expect(bits.nextClear(0)).toBe(8);
    expect(bits.nextClear(9)).toBe(10);
    expect(bits.takeDirty()).toEqual({ byteOffset: 0, bytes: Uint8Array.from([0xff, 0x02, 0x02]) });
    expect(bits.takeDirty()).toBeNull();
    expect(() => bits.set(20)).toThrow(RangeError);
    expect(new ChunkBitmap(20, Uint8Array.from([0xff, 0xff, 0x0f])).complete).toBe(true);
  });
});

describe('chunked volume', () => {
  it('keeps a bit only once it was committed, and resumes from it', async () => {
    const first = await ChunkedVolume.open(options('a.raw'));
    expect(first.resumed).toBe(false);
    expect(first.chunkCount).toBe(11);
    expect(first.chunkRange(10)).toEqual({ offset: 655360, length: 1000 });
    await first.write(65536, Buffer.alloc(65536, 7));
    first.present.set(1);
    await first.commit();
    await first.write(2 * 65536, Buffer.alloc(65536, 8));
    first.present.set(2);
    first.guestWritten.set(2);
    // Closed without a commit, as a killed process would leave it.
    await first.close();

    const second = await ChunkedVolume.open(options('a.raw'));
    expect(second.resumed).toBe(true);
    expect([second.present.has(1), second.present.has(2), second.guestWritten.has(2)]).toEqual([true, false, false]);
    expect((await second.read(65536, 4)).equals(Buffer.alloc(4, 7))).toBe(true);
    await second.finish();
    await expect(ChunkedVolume.open(options('a.raw'))).rejects.toThrow(/already exists/);
  });

  it('refuses a state of another source, or a target changed behind its back', async () => {
    const volume = await ChunkedVolume.open(options('b.raw'));
    await volume.close();
    await expect(ChunkedVolume.open({ ...options('b.raw'), sourceId: 'nbd://other/disk' })).rejects.toThrow(/holds a copy of nbd:\/\/src\/disk .* remove it and b\.raw\.ferry-state/);
    await truncate(options('b.raw').path, 4096);
    await expect(ChunkedVolume.open(options('b.raw'))).rejects.toThrow(/changed outside Ferry/);
    await expect(ChunkedVolume.open({ ...options('c.raw'), chunkSize: 1000 })).rejects.toThrow(/power of two/);
    expect(statePathOf('/x/y.raw')).toBe('/x/y.raw.ferry-state');
  });

  it('discards the copy and its state', async () => {
    const volume = await ChunkedVolume.open(options('d.raw'));
    await volume.discard();
    const again = await ChunkedVolume.open(options('d.raw'));
    expect(again.resumed).toBe(false);
    await again.close();
  });
});
