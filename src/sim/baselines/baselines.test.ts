// Golden timelines of the baselines, computed by hand in the comments. A timeline line is
// `id start-end placement outcome`, in segments.csv order (start, then trace position).
import { describe, expect, it } from 'vitest';
import { fleet, job, jobs, policy, pool, team } from '../../../test/builders.js';
import { simulate } from '../simulator.js';
import type { SimulationResult } from '../types.js';
import { runBaseline } from './index.js';
import { FIFO_CLASS, FIFO_TEAM, fifoPolicy, fifoTrace, staticPolicy } from './policies.js';

const timeline = (r: SimulationResult): string[] =>
  r.runs.map((run) => `${r.jobs[run.job]!.spec.id} ${run.start}-${run.end} ${run.placement.map((p) => `${p.node}:${p.gpus}`).join(';')} ${run.outcome}`);

const statuses = (r: SimulationResult): string[] => r.jobs.map((j) => `${j.spec.id} ${j.status}`);

describe('fifo baseline', () => {
  // One node of 8. A is guaranteed all 8, B nothing; minRuntime 0 so Arbiter reclaims at once.
  const f = fleet(pool('a', 'h100', 1, 8));
  const p = policy([team('A', { h100: 8 }), team('B', {})], { preemption: { minRuntime: 0 } });
  const trace = jobs(
    job('b1').team('B').gpus(8).runs(100).at(0),
    job('a1').team('A').gpus(8).runs(100).at(10).cls('training'),
    job('b2').team('B').gpus(4).runs(10).at(20).cls('serving'),
  );

  it('runs jobs in submit order whatever their team and class, and never preempts', () => {
    // b1 holds the node 0-100. a1 is in A's guarantee, but fifo knows no teams: it waits for b1
    // and runs 100-200. b2 (a non-preemptible class beyond B's guarantee, which Arbiter
    // rejects, M4) is just the next job in the queue: 200-210.
    const r = runBaseline('fifo', f, p, trace);
    expect(timeline(r)).toEqual(['b1 0-100 a-0:8 completed', 'a1 100-200 a-0:8 completed', 'b2 200-210 a-0:4 completed']);
    expect(r.jobs.map((j) => j.preemptions)).toEqual([0, 0, 0]);
  });

  it('reports each job with its own team and class, and the user policy', () => {
    const r = runBaseline('fifo', f, p, trace);
    expect(r.jobs.map((j) => `${j.spec.id} ${j.spec.team} ${j.spec.class}`)).toEqual(['b1 B research', 'a1 A training', 'b2 B serving']);
    expect(r.jobs.map((j) => j.spec)).toEqual(trace);
    expect(r.policy).toBe(p);
    // In-guarantee at submission, against the user's teams: a1 (A holds 0 of 8) is; b1, b2 (B has none) are not.
    expect(r.jobs.map((j) => j.inGuaranteeAtSubmit)).toEqual([false, true, false]);
  });

  it('differs from Arbiter, which reclaims A\'s guarantee and rejects the serving job', () => {
    // Arbiter: a1 fits A's guarantee and reclaims from borrowing B at 10; b1 resumes at 110
    // with its 10 s kept (checkpoint 0) and runs the other 90.
    const r = simulate(f, p, trace);
    expect(timeline(r)).toEqual(['b1 0-10 a-0:8 preempted', 'a1 10-110 a-0:8 completed', 'b1 110-200 a-0:8 completed']);
    expect(statuses(r)).toEqual(['b1 completed', 'a1 completed', 'b2 rejected']);
  });

  it('is one team with no guarantee and one preemptible class, with preemption switched off', () => {
    const fp = fifoPolicy(p);
    expect(fp.teams).toEqual([{ name: FIFO_TEAM, guarantee: {}, limit: {}, lendable: {}, weight: 1, children: [] }]);
    expect(fp.priorityClasses).toEqual([{ name: FIFO_CLASS, priority: 0, preemptible: true }]);
    expect(fp.preemption).toEqual({ ...p.preemption, withinTeam: false, borrowing: 'never', fairShare: false });
    expect(fifoTrace(trace).map((j) => [j.team, j.class])).toEqual([
      [FIFO_TEAM, FIFO_CLASS],
      [FIFO_TEAM, FIFO_CLASS],
      [FIFO_TEAM, FIFO_CLASS],
    ]);
  });
});

describe('static baseline', () => {
  // Two nodes of 8 (16 GPUs): A is guaranteed 8, B 4; 4 GPUs are a free pool nobody owns.
  const f = fleet(pool('a', 'h100', 2, 8));
  const p = policy([team('A', { h100: 8 }), team('B', { h100: 4 })]);
  const trace = jobs(
    job('a1').team('A').gpus(8).runs(100),
    job('a2').team('A').gpus(4).runs(100),
    job('b1').team('B').gpus(8).runs(50),
    job('b2').team('B').gpus(4).runs(50),
  );

  it('caps each team at its guarantee: nobody borrows, the free pool stays idle', () => {
    // t=0: heads a1 (fits A's 8) and b2 (fits B's 4); a1 first by trace position: a-0:8.
    // a2 would take A to 12 > its limit 8: it waits although 8 GPUs are idle. b2: best fit a-1:4.
    // t=100: a1 ends, a2 starts on a-0 (both nodes idle, lowest index).
    const r = runBaseline('static', f, p, trace);
    expect(timeline(r)).toEqual(['a1 0-100 a-0:8 completed', 'b2 0-50 a-1:4 completed', 'a2 100-200 a-0:4 completed']);
  });

  it('rejects a job larger than its team\'s guarantee, with the reason', () => {
    const r = runBaseline('static', f, p, trace);
    expect(statuses(r)).toEqual(['a1 completed', 'a2 completed', 'b1 rejected', 'b2 completed']);
    expect(r.jobs[2]!.rejectReason).toBe(
      '8 h100 is more than the 4 h100 limit of team "B"; team B may hold at most 4 h100 GPUs (its limit), and the largest gang the fleet can place is 2 nodes x 8 h100 (a job above 8 GPUs asks for a multiple of a node size)',
    );
  });

  it('is the policy with limit = guarantee on every flavor at every level, and no preemption', () => {
    const nested = policy([team('R', { h100: 8 }, { limit: { h100: 16 }, children: [team('R1', { h100: 4 }), team('R2', {})] })]);
    const sp = staticPolicy(nested, ['h100', 'a100']);
    expect(sp.teams[0]!.limit).toEqual({ h100: 8, a100: 0 });
    expect(sp.teams[0]!.children.map((c) => c.limit)).toEqual([
      { h100: 4, a100: 0 },
      { h100: 0, a100: 0 },
    ]);
    expect(sp.preemption).toMatchObject({ withinTeam: false, borrowing: 'never', fairShare: false });
    expect(sp.priorityClasses).toBe(nested.priorityClasses);
  });
});

describe('las baseline', () => {
  // Two nodes of 4; no restart overhead, no checkpoint loss (policy defaults of the builders).
  const f = fleet(pool('a', 'h100', 2, 4));
  const p = policy([team('A', { h100: 4 }), team('B', {})]);
  const trace = jobs(
    job('x').team('A').gpus(4).runs(1000).at(0),
    job('y').team('B').gpus(4).runs(1000).at(100),
    job('z').team('B').gpus(4).runs(100).at(200).cls('serving'),
  );

  it('preempts the job with the most attained service when a new job needs room', () => {
    // t=0 x on a-0. t=100 y (0 GPU-s) starts on idle a-1; x keeps running (it has 400).
    // t=200 z (0) comes first; nothing is idle; x has 4x200 = 800 GPU-s, y 4x100 = 400:
    // x, the most attained, is preempted; z runs 200-300 on a-0 (its class, serving, is ignored).
    // t=300 x (800, waiting) and y (4x200 = 800, running) tie: x was submitted first and
    // restarts on a-0 with its 200 s kept: 800 s left, ends 1100; y ends 100 + 1000 = 1100.
    const r = runBaseline('las', f, p, trace);
    expect(timeline(r)).toEqual([
      'x 0-200 a-0:4 preempted',
      'y 100-1100 a-1:4 completed',
      'z 200-300 a-0:4 completed',
      'x 300-1100 a-0:4 completed',
    ]);
    expect(r.jobs.map((j) => j.preemptions)).toEqual([1, 0, 0]);
  });

  it('with rounds, starts and preempts only at multiples of the round', () => {
    // Round 150. t=0 x starts. y arrives at 100 and waits for the round at 150 (a-1 idle until then).
    // z arrives at 200 and waits for 300: x has 4x300 = 1200, y 4x150 = 600: x is preempted, z runs
    // 300-400. a-0 stays idle until the round at 450: x (1200) and y (4x300 = 1200) tie, x first
    // by submit time: it restarts with 700 s left, ends 1150; y ends 150 + 1000 = 1150.
    const r = runBaseline('las', f, p, trace, { lasRound: 150 });
    expect(timeline(r)).toEqual([
      'x 0-300 a-0:4 preempted',
      'y 150-1150 a-1:4 completed',
      'z 300-400 a-0:4 completed',
      'x 450-1150 a-0:4 completed',
    ]);
  });

  it('stops the clock at the horizon, cutting what runs', () => {
    // --until 150: x and y are cut (outcome running); z arrives after the horizon: pending, never seen.
    const r = runBaseline('las', f, p, trace, { until: 150 });
    expect(timeline(r)).toEqual(['x 0-150 a-0:4 running', 'y 100-150 a-1:4 running']);
    expect(statuses(r)).toEqual(['x running', 'y running', 'z pending']);
    expect(r.horizon).toBe(150);
    expect(r.jobs[2]!.inGuaranteeAtSubmit).toBeUndefined();
  });

  it('with rounds shorter than the restart overhead, never preempts a run that would keep nothing', () => {
    // Round 20, restartOverhead 30, two 4-GPU jobs of 30 s on one node. 0: a runs. 20: b (0 GPU-s)
    // beats a (80) and a keeps its 20 s. 40: a and b tie at 80, a first by position; b keeps 20 s.
    // a restarts needing 30 + 10 = 40 s. 60: b (80) beats a (160), but a is still in its overhead:
    // preempting it would keep nothing, so it runs on and completes at 80. b: 80 + 30 + 10 = 120.
    // Without that guard the two would swap every round forever, neither keeping any work.
    const costly = policy([team('A', { h100: 4 })], { preemption: { restartOverhead: 30 } });
    const one = fleet(pool('a', 'h100', 1, 4));
    const r = runBaseline('las', one, costly, jobs(job('a').team('A').gpus(4).runs(30), job('b').team('A').gpus(4).runs(30)), { lasRound: 20 });
    expect(timeline(r)).toEqual([
      'a 0-20 a-0:4 preempted',
      'b 20-40 a-0:4 preempted',
      'a 40-80 a-0:4 completed',
      'b 80-120 a-0:4 completed',
    ]);
  });

  it('still pays restart overheads and loses work since the last checkpoint (M6)', () => {
    // restartOverhead 10, checkpointInterval 150. x's first run (0-200) made 200 s and keeps 150:
    // 50 s x 4 GPUs = 200 GPU-s lost. It restarts at 300 needing 10 + 850 = 860 s: ends 1160,
    // of which the 10 s overhead (40 GPU-s) is lost too.
    const costly = policy([team('A', { h100: 4 }), team('B', {})], { preemption: { restartOverhead: 10, checkpointInterval: 150 } });
    const r = runBaseline('las', f, costly, trace);
    expect(timeline(r)).toEqual([
      'x 0-200 a-0:4 preempted',
      'y 100-1100 a-1:4 completed',
      'z 200-300 a-0:4 completed',
      'x 300-1160 a-0:4 completed',
    ]);
    expect(r.runs.map((run) => run.lostGpuSeconds)).toEqual([200, 0, 0, 40]);
  });

  it('frees whole nodes for a multi-node job, and keeps shapes (S2) when restarting', () => {
    // p and q (2 GPUs) share a-0 by best fit, r (4) takes a-1. At 100 w (8 = two whole nodes)
    // has attained nothing and comes first: it needs both nodes, so all three are preempted.
    // At 1100 they restart, 900 s left each: p, q on a-0 again, r on a-1.
    const trace2 = jobs(
      job('p').team('A').gpus(2).runs(1000),
      job('q').team('A').gpus(2).runs(1000),
      job('r').team('B').gpus(4).runs(1000),
      job('w').team('B').gpus(8).runs(1000).at(100),
      job('big').team('B').gpus(16).runs(10).at(100),
      job('odd').team('B').gpus(6).runs(10).at(100),
    );
    const r = runBaseline('las', f, p, trace2);
    expect(timeline(r)).toEqual([
      'p 0-100 a-0:2 preempted',
      'q 0-100 a-0:2 preempted',
      'r 0-100 a-1:4 preempted',
      'w 100-1100 a-0:4;a-1:4 completed',
      'p 1100-2000 a-0:2 completed',
      'q 1100-2000 a-0:2 completed',
      'r 1100-2000 a-1:4 completed',
    ]);
    // Only physical rules reject: more GPUs than the fleet, or no valid shape (S2).
    expect(statuses(r).slice(4)).toEqual(['big rejected', 'odd rejected']);
    expect(r.jobs[4]!.rejectReason).toBe('16 GPUs is more than the 8 h100 of the fleet');
    expect(r.jobs[5]!.rejectReason).toBe(
      '6 GPUs fits no node of h100 (nodes of 4 GPUs) and is not a multiple of a node size with enough nodes (S2)',
    );
  });
});

describe('srtf baseline', () => {
  const f = fleet(pool('a', 'h100', 1, 4));
  const p = policy([team('A', { h100: 4 })]);

  it('runs the shortest remaining time first and preempts longer jobs', () => {
    // t=0 l (1000 s) runs. t=100 s (200 s) beats l's 900 left: l is preempted, s runs 100-300.
    // t=150 m (300 s) comes after s (150 left) and finds no room: nothing after it to preempt.
    // t=300 m (300) before l (900): 300-600. Then l, 900 s left: 600-1500.
    const r = runBaseline(
      'srtf',
      f,
      p,
      jobs(job('l').team('A').gpus(4).runs(1000), job('s').team('A').gpus(4).runs(200).at(100), job('m').team('A').gpus(4).runs(300).at(150)),
    );
    expect(timeline(r)).toEqual([
      'l 0-100 a-0:4 preempted',
      's 100-300 a-0:4 completed',
      'm 300-600 a-0:4 completed',
      'l 600-1500 a-0:4 completed',
    ]);
  });

  it('counts a time limit and the restart overhead in the remaining time', () => {
    // restartOverhead 50. t=0 l (1000 s) runs. t=100 s (200) preempts it (l has 900 left).
    // t=120 t1 arrives: 10,000 s of work but a 250 s time limit, so it will run 250 s; it waits
    // behind s (180 left) but comes before l (50 + 900 = 950). At 300 t1 runs 300-550 and times out;
    // l restarts at 550: 50 + 900 = 950 s, ends 1500.
    const costly = policy([team('A', { h100: 4 })], { preemption: { restartOverhead: 50 } });
    const r = runBaseline(
      'srtf',
      f,
      costly,
      jobs(job('l').team('A').gpus(4).runs(1000), job('s').team('A').gpus(4).runs(200).at(100), job('t1').team('A').gpus(4).runs(10_000).limit(250).at(120)),
    );
    expect(timeline(r)).toEqual([
      'l 0-100 a-0:4 preempted',
      's 100-300 a-0:4 completed',
      't1 300-550 a-0:4 timed_out',
      'l 550-1500 a-0:4 completed',
    ]);
  });

  it('picks the flavor where the job runs fastest, and stays on the flavor a job names (S1)', () => {
    // h100 nodes listed first, but j1 runs 400 s on a100 and 1000 s elsewhere: srtf puts it on a100.
    // j2 names h100. j3 names a100 and needs 500 s, more than j1's 390 left at 10: it waits for
    // j1 (until 400), although h100 is idle from 100.
    const mixed = fleet(pool('h', 'h100', 1, 4), pool('b', 'a100', 1, 4));
    const pm = policy([team('A', { h100: 4, a100: 4 })]);
    const r = runBaseline(
      'srtf',
      mixed,
      pm,
      jobs(
        job('j1').team('A').gpus(4).runs(1000).on('a100', 400),
        job('j2').team('A').gpus(2).runs(100).flavor('h100'),
        job('j3').team('A').gpus(4).runs(500).flavor('a100').at(10),
      ),
    );
    expect(timeline(r)).toEqual(['j1 0-400 b-0:4 completed', 'j2 0-100 h-0:2 completed', 'j3 400-900 b-0:4 completed']);
    expect(r.jobs.map((j) => j.flavor)).toEqual(['a100', 'h100', 'a100']);
  });
});
