// Golden scenarios: small traces whose whole timeline was worked out by hand from
// docs/scheduling.md and docs/formats.md. Each expected value carries the arithmetic that
// gives it. A timeline line is `id start-end placement outcome` (segments.csv, ordered by
// start, then trace position).
//
// Defaults (test/builders.ts): minRuntime 600 s, restartOverhead 0, checkpointInterval 0,
// preemption inside the team on, borrowing: lowerPriority, fairShare preemption off, fifo,
// halfLife 7 d; a job is research, 1 GPU, 100 s, any flavor, no time limit, unless it says.
// Node names are `<pool>-<index>`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseCluster } from '../src/core/config/cluster.js';
import { parsePolicy } from '../src/core/config/policy.js';
import { parseTrace } from '../src/core/config/trace.js';
import { importPhilly } from '../src/traces/philly.js';
import { Engine } from '../src/core/engine.js';
import type { Fleet, JobSpec, Policy } from '../src/core/model.js';
import type { ReasonCode } from '../src/core/reasons.js';
import { summarize } from '../src/sim/metrics.js';
import { renderJobsCsv } from '../src/sim/outputs.js';
import { simulate } from '../src/sim/simulator.js';
import type { SimulateOptions } from '../src/sim/simulator.js';
import type { SimulationResult } from '../src/sim/types.js';
import { fleet, job, jobs, policy, pool, team } from './builders.js';

const timeline = (r: SimulationResult): string[] =>
  r.runs.map(
    (run) =>
      `${r.jobs[run.job]!.spec.id} ${run.start}-${run.end} ${run.placement.map((p) => `${p.node}:${p.gpus}`).join(';')} ${run.outcome}`,
  );

/** jobs.csv rows (without the header) of the named jobs. */
const jobsCsv = (r: SimulationResult, ...ids: string[]): string[] =>
  renderJobsCsv(r)
    .trim()
    .split('\n')
    .slice(1)
    .filter((row) => ids.includes(row.split(',')[0]!));

/** Simulates and collects the reason of every pending job at the given moments. */
function withReasons(
  f: Fleet,
  p: Policy,
  trace: JobSpec[],
  moments: number[],
  options: SimulateOptions = {},
): { r: SimulationResult; reasons: Record<string, { code: ReasonCode; expectedStart: number | null }> } {
  const reasons: Record<string, { code: ReasonCode; expectedStart: number | null }> = {};
  const r = simulate(f, p, trace, {
    ...options,
    explain: moments,
    onExplain: (lines) => {
      for (const l of lines) reasons[`${l.time} ${l.job}`] = { code: l.code, expectedStart: l.expectedStart };
    },
  });
  return { r, reasons };
}

describe('reclaim and minRuntime', () => {
  // One node of 8; A and B are each guaranteed 4. B borrows A's half while A is idle.
  const f = fleet(pool('a', 'h100', 1, 8));
  const p = policy([team('A', { h100: 4 }), team('B', { h100: 4 })]);
  const reclaimTrace = jobs(
    job('b1').team('B').gpus(8).at(50).runs(10_000),
    job('a1').team('A').gpus(4).at(100).runs(100),
  );

  it('reclaims borrowed GPUs at the exact instant the borrower’s minRuntime ends, in a pass of its own', () => {
    // b1 starts at 50, so it is protected until 50 + 600 = 650. a1 arrives at 100 and fits
    // A's guarantee (0 + 4 <= 4): it waits with MinRuntimeProtection until 650. No other
    // event happens at 650: the protection end itself brings the pass (P4 consequence).
    // b1 has run 650 - 50 = 600 s and keeps them all (c = 0); it needs all 8 GPUs, so it
    // waits for a1 (650 + 100 = 750), then runs its remaining 10000 - 600 = 9400 s.
    const r = simulate(f, p, reclaimTrace);
    expect(timeline(r)).toEqual([
      'b1 50-650 a-0:8 preempted',
      'a1 650-750 a-0:4 completed',
      'b1 750-10150 a-0:8 completed',
    ]);
    // Passes: arrivals at 50 and 100, the protection end at 650, completions at 750 and 10150.
    expect(r.passes).toBe(5);
    // jobs.csv: wait = start - submit, jct = end - submit; b1 was preempted once.
    expect(jobsCsv(r, 'b1', 'a1')).toEqual([
      'b1,B,research,h100,8,50,50,10150,10000,0,10100,1,completed',
      'a1,A,research,h100,4,100,650,750,100,550,650,0,completed',
    ]);
  });

  // Explanations. a1's start is known (b1's protection ends at 650) and MinRuntimeProtection
  // is the code for exactly this wait. Was: a1, the first job of the pass blocked for room,
  // got the reservation, and Engine.reasonFor tested the reservation branch first: it said
  // "WaitingForCapacity: ... start unknown: a run on them has no time limit".
  it('explains the wait as MinRuntimeProtection, with the moment it ends', () => {
    const { reasons } = withReasons(f, p, reclaimTrace, [300]);
    expect(reasons).toEqual({ '300 a1': { code: 'MinRuntimeProtection', expectedStart: 650 } });
  });

  it('never reclaims from a team that is not borrowing', () => {
    // B holds exactly its guarantee (4 of 4): a second A job that does not fit A's
    // guarantee (4 + 4 > 4) may only borrow, and B's research job is not of a lower class.
    const r = simulate(
      f,
      p,
      jobs(
        job('a1').team('A').gpus(4).runs(1000),
        job('b1').team('B').gpus(4).runs(1000),
        job('a2').team('A').gpus(4).at(700).runs(100),
      ),
    );
    expect(timeline(r)).toEqual([
      'a1 0-1000 a-0:4 completed',
      'b1 0-1000 a-0:4 completed',
      'a2 1000-1100 a-0:4 completed',
    ]);
  });
});

describe('lending (M3)', () => {
  it('keeps the non-lendable part of a guarantee idle for its owner', () => {
    // Two nodes of 8 = 16. A is guaranteed 8 but lends only 2: 6 are locked for A.
    // t=0: b1 (8) starts: 16 - 8 = 8 idle >= 6 locked. b2 (4) would leave 8 - 4 = 4 < 6:
    // it waits (GuaranteeExhausted). b3 (2) leaves 8 - 2 = 6 >= 6: it starts on the node
    // b1 does not use. t=50: a1 (6) is A's own: it takes the last 6 GPUs of that node.
    // t=100: b3 ends; idle 2 (A holds 6, so nothing is locked now), too few for b2.
    // t=150: a1 ends; idle 8, but 6 are locked again: b2 still may not start (8 - 4 < 6).
    // t=1000: b1 ends; idle 16 - 4 = 12 >= 6: b2 runs 1000-1100.
    const f = fleet(pool('a', 'h100', 2, 8));
    const p = policy([team('A', { h100: 8 }, { lendable: { h100: 2 } }), team('B')]);
    const { r, reasons } = withReasons(
      f,
      p,
      jobs(
        job('b1').team('B').gpus(8).runs(1000),
        job('b2').team('B').gpus(4).runs(100),
        job('b3').team('B').gpus(2).runs(100),
        job('a1').team('A').gpus(6).at(50).runs(100),
      ),
      [10, 500],
    );
    const nodes = new Map(r.runs.map((run) => [r.jobs[run.job]!.spec.id, run.placement[0]!.node]));
    const other = nodes.get('b1') === 'a-0' ? 'a-1' : 'a-0';
    expect(timeline(r)).toEqual([
      `b1 0-1000 ${nodes.get('b1')}:8 completed`,
      `b3 0-100 ${other}:2 completed`,
      `a1 50-150 ${other}:6 completed`,
      `b2 1000-1100 ${nodes.get('b2')}:4 completed`,
    ]);
    expect(reasons).toEqual({
      '10 b2': { code: 'GuaranteeExhausted', expectedStart: null },
      '500 b2': { code: 'GuaranteeExhausted', expectedStart: null },
    });
  });
});

describe('team limits (M2)', () => {
  it('a team at its limit waits with TeamLimit although GPUs are idle', () => {
    // Two nodes of 8; A may hold at most 8. a1 (8) takes all of it; a2 (4) would make 12 > 8,
    // so it waits with 8 GPUs idle until a1 ends at 1000.
    const f = fleet(pool('a', 'h100', 2, 8));
    const p = policy([team('A', {}, { limit: { h100: 8 } })]);
    const { r, reasons } = withReasons(
      f,
      p,
      jobs(job('a1').team('A').gpus(8).runs(1000), job('a2').team('A').gpus(4).runs(100)),
      [500],
    );
    expect(timeline(r).map((l) => l.replace(/a-\d/, 'N'))).toEqual([
      'a1 0-1000 N:8 completed',
      'a2 1000-1100 N:4 completed',
    ]);
    expect(reasons).toEqual({ '500 a2': { code: 'TeamLimit', expectedStart: null } });
  });

  it('a limit higher in the tree holds back a leaf that has none of its own', () => {
    // P (limit 8) has children X and Y. x1 (8) fills P's limit; y1 (4) would make P hold 12.
    const f = fleet(pool('a', 'h100', 2, 8));
    const p = policy([team('P', {}, { limit: { h100: 8 }, children: [team('X'), team('Y')] })]);
    const { r, reasons } = withReasons(
      f,
      p,
      jobs(job('x1').team('X').gpus(8).runs(1000), job('y1').team('Y').gpus(4).runs(100)),
      [500],
    );
    expect(r.jobs.map((j) => [j.spec.id, j.start, j.end])).toEqual([
      ['x1', 0, 1000],
      ['y1', 1000, 1100],
    ]);
    expect(reasons).toEqual({ '500 y1': { code: 'TeamLimit', expectedStart: null } });
  });
});

describe('progress (M6)', () => {
  it('a preempted run keeps progress up to its last checkpoint; a restart pays the overhead', () => {
    // restartOverhead 30; b1 checkpoints every 100 s. One node of 8, A guaranteed all 8.
    // t=650: a1 (A, fits 0 + 8 <= 8) reclaims b1 (protected until 600, so at once).
    //   b1 made 650 s, keeps floor(650 / 100) * 100 = 600: lost 50 s x 8 GPUs = 400.
    // a1 runs 650-850. b1 restarts at 850: 30 s overhead, then 1000 - 600 = 400 s of work:
    //   ends 850 + 30 + 400 = 1280; lost 30 s x 8 = 240. Total lost 640 GPU-seconds.
    const f = fleet(pool('a', 'h100', 1, 8));
    const p = policy([team('A', { h100: 8 }), team('B')], { preemption: { restartOverhead: 30 } });
    const r = simulate(
      f,
      p,
      jobs(
        job('b1').team('B').gpus(8).runs(1000).checkpoint(100),
        job('a1').team('A').gpus(8).at(650).runs(200),
      ),
    );
    expect(timeline(r)).toEqual([
      'b1 0-650 a-0:8 preempted',
      'a1 650-850 a-0:8 completed',
      'b1 850-1280 a-0:8 completed',
    ]);
    expect(r.runs.map((run) => run.lostGpuSeconds)).toEqual([400, 0, 240]);
    const s = summarize(r);
    expect({ preemptions: s.preemptions, lostGpuSeconds: s.lostGpuSeconds }).toEqual({
      preemptions: 1,
      lostGpuSeconds: 640,
    });
  });

  it('with the policy’s checkpoint interval 0 a preempted run keeps all its progress', () => {
    // Same, but b1 keeps all 650 s: restarts at 850, ends 850 + 30 + 350 = 1230.
    const f = fleet(pool('a', 'h100', 1, 8));
    const p = policy([team('A', { h100: 8 }), team('B')], { preemption: { restartOverhead: 30 } });
    const r = simulate(
      f,
      p,
      jobs(job('b1').team('B').gpus(8).runs(1000), job('a1').team('A').gpus(8).at(650).runs(200)),
    );
    expect(timeline(r)).toEqual([
      'b1 0-650 a-0:8 preempted',
      'a1 650-850 a-0:8 completed',
      'b1 850-1230 a-0:8 completed',
    ]);
    expect(r.runs.map((run) => run.lostGpuSeconds)).toEqual([0, 0, 240]);
  });

  it('a run that reaches its time limit ends the job as timed_out', () => {
    // t1 needs 1000 s but declares 300: its run stops at 300. t2 fits in its limit.
    const r = simulate(
      fleet(pool('a', 'h100', 1, 8)),
      policy([team('A')]),
      jobs(
        job('t1').team('A').gpus(4).runs(1000).limit(300),
        job('t2').team('A').gpus(4).runs(200).limit(300),
      ),
    );
    expect(timeline(r)).toEqual(['t1 0-300 a-0:4 timed_out', 't2 0-200 a-0:4 completed']);
    expect(jobsCsv(r, 't1', 't2')).toEqual([
      't1,A,research,h100,4,0,0,300,1000,0,300,0,timed_out',
      't2,A,research,h100,4,0,0,200,200,0,200,0,completed',
    ]);
  });

  it('the time limit bounds each run, not the job: a preempted job gets a fresh limit', () => {
    // b1 needs 1000 s with a 700 s limit. Reclaimed at 650 (kept 650), it restarts at 750
    // and needs 350 s more: 750-1100, within its new run's limit.
    const f = fleet(pool('a', 'h100', 1, 8));
    const p = policy([team('A', { h100: 8 }), team('B')]);
    const r = simulate(
      f,
      p,
      jobs(job('b1').team('B').gpus(8).runs(1000).limit(700), job('a1').team('A').gpus(8).at(650).runs(100)),
    );
    expect(timeline(r)).toEqual([
      'b1 0-650 a-0:8 preempted',
      'a1 650-750 a-0:8 completed',
      'b1 750-1100 a-0:8 completed',
    ]);
  });
});

describe('reservations and backfill (P4)', () => {
  it('a big job reserves; a short job that ends before its expected start backfills; a long one waits', () => {
    // Two nodes of 8, one team with no guarantee (nobody reclaims; all research: nobody
    // preempts by class). t=0: a1 (8, limit 1200) and a2 (4, limit 500) start, a1 on one
    // node, a2 on the other.
    // t=10: big (16 = both whole nodes) cannot start: it reserves both nodes, expected start
    //   = when the runs on them must end = max(0 + 1200, 0 + 500) = 1200.
    // t=20: s1 (4, limit 900) ends by 20 + 900 = 920 <= 1200: it backfills next to a2.
    //   The expected start stays 1200 (s1 must end by 920, a1 by 1200).
    // t=30: s2 (4, limit 2000) would end by 2030 > 1200 (and no GPU is idle anyway).
    // t=120 s1 ends: 4 GPUs idle but reserved for big, and s2 may not backfill:
    //   ReservedForOtherJob. t=400 a2 ends: 8 idle, still all reserved; s2 still waits.
    // t=1000 a1 ends: big starts (1000-1100), then s2 (1100-1200).
    const { r, reasons } = withReasons(
      fleet(pool('a', 'h100', 2, 8)),
      policy([team('A')]),
      jobs(
        job('a1').team('A').gpus(8).runs(1000).limit(1200),
        job('a2').team('A').gpus(4).runs(400).limit(500),
        job('big').team('A').gpus(16).at(10).runs(100),
        job('s1').team('A').gpus(4).at(20).runs(100).limit(900),
        job('s2').team('A').gpus(4).at(30).runs(100).limit(2000),
      ),
      [200, 500],
    );
    const a2Node = r.runs.find((run) => r.jobs[run.job]!.spec.id === 'a2')!.placement[0]!.node;
    const a1Node = a2Node === 'a-0' ? 'a-1' : 'a-0';
    const s2Node = r.runs.find((run) => r.jobs[run.job]!.spec.id === 's2')!.placement[0]!.node;
    // s1 backfills next to a2 (the only room); big takes both nodes; s2 either.
    expect(timeline(r)).toEqual([
      `a1 0-1000 ${a1Node}:8 completed`,
      `a2 0-400 ${a2Node}:4 completed`,
      `s1 20-120 ${a2Node}:4 completed`,
      'big 1000-1100 a-0:8;a-1:8 completed',
      `s2 1100-1200 ${s2Node}:4 completed`,
    ]);
    expect(reasons).toEqual({
      '200 big': { code: 'WaitingForCapacity', expectedStart: 1200 },
      '200 s2': { code: 'ReservedForOtherJob', expectedStart: null },
      '500 big': { code: 'WaitingForCapacity', expectedStart: 1200 },
      '500 s2': { code: 'ReservedForOtherJob', expectedStart: null },
    });
  });

  it('a stream of small jobs cannot starve a big job: it reserves the node and starts when it drains', () => {
    // One node of 8. Small jobs of 2 GPUs x 300 s arrive every 100 s; big (8) at 150.
    // 0: s0 0-300. 100: s1 100-400. 150: big cannot start: it reserves the node (no time
    // limits: start unknown, so nothing may backfill). s2 (200), s3 (300) wait although
    // GPUs are idle. 400: s1 ends, the node is empty: big 400-500 (first in fifo order).
    // 500: s2, s3, s4, s5 (8 GPUs) 500-800. 600: s6 cannot start: it gets the reservation,
    // s7 (700) waits behind it. 800: s6, s7, s8 800-1100. 900: s9 takes the last 2 GPUs.
    const stream = Array.from({ length: 10 }, (_, k) =>
      job(`s${k}`)
        .team('A')
        .gpus(2)
        .at(100 * k)
        .runs(300),
    );
    const trace = jobs(
      ...stream.slice(0, 2),
      job('big').team('A').gpus(8).at(150).runs(100),
      ...stream.slice(2),
    );
    const r = simulate(fleet(pool('a', 'h100', 1, 8)), policy([team('A')]), trace);
    expect(timeline(r)).toEqual([
      's0 0-300 a-0:2 completed',
      's1 100-400 a-0:2 completed',
      'big 400-500 a-0:8 completed',
      's2 500-800 a-0:2 completed',
      's3 500-800 a-0:2 completed',
      's4 500-800 a-0:2 completed',
      's5 500-800 a-0:2 completed',
      's6 800-1100 a-0:2 completed',
      's7 800-1100 a-0:2 completed',
      's8 800-1100 a-0:2 completed',
      's9 900-1200 a-0:2 completed',
    ]);
  });
});

describe('flavors (S1)', () => {
  it('an any-flavor job tries the flavor where it fits its guarantee first, and runs at that flavor’s speed', () => {
    // Pools: a100 listed first, then h100. A is guaranteed 8 h100 only.
    // t=0: a1 (any, 8) fits A's guarantee on h100 only: h100, at its h100 speed (400 s).
    // b1 (B, no guarantee) fits nowhere: pool order, a100, at the default 100 s.
    // a2 no longer fits A's guarantee (8 + 8 > 8) and both flavors are busy; B's standing
    // is behind A's anyway. t=100: b1 ends; a2 takes the a100 node, 1000 s there.
    const f = fleet(pool('a', 'a100', 1, 8), pool('h', 'h100', 1, 8));
    const p = policy([team('A', { h100: 8 }), team('B')]);
    const r = simulate(
      f,
      p,
      jobs(
        job('a1').team('A').gpus(8).runs(1000).on('h100', 400),
        job('b1').team('B').gpus(8).runs(100).on('h100', 50),
        job('a2').team('A').gpus(8).runs(1000).on('h100', 400),
      ),
    );
    expect(timeline(r)).toEqual([
      'a1 0-400 h-0:8 completed',
      'b1 0-100 a-0:8 completed',
      'a2 100-1100 a-0:8 completed',
    ]);
    expect(r.jobs.map((j) => j.flavor)).toEqual(['h100', 'a100', 'a100']);
  });

  it('a job that names a flavor waits for it even when another flavor is idle', () => {
    const f = fleet(pool('a', 'a100', 1, 8), pool('h', 'h100', 1, 8));
    const r = simulate(
      f,
      policy([team('A')]),
      jobs(
        job('h1').team('A').gpus(8).flavor('h100').runs(100),
        job('h2').team('A').gpus(8).flavor('h100').runs(100),
      ),
    );
    expect(timeline(r)).toEqual(['h1 0-100 h-0:8 completed', 'h2 100-200 h-0:8 completed']);
  });
});

describe('a three-level tree: victims (Q2)', () => {
  // Two nodes of 8. Division D1 (guaranteed 8) has A and S, 4 each; division D2 (nothing
  // guaranteed) has C. The other 8 GPUs are a free pool.
  const f = fleet(pool('a', 'h100', 2, 8));
  const p = policy([
    team('D1', { h100: 8 }, { children: [team('A', { h100: 4 }), team('S', { h100: 4 })] }),
    team('D2', {}, { children: [team('C')] }),
  ]);

  it('reclaims from the sibling that borrowed the team’s share before a team in another division', () => {
    // s1 (S, 8) borrows 4 of A's share; c1 (C, 8) borrows the free pool. At 1000 a1 (A, 4)
    // fits A's guarantee; either s1 or c1 alone frees a node (one victim each): Q2 picks
    // the nearest subtree, S. s1 ran 1000 s; it waits for a1 (1000-1100), then runs
    // its remaining 5000 - 1000 = 4000 s on the node a1 left: 1100-5100.
    const r = simulate(
      f,
      p,
      jobs(
        job('s1').team('S').gpus(8).runs(5000),
        job('c1').team('C').gpus(8).runs(5000),
        job('a1').team('A').gpus(4).at(1000).runs(100),
      ),
    );
    const sNode = r.runs[0]!.placement[0]!.node;
    const cNode = sNode === 'a-0' ? 'a-1' : 'a-0';
    expect(timeline(r)).toEqual([
      `s1 0-1000 ${sNode}:8 preempted`,
      `c1 0-5000 ${cNode}:8 completed`,
      `a1 1000-1100 ${sNode}:4 completed`,
      `s1 1100-5100 ${sNode}:8 completed`,
    ]);
  });

  it('among equal victims of one team, preempts the most recently started', () => {
    // s1 (S, 4) at 0 fits S's guarantee; c1 (C, 8) takes the other node; s2 (S, 4) at 10
    // borrows next to s1. At 1000 a1 (A, 4) needs 4: one victim on either node; the nearest
    // subtree is S; of s1 and s2, Q2 takes the most recently started, s2 (ran 990 s).
    // s2 waits for a1 (1000-1100), then its remaining 5000 - 990 = 4010 s: 1100-5110.
    const r = simulate(
      f,
      p,
      jobs(
        job('s1').team('S').gpus(4).runs(5000),
        job('c1').team('C').gpus(8).runs(5000),
        job('s2').team('S').gpus(4).at(10).runs(5000),
        job('a1').team('A').gpus(4).at(1000).runs(100),
      ),
    );
    const sNode = r.runs[0]!.placement[0]!.node;
    const cNode = sNode === 'a-0' ? 'a-1' : 'a-0';
    expect(timeline(r)).toEqual([
      `s1 0-5000 ${sNode}:4 completed`,
      `c1 0-5000 ${cNode}:8 completed`,
      `s2 10-1000 ${sNode}:4 preempted`,
      `a1 1000-1100 ${sNode}:4 completed`,
      `s2 1100-5110 ${sNode}:4 completed`,
    ]);
  });
});

describe('fair share (P2 c, Q3)', () => {
  it('two borrowing teams with equal guarantees alternate starts within a pass', () => {
    // One node of 8, A and B guaranteed nothing, four 2-GPU jobs each, A's first in the
    // trace. a1 starts (A now holds 2); B's standing is lower: b1; equal again: submit
    // times tie, trace position: a2; then b2. The node is full. At 100 both teams have
    // the same decayed usage: a3, b3, a4, b4 in the same way.
    const trace = jobs(
      ...[1, 2, 3, 4].map((k) => job(`a${k}`).team('A').gpus(2).runs(100)),
      ...[1, 2, 3, 4].map((k) => job(`b${k}`).team('B').gpus(2).runs(100)),
    );
    const r = simulate(fleet(pool('a', 'h100', 1, 8)), policy([team('A'), team('B')]), trace);
    expect(r.jobs.map((j) => `${j.spec.id}@${j.start}`)).toEqual([
      'a1@0',
      'a2@0',
      'a3@100',
      'a4@100',
      'b1@0',
      'b2@0',
      'b3@100',
      'b4@100',
    ]);
  });

  it('decayed past usage puts the heavier user second', () => {
    // A used the whole node for 1000 s. At 1000 a1 and b1 (8 each) arrive together, a1
    // first in the trace; A's decayed usage (about 8 x 1000 GPU-seconds) is far above B's
    // (0): b1 goes first (1000-1100), then a1 (1100-1200).
    const r = simulate(
      fleet(pool('a', 'h100', 1, 8)),
      policy([team('A'), team('B')]),
      jobs(
        job('a0').team('A').gpus(8).runs(1000),
        job('a1').team('A').gpus(8).at(1000).runs(100),
        job('b1').team('B').gpus(8).at(1000).runs(100),
      ),
    );
    expect(timeline(r)).toEqual([
      'a0 0-1000 a-0:8 completed',
      'b1 1000-1100 a-0:8 completed',
      'a1 1100-1200 a-0:8 completed',
    ]);
  });
});

describe('placement (Q1)', () => {
  it('a one-node job goes where it leaves the fewest GPUs free', () => {
    // Three nodes of 8: y1 (2) takes some node; y2 (2) goes to the same node (6 free beats 8).
    // y3 (4) fills that node exactly (4 free, leaving 0).
    const r = simulate(
      fleet(pool('a', 'h100', 3, 8)),
      policy([team('A')]),
      jobs(job('y1').team('A').gpus(2), job('y2').team('A').gpus(2), job('y3').team('A').gpus(4).at(1)),
    );
    const nodes = r.runs.map((run) => run.placement[0]!.node);
    expect(new Set(nodes).size).toBe(1);
  });

  it('a whole-node job takes its nodes from one rack when one rack can hold it', () => {
    // 8 nodes of 8 in racks of 4 (a-0..3, a-4..7). w1 takes 3 whole nodes: one rack. w2
    // takes 4 whole nodes: only the rack w1 did not touch holds 4 idle nodes.
    const r = simulate(
      fleet(pool('a', 'h100', 8, 8, 4)),
      policy([team('A')]),
      jobs(job('w1').team('A').gpus(24).runs(100), job('w2').team('A').gpus(32).runs(100)),
    );
    const rack = (node: string): number => Math.floor(Number(node.split('-')[1]) / 4);
    expect(
      r.runs.map((run) => [
        r.jobs[run.job]!.spec.id,
        [...new Set(run.placement.map((p) => rack(p.node)))].length,
      ]),
    ).toEqual([
      ['w1', 1],
      ['w2', 1],
    ]);
  });
});

describe('classes', () => {
  const classFleet = fleet(pool('a', 'h100', 1, 8));
  const classTrace = jobs(
    job('r1').team('A').gpus(8).runs(5000),
    job('t1').team('A').gpus(8).cls('training').at(100).runs(100),
  );

  it('training preempts research of its own team once minRuntime has passed', () => {
    // One node of 8, team A guaranteed 8. r1 (research, 8) runs from 0; t1 (training, 8)
    // at 100 may preempt it inside the team (strictly lower class), after 600: at 600.
    // r1 keeps its 600 s, waits for t1 (600-700) and runs 5000 - 600 = 4400 s: 700-5100.
    const r = simulate(classFleet, policy([team('A', { h100: 8 })]), classTrace);
    expect(timeline(r)).toEqual([
      'r1 0-600 a-0:8 preempted',
      't1 600-700 a-0:8 completed',
      'r1 700-5100 a-0:8 completed',
    ]);
  });

  // Explanations, as for reclaim above (was: the reservation branch of Engine.reasonFor hid
  // MinRuntimeProtection and t1 was told "start unknown").
  it('explains the wait for its own team’s research job as MinRuntimeProtection until 600', () => {
    const { reasons } = withReasons(classFleet, policy([team('A', { h100: 8 })]), classTrace, [300]);
    expect(reasons).toEqual({ '300 t1': { code: 'MinRuntimeProtection', expectedStart: 600 } });
  });

  it('without preemption inside the team the training job waits for the research job', () => {
    const r = simulate(
      classFleet,
      policy([team('A', { h100: 8 })], { preemption: { withinTeam: false } }),
      classTrace,
    );
    expect(timeline(r)).toEqual(['r1 0-5000 a-0:8 completed', 't1 5000-5100 a-0:8 completed']);
  });

  it('serving is never preempted, runs only inside the guarantee, and is rejected when larger than it', () => {
    // One node of 8; A and B guaranteed 4 each. a2 (research, 4) at 0 and sv1 (serving, 4)
    // at 10: A holds 8, borrowing 4. sv2 (serving, 6 > A's 4) is rejected at submission.
    // sv3 (serving, 2) at 20: A's serving jobs hold 4 of 4: GuaranteeExhausted.
    // 1000: b1 (B, 4) fits B's guarantee and reclaims from A: only a2 is preemptible
    // (sv1 started later, but is never a victim). b1 1000-1100; a2 restarts at 1100 with
    // 4000 s left: 1100-5100. 5010: sv1 ends; sv3 5010-5110.
    const f = fleet(pool('a', 'h100', 1, 8));
    const p = policy([team('A', { h100: 4 }), team('B', { h100: 4 })]);
    const { r, reasons } = withReasons(
      f,
      p,
      jobs(
        job('a2').team('A').gpus(4).runs(5000),
        job('sv1').team('A').gpus(4).cls('serving').at(10).runs(5000),
        job('sv2').team('A').gpus(6).cls('serving').runs(100),
        job('sv3').team('A').gpus(2).cls('serving').at(20).runs(100),
        job('b1').team('B').gpus(4).at(1000).runs(100),
      ),
      [500],
    );
    expect(timeline(r)).toEqual([
      'a2 0-1000 a-0:4 preempted',
      'sv1 10-5010 a-0:4 completed',
      'b1 1000-1100 a-0:4 completed',
      'a2 1100-5100 a-0:4 completed',
      'sv3 5010-5110 a-0:2 completed',
    ]);
    expect(reasons).toEqual({ '500 sv3': { code: 'GuaranteeExhausted', expectedStart: null } });
    expect(r.jobs.map((j) => [j.spec.id, j.status, j.preemptions])).toEqual([
      ['a2', 'completed', 1],
      ['sv1', 'completed', 0],
      ['sv2', 'rejected', 0],
      ['sv3', 'completed', 0],
      ['b1', 'completed', 0],
    ]);
    expect(r.jobs[2]!.rejectReason).toContain('M4');
  });
});

describe('rejections (S2, capacity, limits)', () => {
  it('rejects at submission a job that can never run, and says why', () => {
    // Two nodes of 8 = 16, A may hold at most 8.
    // r1: 12 GPUs is more than a node and not a multiple of 8 (S2).
    // r2: 24 GPUs is more than the fleet. r3: 16 GPUs is more than A's limit.
    // ok: 16 GPUs on B (no limit) is two whole nodes: it runs.
    const r = simulate(
      fleet(pool('a', 'h100', 2, 8)),
      policy([team('A', {}, { limit: { h100: 8 } }), team('B')]),
      jobs(
        job('r1').team('B').gpus(12),
        job('r2').team('B').gpus(24),
        job('r3').team('A').gpus(16),
        job('ok').team('B').gpus(16),
      ),
    );
    expect(jobsCsv(r, 'r1', 'r2', 'r3', 'ok')).toEqual([
      'r1,B,research,,12,0,,,100,,,0,rejected',
      'r2,B,research,,24,0,,,100,,,0,rejected',
      'r3,A,research,,16,0,,,100,,,0,rejected',
      'ok,B,research,h100,16,0,0,100,100,0,100,0,completed',
    ]);
    expect(r.jobs.map((j) => j.rejectReason !== undefined && j.rejectReason.length > 0)).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(timeline(r)).toEqual(['ok 0-100 a-0:8;a-1:8 completed']);
  });
});

describe('plan() is a pure question', () => {
  /** Everything a pass reads or writes, except the explanations plan() is for. */
  function snapshot(e: Engine, now: number): unknown {
    return {
      free: Array.from(e.fleet.free),
      reserved: Array.from(e.fleet.reserved),
      idle: Array.from(e.fleet.idle),
      usage: Array.from(e.teams.usage),
      nonPreemptible: Array.from(e.teams.nonPreemptibleUsage),
      standing: e.teams.names.map((_, t) => e.teams.standing(t, now)),
      jobs: e.jobs.map((j) => ({
        id: j.spec.id,
        state: j.state,
        nodes: [...j.nodes],
        perNode: j.perNode,
        attained: j.attained,
        preemptions: j.preemptions,
        runStart: j.state === 'running' ? j.runStart : null,
        runFlavor: j.state === 'running' ? j.runFlavor : null,
      })),
      queues: e.teams.names.map((n) => e.queueOf(n)),
      pending: e.pending,
      running: e.running,
      lastReservation: e.lastPassReservation,
    };
  }

  /** A state in which a pass starts, preempts and reserves. */
  function busyEngine(): Engine {
    const e = new Engine(
      fleet(pool('a', 'h100', 3, 8)),
      policy([team('A', { h100: 16 }), team('B')], { preemption: { minRuntime: 100 } }),
    );
    for (const spec of jobs(
      job('b1').team('B').gpus(8).runs(5000),
      job('b2').team('B').gpus(8).runs(5000),
      job('b3').team('B').gpus(4).runs(5000),
    ))
      e.submit(spec, 0);
    e.pass(0);
    for (const spec of jobs(
      job('a1').team('A').gpus(8).at(200),
      job('a2').team('A').gpus(2).at(200),
      job('a3').team('A').gpus(24).at(200),
      job('b4').team('B').gpus(2).at(200),
    ))
      e.submit(spec, 200);
    return e;
  }

  it('plan(now) decides what pass(now) would, and leaves the state as it was', () => {
    const e = busyEngine();
    const before = snapshot(e, 200);
    const planned = e.plan(200);
    expect(planned.started.length + planned.preempted.length).toBeGreaterThan(0);
    expect(snapshot(e, 200)).toEqual(before);
    // Planning twice gives the same answer; so does the pass that follows.
    expect(e.plan(200)).toEqual(planned);
    expect(e.pass(200)).toEqual(planned);
  });

  it('a pass after a plan places jobs exactly as a pass without one', () => {
    const planned = busyEngine();
    planned.plan(200);
    planned.plan(200);
    const a = planned.pass(200);
    const fresh = busyEngine();
    const b = fresh.pass(200);
    expect(a).toEqual(b);
    expect(planned.jobs.map((j) => planned.placementOf(j.handle))).toEqual(
      fresh.jobs.map((j) => fresh.placementOf(j.handle)),
    );
  });
});

// Minimal reproductions of what the property tests (test/properties.test.ts) found. Each
// asserts the outcome the spec gives. Those marked "Was" are fixed (commit 644f41f) and
// stay as regression tests; it.fails marks what the engine still does otherwise.
describe('engine discrepancies found by the properties', () => {
  // Was: Engine.nothingMoreCanStart (the early exit of the pass) assumed a job larger than
  // a node needs a free block of the flavor's *largest* node size; with nodes of 4 and of 2
  // GPUs, a 6-GPU job takes three whole 2-GPU nodes, so the pass stopped before it.
  it('work conservation: a whole-node job on the smaller nodes of a mixed flavor starts when they are idle', () => {
    // h100 nodes: a-0 of 4 GPUs, b-0..2 of 2 GPUs. j1 (3) best-fits on a-0. j2 (6) is
    // larger than any node and a multiple of 2: three whole 2-GPU nodes (S2), all idle.
    const r = simulate(
      fleet(pool('a', 'h100', 1, 4), pool('b', 'h100', 3, 2)),
      policy([team('A')]),
      jobs(job('j1').team('A').gpus(3).runs(1000), job('j2').team('A').gpus(6).runs(100)),
    );
    expect(timeline(r)).toEqual(['j1 0-1000 a-0:3 completed', 'j2 0-100 b-0:2;b-1:2;b-2:2 completed']);
  });

  // Was: a job preempted in a pass was not considered again in that pass, although another
  // flavor (or GPUs the preemption left over) was idle: after the pass a pending job could
  // start on idle, unreserved GPUs ("Work conservation", P4).
  it('work conservation: a reclaimed job restarts at once on an idle flavor', () => {
    // a100 node a-0, h100 node h-0; A is guaranteed the h100 node. x1 (B, a100) holds a-0
    // until 1000; v1 (B, any) borrows h-0. At 1000 x1 ends and p1 (A, h100) reclaims v1
    // (it ran 1000 >= 600 s). a-0 is idle: v1 restarts there at 1000 with 5000 - 1000 =
    // 4000 s left: 1000-5000.
    const r = simulate(
      fleet(pool('a', 'a100', 1, 8), pool('h', 'h100', 1, 8)),
      policy([team('A', { h100: 8 }), team('B')]),
      jobs(
        job('x1').team('B').gpus(8).flavor('a100').runs(1000),
        job('v1').team('B').gpus(8).runs(5000),
        job('p1').team('A').gpus(8).flavor('h100').at(1000).runs(100),
      ),
    );
    expect(timeline(r)).toEqual([
      'x1 0-1000 a-0:8 completed',
      'v1 0-1000 h-0:8 preempted',
      'v1 1000-5000 a-0:8 completed',
      'p1 1000-1100 h-0:8 completed',
    ]);
  });

  // Was: Engine.victimsOneNode skipped every candidate that runs on more than one node
  // (`c.job.nodes.length !== 1`), so a one-node job could never reclaim (or preempt) a
  // whole-node job, even when that job was the only borrower.
  it('guarantee first: a one-node job reclaims a borrowed whole-node job', () => {
    // Two nodes of 8; A guaranteed 8. b1 (B, 16) borrows both nodes from 0. At 1000 a1
    // (A, 8) fits A's guarantee; b1 is past minRuntime: reclaiming it is the only way and
    // takes one victim. a1 1000-1100; b1 (16) waits for it, then runs its remaining
    // 5000 - 1000 = 4000 s: 1100-5100.
    const r = simulate(
      fleet(pool('a', 'h100', 2, 8)),
      policy([team('A', { h100: 8 }), team('B')]),
      jobs(job('b1').team('B').gpus(16).runs(5000), job('a1').team('A').gpus(8).at(1000).runs(100)),
    );
    const a1Node = r.runs.find((run) => r.jobs[run.job]!.spec.id === 'a1')?.placement[0]?.node ?? 'a-?';
    expect(timeline(r)).toEqual([
      'b1 0-1000 a-0:8;a-1:8 preempted',
      `a1 1000-1100 ${a1Node}:8 completed`,
      'b1 1100-5100 a-0:8;a-1:8 completed',
    ]);
  });

  // Was: when a node already had room, Engine.victimsOneNode returned an empty victim set
  // for it; the limit check that followed failed, and the job waited with TeamLimit.
  // Reclaiming the sibling's borrowed job brings the parent under its limit.
  it(
    'guarantee first: a job within its guarantee reclaims from a sibling that borrowed up to the parent’s limit',
    () => {
      // Two nodes of 8. P is guaranteed 6 and may hold at most 6; its children X and Y are
      // guaranteed 3 each. x1 (X, 6) borrows 3 of Y's share: P holds 6 = its limit; x1's
      // node has 2 GPUs left. At 1000 y1 (Y, 2) fits Y's guarantee (0 + 2 <= 3) but P's
      // limit is reached. Reclaiming x1 (X holds 6 > 3, past minRuntime) leaves P at
      // 0 + 2 <= 6: y1 starts at 1000. x1 waits for y1 (P: 2 + 6 > 6), then runs its
      // remaining 5000 - 1000 = 4000 s: 1100-5100. (The engine finds that x1's node already
      // had room for y1, so no victim was needed, then failed the limit: y1 waited with
      // TeamLimit until x1 ended at 5000.)
      const r = simulate(
        fleet(pool('a', 'h100', 2, 8)),
        policy([
          team(
            'P',
            { h100: 6 },
            { limit: { h100: 6 }, children: [team('X', { h100: 3 }), team('Y', { h100: 3 })] },
          ),
        ]),
        jobs(job('x1').team('X').gpus(6).runs(5000), job('y1').team('Y').gpus(2).at(1000).runs(100)),
      );
      expect(r.jobs.map((j) => [j.spec.id, j.start, j.end, j.preemptions])).toEqual([
        ['x1', 0, 5100, 1],
        ['y1', 1000, 1100, 0],
      ]);
    },
  );

  // ENGINE DISCREPANCY (the fix above is incomplete): the early exit now takes the block
  // the *smallest remaining* job needs (here 4, for job four), but a larger job may need a
  // smaller block: big (6) takes whole 2-GPU nodes. The pass stops before big. With
  // explainAll (no early exit) big starts at 0: the bound changes a decision.
  it(
    'work conservation: a large job on small whole nodes is not cut off by a smaller job that cannot start',
    () => {
      // a-0 (4 GPUs), b-0..2 (2 GPUs). h (3) best-fits on a-0 until 1000. big (6) takes the
      // three idle 2-GPU nodes at once; four (4) waits for a-0.
      const r = simulate(
        fleet(pool('a', 'h100', 1, 4), pool('b', 'h100', 3, 2)),
        policy([team('A')]),
        jobs(
          job('h').team('A').gpus(3).runs(1000),
          job('big').team('A').gpus(6).runs(100),
          job('four').team('A').gpus(4).runs(100),
        ),
      );
      expect(timeline(r)).toEqual([
        'h 0-1000 a-0:3 completed',
        'big 0-100 b-0:2;b-1:2;b-2:2 completed',
        'four 1000-1100 a-0:4 completed',
      ]);
    },
  );

  // ENGINE DISCREPANCY: the early exit skips a team every pending job of which a limit
  // refuses (7fbf175), but a job that fits its guarantee may reclaim below the limit. With
  // explainAll (the simulator's --explain, the live server) the same pass reclaims: the
  // bound changes a decision, and the timeline depends on whether anyone asked for reasons.
  it(
    'guarantee first: a job blocked by its parent’s limit still reclaims from its borrowing sibling',
    () => {
      // One node of 8. P (guaranteed 6, limit 6) has X and Y, guaranteed 3 each; Q holds the
      // other 2. x1 (X, 6) borrows 3 of Y's share: P is at its limit, 2 GPUs idle. At 1000
      // y1 (Y, 3) fits Y's guarantee; it needs 1 GPU more than is idle and P's limit is
      // reached: reclaiming x1 (X holds 6 > 3, past minRuntime) solves both. y1 1000-1100;
      // x1 (6) waits for it (P: 3 + 6 > 6) and runs its last 4000 s: 1100-5100.
      const f = fleet(pool('a', 'h100', 1, 8));
      const p = policy([
        team(
          'P',
          { h100: 6 },
          { limit: { h100: 6 }, children: [team('X', { h100: 3 }), team('Y', { h100: 3 })] },
        ),
        team('Q', { h100: 2 }),
      ]);
      const trace = jobs(
        job('x1').team('X').gpus(6).runs(5000),
        job('y1').team('Y').gpus(3).at(1000).runs(100),
      );
      const expected = [
        'x1 0-1000 a-0:6 preempted',
        'y1 1000-1100 a-0:3 completed',
        'x1 1100-5100 a-0:6 completed',
      ];
      // With every pending job explained, the engine does it already.
      expect(timeline(simulate(f, p, trace, { explain: 'every-pass' }))).toEqual(expected);
      expect(timeline(simulate(f, p, trace))).toEqual(expected);
    },
  );

  // ENGINE DISCREPANCY (with the rounds of 644f41f): in a later round of a pass, the job a
  // reservation was made for cannot use its own reserved nodes (Engine.placeIdle only lets
  // backfill jobs use reserved nodes), so they stay idle while it waits. P3 only keeps a job
  // off GPUs "that an earlier job of this pass reserved", and the reservation is for it.
  it('the job a reservation is for may use the reserved node once a later preemption frees it', () => {
    // Three nodes of 4: A guaranteed 4, B 8, C nothing. V (B, 8, time limit 6000) holds
    // a-0 and a-1 from 0 (B within its guarantee). c1 (C, 4) borrows a-2 from 900.
    // 1000: X (A, 4) fits A's guarantee, but c1 is protected until 1500 and B does not
    // borrow: X reserves a-0 (V's nodes free first, by V's time limit). Y (B, training, 4)
    // then preempts V inside its team and takes a-1; a-0 is idle, reserved for X: X starts
    // there (1000-1100). At 1100 V (8, fits B's guarantee, submitted first) gets a-0 and
    // a-1 back and runs its remaining 4000 s: 1100-5100. c1 is never needed: 900-5900.
    const r = simulate(
      fleet(pool('a', 'h100', 3, 4)),
      policy([team('A', { h100: 4 }), team('B', { h100: 8 }), team('C')]),
      jobs(
        job('V').team('B').gpus(8).runs(5000).limit(6000),
        job('c1').team('C').gpus(4).at(900).runs(5000),
        job('X').team('A').gpus(4).at(1000).runs(100),
        job('Y').team('B').gpus(4).cls('training').at(1000).runs(100),
      ),
    );
    expect(timeline(r)).toEqual([
      'V 0-1000 a-0:4;a-1:4 preempted',
      'c1 900-5900 a-2:4 completed',
      'X 1000-1100 a-0:4 completed',
      'Y 1000-1100 a-1:4 completed',
      'V 1100-5100 a-0:4;a-1:4 completed',
    ]);
  });
});

describe('in-guarantee jobs of a contended real trace (Philly excerpt, the benchmark lab)', () => {
  // docs/evaluation.md, section 2: under the old definition of "in-guarantee at submission" (the
  // GPUs the team held plus the job's own), jobs that arrived behind their own team's backlog,
  // or in a burst of the team's jobs at one instant, counted as in-guarantee and "waited past
  // minRuntime". Counting the team's waiting demand, no in-guarantee job waits that long.
  it("every job whose team's demand fits its guarantee at arrival starts within minRuntime", () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const read = (file: string): string => readFileSync(path.join(here, '..', file), 'utf8');
    const lab = parseCluster(read('bench/philly/cluster.yaml'), 'cluster.yaml');
    if (!lab.ok) throw new Error('cluster');
    const rules = parsePolicy(read('bench/philly/policy.yaml'), 'policy.yaml', lab.value);
    if (!rules.ok) throw new Error('policy');
    const imported = importPhilly(read('test/fixtures/traces/philly/philly_jobs_82k.excerpt.csv'), 'excerpt');
    const parsed = parseTrace(imported.csv, 'excerpt', rules.value, lab.value);
    if (!parsed.ok) throw new Error('trace');
    const minRuntime = rules.value.preemption.minRuntime;
    // Arrivals 8 times as dense as in the trace, so that the lab is contended as in the full replay.
    const r = simulate(lab.value, rules.value, parsed.value.map((j) => ({ ...j, submit: Math.round(j.submit / 8) })));
    const wait = (j: (typeof r.jobs)[number]): number => j.start! - j.spec.submit;
    const started = r.jobs.filter((j) => j.start !== null);
    const inGuarantee = started.filter((j) => j.inGuaranteeAtSubmit === true);
    expect(inGuarantee.length).toBeGreaterThan(500);
    expect(Math.max(...inGuarantee.map(wait))).toBeLessThanOrEqual(minRuntime);
    // The lab is contended: other jobs (beyond their team's guarantee) did wait longer.
    expect(started.filter((j) => wait(j) > minRuntime).length).toBeGreaterThan(50);
  });
});
