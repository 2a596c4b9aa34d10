/*
 * Formats runs for the terminal: tables, times, durations and statuses.
 */
import type { RunRecord } from '../core/types.js';

/** `850ms`, `12.3s`, `4m05s`, `2h10m`. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60)
    return `${minutes}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** Columns padded to their widest cell. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export function runRow(run: RunRecord): string[] {
  return [
    run.id,
    run.name,
    run.status + (run.waitingFor ? ` (${run.waitingFor})` : ''),
    run.createdAt.replace('T', ' ').slice(0, 19),
    formatDuration(run.durationMs),
    run.exitCode === undefined || run.exitCode === null
      ? (run.exitSignal ?? '-')
      : String(run.exitCode),
  ];
}

export const runHeader = ['ID', 'NAME', 'STATUS', 'CREATED (UTC)', 'DURATION', 'EXIT'];
