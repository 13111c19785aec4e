import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../core/config/policy.js';
import type { Fleet, Policy, TeamSpec } from '../core/model.js';
import { fleet, policy, pool, team } from '../../test/builders.js';
import { policyToYaml, rampPolicies } from './ramp.js';

/** h100: 256 GPUs, a100: 16. */
const FLEET: Fleet = fleet(pool('h100-a', 'h100', 32, 8), pool('a100-a', 'a100', 2, 8));

/** parsePolicy(policyToYaml(p)), failing the test with the issues when it does not parse. */
function roundTrip(p: Policy, onFleet: Fleet = FLEET): Policy {
  const text = policyToYaml(p);
  const parsed = parsePolicy(text, 'policy.yaml', onFleet);
  if (!parsed.ok)
    throw new Error(`${text}\n${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`);
  return parsed.value;
}

/** The teams' guarantees of `flavor` per step, as { team: gpus }. */
const guarantees = (steps: readonly Policy[], flavor: string): Record<string, number | undefined>[] =>
  steps.map((step) => Object.fromEntries(flatten(step.teams).map((t) => [t.name, t.guarantee[flavor]])));

const flatten = (teams: readonly TeamSpec[]): TeamSpec[] => teams.flatMap((t) => [t, ...flatten(t.children)]);

describe('rampPolicies', () => {
  it('moves a guarantee 200 -> 100 in 4 equal steps: 175, 150, 125, 100', () => {
    const from = policy([team('research', { h100: 200 }), team('applied', { h100: 56 })]);
    const to = policy([team('research', { h100: 100 }), team('applied', { h100: 156 })]);
    const steps = rampPolicies(from, to, 4, FLEET);
    expect(guarantees(steps, 'h100')).toEqual([
      { research: 175, applied: 81 },
      { research: 150, applied: 106 },
      { research: 125, applied: 131 },
      { research: 100, applied: 156 },
    ]);
    expect(steps[3]).toBe(to);
  });

  it('rounds every step down: 3 -> 0 in 2 steps gives 1, then 0; 0 -> 3 gives 1, then 3', () => {
    const from = policy([team('a', { a100: 3 }), team('b', {})]);
    const to = policy([team('a', { a100: 0 }), team('b', { a100: 3 })]);
    expect(guarantees(rampPolicies(from, to, 2, FLEET), 'a100')).toEqual([
      { a: 1, b: 1 },
      { a: 0, b: 3 },
    ]);
  });

  it('moves limits from the capacity (no limit) to the new limit, and writes none at the capacity', () => {
    const from = policy([team('research', { h100: 100 })]);
    const to = policy([team('research', { h100: 100 }, { limit: { h100: 150 } })]);
    // 256 -> 150 in 4 steps: 229.5, 203, 176.5, 150, rounded down.
    expect(rampPolicies(from, to, 4, FLEET).map((p) => p.teams[0]?.limit)).toEqual([
      { h100: 229 },
      { h100: 203 },
      { h100: 176 },
      { h100: 150 },
    ]);
    // Back the other way: the limit rises to the capacity and disappears at the last step.
    expect(rampPolicies(to, from, 2, FLEET).map((p) => p.teams[0]?.limit)).toEqual([{ h100: 203 }, {}]);
  });

  it('moves lendable parts with the guarantee and keeps them at most the guarantee', () => {
    const from = policy([team('research', { h100: 200 }, { lendable: { h100: 0 } })]);
    const to = policy([team('research', { h100: 100 })]); // all of it lendable
    const steps = rampPolicies(from, to, 4, FLEET);
    expect(steps.map((p) => p.teams[0]?.lendable)).toEqual([
      { h100: 25 },
      { h100: 50 },
      { h100: 75 },
      { h100: 100 },
    ]);
  });

  it('uses the new tree from step 1: removed teams are gone, new ones grow from 0, weights are the new ones', () => {
    const from = policy([team('research', { h100: 128 }), team('legacy', { h100: 128 })]);
    const to = policy([
      team('research', { h100: 128 }, { weight: 2 }),
      team('applied', { h100: 128 }, { children: [team('serving', { h100: 64 })] }),
    ]);
    const steps = rampPolicies(from, to, 4, FLEET);
    expect(guarantees(steps, 'h100')).toEqual([
      { research: 128, applied: 32, serving: 16 },
      { research: 128, applied: 64, serving: 32 },
      { research: 128, applied: 96, serving: 48 },
      { research: 128, applied: 128, serving: 64 },
    ]);
    expect(steps.every((p) => p.teams[0]?.weight === 2)).toBe(true);
  });

  it('projects the old guarantees onto the new tree when teams move, so every step stays valid', () => {
    // pretraining leaves research for the top level; research's old 16 a100 cover all 16 GPUs.
    const from = policy([team('research', { a100: 16 }, { children: [team('pretraining', { a100: 16 })] })]);
    const to = policy([team('research', { a100: 0 }), team('pretraining', { a100: 16 })]);
    const steps = rampPolicies(from, to, 4, FLEET);
    expect(guarantees(steps, 'a100')).toEqual([
      { research: 12, pretraining: 4 },
      { research: 8, pretraining: 8 },
      { research: 4, pretraining: 12 },
      { research: 0, pretraining: 16 },
    ]);
    for (const step of steps) roundTrip(step);
  });

  it('gives `to` alone for one step, and refuses a step count that is not a positive integer', () => {
    const from = policy([team('research', { h100: 1 })]);
    const to = policy([team('research', { h100: 2 })]);
    expect(rampPolicies(from, to, 1, FLEET)).toEqual([to]);
    expect(() => rampPolicies(from, to, 0, FLEET)).toThrow(RangeError);
    expect(() => rampPolicies(from, to, 2.5, FLEET)).toThrow(RangeError);
  });

  it('produces only valid policies that read back unchanged, for random pairs of valid policies', () => {
    fc.assert(
      fc.property(fc.gen(), fc.boolean(), fc.integer({ min: 1, max: 6 }), (g, sameTree, steps) => {
        const from = randomPolicy(g);
        const to = sameTree ? withNewQuotas(g, from) : randomPolicy(g);
        expect(roundTrip(from)).toEqual(from);
        expect(roundTrip(to)).toEqual(to);
        const ramp = rampPolicies(from, to, steps, FLEET);
        expect(ramp).toHaveLength(steps);
        expect(ramp[steps - 1]).toEqual(to);
        for (const step of ramp) expect(roundTrip(step)).toEqual(step);
      }),
      { numRuns: 300 },
    );
  });

  it('moves every guarantee monotonically between its two ends when the tree stays the same', () => {
    fc.assert(
      fc.property(fc.gen(), fc.integer({ min: 1, max: 6 }), (g, steps) => {
        const from = randomPolicy(g);
        const to = withNewQuotas(g, from);
        const series = [from, ...rampPolicies(from, to, steps, FLEET)];
        for (const flavor of ['h100', 'a100']) {
          const values = guarantees(series, flavor);
          for (const name of Object.keys(values[0] ?? {})) {
            const line = values.map((v) => v[name] ?? 0);
            const up = (line[steps] ?? 0) >= (line[0] ?? 0);
            line.slice(1).forEach((x, i) => expect(up ? x >= line[i]! : x <= line[i]!).toBe(true));
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('policyToYaml', () => {
  it('writes a header comment and a policy that reads back with its governance section', () => {
    const text = [
      'priorityClasses:',
      '  - { name: prod, priority: 10, preemptible: false }',
      '  - { name: batch, priority: 1.5 }',
      'defaultClass: batch',
      'scheduling: { withinTeam: las }',
      'fairShare: { halfLife: 90m }',
      'preemption: { minRuntime: 0.5, restartOverhead: 30s, checkpointInterval: 1h, withinTeam: false, borrowing: never, fairShare: true }',
      'teams:',
      '  - name: "007"',
      '    guarantee: { h100: 8, a100: 0 }',
      '    limit: { h100: 300 }',
      '    lendable: { h100: 2, a100: 0 }',
      '    weight: 0.25',
      '    children: [{ name: "yes", guarantee: { h100: 8 } }]',
      'governance:',
      '  materialThreshold: 0.1',
      '  ramp: { steps: 3, over: 3d }',
    ].join('\n');
    const parsed = parsePolicy(text, 'policy.yaml', FLEET);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const written = policyToYaml(parsed.value, 'Step 2 of 4 of proposal 7\n\nDo not edit.');
    expect(written.split('\n').slice(0, 4)).toEqual([
      '# Step 2 of 4 of proposal 7',
      '#',
      '# Do not edit.',
      'priorityClasses:',
    ]);
    expect(written).toContain('halfLife: 90m');
    expect(roundTrip(parsed.value)).toEqual(parsed.value);
  });
});

// Random valid policies over FLEET. Team names come from a small set, so that two policies
// share some teams, possibly at other places in the tree.
type Gen = fc.GeneratorValue;
const NAMES = ['research', 'pretraining', 'alignment', 'applied', 'serving', 'infra', 'vision'];
const CAPACITY: Record<string, number> = { h100: 256, a100: 16 };

interface Shape {
  readonly name: string;
  readonly children: readonly Shape[];
}

function randomPolicy(g: Gen): Policy {
  const names = g(fc.shuffledSubarray, NAMES, { minLength: 1 });
  const top: Shape[] = [];
  const placed: { name: string; children: Shape[] }[] = [];
  for (const name of names) {
    const shape = { name, children: [] as Shape[] };
    const parent = g(fc.integer, { min: -1, max: placed.length - 1 });
    (parent < 0 ? top : placed[parent]!.children).push(shape);
    placed.push(shape);
  }
  return policy(withQuotas(g, top, CAPACITY));
}

/** `p`'s tree with other random quotas and weights. */
function withNewQuotas(g: Gen, p: Policy): Policy {
  return policy(withQuotas(g, p.teams, CAPACITY));
}

/**
 * Teams with valid random quotas, as parsePolicy gives them: each guarantee at most what the
 * bound has left after the siblings before it, limits at least the guarantee (sometimes above the
 * capacity), lendable at most the guarantee and filled for every guaranteed flavor.
 */
function withQuotas(g: Gen, shapes: readonly Shape[], bound: Record<string, number>): TeamSpec[] {
  const left = { ...bound };
  return shapes.map((shape) => {
    const guarantee: Record<string, number> = {};
    const limit: Record<string, number> = {};
    const lendable: Record<string, number> = {};
    for (const flavor of Object.keys(CAPACITY)) {
      const room = left[flavor] ?? 0;
      const gpus = g(fc.integer, { min: 0, max: room });
      left[flavor] = room - gpus;
      if (gpus > 0 || g(fc.boolean)) guarantee[flavor] = gpus;
      if (g(fc.boolean)) limit[flavor] = g(fc.integer, { min: gpus, max: CAPACITY[flavor]! + 8 });
      if (g(fc.boolean)) lendable[flavor] = g(fc.integer, { min: 0, max: gpus });
    }
    return {
      name: shape.name,
      guarantee,
      limit,
      lendable: { ...guarantee, ...lendable },
      weight: [1, 2, 0.5][g(fc.integer, { min: 0, max: 2 })]!,
      children: withQuotas(g, shape.children, { ...guarantee }),
    };
  });
}
