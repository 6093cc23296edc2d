import type { JobProgress } from '../jobs/progress.ts';
import { formatBytes, formatDuration, formatRate } from '../jobs/figures.ts';

// A job's progress as one short block of text, the same in a Slack message and on a terminal:
// a bar, the percentage, the bytes, the rate, the time left and the phase.

const BAR_WIDTH = 20;

/** `[████████░░░░░░░░░░░░]` for a fraction from 0 to 1. */
export function progressBar(fraction: number, width = BAR_WIDTH): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

/** The figures of a report: "42% · 430.0 MiB of 1.0 GiB · 85.0 MiB/s · ETA 7s". */
export function progressFigures(progress: JobProgress): string {
  if (progress.total <= 0) return `${formatBytes(progress.done)} so far`;
  const parts = [`${Math.floor((progress.done / progress.total) * 100)}%`, `${formatBytes(progress.done)} of ${formatBytes(progress.total)}`];
  if (progress.bytesPerSecond > 0) parts.push(formatRate(progress.bytesPerSecond));
  if (progress.etaSeconds !== null && progress.done < progress.total) parts.push(`ETA ${formatDuration(progress.etaSeconds)}`);
  return parts.join(' · ');
}

/** What a running job's message says. `progress` is null until the first report arrives. */
export function runningText(recordId: string, progress: JobProgress | null): string {
  if (!progress) return `${recordId} · starting`;
  const fraction = progress.total > 0 ? progress.done / progress.total : 0;
  const head = `${recordId} · ${progress.phase}${progress.message ? ` (${progress.message})` : ''}`;
  return `${head}\n${progressBar(fraction)} ${progressFigures(progress)}`;
}

export type JobEnding = { outcome: 'completed'; seconds: number; bytes: number } | { outcome: 'cancelled' } | { outcome: 'failed'; reason: string };

/** What the message says once the job has ended: the duration and average rate, or why it failed. */
export function endingText(recordId: string, ending: JobEnding): string {
  if (ending.outcome === 'cancelled') return `${recordId} was cancelled.`;
  if (ending.outcome === 'failed') return `${recordId} failed: ${ending.reason}`;
  const rate = ending.seconds > 0 && ending.bytes > 0 ? ` (${formatRate(ending.bytes / ending.seconds)} on average)` : '';
  const size = ending.bytes > 0 ? `, ${formatBytes(ending.bytes)}` : '';
  return `${recordId} completed in ${formatDuration(ending.seconds)}${size}${rate}.\n${progressBar(1)} 100%`;
}
