import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { queryExport } from '../../disk/nbd/handshake.ts';
import { parseNbdUrl, type NbdAddress } from '../../disk/nbd/url.ts';
import { freePort } from './ferry-process.ts';

/** A real NBD server (qemu-nbd, nbdkit) started for a test, and how to stop it. */
export interface Peer {
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a server and waits until its export answers the handshake. */
export async function startPeer(command: string, args: string[], address: NbdAddress, timeoutMs = 10_000): Promise<Peer> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command} exited with ${child.exitCode}: ${stderr.trim()}`);
    try {
      await queryExport(address, 500);
      return { process: child, stop };
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`${command} did not answer within ${timeoutMs} ms: ${(error as Error).message} ${stderr.trim()}`);
      }
      await sleep(25);
    }
  }
}

/** A raw file served read-only by qemu-nbd on loopback, as a source host serves its disk. */
export interface ServedDisk {
  peer: Peer;
  url: string;
  port: number;
}

/** Serves `file` with qemu-nbd (multi-conn); `port` serves it again where a stopped server was. */
export async function serveWithQemuNbd(file: string, options: { exportName?: string; port?: number } = {}): Promise<ServedDisk> {
  const exportName = options.exportName ?? 'disk0';
  const port = options.port ?? (await freePort());
  const url = `nbd://127.0.0.1:${port}/${exportName}`;
  const args = ['--read-only', '--persistent', '--shared=8', '--format=raw', `--export-name=${exportName}`, '--bind=127.0.0.1', `--port=${port}`, file];
  return { peer: await startPeer('qemu-nbd', args, parseNbdUrl(url)), url, port };
}

const MiB = 1024 * 1024;

/** A source server's disk `name` in `dir`: `size` bytes, random data in the first `dataBytes`, holes after, served by qemu-nbd. */
export async function serveSourceDisk(dir: string, name: string, size: number, dataBytes: number): Promise<ServedDisk & { sha: string; file: string }> {
  const file = path.join(dir, `${name}.raw`);
  const sha = await makeSparseDisk(file, size, dataBytes > 0 ? [[0, dataBytes]] : []);
  return { ...(await serveWithQemuNbd(file, { exportName: name })), sha, file };
}

/** The disk the NBD suites serve: 64 MiB with random data in these [offset, length] runs, holes elsewhere. */
export const TEST_DISK = {
  size: 64 * MiB,
  dataRuns: [
    [0, 1 * MiB],
    [5 * MiB, 3 * MiB],
    [20 * MiB, 8 * MiB + 64 * 1024],
    [48 * MiB, 512 * 1024],
    [63 * MiB, 1 * MiB],
  ] as [number, number][],
};

/**
 * Writes a sparse raw disk of `size` bytes: random data in the given [offset, length] runs, holes
 * elsewhere. Returns the sha256 of the whole disk as read back.
 */
export async function makeSparseDisk(file: string, size: number, dataRuns: [number, number][]): Promise<string> {
  const handle = await open(file, 'w');
  try {
    await handle.truncate(size);
    for (const [offset, length] of dataRuns) await handle.write(randomBytes(length), 0, length, offset);
  } finally {
    await handle.close();
  }
  return sha256File(file);
}

export async function sha256File(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}
