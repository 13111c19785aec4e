// Impact analysis of a policy proposal (docs/governance.md, step 2 and the change class of
// step 3): the recorded workload of the impact window is replayed by the simulator under the
// policy in force and under the proposal, with the same engine, and each team's figures are
// compared. Pure and deterministic: the same inputs give the same report, byte for byte, and so
// the same hash (nothing here reads a clock).
import { createHash } from 'node:crypto';
import { flavorCapacity } from '../core/config/cluster.js';
import { allTeams, leafTeams, leavesUnder } from '../core/config/policy.js';
import type { Fleet, JobSpec, Policy } from '../core/model.js';
import { roundTo } from '../sim/format.js';
import { percentile } from '../sim/metrics.js';
import { simulate } from '../sim/simulator.js';
import type { SimulationResult } from '../sim/types.js';
import { canonicalJson, sha256Hex } from './canonical-json.js';

/** One recorded job (or one job of an attached trace). Times are epoch seconds. */
export interface WorkloadJob {
  readonly id: string;
  readonly submittedAt: number;
  /** The leaf team it was submitted to. */
  readonly team: string;
  /** Its priority class (already defaulted). */
  readonly class: string;
  /** The flavor it needs, or null for any. */
  readonly flavor: string | null;
  readonly gpus: number;
  /** Seconds of work. */
  readonly duration: number;
  readonly timeLimit: number | null;
}

export interface ImpactInput {
  readonly fleet: Fleet;
  readonly current: { readonly policy: Policy; readonly version: number; readonly hash: string };
  readonly proposed: { readonly policy: Policy; readonly hash: string };
  /** The jobs submitted in the window; jobs outside it are left out (and counted). */
  readonly workload: readonly WorkloadJob[];
  /** Epoch seconds, both ends included. */
  readonly window: { readonly from: number; readonly to: number };
  /** governance.materialThreshold, e.g. 0.05. */
  readonly materialThreshold: number;
  readonly engineVersion: string;
}

/** One team's figures under one policy. Seconds and GPU-hours rounded to 3 decimals. */
export interface TeamFigures {
  /** Jobs of the team's subtree that were replayed. */
  readonly jobs: number;
  /** Of those, jobs the engine refused (they can never run under this policy). */
  readonly rejected: number;
  /** GPU-hours received inside the window (see teamFigures). */
  readonly gpuHours: number;
  /** Wait = first start - submit; a job that never started waits until the end of the replay. */
  readonly avgWait: number;
  readonly p95Wait: number;
  readonly preemptions: number;
  /** Average wait of the jobs that fitted their team's guarantee when submitted; 0 when none. */
  readonly inGuaranteeWait: number;
}

/** A team's figures under the proposal, and the deltas (proposed - current). */
export interface TeamImpact extends TeamFigures {
  readonly gpuHoursDelta: number;
  readonly avgWaitDelta: number;
  readonly p95WaitDelta: number;
  readonly preemptionsDelta: number;
  readonly inGuaranteeWaitDelta: number;
}

/** Jobs left out of one replay, by cause: the policy has no such leaf team, class or flavor. */
export interface SkipCounts {
  readonly team: number;
  readonly class: number;
  readonly flavor: number;
}

export interface ImpactReport {
  /** sha256Hex(canonicalJson(the report without this field)): what ballots name. */
  readonly hash: string;
  readonly window: { readonly from: string; readonly to: string; readonly seconds: number };
  /** Computed, never chosen (governance.md step 3): material when any team is affected. */
  readonly class: 'minor' | 'material';
  /** Affected teams, in report order (see `teams`). */
  readonly affected: readonly string[];
  /**
   * Every team of either policy tree (a parent aggregates its subtree in that policy's tree),
   * under the proposal with the deltas; in the current tree's order, then the teams that only
   * the proposal has, in its order. A team the proposal removes has zero figures here.
   */
  readonly teams: Readonly<Record<string, TeamImpact>>;
  /** The same teams under the policy in force (zero figures for teams it does not have). */
  readonly current: Readonly<Record<string, TeamFigures>>;
  readonly workload: {
    /** Jobs given, including the ones skipped. */
    readonly jobs: number;
    readonly hash: string;
    readonly skipped: {
      readonly outsideWindow: number;
      readonly current: SkipCounts;
      readonly proposed: SkipCounts;
    };
  };
  readonly inputs: {
    readonly currentPolicyVersion: number;
    readonly currentPolicyHash: string;
    readonly proposedPolicyHash: string;
    readonly workloadHash: string;
    readonly engineVersion: string;
    readonly materialThreshold: number;
  };
}

/** Jobs in a stable order: submit time, then id (code-unit order, no locale). */
function sortJobs(jobs: readonly WorkloadJob[]): WorkloadJob[] {
  return [...jobs].sort((a, b) => a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * SHA-256 of the canonical JSON of the jobs sorted by (submittedAt, id): the identity of a
 * workload snapshot, whatever order the store returned it in.
 */
export function workloadHash(jobs: readonly WorkloadJob[]): string {
  return hashOfSorted(sortJobs(jobs));
}

/**
 * workloadHash of jobs already in sortJobs' order. The text is canonicalJson's, byte for byte,
 * written job by job into the hash (a generic walk of 50,000 jobs took 0.3 s of an analysis);
 * a job with a field JSON cannot write goes to canonicalJson, which refuses it naming where.
 */
function hashOfSorted(sorted: readonly WorkloadJob[]): string {
  const hash = createHash('sha256');
  const chunk: string[] = [];
  let before = '[';
  const flush = (): void => {
    hash.update(before + chunk.join(','), 'utf8');
    before = ',';
    chunk.length = 0;
  };
  for (const job of sorted) {
    const text = jobJson(job);
    if (text === null) return sha256Hex(canonicalJson(sorted.map(plainJob)));
    chunk.push(text);
    if (chunk.length === 1024) flush();
  }
  if (chunk.length > 0) flush();
  hash.update(before === '[' ? '[]' : ']', 'utf8');
  return hash.digest('hex');
}

const plainJob = ({ id, submittedAt, team, class: cls, flavor, gpus, duration, timeLimit }: WorkloadJob): WorkloadJob => ({
  id,
  submittedAt,
  team,
  class: cls,
  flavor,
  gpus,
  duration,
  timeLimit,
});

const isNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** canonicalJson(plainJob(job)) (members in code-unit order), or null when a field is not plain JSON. */
function jobJson(job: WorkloadJob): string | null {
  const { id, submittedAt, team, class: cls, flavor, gpus, duration, timeLimit } = job;
  if (typeof id !== 'string' || typeof team !== 'string' || typeof cls !== 'string') return null;
  if (!isNumber(submittedAt) || !isNumber(gpus) || !isNumber(duration)) return null;
  if (flavor !== null && typeof flavor !== 'string') return null;
  if (timeLimit !== null && !isNumber(timeLimit)) return null;
  return (
    `{"class":${JSON.stringify(cls)},"duration":${JSON.stringify(duration)},"flavor":${flavor === null ? 'null' : JSON.stringify(flavor)},` +
    `"gpus":${JSON.stringify(gpus)},"id":${JSON.stringify(id)},"submittedAt":${JSON.stringify(submittedAt)},"team":${JSON.stringify(team)},` +
    `"timeLimit":${timeLimit === null ? 'null' : JSON.stringify(timeLimit)}}`
  );
}

/** SHA-256 of the canonical JSON of a report; a `hash` field, if present, is left out. */
export function reportHash(report: Omit<ImpactReport, 'hash'> | ImpactReport): string {
  const { hash: _hash, ...rest } = report as ImpactReport;
  return sha256Hex(canonicalJson(rest));
}

/** The workload of an analysis: every job given, in stable order, and those inside the window. */
export interface WindowedWorkload {
  readonly jobs: readonly WorkloadJob[];
  readonly inWindow: readonly WorkloadJob[];
  /** The replay's time 0: the first submission inside the window (or the window's start). */
  readonly origin: number;
  /** The window's length: GPU-hours are counted over [origin, origin + seconds]. */
  readonly seconds: number;
}

/** One replay's result, as plain data (it may come back from another thread). */
export interface ImpactReplay {
  /** Every team of the replayed policy, in tree order. */
  readonly figures: readonly (readonly [string, TeamFigures])[];
  readonly skipped: SkipCounts;
}

export function windowedWorkload(input: Pick<ImpactInput, 'workload' | 'window'>): WindowedWorkload {
  const { window } = input;
  const seconds = window.to - window.from;
  if (!(seconds >= 0)) throw new RangeError(`window: "to" (${window.to}) is before "from" (${window.from})`);
  const jobs = sortJobs(input.workload);
  const inWindow = jobs.filter((job) => job.submittedAt >= window.from && job.submittedAt <= window.to);
  // The replay starts at the first recorded submission and is measured for the window's length
  // from there: jobs submitted just before the analysis (a young installation, a demo) are
  // still measured while they run, instead of being cut off at the moment of the analysis.
  const origin = inWindow[0]?.submittedAt ?? window.from;
  return { jobs, inWindow, origin, seconds };
}

/**
 * One side of the analysis: the window's jobs replayed under `policy`, reduced to each team's
 * figures. The two sides are independent, so they may run at once on two threads
 * (impact-runner.ts); analyzeImpact runs them one after the other.
 */
export function replayImpact(fleet: Fleet, policy: Policy, workload: WindowedWorkload): ImpactReplay {
  const { result, skipped } = replay(fleet, policy, workload.inWindow, workload.origin);
  return { figures: [...teamFigures(policy, result, workload.seconds)], skipped };
}

export function analyzeImpact(input: ImpactInput): ImpactReport {
  const workload = windowedWorkload(input);
  const before = replayImpact(input.fleet, input.current.policy, workload);
  const after = replayImpact(input.fleet, input.proposed.policy, workload);
  return composeImpact(input, workload, before, after);
}

/** The report from the two replays: each team's figures, deltas, affected teams and the class. */
export function composeImpact(
  input: Omit<ImpactInput, 'workload' | 'fleet'>,
  workload: WindowedWorkload,
  before: ImpactReplay,
  after: ImpactReplay,
): ImpactReport {
  const { window, materialThreshold } = input;
  const { jobs, inWindow, seconds } = workload;
  const currentFigures = new Map(before.figures);
  const proposedFigures = new Map(after.figures);

  const names = [...allTeams(input.current.policy).keys()];
  for (const name of allTeams(input.proposed.policy).keys()) if (!currentFigures.has(name)) names.push(name);
  const teams: Record<string, TeamImpact> = {};
  const current: Record<string, TeamFigures> = {};
  const affected: string[] = [];
  for (const name of names) {
    const cur = currentFigures.get(name) ?? ZERO;
    const next = proposedFigures.get(name) ?? ZERO;
    current[name] = cur;
    teams[name] = {
      ...next,
      gpuHoursDelta: round(next.gpuHours - cur.gpuHours),
      avgWaitDelta: round(next.avgWait - cur.avgWait),
      p95WaitDelta: round(next.p95Wait - cur.p95Wait),
      preemptionsDelta: next.preemptions - cur.preemptions,
      inGuaranteeWaitDelta: round(next.inGuaranteeWait - cur.inGuaranteeWait),
    };
    const removed = !proposedFigures.has(name);
    if (removed ? cur.gpuHours > 0 : isAffected(cur, next, materialThreshold)) affected.push(name);
  }

  const hash = hashOfSorted(jobs);
  const report: Omit<ImpactReport, 'hash'> = {
    window: { from: isoTime(window.from), to: isoTime(window.to), seconds },
    class: affected.length > 0 ? 'material' : 'minor',
    affected,
    teams,
    current,
    workload: {
      jobs: jobs.length,
      hash,
      skipped: {
        outsideWindow: jobs.length - inWindow.length,
        current: before.skipped,
        proposed: after.skipped,
      },
    },
    inputs: {
      currentPolicyVersion: input.current.version,
      currentPolicyHash: input.current.hash,
      proposedPolicyHash: input.proposed.hash,
      workloadHash: hash,
      engineVersion: input.engineVersion,
      materialThreshold,
    },
  };
  return { hash: reportHash(report), ...report };
}

/**
 * governance.md: "a team is affected if its GPU-hours drop, or its p95 wait rises, by more than
 * this fraction". Both are read from the rounded figures the report shows. A drop counts only
 * from a positive current value. A p95 rise is relative too, except from a current p95 of 0,
 * where no fraction exists: there a rise of more than 1 second counts (one second, so that a
 * pass landing a moment later is not a change of class).
 */
function isAffected(cur: TeamFigures, next: TeamFigures, threshold: number): boolean {
  const lessGpu = cur.gpuHours > 0 && (cur.gpuHours - next.gpuHours) / cur.gpuHours > threshold;
  const longerWait = cur.p95Wait > 0 ? next.p95Wait > cur.p95Wait * (1 + threshold) : next.p95Wait > 1;
  return lessGpu || longerWait;
}

/**
 * The replay of the window's jobs under `policy`: submit times relative to the window start,
 * in the order given (stable, so equal times keep it). A job the policy cannot take (its team
 * is not a leaf of this policy, or the policy or fleet lacks its class or flavor) is left out
 * of this replay only and counted. The replay runs until every job is done: it is not cut at
 * the window's end, so every wait is measured.
 */
function replay(
  fleet: Fleet,
  policy: Policy,
  jobs: readonly WorkloadJob[],
  origin: number,
): { result: SimulationResult; skipped: SkipCounts } {
  const leaves = leafTeams(policy);
  const classes = new Set(policy.priorityClasses.map((c) => c.name));
  const flavors = flavorCapacity(fleet);
  const skipped = { team: 0, class: 0, flavor: 0 };
  const trace: JobSpec[] = [];
  for (const job of jobs) {
    if (!leaves.has(job.team)) skipped.team++;
    else if (!classes.has(job.class)) skipped.class++;
    else if (job.flavor !== null && !flavors.has(job.flavor)) skipped.flavor++;
    else {
      trace.push({
        id: job.id,
        submit: job.submittedAt - origin,
        team: job.team,
        gpus: job.gpus,
        duration: job.duration,
        class: job.class,
        flavor: job.flavor,
        timeLimit: job.timeLimit,
        checkpointInterval: null,
      });
    }
  }
  return { result: simulate(fleet, policy, trace), skipped };
}

const ZERO: TeamFigures = {
  jobs: 0,
  rejected: 0,
  gpuHours: 0,
  avgWait: 0,
  p95Wait: 0,
  preemptions: 0,
  inGuaranteeWait: 0,
};

/** Running totals of one leaf team in one replay. */
interface Totals {
  jobs: number;
  rejected: number;
  gpuSeconds: number;
  waits: number[];
  preemptions: number;
  inGuaranteeWaitSum: number;
  inGuaranteeJobs: number;
}

/**
 * Figures for every team of `policy`, by name in tree order; a parent aggregates the leaves of
 * its subtree. GPU-hours are those received in the window's length from the first submission
 * (runs clipped to [0, seconds]):
 * the replay runs every job to its end, so over the whole replay each team would receive all of
 * its work under either policy; what a policy changes is who holds the GPUs while it matters.
 * Example: two 1-GPU jobs of 2 h submitted at 0 on 1 GPU, window 3 h: the first gets 2 h, the
 * second 1 h (it runs 2 h..4 h), 3 GPU-hours in all; the second waits 2 h.
 */
function teamFigures(policy: Policy, result: SimulationResult, seconds: number): Map<string, TeamFigures> {
  const totals = new Map<string, Totals>();
  for (const leaf of leafTeams(policy).keys()) {
    totals.set(leaf, {
      jobs: 0,
      rejected: 0,
      gpuSeconds: 0,
      waits: [],
      preemptions: 0,
      inGuaranteeWaitSum: 0,
      inGuaranteeJobs: 0,
    });
  }
  let end = 0;
  for (const job of result.jobs) end = Math.max(end, job.spec.submit);
  for (const run of result.runs) {
    end = Math.max(end, run.end);
    const team = totals.get(result.jobs[run.job]!.spec.team)!;
    team.gpuSeconds += Math.max(0, Math.min(run.end, seconds) - Math.max(run.start, 0)) * run.gpus;
  }
  for (const job of result.jobs) {
    const team = totals.get(job.spec.team)!;
    const wait = (job.start ?? end) - job.spec.submit;
    team.jobs++;
    if (job.status === 'rejected') team.rejected++;
    team.waits.push(wait);
    team.preemptions += job.preemptions;
    if (job.inGuaranteeAtSubmit === true) {
      team.inGuaranteeWaitSum += wait;
      team.inGuaranteeJobs++;
    }
  }

  const figures = new Map<string, TeamFigures>();
  for (const [name, spec] of allTeams(policy)) {
    const leaves = leavesUnder(spec).map((leaf) => totals.get(leaf)!);
    const waits = Float64Array.from(leaves.flatMap((t) => t.waits)).sort();
    const sum = (pick: (t: Totals) => number): number => leaves.reduce((s, t) => s + pick(t), 0);
    const inGuaranteeJobs = sum((t) => t.inGuaranteeJobs);
    figures.set(name, {
      jobs: sum((t) => t.jobs),
      rejected: sum((t) => t.rejected),
      gpuHours: round(sum((t) => t.gpuSeconds) / 3600),
      avgWait: round(waits.length === 0 ? 0 : waits.reduce((s, w) => s + w, 0) / waits.length),
      p95Wait: round(percentile(waits, 95)),
      preemptions: sum((t) => t.preemptions),
      inGuaranteeWait: round(inGuaranteeJobs === 0 ? 0 : sum((t) => t.inGuaranteeWaitSum) / inGuaranteeJobs),
    });
  }
  return figures;
}

const round = (x: number): number => roundTo(x, 3);

/** Epoch seconds as ISO 8601 UTC (a fixed moment, not the clock). */
const isoTime = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString();
