// The measurements of the synthetic benchmark, each run in a child process of its own
// (run.ts) so that its peak memory is its own.
//
// - simulation: the whole discrete-event simulation of a Poisson stream of jobs (wall
//   time, jobs/s, passes, peak memory, and the time of every event batch + its pass).
// - saturated state: an Engine driven directly into a state with ~P pending and ~R
//   running jobs, then the time of one pass (plan: decided and rolled back, so it can be
//   repeated on the same state) and of an event followed by its pass.
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Engine } from '../../src/core/engine.js';
import type { JobSpec } from '../../src/core/model.js';
import { simulate } from '../../src/sim/simulator.js';
import { makeJobs, makeLab, mulberry32, offeredLoad } from './lab.js';
import type { Lab, LabOptions } from './lab.js';
import { Profiler } from './profile.js';
import { LogHistogram, median, quantile } from './stats.js';

export interface LabShape {
  readonly nodes: number;
  readonly divisions: number;
  readonly groups: number;
  readonly leaves: number;
  readonly flavors?: 1 | 2;
}

export interface SimConfig extends LabShape {
  readonly kind: 'sim';
  readonly label: string;
  readonly jobs: number;
  readonly load: number;
  readonly seed: number;
  /** Wall-clock seconds after which the simulation is stopped and reported as partial. */
  readonly wallLimitS: number;
  /** Directory for a CPU profile of the simulation, or absent. */
  readonly profileDir?: string;
}

export interface StateConfig extends LabShape {
  readonly kind: 'state';
  readonly label: string;
  readonly pending: number;
  readonly seed: number;
  /** Most repeats of one plan, and the seconds after which repeating stops (at least 3 are made). */
  readonly planReps: number;
  readonly planBudgetS: number;
  /** Events of each kind, and the seconds after which they stop (at least 20 are made). */
  readonly events: number;
  readonly eventBudgetS: number;
  readonly profileDir?: string;
}

export type ChildConfig = SimConfig | StateConfig;

export interface MemorySample {
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
}

export interface SimResult {
  readonly kind: 'sim';
  readonly label: string;
  readonly gpus: number;
  readonly teams: number;
  readonly leafTeams: number;
  readonly jobs: number;
  /** False when the wall-clock limit stopped the simulation: the counts below are up to there. */
  readonly complete: boolean;
  /** Jobs that ended (completed, timed out or rejected) when the simulation stopped. */
  readonly jobsDone: number;
  /** Simulated time reached, in days. */
  readonly simulatedDaysReached: number;
  readonly offeredLoad: number;
  readonly generateS: number;
  readonly simulateS: number;
  readonly jobsPerS: number;
  readonly passes: number;
  readonly simulatedDays: number;
  readonly completed: number;
  readonly timedOut: number;
  readonly rejected: number;
  readonly preemptedRuns: number;
  /** Busy GPU-seconds over capacity x (last end - first submit). */
  readonly utilization: number;
  readonly meanWaitH: number;
  readonly maxPending: number;
  readonly maxRunning: number;
  /** Memory after the trace was generated (before simulating). */
  readonly baseline: MemorySample;
  /** Highest sampled during the simulation. */
  readonly peakSampled: MemorySample;
  /** process.resourceUsage().maxRSS: the true peak resident set of the process. */
  readonly peakRssMiB: number;
  /** Time from the end of one event batch to the end of the next batch's pass (events + pass + simulator bookkeeping). */
  readonly step: { median: number; p99: number; max: number; over100ms: number; meanMs: number };
  readonly slowestPass: {
    ms: number;
    time: number;
    pending: number;
    running: number;
    started: number;
    considered: number;
  };
  /** os.loadavg() at the end: the machine is shared, so this says how noisy the run was. */
  readonly loadAverage: readonly number[];
  readonly profiles?: readonly string[];
}

export interface TimedPass {
  readonly ms: number;
  readonly started: number;
  readonly preempted: number;
  readonly considered: number;
}

export interface RepeatStats {
  readonly reps: number;
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly started: number;
  readonly preempted: number;
  readonly considered: number;
}

export interface EventStats {
  readonly events: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  /** Share of the time spent in the event itself (finish or submit) rather than the pass. */
  readonly eventShare: number;
  readonly meanStarted: number;
  readonly meanConsidered: number;
}

export interface StateResult {
  readonly kind: 'state';
  readonly label: string;
  readonly gpus: number;
  readonly teams: number;
  readonly leafTeams: number;
  readonly buildS: number;
  /** The first pass on the empty fleet, starting the fill jobs. */
  readonly fillPass: TimedPass;
  /** Counts when 100% of the pending jobs have just arrived (before any pass saw them). */
  readonly burstPending: number;
  readonly burstRunning: number;
  /** plan(now) right after the arrivals: the pass that reclaims and preempts the most. */
  readonly burst: RepeatStats;
  /** Committed passes until one started nothing. */
  readonly converge: readonly TimedPass[];
  readonly pending: number;
  readonly running: number;
  /** plan(now) in the settled state. */
  readonly steady: RepeatStats;
  /** plan(now, { explainAll: true }) in the settled state: every pending job visited. */
  readonly explainAll: RepeatStats;
  /** finish(one running job) then pass(now). */
  readonly finishPass: EventStats;
  /** submit(one new job) then pass(now). */
  readonly submitPass: EventStats;
  readonly peakRssMiB: number;
  readonly heapUsedMiB: number;
  readonly loadAverage: readonly number[];
  readonly profiles?: readonly string[];
}

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) g();
};

const memory = (): MemorySample => {
  const m = process.memoryUsage();
  return { rssMiB: m.rss / 1048576, heapUsedMiB: m.heapUsed / 1048576 };
};

const log = (message: string): void => {
  process.stderr.write(`  [${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

function labOf(config: LabShape & { seed: number }): Lab {
  const options: LabOptions = {
    nodes: config.nodes,
    divisions: config.divisions,
    groups: config.groups,
    leaves: config.leaves,
    flavors: config.flavors ?? 1,
    seed: config.seed,
  };
  return makeLab(options);
}

// ------------------------------------------------------------------ simulation

/** Thrown from the progress callback to stop a simulation at its wall-clock limit. */
class WallLimit extends Error {}

export async function runSimulation(config: SimConfig): Promise<SimResult> {
  const g0 = performance.now();
  const lab = labOf(config);
  const jobs = makeJobs(lab, config.jobs, {
    seed: config.seed + 1,
    arrivals: { kind: 'poisson', load: config.load },
  });
  const generateS = (performance.now() - g0) / 1000;
  gc();
  const baseline = memory();
  let peakRss = baseline.rssMiB;
  let peakHeap = baseline.heapUsedMiB;
  const steps = new LogHistogram();
  let slowest = { ms: 0, time: 0, pending: 0, running: 0, started: 0, considered: 0 };
  let maxPending = 0;
  let maxRunning = 0;
  let calls = 0;
  let lastLog = performance.now();
  const lastSubmit = jobs[jobs.length - 1]!.submit;
  const profiler = config.profileDir ? new Profiler() : null;
  if (profiler) await profiler.start();
  let mark = performance.now();
  const s0 = mark;
  const deadline = s0 + config.wallLimitS * 1000;
  let passes = 0;
  let jobsDone = 0;
  let simNow = 0;
  let result: ReturnType<typeof simulate> | null = null;
  try {
    result = simulate(lab.fleet, lab.policy, jobs, {
      onPass: (engine, pass) => {
        passes++;
        const t = performance.now();
        const ms = t - mark;
        steps.add(ms);
        if (engine.pending > maxPending) maxPending = engine.pending;
        if (engine.running > maxRunning) maxRunning = engine.running;
        if (ms > slowest.ms)
          slowest = {
            ms,
            time: pass.now,
            pending: engine.pending,
            running: engine.running,
            started: pass.started.length,
            considered: pass.considered,
          };
      },
      onProgress: (simTime, done) => {
        calls++;
        jobsDone = done;
        simNow = simTime;
        if ((calls & 1023) === 0) {
          const m = process.memoryUsage();
          if (m.rss / 1048576 > peakRss) peakRss = m.rss / 1048576;
          if (m.heapUsed / 1048576 > peakHeap) peakHeap = m.heapUsed / 1048576;
          const t = performance.now();
          if (t - lastLog > 15000) {
            lastLog = t;
            log(
              `${config.label}: ${done.toLocaleString('en-US')} / ${config.jobs.toLocaleString('en-US')} jobs done, sim day ${(simTime / 86400).toFixed(1)} (arrivals end day ${(lastSubmit / 86400).toFixed(1)}), ${((t - s0) / 1000).toFixed(0)} s, rss ${(m.rss / 1048576).toFixed(0)} MiB`,
            );
          }
        }
        mark = performance.now();
        if (mark > deadline) throw new WallLimit();
      },
    });
  } catch (error) {
    if (!(error instanceof WallLimit)) throw error;
    log(`${config.label}: stopped at the wall-clock limit of ${config.wallLimitS} s`);
  }
  const simulateS = (performance.now() - s0) / 1000;
  const profiles: string[] = [];
  if (profiler && config.profileDir) {
    const file = path.join(config.profileDir, `sim-${config.label}.cpuprofile`);
    await profiler.stop(file);
    profiles.push(file);
  }
  const end = memory();
  peakRss = Math.max(peakRss, end.rssMiB);
  peakHeap = Math.max(peakHeap, end.heapUsedMiB);

  let completed = 0;
  let timedOut = 0;
  let rejected = 0;
  let busy = 0;
  let waitSum = 0;
  let waited = 0;
  let lastEnd = 0;
  for (const j of result?.jobs ?? []) {
    if (j.status === 'completed') completed++;
    else if (j.status === 'timed_out') timedOut++;
    else if (j.status === 'rejected') rejected++;
    busy += j.gpuSeconds;
    if (j.start !== null) {
      waitSum += j.start - j.spec.submit;
      waited++;
    }
    if (j.end !== null && j.end > lastEnd) lastEnd = j.end;
  }
  let preemptedRuns = 0;
  for (const r of result?.runs ?? []) if (r.outcome === 'preempted') preemptedRuns++;
  const firstSubmit = jobs[0]!.submit;
  return {
    kind: 'sim',
    label: config.label,
    gpus: lab.totalGpus,
    teams: lab.teamCount,
    leafTeams: lab.leaves.length,
    jobs: config.jobs,
    complete: result !== null,
    jobsDone,
    simulatedDaysReached: (simNow - firstSubmit) / 86400,
    offeredLoad: offeredLoad(lab, jobs),
    generateS,
    simulateS,
    jobsPerS: jobsDone / simulateS,
    passes,
    simulatedDays: result ? (lastEnd - firstSubmit) / 86400 : Number.NaN,
    completed,
    timedOut,
    rejected,
    preemptedRuns,
    utilization: result ? busy / (lab.totalGpus * Math.max(1, lastEnd - firstSubmit)) : Number.NaN,
    meanWaitH: waited > 0 ? waitSum / waited / 3600 : 0,
    maxPending,
    maxRunning,
    baseline,
    peakSampled: { rssMiB: peakRss, heapUsedMiB: peakHeap },
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    step: {
      median: steps.quantile(0.5),
      p99: steps.quantile(0.99),
      max: steps.max,
      over100ms: steps.above(100),
      meanMs: steps.total / Math.max(1, steps.count),
    },
    slowestPass: slowest,
    loadAverage: os.loadavg(),
    ...(profiles.length > 0 ? { profiles } : {}),
  };
}

// ------------------------------------------------------------------ saturated state

/** Repeats `plan` on the same state: median of up to `reps` runs, stopping after `budgetS` (at least `least`). */
function repeatPlan(
  engine: Engine,
  now: number,
  explainAll: boolean,
  reps: number,
  budgetS: number,
  least = 3,
): RepeatStats {
  const times: number[] = [];
  let last = { started: 0, preempted: 0, considered: 0 };
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    gc();
    const a = performance.now();
    const r = engine.plan(now, { explainAll });
    times.push(performance.now() - a);
    last = { started: r.started.length, preempted: r.preempted.length, considered: r.considered };
    if (i + 1 >= least && performance.now() - t0 > budgetS * 1000) break;
  }
  return {
    reps: times.length,
    medianMs: median(times),
    minMs: Math.min(...times),
    maxMs: Math.max(...times),
    ...last,
  };
}

function timedPass(engine: Engine, now: number): TimedPass {
  const a = performance.now();
  const r = engine.pass(now);
  return {
    ms: performance.now() - a,
    started: r.started.length,
    preempted: r.preempted.length,
    considered: r.considered,
  };
}

function eventStats(times: number[], eventTimes: number[], started: number, considered: number): EventStats {
  const total = times.reduce((a, b) => a + b, 0);
  return {
    events: times.length,
    medianMs: median(times),
    p99Ms: quantile(times, 0.99),
    maxMs: Math.max(...times),
    meanMs: total / Math.max(1, times.length),
    eventShare: eventTimes.reduce((a, b) => a + b, 0) / Math.max(1e-9, total),
    meanStarted: started / Math.max(1, times.length),
    meanConsidered: considered / Math.max(1, times.length),
  };
}

/**
 * Drives an Engine into the saturated state:
 * 1. t=0: "fill" jobs of 1, 2 and 4 GPUs (mean 2) whose GPUs add up to the fleet, and one
 *    pass on the empty fleet, which starts them: ~GPUs/2 running jobs (50,000 on 100,000).
 * 2. `pending` jobs of the realistic mix arrive over the first hour (submit in [1, 3600]).
 * 3. At t=3600 (past minRuntime, so reclaim and preemption may happen) the "burst" plan is
 *    timed, then passes are committed until one starts nothing: the settled state.
 */
export async function runState(config: StateConfig): Promise<StateResult> {
  const b0 = performance.now();
  const lab = labOf(config);
  const engine = new Engine(lab.fleet, lab.policy);
  const rand = mulberry32(config.seed + 7);

  const fillGuess = Math.ceil((lab.totalGpus / 2) * 1.05) + 100;
  const fillAll = makeJobs(lab, fillGuess, {
    seed: config.seed + 2,
    arrivals: { kind: 'at', time: 0 },
    mix: 'small',
    prefix: 'f',
  });
  let gpus = 0;
  for (const spec of fillAll) {
    if (gpus + spec.gpus > lab.totalGpus) break;
    gpus += spec.gpus;
    engine.submit(spec, 0);
  }
  gc();
  const fillPass = timedPass(engine, 0);
  log(`${config.label}: fill pass started ${fillPass.started} jobs in ${fillPass.ms.toFixed(0)} ms`);

  const T0 = 3600;
  const pendingJobs = makeJobs(lab, config.pending, {
    seed: config.seed + 3,
    arrivals: { kind: 'spread', from: 1, to: T0 },
    prefix: 'p',
  });
  for (const spec of pendingJobs) engine.submit(spec, spec.submit);
  const burstPending = engine.pending;
  const burstRunning = engine.running;
  log(`${config.label}: ${burstPending} pending, ${burstRunning} running; timing the burst plan`);

  const profiler = config.profileDir ? new Profiler() : null;
  const profiles: string[] = [];
  const profileFile = (name: string): string =>
    path.join(config.profileDir!, `${name}-${config.label}.cpuprofile`);

  if (profiler) await profiler.start();
  const burst = repeatPlan(
    engine,
    T0,
    false,
    profiler ? 1 : Math.min(config.planReps, 5),
    config.planBudgetS,
    1,
  );
  if (profiler) {
    await profiler.stop(profileFile('burst-pass'));
    profiles.push(profileFile('burst-pass'));
  }
  log(
    `${config.label}: burst plan ${burst.medianMs.toFixed(1)} ms (${burst.started} starts, ${burst.preempted} preemptions); converging`,
  );

  const converge: TimedPass[] = [];
  for (let i = 0; i < 50; i++) {
    const p = timedPass(engine, T0);
    converge.push(p);
    if (p.started === 0) break;
  }
  const buildS = (performance.now() - b0) / 1000;
  log(
    `${config.label}: settled after ${converge.length} passes: ${engine.pending} pending, ${engine.running} running`,
  );

  if (profiler) await profiler.start();
  const steady = repeatPlan(engine, T0, false, config.planReps, config.planBudgetS);
  if (profiler) {
    await profiler.stop(profileFile('pass'));
    profiles.push(profileFile('pass'));
  }
  const explainAll = repeatPlan(engine, T0, true, config.planReps, config.planBudgetS);
  log(
    `${config.label}: steady plan ${steady.medianMs.toFixed(2)} ms, explainAll ${explainAll.medianMs.toFixed(1)} ms; events`,
  );
  const pending = engine.pending;
  const running = engine.running;

  // Running handles, to finish one at random (swap-remove; started ones are added).
  const runningHandles: number[] = [];
  for (const j of engine.jobs) if (j.state === 'running') runningHandles.push(j.handle);
  let now = T0;

  const eventLoop = (kind: 'finish' | 'submit', extra: JobSpec[]): EventStats => {
    const times: number[] = [];
    const eventTimes: number[] = [];
    let started = 0;
    let considered = 0;
    const t0 = performance.now();
    for (let i = 0; i < config.events; i++) {
      now += 1;
      const a = performance.now();
      if (kind === 'finish') {
        let handle = -1;
        while (runningHandles.length > 0) {
          const k = Math.floor(rand() * runningHandles.length);
          const h = runningHandles[k]!;
          runningHandles[k] = runningHandles[runningHandles.length - 1]!;
          runningHandles.pop();
          if (engine.jobs[h]!.state === 'running') {
            handle = h;
            break;
          }
        }
        if (handle < 0) break;
        engine.finish(handle, now);
      } else {
        const spec = extra[i]!;
        engine.submit({ ...spec, submit: now }, now);
      }
      const b = performance.now();
      const r = engine.pass(now);
      const c = performance.now();
      times.push(c - a);
      eventTimes.push(b - a);
      started += r.started.length;
      considered += r.considered;
      for (const h of r.started) runningHandles.push(h);
      if (i >= 19 && c - t0 > config.eventBudgetS * 1000) break;
    }
    return eventStats(times, eventTimes, started, considered);
  };

  gc();
  if (profiler) await profiler.start();
  const finishPass = eventLoop('finish', []);
  if (profiler) {
    await profiler.stop(profileFile('finish-pass'));
    profiles.push(profileFile('finish-pass'));
  }
  const extra = makeJobs(lab, config.events, {
    seed: config.seed + 4,
    arrivals: { kind: 'at', time: 0 },
    prefix: 'e',
  });
  gc();
  if (profiler) await profiler.start();
  const submitPass = eventLoop('submit', extra);
  if (profiler) {
    await profiler.stop(profileFile('submit-pass'));
    profiles.push(profileFile('submit-pass'));
  }
  log(
    `${config.label}: finish+pass median ${finishPass.medianMs.toFixed(2)} ms, submit+pass median ${submitPass.medianMs.toFixed(2)} ms`,
  );

  const result: StateResult = {
    kind: 'state',
    label: config.label,
    gpus: lab.totalGpus,
    teams: lab.teamCount,
    leafTeams: lab.leaves.length,
    buildS,
    fillPass,
    burstPending,
    burstRunning,
    burst,
    converge,
    pending,
    running,
    steady,
    explainAll,
    finishPass,
    submitPass,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    heapUsedMiB: memory().heapUsedMiB,
    loadAverage: os.loadavg(),
  };
  return profiles.length > 0 ? { ...result, profiles } : result;
}
