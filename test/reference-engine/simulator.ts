// The discrete-event simulator: replays a workload through the engine on a virtual clock.
// It owns what the engine does not need to decide: completions, time limits and the record
// of every run, through the job progress (M6) that every variant shares (job-progress.ts).
// At one instant, completions and time-outs are applied before arrivals, then one pass runs;
// a pass also runs at every instant at which a running job's minRuntime protection ends while
// jobs are pending.
// With `round` (Gavel's rounds), events are still applied at their times, but passes run only
// at multiples of `round` seconds: an arrival waits for the next boundary, and GPUs freed
// mid-round stay idle until then. A boundary runs a pass only when something happened since
// the last pass (an event, or a minRuntime protection that ended while jobs were pending).
import { Engine } from './engine.js';
import type { PassResult } from './engine.js';
import type { Fleet, JobSpec, Policy } from '../../src/core/model.js';
import type { Reason } from './reasons.js';
import { JobProgress } from '../../src/sim/job-progress.js';
import type { SimulationResult } from '../../src/sim/types.js';

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
  /**
   * Seconds between scheduling rounds (Gavel's rounds): passes run only at multiples of this,
   * events in between wait for the next boundary. Default: none, a pass after every event.
   */
  readonly round?: number;
  /** Called after each batch of events, for progress display. */
  readonly onProgress?: (simTime: number, jobsDone: number) => void;
  /** Explanations: 'every-pass', or a sorted list of moments. */
  readonly explain?: 'every-pass' | readonly number[];
  readonly onExplain?: (lines: readonly ExplainLine[]) => void;
  /** Called after every pass (tests check invariants here). */
  readonly onPass?: (engine: Engine, result: PassResult) => void;
  /**
   * The policy and trace the result reports, when the engine runs transformed ones (the fifo
   * and static baselines): the same jobs in the same order, with their own teams and classes.
   * Progress settings and in-guarantee flags come from them. Default: the ones simulated.
   */
  readonly reportAs?: { readonly policy: Policy; readonly trace: readonly JobSpec[] };
}

export function simulate(fleet: Fleet, policy: Policy, trace: readonly JobSpec[], options: SimulateOptions = {}): SimulationResult {
  const engine = new Engine(fleet, policy);
  const until = options.until ?? Number.POSITIVE_INFINITY;
  const round = options.round;
  if (round !== undefined && !(round > 0 && Number.isFinite(round))) throw new RangeError(`round: expected seconds > 0, got ${round}`);
  // The first round boundary at or after t.
  const boundaryFrom = (t: number): number => {
    if (round === undefined || t === Number.POSITIVE_INFINITY) return t;
    let k = Math.ceil(t / round);
    if ((k - 1) * round >= t) k--;
    else if (k * round < t) k++;
    return k * round;
  };
  // Rounds: something happened since the last pass.
  let dirty = false;
  const n = trace.length;
  const reported = options.reportAs ?? { policy, trace };
  if (reported.trace.length !== n) throw new RangeError(`reportAs: ${reported.trace.length} jobs, but ${n} are simulated`);
  // Arrival order: submit time, then file order (stable).
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => trace[a]!.submit - trace[b]!.submit || a - b);
  const book = new JobProgress(
    reported.trace,
    reported.policy,
    engine.fleet.flavors.map((f) => f.name),
  );
  // Engine handles are given in arrival order; map both ways.
  const handleOf = new Int32Array(n).fill(-1);
  const positionOf: number[] = [];
  let next = 0;
  let done = 0;
  let passes = 0;
  let now = 0;
  const explainMoments: readonly number[] = options.explain === undefined || options.explain === 'every-pass' ? [] : options.explain;
  let explainIndex = 0;
  const explainEveryPass = options.explain === 'every-pass';

  const startRun = (position: number, t: number): void => {
    const handle = handleOf[position]!;
    const job = engine.jobs[handle]!;
    book.start(position, t, engine.flavorName(job.runFlavor), engine.placementOf(handle));
  };

  const writeExplain = (t: number, result?: PassResult): void => {
    void result;
    const lines: ExplainLine[] = [];
    for (const job of engine.pendingJobs()) {
      const reason = job.reason;
      if (!reason) continue;
      const position = positionOf[job.handle]!;
      const team = reported.trace[position]?.team ?? job.spec.team;
      lines.push({ time: t, job: job.spec.id, team, code: reason.code, message: reason.message, expectedStart: reason.expectedStart });
    }
    options.onExplain?.(lines);
  };

  const runPass = (t: number): void => {
    const result = engine.pass(t, { explainAll: explainEveryPass });
    passes++;
    for (const { job } of result.preempted) book.preempt(positionOf[job]!, t);
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
    const nextEnd = book.nextEnd();
    const wake = engine.pending > 0 ? (engine.nextProtectionEnd(now) ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
    // With rounds, the pass that is due (after an event, or at a protection end) waits for the
    // next boundary.
    const passAt = round === undefined ? wake : boundaryFrom(dirty ? now : wake);
    const t = Math.min(nextArrival, nextEnd, passAt);
    if (t === Number.POSITIVE_INFINITY || t > until) break;
    explainUpTo(t);
    now = t;
    let changed = t === wake;
    // Completions and time-outs first.
    for (const position of book.finishDue(t)) {
      engine.finish(handleOf[position]!, t);
      done++;
      changed = true;
    }
    // Then arrivals.
    while (next < n && trace[order[next]!]!.submit === t) {
      const position = order[next++]!;
      book.arrive(position);
      const handle = engine.submit(trace[position]!, t);
      handleOf[position] = handle;
      positionOf[handle] = position;
      const job = engine.jobs[handle]!;
      if (job.state === 'rejected') {
        book.reject(position, job.rejectReason ?? '');
        done++;
      } else {
        changed = true;
      }
    }
    if (round === undefined) {
      if (changed) runPass(t);
    } else {
      if (changed || wake <= t) dirty = true;
      if (dirty && boundaryFrom(t) === t) {
        dirty = false;
        runPass(t);
      }
    }
    options.onProgress?.(t, done);
  }
  explainUpTo(Number.POSITIVE_INFINITY);

  // The horizon cuts what still runs.
  const horizon = options.until ?? null;
  if (horizon !== null) book.cutAt(horizon);
  const runs = book.sortedRuns();
  return { fleet, policy: reported.policy, jobs: book.outcomes(), runs, horizon, passes };
}
