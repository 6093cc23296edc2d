import type { ExportBackend } from '../nbd/export-backend.ts';
import type { MigrationEngine } from './engine.ts';

/**
 * The volume as a VM sees it while the copy runs: reads of chunks not copied yet wait for an
 * on-demand fetch, writes stay local. The engine keeps every connection consistent, so a guest may
 * use several.
 */
export function guestExport(engine: MigrationEngine, description: string): ExportBackend {
  return {
    size: engine.size,
    readOnly: false,
    multiConn: true,
    description,
    read: (offset, length) => engine.guestRead(offset, length),
    write: (offset, data) => engine.guestWrite(offset, data),
    flush: () => engine.guestFlush(),
  };
}
