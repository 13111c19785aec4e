// The usage report (GET /v1/usage, `arbiter usage`; like Slurm's sreport): GPU-hours per team,
// leaf and parents, against guarantee-hours, per day or week of a period, with waits and
// preemptions. Pure: the route reads the runs (Store.runsOverlapping) and the policy and passes
// them in with the clock.
//
// Contracts:
// - A run counts for the part of it inside [from, to): GPU-hours = GPUs held (its placement)
//   x hours of overlap; an open run counts up to `now` (or `to`, whichever comes first).
// - Leaf teams own runs (a team no longer in the policy is a top-level row of its own); a parent's figures are the sums of its children's. So the top-level
//   teams add up to the fleet's busy GPU-hours of the period, and so do the leaves.
// - Guarantee-hours = the team's guarantee (GPUs, all flavors) x hours of the bucket, under the
//   policy in force now (a policy changed during the period is not replayed).
// - Waits: jobs whose first run started in the period, from submission to that start.
// - Preemptions: runs that ended `preempted` in the period.
// - Reclaims: runs started in the period by reclaiming borrowed GPUs (a run of another team was
//   preempted for them, cause `reclaim`), with how long their job had waited for them (since its
//   submission or the end of its previous run): the time a team waited to get its guarantee back.
import type { PeriodRun } from '../storage/port.js';

export type UsageBucket = 'day' | 'week';

/** The team tree as the report needs it: guarantees in GPUs, all flavors together. */
export interface UsageTeam {
  readonly name: string;
  readonly guarantee: number;
  readonly children: readonly UsageTeam[];
}

export interface TeamUsage {
  readonly team: string;
  readonly parent: string | null;
  readonly depth: number;
  readonly leaf: boolean;
  /** GPUs guaranteed (all flavors). */
  readonly guarantee: number;
  readonly gpuHours: number;
  readonly guaranteeHours: number;
  /** One entry per bucket, in order. */
  readonly buckets: readonly { readonly gpuHours: number; readonly guaranteeHours: number }[];
  /** Wait from submission to first start, seconds, of the jobs first started in the period. */
  readonly wait: { readonly jobs: number; readonly p50: number | null; readonly p95: number | null };
  readonly preemptions: number;
  /** Runs started in the period by a reclaim, and how long their jobs had waited (seconds). */
  readonly reclaims: { readonly runs: number; readonly p50: number | null; readonly p95: number | null; readonly max: number | null };
}

export interface UsageReport {
  readonly from: number;
  readonly to: number;
  readonly by: UsageBucket;
  /** [start, end) of each bucket, clipped to the period. */
  readonly buckets: readonly { readonly start: number; readonly end: number }[];
  readonly fleetGpus: number;
  /** GPU-hours the fleet could give in the period (fleetGpus x hours). */
  readonly capacityGpuHours: number;
  /** GPU-hours held by runs in the period: what the top-level teams (and the leaves) add up to. */
  readonly busyGpuHours: number;
  /** Depth-first, parents before their children, in policy order. */
  readonly teams: readonly TeamUsage[];
}

const DAY = 86_400;

/**
 * Bucket boundaries: UTC midnights (day) or UTC Monday midnights (week), clipped to [from, to).
 * 1970-01-01 was a Thursday, so Mondays are 4 days after multiples of 7 days from the epoch.
 */
export function bucketsOf(from: number, to: number, by: UsageBucket): { start: number; end: number }[] {
  const size = by === 'day' ? DAY : 7 * DAY;
  const offset = by === 'day' ? 0 : 4 * DAY;
  const out: { start: number; end: number }[] = [];
  let start = from;
  while (start < to) {
    const next = Math.floor((start - offset) / size) * size + offset + size;
    const end = Math.min(next, to);
    out.push({ start, end });
    start = end;
  }
  return out;
}

/** Nearest-rank percentile of sorted values (p in (0, 1]); null for none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

export function usageReport(input: {
  readonly from: number;
  readonly to: number;
  readonly by: UsageBucket;
  readonly now: number;
  readonly teams: readonly UsageTeam[];
  readonly fleetGpus: number;
  readonly runs: readonly PeriodRun[];
}): UsageReport {
  const { from, to, by, now } = input;
  const buckets = bucketsOf(from, to, by);
  const leafHours = new Map<string, number[]>();
  const waits = new Map<string, number[]>();
  const preempted = new Map<string, number>();
  const reclaimWaits = new Map<string, number[]>();
  let busy = 0;
  for (const run of input.runs) {
    const gpus = run.placement.reduce((sum, p) => sum + p.gpus, 0);
    const start = Math.max(run.start, from);
    const end = Math.min(run.end ?? now, to);
    if (end > start) {
      let hours = leafHours.get(run.team);
      if (!hours) leafHours.set(run.team, (hours = buckets.map(() => 0)));
      for (const [i, b] of buckets.entries()) {
        const overlap = Math.min(end, b.end) - Math.max(start, b.start);
        if (overlap > 0) {
          hours[i]! += (gpus * overlap) / 3600;
          busy += (gpus * overlap) / 3600;
        }
      }
    }
    if (run.jobStartedAt === run.start && run.start >= from && run.start < to) {
      let list = waits.get(run.team);
      if (!list) waits.set(run.team, (list = []));
      list.push(Math.max(0, run.start - run.submittedAt));
    }
    if (run.outcome === 'preempted' && run.end !== null && run.end >= from && run.end < to) {
      preempted.set(run.team, (preempted.get(run.team) ?? 0) + 1);
    }
    if (run.reclaimWait != null && run.start >= from && run.start < to) {
      let list = reclaimWaits.get(run.team);
      if (!list) reclaimWaits.set(run.team, (list = []));
      list.push(Math.max(0, run.reclaimWait));
    }
  }

  const rows: TeamUsage[] = [];
  // Returns the subtree's per-bucket hours, waits and preemptions, and pushes its rows.
  const walk = (team: UsageTeam, parent: string | null, depth: number): { hours: number[]; waits: number[]; preemptions: number; reclaims: number[] } => {
    const at = rows.length;
    let hours: number[];
    let allWaits: number[];
    let preemptions: number;
    let reclaims: number[];
    if (team.children.length === 0) {
      hours = leafHours.get(team.name) ?? buckets.map(() => 0);
      allWaits = waits.get(team.name) ?? [];
      preemptions = preempted.get(team.name) ?? 0;
      reclaims = reclaimWaits.get(team.name) ?? [];
    } else {
      rows.push(undefined as unknown as TeamUsage); // its place, before its children
      hours = buckets.map(() => 0);
      allWaits = [];
      preemptions = 0;
      reclaims = [];
      for (const child of team.children) {
        const sub = walk(child, team.name, depth + 1);
        sub.hours.forEach((h, i) => (hours[i]! += h));
        allWaits.push(...sub.waits);
        preemptions += sub.preemptions;
        reclaims.push(...sub.reclaims);
      }
    }
    const sorted = [...allWaits].sort((a, b) => a - b);
    const sortedReclaims = [...reclaims].sort((a, b) => a - b);
    const row: TeamUsage = {
      team: team.name,
      parent,
      depth,
      leaf: team.children.length === 0,
      guarantee: team.guarantee,
      gpuHours: hours.reduce((a, b) => a + b, 0),
      guaranteeHours: (team.guarantee * (to - from)) / 3600,
      buckets: buckets.map((b, i) => ({ gpuHours: hours[i]!, guaranteeHours: (team.guarantee * (b.end - b.start)) / 3600 })),
      wait: { jobs: sorted.length, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95) },
      preemptions,
      reclaims: { runs: sortedReclaims.length, p50: percentile(sortedReclaims, 0.5), p95: percentile(sortedReclaims, 0.95), max: sortedReclaims.at(-1) ?? null },
    };
    if (team.children.length === 0) rows.push(row);
    else rows[at] = row;
    return { hours, waits: allWaits, preemptions, reclaims };
  };
  for (const team of input.teams) walk(team, null, 0);
  // Teams that ran in the period but are no longer in the policy: top-level rows with no
  // guarantee, so that the totals still add up to the busy GPU-hours.
  const known = new Set(rows.map((r) => r.team));
  const gone = [...new Set([...leafHours.keys(), ...waits.keys(), ...preempted.keys(), ...reclaimWaits.keys()])].filter((t) => !known.has(t)).sort();
  for (const name of gone) walk({ name, guarantee: 0, children: [] }, null, 0);

  return {
    from,
    to,
    by,
    buckets,
    fleetGpus: input.fleetGpus,
    capacityGpuHours: (input.fleetGpus * (to - from)) / 3600,
    busyGpuHours: busy,
    teams: rows,
  };
}
