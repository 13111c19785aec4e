import { describe, expect, it } from 'vitest';
import { fleet, job, jobs, policy, pool, team } from '../../test/builders.js';
import { JobProgress } from './job-progress.js';
import { simulate } from './simulator.js';

const on = (node: string, gpus: number) => [{ node, gpus }];

describe('job progress (M6), shared by every variant', () => {
  it('keeps work up to the last checkpoint and pays the restart overhead (the worked example)', () => {
    // duration 100, checkpoint 30, overhead 10, 2 GPUs. Run 1 (0-70) made 70 s and keeps 60:
    // 10 s x 2 GPUs = 20 GPU-s lost. Run 2 from 100 needs 10 + 40 = 50 s: ends 150, its 10 s
    // overhead lost (20 GPU-s).
    const p = policy([team('A', { h100: 8 })], { preemption: { restartOverhead: 10, checkpointInterval: 30 } });
    const book = new JobProgress(jobs(job('j').team('A').gpus(2).runs(100)), p, ['h100']);
    book.arrive(0);
    book.start(0, 0, 'h100', on('a-0', 2));
    expect(book.nextEnd()).toBe(100);
    book.preempt(0, 70);
    expect(book.status(0)).toBe('pending');
    expect(book.finishDue(100)).toEqual([]); // the preempted run's end is stale
    expect(book.runTimeIfStarted(0, 'h100')).toBe(50);
    book.start(0, 100, 'h100', on('a-0', 2));
    expect(book.nextEnd()).toBe(150);
    expect(book.attained(0, 120)).toBe(2 * 70 + 2 * 20);
    expect(book.finishDue(150)).toEqual([0]);
    expect(book.sortedRuns().map((r) => [r.start, r.end, r.outcome, r.lostGpuSeconds])).toEqual([
      [0, 70, 'preempted', 20],
      [100, 150, 'completed', 20],
    ]);
    expect(book.outcomes()[0]).toEqual({
      spec: jobs(job('j').team('A').gpus(2).runs(100))[0],
      status: 'completed',
      start: 0,
      end: 150,
      flavor: 'h100',
      preemptions: 1,
      gpuSeconds: 2 * 70 + 2 * 50,
      inGuaranteeAtSubmit: true,
    });
  });

  it('ends a run at its time limit (timed_out), and completes it when both fall together', () => {
    const p = policy([team('A', { h100: 8 })]);
    const book = new JobProgress(jobs(job('t').team('A').runs(100).limit(50), job('c').team('A').runs(50).limit(50)), p, ['h100']);
    book.start(0, 0, 'h100', on('a-0', 1));
    book.start(1, 0, 'h100', on('a-0', 1));
    expect(book.runTimeIfStarted(0, 'h100')).toBe(50);
    expect(book.finishDue(50)).toEqual([0, 1]);
    expect(book.outcomes().map((o) => o.status)).toEqual(['timed_out', 'completed']);
  });

  it('keeps progress as a fraction of the work across flavors of different speeds', () => {
    // 100 s on h100, 200 s on a100. Half done on h100 (0-50, checkpoint 0 keeps it all), the rest
    // on a100 takes 0.5 x 200 = 100 s.
    const p = policy([team('A', { h100: 8, a100: 8 })]);
    const book = new JobProgress(jobs(job('f').team('A').runs(100).on('a100', 200)), p, ['h100', 'a100']);
    book.start(0, 0, 'h100', on('a-0', 1));
    book.preempt(0, 50);
    expect(book.runTimeIfStarted(0, 'a100')).toBe(100);
    book.start(0, 60, 'a100', on('b-0', 1));
    expect(book.nextEnd()).toBe(100); // the preempted run's end, still in the heap
    expect(book.finishDue(100)).toEqual([]);
    expect(book.nextEnd()).toBe(160);
  });

  it('cuts running runs at the horizon', () => {
    const book = new JobProgress(jobs(job('r').team('A').runs(100)), policy([team('A', {})]), ['h100']);
    book.start(0, 0, 'h100', on('a-0', 1));
    book.cutAt(30);
    expect(book.outcomes()[0]).toMatchObject({ status: 'running', end: 30, gpuSeconds: 30 });
    expect(book.runs[0]).toMatchObject({ outcome: 'running', end: 30 });
  });

  it('flags a job in-guarantee when its team holds, with it, at most the guarantee on a flavor it may use', () => {
    // A: 8 h100, 4 a100. j1 (6 h100) fits; j2 (4 h100) would make 10 > 8; j3 (4, any flavor)
    // fits A's a100; a job of a team the policy does not know is never in-guarantee.
    const p = policy([team('A', { h100: 8, a100: 4 })]);
    const trace = jobs(
      job('j1').team('A').gpus(6).flavor('h100'),
      job('j2').team('A').gpus(4).flavor('h100'),
      job('j3').team('A').gpus(4),
      job('x').team('X').gpus(1),
    );
    const book = new JobProgress(trace, p, ['h100', 'a100']);
    book.arrive(0);
    book.start(0, 0, 'h100', on('a-0', 6));
    [1, 2, 3].forEach((i) => book.arrive(i));
    expect(book.outcomes().map((o) => o.inGuaranteeAtSubmit)).toEqual([true, false, true, false]);
  });

  it("flags a job in-guarantee when its team's demand (held, waiting, its own) fits the guarantee at its arrival", () => {
    // A is guaranteed 4 of 8. j1 and j2 arrive together: j1 fits; j2 arrives behind j1 (the
    // team's demand is 8). At 10 A holds 8 (4 borrowed): j3 does not fit; it runs 100..150.
    // At 120 A holds 2 (j3): j4 fits (2 + 2). At 150 j3 has ended: j5 fits (4), and j6, which
    // arrives at the same instant behind j5, does not (4 waiting + 2 > 4).
    const r = simulate(
      fleet(pool('a', 'h100', 1, 8)),
      policy([team('A', { h100: 4 })]),
      jobs(
        job('j1').team('A').gpus(4).runs(100),
        job('j2').team('A').gpus(4).runs(100),
        job('j3').team('A').gpus(2).runs(50).at(10),
        job('j4').team('A').gpus(2).runs(10).at(120),
        job('j5').team('A').gpus(4).runs(10).at(150),
        job('j6').team('A').gpus(2).runs(10).at(150),
      ),
    );
    expect(r.jobs.map((j) => j.inGuaranteeAtSubmit)).toEqual([true, false, false, true, true, false]);
  });
});
