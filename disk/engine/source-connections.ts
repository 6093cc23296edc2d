import { openNbd } from '../nbd/pool.ts';
import { RawFile } from '../raw-file.ts';
import type { SourceConnections } from './source-reads.ts';

/**
 * Opens a migration source: a local raw file or block device, or an NBD export (a URL). Over NBD the
 * backfill gets up to `connections` connections when the server offers multi-conn, and guest reads
 * get one of their own; a server that allows one connection carries both on it.
 */
export async function connectSource(source: string, connections: number): Promise<SourceConnections> {
  if (source.startsWith('/')) {
    const file = await RawFile.open(source);
    return { backfill: file, onDemand: file, close: () => file.close() };
  }
  const backfill = await openNbd(source, { connections });
  if (!backfill.info.canMultiConn) return { backfill, onDemand: backfill, close: () => backfill.close() };
  const onDemand = await openNbd(source, { connections: 1 }).catch(async (error: unknown) => {
    await backfill.close();
    throw error;
  });
  return {
    backfill,
    onDemand,
    async close() {
      await Promise.all([backfill.close(), onDemand.close()]);
    },
  };
}
