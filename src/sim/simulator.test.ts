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

describe('rounds', () => {
  const f = fleet(pool('a', 'h100', 1, 8));
  const p = policy([team('A', { h100: 8 })]);
  const trace = jobs(
    job('a1').team('A').gpus(8).runs(150),
    job('a2').team('A').gpus(8).runs(50).at(30),
    job('a3').team('A').gpus(4).runs(100).at(250),
    job('a4').team('A').gpus(4).runs(10).at(400),
  );

  it('default: a pass after every event', () => {
    expect(timeline(simulate(f, p, trace))).toEqual([
      'a1 0-150 a-0:8 completed',
      'a2 150-200 a-0:8 completed',
      'a3 250-350 a-0:4 completed',
      'a4 400-410 a-0:4 completed',
    ]);
  });

  it('start jobs only at round boundaries; GPUs freed mid-round stay idle until the next one', () => {
    const passTimes: number[] = [];
    const r = simulate(f, p, trace, { round: 100, onPass: (_engine, result) => passTimes.push(result.now) });
    expect(timeline(r)).toEqual([
      // a2 arrives at 30, the GPUs free up at 150: it starts at the boundary 200.
      'a1 0-150 a-0:8 completed',
      'a2 200-250 a-0:8 completed',
      // a3 arrives at 250, mid-round: it waits for 300.
      'a3 300-400 a-0:4 completed',
      // a4 arrives at 400, a boundary, after a3's completion there: it starts at once.
      'a4 400-410 a-0:4 completed',
    ]);
    // Passes only at boundaries after something new: a2's arrival (100), a1's completion (200),
    // a2's completion and a3's arrival (300), a3's completion and a4's arrival (400), a4's
    // completion (500). Nothing between boundaries.
    expect(passTimes).toEqual([0, 100, 200, 300, 400, 500]);
    expect(r.passes).toBe(6);
  });

  it('a minRuntime protection that ends mid-round is acted on at the next boundary', () => {
    const f2 = fleet(pool('a', 'h100', 1, 8));
    const p2 = policy([team('A', { h100: 4 }), team('B', { h100: 4 })]);
    const t2 = jobs(job('b1').team('B').gpus(8).runs(10_000), job('a1').team('A').gpus(4).runs(100).at(100));
    // Without rounds b1 is preempted when its protection ends at 600 (see above); with rounds
    // of 250 the pass after 600 is at 750.
    expect(timeline(simulate(f2, p2, t2, { round: 250 }))).toEqual([
      'b1 0-750 a-0:8 preempted',
      'a1 750-850 a-0:4 completed',
      'b1 1000-10250 a-0:8 completed',
    ]);
  });

  it('stop at the horizon even when a pass is due after it', () => {
    const r = simulate(f, p, trace, { round: 100, until: 180 });
    expect(timeline(r)).toEqual(['a1 0-150 a-0:8 completed']);
    expect(r.jobs[1]!.status).not.toBe('completed');
  });

  it('refuse a round that is not a positive number of seconds', () => {
    expect(() => simulate(f, p, trace, { round: 0 })).toThrow(RangeError);
    expect(() => simulate(f, p, trace, { round: Number.NaN })).toThrow(RangeError);
  });
});
