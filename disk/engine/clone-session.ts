import { startNbdServer, type NbdServerHandle } from '../nbd/server.ts';
import { ChunkedVolume } from '../volume/chunked-volume.ts';
import { BootProfileStore } from './boot-profile.ts';
import { MigrationEngine, type EngineEvent, type EngineSummary } from './engine.ts';
import { guestExport } from './guest-export.ts';
import { connectSource } from './source-connections.ts';
import { sourceSize } from '../source-size.ts';

/** Where the local export listens: a Unix socket, or a TCP host and port. */
export type ServeAddress = { socketPath: string } | { host: string; port: number };

export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export const DEFAULT_REQUEST_SIZE = 512 * 1024;
export const DEFAULT_STREAMS = 16;
export const GUEST_EXPORT_NAME = 'disk';

export interface CloneOptions {
  /** An NBD URL, or the path of a local raw file or block device. */
  source: string;
  /** The raw target file; an earlier run's copy there is resumed. */
  target: string;
  streams?: number;
  requestSize?: number;
  chunkSize?: number;
  /** NBD connections for the backfill when the source offers multi-conn. */
  connections?: number;
  bandwidthBytesPerSecond?: number | null;
  verify?: boolean;
  bootFirst?: boolean;
  /** Serve the target to a guest while it is copied. */
  serve?: ServeAddress | null;
  /** Where boot profiles are kept; none are read or recorded without it. */
  profileDir?: string | null;
  onEvent?(event: EngineEvent): void;
  sourceTimeoutMs?: number;
  /** How often what was copied is made durable (see EngineOptions). */
  commitBytes?: number;
  commitIntervalMs?: number;
}

/** Parses `unix:PATH` or `nbd://HOST:PORT` (the forms `ferry clone --serve` takes). */
export function parseServeAddress(text: string): ServeAddress {
  if (text.startsWith('unix:')) {
    const socketPath = text.slice('unix:'.length);
    if (!socketPath.startsWith('/')) throw new Error(`unix:PATH needs an absolute path, not ${JSON.stringify(socketPath)}`);
    return { socketPath };
  }
  const match = /^nbd:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(text);
  if (!match || Number(match[2]) > 65535) throw new Error(`serve at unix:/path/to/socket or nbd://host:port, not ${JSON.stringify(text)}`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

/** One disk being copied: its volume, the engine, and the export a guest boots from. */
export class CloneSession {
  private running: Promise<EngineSummary> | null = null;

  private constructor(
    readonly engine: MigrationEngine,
    private readonly volume: ChunkedVolume,
    private readonly server: NbdServerHandle | null,
    private readonly profiles: BootProfileStore | null,
  ) {}

  static async open(options: CloneOptions): Promise<CloneSession> {
    const size = await sourceSize(options.source, options.sourceTimeoutMs);
    const volume = await ChunkedVolume.open({
      path: options.target,
      size,
      chunkSize: options.chunkSize ?? DEFAULT_CHUNK_SIZE,
      sourceId: options.source,
    });
    const profiles = options.profileDir ? new BootProfileStore(options.profileDir) : null;
    const streams = options.streams ?? DEFAULT_STREAMS;
    const engine = new MigrationEngine({
      connect: () => connectSource(options.source, options.connections ?? Math.min(4, streams)),
      volume,
      streams,
      requestSize: options.requestSize ?? DEFAULT_REQUEST_SIZE,
      bandwidthBytesPerSecond: options.bandwidthBytesPerSecond ?? null,
      verify: options.verify ?? true,
      bootFirst: options.bootFirst ?? true,
      ...(options.commitBytes ? { commitBytes: options.commitBytes } : {}),
      ...(options.commitIntervalMs ? { commitIntervalMs: options.commitIntervalMs } : {}),
      ...(profiles ? { loadBootProfile: (fingerprint: string) => profiles.load(fingerprint) } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    let server: NbdServerHandle | null = null;
    if (options.serve) {
      server = await startNbdServer({
        listen: options.serve,
        exports: new Map([[GUEST_EXPORT_NAME, guestExport(engine, `Ferry copy of ${options.source}`)]]),
        defaultExport: GUEST_EXPORT_NAME,
      }).catch(async (error: unknown) => {
        await volume.close();
        throw error;
      });
    }
    return new CloneSession(engine, volume, server, profiles);
  }

  /** The NBD URL a guest boots from, when the target is served. */
  get exportUrl(): string | null {
    return this.server?.url(GUEST_EXPORT_NAME) ?? null;
  }

  /** Copies to the end and records what the guest read while booting. */
  run(): Promise<EngineSummary> {
    this.running ??= this.runOnce();
    return this.running;
  }

  private async runOnce(): Promise<EngineSummary> {
    const summary = await this.engine.run();
    if (summary.outcome === 'completed' && summary.bootProfile && this.profiles) {
      await this.profiles.save(summary.bootProfile.fingerprint, summary.bootProfile.ranges);
    }
    return summary;
  }

  /**
   * Stops serving and closes the volume: `finish` leaves a plain raw file (a completed copy), `keep`
   * keeps the state so the next run resumes, `discard` deletes the copy. A copy still running is
   * stopped first.
   */
  async close(mode: 'finish' | 'keep' | 'discard'): Promise<void> {
    this.engine.cancel();
    await this.running?.catch(() => undefined);
    await this.server?.close();
    if (mode === 'finish') await this.volume.finish();
    else if (mode === 'discard') await this.volume.discard();
    else await this.volume.close();
  }
}
