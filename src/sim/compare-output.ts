// What `arbiter compare` writes and prints: DIR/<name>/ per variant in the simulate format
// (jobs.csv, segments.csv, summary.json, and rejected.log when jobs were rejected), DIR/compare.csv
// with one row per variant, and the same rows as a table. Metric definitions: metrics.ts and
// docs/evaluation-metrics.md.
import { join } from 'node:path';
import Table from 'cli-table3';
import type { VariantOutcome } from './compare.js';
import { formatTime, roundTo } from './format.js';
import type { ComparisonSummary } from './metrics.js';
import { csvField, writeFileAtomic, writeSimulationOutputs } from './outputs.js';
import { humanDuration } from './summary-table.js';

export const COMPARE_CSV = 'compare.csv';

/** Seconds with at most 3 decimals, GPU-hours with 3, fractions (utilization, fairness) with 6. */
export const COMPARE_CSV_HEADER =
  'variant,kind,jobs,completed,rejected,avg_jct,p50_jct,p95_jct,p99_jct,avg_wait,p50_wait,p95_wait,p99_wait,' +
  'makespan,utilization,preemptions,lost_gpu_hours,fairness,worst_team,worst_team_p99_wait,' +
  'in_guarantee_jobs,in_guarantee_p99_wait,in_guarantee_max_wait';

/** `policy` for an Arbiter policy, `baseline` for a baseline. */
const kindOf = (outcome: VariantOutcome): string => (outcome.kind === 'policy' ? 'policy' : 'baseline');

function csvRow(outcome: VariantOutcome): string {
  const s: ComparisonSummary = outcome.summary;
  return [
    csvField(outcome.name),
    kindOf(outcome),
    s.jobs,
    s.completed,
    s.rejected,
    formatTime(s.avgJct),
    formatTime(s.p50Jct),
    formatTime(s.p95Jct),
    formatTime(s.p99Jct),
    formatTime(s.avgWait),
    formatTime(s.p50Wait),
    formatTime(s.p95Wait),
    formatTime(s.p99Wait),
    formatTime(s.makespan),
    String(s.utilization),
    s.preemptions,
    String(roundTo(s.lostGpuSeconds / 3600, 3)),
    s.fairness === null ? '' : String(s.fairness),
    csvField(s.worstTeam ?? ''),
    formatTime(s.worstTeamP99Wait),
    s.inGuaranteeJobs,
    formatTime(s.inGuaranteeP99Wait),
    formatTime(s.inGuaranteeMaxWait),
  ].join(',');
}

/** compare.csv: the header, then one row per variant in the given order. */
export function renderCompareCsv(outcomes: readonly VariantOutcome[]): string {
  return [COMPARE_CSV_HEADER, ...outcomes.map(csvRow)].join('\n') + '\n';
}

const count = (n: number): string => n.toLocaleString('en-US');
const gpuHours = (gpuSeconds: number): string =>
  (gpuSeconds / 3600).toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const percent = (fraction: number): string => `${(fraction * 100).toFixed(1)}%`;

/** The table `arbiter compare` prints: one row per variant, durations humanized. */
export function renderCompareTable(outcomes: readonly VariantOutcome[], opts: { color?: boolean } = {}): string {
  const style = opts.color ? { compact: true } : { compact: true, head: [], border: [] };
  const head = [
    'Variant',
    'Jobs',
    'Rejected',
    'Avg JCT',
    'p50 JCT',
    'p95 JCT',
    'p99 JCT',
    'Avg wait',
    'p50 wait',
    'p95 wait',
    'p99 wait',
    'Makespan',
    'Util.',
    'Preempt.',
    'Lost GPU-h',
    'Fairness',
    'Worst team p99 wait',
    'In-guar. p99 wait',
    'In-guar. max wait',
  ];
  const table = new Table({ head, style, colAligns: ['left', ...head.slice(1).map(() => 'right' as const)] });
  for (const o of outcomes) {
    const s = o.summary;
    table.push([
      o.name,
      count(s.jobs),
      count(s.rejected),
      humanDuration(s.avgJct),
      humanDuration(s.p50Jct),
      humanDuration(s.p95Jct),
      humanDuration(s.p99Jct),
      humanDuration(s.avgWait),
      humanDuration(s.p50Wait),
      humanDuration(s.p95Wait),
      humanDuration(s.p99Wait),
      humanDuration(s.makespan),
      percent(s.utilization),
      count(s.preemptions),
      gpuHours(s.lostGpuSeconds),
      s.fairness === null ? '-' : s.fairness.toFixed(3),
      s.worstTeam === null ? '-' : `${humanDuration(s.worstTeamP99Wait)} (${s.worstTeam})`,
      humanDuration(s.inGuaranteeP99Wait),
      humanDuration(s.inGuaranteeMaxWait),
    ]);
  }
  return table.toString();
}

/** rejected.log of a variant: one line per rejected job with why (as `arbiter simulate` writes it). */
export function rejectionLines(outcome: VariantOutcome): string[] {
  const lines: string[] = [];
  for (const job of outcome.result.jobs) {
    if (job.status === 'rejected') lines.push(`rejected job ${job.spec.id} (team ${job.spec.team}, ${job.spec.gpus} GPUs): ${job.rejectReason ?? ''}`);
  }
  return lines;
}

/** Writes DIR/<name>/ for every variant, then DIR/compare.csv (each file complete or absent). */
export async function writeCompareOutputs(dir: string, outcomes: readonly VariantOutcome[]): Promise<void> {
  for (const outcome of outcomes) {
    const sub = join(dir, outcome.name);
    await writeSimulationOutputs(sub, outcome.result, outcome.summary);
    const rejected = rejectionLines(outcome);
    if (rejected.length > 0) await writeFileAtomic(join(sub, 'rejected.log'), [rejected.join('\n') + '\n']);
  }
  await writeFileAtomic(join(dir, COMPARE_CSV), [renderCompareCsv(outcomes)]);
}
