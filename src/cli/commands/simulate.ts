// `arbiter simulate` (docs/cli.md): replays a trace through the engine and writes jobs.csv,
// segments.csv, summary.json and report.html (unless --no-report) to --out, prints the summary
// table, and shows a progress bar on a terminal. Inputs are validated before anything is written.
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { addTraceOptions } from './trace-import.js';
import type { TraceFlags } from './trace-import.js';
import { TRACE_FORMATS } from '../../traces/index.js';
import type { Fleet, JobSpec, Policy } from '../../core/model.js';
import { summarize } from '../../sim/metrics.js';
import { writeFileAtomic, writeSimulationOutputs } from '../../sim/outputs.js';
import { createProgress } from '../../sim/progress.js';
import { writeReport } from '../../sim/report/index.js';
import type { ExplainLine, SimulateOptions } from '../../sim/simulator.js';
import { simulate } from '../../sim/simulator.js';
import { renderSummaryTable } from '../../sim/summary-table.js';
import type { SimulationResult } from '../../sim/types.js';
import { UsageError } from '../errors.js';
import { loadInputs } from '../inputs.js';
import { DURATION_HELP, durationFlag } from '../flags.js';

interface SimulateFlags extends TraceFlags {
  cluster?: string;
  policy?: string;
  trace?: string;
  traceFormat?: string;
  out?: string;
  until?: string;
  round?: string;
  explain?: string;
  explainAt?: string;
  /** false with --no-report. */
  report?: boolean;
}

export function registerSimulate(program: Command): void {
  addTraceOptions(program.command('simulate'))
    .description('replay a workload trace through the scheduling engine and write its outcome')
    .option('--cluster <file>', 'the fleet, cluster.yaml (required)')
    .option('--policy <file>', 'the allocation policy, policy.yaml (required)')
    .option('--trace <file>', 'the workload trace (required)')
    .option('--trace-format <format>', `format of --trace: canonical or ${TRACE_FORMATS.join(', ')}`, 'canonical')
    .option('--out <dir>', 'folder for jobs.csv, segments.csv, summary.json and report.html (required)')
    .option('--until <time>', `stop the clock at this time, ${DURATION_HELP}; jobs still running are cut there (default: run until every job is done)`)
    .option(
      '--round <duration>',
      'decide only every this long, as Gavel\'s rounds (360, 6m): jobs start at round boundaries and GPUs freed mid-round stay idle until the next one (default: none, a decision after every event)',
    )
    .option('--explain <file>', "write each pending job's reason as JSON lines to this file (default: none)")
    .option(
      '--explain-at <times>',
      'with --explain: comma-separated moments to explain (3600,1d,36h), instead of after every pass (default: every pass)',
    )
    .option('--no-report', 'do not write report.html (default: write it)')
    .action(async (flags: SimulateFlags) => {
      await runSimulate(flags);
    });
}

/** Parses the numeric options; every problem is reported at once (exit 2). */
function parseFlags(flags: SimulateFlags): { until: number | undefined; round: number | undefined; explainAt: number[] | undefined } {
  const problems: string[] = [];
  if (flags.trace === undefined) problems.push('--trace FILE is required: the workload to replay');
  if (flags.out === undefined) problems.push('--out DIR is required: where jobs.csv, segments.csv and summary.json go');
  const until = durationFlag(flags.until, '--until', problems);
  const round = durationFlag(flags.round, '--round', problems, { positive: 'a round lasts more than 0 seconds' });
  let explainAt: number[] | undefined;
  if (flags.explainAt !== undefined) {
    if (flags.explain === undefined) problems.push('--explain-at needs --explain FILE');
    explainAt = flags.explainAt.split(',').flatMap((part) => durationFlag(part, '--explain-at', problems) ?? []);
    explainAt.sort((a, b) => a - b);
  }
  if (problems.length > 0) throw new UsageError(problems);
  return { until, round, explainAt };
}

export async function runSimulate(flags: SimulateFlags): Promise<void> {
  const { until, round, explainAt } = parseFlags(flags);
  const { fleet, policy, jobs } = loadInputs(flags);
  const out = flags.out!;
  const result = await runWithProgress(fleet, policy, jobs ?? [], { until, round, explainAt, explainFile: flags.explain });
  const summary = summarize(result);
  await writeSimulationOutputs(out, result, summary);
  if (flags.report !== false) {
    const title = `Arbiter simulation: ${basename(flags.trace!)} with ${basename(flags.policy!)}`;
    await writeReport(out, [{ name: basename(flags.policy!), result, summary }], { title });
  }
  const rejected = rejectionLog(result);
  if (rejected.length > 0) {
    for (const line of rejected) process.stderr.write(`${line}\n`);
    await writeFileAtomic(join(out, 'rejected.log'), [rejected.join('\n') + '\n']);
  }
  process.stdout.write(renderSummaryTable(summary) + '\n');
}

/** One line per rejected job: its id, position and why it can never run. */
export function rejectionLog(result: SimulationResult): string[] {
  const lines: string[] = [];
  result.jobs.forEach((job) => {
    if (job.status === 'rejected') lines.push(`rejected job ${job.spec.id} (team ${job.spec.team}, ${job.spec.gpus} GPUs): ${job.rejectReason ?? ''}`);
  });
  return lines;
}

async function runWithProgress(
  fleet: Fleet,
  policy: Policy,
  jobs: readonly JobSpec[],
  opts: { until: number | undefined; round: number | undefined; explainAt: number[] | undefined; explainFile: string | undefined },
): Promise<SimulationResult> {
  const progress = createProgress({ total: jobs.length, stream: process.stderr });
  const explainChunks: string[] = [];
  const options: SimulateOptions = {
    ...(opts.until !== undefined ? { until: opts.until } : {}),
    ...(opts.round !== undefined ? { round: opts.round } : {}),
    onProgress: (t, done) => progress.update(t, done),
    ...(opts.explainFile !== undefined
      ? {
          explain: opts.explainAt ?? 'every-pass',
          onExplain: (lines: readonly ExplainLine[]) => {
            for (const line of lines) explainChunks.push(JSON.stringify(line) + '\n');
          },
        }
      : {}),
  };
  let result: SimulationResult;
  try {
    result = simulate(fleet, policy, jobs, options);
  } finally {
    progress.stop();
  }
  if (opts.explainFile !== undefined) {
    await mkdir(join(opts.explainFile, '..'), { recursive: true });
    await writeFileAtomic(opts.explainFile, explainChunks);
  }
  return result;
}
