import type { ByteSource } from '../byte-source.ts';

export type ImageFormat = 'raw' | 'qcow2' | 'vmdk' | 'vhd' | 'vhdx' | 'vdi' | 'iso' | 'ova';

export interface ProbeResult {
  format: ImageFormat | null;
  subformat: string | null;
  virtualSize: number | null;
  supported: boolean;
  reason: string | null;
}

const HEAD = 64 * 1024;

function result(format: ImageFormat, subformat: string | null, virtualSize: number | null, reason: string | null = null): ProbeResult {
  const broken = reason ?? (virtualSize === null || virtualSize <= 0 ? 'the header gives no usable disk size' : null);
  return { format, subformat, virtualSize, supported: broken === null, reason: broken };
}

function safeNumber(value: bigint): number | null {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null;
}

function qcow2(head: Buffer): ProbeResult {
  if (head.length < 72) return result('qcow2', null, null, 'the qcow2 header is truncated');
  const version = head.readUInt32BE(4);
  const size = safeNumber(head.readBigUInt64BE(24));
  if (version !== 2 && version !== 3) return result('qcow2', `v${version}`, size, `qcow2 version ${version} is not supported`);
  if (head.readBigUInt64BE(8) !== 0n) return result('qcow2', `v${version}`, size, 'the image has a backing file; import a flattened copy');
  if (head.readUInt32BE(32) !== 0) return result('qcow2', `v${version}`, size, 'the image is encrypted');
  return result('qcow2', version === 2 ? 'compat=0.10' : 'compat=1.1', size);
}

function vmdkDescriptor(text: string): ProbeResult {
  const createType = /createType\s*=\s*"([^"]+)"/.exec(text)?.[1] ?? null;
  const extents = [...text.matchAll(/^\s*(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)/gm)];
  const sectors = extents.reduce((sum, extent) => sum + Number(extent[2]), 0);
  const size = extents.length ? sectors * 512 : null;
  const separate = extents.some((extent) => extent[3] !== 'SPARSE' || createType !== 'monolithicSparse');
  return result('vmdk', createType, size, separate ? 'the VMDK descriptor names separate extent files; import a monolithic or stream-optimized VMDK' : null);
}

function vmdkSparse(head: Buffer): ProbeResult {
  const capacity = safeNumber(head.readBigUInt64LE(12));
  const compression = head.readUInt16LE(77);
  return result('vmdk', compression === 1 ? 'streamOptimized' : 'monolithicSparse', capacity === null ? null : capacity * 512);
}

function vdi(head: Buffer): ProbeResult {
  const type = head.readUInt32LE(0x4c);
  const subformat = type === 1 ? 'dynamic' : type === 2 ? 'fixed' : `type ${type}`;
  const size = safeNumber(head.readBigUInt64LE(0x170));
  return result('vdi', subformat, size, type === 1 || type === 2 ? null : `VDI image type ${type} is not supported`);
}

function vhd(footer: Buffer): ProbeResult {
  const type = footer.readUInt32BE(60);
  const subformat = type === 2 ? 'fixed' : type === 3 ? 'dynamic' : type === 4 ? 'differencing' : `type ${type}`;
  const size = safeNumber(footer.readBigUInt64BE(48));
  const reason = type === 4 ? 'a differencing VHD needs its parent; import a merged copy' : type === 2 || type === 3 ? null : `VHD disk type ${type} is not supported`;
  return result('vhd', subformat, size, reason);
}

/** GUIDs as VHDX stores them: the first three fields little-endian, the rest as written. */
function guid(text: string): Buffer {
  const hex = text.replace(/-/g, '');
  const bytes = Buffer.from(hex, 'hex');
  bytes.subarray(0, 4).reverse();
  bytes.subarray(4, 6).reverse();
  bytes.subarray(6, 8).reverse();
  return bytes;
}

const METADATA_REGION = guid('8B7CA206-4790-4B9A-B8FE-575F050F886E');
const VIRTUAL_DISK_SIZE = guid('2FA54224-CD1B-4876-B211-5DBED83BF4B8');

async function vhdx(source: ByteSource): Promise<ProbeResult> {
  // The region table sits at 192 KiB; it points to the metadata region, whose table holds the size.
  const regions = await source.read(192 * 1024, 64 * 1024);
  if (regions.toString('latin1', 0, 4) !== 'regi') return result('vhdx', null, null, 'the VHDX region table is missing or damaged');
  const count = regions.readUInt32LE(8);
  for (let i = 0; i < Math.min(count, 2047); i += 1) {
    const entry = regions.subarray(16 + i * 32, 48 + i * 32);
    if (!entry.subarray(0, 16).equals(METADATA_REGION)) continue;
    const regionOffset = Number(entry.readBigUInt64LE(16));
    const table = await source.read(regionOffset, 64 * 1024);
    if (table.toString('latin1', 0, 8) !== 'metadata') break;
    const entries = table.readUInt16LE(10);
    for (let j = 0; j < Math.min(entries, 2047); j += 1) {
      const item = table.subarray(32 + j * 32, 64 + j * 32);
      if (!item.subarray(0, 16).equals(VIRTUAL_DISK_SIZE)) continue;
      const value = await source.read(regionOffset + item.readUInt32LE(16), 8);
      return result('vhdx', null, value.length === 8 ? safeNumber(value.readBigUInt64LE(0)) : null);
    }
  }
  return result('vhdx', null, null, 'the VHDX metadata does not give the disk size');
}

function iso(head: Buffer): ProbeResult {
  const blocks = head.readUInt32LE(0x8050);
  const blockSize = head.readUInt16LE(0x8080);
  return result('iso', 'iso9660', blocks * blockSize);
}

async function ova(source: ByteSource, head: Buffer): Promise<ProbeResult> {
  const name = head.toString('latin1', 0, 100).replace(/\0.*$/s, '');
  if (!name.toLowerCase().endsWith('.ovf')) return result('ova', null, null, 'the OVA does not start with its OVF descriptor');
  const length = parseInt(head.toString('latin1', 124, 136).replace(/\0.*$/s, '').trim(), 8);
  const descriptor = (await source.read(512, Math.min(length, 1024 * 1024))).toString('utf8');
  let total = 0;
  for (const disk of descriptor.matchAll(/<(?:\w+:)?Disk\b[^>]*>/g)) {
    const capacity = Number(/capacity="(\d+)"/.exec(disk[0])?.[1] ?? NaN);
    const units = /capacityAllocationUnits="byte\s*\*\s*2\^(\d+)"/.exec(disk[0])?.[1];
    total += capacity * 2 ** Number(units ?? 0);
  }
  return result('ova', 'ovf', Number.isFinite(total) && total > 0 ? total : null);
}

function rawLayout(head: Buffer): string | null {
  if (head.length >= 520 && head.toString('latin1', 512, 520) === 'EFI PART') return 'gpt';
  if (head.length >= 512 && head.readUInt16LE(510) === 0xaa55) return 'mbr';
  return null;
}

/** Tells an image's format and virtual size from its headers, reading as little as it can. */
export async function probeImage(source: ByteSource): Promise<ProbeResult> {
  if (source.size === 0) return { format: null, subformat: null, virtualSize: 0, supported: false, reason: 'the file is empty' };
  const head = await source.read(0, HEAD);
  const magic = head.toString('latin1', 0, 8);
  if (magic.startsWith('QFI\xfb')) return qcow2(head);
  if (magic.startsWith('KDMV')) return vmdkSparse(head);
  if (magic.startsWith('# Disk D')) return vmdkDescriptor(head.toString('utf8'));
  if (magic === 'vhdxfile') return vhdx(source);
  if (magic === 'conectix') return vhd(head);
  if (head.length >= 0x44 && head.readUInt32LE(0x40) === 0xbeda107f) return vdi(head);
  if (head.length >= 0x8082 && head.toString('latin1', 0x8001, 0x8006) === 'CD001') return iso(head);
  if (head.length >= 512 && head.toString('latin1', 257, 262) === 'ustar') return ova(source, head);
  if (source.size >= 512) {
    const footer = await source.read(source.size - 512, 512);
    if (footer.toString('latin1', 0, 8) === 'conectix') return vhd(footer);
  }
  return result('raw', rawLayout(head), source.size);
}
