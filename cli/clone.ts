import path from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { formatBytes } from '../jobs/figures.ts';
import { CloneSession, DEFAULT_REQUEST_SIZE, DEFAULT_STREAMS, parseServeAddress, type ServeAddress } from '../disk/engine/clone-session.ts';
import type { EngineEvent, EngineSummary } from '../disk/engine/engine.ts';
import { readConfig } from './config.ts';
import { boundedInteger, parseBytes } from './units.ts';

interface CloneFlags {
  streams: number;
  requestSize: number;
  bandwidth?: number;
  serve?: ServeAddress;
  verify: boolean;
  json?: boolean;
  profileDir?: string;
}

function requestSize(text: string): number {
  const bytes = parseBytes(text);
  if (bytes < 64 * 1024 || bytes > 32 * 1024 * 1024 || bytes % (64 * 1024) !== 0) {
    throw new InvalidArgumentError('the request size is a multiple of 64K from 64K to 32M');
  }
  return bytes;
}

function serveAddress(text: string): ServeAddress {
  try {
    return parseServeAddress(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** What `--json` prints: the engine's figures with the run's identity and rate. */
function jsonSummary(source: string, target: string, summary: EngineSummary): Record<string, unknown> {
  const { bootProfile, phase, paused, size, ...figures } = summary;
  return {
    source,
    target,
    bytes: size,
    ...figures,
    seconds: Number(summary.seconds.toFixed(3)),
    bytesPerSecond: Math.round(summary.fetchedBytes / Math.max(summary.seconds, 1e-6)),
    bootProfileRanges: bootProfile?.ranges.length ?? 0,
  };
}

/** A progress bar on a terminal; nothing when stderr is a pipe, so scripts get clean output. */
function progressBar(session: CloneSession): { stop(): void } {
  if (!process.stderr.isTTY) return { stop() {} };
  const bar = new SingleBar({
    stream: process.stderr,
    format: '{phase} [{bar}] {percentage}% {done} of {total} · {rate}/s',
    hideCursor: true,
  });
  let last = { at: Date.now(), fetched: 0 };
  bar.start(session.engine.size, 0, { phase: 'booting', done: '0 B', total: formatBytes(session.engine.size), rate: '0 B' });
  const timer = setInterval(() => {
    const stats = session.engine.snapshot();
    const now = Date.now();
    const rate = ((stats.fetchedBytes - last.fetched) * 1000) / Math.max(1, now - last.at);
    last = { at: now, fetched: stats.fetchedBytes };
    const done = stats.phase === 'verifying' ? stats.verifiedBytes : stats.presentBytes;
    bar.update(done, { phase: stats.paused ? 'paused' : stats.phase, done: formatBytes(done), rate: formatBytes(rate) });
  }, 250);
  return {
    stop() {
      clearInterval(timer);
      bar.stop();
    },
  };
}

async function clone(source: string, target: string, flags: CloneFlags): Promise<void> {
  const say = (line: string): void => void process.stderr.write(`${line}\n`);
  const onEvent = (event: EngineEvent): void => {
    if (event.type === 'boot-ready') say(`boot ready in ${event.ms} ms`);
    else if (event.type === 'reconnecting') say(`the source connection was lost (${event.reason}); reconnecting`);
    else if (event.type === 'repaired') say(`verification copied ${formatBytes(event.length)} at ${event.offset} again: it differed from the source`);
  };
  const config = readConfig();
  const session = await CloneSession.open({
    source: source.includes('://') ? source : path.resolve(source),
    target: path.resolve(target),
    streams: flags.streams,
    requestSize: flags.requestSize,
    bandwidthBytesPerSecond: flags.bandwidth ? (flags.bandwidth * 1e6) / 8 : null,
    verify: flags.verify,
    serve: flags.serve ?? null,
    profileDir: flags.profileDir ?? path.join(config.dataDir, 'boot-profiles'),
    onEvent,
  });
  if (session.exportUrl) say(`serving the copy at ${session.exportUrl}`);
  let interrupted = false;
  const interrupt = (): void => {
    interrupted = true;
    session.engine.cancel();
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const bar = progressBar(session);
  try {
    const summary = await session.run();
    bar.stop();
    if (summary.outcome === 'cancelled' || interrupted) {
      await session.close('keep');
      say(`stopped at ${formatBytes(summary.presentBytes)} of ${formatBytes(summary.size)}; run the same command again to resume`);
      process.exitCode = 130;
      return;
    }
    await session.close('finish');
    if (flags.json) process.stdout.write(`${JSON.stringify(jsonSummary(source, target, summary))}\n`);
    else say(`copied ${formatBytes(summary.size)} in ${summary.seconds.toFixed(1)} s (${formatBytes(summary.fetchedBytes)} fetched, ${formatBytes(summary.zeroBytes)} of holes skipped)`);
  } catch (error) {
    bar.stop();
    await session.close('keep');
    throw new Error(`the copy stopped: ${(error as Error).message}. What was copied is kept; run the same command again to resume.`);
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

export function cloneCommand(): Command {
  return new Command('clone')
    .description('copy one disk boot-first into a raw file, serving it to a guest while the rest is backfilled')
    .argument('<source>', 'an NBD URL (nbd://host:port/export, nbd+unix:///export?socket=PATH) or a local raw image or block device')
    .argument('<target>', 'the raw file to write; an interrupted copy there is resumed')
    .option('--streams <n>', 'backfill requests in flight', boundedInteger(1, 256, 'streams'), DEFAULT_STREAMS)
    .option('--request-size <bytes>', 'bytes per backfill request (64K to 32M)', requestSize, DEFAULT_REQUEST_SIZE)
    .option('--bandwidth <mbps>', 'limit the copy to this many megabits per second', boundedInteger(1, 1_000_000, 'the bandwidth'))
    .option('--serve <address>', 'serve the copy over NBD while it runs: unix:PATH or nbd://HOST:PORT', serveAddress)
    .option('--no-verify', 'skip comparing the copy with the source at the end')
    .option('--profile-dir <dir>', 'where boot profiles are kept (default $FERRY_DATA_DIR/boot-profiles)')
    .option('--json', 'print a JSON summary on stdout')
    .action((source: string, target: string, flags: CloneFlags) => clone(source, target, flags));
}
