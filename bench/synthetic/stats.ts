// Small statistics and formatting helpers for the synthetic benchmark.

/** Value at quantile q (0..1) of a list, nearest rank; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/**
 * Durations in a log-scale histogram (2% wide buckets from 100 ns to ~1000 s), so millions
 * of samples cost a few KB and do not weigh on the memory being measured.
 */
export class LogHistogram {
  private static readonly MIN = 1e-4; // ms
  private static readonly RATIO = 1.02;
  private readonly counts = new Float64Array(1200);
  count = 0;
  total = 0;
  max = 0;

  add(ms: number): void {
    const i =
      ms <= LogHistogram.MIN
        ? 0
        : Math.min(
            this.counts.length - 1,
            Math.floor(Math.log(ms / LogHistogram.MIN) / Math.log(LogHistogram.RATIO)),
          );
    this.counts[i]!++;
    this.count++;
    this.total += ms;
    if (ms > this.max) this.max = ms;
  }

  /** Upper edge of the bucket holding quantile q (within 2%). */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const target = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= target) return Math.min(this.max, LogHistogram.MIN * LogHistogram.RATIO ** (i + 1));
    }
    return this.max;
  }

  /** Samples above `ms`. */
  above(ms: number): number {
    let n = 0;
    for (let i = 0; i < this.counts.length; i++)
      if (LogHistogram.MIN * LogHistogram.RATIO ** i >= ms) n += this.counts[i]!;
    return n;
  }
}

/** A number for a table: 3 significant digits, thousands separated. */
export function fmt(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const abs = Math.abs(x);
  if (abs >= 1000) return Math.round(x).toLocaleString('en-US');
  if (abs === 0) return '0';
  return Number(x.toPrecision(digits)).toString();
}

export function mib(bytes: number): number {
  return bytes / (1024 * 1024);
}

/** A markdown table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}
