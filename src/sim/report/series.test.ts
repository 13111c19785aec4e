import { describe, expect, test } from 'vitest';
import type { SimulationResult } from '../types.js';
import { outcome, run, SAMPLE_FLEET, SAMPLE_POLICY, sampleResult, spec } from '../test-fixtures.js';
import { computeSeries, type WaitStats } from './series.js';

const repeat = (value: number, times: number): number[] => Array.from({ length: times }, () => value);
const waits = (team: string, n: number, q: readonly number[]): WaitStats => {
  const [p10, p25, p50, p75, p90, p99, max] = q as [number, number, number, number, number, number, number];
  return { team, n, p10, p25, p50, p75, p90, p99, max };
};

/** One job of team `team` per entry: [submit, runs as [start, end, gpus, outcome]], status from the last run. */
function result(
  entries: readonly { team: string; submit: number; runs: readonly [number, number, number, 'completed' | 'preempted' | 'running'][] }[],
  horizon: number | null,
): SimulationResult {
  const runs = entries
    .flatMap((e, job) => e.runs.map(([start, end, gpus, out]) => run(job, start, end, [{ node: 'h100-a-0', gpus }], out)))
    .sort((a, b) => a.start - b.start || a.job - b.job);
  const jobs = entries.map((e, i) => {
    const last = e.runs[e.runs.length - 1];
    const first = e.runs[0];
    const status = last === undefined ? 'pending' : last[3] === 'completed' ? 'completed' : last[3] === 'running' ? 'running' : 'pending';
    return outcome(spec(`j${i}`, { team: e.team, submit: e.submit }), {
      status,
      start: first === undefined ? null : first[0],
      end: last !== undefined && last[3] !== 'preempted' ? last[1] : null,
    });
  });
  return { fleet: SAMPLE_FLEET, policy: SAMPLE_POLICY, jobs, runs, horizon, passes: 0 };
}

describe('computeSeries', () => {
  test('the sample result in 28 buckets of 10 s: GPUs held per top-level team, queue, utilization', () => {
    const s = computeSeries(sampleResult(), { maxPoints: 28 });
    expect([s.t0, s.t1, s.dt, s.buckets, s.fleetGpus]).toEqual([0, 280, 10, 28, 8]);
    // research = pretraining + alignment: j1 4 GPUs 10..110, j2 4 GPUs 20..80 and 110..280.
    // applied: j3 4 GPUs 80..100.
    expect(s.teams.map((t) => ({ name: t.name, guarantee: t.guarantee, held: Array.from(t.held) }))).toEqual([
      { name: 'research', guarantee: 6, held: [0, 4, ...repeat(8, 6), 4, 4, 4, ...repeat(4, 17)] },
      { name: 'applied', guarantee: 2, held: [...repeat(0, 8), 4, 4, ...repeat(0, 18)] },
    ]);
    expect(Array.from(s.utilization)).toEqual([0, 0.5, ...repeat(1, 8), 0.5, ...repeat(0.5, 17)]);
    // Pending: j1 0..10, j2 5..20 and 80..110 (preempted), j3 not at all (started at submit),
    // j4 never (rejected), j5 100.0005..280 (never started).
    const queue = Array.from(s.queue);
    expect(queue.slice(0, 10)).toEqual([1.5, 1, 0, 0, 0, 0, 0, 0, 1, 1]);
    expect(queue[10]).toBeCloseTo(1 + 0.99995, 9);
    expect(queue.slice(11)).toEqual(repeat(1, 17));
  });

  test('JCT CDF over completed and timed-out jobs; wait quantiles per top-level team (nearest rank)', () => {
    const s = computeSeries(sampleResult());
    // j1 110, j2 275 (completed), j3 20 (timed out); j5 pending and j4 rejected have none.
    expect({ jct: Array.from(s.jctCdf.jct), p: Array.from(s.jctCdf.p), n: s.jctCdf.n }).toEqual({
      jct: [20, 110, 275],
      p: [1 / 3, 2 / 3, 1],
      n: 3,
    });
    // research: j1 waited 10, j2 15; applied: j3 0. p75 of two values is the 2nd (rank ceil(1.5)).
    expect(s.waits).toEqual([
      waits('research', 2, [10, 10, 10, 15, 15, 15, 15]),
      waits('applied', 1, [0, 0, 0, 0, 0, 0, 0]),
    ]);
    expect(s.allWaits).toEqual(waits('all teams', 3, [0, 0, 10, 15, 15, 15, 15]));
  });

  test('by default one bucket per second up to 2,000 buckets', () => {
    expect(computeSeries(sampleResult()).buckets).toBe(280);
    const long = result([{ team: 'pretraining', submit: 0, runs: [[0, 100_000, 1, 'completed']] }], null);
    const s = computeSeries(long);
    expect([s.buckets, s.dt]).toEqual([2000, 50]);
    expect(Array.from(s.teams[0]!.held)).toEqual(repeat(1, 2000));
  });

  test('a bucket holds the time-weighted average: a 4-GPU run over [15, 20) is 2 GPUs in [10, 20)', () => {
    // Preempted at 20 and never restarted: pending again from 20 to the horizon.
    const r = result([{ team: 'alignment', submit: 0, runs: [[15, 20, 4, 'preempted']] }], 40);
    const s = computeSeries(r, { maxPoints: 4 });
    expect(Array.from(s.teams[0]!.held)).toEqual([0, 2, 0, 0]);
    expect(Array.from(s.queue)).toEqual([1, 0.5, 1, 1]);
    expect(Array.from(s.utilization)).toEqual([0, 0.25, 0, 0]);
  });

  test('GPU-seconds are kept whatever the bucket width (sum of held x dt = sum of runs)', () => {
    for (const maxPoints of [1, 3, 17, 28, 280, 2000]) {
      const s = computeSeries(sampleResult(), { maxPoints });
      let gpuSeconds = 0;
      for (const t of s.teams) for (const x of t.held) gpuSeconds += x * s.dt;
      expect(gpuSeconds, `maxPoints ${maxPoints}`).toBeCloseTo(400 + 240 + 80 + 680, 6);
    }
  });

  test('the horizon ends the axis and cuts runs and waits there', () => {
    const r = result(
      [
        { team: 'pretraining', submit: 0, runs: [[0, 50, 2, 'running']] },
        { team: 'serving', submit: 10, runs: [] }, // a team the policy does not know
      ],
      50,
    );
    const s = computeSeries(r, { maxPoints: 5 });
    expect([s.t0, s.t1, s.dt]).toEqual([0, 50, 10]);
    expect(s.teams.map((t) => [t.name, t.guarantee, Array.from(t.held)])).toEqual([
      ['research', 6, repeat(2, 5)],
      ['applied', 2, repeat(0, 5)],
      ['serving', 0, repeat(0, 5)],
    ]);
    expect(Array.from(s.queue)).toEqual([0, 1, 1, 1, 1]);
    expect(s.jctCdf.n).toBe(0);
    expect(s.waits.map((w) => [w.team, w.n])).toEqual([
      ['research', 1],
      ['applied', 0],
      ['serving', 0],
    ]);
  });

  test('the CDF keeps the min, the max and evenly spaced ranks in between', () => {
    const r = result(
      Array.from({ length: 10 }, (_, i) => ({
        team: 'pretraining',
        submit: 0,
        runs: [[0, i + 1, 1, 'completed']] as [number, number, number, 'completed'][],
      })),
      null,
    );
    // Ranks round(k * 9 / 3) = 0, 3, 6, 9.
    const s = computeSeries(r, { maxCdfPoints: 4 });
    expect(Array.from(s.jctCdf.jct)).toEqual([1, 4, 7, 10]);
    expect(Array.from(s.jctCdf.p)).toEqual([0.1, 0.4, 0.7, 1]);
    expect(s.jctCdf.n).toBe(10);
  });

  test('an empty trace gets a one-second axis of zeros', () => {
    const s = computeSeries({ fleet: SAMPLE_FLEET, policy: SAMPLE_POLICY, jobs: [], runs: [], horizon: null, passes: 0 });
    expect([s.t0, s.t1, s.buckets]).toEqual([0, 1, 1]);
    expect(Array.from(s.queue)).toEqual([0]);
    expect(Array.from(s.utilization)).toEqual([0]);
    expect(s.jctCdf.n).toBe(0);
    expect(s.allWaits).toEqual(waits('all teams', 0, [0, 0, 0, 0, 0, 0, 0]));
  });
});
