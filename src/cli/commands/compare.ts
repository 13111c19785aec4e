// `arbiter compare`: one trace through several Arbiter policies and the built-in baselines
// (fifo, static, las, srtf), side by side. Each variant's outputs go to DIR/<name>/ in the
// simulate format; DIR/compare.csv and the printed table have one row per variant. Variants run
// in parallel on the available cores, with one progress bar each on a terminal. Every input is
// validated before anything runs or is written (exit 2 on bad input, docs/cli.md).
import path from 'node:path';
import type { Command } from 'commander';
import { durationFlag } from '../flags.js';
import { BASELINES, BASELINE_DESCRIPTIONS, isBaseline, type BaselineName } from '../../sim/baselines/index.js';
import { compareVariants, type Variant, type VariantOutcome } from '../../sim/compare.js';
import { COMPARE_CSV, renderCompareTable, writeCompareOutputs } from '../../sim/compare-output.js';
import { writeReport } from '../../sim/report/index.js';
import { createCompareProgress } from '../../sim/compare-progress.js';
import { TRACE_FORMATS } from '../../traces/index.js';
import { UsageError } from '../errors.js';
import { loadInputs, type Inputs } from '../inputs.js';

export interface CompareFlags {
  cluster?: string;
  /** Repeatable. */
  policy?: string[];
  trace?: string;
  traceFormat?: string;
  baselines?: string;
  lasRound?: string;
  round?: string;
  measureJobs?: string;
  out?: string;
}

const DEFAULT_BASELINES = BASELINES.join(',');

export function registerCompare(program: Command): void {
  program
    .command('compare')
    .description('run one trace through several policies and the baselines, side by side')
    .option('--cluster <file>', 'the fleet, cluster.yaml (required)')
    .option(
      '--policy <file>',
      'an allocation policy, policy.yaml; repeat it to compare several (at least one; the first one gives the baselines their teams and progress settings); its variant is named after the file without extension',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option('--trace <file>', 'the workload trace (required)')
    .option('--trace-format <format>', `format of --trace: canonical or ${TRACE_FORMATS.join(', ')}`, 'canonical')
    .option(
      '--baselines <list>',
      `comma-separated baselines to run beside the policies, or none: ${BASELINES.map((b) => `${b} (${BASELINE_DESCRIPTIONS[b]})`).join('; ')}`,
      DEFAULT_BASELINES,
    )
    .option('--las-round <duration>', 'las decides only every this long, as Gavel\'s rounds (600, 10m) (default: none, it decides at every event)')
    .option(
      '--round <duration>',
      'the variants that run through the engine (the policies, fifo, static) decide only every this long, as Gavel\'s rounds (360, 6m): jobs start at round boundaries and GPUs freed mid-round stay idle until the next one (default: none, a decision after every event; las has --las-round)',
    )
    .option(
      '--measure-jobs <A-B>',
      'compute the metrics over the jobs at trace positions A to B only, counting from 0 in file order, e.g. 4000-4999 to drop warm-up and cool-down (default: every job)',
    )
    .option('--out <dir>', `folder for <variant>/{jobs.csv,segments.csv,summary.json} and ${COMPARE_CSV} (required)`)
    .action(async (flags: CompareFlags) => {
      await runCompare(flags);
    });
}

interface Plan {
  readonly policies: readonly { readonly file: string; readonly name: string }[];
  readonly baselines: readonly BaselineName[];
  readonly lasRound: number | undefined;
  readonly round: number | undefined;
  readonly measureJobs: readonly [number, number] | undefined;
  readonly out: string;
}

/** A policy file's variant name: its base name without extension (`conf/policy.yaml` -> `policy`). */
export function variantName(file: string): string {
  return path.parse(file).name;
}

/** Checks the options (not the files); every problem at once. */
function plan(flags: CompareFlags): Plan {
  const problems: string[] = [];
  const files = flags.policy ?? [];
  if (files.length === 0) problems.push('--policy FILE is required (repeat it to compare several policies)');
  if (flags.trace === undefined) problems.push('--trace FILE is required: the workload to replay');
  if (flags.out === undefined) problems.push('--out DIR is required: where each variant\'s outputs and compare.csv go');

  const baselines: BaselineName[] = [];
  const list = (flags.baselines ?? DEFAULT_BASELINES).trim();
  if (list !== '' && list !== 'none') {
    for (const raw of list.split(',')) {
      const name = raw.trim();
      if (isBaseline(name)) {
        if (!baselines.includes(name)) baselines.push(name);
      } else {
        problems.push(`--baselines: unknown baseline "${name}"; known baselines: ${BASELINES.join(', ')} (or none)`);
      }
    }
  }

  const lasRound = durationFlag(flags.lasRound, '--las-round', problems, { positive: 'a round lasts more than 0 seconds' });
  if (flags.lasRound !== undefined && !baselines.includes('las')) problems.push('--las-round applies to the las baseline, which --baselines leaves out');
  const round = durationFlag(flags.round, '--round', problems, { positive: 'a round lasts more than 0 seconds' });

  let measureJobs: [number, number] | undefined;
  if (flags.measureJobs !== undefined) {
    const match = /^(\d+)-(\d+)$/.exec(flags.measureJobs.trim());
    const from = match ? Number(match[1]) : NaN;
    const to = match ? Number(match[2]) : NaN;
    if (!match || !Number.isSafeInteger(from) || !Number.isSafeInteger(to)) {
      problems.push(`--measure-jobs: expected A-B, two trace positions counted from 0 (e.g. 4000-4999), got "${flags.measureJobs}"`);
    } else if (from > to) {
      problems.push(`--measure-jobs: the range ${from}-${to} is empty; write the smaller position first`);
    } else {
      measureJobs = [from, to];
    }
  }

  // Variant names are folder names under --out: they must differ.
  const policies = files.map((file) => ({ file, name: variantName(file) }));
  const seen = new Map<string, string>();
  for (const { file, name } of policies) {
    const other = seen.get(name);
    if (other !== undefined) {
      problems.push(`--policy ${other} and --policy ${file} are both named "${name}" (their outputs would share ${name}/): copy or rename one of the files`);
    } else if ((baselines as string[]).includes(name)) {
      problems.push(`--policy ${file} is named "${name}", like the ${name} baseline: rename the file, or leave the baseline out with --baselines`);
    } else if (name === COMPARE_CSV || name === '' || name === '.' || name === '..') {
      problems.push(`--policy ${file}: its name "${name}" cannot be an output folder: rename the file`);
    }
    seen.set(name, file);
  }
  if (problems.length > 0) throw new UsageError(problems);
  return { policies, baselines, lasRound, round, measureJobs, out: flags.out! };
}

/** Runs the comparison; returns every variant's result and summary (for report.html, see below). */
export async function runCompare(flags: CompareFlags): Promise<VariantOutcome[]> {
  const p = plan(flags);

  // Each policy reads the trace for itself: classes default to its own defaultClass, and the
  // trace must name its teams. Problems of every file are reported together; a warning or a
  // problem shared by several policies (the cluster, the trace) is printed once.
  const warned = new Set<string>();
  const warn = (line: string): void => {
    if (warned.has(line)) return;
    warned.add(line);
    process.stderr.write(`${line}\n`);
  };
  const problems: string[] = [];
  const inputs: Inputs[] = [];
  for (const { file } of p.policies) {
    try {
      inputs.push(loadInputs({ cluster: flags.cluster, policy: file, trace: flags.trace, traceFormat: flags.traceFormat }, warn));
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      for (const line of error.lines) if (!problems.includes(line)) problems.push(line);
    }
  }
  if (problems.length > 0) throw new UsageError(problems);
  const first = inputs[0]!;
  const jobCount = first.jobs?.length ?? 0;
  if (p.measureJobs !== undefined && p.measureJobs[0] >= jobCount) {
    throw new UsageError([
      `--measure-jobs ${p.measureJobs[0]}-${p.measureJobs[1]}: the trace has ${jobCount} jobs, at positions 0 to ${jobCount - 1}`,
    ]);
  }

  const variants: Variant[] = [
    ...p.policies.map(({ name }, i): Variant => ({ name, kind: 'policy', policy: inputs[i]!.policy, trace: inputs[i]!.jobs ?? [] })),
    ...p.baselines.map((b): Variant => ({ name: b, kind: b, policy: first.policy, trace: first.jobs ?? [] })),
  ];
  const progress = createCompareProgress({ names: variants.map((v) => v.name), total: jobCount, stream: process.stderr });
  let outcomes: VariantOutcome[];
  try {
    outcomes = await compareVariants(first.fleet, variants, {
      ...(p.lasRound !== undefined ? { lasRound: p.lasRound } : {}),
      ...(p.round !== undefined ? { round: p.round } : {}),
      ...(p.measureJobs !== undefined ? { measureJobs: p.measureJobs } : {}),
      onProgress: (i, t, done) => progress.update(i, t, done),
      onVariantDone: (i) => progress.done(i),
    });
  } finally {
    progress.stop();
  }
  await writeCompareOutputs(p.out, outcomes);
  await writeReport(p.out, outcomes, {
    title: `Arbiter comparison: ${outcomes.map((o) => o.name).join(', ')}`,
    ...(p.measureJobs !== undefined ? { measureNote: `Metrics over the jobs at trace positions ${p.measureJobs[0]} to ${p.measureJobs[1]}.` } : {}),
  });
  if (p.measureJobs !== undefined) {
    const [from, to] = p.measureJobs;
    process.stdout.write(`Metrics over the jobs at trace positions ${from} to ${Math.min(to, jobCount - 1)} (${outcomes[0]?.summary.jobs ?? 0} jobs).\n`);
  }
  process.stdout.write(renderCompareTable(outcomes) + '\n');
  return outcomes;
}
