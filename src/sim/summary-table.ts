// The human summary `arbiter simulate` prints to stdout: overall figures, then one row per
// top-level team. Durations are humanized (`3h 12m`); summary.json keeps the exact seconds.
import Table from 'cli-table3';
import type { Summary } from './metrics.js';

export interface SummaryTableOptions {
  /** cli-table3's default colors (ANSI codes). Default false: pass `stream.isTTY` to enable on a terminal. */
  readonly color?: boolean;
}

const UNITS: readonly (readonly [name: string, seconds: number])[] = [
  ['d', 86400],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
];

/**
 * Seconds as at most two units, the second rounded and dropped when 0:
 * 45 -> "45s", 11559.9 -> "3h 13m", 187200 -> "2d 4h", 3600 -> "1h", 2.25 -> "2.3s", 0 -> "0s".
 * Below 10 s one decimal is kept. Rounding carries into the bigger unit: 86399 -> "1d", not "24h".
 */
export function humanDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  if (seconds < 0) return `-${humanDuration(-seconds)}`;
  const tenths = Math.round(seconds * 10);
  if (tenths < 100) return `${tenths / 10}s`;
  const r = Math.round(seconds);
  let i = UNITS.findIndex(([, size]) => r >= size);
  if (i < 0 || i === UNITS.length - 1) return `${r}s`;
  let total = Math.round(r / unitSize(i + 1));
  if (i > 0 && total * unitSize(i + 1) >= unitSize(i - 1)) {
    i--;
    total = Math.round(r / unitSize(i + 1));
  }
  const per = unitSize(i) / unitSize(i + 1);
  const top = Math.floor(total / per);
  const rest = total - top * per;
  const [name] = UNITS[i] as readonly [string, number];
  const [restName] = UNITS[i + 1] as readonly [string, number];
  return rest === 0 ? `${top}${name}` : `${top}${name} ${rest}${restName}`;
}

const unitSize = (i: number): number => (UNITS[i] as readonly [string, number])[1];

/** A count with thousands separators: 1234567 -> "1,234,567". */
const count = (n: number): string => n.toLocaleString('en-US');
/** GPU-seconds as GPU-hours with 2 decimals: 5400 -> "1.50", 4.5e7 -> "12,500.00". */
const gpuHours = (gpuSeconds: number): string =>
  (gpuSeconds / 3600).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
/** A fraction as a percentage with one decimal: 0.52345 -> "52.3%". */
const percent = (fraction: number): string => `${(fraction * 100).toFixed(1)}%`;

/** The overall table, then (when any top-level team has jobs) the per-team table, joined by a newline. */
export function renderSummaryTable(summary: Summary, opts: SummaryTableOptions = {}): string {
  // compact: no rule between rows. head/border []: no ANSI color codes.
  const style = opts.color ? { compact: true } : { compact: true, head: [], border: [] };
  const overall = new Table({ style, colAligns: ['left', 'right'] });
  overall.push(
    ['Jobs', count(summary.jobs)],
    ['Completed', count(summary.completed)],
    ['Timed out', count(summary.timedOut)],
    ['Rejected', count(summary.rejected)],
    ['Avg JCT', humanDuration(summary.avgJct)],
    ['p50 JCT', humanDuration(summary.p50Jct)],
    ['p99 JCT', humanDuration(summary.p99Jct)],
    ['Avg wait', humanDuration(summary.avgWait)],
    ['p50 wait', humanDuration(summary.p50Wait)],
    ['p99 wait', humanDuration(summary.p99Wait)],
    ['Utilization', percent(summary.utilization)],
    ['Preemptions', count(summary.preemptions)],
    ['Lost GPU-hours', gpuHours(summary.lostGpuSeconds)],
  );
  const tops = Object.entries(summary.topTeams);
  if (tops.length === 0) return overall.toString();
  const teams = new Table({
    head: ['Team', 'Jobs', 'Avg JCT', 'Avg wait', 'GPU-hours'],
    style,
    colAligns: ['left', 'right', 'right', 'right', 'right'],
  });
  for (const [name, team] of tops) {
    teams.push([
      name,
      count(team.jobs),
      humanDuration(team.avgJct),
      humanDuration(team.avgWait),
      gpuHours(team.gpuSeconds),
    ]);
  }
  return `${overall.toString()}\n${teams.toString()}`;
}
