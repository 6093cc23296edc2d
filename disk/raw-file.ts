import { open, type FileHandle } from 'node:fs/promises';
import { BlockIoError, type BlockReader, type Extent } from './block-reader.ts';
import type { ExportBackend } from './nbd/export-backend.ts';
import { blockDeviceSize } from './source-size.ts';

const OPEN_FAILURES: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  EROFS: 'it is on a read-only file system',
  EBUSY: 'the device is busy (in use or mounted exclusively)',
  ENXIO: 'the device does not exist',
};

function ioError(path: string, what: string, error: unknown): BlockIoError {
  const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
  return new BlockIoError(`${what} ${path}: ${(error as Error).message}`, code);
}

/**
 * A raw disk image or a block device, read and written in place. Reads fill the whole buffer or
 * fail; nothing past the end of the disk is read or written, and the file is never grown.
 */
export class RawFile implements BlockReader, ExportBackend {
  readonly multiConn = true;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    readonly size: number,
    readonly readOnly: boolean,
  ) {}

  static async open(path: string, options: { writable?: boolean } = {}): Promise<RawFile> {
    const writable = options.writable ?? false;
    const handle = await open(path, writable ? 'r+' : 'r').catch((error: NodeJS.ErrnoException) => {
      const code = error.code ?? 'EIO';
      const why = OPEN_FAILURES[code] ?? error.message;
      const access = code === 'EACCES' || code === 'EPERM' ? ` (${writable ? 'read and write' : 'read'} access is needed)` : '';
      throw new BlockIoError(`cannot open ${path}: ${why}${access}`, code);
    });
    try {
      const info = await handle.stat();
      let size: number;
      if (info.isBlockDevice()) size = await blockDeviceSize(info.rdev);
      else if (info.isFile()) size = info.size;
      else throw new BlockIoError(`cannot open ${path}: it is neither a disk image file nor a block device`, 'EINVAL');
      return new RawFile(handle, path, size, !writable);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  private checkRange(what: string, offset: number, length: number, code: string): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new BlockIoError(`${what} of ${length} bytes at offset ${offset} reaches past the end of ${this.path} (${this.size} bytes)`, code);
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.checkRange('read', offset, length, 'EINVAL');
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      let got: number;
      try {
        ({ bytesRead: got } = await this.handle.read(buffer, done, length - done, offset + done));
      } catch (error) {
        throw ioError(this.path, `cannot read ${length - done} bytes at offset ${offset + done} of`, error);
      }
      if (got === 0) throw new BlockIoError(`${this.path} ended at ${offset + done} bytes, before the ${this.size} it had when opened`, 'EIO');
      done += got;
    }
    return buffer;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    if (this.readOnly) throw new BlockIoError(`${this.path} is open read-only`, 'EPERM');
    this.checkRange('write', offset, data.length, 'ENOSPC');
    let done = 0;
    while (done < data.length) {
      let wrote: number;
      try {
        ({ bytesWritten: wrote } = await this.handle.write(data, done, data.length - done, offset + done));
      } catch (error) {
        throw ioError(this.path, `cannot write ${data.length - done} bytes at offset ${offset + done} of`, error);
      }
      if (wrote === 0) throw new BlockIoError(`${this.path} took no more data at offset ${offset + done}`, 'ENOSPC');
      done += wrote;
    }
  }

  async flush(): Promise<void> {
    if (this.readOnly) return;
    try {
      await this.handle.datasync();
    } catch (error) {
      throw ioError(this.path, 'cannot flush', error);
    }
  }

  /**
   * Accepted and ignored: NBD_CMD_TRIM is a hint the server "MAY" act on (proto.md), and Node has no
   * fallocate to punch holes with. Writing zeros instead would cost a full write for a hint.
   */
  async trim(offset: number, length: number): Promise<void> {
    if (this.readOnly) throw new BlockIoError(`${this.path} is open read-only`, 'EPERM');
    this.checkRange('trim', offset, length, 'EINVAL');
  }

  /** One data extent: Node cannot ask the file system for holes (no SEEK_HOLE). */
  async extents(offset: number, length: number): Promise<Extent[]> {
    this.checkRange('extents', offset, length, 'EINVAL');
    return [{ offset, length, zero: false, hole: false }];
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
