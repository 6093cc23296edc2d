import { lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import type { ExportBackend } from './export-backend.ts';
import { NbdProtocolError } from './request-parser.ts';
import { negotiateWithClient, type ExportCatalog } from './server-handshake.ts';
import { MAX_STRING_BYTES } from './server-replies.ts';
import { NbdSession } from './server-session.ts';

export type NbdListen = { host: string; port: number } | { socketPath: string };

export interface NbdServerOptions {
  /** A TCP host and port (0 picks a free one), or a Unix socket path. */
  listen: NbdListen;
  exports: ReadonlyMap<string, ExportBackend>;
  /** The export a client gets when it asks for the empty name; defaults to the only export, if there is one. */
  defaultExport?: string;
  /** Failures worth a log line: backend errors and clients that broke the protocol. */
  onError?: (error: Error) => void;
}

export interface NbdServerHandle {
  /** Where the server listens, with the port it really got. */
  readonly address: { host: string; port: number } | { socketPath: string };
  /** The NBD URI of an export: nbd://host:port/name or nbd+unix:///name?socket=path. */
  url(exportName: string): string;
  /** Stops listening, lets requests under way finish, then disconnects every client. */
  close(): Promise<void>;
  /** Client connections open now. */
  readonly connections: number;
}

/** Socket errors that only mean the client went away. */
const HANGUPS = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

function catalogOf(exports: ReadonlyMap<string, ExportBackend>, defaultExport: string | undefined): ExportCatalog {
  const fallback = defaultExport ?? (exports.size === 1 ? [...exports.keys()][0] : undefined);
  return {
    names: [...exports.keys()],
    find(name) {
      const canonical = name === '' ? fallback : name;
      if (canonical === undefined) return null;
      const backend = exports.get(canonical);
      return backend ? { name: canonical, backend } : null;
    },
  };
}

function checkOptions({ exports, defaultExport }: NbdServerOptions): void {
  if (exports.size === 0) throw new Error('an NBD server needs at least one export');
  for (const name of exports.keys()) {
    if (Buffer.byteLength(name, 'utf8') > MAX_STRING_BYTES) throw new Error(`export name ${JSON.stringify(name.slice(0, 40))}… is over ${MAX_STRING_BYTES} bytes`);
  }
  if (defaultExport !== undefined && !exports.has(defaultExport)) {
    throw new Error(`the default export ${JSON.stringify(defaultExport)} is not one of the exports (${[...exports.keys()].join(', ')})`);
  }
}

/**
 * Clears the way for a Unix socket: a socket file nobody listens on is left over from a server that
 * died, and goes; a live socket or any other kind of file stays, and listening fails with a reason.
 */
async function clearStaleSocket(socketPath: string): Promise<void> {
  const info = await lstat(socketPath).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (!info) return;
  if (!info.isSocket()) throw new Error(`cannot listen on ${socketPath}: it exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ path: socketPath });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`cannot listen on ${socketPath}: another server is listening there`);
  await unlink(socketPath);
}

function listen(server: net.Server, where: NbdListen): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      const place = 'socketPath' in where ? where.socketPath : `${where.host}:${where.port}`;
      reject(new Error(`cannot listen on ${place}: ${error.code ?? error.message}`));
    };
    server.once('error', failed);
    const listening = (): void => {
      server.off('error', failed);
      resolve();
    };
    if ('socketPath' in where) server.listen(where.socketPath, listening);
    else server.listen(where.port, where.host, listening);
  });
}

function exportUrl(address: NbdServerHandle['address'], exportName: string): string {
  const path = encodeURIComponent(exportName);
  if ('socketPath' in address) return `nbd+unix:///${path}?socket=${encodeURIComponent(address.socketPath).replace(/%2F/g, '/')}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `nbd://${host}:${address.port}/${path}`;
}

/** Serves block devices over NBD (fixed newstyle handshake, structured replies, base:allocation). */
export async function startNbdServer(options: NbdServerOptions): Promise<NbdServerHandle> {
  checkOptions(options);
  const catalog = catalogOf(options.exports, options.defaultExport);
  const report = options.onError ?? (() => undefined);
  /** Open connections, with their session once the handshake is over. */
  const connections = new Map<net.Socket, NbdSession | null>();
  /** Sessions until their connection is closed and their backend calls are done. */
  const sessions = new Set<NbdSession>();
  let closing: Promise<void> | null = null;

  const server = net.createServer({ noDelay: true }, (socket) => {
    connections.set(socket, null);
    socket.once('close', () => connections.delete(socket));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!HANGUPS.has(error.code ?? '')) report(new Error(`NBD connection failed: ${error.message}`, { cause: error }));
    });
    negotiateWithClient(socket, catalog).then(
      (negotiated) => {
        if (!negotiated || socket.destroyed) return;
        if (closing) {
          socket.destroy();
          return;
        }
        const session = new NbdSession(socket, negotiated, report);
        connections.set(socket, session);
        sessions.add(session);
        void session.finished.then(() => sessions.delete(session));
        session.start();
      },
      (error: unknown) => {
        socket.destroy();
        if (error instanceof NbdProtocolError) report(new Error(`NBD client broke the handshake: ${error.message}`));
        else report(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });

  if ('socketPath' in options.listen) await clearStaleSocket(options.listen.socketPath);
  await listen(server, options.listen);
  const bound = server.address();
  const address: NbdServerHandle['address'] =
    'socketPath' in options.listen ? { socketPath: options.listen.socketPath } : { host: options.listen.host, port: (bound as net.AddressInfo).port };

  return {
    address,
    url: (exportName) => exportUrl(address, exportName),
    get connections() {
      return connections.size;
    },
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        // Clients still in the handshake have nothing under way; they are simply dropped.
        for (const [socket, session] of connections) if (!session) socket.destroy();
        await Promise.all([...sessions].map((session) => session.shutdown()));
        await stopped;
      })();
      return closing;
    },
  };
}
