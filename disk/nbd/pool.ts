import type { BlockReader, Extent } from '../block-reader.ts';
import { NbdClient, type NbdClientOptions } from './client.ts';
import type { ExportInfo } from './handshake.ts';
import { parseNbdUrl, type NbdAddress } from './url.ts';

export interface NbdPoolOptions extends NbdClientOptions {
  /** Connections to open when the server offers multi-conn (default 4); otherwise there is one. */
  connections?: number;
}

/**
 * Reads an NBD export over several connections, each request on the least busy one. Only servers
 * that offer CAN_MULTI_CONN get more than one: the protocol promises consistency across
 * connections only then, and servers like qemu-nbd serve one client at a time.
 */
export class NbdPool implements BlockReader {
  private constructor(private clients: NbdClient[]) {}

  /** A pool of connections already open (at least one); more may be added while it is in use. */
  static of(clients: NbdClient[]): NbdPool {
    if (clients.length === 0) throw new RangeError('a pool needs at least one connection');
    return new NbdPool([...clients]);
  }

  add(client: NbdClient): void {
    this.clients.push(client);
  }

  /** Stops sending requests on a connection, which another owner keeps and closes; the last one stays. */
  release(client: NbdClient): void {
    if (this.clients.length > 1) this.clients = this.clients.filter((held) => held !== client);
  }

  static async open(address: NbdAddress, options: NbdPoolOptions = {}): Promise<NbdPool> {
    const connections = options.connections ?? 4;
    if (!Number.isInteger(connections) || connections < 1) throw new RangeError(`connections must be a whole number from 1, not ${connections}`);
    const first = await NbdClient.connect(address, options);
    const wanted = first.info.canMultiConn ? connections : 1;
    const more = await Promise.allSettled(Array.from({ length: wanted - 1 }, () => NbdClient.connect(address, options)));
    // Extra connections only add speed: a server that refuses some is still served by the rest.
    const extra = more.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    return NbdPool.of([first, ...extra]);
  }

  get info(): ExportInfo {
    return this.clients[0]!.info;
  }

  get size(): number {
    return this.info.size;
  }

  get connectionCount(): number {
    return this.clients.length;
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.pick().read(offset, length);
  }

  extents(offset: number, length: number): Promise<Extent[]> {
    return this.pick().blockStatus(offset, length);
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close()));
  }

  destroy(reason?: string): void {
    for (const client of this.clients) client.destroy(reason);
  }

  /** The open connection with the fewest requests in flight; a closed one only when all are, to report why. */
  private pick(): NbdClient {
    let best: NbdClient | null = null;
    for (const client of this.clients) {
      if (client.isOpen && (best === null || client.inFlight < best.inFlight)) best = client;
    }
    return best ?? this.clients[0]!;
  }
}

/** Opens an NBD export given by URL (nbd://host:port/export, nbd+unix:///export?socket=/path). */
export async function openNbd(url: string, options: NbdPoolOptions = {}): Promise<NbdPool> {
  return NbdPool.open(parseNbdUrl(url), options);
}
