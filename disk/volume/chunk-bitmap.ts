const POPCOUNT = Uint8Array.from({ length: 256 }, (_, byte) => {
  let bits = 0;
  for (let value = byte; value; value >>= 1) bits += value & 1;
  return bits;
});

/** One bit per chunk of a volume, with the byte range changed since it was last taken. */
export class ChunkBitmap {
  readonly bytes: Uint8Array;
  private setCount = 0;
  private dirtyFrom = Infinity;
  private dirtyTo = -1;

  constructor(
    readonly count: number,
    bytes?: Uint8Array,
  ) {
    this.bytes = bytes ?? new Uint8Array(Math.ceil(count / 8));
    if (this.bytes.length !== Math.ceil(count / 8)) throw new Error(`a bitmap of ${count} chunks needs ${Math.ceil(count / 8)} bytes, not ${this.bytes.length}`);
    for (const byte of this.bytes) this.setCount += POPCOUNT[byte]!;
  }

  has(index: number): boolean {
    return (this.bytes[index >> 3]! & (1 << (index & 7))) !== 0;
  }

  /** Sets a bit; returns false when it was set already. */
  set(index: number): boolean {
    if (index < 0 || index >= this.count) throw new RangeError(`chunk ${index} is outside 0..${this.count - 1}`);
    const byte = index >> 3;
    const mask = 1 << (index & 7);
    if ((this.bytes[byte]! & mask) !== 0) return false;
    this.bytes[byte]! |= mask;
    this.setCount += 1;
    if (byte < this.dirtyFrom) this.dirtyFrom = byte;
    if (byte > this.dirtyTo) this.dirtyTo = byte;
    return true;
  }

  get size(): number {
    return this.setCount;
  }

  get complete(): boolean {
    return this.setCount === this.count;
  }

  /** The first clear bit at or after `from`, or -1. Whole set bytes are skipped eight chunks at a time. */
  nextClear(from: number): number {
    for (let index = from; index < this.count; ) {
      if ((index & 7) === 0 && this.bytes[index >> 3] === 0xff) {
        index += 8;
        continue;
      }
      if (!this.has(index)) return index;
      index += 1;
    }
    return -1;
  }

  /** The bytes changed since the last call, with their position, or null when nothing changed. */
  takeDirty(): { byteOffset: number; bytes: Uint8Array } | null {
    if (this.dirtyTo < 0) return null;
    const slice = { byteOffset: this.dirtyFrom, bytes: this.bytes.slice(this.dirtyFrom, this.dirtyTo + 1) };
    this.dirtyFrom = Infinity;
    this.dirtyTo = -1;
    return slice;
  }
}
