// A class's defaultTimeLimit in the simulator: a real time limit (a run that reaches it ends
// the job timed_out), applied only when the policy sets one.
import { describe, expect, it } from 'vitest';
import { fleet, job, policy, pool, team, DEFAULT_CLASSES } from '../../test/builders.js';
import type { Policy } from '../core/model.js';
import { simulate } from './simulator.js';

const withDefault = (p: Policy, seconds: number): Policy => ({
  ...p,
  priorityClasses: DEFAULT_CLASSES.map((c) => (c.name === 'research' ? { ...c, defaultTimeLimit: seconds } : c)),
});

describe('a default time limit in the simulator', () => {
  const f = fleet(pool('n', 'h100', 1, 8));
  const trace = [job('long').team('A').gpus(8).at(0).runs(5000).build(), job('next').team('A').gpus(8).at(10).runs(100).build()];

  it('stops a job without a limit of its own at its class default (timed_out), as the engine plans', () => {
    const r = simulate(f, withDefault(policy([team('A')]), 1000), trace);
    expect(r.jobs.map((j) => [j.spec.id, j.status, j.end])).toEqual([
      ['long', 'timed_out', 1000],
      ['next', 'completed', 1100],
    ]);
  });

  it('changes nothing when the policy sets none', () => {
    const r = simulate(f, policy([team('A')]), trace);
    expect(r.jobs.map((j) => [j.spec.id, j.status, j.end])).toEqual([
      ['long', 'completed', 5000],
      ['next', 'completed', 5100],
    ]);
  });
});
