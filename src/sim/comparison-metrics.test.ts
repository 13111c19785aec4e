import { describe, expect, it } from 'vitest';
import { cappedDemandIntegral, comparisonMetrics, jainIndex, summarize, summarizeForComparison } from './metrics.js';
import { outcome, policy, run, spec, team } from './test-fixtures.js';
import type { SimulationResult } from './types.js';

/**
 * A (guaranteed 8) asks for 8 GPUs over [0, 100) and receives 800 GPU-s: entitled 8 x 100, x = 1.
 * B (guaranteed 8) asks for 4 over [0, 100) (entitled min(8, 4) x 100 = 400) and receives 200: x = 0.5.
 * C (no guarantee) is left out of the index. a2 is rejected: no demand, no wait.
 * Jain = (1 + 0.5)^2 / (2 x (1 + 0.25)) = 0.9.
 */
function sample(): SimulationResult {
  const a1 = spec('a1', { team: 'A', submit: 0, gpus: 8, duration: 100 });
  const b1 = spec('b1', { team: 'B', submit: 0, gpus: 4, duration: 50 });
  const c1 = spec('c1', { team: 'C', submit: 10, gpus: 2, duration: 10 });
  const a2 = spec('a2', { team: 'A', submit: 20, gpus: 64, duration: 10 });
  return {
    fleet: { pools: [{ name: 'h', flavor: 'h100', nodes: 2, gpusPerNode: 8 }] },
    policy: policy([team('A', [], { h100: 8 }), team('B', [], { h100: 8 }), team('C')]),
    jobs: [
      outcome(a1, { status: 'completed', start: 0, end: 100, flavor: 'h100', gpuSeconds: 800, inGuaranteeAtSubmit: true }),
      outcome(b1, { status: 'completed', start: 50, end: 100, flavor: 'h100', gpuSeconds: 200, inGuaranteeAtSubmit: true }),
      outcome(c1, { status: 'completed', start: 10, end: 20, flavor: 'h100', gpuSeconds: 20, inGuaranteeAtSubmit: false }),
      outcome(a2, { status: 'rejected', inGuaranteeAtSubmit: false }),
    ],
    runs: [
      run(0, 0, 100, [{ node: 'h-0', gpus: 8 }], 'completed'),
      run(2, 10, 20, [{ node: 'h-1', gpus: 2 }], 'completed'),
      run(1, 50, 100, [{ node: 'h-1', gpus: 4 }], 'completed'),
    ],
    horizon: null,
    passes: 3,
  };
}

describe('comparison metrics', () => {
  it('computes fairness over leaf teams with an entitlement, the worst team and in-guarantee waits, by hand', () => {
    // Waits: a1 0, b1 50, c1 0. Worst p99: B (50). In-guarantee and started: a1 (0), b1 (50):
    // p99 = rank ceil(1.98) = 2 -> 50; max 50.
    expect(comparisonMetrics(sample())).toEqual({
      fairness: 0.9,
      fairnessTeams: 2,
      worstTeam: 'B',
      worstTeamP99Wait: 50,
      inGuaranteeJobs: 2,
      inGuaranteeP99Wait: 50,
      inGuaranteeMaxWait: 50,
    });
  });

  it('measures only the jobs of --measure-jobs', () => {
    // a1 alone: one team with x = 1, nobody waited.
    expect(comparisonMetrics(sample(), { measureJobs: [0, 0] })).toEqual({
      fairness: 1,
      fairnessTeams: 1,
      worstTeam: 'A',
      worstTeamP99Wait: 0,
      inGuaranteeJobs: 1,
      inGuaranteeP99Wait: 0,
      inGuaranteeMaxWait: 0,
    });
  });

  it('counts the demand of a job still waiting at the horizon until the horizon', () => {
    // Horizon 200: b2 (B, 8 GPUs) waits from 100 on. B is then owed min(8, 4) x 100 + 8 x 100 =
    // 1200 and received 200: x = 1/6. Jain = (7/6)^2 / (2 x (1 + 1/36)) = 49/74.
    const base = sample();
    const b2 = spec('b2', { team: 'B', submit: 100, gpus: 8, duration: 10 });
    const r: SimulationResult = { ...base, jobs: [...base.jobs, outcome(b2, { status: 'pending', inGuaranteeAtSubmit: true })], horizon: 200 };
    const m = comparisonMetrics(r);
    expect(m.fairness).toBe(Math.round((49 / 74) * 1e6) / 1e6);
    expect(m.inGuaranteeJobs).toBe(2); // b2 never started
  });

  it('has no fairness without an entitled team, and no worst team when nobody started', () => {
    const r: SimulationResult = { ...sample(), policy: policy([team('A'), team('B'), team('C')]) };
    expect(comparisonMetrics(r).fairness).toBeNull();
    const none: SimulationResult = { ...sample(), jobs: [], runs: [] };
    expect(comparisonMetrics(none)).toEqual({
      fairness: null,
      fairnessTeams: 0,
      worstTeam: null,
      worstTeamP99Wait: 0,
      inGuaranteeJobs: 0,
      inGuaranteeP99Wait: 0,
      inGuaranteeMaxWait: 0,
    });
  });

  it('appends the comparison metrics after the summary keys in summary.json', () => {
    const keys = Object.keys(summarizeForComparison(sample()));
    const summaryKeys = Object.keys(summarize(sample()));
    expect(keys).toEqual([
      ...summaryKeys,
      'fairness',
      'fairnessTeams',
      'worstTeam',
      'worstTeamP99Wait',
      'inGuaranteeJobs',
      'inGuaranteeP99Wait',
      'inGuaranteeMaxWait',
    ]);
  });
});

describe('the pieces of fairness', () => {
  it('integrates demand capped at the guarantee', () => {
    // cap 8: [0, 5) at 4, [5, 10) at 12 -> 8, [10, 15) at 8: 20 + 40 + 40 = 100.
    const steps = [
      { start: 0, end: 10, gpus: 4 },
      { start: 5, end: 15, gpus: 8 },
    ];
    expect(cappedDemandIntegral(steps, 8)).toBe(100);
    expect(cappedDemandIntegral([], 8)).toBe(0);
  });

  it("is Jain's index: 1 when equal, 1/n when one team has everything", () => {
    expect(jainIndex([2, 2, 2])).toBe(1);
    expect(jainIndex([3, 0, 0])).toBeCloseTo(1 / 3, 12);
    expect(jainIndex([1, 0.5])).toBeCloseTo(0.9, 12);
    expect(jainIndex([0, 0])).toBe(1);
    expect(jainIndex([])).toBeNull();
  });
});
