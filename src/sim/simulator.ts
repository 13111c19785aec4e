// The discrete-event simulator: replays a workload through the engine on a virtual clock.
// It owns what the engine does not need to decide: job progress (M6), completions,
// time limits, and the record of every run. At one instant, completions and time-outs
// are applied before arrivals, then one pass runs; a pass also runs at every instant at
// which a running job's minRuntime protection ends while jobs are pending.
import { Engine } from '../core/engine.js';
import type { PassResult } from '../core/engine.js';
import type { Fleet, JobSpec, Policy } from '../core/model.js';
import type { Reason } from '../core/reasons.js';
import type { JobOutcome, JobStatus, RunRecord, RunOutcome, SimulationResult } from './types.js';

export interface ExplainLine {
  readonly time: number;
  readonly job: string;
  readonly team: string;
  readonly code: Reason['code'];
  readonly message: string;
  readonly expectedStart: number | null;
}

export interface SimulateOptions {
  /** Stop the clock here; running jobs are cut (formats.md). */
  readonly until?: number;
  /** Called after each batch of events, for progress display. */
  readonly onProgress?: (simTime: number, jobsDone: number) => void;
  /** Explanations: 'every-pass', or a sorted list of moments. */
  readonly explain?: 'every-pass' | readonly number[];
  readonly onExplain?: (lines: readonly ExplainLine[]) => void;
  /** Called after every pass (tests check invariants here). */
  readonly onPass?: (engine: Engine, result: PassResult) => void;
}

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

/** Progress of one job (M6). Work is kept in seconds when the job has one duration, else as a fraction. */
interface Progress {
  kept: number;
  runs: number;
  runStart: number;
  runFlavor: string;
  runEnd: number;
  runOutcome: RunOutcome;
  placement: { node: string; gpus: number }[];
  firstStart: number | null;
  end: number | null;
  status: JobStatus;
  gpuSeconds: number;
}

export function simulate(fleet: Fleet, policy: Policy, trace: readonly JobSpec[], options: SimulateOptions = {}): SimulationResult {
  const engine = new Engine(fleet, policy);
  const until = options.until ?? Number.POSITIVE_INFINITY;
  const n = trace.length;
  // Arrival order: submit time, then file order (stable).
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => trace[a]!.submit - trace[b]!.submit || a - b);
  const progress: Progress[] = trace.map(() => ({
    kept: 0,
    runs: 0,
    runStart: 0,
    runFlavor: '',
    runEnd: 0,
    runOutcome: 'completed',
    placement: [],
    firstStart: null,
    end: null,
    status: 'pending',
    gpuSeconds: 0,
  }));
  // Engine handles are given in arrival order; map both ways.
  const handleOf = new Int32Array(n).fill(-1);
  const positionOf: number[] = [];
  const runs: RunRecord[] = [];
  const ends = new EndHeap();
  const restartOverhead = policy.preemption.restartOverhead;
  let next = 0;
  let done = 0;
  let passes = 0;
  let now = 0;
  const explainMoments: readonly number[] = options.explain === undefined || options.explain === 'every-pass' ? [] : options.explain;
  let explainIndex = 0;
  const explainEveryPass = options.explain === 'every-pass';

  const workOn = (spec: JobSpec, flavor: string): number => spec.durationByFlavor?.[flavor] ?? spec.duration;
  const fractional = (spec: JobSpec): boolean => spec.durationByFlavor !== undefined && Object.keys(spec.durationByFlavor).length > 0;
  const checkpointOf = (spec: JobSpec): number => spec.checkpointInterval ?? policy.preemption.checkpointInterval;

  const startRun = (position: number, t: number): void => {
    const handle = handleOf[position]!;
    const spec = trace[position]!;
    const p = progress[position]!;
    const job = engine.jobs[handle]!;
    const flavor = engine.flavorName(job.runFlavor);
    const overhead = p.runs > 0 ? restartOverhead : 0;
    const d = workOn(spec, flavor);
    const remaining = fractional(spec) ? (1 - p.kept) * d : d - p.kept;
    const completion = t + overhead + Math.max(0, remaining);
    const limitEnd = spec.timeLimit === null ? Number.POSITIVE_INFINITY : t + spec.timeLimit;
    p.runs++;
    p.runStart = t;
    p.runFlavor = flavor;
    p.placement = engine.placementOf(handle);
    p.status = 'running';
    if (p.firstStart === null) p.firstStart = t;
    // M6: a run that reaches the time limit ends the job; reaching both at once completes it.
    p.runOutcome = completion <= limitEnd ? 'completed' : 'timed_out';
    p.runEnd = Math.min(completion, limitEnd);
    ends.push(p.runEnd, position, p.runs);
  };

  /** Closes the current run at t; returns GPU-seconds that made no kept progress. */
  const closeRun = (position: number, t: number, outcome: RunOutcome): void => {
    const spec = trace[position]!;
    const p = progress[position]!;
    const overhead = p.runs > 1 ? restartOverhead : 0;
    const elapsed = t - p.runStart;
    const made = Math.max(0, elapsed - overhead);
    let lostSeconds = Math.min(elapsed, overhead);
    if (outcome === 'preempted') {
      const d = workOn(spec, p.runFlavor);
      const c = checkpointOf(spec);
      const frac = fractional(spec);
      const before = frac ? p.kept * d : p.kept;
      const total = Math.min(d, before + made);
      const keptSeconds = c > 0 ? Math.max(before, Math.floor(total / c) * c) : total;
      lostSeconds += total - keptSeconds;
      p.kept = frac ? (d > 0 ? keptSeconds / d : 1) : keptSeconds;
    }
    p.gpuSeconds += spec.gpus * elapsed;
    runs.push({
      job: position,
      start: p.runStart,
      end: t,
      flavor: p.runFlavor,
      placement: p.placement,
      outcome,
      gpus: spec.gpus,
      lostGpuSeconds: spec.gpus * lostSeconds,
    });
  };

  const writeExplain = (t: number, result?: PassResult): void => {
    void result;
    const lines: ExplainLine[] = [];
    for (const job of engine.pendingJobs()) {
      const reason = job.reason;
      if (!reason) continue;
      lines.push({ time: t, job: job.spec.id, team: job.spec.team, code: reason.code, message: reason.message, expectedStart: reason.expectedStart });
    }
    options.onExplain?.(lines);
  };

  const runPass = (t: number): void => {
    const result = engine.pass(t, { explainAll: explainEveryPass });
    passes++;
    for (const { job } of result.preempted) {
      const position = positionOf[job]!;
      closeRun(position, t, 'preempted');
      progress[position]!.status = 'pending';
    }
    for (const handle of result.started) startRun(positionOf[handle]!, t);
    options.onPass?.(engine, result);
    if (explainEveryPass) writeExplain(t, result);
  };

  const explainUpTo = (t: number): void => {
    // Moments before the next event time: explain the state the last pass left.
    while (explainIndex < explainMoments.length && explainMoments[explainIndex]! < t) {
      const moment = explainMoments[explainIndex++]!;
      if (moment > until) break;
      engine.plan(moment, { explainAll: true });
      writeExplain(moment);
    }
  };

  for (;;) {
    const nextArrival = next < n ? trace[order[next]!]!.submit : Number.POSITIVE_INFINITY;
    const nextEnd = ends.size > 0 ? ends.peekTime() : Number.POSITIVE_INFINITY;
    const wake = engine.pending > 0 ? (engine.nextProtectionEnd(now) ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
    const t = Math.min(nextArrival, nextEnd, wake);
    if (t === Number.POSITIVE_INFINITY || t > until) break;
    explainUpTo(t);
    now = t;
    let changed = t === wake;
    // Completions and time-outs first.
    while (ends.size > 0 && ends.peekTime() === t) {
      const e = ends.pop();
      const p = progress[e.job]!;
      if (p.status !== 'running' || p.runs !== e.run) continue; // a run that was preempted
      closeRun(e.job, t, p.runOutcome);
      engine.finish(handleOf[e.job]!, t);
      p.status = p.runOutcome === 'completed' ? 'completed' : 'timed_out';
      p.end = t;
      done++;
      changed = true;
    }
    // Then arrivals.
    while (next < n && trace[order[next]!]!.submit === t) {
      const position = order[next++]!;
      const handle = engine.submit(trace[position]!, t);
      handleOf[position] = handle;
      positionOf[handle] = position;
      if (engine.jobs[handle]!.state === 'rejected') {
        progress[position]!.status = 'rejected';
        done++;
      } else {
        changed = true;
      }
    }
    if (changed) runPass(t);
    options.onProgress?.(t, done);
  }
  explainUpTo(Number.POSITIVE_INFINITY);

  // The horizon cuts what still runs.
  const horizon = options.until ?? null;
  if (horizon !== null) {
    for (let position = 0; position < n; position++) {
      const p = progress[position]!;
      if (p.status !== 'running') continue;
      closeRun(position, horizon, 'running');
      p.end = horizon;
    }
  }
  runs.sort((a, b) => a.start - b.start || a.job - b.job);
  const jobs: JobOutcome[] = trace.map((spec, position) => {
    const p = progress[position]!;
    const handle = handleOf[position]!;
    const job = handle >= 0 ? engine.jobs[handle] : undefined;
    const flavor = p.runs > 0 ? p.runFlavor : spec.flavor;
    const outcome: JobOutcome = {
      spec,
      status: p.status,
      start: p.firstStart,
      end: p.end,
      flavor,
      preemptions: job?.preemptions ?? 0,
      gpuSeconds: p.gpuSeconds,
    };
    return job?.rejectReason ? { ...outcome, rejectReason: job.rejectReason } : outcome;
  });
  return { fleet, policy, jobs, runs, horizon, passes };
}
