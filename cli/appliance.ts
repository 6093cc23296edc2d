import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import type { Logger } from 'pino';
import { startNbdServer } from '../disk/nbd/server.ts';
import { RawFile } from '../disk/raw-file.ts';
import { readConfig } from './config.ts';
import { createLogger } from './logger.ts';

interface ApplianceFlags {
  listen: { host: string; port: number };
  advertise?: string;
  register: boolean;
}

interface Disk {
  name: string;
  file: string;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function listenAddress(text: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  if (!match || Number(match[2]) > 65535) throw new InvalidArgumentError('listen on HOST:PORT, as in 0.0.0.0:10809');
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

/** DISK or NAME=DISK; the name defaults to the file's name without its extension. */
function parseDisk(text: string): Disk {
  const at = text.indexOf('=');
  const file = path.resolve(at > 0 ? text.slice(at + 1) : text);
  const name = at > 0 ? text.slice(0, at) : path.basename(file).replace(/\.[^.]+$/, '');
  if (!NAME_PATTERN.test(name)) throw new InvalidArgumentError(`${JSON.stringify(name)} cannot name a server: use letters, digits, dots, dashes and underscores (NAME=DISK)`);
  return { name, file };
}

interface ServerAnswer {
  id: string;
  name: string;
  source: string;
  status: string;
}

/**
 * Registers one export with the service, which checks it answers. A server of the same name and
 * source is already ours (an appliance restarted); the same name with another source is a conflict
 * the operator must settle.
 */
async function register(apiUrl: string, name: string, source: string): Promise<ServerAnswer> {
  const response = await fetch(`${apiUrl}/servers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, source, tags: ['appliance'] }),
  });
  if (response.status === 201) return (await response.json()) as ServerAnswer;
  if (response.status === 409) {
    const existing = await fetch(`${apiUrl}/servers/${encodeURIComponent(name)}`);
    if (existing.ok) {
      const server = (await existing.json()) as ServerAnswer;
      if (server.source === source) return server;
      throw new Error(`a server named ${name} is registered with another source (${server.source}); deregister it, or name this disk differently with NAME=DISK`);
    }
  }
  const problem = (await response.json().catch(() => ({}))) as { detail?: string; title?: string };
  throw new Error(`the service answered ${response.status}: ${problem.detail ?? problem.title ?? response.statusText}`);
}

/** Keeps trying while the service is unreachable; a refusal that retrying cannot mend is reported once. */
async function registerWhenReachable(logger: Logger, apiUrl: string, name: string, source: string, stopped: AbortSignal): Promise<void> {
  for (let attempt = 0; !stopped.aborted; attempt += 1) {
    try {
      const server = await register(apiUrl, name, source);
      logger.info({ server: name, source, serverId: server.id, status: server.status }, 'registered with the service');
      return;
    } catch (error) {
      // fetch throws a TypeError when nothing answers; anything else is the service's refusal.
      if (!(error instanceof TypeError)) {
        logger.error({ server: name, apiUrl, err: (error as Error).message }, 'registration refused');
        return;
      }
      logger.warn({ server: name, apiUrl, err: (error.cause as Error | undefined)?.message ?? error.message }, 'the service is unreachable; trying again');
      await sleep(Math.min(30_000, 1000 * 2 ** attempt), undefined, { signal: stopped }).catch(() => undefined);
    }
  }
}

async function appliance(diskArgs: string[], flags: ApplianceFlags): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel);
  const disks = diskArgs.map(parseDisk);
  const duplicate = disks.find((disk, index) => disks.findIndex((other) => other.name === disk.name) !== index);
  if (duplicate) throw new InvalidArgumentError(`two disks are named ${duplicate.name}; name them apart with NAME=DISK`);
  const files = await Promise.all(disks.map((disk) => RawFile.open(disk.file)));
  const server = await startNbdServer({
    listen: flags.listen,
    exports: new Map(disks.map((disk, index) => [disk.name, files[index]!])),
    onError: (error) => logger.warn({ err: error.message }, 'NBD connection error'),
  });
  const advertised = flags.advertise ?? (['0.0.0.0', '::'].includes(flags.listen.host) ? os.hostname() : flags.listen.host);
  const port = 'port' in server.address ? server.address.port : flags.listen.port;
  const sourceOf = (name: string): string => `nbd://${advertised.includes(':') ? `[${advertised}]` : advertised}:${port}/${encodeURIComponent(name)}`;
  logger.info({ listen: server.address, exports: disks.map((disk) => ({ name: disk.name, file: disk.file, source: sourceOf(disk.name) })) }, 'appliance serving read-only');

  const stopped = new AbortController();
  const stop = async (): Promise<void> => {
    stopped.abort();
    await server.close();
    await Promise.all(files.map((file) => file.close()));
    logger.info('appliance stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  if (flags.register) {
    await Promise.all(disks.map((disk) => registerWhenReachable(logger, config.apiUrl, disk.name, sourceOf(disk.name), stopped.signal)));
  }
}

export function applianceCommand(): Command {
  return new Command('appliance')
    .description('serve disks of this (source) host read-only over NBD and register each as a server with the service (FERRY_API_URL)')
    .argument('<disks...>', 'raw disk images or block devices, each as DISK or NAME=DISK')
    .requiredOption('--listen <host:port>', 'where to serve NBD, as in 0.0.0.0:10809', listenAddress)
    .option('--advertise <host>', 'the host name the service and workers reach this appliance at (default: the listen host, or this machine\'s name)')
    .option('--no-register', 'serve only; do not register the disks with the service')
    .action((disks: string[], flags: ApplianceFlags) => appliance(disks, flags));
}
