import { describe, expect, it } from 'vitest';
import { fleetGpus, percentile, summarize, type Summary } from './metrics.js';
import { outcome, policy, run, sampleResult, spec, team, SAMPLE_FLEET } from './test-fixtures.js';
import type { SimulationResult } from './types.js';

describe('percentile (nearest rank)', () => {
  const oneToN = (n: number): Float64Array => Float64Array.from({ length: n }, (_, i) => i + 1);

  it('takes the value at rank ceil(p/100 * n)', () => {
    // n = 20: p50 -> rank 10, p95 -> rank 19, p99 -> ceil(19.8) = 20.
    expect([50, 95, 99, 100].map((p) => percentile(oneToN(20), p))).toEqual([10, 19, 20, 20]);
    // n = 3: p50 -> ceil(1.5) = 2, p1 -> ceil(0.03) = 1.
    expect([50, 1].map((p) => percentile([20, 110, 275], p))).toEqual([110, 20]);
  });

  it('is not fooled by floating point: p7 of 1..100 is 7 (0.07*100 = 7.000000000000001)', () => {
    expect(percentile(oneToN(100), 7)).toBe(7);
  });

  it('is 0 for no values and the value itself for one', () => {
    expect([percentile([], 99), percentile([42], 1), percentile([42], 99)]).toEqual([0, 42, 42]);
  });
});

describe('summarize', () => {
  it('summarizes the sample run: every figure by hand', () => {
    // JCT over completed + timed_out: j1 110, j2 275, j3 20 -> sorted [20, 110, 275].
    //   avg 405/3 = 135; p50 rank ceil(1.5) = 2 -> 110; p95 rank ceil(2.85) = 3 -> 275; p99 -> 275.
    // Wait over started jobs: j1 10, j2 15, j3 0 -> [0, 10, 15]; avg 25/3 = 8.333; p50 10; p95, p99 15.
    // makespan: last end 280 (j2) - first submit 0 (j1) = 280.
    // GPU-seconds of runs: 4x100 + 4x60 + 4x20 + 4x170 = 400 + 240 + 80 + 680 = 1400.
    // utilization: 1400 / (8 GPUs x 280 s = 2240) = 0.625.
    // lost: 80 (j2's preempted run) + 40 (its restart overhead) = 120.
    expect(summarize(sampleResult())).toEqual({
      jobs: 5,
      completed: 2,
      rejected: 1,
      avgJct: 135,
      p50Jct: 110,
      p95Jct: 275,
      p99Jct: 275,
      avgWait: 8.333,
      p99Wait: 15,
      makespan: 280,
      utilization: 0.625,
      preemptions: 1,
      lostGpuSeconds: 120,
      teams: {
        // j1 (completed, wait 10, jct 110, 400 GPU-s) and j5 (pending: no wait, no jct).
        pretraining: {
          jobs: 2,
          avgJct: 110,
          avgWait: 10,
          gpuSeconds: 400,
          completed: 1,
          p99Wait: 10,
          preemptions: 0,
        },
        // j2: wait 15, jct 275, 240 + 680 GPU-s, preempted once.
        alignment: {
          jobs: 1,
          avgJct: 275,
          avgWait: 15,
          gpuSeconds: 920,
          completed: 1,
          p99Wait: 15,
          preemptions: 1,
        },
        // j3 (timed out: jct 20, wait 0, 80 GPU-s) and j4 (rejected).
        applied: {
          jobs: 2,
          avgJct: 20,
          avgWait: 0,
          gpuSeconds: 80,
          completed: 0,
          p99Wait: 0,
          preemptions: 0,
        },
      },
      timedOut: 1,
      running: 0,
      pending: 1,
      p50Wait: 10,
      p95Wait: 15,
      gpuSeconds: 1400,
      fleetGpus: 8,
      topTeams: {
        // pretraining + alignment: jct (110 + 275)/2 = 192.5, wait (10 + 15)/2 = 12.5, p99 wait rank 2 of [10, 15].
        research: {
          jobs: 3,
          avgJct: 192.5,
          avgWait: 12.5,
          gpuSeconds: 1320,
          completed: 2,
          p99Wait: 15,
          preemptions: 1,
        },
        applied: {
          jobs: 2,
          avgJct: 20,
          avgWait: 0,
          gpuSeconds: 80,
          completed: 0,
          p99Wait: 0,
          preemptions: 0,
        },
      },
    } satisfies Summary);
  });

  it('puts the documented keys first, in the order of formats.md', () => {
    const summary = summarize(sampleResult());
    expect(Object.keys(summary)).toEqual([
      'jobs',
      'completed',
      'rejected',
      'avgJct',
      'p50Jct',
      'p95Jct',
      'p99Jct',
      'avgWait',
      'p99Wait',
      'makespan',
      'utilization',
      'preemptions',
      'lostGpuSeconds',
      'teams',
      'timedOut',
      'running',
      'pending',
      'p50Wait',
      'p95Wait',
      'gpuSeconds',
      'fleetGpus',
      'topTeams',
    ]);
    expect(Object.keys(summary.teams.pretraining ?? {})).toEqual([
      'jobs',
      'avgJct',
      'avgWait',
      'gpuSeconds',
      'completed',
      'p99Wait',
      'preemptions',
    ]);
  });

  it('measures only trace positions 1..3 when asked', () => {
    // j2, j3, j4. JCT [275, 20] -> avg 147.5, p50 rank 1 -> 20, p95 rank ceil(1.9) = 2 -> 275.
    // Wait [15, 0] -> avg 7.5, p50 0, p99 15. makespan 280 - 5 = 275.
    // utilization: every run clipped to [5, 280] (all inside) = 1400 / (8 x 275 = 2200) = 0.636363.. -> 0.636364.
    // gpuSeconds of the measured jobs: 920 + 80 = 1000; lost 120 (j2's runs).
    expect(summarize(sampleResult(), { measureJobs: [1, 3] })).toEqual({
      jobs: 3,
      completed: 1,
      rejected: 1,
      avgJct: 147.5,
      p50Jct: 20,
      p95Jct: 275,
      p99Jct: 275,
      avgWait: 7.5,
      p99Wait: 15,
      makespan: 275,
      utilization: 0.636364,
      preemptions: 1,
      lostGpuSeconds: 120,
      teams: {
        alignment: {
          jobs: 1,
          avgJct: 275,
          avgWait: 15,
          gpuSeconds: 920,
          completed: 1,
          p99Wait: 15,
          preemptions: 1,
        },
        applied: {
          jobs: 2,
          avgJct: 20,
          avgWait: 0,
          gpuSeconds: 80,
          completed: 0,
          p99Wait: 0,
          preemptions: 0,
        },
      },
      timedOut: 1,
      running: 0,
      pending: 0,
      p50Wait: 0,
      p95Wait: 15,
      gpuSeconds: 1000,
      fleetGpus: 8,
      topTeams: {
        research: {
          jobs: 1,
          avgJct: 275,
          avgWait: 15,
          gpuSeconds: 920,
          completed: 1,
          p99Wait: 15,
          preemptions: 1,
        },
        applied: {
          jobs: 2,
          avgJct: 20,
          avgWait: 0,
          gpuSeconds: 80,
          completed: 0,
          p99Wait: 0,
          preemptions: 0,
        },
      },
    } satisfies Summary);
  });

  it('counts the whole fleet busy time inside the measured window, not only the measured jobs', () => {
    // Only j1: window [0, 110]. Runs clipped to it: 400 + 240 + 80 + 0 (j2's restart starts at 110) = 720.
    // 720 / (8 x 110 = 880) = 0.8181.. -> 0.818182; gpuSeconds is j1's own 400.
    const summary = summarize(sampleResult(), { measureJobs: [0, 0] });
    expect([summary.makespan, summary.utilization, summary.gpuSeconds, summary.lostGpuSeconds]).toEqual([
      110, 0.818182, 400, 0,
    ]);
  });

  it('clamps a measured window that runs past the trace, and refuses a reversed one', () => {
    expect(summarize(sampleResult(), { measureJobs: [3, 99] }).jobs).toBe(2);
    expect(() => summarize(sampleResult(), { measureJobs: [3, 1] })).toThrow(RangeError);
    expect(() => summarize(sampleResult(), { measureJobs: [-1, 1] })).toThrow(RangeError);
  });

  it('gives zeros for an empty trace', () => {
    const empty: SimulationResult = { ...sampleResult(), jobs: [], runs: [], horizon: null };
    expect(summarize(empty)).toEqual({
      jobs: 0,
      completed: 0,
      rejected: 0,
      avgJct: 0,
      p50Jct: 0,
      p95Jct: 0,
      p99Jct: 0,
      avgWait: 0,
      p99Wait: 0,
      makespan: 0,
      utilization: 0,
      preemptions: 0,
      lostGpuSeconds: 0,
      teams: {},
      timedOut: 0,
      running: 0,
      pending: 0,
      p50Wait: 0,
      p95Wait: 0,
      gpuSeconds: 0,
      fleetGpus: 8,
      topTeams: {},
    } satisfies Summary);
  });

  it('counts a job cut by the horizon in wait and utilization but not in JCT', () => {
    // One 2-GPU job submitted at 0, started at 30, cut at the horizon 100: wait 30, no JCT.
    // makespan 100 - 0; utilization 2 x 70 / (8 x 100) = 0.175.
    const job = spec('long', { team: 'solo', submit: 0, gpus: 2 });
    const result: SimulationResult = {
      fleet: SAMPLE_FLEET,
      policy: policy([team('solo')]),
      jobs: [outcome(job, { status: 'running', start: 30, end: 100, flavor: 'h100', gpuSeconds: 140 })],
      runs: [run(0, 30, 100, [{ node: 'h100-a-0', gpus: 2 }], 'running')],
      horizon: 100,
      passes: 1,
    };
    const s = summarize(result);
    expect([s.running, s.avgJct, s.avgWait, s.makespan, s.utilization]).toEqual([1, 0, 30, 100, 0.175]);
    expect(s.teams).toEqual({
      solo: { jobs: 1, avgJct: 0, avgWait: 30, gpuSeconds: 140, completed: 0, p99Wait: 30, preemptions: 0 },
    });
  });

  it('reports a team the policy does not know under its own name, after the known ones', () => {
    const result = sampleResult();
    const stray = spec('x', { team: '__proto__', submit: 1 });
    const withStray: SimulationResult = {
      ...result,
      jobs: [...result.jobs, outcome(stray, { status: 'pending' })],
    };
    const s = summarize(withStray);
    expect(Object.keys(s.teams)).toEqual(['pretraining', 'alignment', 'applied', '__proto__']);
    expect(Object.keys(s.topTeams)).toEqual(['research', 'applied', '__proto__']);
    const parsed = JSON.parse(JSON.stringify(s)) as Summary;
    expect(Object.getOwnPropertyDescriptor(parsed.teams, '__proto__')?.value).toMatchObject({ jobs: 1 });
  });
});

describe('fleetGpus', () => {
  it('sums nodes x GPUs per node over the pools', () => {
    expect(
      fleetGpus({
        pools: [
          { name: 'a', flavor: 'h100', nodes: 64, gpusPerNode: 8 },
          { name: 'b', flavor: 'a100', nodes: 3, gpusPerNode: 4 },
        ],
      }),
    ).toBe(524);
  });
});
