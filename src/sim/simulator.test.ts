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

describe('explanations', () => {
  const f = fleet(pool('a', 'h100', 2, 8));
  const p = policy([team('A', { h100: 8 }), team('B', { h100: 8 })]);
  const trace = jobs(
    job('a1').team('A').gpus(8).runs(1000),
    job('a2').team('A').gpus(8).runs(1000),
    job('a3').team('A').gpus(8).runs(1000).at(10),
    job('b1').team('B').gpus(4).runs(50).at(20),
  );

  it('never change a decision: the same run with and without --explain', () => {
    const plain = simulate(f, p, trace);
    const lines: string[] = [];
    const explained = simulate(f, p, trace, { explain: 'every-pass', onExplain: (l) => lines.push(...l.map((x) => x.code)) });
    expect(timeline(explained)).toEqual(timeline(plain));
    expect(lines.length).toBeGreaterThan(0);
  });

  it('say why a job waits, with numbers, at a chosen moment', () => {
    const seen: { job: string; code: string; message: string }[] = [];
    simulate(f, p, trace, { explain: [15], onExplain: (l) => seen.push(...l.map(({ job, code, message }) => ({ job, code, message }))) });
    // At t=15 A holds both nodes (8 guaranteed + 8 borrowed); a3 does not fit A's guarantee.
    expect(seen).toEqual([
      {
        job: 'a3',
        code: 'WaitingForCapacity',
        message: 'WaitingForCapacity: needs 8 h100 on one node; 0 h100 idle; nodes a-0 are reserved for it, start unknown: a run on them has no time limit',
      },
    ]);
  });
});
