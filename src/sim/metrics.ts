// summary.json (docs/formats.md, "Simulation outputs"): the documented keys first, in the
// documented order, with the documented meaning; extras after them. One pass over the jobs and
// one over the runs, so a 1,000,000-job result costs a few sorts of Float64Arrays.
import type { Fleet, TeamSpec } from '../core/model.js';
import { roundTo } from './format.js';
import type { SimulationResult } from './types.js';

/** Per-team figures. Seconds rounded to 3 decimals. */
export interface TeamSummary {
  // Documented (formats.md).
  readonly jobs: number;
  readonly avgJct: number;
  readonly avgWait: number;
  readonly gpuSeconds: number;
  // Extras.
  readonly completed: number;
  readonly p99Wait: number;
  readonly preemptions: number;
}

/** The summary.json object. Seconds rounded to 3 decimals, fractions (utilization) to 6. */
export interface Summary {
  // Documented (formats.md), in its order.
  readonly jobs: number;
  /** Jobs with status `completed` (timed-out jobs are counted in `timedOut`). */
  readonly completed: number;
  readonly rejected: number;
  readonly avgJct: number;
  readonly p50Jct: number;
  readonly p95Jct: number;
  readonly p99Jct: number;
  readonly avgWait: number;
  readonly p99Wait: number;
  readonly makespan: number;
  readonly utilization: number;
  readonly preemptions: number;
  readonly lostGpuSeconds: number;
  /** Every team that has jobs (leaf teams: jobs are submitted to leaves), in policy-tree order. */
  readonly teams: Readonly<Record<string, TeamSummary>>;
  // Extras.
  readonly timedOut: number;
  readonly running: number;
  readonly pending: number;
  readonly p50Wait: number;
  readonly p95Wait: number;
  /** GPU-seconds received by the measured jobs over all their runs. */
  readonly gpuSeconds: number;
  readonly fleetGpus: number;
  /** Same figures per top-level team, aggregating its subtree; top-level teams that have jobs, in policy order. */
  readonly topTeams: Readonly<Record<string, TeamSummary>>;
}

export interface SummarizeOptions {
  /**
   * Restrict job metrics to trace positions from..to inclusive, 0-based (for example to drop
   * warm-up and cool-down jobs). `to` past the end of the trace is clamped to the last job.
   */
  readonly measureJobs?: readonly [from: number, to: number];
}

/** Sum over pools of nodes x gpusPerNode. */
export function fleetGpus(fleet: Fleet): number {
  let gpus = 0;
  for (const pool of fleet.pools) gpus += pool.nodes * pool.gpusPerNode;
  return gpus;
}

/**
 * Nearest-rank percentile of ascending `sorted`: the value at 1-based rank ceil(p/100 * n); 0 when empty.
 * Example: n = 20, p = 95 -> rank ceil(19) = 19 -> sorted[18]. Computed as ceil(p*n/100) so that
 * p*n stays an exact integer (0.07*100 is 7.000000000000001 in floating point, 7*100/100 is 7).
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const rank = Math.min(n, Math.max(1, Math.ceil((p * n) / 100)));
  return sorted[rank - 1] as number;
}

/** Running totals for one team (or the whole trace). */
class Acc {
  jobs = 0;
  completed = 0;
  jctSum = 0;
  jctCount = 0;
  waitSum = 0;
  readonly waits: number[] = [];
  gpuSeconds = 0;
  preemptions = 0;

  merge(other: Acc): void {
    this.jobs += other.jobs;
    this.completed += other.completed;
    this.jctSum += other.jctSum;
    this.jctCount += other.jctCount;
    this.waitSum += other.waitSum;
    for (const w of other.waits) this.waits.push(w);
    this.gpuSeconds += other.gpuSeconds;
    this.preemptions += other.preemptions;
  }

  toSummary(): TeamSummary {
    const waits = Float64Array.from(this.waits).sort();
    return {
      jobs: this.jobs,
      avgJct: seconds(mean(this.jctSum, this.jctCount)),
      avgWait: seconds(mean(this.waitSum, waits.length)),
      gpuSeconds: seconds(this.gpuSeconds),
      completed: this.completed,
      p99Wait: seconds(percentile(waits, 99)),
      preemptions: this.preemptions,
    };
  }
}

const seconds = (x: number): number => roundTo(x, 3);
const mean = (sum: number, count: number): number => (count === 0 ? 0 : sum / count);

/**
 * Metric definitions:
 * - JCT (avg, percentiles) is over jobs that ended by themselves: status `completed` AND `timed_out`
 *   (both ended; a timed-out job's JCT is as real as a completed one's). Jobs cut by the horizon
 *   (`running`) are excluded. `jct = end - submit`.
 * - Wait is over jobs that started (start != null, whatever their status): `wait = start - submit`.
 * - makespan = the last end (over jobs with an end) minus the first submit of the measured jobs; 0 when no job has an end.
 * - utilization = GPU-seconds of all runs / (fleet GPUs x makespan); 0 when makespan is 0. With
 *   `measureJobs`, runs of every job are clipped to the measured window [first submit, last end],
 *   so it stays the fleet's busy fraction during that window.
 * - preemptions: total over the measured jobs; lostGpuSeconds: sum of run.lostGpuSeconds over their runs.
 */
export function summarize(result: SimulationResult, opts: SummarizeOptions = {}): Summary {
  const jobs = result.jobs;
  const [from, to] = measuredRange(jobs.length, opts.measureJobs);
  const measured = Math.max(0, to - from + 1);

  const treeOrder: string[] = [];
  const topOf = new Map<string, string>();
  const walk = (team: TeamSpec, top: string): void => {
    if (topOf.has(team.name)) return; // names are unique in a valid policy; never count a team twice
    treeOrder.push(team.name);
    topOf.set(team.name, top);
    for (const child of team.children) walk(child, top);
  };
  for (const top of result.policy.teams) walk(top, top.name);

  const byTeam = new Map<string, Acc>();
  const accOf: (Acc | undefined)[] = new Array<Acc | undefined>(jobs.length);
  const jcts = new Float64Array(measured);
  const waits = new Float64Array(measured);
  let nJct = 0;
  let nWait = 0;
  let jctSum = 0;
  let waitSum = 0;
  let completed = 0;
  let rejected = 0;
  let timedOut = 0;
  let running = 0;
  let pending = 0;
  let preemptions = 0;
  let firstSubmit = Infinity;
  let lastEnd = -Infinity;

  for (let i = from; i <= to; i++) {
    const job = jobs[i];
    if (job === undefined) continue; // unreachable: from..to lies inside the trace
    const team = job.spec.team;
    let acc = byTeam.get(team);
    if (acc === undefined) byTeam.set(team, (acc = new Acc()));
    accOf[i] = acc;
    acc.jobs++;
    acc.preemptions += job.preemptions;
    preemptions += job.preemptions;
    const submit = job.spec.submit;
    if (submit < firstSubmit) firstSubmit = submit;
    if (job.end !== null && job.end > lastEnd) lastEnd = job.end;
    if (job.start !== null) {
      const wait = job.start - submit;
      waits[nWait++] = wait;
      waitSum += wait;
      acc.waits.push(wait);
      acc.waitSum += wait;
    }
    let ended = false;
    switch (job.status) {
      case 'completed':
        completed++;
        acc.completed++;
        ended = true;
        break;
      case 'timed_out':
        timedOut++;
        ended = true;
        break;
      case 'rejected':
        rejected++;
        break;
      case 'running':
        running++;
        break;
      case 'pending':
        pending++;
        break;
    }
    if (ended && job.end !== null) {
      const jct = job.end - submit;
      jcts[nJct++] = jct;
      jctSum += jct;
      acc.jctSum += jct;
      acc.jctCount++;
    }
  }

  const makespan = lastEnd === -Infinity ? 0 : Math.max(0, lastEnd - firstSubmit);
  const clip = opts.measureJobs !== undefined;
  let busyGpuSeconds = 0;
  let gpuSeconds = 0;
  let lostGpuSeconds = 0;
  for (const run of result.runs) {
    const acc = accOf[run.job];
    const gs = run.gpus * (run.end - run.start);
    if (acc !== undefined) {
      acc.gpuSeconds += gs;
      gpuSeconds += gs;
      lostGpuSeconds += run.lostGpuSeconds;
    }
    if (!clip) busyGpuSeconds += gs;
    else if (makespan > 0) {
      const overlap = Math.min(run.end, lastEnd) - Math.max(run.start, firstSubmit);
      if (overlap > 0) busyGpuSeconds += run.gpus * overlap;
    }
  }

  const fleet = fleetGpus(result.fleet);
  const sortedJcts = jcts.subarray(0, nJct).sort();
  const sortedWaits = waits.subarray(0, nWait).sort();

  // Key order: tree order, then teams the policy does not know (in first-appearance order).
  const teamNames = treeOrder.filter((name) => byTeam.has(name));
  for (const name of byTeam.keys()) if (!topOf.has(name)) teamNames.push(name);
  const byTop = new Map<string, Acc>();
  for (const name of teamNames) {
    const top = topOf.get(name) ?? name; // a team the policy does not know stands for itself
    let acc = byTop.get(top);
    if (acc === undefined) byTop.set(top, (acc = new Acc()));
    acc.merge(byTeam.get(name) as Acc);
  }
  const topNames = result.policy.teams.map((t) => t.name).filter((name) => byTop.has(name));
  const listed = new Set(topNames);
  for (const name of byTop.keys()) if (!listed.has(name)) topNames.push(name);

  // Object.fromEntries defines own properties, so a team named "__proto__" stays a plain key.
  const teams = Object.fromEntries(teamNames.map((name) => [name, (byTeam.get(name) as Acc).toSummary()]));
  const topTeams = Object.fromEntries(topNames.map((name) => [name, (byTop.get(name) as Acc).toSummary()]));

  return {
    jobs: measured,
    completed,
    rejected,
    avgJct: seconds(mean(jctSum, nJct)),
    p50Jct: seconds(percentile(sortedJcts, 50)),
    p95Jct: seconds(percentile(sortedJcts, 95)),
    p99Jct: seconds(percentile(sortedJcts, 99)),
    avgWait: seconds(mean(waitSum, nWait)),
    p99Wait: seconds(percentile(sortedWaits, 99)),
    makespan: seconds(makespan),
    utilization: makespan > 0 && fleet > 0 ? roundTo(busyGpuSeconds / (fleet * makespan), 6) : 0,
    preemptions,
    lostGpuSeconds: seconds(lostGpuSeconds),
    teams,
    timedOut,
    running,
    pending,
    p50Wait: seconds(percentile(sortedWaits, 50)),
    p95Wait: seconds(percentile(sortedWaits, 95)),
    gpuSeconds: seconds(gpuSeconds),
    fleetGpus: fleet,
    topTeams,
  };
}

/** [from, to] inclusive; the whole trace by default. Example: 10 jobs, [8, 99] -> [8, 9]. */
function measuredRange(n: number, range: SummarizeOptions['measureJobs']): [number, number] {
  if (range === undefined) return [0, n - 1];
  const [from, to] = range;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < from) {
    throw new RangeError(`measureJobs: expected integers 0 <= from <= to, got [${from}, ${to}]`);
  }
  return [from, Math.min(to, n - 1)];
}

// ------------------------------------------------------------------ comparison metrics

/**
 * What `arbiter compare` adds to summary.json (after the keys of `Summary`), the same for every
 * variant: the Arbiter policy and the baselines are all measured against the teams and
 * guarantees of the policy the result reports. Definitions (docs/evaluation-metrics.md):
 *
 * - fairness: Jain's index (sum x)^2 / (n * sum x^2) over the LEAF teams with an entitlement,
 *   x = GPU-seconds the team's measured jobs received / GPU-seconds it was entitled to while
 *   it had demand. Entitled = the integral over time of min(G, D(t)): G is the team's guarantee
 *   (GPUs, summed over flavors), D(t) the GPUs its measured, not rejected jobs ask for while
 *   pending or running (from submit to their end, or the horizon). When the team asks for at
 *   least its guarantee this is guarantee x time with demand; a team asking for less is not
 *   owed more than it asks for. Leaf teams, because jobs belong to leaves and a division's
 *   total can hide one starved leaf. Teams with no entitlement (guarantee 0, or no demand)
 *   are left out: nothing is owed to them, and what they take from others lowers the others' x.
 *   1 = every team received the same multiple of its entitlement; 1/n = one team got it all.
 *   Null when no team has an entitlement; 1 when every x is 0.
 *   Worked example: A (G 8) asks for 8 GPUs during 100 s and receives 800 GPU-s: x = 1;
 *   B (G 8) asks for 4 during 100 s (entitled 400) and receives 200: x = 0.5.
 *   Jain = 1.5^2 / (2 x 1.25) = 0.9.
 * - worstTeamP99Wait: the largest p99 wait (nearest rank, over started jobs) of a leaf team,
 *   and worstTeam that team (first in trace order on ties); 0 and null when no job started.
 * - inGuaranteeJobs, inGuaranteeP99Wait, inGuaranteeMaxWait: over the measured jobs that were
 *   in-guarantee at submission (JobOutcome.inGuaranteeAtSubmit) and started: their count and
 *   the p99 (nearest rank) and largest `start - submit`.
 */
export interface ComparisonMetrics {
  readonly fairness: number | null;
  /** Leaf teams the fairness index is over. */
  readonly fairnessTeams: number;
  readonly worstTeam: string | null;
  readonly worstTeamP99Wait: number;
  readonly inGuaranteeJobs: number;
  readonly inGuaranteeP99Wait: number;
  readonly inGuaranteeMaxWait: number;
}

/** summary.json of one variant of `arbiter compare`: the summary, then the comparison metrics. */
export type ComparisonSummary = Summary & ComparisonMetrics;

/** Leaf team name -> its guarantee summed over flavors. */
function leafGuarantees(teams: readonly TeamSpec[]): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (team: TeamSpec): void => {
    if (team.children.length === 0) {
      let g = 0;
      for (const gpus of Object.values(team.guarantee)) g += gpus;
      if (!out.has(team.name)) out.set(team.name, g);
    }
    for (const child of team.children) walk(child);
  };
  for (const team of teams) walk(team);
  return out;
}

/**
 * Integral over time of min(cap, demand(t)), where demand is a sum of [start, end) steps of
 * `gpus`. Example: cap 8, steps [0, 10) x 4 and [5, 15) x 8: 4 x 5 + 8 x 5 (12 capped) + 8 x 5 = 100.
 */
export function cappedDemandIntegral(steps: readonly { start: number; end: number; gpus: number }[], cap: number): number {
  const events: { t: number; d: number }[] = [];
  for (const s of steps) {
    if (s.end <= s.start) continue;
    events.push({ t: s.start, d: s.gpus }, { t: s.end, d: -s.gpus });
  }
  events.sort((a, b) => a.t - b.t);
  let total = 0;
  let level = 0;
  let last = 0;
  for (const e of events) {
    if (level > 0) total += Math.min(cap, level) * (e.t - last);
    level += e.d;
    last = e.t;
  }
  return total;
}

/** Jain's fairness index of `xs`: (sum x)^2 / (n sum x^2); null for none, 1 when all are 0. */
export function jainIndex(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  let sum = 0;
  let squares = 0;
  for (const x of xs) {
    sum += x;
    squares += x * x;
  }
  return squares === 0 ? 1 : (sum * sum) / (xs.length * squares);
}

/** The comparison metrics of one result (see ComparisonMetrics), over the same measured jobs as `summarize`. */
export function comparisonMetrics(result: SimulationResult, opts: SummarizeOptions = {}): ComparisonMetrics {
  const jobs = result.jobs;
  const [from, to] = measuredRange(jobs.length, opts.measureJobs);
  const guarantees = leafGuarantees(result.policy.teams);
  // Demand of a job still waiting or running when the record stops lasts until then.
  let lastEnd = -Infinity;
  for (const job of jobs) if (job.end !== null && job.end > lastEnd) lastEnd = job.end;
  for (const run of result.runs) if (run.end > lastEnd) lastEnd = run.end;
  const stop = result.horizon ?? (lastEnd === -Infinity ? 0 : lastEnd);

  const byTeam = new Map<string, { steps: { start: number; end: number; gpus: number }[]; received: number; waits: number[] }>();
  const inGuaranteeWaits: number[] = [];
  for (let i = from; i <= to; i++) {
    const job = jobs[i];
    if (job === undefined) continue; // unreachable: from..to lies inside the trace
    const team = job.spec.team;
    let acc = byTeam.get(team);
    if (acc === undefined) byTeam.set(team, (acc = { steps: [], received: 0, waits: [] }));
    acc.received += job.gpuSeconds;
    if (job.status !== 'rejected') {
      const end = job.end ?? Math.max(stop, job.spec.submit);
      acc.steps.push({ start: job.spec.submit, end, gpus: job.spec.gpus });
    }
    if (job.start !== null) {
      const wait = job.start - job.spec.submit;
      acc.waits.push(wait);
      if (job.inGuaranteeAtSubmit === true) inGuaranteeWaits.push(wait);
    }
  }

  const xs: number[] = [];
  let worstTeam: string | null = null;
  let worstTeamP99Wait = 0;
  for (const [team, acc] of byTeam) {
    const g = guarantees.get(team) ?? 0;
    if (g > 0) {
      const entitled = cappedDemandIntegral(acc.steps, g);
      if (entitled > 0) xs.push(acc.received / entitled);
    }
    if (acc.waits.length > 0) {
      const p99 = percentile(Float64Array.from(acc.waits).sort(), 99);
      if (worstTeam === null || p99 > worstTeamP99Wait) {
        worstTeam = team;
        worstTeamP99Wait = p99;
      }
    }
  }
  const fairness = jainIndex(xs);
  const sortedInGuarantee = Float64Array.from(inGuaranteeWaits).sort();
  return {
    fairness: fairness === null ? null : roundTo(fairness, 6),
    fairnessTeams: xs.length,
    worstTeam,
    worstTeamP99Wait: seconds(worstTeamP99Wait),
    inGuaranteeJobs: sortedInGuarantee.length,
    inGuaranteeP99Wait: seconds(percentile(sortedInGuarantee, 99)),
    inGuaranteeMaxWait: seconds(sortedInGuarantee.length > 0 ? sortedInGuarantee[sortedInGuarantee.length - 1]! : 0),
  };
}

/** summarize() followed by comparisonMetrics(): summary.json of a variant of `arbiter compare`. */
export function summarizeForComparison(result: SimulationResult, opts: SummarizeOptions = {}): ComparisonSummary {
  return { ...summarize(result, opts), ...comparisonMetrics(result, opts) };
}
