// `arbiter trace import --format F IN --out FILE.csv` (docs/cli.md): converts a public trace into
// the canonical CSV so that it can be inspected, edited and simulated. The import options (time
// window, teams, per-format knobs; docs/traces.md) are added by addTraceOptions and read by
// traceOptionsFromFlags, so that other commands reading a trace can offer the same ones.
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { DURATION_HELP, durationFlag } from '../flags.js';
import { formatIssue } from '../../core/model.js';
import { formatNumber } from '../../traces/canonical-csv.js';
import {
  ALIBABA_CLASSES,
  importTrace,
  TEAM_BY_FIELDS,
  TRACE_FORMATS,
  traceOptionProblems,
  TraceImportError,
  type ImportResult,
  type TraceOptions,
} from '../../traces/index.js';
import { UsageError } from '../errors.js';

/** The import options as commander hands them over (strings, as typed). */
export interface TraceFlags {
  readonly from?: string;
  readonly to?: string;
  readonly rebase?: boolean;
  readonly teamBy?: string;
  readonly teamMap?: string;
  readonly jobsPerHour?: string;
  readonly classMap?: string;
}

interface ImportFlags extends TraceFlags {
  readonly format: string;
  readonly out: string;
}

const teamByHelp = Object.entries(TEAM_BY_FIELDS)
  .map(([format, fields]) => `${format} ${fields.join('|')}`)
  .join(', ');
const classDefaults = [...ALIBABA_CLASSES].map(([qos, name]) => `${qos}=${name}`).join(',');

/** Adds the import options to `command` (each states its default). */
export function addTraceOptions(command: Command): Command {
  return command
    .option(
      '--from <time>',
      `keep jobs submitted at or after this time from the trace start, ${DURATION_HELP} (default: 0, the trace start)`,
    )
    .option('--to <time>', 'keep jobs submitted before this time, as --from (default: no end)')
    .option(
      '--rebase',
      'count submit times from --from, so the window starts at 0 (default: off, times stay relative to the trace start)',
    )
    .option(
      '--team-by <field>',
      `the source field whose values become teams, or none for one team named after the format: ${teamByHelp} (default: the first one named for the format)`,
    )
    .option(
      '--team-map <src=team,...>',
      'rename teams: src is a value of the --team-by field or the team name it gives (6214e9=research or vc6214e9=research), * every other value (default: none, teams keep their names)',
    )
    .option(
      '--jobs-per-hour <n>',
      'gavel only, required: arrival rate; submit = arrival_units x 3600 / N (no default)',
    )
    .option(
      '--class-map <qos=class,...>',
      `alibaba-openb only: priority class of each QoS, overriding its default; an empty class means the policy's defaultClass (default: ${classDefaults})`,
    );
}

/** Adds `trace` and its subcommand `import` to the program. */
export function registerTrace(program: Command): void {
  const trace = program.command('trace').description('work with workload traces (the canonical CSV: docs/formats.md; imports: docs/traces.md)');
  const command = trace
    .command('import')
    .description('convert a public trace into canonical CSV, sorted by submit time (formats: docs/traces.md)')
    .argument('<in>', 'the trace file to read')
    .requiredOption('--format <name>', `format of IN: ${TRACE_FORMATS.join(', ')} (required, no default)`)
    .requiredOption('--out <file>', 'canonical CSV to write, replaced atomically (required, no default)');
  addTraceOptions(command).action(async (input: string, flags: ImportFlags) => {
    process.stdout.write(`${await runTraceImport(input, flags)}\n`);
  });
}

/** `SRC=VALUE,...` as a map; problems name `option`. Empty values are allowed when `allowEmpty`. */
function parsePairs(
  text: string,
  option: string,
  what: string,
  allowEmpty: boolean,
  problems: string[],
): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of text.split(',')) {
    const at = entry.indexOf('=');
    const key = entry.slice(0, at).trim();
    const value = entry.slice(at + 1).trim();
    if (at === -1 || key === '') {
      problems.push(`${option}: expected SOURCE=${what}, got "${entry}"`);
    } else if (value === '' && !allowEmpty) {
      problems.push(`${option}: "${entry}" gives no ${what.toLowerCase()} name`);
    } else if (map.has(key)) {
      problems.push(`${option}: "${key}" is mapped twice`);
    } else map.set(key, value);
  }
  return map;
}

/** The import options of `flags`, or the problems with them (one line each, naming the option). */
export function traceOptionsFromFlags(flags: TraceFlags): { options: TraceOptions; problems: string[] } {
  const problems: string[] = [];
  const from = durationFlag(flags.from, '--from', problems);
  const to = durationFlag(flags.to, '--to', problems);
  let jobsPerHour: number | undefined;
  if (flags.jobsPerHour !== undefined) {
    jobsPerHour = Number(flags.jobsPerHour);
    if (flags.jobsPerHour.trim() === '' || !Number.isFinite(jobsPerHour) || jobsPerHour <= 0) {
      problems.push(`--jobs-per-hour: expected a number of jobs per hour > 0, got "${flags.jobsPerHour}"`);
      jobsPerHour = undefined;
    }
  }
  const teamMap =
    flags.teamMap === undefined
      ? undefined
      : parsePairs(flags.teamMap, '--team-map', 'TEAM', false, problems);
  const classMap =
    flags.classMap === undefined
      ? undefined
      : parsePairs(flags.classMap, '--class-map', 'CLASS', true, problems);
  const options: TraceOptions = {
    ...(from === undefined ? {} : { from }),
    ...(to === undefined ? {} : { to }),
    ...(flags.rebase === true ? { rebase: true } : {}),
    ...(flags.teamBy === undefined ? {} : { teamBy: flags.teamBy }),
    ...(teamMap === undefined ? {} : { teamMap }),
    ...(jobsPerHour === undefined ? {} : { jobsPerHour }),
    ...(classMap === undefined ? {} : { classMap }),
  };
  return { options, problems };
}

const BAD_PATH = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/**
 * Does the work of `trace import`; returns the summary (a line, then one `  note: ...` line per
 * lossy mapping). Rows the importer left out go to `warn`, one line each. Bad input throws
 * UsageError and writes nothing.
 */
export async function runTraceImport(
  input: string,
  flags: ImportFlags,
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<string> {
  if (!TRACE_FORMATS.includes(flags.format)) {
    throw new UsageError([
      `--format: unknown trace format "${flags.format}"; known formats: ${TRACE_FORMATS.join(', ')}`,
    ]);
  }
  const { options, problems } = traceOptionsFromFlags(flags);
  // Format-specific checks only when the flags themselves could be read.
  if (problems.length === 0) problems.push(...traceOptionProblems(flags.format, options));
  if (problems.length > 0) throw new UsageError(problems);

  let text: string;
  try {
    text = await readFile(input, 'utf8');
  } catch (error) {
    const code = errorCode(error);
    if (code !== undefined && BAD_PATH.has(code)) {
      throw new UsageError([
        `${input}: cannot read the trace (${code === 'EISDIR' ? 'it is a folder' : 'no such file'})`,
      ]);
    }
    throw error;
  }

  let result: ImportResult;
  try {
    result = importTrace(flags.format, text, input, options);
  } catch (error) {
    if (error instanceof TraceImportError) throw new UsageError(error.issues.map(formatIssue));
    throw error;
  }

  await writeAtomically(flags.out, result.csv);
  for (const warning of result.warnings) warn(`warning: ${formatIssue(warning)}`);
  const days = (result.span / 86_400).toFixed(1);
  const summary = `${flags.out}: ${result.jobs} jobs, ${result.teams.length} teams, submits span ${formatNumber(result.span)} s (${days} days)`;
  return [summary, ...result.notes.map((note) => `  note: ${note}`)].join('\n');
}

/** Writes a temporary file beside `file`, then renames it: readers see the old file or the new one. */
async function writeAtomically(file: string, contents: string): Promise<void> {
  const temp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  try {
    await writeFile(temp, contents, 'utf8');
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    const code = errorCode(error);
    if (code !== undefined && BAD_PATH.has(code)) {
      throw new UsageError([
        `--out ${file}: cannot write there (${code === 'EISDIR' ? 'it is a folder' : 'its folder does not exist'})`,
      ]);
    }
    throw error;
  }
}
