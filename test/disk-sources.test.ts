import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileSource } from '../disk/byte-source.ts';
import { probeImage } from '../disk/formats/probe.ts';
import { queryExport } from '../disk/nbd/handshake.ts';
import { parseNbdUrl } from '../disk/nbd/url.ts';
import { freePort } from './helpers/ferry-process.ts';

let dir: string;
const peers: ChildProcess[] = [];

async function serve(command: string, args: string[], port: number, exportName = ''): Promise<void> {
  peers.push(spawn(command, args, { stdio: 'ignore' }));
  for (let i = 0; i < 100; i += 1) {
    try {
      await queryExport({ transport: 'tcp', host: '127.0.0.1', port, exportName }, 500);
      return;
    } catch {
      await sleep(50);
    }
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-disk-'));
});

afterAll(async () => {
  for (const peer of peers) peer.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('NBD handshake against real servers', () => {
  it('reads the export size and flags from qemu-nbd', async () => {
    const disk = path.join(dir, 'q.raw');
    await writeFile(disk, '');
    await truncate(disk, 48 * 1024 * 1024);
    const port = await freePort();
    await serve('qemu-nbd', ['--persistent', '--read-only', '--format=raw', '--export-name=disk0', '--bind=127.0.0.1', `--port=${port}`, disk], port, 'disk0');
    const info = await queryExport(parseNbdUrl(`nbd://127.0.0.1:${port}/disk0`));
    expect(info).toMatchObject({ size: 48 * 1024 * 1024, readOnly: true, canFlush: true });
    expect(info.blockSize?.minimum).toBeGreaterThan(0);
    await expect(queryExport(parseNbdUrl(`nbd://127.0.0.1:${port}/other`))).rejects.toThrow(/unknown/);
  });

  it('reads the export size from nbdkit, and says why an absent server cannot be reached', async () => {
    const port = await freePort();
    await serve('nbdkit', ['--foreground', '--ipaddr', '127.0.0.1', '--port', String(port), 'memory', '3G'], port);
    expect((await queryExport(parseNbdUrl(`nbd://127.0.0.1:${port}`))).size).toBe(3 * 1024 ** 3);
    await expect(queryExport(parseNbdUrl('nbd://127.0.0.1:1/x'))).rejects.toThrow(/ECONNREFUSED/);
  });

  it('parses NBD URLs and refuses what is not one', () => {
    expect(parseNbdUrl('nbd://host.example/exp%20a')).toEqual({ transport: 'tcp', host: 'host.example', port: 10809, exportName: 'exp a' });
    expect(parseNbdUrl('nbd+unix:///d?socket=/run/n.sock')).toEqual({ transport: 'unix', socketPath: '/run/n.sock', exportName: 'd' });
    expect(() => parseNbdUrl('http://x/')).toThrow(/not an NBD URL/);
    expect(() => parseNbdUrl('nbds://x/')).toThrow(/TLS/);
  });
});

describe('image probe against images made by qemu-img', () => {
  const size = 64 * 1024 * 1024;
  const cases: [string, string, string[], string][] = [
    ['raw', 'raw', [], 'raw'],
    ['qcow2', 'qcow2', [], 'qcow2'],
    ['vmdk', 'vmdk', [], 'vmdk'],
    ['vmdk-stream', 'vmdk', ['-o', 'subformat=streamOptimized'], 'vmdk'],
    ['vhd', 'vpc', ['-o', 'force_size=on'], 'vhd'],
    ['vhd-fixed', 'vpc', ['-o', 'subformat=fixed,force_size=on'], 'vhd'],
    ['vhdx', 'vhdx', [], 'vhdx'],
    ['vdi', 'vdi', [], 'vdi'],
  ];
  for (const [name, qemuFormat, options, expected] of cases) {
    it(`tells ${name}: format and virtual size, reading only headers`, async () => {
      const file = path.join(dir, `${name}.img`);
      execFileSync('qemu-img', ['create', '-q', '-f', qemuFormat, ...options, file, String(size)]);
      const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file]).toString()) as { 'virtual-size': number };
      // qemu-img counts a fixed VHD's footer into its size; the footer itself says what the guest sees.
      const guestSize = name === 'vhd-fixed' ? size : info['virtual-size'];
      const source = await openFileSource(file);
      const result = await probeImage(source);
      await source.close();
      expect(result).toMatchObject({ format: expected, virtualSize: guestSize, supported: true, reason: null });
      expect(source.bytesRead).toBeLessThanOrEqual(256 * 1024);
    });
  }

  it('refuses a qcow2 with a backing file, and a truncated one, saying why', async () => {
    const base = path.join(dir, 'base.qcow2');
    const overlay = path.join(dir, 'overlay.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '1M']);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay]);
    let source = await openFileSource(overlay);
    expect(await probeImage(source)).toMatchObject({ format: 'qcow2', supported: false, reason: expect.stringMatching(/backing file/) });
    await source.close();
    const truncated = path.join(dir, 'truncated.qcow2');
    await writeFile(truncated, Buffer.from('QFI\xfb\x00\x00\x00\x03', 'latin1'));
    source = await openFileSource(truncated);
    expect(await probeImage(source)).toMatchObject({ format: 'qcow2', supported: false, reason: expect.stringMatching(/truncated/) });
    await source.close();
  });
});
