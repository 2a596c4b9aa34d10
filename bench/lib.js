// Small helpers shared by the benchmarks: a clock, percentiles, a table printer and a
// one-line description of the host, so every printed figure says where it was measured.
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { delimiter, join } from 'node:path';

/** Nanoseconds from an arbitrary origin, as a bigint. */
export const now = () => process.hrtime.bigint();

/** Milliseconds since `start` (a value of `now()`), as a float. */
export const msSince = (start) => Number(process.hrtime.bigint() - start) / 1e6;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The `p`-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

export const median = (values) => percentile(values, 50);

/** `1234.5` → `1,235`; small numbers keep `digits` decimals. */
export function fmt(value, digits = 0) {
  if (!Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export const ratio = (value, baseline) => (baseline > 0 ? `${fmt(value / baseline, 2)}×` : '—');

export const yesNo = (met) => (met === undefined ? '—' : met ? 'yes' : 'NO');

const columns = ['name', 'figure', 'baseline', 'ratio', 'goal', 'met'];

/**
 * Prints rows of `{ name, figure, baseline, ratio, goal, met }` (strings) as an aligned
 * Markdown table, so the output can be pasted into bench/README.md as it is.
 */
export function printTable(title, rows) {
  const cells = [columns, ...rows.map((row) => columns.map((key) => String(row[key] ?? '—')))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  const line = (row) => `| ${row.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  console.log(`\n${title}\n`);
  console.log(line(cells[0]));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of cells.slice(1)) console.log(line(row));
}

/** The first `name` on PATH, without running it (a pyenv shim costs 80–90 ms a start). */
export function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

export function describeHost() {
  const python = onPath('python3') ?? onPath('python');
  return [
    `node ${process.version}, ${process.platform}/${process.arch}`,
    `${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'})`,
    `python: none used by these benchmarks (${python ? `python3 on PATH is ${python}` : 'none on PATH'})`,
  ].join(' · ');
}

/**
 * Live processes whose environment holds `name=value` (Linux /proc). Zombies are left out:
 * they have exited and their environment reads empty.
 */
export function findMarkedProcesses(name, value) {
  // Each entry of /proc/<pid>/environ ends with a NUL; a leading NUL makes the first one match.
  const entry = Buffer.from(`\0${name}=${value}\0`);
  const found = [];
  let names = [];
  try {
    names = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const pidText of names) {
    if (!/^\d+$/.test(pidText) || Number(pidText) === process.pid) continue;
    try {
      const environ = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${pidText}/environ`)]);
      if (environ.includes(entry)) found.push(Number(pidText));
    } catch {
      // Gone meanwhile, or not ours.
    }
  }
  return found;
}
