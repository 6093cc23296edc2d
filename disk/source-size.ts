import { open, readFile } from 'node:fs/promises';
import { queryExport } from './nbd/handshake.ts';
import { parseNbdUrl } from './nbd/url.ts';

export class SourceUnreachableError extends Error {}

/** The size of a block device, which stat reports as 0, from sysfs. */
export async function blockDeviceSize(rdev: number): Promise<number> {
  const major = (rdev >> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  const sectors = Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')).trim());
  return sectors * 512;
}

async function localSize(path: string): Promise<number> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    const why = error.code === 'ENOENT' ? 'no such file' : error.code === 'EACCES' ? 'permission denied' : (error.code ?? error.message);
    throw new SourceUnreachableError(`cannot open ${path}: ${why}`);
  });
  try {
    const info = await handle.stat();
    if (info.isBlockDevice()) return await blockDeviceSize(info.rdev);
    if (!info.isFile()) throw new SourceUnreachableError(`${path} is neither a disk image file nor a block device`);
    return info.size;
  } finally {
    await handle.close();
  }
}

/** Checks that a disk source (an NBD URL or a local path) answers, and returns its size in bytes. */
export async function sourceSize(source: string, timeoutMs = 5000): Promise<number> {
  if (source.startsWith('/')) return localSize(source);
  try {
    return (await queryExport(parseNbdUrl(source), timeoutMs)).size;
  } catch (error) {
    throw new SourceUnreachableError((error as Error).message);
  }
}
