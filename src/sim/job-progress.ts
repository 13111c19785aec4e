// Job progress (M6), the record of every run, and the in-guarantee flag of every arrival: the
// bookkeeping every simulated variant shares (the Arbiter policy in simulator.ts and the
// baselines in baselines/), so that "how much work a run does" is the same code whatever decides
// when jobs run. Scheduling is not here: the caller says when a run starts, on which flavor and
// nodes, and when one is preempted; this says when it would end and what it kept.
//
// M6: every run after the first begins with `restartOverhead` seconds of no progress; after that
// a run progresses one second of work per second. A preempted run keeps its progress up to the
// last checkpoint (`floor(progress / c) * c`, all of it when c = 0). A run never outlasts the
// job's time limit; reaching it ends the job `timed_out` (reaching both at once completes it).
// Work is kept in seconds when the job has one duration, else as a fraction of its work, so a
// job restarted on a flavor of another speed keeps its fraction (`duration@<flavor>`).
// Worked example: duration 100, checkpoint 30, overhead 10. Run 1 lasts 70 s and is preempted:
// 70 s made, 60 kept, 10 lost. Run 2 needs 10 + (100 - 60) = 50 s.
import type { JobSpec, Policy, TeamSpec } from '../core/model.js';
import { timeLimitOf } from '../core/model.js';
import type { JobOutcome, JobStatus, RunOutcome, RunRecord } from './types.js';

/** `node:gpus` pairs of a run, sorted by node name. */
export type RunPlacement = readonly { readonly node: string; readonly gpus: number }[];

/** The placement of a job that has not run (shared). */
const NO_PLACEMENT: RunPlacement = [];

/** Min-heap of run ends, by time then job position (deterministic). */
class EndHeap {
  private readonly time: number[] = [];
  private readonly job: number[] = [];
  private readonly run: number[] = [];
  get size(): number {
    return this.time.length;
  }
  peekTime(): number {
    return this.time[0]!;
  }
  push(time: number, job: number, run: number): void {
    let i = this.time.length;
    this.time.push(time);
    this.job.push(job);
    this.run.push(run);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }
  pop(): { time: number; job: number; run: number } {
    const top = { time: this.time[0]!, job: this.job[0]!, run: this.run[0]! };
    const lastTime = this.time.pop()!;
    const lastJob = this.job.pop()!;
    const lastRun = this.run.pop()!;
    if (this.time.length > 0) {
      this.time[0] = lastTime;
      this.job[0] = lastJob;
      this.run[0] = lastRun;
      let i = 0;
      const n = this.time.length;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < n && this.less(l, m)) m = l;
        if (r < n && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
  private less(a: number, b: number): boolean {
    const ta = this.time[a]!;
    const tb = this.time[b]!;
    return ta < tb || (ta === tb && this.job[a]! < this.job[b]!);
  }
  private swap(a: number, b: number): void {
    const t = this.time[a]!;
    this.time[a] = this.time[b]!;
    this.time[b] = t;
    const j = this.job[a]!;
    this.job[a] = this.job[b]!;
    this.job[b] = j;
    const r = this.run[a]!;
    this.run[a] = this.run[b]!;
    this.run[b] = r;
  }
}

/** GPUs per leaf team and flavor name ('' for any flavor), by team then flavor: no key is built per event. */
class GpusByTeamFlavor {
  private readonly byTeam = new Map<string, Map<string, number>>();
  get(team: string, flavor: string): number {
    return this.byTeam.get(team)?.get(flavor) ?? 0;
  }
  add(team: string, flavor: string, gpus: number): void {
    let byFlavor = this.byTeam.get(team);
    if (byFlavor === undefined) this.byTeam.set(team, (byFlavor = new Map<string, number>()));
    byFlavor.set(flavor, (byFlavor.get(flavor) ?? 0) + gpus);
  }
}

/** Progress of one job. `kept` is seconds of work, or a fraction of it for `duration@` jobs. */
interface Progress {
  kept: number;
  runs: number;
  runStart: number;
  runFlavor: string;
  runEnd: number;
  runOutcome: RunOutcome;
  placement: RunPlacement;
  firstStart: number | null;
  end: number | null;
  status: JobStatus;
  gpuSeconds: number;
  preemptions: number;
  inGuarantee: boolean | null;
  rejectReason: string | null;
}

export class JobProgress {
  /** Closed runs, in the order they closed (see `sortedRuns`). */
  readonly runs: RunRecord[] = [];
  private readonly progress: Progress[];
  private readonly ends = new EndHeap();
  private readonly trace: readonly JobSpec[];
  private readonly restartOverhead: number;
  private readonly checkpointInterval: number;
  /** Guarantee per leaf team and flavor, from the policy the result reports. */
  private readonly guarantees = new Map<string, TeamSpec['guarantee']>();
  /** GPUs held by running jobs per leaf team and flavor. */
  private readonly held = new GpusByTeamFlavor();
  /** GPUs of arrived jobs that wait (not running, not done) per leaf team and flavor asked for; see wait(). */
  private readonly waiting = new GpusByTeamFlavor();

  /**
   * @param trace the jobs, in trace order (positions index everything here)
   * @param policy gives the progress settings (restartOverhead, checkpointInterval) and the
   *   team guarantees the in-guarantee flag is measured against
   * @param flavors every flavor of the fleet, in pool order (a job that names none may use any)
   */
  constructor(
    trace: readonly JobSpec[],
    policy: Policy,
    private readonly flavors: readonly string[],
  ) {
    // A job that declares no time limit runs under its class's defaultTimeLimit (timeLimitOf,
    // the engine's rule too), so time-outs and backfill agree.
    this.trace = policy.priorityClasses.some((c) => c.defaultTimeLimit !== undefined)
      ? trace.map((spec) => {
          const limit = timeLimitOf(policy, spec);
          return limit === spec.timeLimit ? spec : { ...spec, timeLimit: limit };
        })
      : trace;
    this.restartOverhead = policy.preemption.restartOverhead;
    this.checkpointInterval = policy.preemption.checkpointInterval;
    const walk = (team: TeamSpec): void => {
      if (team.children.length === 0) this.guarantees.set(team.name, team.guarantee);
      for (const child of team.children) walk(child);
    };
    for (const team of policy.teams) walk(team);
    this.progress = trace.map(() => ({
      kept: 0,
      runs: 0,
      runStart: 0,
      runFlavor: '',
      runEnd: 0,
      runOutcome: 'completed',
      placement: NO_PLACEMENT,
      firstStart: null,
      end: null,
      status: 'pending',
      gpuSeconds: 0,
      preemptions: 0,
      inGuarantee: null,
      rejectReason: null,
    }));
  }

  private workOn(spec: JobSpec, flavor: string): number {
    return spec.durationByFlavor?.[flavor] ?? spec.duration;
  }

  private fractional(spec: JobSpec): boolean {
    return spec.durationByFlavor !== undefined && Object.keys(spec.durationByFlavor).length > 0;
  }

  private checkpointOf(spec: JobSpec): number {
    return spec.checkpointInterval ?? this.checkpointInterval;
  }

  /**
   * The job arrives (after the completions of this instant, before the pass): records whether
   * it is in-guarantee, i.e. on some flavor it may use, its leaf team's demand fits the team's
   * guarantee: the GPUs it holds, plus those of its jobs that wait (arrived earlier, or at this
   * instant earlier in the trace; preempted ones included; a job that may take any flavor counts
   * against each), plus the job's own. A job behind its own team's backlog is not promised a
   * prompt start, so it does not count as one.
   */
  arrive(position: number): void {
    const spec = this.trace[position]!;
    const guarantee = this.guarantees.get(spec.team);
    let fits = false;
    if (guarantee !== undefined) {
      const flavors = spec.flavor === null ? this.flavors : [spec.flavor];
      const anyFlavor = this.waiting.get(spec.team, '');
      for (const f of flavors) {
        const demand = this.held.get(spec.team, f) + this.waiting.get(spec.team, f) + anyFlavor + spec.gpus;
        if (demand <= (guarantee[f] ?? 0)) {
          fits = true;
          break;
        }
      }
    }
    this.progress[position]!.inGuarantee = fits;
    this.wait(spec, spec.gpus);
  }

  /** The job can never run; it is done. */
  reject(position: number, reason: string): void {
    const p = this.progress[position]!;
    if (p.status === 'pending' && p.inGuarantee !== null) this.wait(this.trace[position]!, -this.trace[position]!.gpus);
    p.status = 'rejected';
    p.rejectReason = reason;
  }

  /** A run of the job starts at t on `flavor` (placement sorted by node name). */
  start(position: number, t: number, flavor: string, placement: RunPlacement): void {
    const spec = this.trace[position]!;
    const p = this.progress[position]!;
    const overhead = p.runs > 0 ? this.restartOverhead : 0;
    const d = this.workOn(spec, flavor);
    const remaining = this.fractional(spec) ? (1 - p.kept) * d : d - p.kept;
    const completion = t + overhead + Math.max(0, remaining);
    const limitEnd = spec.timeLimit === null ? Number.POSITIVE_INFINITY : t + spec.timeLimit;
    p.runs++;
    p.runStart = t;
    p.runFlavor = flavor;
    p.placement = placement;
    p.status = 'running';
    if (p.firstStart === null) p.firstStart = t;
    // M6: a run that reaches the time limit ends the job; reaching both at once completes it.
    p.runOutcome = completion <= limitEnd ? 'completed' : 'timed_out';
    p.runEnd = Math.min(completion, limitEnd);
    this.ends.push(p.runEnd, position, p.runs);
    this.hold(spec, flavor, spec.gpus);
    this.wait(spec, -spec.gpus);
  }

  /** The current run is preempted at t: it keeps its progress up to the last checkpoint and waits again. */
  preempt(position: number, t: number): void {
    this.closeRun(position, t, 'preempted');
    const p = this.progress[position]!;
    p.status = 'pending';
    p.preemptions++;
    this.wait(this.trace[position]!, this.trace[position]!.gpus);
  }

  /**
   * When the next run ends by itself (completion or time limit); Infinity when none runs. It may
   * be the end a run had before it was preempted: finishDue then ends nothing at that time.
   */
  nextEnd(): number {
    return this.ends.size > 0 ? this.ends.peekTime() : Number.POSITIVE_INFINITY;
  }

  /**
   * Ends the runs that complete or time out at t (by job position); returns their positions,
   * in that order. Runs that were preempted before their end are skipped.
   */
  finishDue(t: number): number[] {
    const finished: number[] = [];
    while (this.ends.size > 0 && this.ends.peekTime() === t) {
      const e = this.ends.pop();
      const p = this.progress[e.job]!;
      if (p.status !== 'running' || p.runs !== e.run) continue; // a run that was preempted
      this.closeRun(e.job, t, p.runOutcome);
      p.status = p.runOutcome === 'completed' ? 'completed' : 'timed_out';
      p.end = t;
      finished.push(e.job);
    }
    return finished;
  }

  /** The horizon cuts every running run at t (outcome `running`). */
  cutAt(t: number): void {
    this.progress.forEach((p, position) => {
      if (p.status !== 'running') return;
      this.closeRun(position, t, 'running');
      p.end = t;
    });
  }

  status(position: number): JobStatus {
    return this.progress[position]!.status;
  }

  /** GPU-seconds received so far, the current run up to t included (least attained service). */
  attained(position: number, t: number): number {
    const p = this.progress[position]!;
    const spec = this.trace[position]!;
    return p.status === 'running' ? p.gpuSeconds + spec.gpus * (t - p.runStart) : p.gpuSeconds;
  }

  /** When the current run ends by itself (completion or time limit). */
  currentRunEnd(position: number): number {
    return this.progress[position]!.runEnd;
  }

  /**
   * Seconds a run started now on `flavor` would last: the restart overhead (not for a first
   * run), then the work left, cut by the time limit. The true duration: an oracle's knowledge.
   */
  runTimeIfStarted(position: number, flavor: string): number {
    const spec = this.trace[position]!;
    const p = this.progress[position]!;
    const overhead = p.runs > 0 ? this.restartOverhead : 0;
    const d = this.workOn(spec, flavor);
    const remaining = this.fractional(spec) ? (1 - p.kept) * d : d - p.kept;
    const length = overhead + Math.max(0, remaining);
    return spec.timeLimit === null ? length : Math.min(length, spec.timeLimit);
  }

  /** The runs ordered by start, then by the job's position in the trace (sorts in place). */
  sortedRuns(): RunRecord[] {
    return this.runs.sort((a, b) => a.start - b.start || a.job - b.job);
  }

  /** One outcome per job, in trace order, with the specs of the trace this was built with. */
  outcomes(): JobOutcome[] {
    return this.trace.map((spec, position) => {
      const p = this.progress[position]!;
      const outcome: JobOutcome = {
        spec,
        status: p.status,
        start: p.firstStart,
        end: p.end,
        flavor: p.runs > 0 ? p.runFlavor : spec.flavor,
        preemptions: p.preemptions,
        gpuSeconds: p.gpuSeconds,
        ...(p.inGuarantee === null ? {} : { inGuaranteeAtSubmit: p.inGuarantee }),
      };
      return p.rejectReason ? { ...outcome, rejectReason: p.rejectReason } : outcome;
    });
  }

  /**
   * True when preempting the current run at t would keep more work than the job had when the
   * run started: it is past its restart overhead and, with checkpoints, past its next checkpoint.
   */
  wouldKeepProgress(position: number, t: number): boolean {
    const spec = this.trace[position]!;
    const p = this.progress[position]!;
    if (p.status !== 'running') return false;
    const overhead = p.runs > 1 ? this.restartOverhead : 0;
    const made = Math.max(0, t - p.runStart - overhead);
    const { before, keptSeconds } = this.keptOnPreemption(spec, p, made);
    return keptSeconds > before;
  }

  /** Seconds of work before the current run, done with `made` more, and kept if preempted now (M6). */
  private keptOnPreemption(spec: JobSpec, p: Progress, made: number): { before: number; total: number; keptSeconds: number } {
    const d = this.workOn(spec, p.runFlavor);
    const c = this.checkpointOf(spec);
    const before = this.fractional(spec) ? p.kept * d : p.kept;
    const total = Math.min(d, before + made);
    const keptSeconds = c > 0 ? Math.max(before, Math.floor(total / c) * c) : total;
    return { before, total, keptSeconds };
  }

  /** GPUs of waiting jobs per leaf team and flavor asked for ('' for any). */
  private wait(spec: JobSpec, gpus: number): void {
    this.waiting.add(spec.team, spec.flavor ?? '', gpus);
  }

  private hold(spec: JobSpec, flavor: string, gpus: number): void {
    this.held.add(spec.team, flavor, gpus);
  }

  /** Closes the current run at t and records it with the GPU-seconds that made no kept progress. */
  private closeRun(position: number, t: number, outcome: RunOutcome): void {
    const spec = this.trace[position]!;
    const p = this.progress[position]!;
    const overhead = p.runs > 1 ? this.restartOverhead : 0;
    const elapsed = t - p.runStart;
    const made = Math.max(0, elapsed - overhead);
    let lostSeconds = Math.min(elapsed, overhead);
    if (outcome === 'preempted') {
      const d = this.workOn(spec, p.runFlavor);
      const { total, keptSeconds } = this.keptOnPreemption(spec, p, made);
      lostSeconds += total - keptSeconds;
      p.kept = this.fractional(spec) ? (d > 0 ? keptSeconds / d : 1) : keptSeconds;
    }
    p.gpuSeconds += spec.gpus * elapsed;
    this.hold(spec, p.runFlavor, -spec.gpus);
    this.runs.push({
      job: position,
      start: p.runStart,
      end: t,
      flavor: p.runFlavor,
      placement: p.placement,
      outcome,
      gpus: spec.gpus,
      lostGpuSeconds: spec.gpus * lostSeconds,
    });
  }
}
