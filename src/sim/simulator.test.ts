import { describe, expect, it } from 'vitest';
import { fleet, job, jobs, policy, pool, team } from '../../test/builders.js';
import { simulate } from './simulator.js';

const timeline = (r: ReturnType<typeof simulate>) =>
  r.runs.map((run) => `${r.jobs[run.job]!.spec.id} ${run.start}-${run.end} ${run.placement.map((p) => `${p.node}:${p.gpus}`).join(';')} ${run.outcome}`);

describe('simulator', () => {
  it('runs a single job to completion', () => {
    const r = simulate(fleet(pool('a', 'h100', 1, 8)), policy([team('A', { h100: 8 })]), jobs(job('a1').team('A').gpus(4).runs(100)));
    expect(timeline(r)).toEqual(['a1 0-100 a-0:4 completed']);
    expect(r.jobs[0]!.status).toBe('completed');
  });

  it('reclaims borrowed GPUs for a team within its guarantee once minRuntime has passed', () => {
    const f = fleet(pool('a', 'h100', 1, 8));
    const p = policy([team('A', { h100: 4 }), team('B', { h100: 4 })]);
    const r = simulate(
      f,
      p,
      jobs(job('b1').team('B').gpus(8).runs(10_000), job('a1').team('A').gpus(4).runs(100).at(100)),
    );
    expect(timeline(r)).toEqual([
      'b1 0-600 a-0:8 preempted',
      'a1 600-700 a-0:4 completed',
      'b1 700-10100 a-0:8 completed',
    ]);
  });
});
