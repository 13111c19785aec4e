// Capacity changes (Engine.setWithheld): GPUs of a node that no run may use, because the node is
// down or drained or a job the engine did not start holds them (the Slurm executor reports
// both). What is withheld is taken from idle GPUs only: at once, or as the node's runs end.
import { describe, expect, it } from 'vitest';
import { fleet, job, policy, pool, team } from '../../test/builders.js';
import { Engine } from './engine.js';

describe('withheld GPUs', () => {
  const f = fleet(pool('n', 'a100', 2, 8));

  it('are never given to a run, and come back when released', () => {
    const engine = new Engine(f, policy([team('A')]));
    expect(engine.setWithheld('n-1', 8)).toBe(true);
    engine.submit(job('a').team('A').gpus(8).at(0).runs(100).build(), 0);
    engine.submit(job('b').team('A').gpus(8).at(0).runs(100).build(), 0);
    expect(engine.pass(0).started).toEqual([0]);
    expect(engine.placementOf(0)).toEqual([{ node: 'n-0', gpus: 8 }]);
    expect(engine.jobs[1]!.state).toBe('pending');
    expect(engine.withheld('n-1')).toBe(8);
    expect(engine.withheldByFlavor()).toEqual([8]);
    engine.setWithheld('n-1', 0);
    expect(engine.pass(1).started).toEqual([1]);
    expect(engine.placementOf(1)).toEqual([{ node: 'n-1', gpus: 8 }]);
  });

  it('leave a part of a node to the engine (a job outside it holds the rest)', () => {
    const engine = new Engine(fleet(pool('n', 'a100', 1, 8)), policy([team('A')]));
    engine.setWithheld('n-0', 6);
    engine.submit(job('a').team('A').gpus(2).at(0).runs(100).build(), 0);
    engine.submit(job('b').team('A').gpus(1).at(0).runs(100).build(), 0);
    expect(engine.pass(0).started).toEqual([0]);
    expect(engine.fleet.free[0]).toBe(0);
  });

  it('are taken from a run only when it ends (a node drained under a running job)', () => {
    const engine = new Engine(f, policy([team('A')]));
    engine.submit(job('a').team('A').gpus(8).at(0).runs(100).build(), 0);
    engine.pass(0);
    const node = engine.placementOf(0)[0]!.node;
    engine.setWithheld(node, 8);
    expect(engine.withheld(node)).toBe(0); // the run keeps its GPUs
    expect(engine.jobs[0]!.state).toBe('running');
    engine.finish(0, 50);
    engine.submit(job('b').team('A').gpus(8).at(50).runs(100).build(), 50);
    expect(engine.pass(50).started).toEqual([1]);
    expect(engine.withheld(node)).toBe(8);
    expect(engine.placementOf(1)[0]!.node).not.toBe(node);
  });

  it('refuse unknown nodes and stay within the node', () => {
    const engine = new Engine(f, policy([team('A')]));
    expect(engine.setWithheld('nope', 8)).toBe(false);
    engine.setWithheld('n-0', 99);
    expect(engine.withheld('n-0')).toBe(8);
    expect(engine.fleet.free[0]).toBe(0);
  });
});
