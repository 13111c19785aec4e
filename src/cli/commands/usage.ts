// `arbiter usage`: the usage report of a period from a running server (GET /v1/usage), like
// Slurm's sreport: GPU-hours per team against guarantee-hours, per day or week, waits,
// preemptions and reclaims (how long a team waited to get borrowed GPUs of its guarantee back). A table by default, --csv (one row per team and bucket, then a `total` row per team)
// or --json (the API's answer).
import Table from 'cli-table3';
import type { Command } from 'commander';
import type { z } from 'zod';
import { humanDuration } from '../../sim/summary-table.js';
import { csvField } from '../../sim/outputs.js';
import type { UsageView } from '../../server/usage-view.js';
import { UsageError } from '../errors.js';
import { call, out, TABLE_STYLE, withConnection, type Connection } from './client.js';

/** The API's answer (its schema, so the two cannot drift apart). */
type Usage = z.infer<typeof UsageView>;

/** Buckets shown as columns of the table at most; more are in --csv and --json. */
const MAX_BUCKET_COLUMNS = 8;

const hours = (h: number): string => (h >= 100 ? h.toFixed(0) : h.toFixed(1));
const round = (h: number): string => String(Math.round(h * 1000) / 1000);
const wait = (s: number | null): string => (s === null ? '-' : humanDuration(s));

export function usageCsv(u: Usage): string {
  const lines = ['team,parent,leaf,row,period_start,period_end,gpu_hours,guarantee_hours,waited_jobs,wait_p50_s,wait_p95_s,preemptions,reclaims,reclaim_p50_s,reclaim_p95_s'];
  for (const t of u.teams) {
    const lead = `${csvField(t.team)},${csvField(t.parent ?? '')},${t.leaf}`;
    t.buckets.forEach((b, i) => lines.push(`${lead},${u.by},${u.buckets[i]!.start},${u.buckets[i]!.end},${round(b.gpuHours)},${round(b.guaranteeHours)},,,,,,,`));
    lines.push(`${lead},total,${u.from},${u.to},${round(t.gpuHours)},${round(t.guaranteeHours)},${t.wait.jobs},${t.wait.p50 ?? ''},${t.wait.p95 ?? ''},${t.preemptions},${t.reclaims.runs},${t.reclaims.p50 ?? ''},${t.reclaims.p95 ?? ''}`);
  }
  return `${lines.join('\n')}\n`;
}

export function usageTable(u: Usage): string {
  const shown = u.buckets.length <= MAX_BUCKET_COLUMNS ? u.buckets : [];
  const label = (start: string) => (u.by === 'day' ? start.slice(5, 10) : `wk ${start.slice(5, 10)}`);
  const table = new Table({
    head: ['team', 'guar. GPUs', 'GPU-h', 'guar. GPU-h', '% of guar.', ...shown.map((b) => label(b.start)), 'wait p50', 'wait p95', 'preempted', 'reclaims', 'reclaim p95'],
    ...TABLE_STYLE,
  });
  for (const t of u.teams) {
    table.push([
      `${'  '.repeat(t.depth)}${t.team}`,
      t.guarantee,
      hours(t.gpuHours),
      hours(t.guaranteeHours),
      t.guaranteeHours > 0 ? `${Math.round((100 * t.gpuHours) / t.guaranteeHours)}%` : '-',
      ...shown.map((_, i) => hours(t.buckets[i]!.gpuHours)),
      wait(t.wait.p50),
      wait(t.wait.p95),
      t.preemptions,
      t.reclaims.runs,
      wait(t.reclaims.p95),
    ]);
  }
  const lines = [
    `usage from ${u.from} to ${u.to}, by ${u.by} (UTC); guarantees of policy version ${u.policyVersion}`,
    table.toString(),
    `fleet: ${hours(u.busyGpuHours)} GPU-h busy of ${hours(u.capacityGpuHours)} (${u.fleetGpus} GPUs${u.capacityGpuHours > 0 ? `, ${Math.round((100 * u.busyGpuHours) / u.capacityGpuHours)}%` : ''}); top-level teams add up to it`,
  ];
  if (shown.length === 0 && u.buckets.length > 0) lines.push(`(${u.buckets.length} ${u.by}s: per-${u.by} figures with --csv or --json, or --by week)`);
  return lines.join('\n');
}

export function registerUsage(program: Command): void {
  withConnection(
    program
      .command('usage')
      .description('usage report of a period: GPU-hours per team against guarantee-hours, per day or week, waits, preemptions and reclaims')
      .requiredOption('--from <time>', 'start of the period: a UTC date (2026-11-30) or an ISO 8601 date-time with Z or an offset')
      .option('--to <time>', 'end of the period, excluded, in the same forms (default: now)')
      .option('--by <bucket>', 'day or week (UTC; weeks start on Monday)', 'day')
      .option('--team <team>', 'only this team and the teams below it (default: all)')
      .option('--csv', 'print CSV: one row per team and bucket, then the period total of each team (with waits, preemptions and reclaims)')
      .addHelpText(
        'after',
        `
Runs count for the part of them inside the period (an open run up to now); a parent's figures
are the sums of its children's, so the top-level teams add up to the fleet's busy GPU-hours.
Guarantee-hours are the team's guarantee (GPUs, all flavors) x the hours, under the policy in
force now. Waits: jobs first started in the period, from submission to that start.`,
      ),
  ).action(async (flags: Connection & { from: string; to?: string; by: string; team?: string; csv?: boolean }) => {
    if (flags.csv && flags.json) throw new UsageError(['--csv and --json: choose one']);
    if (flags.by !== 'day' && flags.by !== 'week') throw new UsageError([`--by: "${flags.by}" is not day or week`]);
    const query = new URLSearchParams({ from: flags.from, to: flags.to ?? new Date().toISOString(), by: flags.by });
    if (flags.team) query.set('team', flags.team);
    const report = (await call(flags, 'GET', `/v1/usage?${query.toString()}`)) as Usage;
    if (flags.json) return out(JSON.stringify(report, null, 2));
    out(flags.csv ? usageCsv(report) : usageTable(report));
  });
}
