import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

export const QEMU_BINARY = 'qemu-system-x86_64';

/** The path of a program on PATH, or null. */
export async function findProgram(name: string, searchPath = process.env.PATH ?? ''): Promise<string | null> {
  for (const dir of searchPath.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  return null;
}

export interface GuestVm {
  /** Resolves with why the VM stopped, if it stops before `stop` is called. */
  readonly exited: Promise<string>;
  stop(): Promise<void>;
}

/** Boots a QEMU VM from the migration's local NBD export, headless, for as long as the migration runs. */
export async function startGuestVm(exportUrl: string, name: string, logger: Logger): Promise<GuestVm> {
  const binary = await findProgram(QEMU_BINARY);
  if (!binary) throw new Error(`${QEMU_BINARY} is not installed on this host`);
  const args = ['-name', name, '-machine', 'accel=kvm:tcg', '-m', '1024', '-display', 'none', '-serial', 'none', '-monitor', 'none'];
  args.push('-drive', `file=${exportUrl},format=raw,if=virtio,cache=none`);
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  let stopping = false;
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(`${QEMU_BINARY} could not run: ${error.message}`));
    child.once('exit', (code, signal) => resolve(`${QEMU_BINARY} exited (${signal ?? `code ${code}`}): ${stderr.trim() || 'no message'}`));
  });
  void exited.then((reason) => {
    if (!stopping) logger.warn({ reason }, 'the VM stopped');
  });
  logger.info({ pid: child.pid, exportUrl }, 'VM started');
  return {
    exited,
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
