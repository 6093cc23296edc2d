import type { Extent } from '../block-reader.ts';

/**
 * What an NBD export serves. Methods throw an Error with a `code` (EIO, ENOSPC, EINVAL, EPERM…) to
 * send that error to the client; anything else is sent as EIO.
 */
export interface ExportBackend {
  readonly size: number;
  readonly readOnly: boolean;
  /** The backend stays consistent across connections, so the server may offer CAN_MULTI_CONN. */
  readonly multiConn: boolean;
  readonly description?: string;
  read(offset: number, length: number): Promise<Buffer>;
  write?(offset: number, data: Buffer): Promise<void>;
  /** Makes every completed write durable. */
  flush?(): Promise<void>;
  trim?(offset: number, length: number): Promise<void>;
  /** Allocation, for base:allocation block status; without it the server does not offer the context. */
  extents?(offset: number, length: number): Promise<Extent[]>;
}
