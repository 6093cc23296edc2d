/** Where an NBD export is: a TCP host and port, or a Unix socket, and the export's name. */
export type NbdAddress =
  | { transport: 'tcp'; host: string; port: number; exportName: string }
  | { transport: 'unix'; socketPath: string; exportName: string };

export const NBD_DEFAULT_PORT = 10809;

/**
 * Parses the NBD URI forms of the NBD project's uri.md: nbd://host[:port][/export] and
 * nbd+unix:///[export]?socket=/path. TLS forms are refused rather than silently downgraded.
 */
export function parseNbdUrl(text: string): NbdAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`not a URL: ${text}`);
  }
  const exportName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (url.protocol === 'nbd:') {
    if (!url.hostname) throw new Error(`an nbd:// URL needs a host, as in nbd://host:${NBD_DEFAULT_PORT}/export`);
    const port = url.port ? Number(url.port) : NBD_DEFAULT_PORT;
    return { transport: 'tcp', host: url.hostname.replace(/^\[|\]$/g, ''), port, exportName };
  }
  if (url.protocol === 'nbd+unix:') {
    const socketPath = url.searchParams.get('socket');
    if (!socketPath) throw new Error('an nbd+unix:// URL needs ?socket=/path/to/socket');
    return { transport: 'unix', socketPath, exportName };
  }
  if (url.protocol === 'nbds:' || url.protocol === 'nbds+unix:') throw new Error('NBD over TLS is not supported yet');
  throw new Error(`not an NBD URL (${url.protocol}//…): use nbd://host:port/export or nbd+unix:///export?socket=/path`);
}
