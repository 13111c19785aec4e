// The expected start of a waiting job (docs/scheduling.md, P4 and "Explanations"): from the
// time limits of the runs it waits for (declared, or their class's defaultTimeLimit), else
// estimated from the run history of their team and class, which the caller passes in and which
// never changes a decision.
import { describe, expect, it } from 'vitest';
import { fleet, job, policy, pool, team, DEFAULT_CLASSES } from '../../test/builders.js';
import { Engine } from './engine.js';
import type { Policy } from './model.js';
import { timeLimitOf } from './model.js';
import { estimatedRunEnd, runHistoryKey } from './reasons.js';

/** The builders' policy with a default time limit on the research class. */
const withDefault = (p: Policy, seconds: number): Policy => ({
  ...p,
  priorityClasses: DEFAULT_CLASSES.map((c) => (c.name === 'research' ? { ...c, defaultTimeLimit: seconds } : c)),
});

describe('estimatedRunEnd', () => {
  it('is the median of the recorded durations longer than the run so far', () => {
    // Started at 0, ran 1000 s: [1200, 3600, 7200] are longer, their median is 3600.
    expect(estimatedRunEnd([600, 1200, 3600, 7200], 0, 1000)).toBe(3600);
    // Ran 100 s: all four are longer; the lower median of an even count, 1200.
    expect(estimatedRunEnd([600, 1200, 3600, 7200], 50, 150)).toBe(50 + 1200);
  });

  it('gives nothing with fewer than three runs, or for a run that outlived them all', () => {
    expect(estimatedRunEnd(undefined, 0, 10)).toBeNull();
    expect(estimatedRunEnd([100, 200], 0, 10)).toBeNull();
    expect(estimatedRunEnd([100, 200, 300], 0, 300)).toBeNull();
  });
});

describe('timeLimitOf', () => {
  it("is the job's own limit, else its class's default, else none", () => {
    const p = withDefault(policy([team('A')]), 3600);
    expect(timeLimitOf(p, { class: 'research', timeLimit: 60 })).toBe(60);
    expect(timeLimitOf(p, { class: 'research', timeLimit: null })).toBe(3600);
    expect(timeLimitOf(p, { class: 'training', timeLimit: null })).toBeNull();
  });
});

describe('the expected start of the job nodes are reserved for', () => {
  // Two nodes of 8. a (8 GPUs) fills node 0, x (4 GPUs) half of node 1; b (8) must wait for a
  // whole node and gets the reservation; c (4 GPUs, limit 100) could backfill node 1 only if
  // the reserved start were known to be later than 110.
  const f = fleet(pool('n', 'h100', 2, 8));
  const a = job('a').team('A').gpus(8).at(0).runs(5000).build();
  const x = job('x').team('A').gpus(4).at(0).runs(5000).build();
  const b = job('b').team('A').gpus(8).at(10).runs(100).build();
  const c = job('c').team('A').gpus(4).at(10).runs(50).limit(100).build();

  const run = (p: Policy, history?: Map<string, number[]>) => {
    const engine = new Engine(f, p);
    if (history) engine.setRunHistory(history);
    engine.submit(a, 0);
    engine.submit(x, 0);
    engine.pass(0);
    engine.submit(b, 10);
    engine.submit(c, 10);
    const result = engine.pass(10, { explainAll: true });
    return { engine, result };
  };

  it('is unknown when a run on the reserved nodes has no time limit and there is no history', () => {
    const { engine, result } = run(policy([team('A')]));
    expect(result.started).toEqual([]);
    const reason = engine.jobs[2]!.reason!;
    expect(reason).toMatchObject({ code: 'WaitingForCapacity', expectedStart: null, expectedStartBasis: null });
    expect(reason.message).toContain('start unknown: a run on them has no time limit');
  });

  it("comes from time limits when the policy gives the class a default: a real limit, so c backfills", () => {
    // research's default 1000 s: a and x end by t=1000 at the latest; b is expected then, and c
    // (10 + 100 <= 1000) may use the 4 idle GPUs of the reserved node 1.
    const { engine, result } = run(withDefault(policy([team('A')]), 1000));
    expect(result.started.map((h) => engine.jobs[h]!.spec.id)).toEqual(['c']);
    expect(engine.jobs[2]!.reason).toMatchObject({ code: 'WaitingForCapacity', expectedStart: 1000, expectedStartBasis: 'timeLimits' });
    expect(engine.jobs[2]!.reason!.message).toContain('expected start in ~17m (t=1000, from time limits)');
  });

  it('is estimated from the history of the runs it waits for, and the estimate changes no decision', () => {
    // A's research runs lasted [300, 900, 2000, 4000]; x has run 10 s, so its end is estimated
    // at the median of the longer ones, [300, 900, 2000, 4000] -> 900 (lower median): t=900.
    const history = new Map([[runHistoryKey('A', 'research'), [300, 900, 2000, 4000]]]);
    const without = run(policy([team('A')]));
    const withHistory = run(policy([team('A')]), history);
    expect(withHistory.result).toEqual(without.result); // c does not backfill on an estimate
    expect(withHistory.engine.jobs[2]!.reason).toMatchObject({ code: 'WaitingForCapacity', expectedStart: 900, expectedStartBasis: 'history' });
    expect(withHistory.engine.jobs[2]!.reason!.message).toContain('(t=900, estimated from history)');
    // Another team's or class's history says nothing about these runs.
    const unrelated = run(policy([team('A')]), new Map([[runHistoryKey('A', 'training'), [300, 900, 2000]]]));
    expect(unrelated.engine.jobs[2]!.reason).toMatchObject({ expectedStart: null, expectedStartBasis: null });
    expect(unrelated.engine.jobs[2]!.reason!.message).toContain('its team has too little history to estimate it');
  });
});
