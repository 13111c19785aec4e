// The compact time series behind report.html, computed from a SimulationResult (pure).
//
// Every time series shares one grid: B equal buckets over [t0, t1] (t0 = first submit, t1 = the
// horizon, else the last end), B <= maxPoints (default 2,000). A bucket's value is the
// TIME-WEIGHTED AVERAGE of the step function over the bucket, not its maximum: averages of the
// per-team bands still add up to the fleet's average use (a stacked chart of per-bucket maxima
// could exceed the fleet), and GPU-hours under each curve stay exact.
// Example: a 4-GPU run over [15, 20) in the bucket [10, 20) contributes 4 x 5 / 10 = 2 GPUs.
//
// Cost: O(jobs + runs + B x series) and no sort of events. Each interval adds its two partial
// edge buckets directly and its whole buckets to a difference array, so a run spanning the whole
// trace costs the same as a short one. 1,000,000 jobs (1.2M runs) take about one second, most of
// it reading the job objects and sorting the waits and JCTs.
import type { TeamSpec } from '../../core/model.js';
import { fleetGpus, percentile } from '../metrics.js';
import type { SimulationResult } from '../types.js';

export interface SeriesOptions {
  /** Most buckets per time series (default 2,000). */
  readonly maxPoints?: number;
  /** Most points of the JCT CDF (default 1,000). */
  readonly maxCdfPoints?: number;
}

/** Quantiles (nearest rank, as in summary.json) of the waits of the jobs that started. */
export interface WaitStats {
  readonly team: string;
  /** Jobs that started. All quantiles are 0 when n is 0. */
  readonly n: number;
  readonly p10: number;
  readonly p25: number;
  readonly p50: number;
  readonly p75: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface TeamHeld {
  /** A top-level team of the policy, or a team the policy does not know (it stands for itself). */
  readonly name: string;
  /** Sum over flavors of the team's guarantee, in GPUs (0 for a team the policy does not know). */
  readonly guarantee: number;
  /** Average GPUs held per bucket (runs of jobs of its subtree). */
  readonly held: Float64Array;
}

export interface ReportSeries {
  /** Start of bucket 0: the first submit (0 for an empty trace). */
  readonly t0: number;
  /** End of the last bucket: the horizon, else the last end of a run or job. */
  readonly t1: number;
  /** Bucket width in seconds: (t1 - t0) / buckets. */
  readonly dt: number;
  readonly buckets: number;
  readonly fleetGpus: number;
  /** Top-level teams in policy order, then unknown teams in order of first appearance. */
  readonly teams: readonly TeamHeld[];
  /**
   * Leaf teams, depth-first in policy order (a top-level team without children is one), each
   * with its own guarantee and its parent; then unknown teams (parent null). They add up to `teams`.
   */
  readonly leaves: readonly (TeamHeld & { readonly parent: string | null })[];
  /** Average number of pending jobs per bucket: submit -> first start, preempted -> restarted, and until t1 when never (re)started. */
  readonly queue: Float64Array;
  /** Average GPUs held / fleet GPUs per bucket, in 0..1. */
  readonly utilization: Float64Array;
  /** JCT (end - submit) of the jobs that ended by themselves (completed, timed_out), as in summary.json. */
  readonly jctCdf: {
    /** Ascending JCTs in seconds, at most maxCdfPoints of them (always the min and the max). */
    readonly jct: Float64Array;
    /** Fraction of the n jobs with a JCT <= jct[i]. */
    readonly p: Float64Array;
    readonly n: number;
  };
  /** Per top-level team (same order as `teams`). */
  readonly waits: readonly WaitStats[];
  /** Over all jobs that started. */
  readonly allWaits: WaitStats;
}

const DEFAULT_MAX_POINTS = 2000;
const DEFAULT_MAX_CDF_POINTS = 1000;

/** Accumulates weighted intervals into bucket averages (see the file comment). */
class BucketAccumulator {
  private readonly diff: Float64Array;
  private readonly partial: Float64Array;

  constructor(
    private readonly t0: number,
    private readonly t1: number,
    private readonly dt: number,
    private readonly buckets: number,
  ) {
    this.diff = new Float64Array(buckets + 1);
    this.partial = new Float64Array(buckets);
  }

  /** Adds `weight` over [a, b), clipped to [t0, t1]. */
  add(a: number, b: number, weight: number): void {
    const from = a < this.t0 ? this.t0 : a;
    const to = b > this.t1 ? this.t1 : b;
    if (!(to > from)) return;
    const last = this.buckets - 1;
    const ia = Math.min(last, Math.floor((from - this.t0) / this.dt));
    const ib = Math.min(last, Math.floor((to - this.t0) / this.dt));
    if (ia === ib) {
      this.partial[ia]! += weight * (to - from);
      return;
    }
    this.partial[ia]! += weight * (this.t0 + (ia + 1) * this.dt - from);
    this.partial[ib]! += weight * (to - (this.t0 + ib * this.dt));
    this.diff[ia + 1]! += weight;
    this.diff[ib]! -= weight;
  }

  /** Adds `weight` from `a` to t1 (a level change that lasts): one partial bucket, then the difference array. */
  addFrom(a: number, weight: number): void {
    if (a >= this.t1) return;
    if (a <= this.t0) {
      this.diff[0]! += weight;
      return;
    }
    const ia = Math.min(this.buckets - 1, Math.floor((a - this.t0) / this.dt));
    this.partial[ia]! += weight * (this.t0 + (ia + 1) * this.dt - a);
    this.diff[ia + 1]! += weight;
  }

  /** Bucket averages: the whole-bucket level plus the partial weight-seconds spread over the bucket. */
  values(): Float64Array {
    const out = new Float64Array(this.buckets);
    let level = 0;
    for (let k = 0; k < this.buckets; k++) {
      level += this.diff[k]!;
      const v = level + this.partial[k]! / this.dt;
      // Sums of +w and -w can leave 1e-15 residues; a level is never negative.
      out[k] = Math.abs(v) < 1e-9 ? 0 : v;
    }
    return out;
  }
}

/** The time series and distributions of one simulation; see ReportSeries. */
export function computeSeries(result: SimulationResult, opts: SeriesOptions = {}): ReportSeries {
  const maxPoints = Math.max(1, Math.floor(opts.maxPoints ?? DEFAULT_MAX_POINTS));
  const maxCdfPoints = Math.max(2, Math.floor(opts.maxCdfPoints ?? DEFAULT_MAX_CDF_POINTS));
  const { jobs, runs } = result;
  const n = jobs.length;

  // Top-level team of every job, as an index into `tops`.
  const topIndexOfTeam = new Map<string, number>();
  const tops: { name: string; guarantee: number }[] = [];
  const seen = new Set<string>();
  const walk = (team: TeamSpec, top: number): void => {
    if (seen.has(team.name)) return; // names are unique in a valid policy
    seen.add(team.name);
    topIndexOfTeam.set(team.name, top);
    for (const child of team.children) walk(child, top);
  };
  for (const top of result.policy.teams) {
    if (seen.has(top.name)) continue;
    let guarantee = 0;
    for (const gpus of Object.values(top.guarantee)) guarantee += gpus;
    tops.push({ name: top.name, guarantee });
    walk(top, tops.length - 1);
  }
  // Leaf team of every job, as an index into `leaves` (the team itself when it has no children).
  const leafIndexOfTeam = new Map<string, number>();
  const leafTeams: { name: string; guarantee: number; parent: string | null }[] = [];
  const walkLeaves = (team: TeamSpec, parent: string | null): void => {
    if (team.children.length === 0) {
      if (leafIndexOfTeam.has(team.name)) return;
      let guarantee = 0;
      for (const gpus of Object.values(team.guarantee)) guarantee += gpus;
      leafIndexOfTeam.set(team.name, leafTeams.length);
      leafTeams.push({ name: team.name, guarantee, parent });
    }
    for (const child of team.children) walkLeaves(child, team.name);
  };
  for (const top of result.policy.teams) walkLeaves(top, null);
  const leafOf = new Int32Array(n);
  const topOf = new Int32Array(n);
  let t0 = Infinity;
  let t1 = -Infinity;
  for (let i = 0; i < n; i++) {
    const job = jobs[i]!;
    let top = topIndexOfTeam.get(job.spec.team);
    if (top === undefined) {
      top = tops.length;
      tops.push({ name: job.spec.team, guarantee: 0 });
      topIndexOfTeam.set(job.spec.team, top);
    }
    topOf[i] = top;
    let leaf = leafIndexOfTeam.get(job.spec.team);
    if (leaf === undefined) {
      leaf = leafTeams.length;
      leafTeams.push({ name: job.spec.team, guarantee: 0, parent: null });
      leafIndexOfTeam.set(job.spec.team, leaf);
    }
    leafOf[i] = leaf;
    if (job.spec.submit < t0) t0 = job.spec.submit;
    if (job.end !== null && job.end > t1) t1 = job.end;
  }
  for (const r of runs) if (r.end > t1) t1 = r.end;
  if (t0 === Infinity) t0 = 0;
  if (result.horizon !== null) t1 = result.horizon;
  if (!(t1 > t0)) t1 = t0 + 1; // an empty or instantaneous trace still gets a one-second axis
  const buckets = Math.min(maxPoints, Math.max(1, Math.ceil(t1 - t0)));
  const dt = (t1 - t0) / buckets;

  // GPUs held per top-level team, and the queue: +1 at submit, -1 at every run start, +1 at the
  // end of a preempted run. A job never (re)started stays pending until t1.
  const held = tops.map(() => new BucketAccumulator(t0, t1, dt, buckets));
  const leafHeld = leafTeams.map(() => new BucketAccumulator(t0, t1, dt, buckets));
  const queue = new BucketAccumulator(t0, t1, dt, buckets);
  for (const r of runs) {
    held[topOf[r.job]!]!.add(r.start, r.end, r.gpus);
    leafHeld[leafOf[r.job]!]!.add(r.start, r.end, r.gpus);
    queue.addFrom(r.start, -1);
    if (r.outcome === 'preempted') queue.addFrom(r.end, 1);
  }
  for (let i = 0; i < n; i++) {
    const job = jobs[i]!;
    if (job.status !== 'rejected') queue.addFrom(job.spec.submit, 1);
  }
  const teams: TeamHeld[] = tops.map((t, k) => ({ ...t, held: held[k]!.values() }));
  const leaves = leafTeams.map((t, k) => ({ ...t, held: leafHeld[k]!.values() }));
  const fleet = fleetGpus(result.fleet);
  const utilization = new Float64Array(buckets);
  if (fleet > 0) {
    for (const t of teams) for (let k = 0; k < buckets; k++) utilization[k]! += t.held[k]!;
    for (let k = 0; k < buckets; k++) utilization[k] = utilization[k]! / fleet;
  }

  // JCTs of the jobs that ended by themselves; waits grouped by top-level team (counting sort).
  const jcts = new Float64Array(n);
  let nJct = 0;
  const waitCount = new Int32Array(tops.length + 1);
  for (let i = 0; i < n; i++) {
    const job = jobs[i]!;
    if ((job.status === 'completed' || job.status === 'timed_out') && job.end !== null) {
      jcts[nJct++] = job.end - job.spec.submit;
    }
    if (job.start !== null) waitCount[topOf[i]! + 1]!++;
  }
  for (let k = 1; k <= tops.length; k++) waitCount[k]! += waitCount[k - 1]!;
  const nWait = waitCount[tops.length]!;
  const waits = new Float64Array(nWait);
  const fill = waitCount.slice(0, tops.length);
  for (let i = 0; i < n; i++) {
    const job = jobs[i]!;
    if (job.start !== null) waits[fill[topOf[i]!]!++] = job.start - job.spec.submit;
  }
  const teamWaits = tops.map((t, k) => waitStats(t.name, waits.subarray(waitCount[k], waitCount[k + 1]).sort()));
  const allWaits = waitStats('all teams', waits.sort());

  return {
    t0,
    t1,
    dt,
    buckets,
    fleetGpus: fleet,
    teams,
    leaves,
    queue: queue.values(),
    utilization,
    jctCdf: cdf(jcts.subarray(0, nJct).sort(), maxCdfPoints),
    waits: teamWaits,
    allWaits,
  };
}

/** Quantiles of ascending `sorted`. */
function waitStats(team: string, sorted: Float64Array): WaitStats {
  return {
    team,
    n: sorted.length,
    p10: percentile(sorted, 10),
    p25: percentile(sorted, 25),
    p50: percentile(sorted, 50),
    p75: percentile(sorted, 75),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? 0 : sorted[sorted.length - 1]!,
  };
}

/**
 * Empirical CDF of ascending `sorted`: every point when there are at most `maxPoints`, else points
 * at evenly spaced ranks i = round(k (n-1) / (maxPoints-1)), k = 0..maxPoints-1 (first and last kept).
 * Example: n = 3 -> jct = sorted, p = [1/3, 2/3, 1].
 */
function cdf(sorted: Float64Array, maxPoints: number): ReportSeries['jctCdf'] {
  const n = sorted.length;
  const m = Math.min(n, maxPoints);
  const jct = new Float64Array(m);
  const p = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const i = m === n ? k : Math.round((k * (n - 1)) / (m - 1));
    jct[k] = sorted[i]!;
    p[k] = (i + 1) / n;
  }
  return { jct, p, n };
}
