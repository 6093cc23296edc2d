import { NbdClient } from '../nbd/client.ts';
import { NbdPool } from '../nbd/pool.ts';
import { parseNbdUrl } from '../nbd/url.ts';
import { RawFile } from '../raw-file.ts';
import type { SourceConnections } from './source-reads.ts';

/**
 * Opens a migration source: a local raw file or block device, or an NBD export (a URL).
 *
 * Over NBD, the first connection is usable at once, so the boot set is fetched while the others
 * are still shaking hands. When the server offers multi-conn, up to `connections` more join the
 * backfill as they open, and the first then carries only the reads a guest waits on; a server that
 * allows one connection carries both on it.
 */
export async function connectSource(source: string, connections: number): Promise<SourceConnections> {
  if (source.startsWith('/')) {
    const file = await RawFile.open(source);
    return { backfill: file, onDemand: file, close: () => file.close(), destroy: () => void file.close() };
  }
  const address = parseNbdUrl(source);
  const first = await NbdClient.connect(address);
  const onDemand = NbdPool.of([first]);
  if (!first.info.canMultiConn) return { backfill: onDemand, onDemand, close: () => first.close(), destroy: (reason) => first.destroy(reason) };
  const backfill = NbdPool.of([first]);
  let closed = false;
  const extras = Array.from({ length: connections }, () =>
    NbdClient.connect(address).then(
      async (client) => {
        if (closed) return client.close();
        backfill.add(client);
        backfill.release(first);
      },
      // More connections only add speed; the backfill goes on with those that opened.
      () => undefined,
    ),
  );
  return {
    backfill,
    onDemand,
    async close() {
      closed = true;
      await Promise.all(extras);
      await Promise.all([backfill.close(), first.close()]);
    },
    destroy(reason) {
      closed = true;
      backfill.destroy(reason);
      first.destroy(reason);
    },
  };
}
