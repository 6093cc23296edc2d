import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

/** A redis-server child that only this process uses, on a loopback port, with its data in a folder of ours. */
export interface PrivateRedis {
  /** Connection URL, password included: pass it on, never log it. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

export class RedisUnavailableError extends Error {}

const READY_TIMEOUT_MS = 10_000;

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A Ferry killed with SIGKILL cannot stop its Redis; the next start finds it through the pid file
 * and stops it, because two servers appending to one AOF would corrupt it.
 */
async function stopStaleServer(pidFile: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!command.includes('redis-server')) return;
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < 10_000 && isAlive(pid); waited += 50) await sleep(50);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** Redis answers LOADING while it replays the AOF; it is ready once PING succeeds. */
async function isReady(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function waitUntilReady(url: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (await isReady(url)) return true;
    await sleep(25);
  }
  return false;
}

async function logTail(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-5).join('\n');
}

/** Starts redis-server with its AOF under `dir`, and stops it when this process exits. */
/**
 * The URL of the private Redis a `ferry start` with this data directory is running, read from the
 * configuration it wrote (only its user can read it), or null when none runs. Lets the same user's
 * tools (`ferry audit`) reach it without a REDIS_URL.
 */
export async function runningPrivateRedisUrl(dir: string): Promise<string | null> {
  const [config, pid] = await Promise.all([
    readFile(path.join(dir, 'redis.conf'), 'utf8').catch(() => null),
    readFile(path.join(dir, 'redis.pid'), 'utf8').catch(() => null),
  ]);
  if (config === null || pid === null || !isAlive(Number(pid.trim()))) return null;
  const port = /^port (\d+)$/m.exec(config)?.[1];
  const password = /^requirepass (\S+)$/m.exec(config)?.[1];
  return port && password ? `redis://:${password}@127.0.0.1:${port}` : null;
}

export async function startPrivateRedis(dir: string): Promise<PrivateRedis> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pidFile = path.join(dir, 'redis.pid');
  const logFile = path.join(dir, 'redis.log');
  await stopStaleServer(pidFile);
  const password = randomBytes(24).toString('hex');
  // Another process may take the free port before Redis binds it; a few tries cover that race.
  for (let attempt = 1; ; attempt += 1) {
    const port = await freeLoopbackPort();
    const configFile = path.join(dir, 'redis.conf');
    // The password goes in a file only we can read, so it never shows up in the process list.
    await writeFile(
      configFile,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        'protected-mode yes',
        `requirepass ${password}`,
        `dir ${dir}`,
        'appendonly yes',
        'appendfsync everysec',
        'save ""',
        `pidfile ${pidFile}`,
        `logfile ${logFile}`,
        'daemonize no',
        // BullMQ loses jobs if Redis evicts keys under memory pressure.
        'maxmemory-policy noeviction',
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    const child = spawn('redis-server', [configFile], { stdio: 'ignore' });
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const url = `redis://:${password}@127.0.0.1:${port}`;
    const outcome = await Promise.race([waitUntilReady(url, child), spawnError]);
    if (outcome instanceof Error) {
      const missing = (outcome as NodeJS.ErrnoException).code === 'ENOENT';
      throw new RedisUnavailableError(
        missing
          ? 'redis-server is not installed: run scripts/install-system-packages.sh as root, or set REDIS_URL to a Redis you run'
          : `redis-server could not start: ${outcome.message}`,
      );
    }
    if (outcome) {
      const killOnExit = (): void => {
        child.kill('SIGTERM');
      };
      process.once('exit', killOnExit);
      return {
        url,
        port,
        pid: child.pid!,
        async stop() {
          process.removeListener('exit', killOnExit);
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
          await rm(configFile, { force: true });
        },
      };
    }
    child.kill('SIGKILL');
    if (attempt >= 3) throw new RedisUnavailableError(`redis-server did not become ready in ${dir}:\n${await logTail(logFile)}`);
  }
}
