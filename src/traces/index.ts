// The importer registry: public GPU-cluster traces -> canonical CSV (docs/formats.md).
// `arbiter trace import --format F` and `--trace-format F` dispatch through importTrace, which
// reads the source with the format's importer, then applies the shared options (options.ts: time
// window, teams) to the jobs before writing them. docs/traces.md describes each format.
import { readCsv } from '../core/config/csv.js';
import type { Issue } from '../core/model.js';
import { ALIBABA_OPENB } from './alibaba.js';
import {
  CANONICAL_COLUMNS,
  summarize,
  TraceImportError,
  writeCanonicalCsv,
  type CanonicalJob,
  type ImportedTrace,
} from './canonical-csv.js';
import { GAVEL } from './gavel.js';
import {
  applyTraceOptions,
  teamByFields,
  windowAndTeamProblems,
  type FormatOption,
  type SourceJob,
  type TraceFormat,
  type TraceOptions,
} from './options.js';
import { importPhilly } from './philly.js';
import { TIRESIAS } from './tiresias.js';

export { TraceImportError, type CanonicalJob, type ImportedTrace } from './canonical-csv.js';
export type { TraceOptions } from './options.js';
export { ALIBABA_CLASSES } from './alibaba.js';

/** What importTrace returns: the canonical CSV and its summary, plus what to tell the user. */
export interface ImportResult extends ImportedTrace {
  /** Source rows left out, each kind with its count (print them as warnings). */
  readonly warnings: readonly Issue[];
  /** Lossy mappings and the window's effect, one line each (part of the summary). */
  readonly notes: readonly string[];
}

// Philly: importPhilly (philly.ts) writes the CSV itself. Without options its result is used as
// it is; with options, its rows are read back into jobs, the team column (vc<cluster>) giving
// the cluster. The rows are the writer's own (no quotes, no duration@ columns), so reading them
// cannot fail on good input; a failure is a bug.
function jobsOfCanonicalCsv(csv: string): CanonicalJob[] {
  const jobs: CanonicalJob[] = [];
  let header = true;
  readCsv(
    csv,
    (fields) => {
      if (header) {
        if (fields.join(',') !== CANONICAL_COLUMNS.join(',')) {
          throw new Error(`unexpected canonical header ${fields.join(',')}`);
        }
        header = false;
        return;
      }
      const [id = '', submit = '', team = '', gpus = '', duration = '', className = '', flavor = ''] = fields;
      const [timeLimit = '', checkpointInterval = ''] = fields.slice(7);
      jobs.push({
        id,
        submit: Number(submit),
        team,
        gpus: Number(gpus),
        duration: Number(duration),
        ...(className === '' ? {} : { class: className }),
        ...(flavor === '' ? {} : { flavor }),
        ...(timeLimit === '' ? {} : { timeLimit: Number(timeLimit) }),
        ...(checkpointInterval === '' ? {} : { checkpointInterval: Number(checkpointInterval) }),
      });
    },
    (line, message) => {
      throw new Error(`cannot read back line ${line} of the canonical CSV: ${message}`);
    },
  );
  return jobs;
}

const PHILLY: TraceFormat = {
  name: 'philly',
  singleTeam: 'philly',
  defaultTeamBy: 'cluster',
  teamFields: { cluster: (cluster) => `vc${cluster}` },
  takes: [],
  read: (text, file) => ({
    jobs: jobsOfCanonicalCsv(importPhilly(text, file).csv).map(({ team, ...job }): SourceJob => ({
      ...job,
      groups: { cluster: team.replace(/^vc/, '') },
    })),
    warnings: [],
    notes: [],
  }),
};

const FORMATS: readonly TraceFormat[] = [ALIBABA_OPENB, GAVEL, PHILLY, TIRESIAS];
const BY_NAME = new Map(FORMATS.map((format) => [format.name, format]));

/** Names accepted by importTrace, sorted. */
export const TRACE_FORMATS: readonly string[] = FORMATS.map((format) => format.name).sort();

/** Each format's team-by fields (default first, `none` last), for --help and docs. */
export const TEAM_BY_FIELDS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  FORMATS.map((format) => [
    format.name,
    [format.defaultTeamBy, ...teamByFields(format).filter((field) => field !== format.defaultTeamBy)],
  ]),
);

const OPTION_FLAGS: Readonly<Record<FormatOption, string>> = {
  jobsPerHour: '--jobs-per-hour',
  classMap: '--class-map',
};

const hasOption = (options: TraceOptions, option: FormatOption): boolean => options[option] !== undefined;

/**
 * Problems with `options` for `format` found without reading the trace, one line each, naming
 * the option (`--team-by: ...`); empty when they are fine. An unknown format is one problem.
 */
export function traceOptionProblems(format: string, options: TraceOptions = {}): string[] {
  const spec = BY_NAME.get(format);
  if (spec === undefined) {
    return [`unknown trace format "${format}"; known formats: ${TRACE_FORMATS.join(', ')}`];
  }
  const problems = windowAndTeamProblems(spec, options);
  for (const option of Object.keys(OPTION_FLAGS) as FormatOption[]) {
    const takers = FORMATS.filter((f) => f.takes.includes(option)).map((f) => f.name);
    if (!spec.takes.includes(option) && hasOption(options, option)) {
      problems.push(`${OPTION_FLAGS[option]} applies only to --format ${takers.join(', ')}`);
    }
  }
  if (spec.takes.includes('jobsPerHour')) {
    const rate = options.jobsPerHour;
    if (rate === undefined) {
      problems.push(
        `--jobs-per-hour N is required with --format ${format}: the arrival rate that turns arrival_units into seconds (submit = arrival_units x 3600 / N)`,
      );
    } else if (!(Number.isFinite(rate) && rate > 0)) {
      problems.push(`--jobs-per-hour: expected a number of jobs per hour > 0, got ${rate}`);
    }
  }
  return problems;
}

/**
 * Converts `text` (the contents of `file`, named in messages) from `format` into canonical CSV,
 * applying `options` (none by default). Throws TraceImportError for bad input: bad rows, bad
 * options (see traceOptionProblems), an unknown format (the message lists the known ones).
 */
export function importTrace(
  format: string,
  text: string,
  file: string,
  options: TraceOptions = {},
): ImportResult {
  const spec = BY_NAME.get(format);
  const problems = traceOptionProblems(format, options);
  const fail = (lines: readonly string[]): never => {
    throw new TraceImportError(lines.map((message) => ({ file, path: '', message })));
  };
  if (spec === undefined || problems.length > 0) return fail(problems);

  // Philly without options: the importer's own output, unchanged.
  if (spec === PHILLY && Object.values(options).every((value) => value === undefined || value === false)) {
    return { ...importPhilly(text, file), warnings: [], notes: [] };
  }
  const source = spec.read(text, file, options);
  const applied = applyTraceOptions(spec, source.jobs, options);
  if (applied.problems.length > 0) fail(applied.problems);
  const csv = writeCanonicalCsv(applied.jobs);
  return {
    ...summarize(csv, applied.jobs),
    warnings: source.warnings,
    notes: [...source.notes, ...applied.notes],
  };
}
