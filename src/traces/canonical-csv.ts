// The canonical trace CSV (docs/formats.md, "A workload trace") as importers write
// it, and the error every importer throws. Shared by all importers (philly now; gavel, tiresias,
// alibaba later), so it knows nothing about any source format.
import { formatIssue, type Issue } from '../core/model.js';

/** One job as an importer produces it; optional fields left out are written as empty cells. */
export interface CanonicalJob {
  readonly id: string;
  /** Seconds from the start of the trace. */
  readonly submit: number;
  readonly team: string;
  readonly gpus: number;
  /** Seconds of work (>= 0). */
  readonly duration: number;
  /** Priority class; absent = the policy's defaultClass. */
  readonly class?: string;
  /** GPU flavor it needs; absent = any flavor. */
  readonly flavor?: string;
  readonly timeLimit?: number;
  readonly checkpointInterval?: number;
  /** Seconds of work per flavor, written as `duration@<flavor>` columns. */
  readonly durationByFlavor?: Readonly<Record<string, number>>;
}

/** What an importer returns: the CSV text plus what a one-line summary needs. */
export interface ImportedTrace {
  readonly csv: string;
  readonly jobs: number;
  /** Distinct team names, sorted. */
  readonly teams: string[];
  /** Last submit minus first submit, in seconds (0 for an empty trace). */
  readonly span: number;
}

/** The columns every canonical CSV written here starts with, in this order. */
export const CANONICAL_COLUMNS = [
  'id',
  'submit',
  'team',
  'gpus',
  'duration',
  'class',
  'flavor',
  'time_limit',
  'checkpoint_interval',
] as const;

/** Most issues a TraceImportError keeps; the rest are counted in one last "... and N more" issue. */
export const MAX_ISSUES = 50;

/** Bad input in a trace: every problem found (up to MAX_ISSUES, then a count), with its location. */
export class TraceImportError extends Error {
  readonly issues: Issue[];

  constructor(issues: readonly Issue[]) {
    const kept: Issue[] = issues.slice(0, MAX_ISSUES);
    const first = issues[0];
    if (issues.length > MAX_ISSUES && first !== undefined) {
      kept.push({ file: first.file, path: '', message: `... and ${issues.length - MAX_ISSUES} more` });
    }
    super(kept.map(formatIssue).join('\n'));
    this.name = 'TraceImportError';
    this.issues = kept;
  }
}

const FLAVOR = /^[a-z0-9][a-z0-9-]*$/;

/**
 * A number as the canonical CSV writes it: at most 3 decimals, no trailing zeros, no exponent.
 * Example: 1.5 -> "1.5", 2240194 -> "2240194", 0.1 + 0.2 -> "0.3", 1e-4 -> "0", -0 -> "0".
 * Throws RangeError on a value that cannot be written that way (NaN, Infinity, |x| >= 1e21),
 * since an importer that produces one has a bug.
 */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value) || Math.abs(value) >= 1e21) {
    throw new RangeError(`cannot write ${value} in a canonical CSV`);
  }
  // toFixed never uses an exponent below 1e21; strip the zeros it pads with.
  const text = value.toFixed(3).replace(/\.?0+$/, '');
  return text === '-0' ? '0' : text;
}

/** Quotes a field only when needed (RFC 4180, plus leading/trailing blanks a reader might trim). */
export function csvField(value: string): string {
  if (/[",\r\n]/.test(value) || /^\s|\s$/.test(value)) {
    return `"${value.replaceAll('"', '""')}"`;
  }
  return value;
}

const optionalNumber = (value: number | undefined): string =>
  value === undefined ? '' : formatNumber(value);

/**
 * Writes jobs, in the given order, as canonical CSV text ("\n" line ends, one after the last
 * row). The `duration@<flavor>` columns come last, sorted by flavor, and only when some job has
 * one; a job without a value for a flavor gets an empty cell. Throws RangeError on a flavor name
 * that breaks the flavor pattern [a-z0-9][a-z0-9-]* (a bug of the importer).
 */
export function writeCanonicalCsv(jobs: readonly CanonicalJob[]): string {
  const flavorSet = new Set<string>();
  for (const job of jobs) {
    for (const flavor of Object.keys(job.durationByFlavor ?? {})) flavorSet.add(flavor);
  }
  const flavors = [...flavorSet].sort();
  for (const flavor of flavors) {
    if (!FLAVOR.test(flavor)) throw new RangeError(`bad flavor name "${flavor}" in duration@<flavor>`);
  }

  const header = [...CANONICAL_COLUMNS, ...flavors.map((flavor) => `duration@${flavor}`)];
  const lines = [header.join(',')];
  for (const job of jobs) {
    const cells = [
      csvField(job.id),
      formatNumber(job.submit),
      csvField(job.team),
      formatNumber(job.gpus),
      formatNumber(job.duration),
      csvField(job.class ?? ''),
      csvField(job.flavor ?? ''),
      optionalNumber(job.timeLimit),
      optionalNumber(job.checkpointInterval),
      ...flavors.map((flavor) => optionalNumber(job.durationByFlavor?.[flavor])),
    ];
    lines.push(cells.join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** The summary of jobs an importer has built (see ImportedTrace). */
export function summarize(csv: string, jobs: readonly CanonicalJob[]): ImportedTrace {
  const teams = [...new Set(jobs.map((job) => job.team))].sort();
  let first = Infinity;
  let last = -Infinity;
  for (const job of jobs) {
    first = Math.min(first, job.submit);
    last = Math.max(last, job.submit);
  }
  return { csv, jobs: jobs.length, teams, span: jobs.length === 0 ? 0 : last - first };
}
