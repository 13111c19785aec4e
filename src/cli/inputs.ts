// Reading the input files of a command (--cluster, --policy, --trace): bad input of any kind
// becomes one UsageError listing every problem found, one per line (exit 2, docs/cli.md).
import { readFileSync } from 'node:fs';
import { parseCluster } from '../core/config/cluster.js';
import { parsePolicy } from '../core/config/policy.js';
import { parseTrace } from '../core/config/trace.js';
import { formatIssue, type Fleet, type JobSpec, type Policy, type Result } from '../core/model.js';
import { importTrace, TRACE_FORMATS, TraceImportError } from '../traces/index.js';
import { UsageError } from './errors.js';
import { traceOptionsFromFlags } from './commands/trace-import.js';
import type { TraceFlags } from './commands/trace-import.js';

export interface InputOptions extends TraceFlags {
  readonly cluster?: string;
  readonly policy?: string;
  readonly trace?: string;
  /** `canonical` (the default) or the name of an importer. */
  readonly traceFormat?: string;
}

export interface Inputs {
  readonly fleet: Fleet;
  readonly policy: Policy;
  /** The trace's jobs in file order; null without --trace. */
  readonly jobs: readonly JobSpec[] | null;
}

const CANONICAL = 'canonical';

/**
 * Reads and validates the files named by `options`. Throws UsageError for a missing option, a
 * file that cannot be read, or invalid content; warnings go to `warn` (stderr by default).
 * Paths appear in messages as the user gave them.
 */
export function loadInputs(options: InputOptions, warn: (line: string) => void = printWarning): Inputs {
  const { cluster: clusterPath, policy: policyPath, trace: tracePath } = options;
  const format = options.traceFormat ?? CANONICAL;
  const usage: string[] = [];
  if (clusterPath === undefined)
    usage.push('--cluster FILE is required: the fleet description (cluster.yaml)');
  if (policyPath === undefined) usage.push('--policy FILE is required: the allocation policy (policy.yaml)');
  if (format !== CANONICAL && !TRACE_FORMATS.includes(format)) {
    usage.push(
      `--trace-format: unknown trace format "${format}"; known formats: ${[CANONICAL, ...TRACE_FORMATS].join(', ')}`,
    );
  }
  if (format !== CANONICAL && tracePath === undefined)
    usage.push(`--trace-format ${format} needs --trace FILE`);
  // Import options (--from, --team-map, --jobs-per-hour...) apply to --trace-format importers only.
  const { options: traceOptions, problems: traceProblems } = traceOptionsFromFlags(options);
  usage.push(...traceProblems);
  const importFlags = (['from', 'to', 'rebase', 'teamBy', 'teamMap', 'jobsPerHour', 'classMap'] as const).filter((k) => options[k] !== undefined && options[k] !== false);
  if (format === CANONICAL && importFlags.length > 0) {
    usage.push(`--${importFlags.map((k) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join(', --')}: only with --trace-format (an importer); a canonical trace is used as it is`);
  }
  if (usage.length > 0 || clusterPath === undefined || policyPath === undefined) throw new UsageError(usage);

  // Every file is read before any is parsed, so that all unreadable files are reported together.
  const clusterText = read(clusterPath, '--cluster', usage);
  const policyText = read(policyPath, '--policy', usage);
  const traceText = tracePath === undefined ? undefined : read(tracePath, '--trace', usage);
  if (usage.length > 0 || clusterText === undefined || policyText === undefined) throw new UsageError(usage);

  // Each file is checked against the ones before it, so a bad file leaves the ones after it unchecked.
  const unchecked = (paths: (string | undefined)[], because: string): string[] =>
    paths.flatMap((path) => (path === undefined ? [] : [`${path}: not checked until ${because} is valid`]));
  const fleet = accept(
    parseCluster(clusterText, clusterPath),
    warn,
    unchecked([policyPath, tracePath], clusterPath),
  );
  const policy = accept(parsePolicy(policyText, policyPath, fleet), warn, unchecked([tracePath], policyPath));
  if (tracePath === undefined || traceText === undefined) return { fleet, policy, jobs: null };

  let csv = traceText;
  let traceName = tracePath;
  if (format !== CANONICAL) {
    try {
      csv = importTrace(format, traceText, tracePath, traceOptions).csv;
    } catch (error) {
      if (error instanceof TraceImportError) throw new UsageError(error.issues.map(formatIssue));
      throw error;
    }
    // Line numbers then count lines of the converted CSV (what `arbiter trace import` writes), not of the input.
    traceName = `${tracePath} (as canonical CSV)`;
  }
  const jobs = accept(parseTrace(csv, traceName, policy, fleet), warn, []);
  return { fleet, policy, jobs };
}

function printWarning(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The value of a valid file (after printing its warnings); else throws its problems, then `after`. */
function accept<T>(result: Result<T>, warn: (line: string) => void, after: readonly string[]): T {
  if (!result.ok) throw new UsageError([...result.issues.map(formatIssue), ...after]);
  for (const warning of result.warnings) warn(`warning: ${formatIssue(warning)}`);
  return result.value;
}

const UNREADABLE: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  ENOTDIR: 'no such file',
  EISDIR: 'is a folder, not a file',
  EACCES: 'permission denied',
};

/** The file's text, or undefined after adding why it cannot be read to `problems`. */
function read(path: string, option: string, problems: string[]): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code =
      error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : '';
    const why = UNREADABLE[code];
    if (why === undefined) throw error;
    problems.push(`${path}: ${why} (given as ${option})`);
    return undefined;
  }
}
