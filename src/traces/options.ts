// What every importer shares besides the canonical writer (canonical-csv.ts):
// 1. the import options of `arbiter trace import` (docs/cli.md; docs/traces.md): a window on submit
//    times (--from, --to, --rebase), the choice of teams (--team-by, --team-map), and the knobs of
//    single formats (gavel's --jobs-per-hour, alibaba-openb's --class-map);
// 2. applyTraceOptions, the pure function that applies the first two to the jobs an importer read;
// 3. readSourceCsv and the number parsers, with which importers read a source CSV and report every
//    bad cell as "file:line: column X: expected ..., got "v"".
import { readCsv } from '../core/config/csv.js';
import type { Issue } from '../core/model.js';
import { formatNumber, TraceImportError, type CanonicalJob } from './canonical-csv.js';

/** Options of an import; every one is optional (see docs/traces.md for each format's defaults). */
export interface TraceOptions {
  /** Keep jobs submitted at or after this time (seconds from the trace start). Default 0. */
  readonly from?: number;
  /** Keep jobs submitted before this time. Default: no end. */
  readonly to?: number;
  /** Subtract `from` from every submit time, so the window starts at 0. Needs `from`. Default false. */
  readonly rebase?: boolean;
  /** The source field whose values become teams, or `none` for one team. Default: the format's. */
  readonly teamBy?: string;
  /**
   * Renames teams. A key is a value of the team-by field (`6214e9`, `LS`) or the team name it
   * gives without a map (`vc6214e9`, `ls`); `*` stands for every value no other key names.
   */
  readonly teamMap?: ReadonlyMap<string, string>;
  /** gavel only, required: arrival rate in jobs per hour (submit = arrival_units x 3600 / rate). */
  readonly jobsPerHour?: number;
  /** alibaba-openb only: QoS -> priority class, overriding the defaults of the QoS it names. */
  readonly classMap?: ReadonlyMap<string, string>;
}

/** The team-by field that puts every job into one team named after the format. */
export const NO_FIELD = 'none';

/** A job as an importer reads it: everything but its team, plus the values teams can be made of. */
export interface SourceJob extends Omit<CanonicalJob, 'team'> {
  /** The job's value of each team-by field of its format, e.g. `{ qos: 'LS' }`. */
  readonly groups: Readonly<Record<string, string>>;
}

/** What an importer read: jobs in output order, plus what the user should be told. */
export interface SourceTrace {
  readonly jobs: readonly SourceJob[];
  /** Rows left out (with their count and why); printed as warnings. */
  readonly warnings: readonly Issue[];
  /** Lossy mappings worth knowing (e.g. fractional GPUs counted as whole ones); part of the summary. */
  readonly notes: readonly string[];
}

/** Options only some formats take. */
export type FormatOption = 'jobsPerHour' | 'classMap';

/** An importer: how to read its source and how its jobs are grouped into teams. */
export interface TraceFormat {
  readonly name: string;
  /** The one team of `--team-by none`. */
  readonly singleTeam: string;
  /** The team-by field used when none is given (`none` or a key of teamFields). */
  readonly defaultTeamBy: string;
  /** Each team-by field (besides `none`) and the team name of one of its values. */
  readonly teamFields: Readonly<Record<string, (value: string) => string>>;
  /** The format-specific options it takes; any other is an error. */
  readonly takes: readonly FormatOption[];
  /** Reads `text` (the contents of `file`). Bad input throws TraceImportError. */
  read(text: string, file: string, options: TraceOptions): SourceTrace;
}

/** The team-by fields of a format, `none` last. */
export function teamByFields(format: TraceFormat): string[] {
  return [...Object.keys(format.teamFields), NO_FIELD];
}

/**
 * Problems with `options` that do not depend on the data: a bad window, --rebase without --from,
 * a team-by field the format lacks. Format-specific options are checked by the registry (index.ts).
 */
export function windowAndTeamProblems(format: TraceFormat, options: TraceOptions): string[] {
  const problems: string[] = [];
  const { from, to, teamBy } = options;
  if (from !== undefined && !(Number.isFinite(from) && from >= 0)) {
    problems.push(`--from: expected a time >= 0, got ${from}`);
  }
  if (to !== undefined && !(Number.isFinite(to) && to >= 0)) {
    problems.push(`--to: expected a time >= 0, got ${to}`);
  }
  if (from !== undefined && to !== undefined && !(to > from)) {
    problems.push(`--to (${to}) must be later than --from (${from}): the window would be empty`);
  }
  if (options.rebase === true && from === undefined) {
    problems.push('--rebase counts submit times from --from; give --from too');
  }
  if (teamBy !== undefined && teamBy !== NO_FIELD && !Object.hasOwn(format.teamFields, teamBy)) {
    problems.push(
      `--team-by: the ${format.name} format has no field "${teamBy}"; use one of: ${teamByFields(format).join(', ')}`,
    );
  }
  return problems;
}

/** What applyTraceOptions made of an importer's jobs. */
export interface AppliedOptions {
  readonly jobs: CanonicalJob[];
  /** --team-map keys that match no job (bad input). */
  readonly problems: string[];
  readonly notes: string[];
}

/** `a, b, c` for at most `max` names, then how many more. */
function listNames(names: readonly string[], max = 10): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown}, ... (${names.length - max} more)` : shown;
}

/**
 * Gives each job its team (--team-by, then --team-map) and keeps the jobs of the window
 * [from, to) of submit times, in the given order; with --rebase, submit times count from `from`.
 * Pure: `jobs` is not changed. Assumes windowAndTeamProblems(format, options) found nothing.
 * Team-map keys are checked against every job, not only those of the window, so that one map
 * serves every window of a trace.
 * Example: Philly, `--team-map 6214e9=research,*=others --from 3600 --to 7200 --rebase` puts the
 * jobs of VC 6214e9 into team research and the other VCs' into others, and a job submitted at
 * 3700 s is written at 100 s.
 */
export function applyTraceOptions(
  format: TraceFormat,
  jobs: readonly SourceJob[],
  options: TraceOptions,
): AppliedOptions {
  const field = options.teamBy ?? format.defaultTeamBy;
  const nameOf = field === NO_FIELD ? () => format.singleTeam : format.teamFields[field];
  if (nameOf === undefined) throw new RangeError(`the ${format.name} format has no team field "${field}"`);
  const valueOf = (job: SourceJob): string => {
    if (field === NO_FIELD) return format.singleTeam;
    const value = job.groups[field];
    if (value === undefined) throw new RangeError(`job ${job.id} has no value for team field "${field}"`);
    return value;
  };

  // The team of each distinct value, once: values repeat across thousands of jobs.
  const map = options.teamMap ?? new Map<string, string>();
  const teamOfValue = new Map<string, string>();
  const used = new Set<string>();
  for (const job of jobs) {
    const value = valueOf(job);
    if (teamOfValue.has(value)) continue;
    const team = nameOf(value);
    const key = map.has(value) ? value : map.has(team) ? team : '*';
    used.add(key);
    teamOfValue.set(value, map.get(key) ?? team);
  }

  const problems: string[] = [];
  const label = field === NO_FIELD ? 'team' : field;
  const values = [...teamOfValue.keys()].sort();
  for (const key of map.keys()) {
    if (key !== '*' && !used.has(key)) {
      problems.push(
        `--team-map: no job has ${label} "${key}"; the ${label} values of this trace: ${values.length > 0 ? listNames(values) : '(none: no jobs)'}`,
      );
    }
  }

  const from = options.from ?? 0;
  const to = options.to ?? Infinity;
  const shift = options.rebase === true ? from : 0;
  const kept: CanonicalJob[] = [];
  for (const job of jobs) {
    if (job.submit < from || job.submit >= to) continue;
    const { groups: _groups, ...rest } = job;
    kept.push({ ...rest, submit: job.submit - shift, team: teamOfValue.get(valueOf(job)) ?? '' });
  }

  const notes: string[] = [];
  if (options.from !== undefined || options.to !== undefined) {
    const end = options.to === undefined ? 'end' : formatNumber(options.to);
    notes.push(
      `window [${formatNumber(from)}, ${end}) of submit times kept ${kept.length} of ${jobs.length} jobs` +
        (shift > 0 ? `; submit times count from ${formatNumber(from)}` : ''),
    );
  }
  return { jobs: kept, problems, notes };
}

/** A team or flavor name made from a source value: lower case, runs of other characters -> "-". */
export function slug(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

// ---------------------------------------------------------------------------------------------
// Reading a source CSV.

/** One data row of a source CSV. */
export interface SourceRow {
  /** 1-based line in the file (the header is line 1). */
  readonly line: number;
  /** The trimmed cell of a column the reader was asked for. */
  cell(column: string): string;
  /** Records a bad value: `<file>:<line>: column <column>: expected <expected>, got "<value>"`. */
  readonly bad: (column: string, expected: string, value: string) => void;
}

/**
 * Reads a source CSV whose header must name `required` (in any order; other columns are
 * ignored) and calls `onRow` with each data row, in file order. A header that cannot be read or
 * lacks some of `required` throws TraceImportError at line 1, naming them and `expected` (the
 * source's header, for the message). Rows that cannot be read (empty, unbalanced quotes, a wrong
 * number of fields) are added to `issues` in their place instead. Blank lines at the end of the
 * file are ignored.
 */
export function readSourceCsv(
  text: string,
  file: string,
  required: readonly string[],
  expected: string,
  issues: Issue[],
  onRow: (row: SourceRow) => void,
): void {
  let width = -1; // fields per row; -1 until the header is read
  const position = new Map<string, number>();
  const headerError = (why: string): TraceImportError =>
    new TraceImportError([{ file, line: 1, path: 'header', message: `${why}; expected ${expected}` }]);
  const missingError = (): TraceImportError => {
    const missing = required.filter((name) => !position.has(name));
    return headerError(`missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  };
  readCsv(
    text,
    (fields, line) => {
      if (width === -1) {
        fields.forEach((name, i) => {
          if (!position.has(name.trim())) position.set(name.trim(), i);
        });
        if (required.some((name) => !position.has(name))) throw missingError();
        width = fields.length;
        return;
      }
      if (fields.length === 1 && (fields[0] ?? '').trim() === '' && width > 1) {
        issues.push({ file, line, path: '', message: 'empty row; remove it' });
        return;
      }
      if (fields.length !== width) {
        // Name the required columns a short row lacks; otherwise just count.
        const absent = required.filter((name) => (position.get(name) ?? -1) >= fields.length);
        for (const name of absent) {
          issues.push({
            file,
            line,
            path: `column ${name}`,
            message: `missing (the row has ${fields.length} of ${width} columns)`,
          });
        }
        if (absent.length === 0) {
          issues.push({ file, line, path: '', message: `expected ${width} columns, got ${fields.length}` });
        }
        return;
      }
      onRow({
        line,
        cell: (column) => (fields[position.get(column) ?? -1] ?? '').trim(),
        bad: (column, expected, value) => {
          issues.push({ file, line, path: `column ${column}`, message: `expected ${expected}, got "${value}"` });
        },
      });
    },
    (line, message) => {
      if (width === -1) throw headerError(`cannot be read (${message})`);
      issues.push({ file, line, path: '', message });
    },
  );
  if (width === -1) throw missingError();
}

// Plain decimals ("66.0", "0.5"); an exponent is accepted since some writers use one.
const DECIMAL = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
// Integers, also written as floats by pandas ("8.0").
const INTEGER = /^\d+(\.0*)?$/;

/** A number >= 0 written as a plain decimal, or null. */
export function parseNonNegative(text: string): number | null {
  if (!DECIMAL.test(text)) return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/** An integer >= 0 (`8` or `8.0`), or null. */
export function parseCount(text: string): number | null {
  if (!INTEGER.test(text)) return null;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : null;
}

/** Ids and group values used as names: letters, digits and `_ . -`. */
export const SOURCE_ID = /^[A-Za-z0-9_.-]+$/;

/**
 * Reports a repeated id: `column C: "v" is already used at line L; ids must be unique`.
 * `seen` maps each id met so far to its line.
 */
export function checkUnique(
  seen: Map<string, number>,
  id: string,
  column: string,
  file: string,
  line: number,
  issues: Issue[],
): void {
  const first = seen.get(id);
  if (first === undefined) seen.set(id, line);
  else {
    issues.push({
      file,
      line,
      path: `column ${column}`,
      message: `"${id}" is already used at line ${first}; ids must be unique`,
    });
  }
}
