/** A run of bytes as a source reports it: data, or a range that reads as zeros (a hole, or zeroed). */
export interface Extent {
  offset: number;
  length: number;
  /** Reads as zeros; nothing needs to be copied. */
  zero: boolean;
  /** Not allocated at the source (implies nothing to copy when `zero` is set too). */
  hole: boolean;
}

/** Random-access reads of a disk: an NBD export, a local raw file or a block device. */
export interface BlockReader {
  readonly size: number;
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * What is allocated in a range, in order and covering it without gaps (the last extent may end
   * early; ask again from there). A source that cannot tell reports the range as one data extent.
   */
  extents(offset: number, length: number): Promise<Extent[]>;
  close(): Promise<void>;
}

/** An error with the errno name the other side gave (EIO, ENOSPC…), so callers can tell kinds apart. */
export class BlockIoError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}
