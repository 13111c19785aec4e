// A small, hand-built SimulationResult shared by the output tests (metrics, outputs, summary table).
// Test support only: no production code imports it.
import type { Fleet, JobSpec, Policy, TeamSpec } from '../core/model.js';
import type { JobOutcome, RunRecord, SimulationResult } from './types.js';

export function team(
  name: string,
  children: readonly TeamSpec[] = [],
  guarantee: Record<string, number> = {},
): TeamSpec {
  return { name, guarantee, limit: {}, lendable: {}, weight: 1, children };
}

export function policy(teams: readonly TeamSpec[]): Policy {
  return {
    priorityClasses: [
      { name: 'serving', priority: 1000, preemptible: false },
      { name: 'training', priority: 500, preemptible: true },
      { name: 'research', priority: 100, preemptible: true },
    ],
    defaultClass: 'research',
    scheduling: { withinTeam: 'fifo' },
    fairShare: { halfLife: 7 * 86400 },
    preemption: {
      minRuntime: 0,
      restartOverhead: 10,
      checkpointInterval: 40,
      withinTeam: true,
      borrowing: 'lowerPriority',
      fairShare: false,
    },
    teams,
  };
}

export function spec(id: string, fields: Partial<JobSpec> & Pick<JobSpec, 'team' | 'submit'>): JobSpec {
  return {
    id,
    gpus: 1,
    duration: 60,
    class: 'research',
    flavor: null,
    timeLimit: null,
    checkpointInterval: null,
    ...fields,
  };
}

export function outcome(
  jobSpec: JobSpec,
  fields: Partial<Omit<JobOutcome, 'spec'>> & Pick<JobOutcome, 'status'>,
): JobOutcome {
  return {
    spec: jobSpec,
    start: null,
    end: null,
    flavor: jobSpec.flavor,
    preemptions: 0,
    gpuSeconds: 0,
    ...fields,
  };
}

export function run(
  job: number,
  start: number,
  end: number,
  placement: RunRecord['placement'],
  outcome: RunRecord['outcome'],
  lostGpuSeconds = 0,
): RunRecord {
  const gpus = placement.reduce((sum, p) => sum + p.gpus, 0);
  return { job, start, end, flavor: 'h100', placement, outcome, gpus, lostGpuSeconds };
}

/** 2 nodes x 4 GPUs = 8 GPUs: h100-a-0, h100-a-1. */
export const SAMPLE_FLEET: Fleet = { pools: [{ name: 'h100-a', flavor: 'h100', nodes: 2, gpusPerNode: 4 }] };

/** research { pretraining, alignment }, applied (a leaf at the top). */
export const SAMPLE_POLICY: Policy = policy([
  team('research', [team('pretraining', [], { h100: 4 }), team('alignment', [], { h100: 2 })], { h100: 6 }),
  team('applied', [], { h100: 2 }),
]);

/**
 * Five jobs, horizon 280 (policy: restartOverhead 10 s, checkpointInterval 40 s):
 * - j1 pretraining, 4 GPUs, submit 0: runs 10..110 on h100-a-0, completed. wait 10, jct 110, 400 GPU-s.
 * - j2 alignment, 4 GPUs, submit 5, 200 s of work: runs 20..80 on h100-a-1 (60 s of progress), preempted
 *   by j3; last checkpoint at 40 s, so 20 s x 4 GPUs = 80 GPU-s lost. Restarts 110..280 on 2+2 GPUs:
 *   10 s overhead (40 GPU-s lost) + the 160 s left = 170 s. completed, wait 15, jct 275, 240 + 680 = 920 GPU-s.
 * - j3 applied, serving, 4 GPUs, submit 80, time limit 20: runs 80..100 on h100-a-1, timed_out. wait 0, jct 20, 80 GPU-s.
 * - `j4,"big"` applied, 16 GPUs, submit 90: more than the fleet, rejected.
 * - j5 pretraining, 8 GPUs, submit 100.0005: the whole fleet is free only at 280, the horizon: pending.
 */
export function sampleResult(): SimulationResult {
  const j1 = spec('j1', {
    team: 'pretraining',
    class: 'training',
    submit: 0,
    gpus: 4,
    duration: 100,
    flavor: 'h100',
  });
  const j2 = spec('j2', { team: 'alignment', submit: 5, gpus: 4, duration: 200 });
  const j3 = spec('j3', {
    team: 'applied',
    class: 'serving',
    submit: 80,
    gpus: 4,
    duration: 500,
    timeLimit: 20,
  });
  const j4 = spec('j4,"big"', { team: 'applied', submit: 90, gpus: 16, duration: 60 });
  const j5 = spec('j5', { team: 'pretraining', submit: 100.0005, gpus: 8, duration: 50, flavor: 'h100' });
  return {
    fleet: SAMPLE_FLEET,
    policy: SAMPLE_POLICY,
    jobs: [
      outcome(j1, { status: 'completed', start: 10, end: 110, flavor: 'h100', gpuSeconds: 400 }),
      outcome(j2, {
        status: 'completed',
        start: 20,
        end: 280,
        flavor: 'h100',
        preemptions: 1,
        gpuSeconds: 920,
      }),
      outcome(j3, { status: 'timed_out', start: 80, end: 100, flavor: 'h100', gpuSeconds: 80 }),
      outcome(j4, { status: 'rejected', rejectReason: 'needs 16 GPUs, the fleet has 8' }),
      outcome(j5, { status: 'pending' }),
    ],
    runs: [
      run(0, 10, 110, [{ node: 'h100-a-0', gpus: 4 }], 'completed'),
      run(1, 20, 80, [{ node: 'h100-a-1', gpus: 4 }], 'preempted', 80),
      run(2, 80, 100, [{ node: 'h100-a-1', gpus: 4 }], 'timed_out'),
      // Placement deliberately not sorted: segments.csv must sort it.
      run(
        1,
        110,
        280,
        [
          { node: 'h100-a-1', gpus: 2 },
          { node: 'h100-a-0', gpus: 2 },
        ],
        'completed',
        40,
      ),
    ],
    horizon: 280,
    passes: 12,
  };
}
