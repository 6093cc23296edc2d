import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

const BIN = path.join(import.meta.dirname, '../../bin/ferry.mjs');

export interface FerryProcess {
  child: ChildProcess;
  url: string;
  /** The structured log lines it has written so far. */
  logs: Record<string, unknown>[];
  ready: Record<string, unknown>;
  exited: Promise<number | null>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Runs the real `ferry` binary and resolves once it logs `readyMessage`. */
export async function runFerry(args: string[], env: Record<string, string>, readyMessage = 'ferry ready'): Promise<FerryProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, FERRY_PORT: String(port), FERRY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let buffered = '';
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === readyMessage) resolve(entry);
      }
    });
    void exited.then((code) => reject(new Error(`ferry exited with ${code} before it was ready: ${buffered}`)));
  });
  return { child, url: `http://127.0.0.1:${port}`, logs, ready, exited };
}
