import { createHash } from 'node:crypto';

/** A byte range of a disk. */
export interface Range {
  offset: number;
  length: number;
}

export interface Partition {
  start: number;
  length: number;
  /** The MBR type byte as two hex digits, or the GPT type GUID. */
  type: string;
}

export interface PartitionLayout {
  scheme: 'mbr' | 'gpt' | 'none';
  partitions: Partition[];
  /** Where the GPT partition entries lie, which a bootloader reads before any partition. */
  gptEntries: Range | null;
}

/** What a firmware and a bootloader read before the system can run: the head, and the tables. */
export const BOOT_HEAD_BYTES = 1024 * 1024;
/** Enough of a partition's start for its boot record and any filesystem superblock within it. */
const PARTITION_HEAD_BYTES = 64 * 1024;
const SECTOR = 512;

function guid(bytes: Buffer): string {
  const hex = (from: number, to: number, reverse: boolean): string => {
    const part = Buffer.from(bytes.subarray(from, to));
    return (reverse ? part.reverse() : part).toString('hex');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`;
}

function readGpt(head: Buffer, size: number): PartitionLayout | null {
  if (head.length < 2 * SECTOR || head.toString('latin1', SECTOR, SECTOR + 8) !== 'EFI PART') return null;
  const entriesOffset = Number(head.readBigUInt64LE(SECTOR + 72)) * SECTOR;
  const count = head.readUInt32LE(SECTOR + 80);
  const entrySize = head.readUInt32LE(SECTOR + 84);
  if (entrySize < 128 || count > 4096) return null;
  const gptEntries = { offset: entriesOffset, length: count * entrySize };
  const partitions: Partition[] = [];
  // Entries beyond the head are fetched as part of the boot set but not parsed here; they are rare.
  for (let i = 0; i < count; i += 1) {
    const at = entriesOffset + i * entrySize;
    if (at + entrySize > head.length) break;
    const type = head.subarray(at, at + 16);
    if (type.every((byte) => byte === 0)) continue;
    const first = Number(head.readBigUInt64LE(at + 32)) * SECTOR;
    const last = Number(head.readBigUInt64LE(at + 40)) * SECTOR;
    if (first >= size || last < first) continue;
    partitions.push({ start: first, length: Math.min(last + SECTOR, size) - first, type: guid(type) });
  }
  return { scheme: 'gpt', partitions, gptEntries };
}

function readMbr(head: Buffer, size: number): PartitionLayout | null {
  if (head.length < SECTOR || head[510] !== 0x55 || head[511] !== 0xaa) return null;
  const partitions: Partition[] = [];
  for (let i = 0; i < 4; i += 1) {
    const at = 446 + i * 16;
    const type = head[at + 4]!;
    const start = head.readUInt32LE(at + 8) * SECTOR;
    const length = head.readUInt32LE(at + 12) * SECTOR;
    if (type === 0 || length === 0 || start >= size) continue;
    partitions.push({ start, length: Math.min(length, size - start), type: type.toString(16).padStart(2, '0') });
  }
  // A boot sector without a table (a bare filesystem, a floppy image) has nothing that looks valid.
  if (partitions.length === 0) return null;
  return { scheme: 'mbr', partitions, gptEntries: null };
}

/** The partition layout written in a disk's head (its first MiB): GPT, MBR, or none found. */
export function readPartitionLayout(head: Buffer, size: number): PartitionLayout {
  const mbr = readMbr(head, size);
  if (mbr?.partitions.some((partition) => partition.type === 'ee')) return readGpt(head, size) ?? mbr;
  return mbr ?? { scheme: 'none', partitions: [], gptEntries: null };
}

/**
 * The ranges a machine reads to start booting: the head, each partition's boot record (for an
 * extended partition, the first logical one's table), the GPT entries and the backup GPT at the end.
 */
export function bootRanges(layout: PartitionLayout, size: number): Range[] {
  const ranges: Range[] = [{ offset: 0, length: Math.min(BOOT_HEAD_BYTES, size) }];
  for (const partition of layout.partitions) {
    ranges.push({ offset: partition.start, length: Math.min(PARTITION_HEAD_BYTES, partition.length) });
  }
  if (layout.gptEntries) {
    ranges.push(layout.gptEntries);
    const backup = Math.min(PARTITION_HEAD_BYTES, size);
    ranges.push({ offset: size - backup, length: backup });
  }
  return ranges.filter((range) => range.length > 0 && range.offset + range.length <= size);
}

/** Names disks laid out alike (same size and partitions), whose boots read the same blocks. */
export function layoutFingerprint(layout: PartitionLayout, size: number): string {
  const shape = [size, layout.scheme, ...layout.partitions.map((p) => `${p.start}+${p.length}:${p.type}`)].join('|');
  return createHash('sha256').update(shape).digest('hex').slice(0, 32);
}
