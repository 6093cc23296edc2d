import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CloneSession } from '../disk/engine/clone-session.ts';
import type { EngineEvent, EnginePhase, EngineStats, EngineSummary } from '../disk/engine/engine.ts';
import { formatBytes, formatDuration } from './figures.ts';
import { findProgram, QEMU_BINARY, startGuestVm, type GuestVm } from './guest-vm.ts';
import type { MigrationRecord, MigrationTransfer, ServerRecord } from './record-types.ts';
import type { RecordStore } from './records.ts';
import { PermanentJobError, type JobContext, type Processor } from './worker-runner.ts';

/** Where a worker keeps what its migrations write, and how closely a job follows its record. */
export interface MigrateEnvironment {
  dataDir: string;
  targetHost: string;
  /** How often the job looks at its record for a pause, a resume, a cancel or a cutover. */
  watchIntervalMs?: number;
}

// The statuses a running migration moves through; a change is only made from the one before it
// (or a retry's restart), so an operator's pause or cancel is never overwritten by the worker.
const RUNNING = ['queued', 'booting', 'backfilling', 'verifying'] as const;
const NEXT_FROM: Record<string, readonly string[]> = {
  booting: RUNNING,
  backfilling: RUNNING,
  verifying: ['backfilling'],
  completed: ['verifying', 'backfilling'],
};

export function volumePathOf(dataDir: string, migrationId: string): string {
  return path.join(dataDir, 'volumes', `${migrationId}.raw`);
}

function transferOf(stats: EngineStats): MigrationTransfer {
  return {
    bytes: stats.size,
    fetchedBytes: stats.fetchedBytes,
    zeroBytes: stats.zeroBytes,
    resumedBytes: stats.resumedBytes,
    onDemandReads: stats.onDemandReads,
    guestWrittenBytes: stats.guestWrittenBytes,
    verifiedBytes: stats.verifiedBytes,
    repairedBytes: stats.repairedBytes,
    bootReadyMs: stats.bootReadyMs,
  };
}

/**
 * One migration as a job: copies the server's disk boot-first into a volume on this host, serves it
 * to a guest while it runs, and follows its record, which the API changes to pause, resume, cancel
 * or cut over.
 */
class MigrationRun {
  private phase: EnginePhase = 'connecting';
  private vm: GuestVm | null = null;
  private vmFailure: string | null = null;
  private cancelledByOperator = false;
  private copying = true;

  constructor(
    private readonly context: JobContext,
    private readonly migration: MigrationRecord,
    private readonly session: CloneSession,
    private readonly watchIntervalMs: number,
  ) {}

  private get records(): RecordStore {
    return this.context.records;
  }

  private get id(): string {
    return this.migration.id;
  }

  onEvent(event: EngineEvent): void {
    const { logger } = this.context;
    if (event.type === 'phase') {
      this.phase = event.phase;
      if (event.phase === 'booting' || event.phase === 'backfilling' || event.phase === 'verifying') {
        void this.records
          .update<MigrationRecord>('migrations', this.id, { status: event.phase, statusReason: null }, { from: NEXT_FROM[event.phase]! })
          .catch((error: Error) => logger.warn({ err: error.message }, 'could not record the phase'));
      }
    } else if (event.type === 'boot-ready') {
      logger.info({ bootReadyMs: event.ms }, 'boot ready');
      if (this.migration.vm === 'qemu') this.bootVm();
    } else if (event.type === 'reconnecting') {
      logger.warn({ reason: event.reason }, 'the source connection was lost; reconnecting');
    } else {
      logger.warn(event, 'verification found a chunk that differed from the source and copied it again');
    }
  }

  private bootVm(): void {
    const url = this.session.exportUrl!;
    startGuestVm(url, this.id, this.context.logger).then(
      (vm) => {
        this.vm = vm;
        void vm.exited.then((reason) => this.vmStopped(reason));
      },
      (error: Error) => this.vmStopped(error.message),
    );
  }

  /** A VM that dies while the disk streams in fails the migration: the operator asked for a running VM. */
  private vmStopped(reason: string): void {
    if (!this.copying || this.vmFailure !== null) return;
    this.vmFailure = reason;
    this.session.engine.cancel();
  }

  /** Runs the copy while following the record. */
  async copy(): Promise<EngineSummary> {
    const watcher = setInterval(() => void this.follow().catch((error: Error) => this.context.logger.warn({ err: error.message }, 'could not follow the migration record')), this.watchIntervalMs);
    try {
      return await this.session.run();
    } finally {
      this.copying = false;
      clearInterval(watcher);
    }
  }

  /** Applies the operator's pause, resume and cancel, and reports progress. */
  private async follow(): Promise<void> {
    const record = await this.records.get<MigrationRecord>('migrations', this.id);
    const engine = this.session.engine;
    if (!record || record.status === 'cancelled') {
      this.cancelledByOperator = true;
      engine.cancel();
      return;
    }
    if (record.status === 'paused') engine.pause();
    else if (engine.snapshot().paused) {
      engine.resume();
      // The API resumes a running migration as backfilling; say where the copy really is.
      if (this.phase === 'booting' || this.phase === 'verifying') {
        await this.records.update<MigrationRecord>('migrations', this.id, { status: this.phase }, { from: ['backfilling'] });
      }
    }
    const stats = engine.snapshot();
    const verifying = stats.phase === 'verifying';
    await this.context.report({
      phase: stats.paused ? 'paused' : stats.phase,
      done: verifying ? stats.verifiedBytes : stats.presentBytes,
      total: stats.size,
      message: verifying ? 'comparing the copy with the source' : `${formatBytes(stats.fetchedBytes)} fetched, ${formatBytes(stats.zeroBytes)} of holes skipped`,
    });
  }

  /** With a VM running from the export, the job keeps serving it until the operator cuts over or cancels. */
  async serveUntilCutover(): Promise<void> {
    if (!this.vm) return;
    this.context.logger.info('copy complete; the VM keeps running from this host until cutover');
    for (;;) {
      const record = await this.records.get<MigrationRecord>('migrations', this.id);
      if (!record || record.cutoverAt || record.status !== 'completed' || this.context.signal.aborted) return;
      await sleep(this.watchIntervalMs);
    }
  }

  get operatorCancelled(): boolean {
    return this.cancelledByOperator;
  }

  get vmFailed(): string | null {
    return this.vmFailure;
  }

  async stopVm(): Promise<void> {
    await this.vm?.stop();
  }
}

async function openSession(context: JobContext, env: MigrateEnvironment, migration: MigrationRecord, server: ServerRecord, onEvent: (event: EngineEvent) => void): Promise<CloneSession> {
  const target = volumePathOf(env.dataDir, migration.id);
  const socketPath = path.join(env.dataDir, 'run', `${migration.id}.sock`);
  await mkdir(path.dirname(target), { recursive: true });
  await mkdir(path.dirname(socketPath), { recursive: true });
  const session = await CloneSession.open({
    source: server.source,
    target,
    streams: migration.streams,
    bandwidthBytesPerSecond: migration.bandwidthMbps ? (migration.bandwidthMbps * 1e6) / 8 : null,
    verify: migration.verify,
    bootFirst: migration.bootFirst,
    serve: { socketPath },
    profileDir: path.join(env.dataDir, 'boot-profiles'),
    onEvent,
  }).catch((error: Error) => {
    // A volume left by a copy of another source cannot be resumed; retrying would not change that.
    if (error.name === 'VolumeError') throw new PermanentJobError(error.message);
    throw error;
  });
  await context.records.update<MigrationRecord>('migrations', migration.id, { volumePath: target, exportUrl: session.exportUrl }, { from: RUNNING });
  context.logger.info({ source: server.source, target, exportUrl: session.exportUrl }, 'migration started');
  return session;
}

async function migrate(context: JobContext, env: MigrateEnvironment): Promise<unknown> {
  const { records, data, logger, signal } = context;
  const migration = await records.get<MigrationRecord>('migrations', data.recordId);
  if (!migration) throw new PermanentJobError(`migration ${data.recordId} no longer exists`);
  if (!(RUNNING as readonly string[]).includes(migration.status)) {
    logger.info({ status: migration.status }, 'nothing to do: the migration is no longer running');
    return { skipped: migration.status };
  }
  const server = await records.get<ServerRecord>('servers', migration.serverId);
  if (!server) throw new PermanentJobError(`server ${migration.serverName} (${migration.serverId}) was deregistered`);
  if (migration.vm === 'qemu' && !(await findProgram(QEMU_BINARY))) {
    throw new PermanentJobError(
      `vm qemu needs ${QEMU_BINARY} on target host ${env.targetHost}, which does not have it: install the qemu-system-x86 package there, or migrate with vm none`,
    );
  }

  let run: MigrationRun | null = null;
  const session = await openSession(context, env, migration, server, (event) => run?.onEvent(event));
  run = new MigrationRun(context, migration, session, env.watchIntervalMs ?? 500);
  const stopOnShutdown = (): void => session.engine.cancel();
  signal.addEventListener('abort', stopOnShutdown);
  let summary: EngineSummary;
  try {
    summary = await run.copy();
  } catch (error) {
    await run.stopVm();
    await session.close('keep');
    throw error;
  } finally {
    signal.removeEventListener('abort', stopOnShutdown);
  }

  if (summary.outcome === 'cancelled') {
    await run.stopVm();
    if (run.vmFailed !== null) {
      await session.close('keep');
      throw new PermanentJobError(`the VM stopped while the disk streamed in: ${run.vmFailed}`);
    }
    if (!run.operatorCancelled) {
      await session.close('keep');
      throw new Error('the worker is shutting down; the migration resumes from what was copied');
    }
    await session.close('discard');
    logger.info('migration cancelled; its volume was removed');
    return { outcome: 'cancelled' };
  }

  const transfer = transferOf(summary);
  const done = await records.update<MigrationRecord>('migrations', migration.id, { status: 'completed', statusReason: null, transfer }, { from: NEXT_FROM.completed! });
  await context.report({ phase: 'completed', done: summary.size, total: summary.size, message: `copied in ${formatDuration(summary.seconds)}` });
  logger.info({ ...transfer, seconds: summary.seconds, recorded: done.ok }, 'migration completed');
  await run.serveUntilCutover();
  await run.stopVm();
  await session.close('finish');
  await records.update<MigrationRecord>('migrations', migration.id, { exportUrl: null });
  return { outcome: 'completed', ...transfer, seconds: summary.seconds };
}

export function migrateProcessor(env: MigrateEnvironment): Processor {
  return (context) => migrate(context, env);
}
