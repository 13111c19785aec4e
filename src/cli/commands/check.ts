// `arbiter check --cluster FILE --policy FILE [--trace FILE] [--trace-format F]` (docs/cli.md):
// validates the inputs and prints a short description of what it read; bad input exits 2.
import type { Command } from 'commander';
import { addTraceOptions } from './trace-import.js';
import { flavorCapacity } from '../../core/config/cluster.js';
import { allTeams, leafTeams, leavesUnder } from '../../core/config/policy.js';
import type { Flavor, Fleet, JobSpec, Policy, Quota, TeamSpec } from '../../core/model.js';
import { TRACE_FORMATS } from '../../traces/index.js';
import { loadInputs, type InputOptions } from '../inputs.js';

/** Adds `check` to the program. */
export function registerCheck(program: Command): void {
  addTraceOptions(program.command('check'))
    .description('validate a fleet, a policy and (optionally) a trace, and describe what they hold')
    .option('--cluster <file>', 'the fleet, cluster.yaml (required, no default)')
    .option('--policy <file>', 'the allocation policy, policy.yaml (required, no default)')
    .option('--trace <file>', 'a workload trace to check against them (default: none)')
    .option(
      '--trace-format <format>',
      `format of --trace: canonical or ${TRACE_FORMATS.join(', ')}`,
      'canonical',
    )
    .action((options: InputOptions) => {
      const { fleet, policy, jobs } = loadInputs(options);
      const lines = [
        ...describeFleet(fleet, options.cluster ?? ''),
        ...describePolicy(policy, fleet, options.policy ?? ''),
      ];
      if (jobs) lines.push(...describeJobs(jobs, policy, options.trace ?? ''));
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? '' : 's'}`;

/** `h100:256 a100:8`, or `-` for an empty quota. */
const quotaText = (quota: Quota): string =>
  Object.entries(quota)
    .map(([flavor, gpus]) => `${flavor}:${gpus}`)
    .join(' ') || '-';

/** Seconds in the largest unit that divides them: 604800 -> `7d`, 90 -> `90s`. */
function durationText(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds > 0 && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

function describeFleet(fleet: Fleet, file: string): string[] {
  const capacity = flavorCapacity(fleet);
  const total = [...capacity.values()].reduce((sum, gpus) => sum + gpus, 0);
  const nodes = fleet.pools.reduce((sum, pool) => sum + pool.nodes, 0);
  const lines = [
    `fleet (${file}): ${plural(total, 'GPU')} of ${plural(capacity.size, 'flavor')}, ${plural(fleet.pools.length, 'pool')}, ${plural(nodes, 'node')}`,
  ];
  for (const [flavor, gpus] of capacity) {
    const pools = fleet.pools.filter((pool) => pool.flavor === flavor);
    const poolText = pools.map((pool) => `${pool.name} ${pool.nodes}x${pool.gpusPerNode}`).join(', ');
    lines.push(`  ${flavor}: ${plural(gpus, 'GPU')} (${poolText})`);
  }
  return lines;
}

function describePolicy(policy: Policy, fleet: Fleet, file: string): string[] {
  const teams = allTeams(policy);
  const lines = [`policy (${file}): ${plural(teams.size, 'team')}, ${leafTeams(policy).size} of them leaves`];
  const rows: [string, string][] = [];
  const visit = (team: TeamSpec, depth: number): void => {
    // Lendable is shown only where it differs from the guarantee (its default).
    const lendable = Object.fromEntries(
      Object.entries(team.lendable).filter(([f, gpus]) => gpus !== (team.guarantee[f] ?? 0)),
    );
    const parts = [`guarantee ${quotaText(team.guarantee)}`];
    if (Object.keys(team.limit).length > 0) parts.push(`limit ${quotaText(team.limit)}`);
    if (Object.keys(lendable).length > 0) parts.push(`lendable ${quotaText(lendable)}`);
    if (team.weight !== 1) parts.push(`weight ${team.weight}`);
    rows.push([`${'  '.repeat(depth)}${team.name}`, parts.join('  ')]);
    for (const child of team.children) visit(child, depth + 1);
  };
  for (const team of policy.teams) visit(team, 0);
  const width = Math.max(...rows.map(([name]) => name.length));
  for (const [name, quotas] of rows) lines.push(`  ${name.padEnd(width)}  ${quotas}`);

  const guaranteed = new Map<Flavor, number>();
  for (const team of policy.teams) {
    for (const [flavor, gpus] of Object.entries(team.guarantee))
      guaranteed.set(flavor, (guaranteed.get(flavor) ?? 0) + gpus);
  }
  const free = [...flavorCapacity(fleet)].map(
    ([flavor, gpus]) => `${flavor}:${gpus - (guaranteed.get(flavor) ?? 0)}`,
  );
  lines.push(`  not guaranteed to any team (free pool): ${free.join(' ')}`);

  const classes = policy.priorityClasses.map((c) => {
    const notes = [
      c.preemptible ? '' : 'not preemptible',
      c.name === policy.defaultClass ? 'default' : '',
    ].filter(Boolean);
    return `${c.name} ${c.priority}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
  });
  lines.push(`  priority classes: ${classes.join(', ')}`);
  const p = policy.preemption;
  lines.push(
    `  within a team: ${policy.scheduling.withinTeam}; fair-share half-life ${durationText(policy.fairShare.halfLife)}; ` +
      `preemption: minRuntime ${durationText(p.minRuntime)}, restartOverhead ${durationText(p.restartOverhead)}, ` +
      `checkpointInterval ${durationText(p.checkpointInterval)}, withinTeam ${p.withinTeam}, borrowing ${p.borrowing}, fairShare ${p.fairShare}`,
  );
  return lines;
}

/** Buckets of GPUs per job: 1, 2, 3-4, 5-8, 9-16, ... (powers of two). */
function gpuBucket(gpus: number): [number, number] {
  let high = 1;
  while (high < gpus) high *= 2;
  return [high <= 2 ? high : high / 2 + 1, high];
}

function describeJobs(jobs: readonly JobSpec[], policy: Policy, file: string): string[] {
  const lines = [`trace (${file}): ${plural(jobs.length, 'job')}`];
  if (jobs.length === 0) return lines;
  // A loop, not Math.min(...submits): a spread of 100,000 arguments can overflow the stack.
  let first = Infinity;
  let last = -Infinity;
  for (const job of jobs) {
    first = Math.min(first, job.submit);
    last = Math.max(last, job.submit);
  }
  lines[0] += `, submitted from ${first} s to ${last} s (${((last - first) / 86_400).toFixed(1)} days)`;

  const buckets = new Map<number, { label: string; count: number }>();
  for (const job of jobs) {
    const [low, high] = gpuBucket(job.gpus);
    const bucket = buckets.get(high) ?? { label: low === high ? `${high}` : `${low}-${high}`, count: 0 };
    bucket.count++;
    buckets.set(high, bucket);
  }
  const histogram = [...buckets]
    .sort(([a], [b]) => a - b)
    .map(([, { label, count }]) => `${label}: ${count}`);
  lines.push(`  GPUs per job: ${histogram.join(', ')}`);

  const topOf = new Map<string, string>();
  for (const team of policy.teams) for (const leaf of leavesUnder(team)) topOf.set(leaf, team.name);
  const perTeam = new Map(policy.teams.map((team) => [team.name, 0]));
  for (const job of jobs) {
    const top = topOf.get(job.team) ?? job.team;
    perTeam.set(top, (perTeam.get(top) ?? 0) + 1);
  }
  lines.push(
    `  jobs per top-level team: ${[...perTeam].map(([team, count]) => `${team} ${count}`).join(', ')}`,
  );
  return lines;
}
