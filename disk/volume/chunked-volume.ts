import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ChunkBitmap } from './chunk-bitmap.ts';

// The state file beside a volume: a fixed header, then the present bitmap, then the guest-written
// bitmap. Bits only ever go from 0 to 1 and are written after the data they stand for is flushed, so
// a torn or lost write of the state can only forget chunks, never claim one that is not on disk.
const MAGIC = Buffer.from('FERRYVOL');
const VERSION = 1;
const HEADER_SIZE = 4096;
const MAX_SOURCE_ID = 2048;

export interface VolumeOptions {
  /** The raw target file; created sparse when absent. */
  path: string;
  size: number;
  chunkSize: number;
  /** Names the source the chunks come from, so a resume never mixes two sources in one volume. */
  sourceId: string;
}

export class VolumeError extends Error {}

export function statePathOf(volumePath: string): string {
  return `${volumePath}.ferry-state`;
}

function encodeHeader(options: VolumeOptions): Buffer {
  const source = Buffer.from(options.sourceId, 'utf8');
  if (source.length > MAX_SOURCE_ID) throw new VolumeError(`the source name is longer than ${MAX_SOURCE_ID} bytes`);
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(VERSION, 8);
  header.writeUInt32BE(options.chunkSize, 12);
  header.writeBigUInt64BE(BigInt(options.size), 16);
  header.writeUInt32BE(source.length, 24);
  source.copy(header, 28);
  return header;
}

function checkHeader(header: Buffer, options: VolumeOptions, statePath: string): void {
  if (!header.subarray(0, 8).equals(MAGIC) || header.readUInt32BE(8) !== VERSION) {
    throw new VolumeError(`${statePath} is not a Ferry volume state file; move it away to start over`);
  }
  const chunkSize = header.readUInt32BE(12);
  const size = Number(header.readBigUInt64BE(16));
  const sourceId = header.subarray(28, 28 + header.readUInt32BE(24)).toString('utf8');
  if (size !== options.size || chunkSize !== options.chunkSize || sourceId !== options.sourceId) {
    throw new VolumeError(
      `${options.path} holds a copy of ${sourceId} (${size} bytes, ${chunkSize}-byte chunks), not of ${options.sourceId} ` +
        `(${options.size} bytes, ${options.chunkSize}-byte chunks); remove it and ${path.basename(statePath)} to start over`,
    );
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Makes a rename or a new file durable: the directory entry must reach the disk too. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A sparse raw target file and the persisted record of which of its chunks hold their final bytes
 * (`present`) and which of those the guest wrote (`guestWritten`). Bits are set in memory as soon as
 * the data is written; `commit` makes them durable in the order that keeps a crash honest.
 */
export class ChunkedVolume {
  readonly chunkCount: number;
  private committing: Promise<void> = Promise.resolve();

  private constructor(
    readonly options: VolumeOptions,
    private readonly data: FileHandle,
    private readonly state: FileHandle,
    readonly present: ChunkBitmap,
    readonly guestWritten: ChunkBitmap,
    /** The volume was opened from an earlier run's state rather than created now. */
    readonly resumed: boolean,
  ) {
    this.chunkCount = present.count;
  }

  get size(): number {
    return this.options.size;
  }

  get chunkSize(): number {
    return this.options.chunkSize;
  }

  get statePath(): string {
    return statePathOf(this.options.path);
  }

  /** Opens the volume of an earlier run to resume it, or creates a new one. */
  static async open(options: VolumeOptions): Promise<ChunkedVolume> {
    if (!Number.isInteger(options.chunkSize) || options.chunkSize < 512 || (options.chunkSize & (options.chunkSize - 1)) !== 0) {
      throw new VolumeError(`the chunk size must be a power of two of at least 512 bytes, not ${options.chunkSize}`);
    }
    const statePath = statePathOf(options.path);
    const count = Math.ceil(options.size / options.chunkSize);
    const bitmapBytes = Math.ceil(count / 8);
    const resumed = await exists(statePath);
    if (!resumed) {
      if (await exists(options.path)) throw new VolumeError(`${options.path} already exists; remove it or choose another target`);
      await ChunkedVolume.create(options, statePath, bitmapBytes);
    }
    const state = await open(statePath, 'r+');
    let data: FileHandle | null = null;
    try {
      const header = Buffer.alloc(HEADER_SIZE);
      await state.read(header, 0, HEADER_SIZE, 0);
      checkHeader(header, options, statePath);
      const bits = Buffer.alloc(bitmapBytes * 2);
      const { bytesRead } = await state.read(bits, 0, bits.length, HEADER_SIZE);
      if (bytesRead !== bits.length) throw new VolumeError(`${statePath} is cut short; remove it and ${options.path} to start over`);
      data = await open(options.path, 'r+').catch((error: NodeJS.ErrnoException) => {
        throw new VolumeError(`cannot open ${options.path}: ${error.code ?? error.message}`);
      });
      if ((await data.stat()).size !== options.size) throw new VolumeError(`${options.path} is not ${options.size} bytes long; it was changed outside Ferry`);
      const present = new ChunkBitmap(count, new Uint8Array(bits.buffer, bits.byteOffset, bitmapBytes));
      const guestWritten = new ChunkBitmap(count, new Uint8Array(bits.buffer, bits.byteOffset + bitmapBytes, bitmapBytes));
      return new ChunkedVolume(options, data, state, present, guestWritten, resumed);
    } catch (error) {
      await state.close();
      await data?.close();
      throw error;
    }
  }

  private static async create(options: VolumeOptions, statePath: string, bitmapBytes: number): Promise<void> {
    const data = await open(options.path, 'wx').catch((error: NodeJS.ErrnoException) => {
      const why = error.code === 'ENOENT' ? 'its folder does not exist' : error.code === 'EACCES' ? 'permission denied' : (error.code ?? error.message);
      throw new VolumeError(`cannot create ${options.path}: ${why}`);
    });
    try {
      await data.truncate(options.size);
      await data.sync();
    } finally {
      await data.close();
    }
    const temporary = `${statePath}.new`;
    const state = await open(temporary, 'w');
    try {
      await state.write(encodeHeader(options), 0, HEADER_SIZE, 0);
      await state.truncate(HEADER_SIZE + bitmapBytes * 2);
      await state.sync();
    } finally {
      await state.close();
    }
    await rename(temporary, statePath);
    await syncDirectory(path.dirname(statePath));
  }

  chunkOf(offset: number): number {
    return Math.floor(offset / this.options.chunkSize);
  }

  /** Where a chunk lies; the last one may be short. */
  chunkRange(index: number): { offset: number; length: number } {
    const offset = index * this.options.chunkSize;
    return { offset, length: Math.min(this.options.chunkSize, this.options.size - offset) };
  }

  async read(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const buffer = into ?? Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.data.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) throw new VolumeError(`${this.options.path} ended at ${offset + done}, before ${offset + length}`);
      done += bytesRead;
    }
    return buffer;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.data.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
  }

  /**
   * Makes every chunk marked so far durable: the data first, then the guest-written bits, then the
   * present bits, each flushed before the next, so no crash can leave a bit without its bytes.
   */
  commit(): Promise<void> {
    this.committing = this.committing.then(() => this.commitNow());
    return this.committing;
  }

  private async commitNow(): Promise<void> {
    const written = this.guestWritten.takeDirty();
    const present = this.present.takeDirty();
    if (!written && !present) return;
    await this.data.datasync();
    const bitmapBytes = this.present.bytes.length;
    if (written) {
      await this.state.write(written.bytes, 0, written.bytes.length, HEADER_SIZE + bitmapBytes + written.byteOffset);
      await this.state.datasync();
    }
    if (present) {
      await this.state.write(present.bytes, 0, present.bytes.length, HEADER_SIZE + present.byteOffset);
      await this.state.datasync();
    }
  }

  /** Flushes the guest's writes (NBD FLUSH): the data and the bits that protect it from the backfill. */
  flush(): Promise<void> {
    return this.commit();
  }

  /** Ends the copy: the state is committed and removed, leaving a plain raw file. */
  async finish(): Promise<void> {
    await this.commit();
    await this.close();
    await rm(this.statePath, { force: true });
  }

  /** Drops the copy altogether (a cancelled migration): the target and its state are removed. */
  async discard(): Promise<void> {
    await this.committing.catch(() => undefined);
    await this.close();
    await rm(this.statePath, { force: true });
    await rm(this.options.path, { force: true });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.data.close(), this.state.close()]);
  }
}
