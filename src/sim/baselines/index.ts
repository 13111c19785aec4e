// The baselines `arbiter compare` runs beside Arbiter policies, so users see what Arbiter buys
// them. Each obeys every physical rule (capacity, shapes, flavors, progress M6); only the team
// rules (guarantees, limits, lending, classes, fair share) are theirs to ignore or to change.
// All report the user's own policy and trace: jobs keep their team and class in the outputs,
// and the comparison metrics measure every variant against the same guarantees.
import type { Fleet, JobSpec, Policy } from '../../core/model.js';
import { simulate } from '../simulator.js';
import type { SimulationResult } from '../types.js';
import { fifoPolicy, fifoTrace, staticPolicy } from './policies.js';
import { runPriorityLoop } from './priority-loop.js';

export type BaselineName = 'fifo' | 'static' | 'las' | 'srtf';

/** Every baseline, in the order `--baselines` defaults to. */
export const BASELINES: readonly BaselineName[] = ['fifo', 'static', 'las', 'srtf'];

export const BASELINE_DESCRIPTIONS: Readonly<Record<BaselineName, string>> = {
  fifo: 'one shared queue in submit order, no teams, no preemption',
  static: "each team capped at its guarantee, no borrowing, no preemption (static partitions); jobs larger than their team's guarantee are rejected",
  las: 'least attained service first with preemption, ignoring teams and classes (Tiresias); --las-round N: decide every N seconds (Gavel)',
  srtf: 'shortest remaining time first with preemption, from the true durations: an oracle, a lower bound, not a real policy',
};

export function isBaseline(name: string): name is BaselineName {
  return (BASELINES as readonly string[]).includes(name);
}

export interface BaselineOptions {
  /** las only: seconds between decisions (Gavel's rounds). Default: decide at every event. */
  readonly lasRound?: number;
  /** fifo and static (the baselines that run through the engine): passes only every this many seconds. */
  readonly round?: number;
  readonly until?: number;
  readonly onProgress?: (simTime: number, jobsDone: number) => void;
}

/** Replays `trace` under a baseline; `policy` is the user's (teams, classes and progress settings). */
export function runBaseline(name: BaselineName, fleet: Fleet, policy: Policy, trace: readonly JobSpec[], options: BaselineOptions = {}): SimulationResult {
  const common = {
    ...(options.until !== undefined ? { until: options.until } : {}),
    ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
  };
  const engineCommon = { ...common, ...(options.round !== undefined ? { round: options.round } : {}) };
  switch (name) {
    case 'fifo':
      return simulate(fleet, fifoPolicy(policy), fifoTrace(trace), { ...engineCommon, reportAs: { policy, trace } });
    case 'static': {
      const flavors: string[] = [];
      for (const pool of fleet.pools) if (!flavors.includes(pool.flavor)) flavors.push(pool.flavor);
      return simulate(fleet, staticPolicy(policy, flavors), trace, { ...engineCommon, reportAs: { policy, trace } });
    }
    case 'las':
      return runPriorityLoop(fleet, policy, trace, { ...common, order: 'las', ...(options.lasRound !== undefined ? { round: options.lasRound } : {}) });
    case 'srtf':
      return runPriorityLoop(fleet, policy, trace, { ...common, order: 'srtf' });
  }
}
