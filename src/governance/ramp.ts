// Gradual activation of a material policy change (docs/governance.md, step 7): "a material
// change waits timelock, then ramps in ramp.steps equal steps over ramp.over (each step is a
// policy version of its own) ... guarantees and limits move from old to new in equal steps".
// Pure: the caller stores each step as a policy version, as YAML text (policyToYaml).
import { Document, isMap, isScalar, visit } from 'yaml';
import { flavorCapacity } from '../core/config/cluster.js';
import { allTeams } from '../core/config/policy.js';
import type { Flavor, Fleet, Policy, TeamSpec } from '../core/model.js';

/** One team's quotas at one end of the ramp, for every flavor of the fleet. */
interface Quotas {
  readonly guarantee: Map<Flavor, number>;
  /** Absent limits are the flavor's capacity, and so are limits above it (they limit nothing more). */
  readonly limit: Map<Flavor, number>;
  readonly lendable: Map<Flavor, number>;
}

/**
 * The `steps` policies of a ramp from `from` to `to`, both valid for `fleet`. Element k-1 is
 * step k; the last one is `to` itself. Each intermediate step is `to` (its team tree, classes,
 * weights, settings, governance) with every guarantee, limit and lendable part at
 * `floor(from + (to - from) * k / steps)`. Example: guarantee 200 -> 100 in 4 steps gives
 * 175, 150, 125, 100.
 *
 * Sides: a team or flavor absent on one side has guarantee (and lendable) 0 there; an absent
 * lendable is the whole guarantee; an absent limit is the flavor's whole capacity, and a step
 * whose limit comes out at the capacity writes no limit (the two mean the same). Teams only in
 * `from` are gone from step 1 on; teams only in `to` grow from 0.
 *
 * Why every step is valid: the rules of formats.md are linear inequalities over the quotas of
 * ONE tree (children's guarantees sum to at most the parent's, top-level ones to at most the
 * capacity, 0 <= lendable <= guarantee <= limit). The steps use `to`'s tree, so the `from` end is
 * first projected onto it (projectFrom): a team's `from` guarantee is cut, in tree order, to what
 * its new parent (or the capacity) has left; when the tree did not change this cuts nothing.
 * Then both ends satisfy every rule on the same tree, and so does their weighted average
 * x_k = (from * (steps - k) + to * k) / steps. Rounding down keeps them: floor is monotone
 * (x <= y gives floor(x) <= floor(y)) and floor(a) + floor(b) <= floor(a + b), so
 * sum floor(child_k) <= floor(sum child_k) <= floor(parent_k), and the capacity is an integer.
 */
export function rampPolicies(from: Policy, to: Policy, steps: number, fleet: Fleet): Policy[] {
  if (!Number.isInteger(steps) || steps < 1)
    throw new RangeError(`steps: expected an integer >= 1, got ${steps}`);
  const capacity = flavorCapacity(fleet);
  const flavors = [...capacity.keys()];
  const start = projectFrom(from, to, capacity);
  const ends = new Map([...allTeams(to)].map(([name, team]) => [name, quotasOf(team, capacity)]));

  const stepTeam = (team: TeamSpec, k: number): TeamSpec => {
    const a = start.get(team.name)!;
    const b = ends.get(team.name)!;
    const at = (pick: (q: Quotas) => Map<Flavor, number>, flavor: Flavor): number =>
      interpolate(pick(a).get(flavor)!, pick(b).get(flavor)!, k, steps);
    const guarantee: Record<Flavor, number> = {};
    const limit: Record<Flavor, number> = {};
    const lendable: Record<Flavor, number> = {};
    for (const flavor of flavors) {
      const g = at((q) => q.guarantee, flavor);
      // Keys as parsePolicy gives them: a guarantee key when it is non-zero or `to` names the
      // flavor; a lendable key for every guaranteed flavor (and those `to` names).
      if (g > 0 || flavor in team.guarantee) guarantee[flavor] = g;
      if (flavor in guarantee || flavor in team.lendable) lendable[flavor] = at((q) => q.lendable, flavor);
      const l = at((q) => q.limit, flavor);
      if (l < capacity.get(flavor)!) limit[flavor] = l;
    }
    return {
      ...team,
      guarantee,
      limit,
      lendable,
      children: team.children.map((child) => stepTeam(child, k)),
    };
  };

  const policies: Policy[] = [];
  for (let k = 1; k < steps; k++) policies.push({ ...to, teams: to.teams.map((team) => stepTeam(team, k)) });
  policies.push(to);
  return policies;
}

/** floor((a * (steps - k) + b * k) / steps) for integers, exactly (no floating-point drift). */
function interpolate(a: number, b: number, k: number, steps: number): number {
  const total = a * (steps - k) + b * k;
  let q = Math.floor(total / steps);
  // total / steps is rounded to the nearest double; correct a quotient one off either way.
  if (q * steps > total) q--;
  else if ((q + 1) * steps <= total) q++;
  return q;
}

/** A team's quotas with the defaults spelled out, for every flavor of the fleet. */
function quotasOf(team: TeamSpec | undefined, capacity: ReadonlyMap<Flavor, number>): Quotas {
  const guarantee = new Map<Flavor, number>();
  const limit = new Map<Flavor, number>();
  const lendable = new Map<Flavor, number>();
  for (const [flavor, gpus] of capacity) {
    const g = team?.guarantee[flavor] ?? 0;
    guarantee.set(flavor, g);
    limit.set(flavor, Math.min(team?.limit[flavor] ?? gpus, gpus));
    lendable.set(flavor, Math.min(team?.lendable[flavor] ?? g, g));
  }
  return { guarantee, limit, lendable };
}

/**
 * The `from` end on `to`'s tree: every team of `to` with its quotas in `from` (0 guarantee and no
 * limit when `from` lacks it), each guarantee cut to what is left of its parent's (projected)
 * guarantee, or of the capacity for top-level teams, after the siblings before it. Lendable parts
 * are cut to the guarantee; limits need no cut (the guarantee only went down).
 * Example: `from` research 10 { pretraining 10 }, `to` research 0 and pretraining 10 both at the
 * top, capacity 10: research keeps 10, pretraining starts from 0.
 */
function projectFrom(from: Policy, to: Policy, capacity: ReadonlyMap<Flavor, number>): Map<string, Quotas> {
  const old = allTeams(from);
  const projected = new Map<string, Quotas>();
  const visitSiblings = (teams: readonly TeamSpec[], bound: (flavor: Flavor) => number): void => {
    const left = new Map([...capacity.keys()].map((flavor) => [flavor, bound(flavor)]));
    for (const team of teams) {
      const quotas = quotasOf(old.get(team.name), capacity);
      for (const [flavor, g] of quotas.guarantee) {
        const cut = Math.min(g, left.get(flavor)!);
        left.set(flavor, left.get(flavor)! - cut);
        quotas.guarantee.set(flavor, cut);
        quotas.lendable.set(flavor, Math.min(quotas.lendable.get(flavor)!, cut));
      }
      projected.set(team.name, quotas);
      visitSiblings(team.children, (flavor) => quotas.guarantee.get(flavor)!);
    }
  };
  visitSiblings(to.teams, (flavor) => capacity.get(flavor)!);
  return projected;
}

const DAY = 86_400;
const UNITS: readonly [string, number][] = [
  ['d', DAY],
  ['h', 3600],
  ['m', 60],
];

/** A duration as a person writes it: 604800 -> "7d", 600 -> "10m"; other values stay seconds. */
function duration(seconds: number): string | number {
  if (seconds === 0 || !Number.isInteger(seconds)) return seconds;
  const unit = UNITS.find(([, size]) => seconds % size === 0);
  return unit ? `${seconds / unit[1]}${unit[0]}` : seconds;
}

/**
 * A policy.yaml text (docs/formats.md) for `policy`, with `header` as a leading comment.
 * parsePolicy reads it back to a deep-equal policy when `policy` has the form parsePolicy gives
 * (a lendable entry for every guaranteed flavor); a hand-built one whose lendable lacks a
 * guaranteed flavor (meaning "all of it") reads back with that entry filled in. Every key is
 * written, so the text does not depend on the parser's defaults; only lendable parts equal to
 * the guarantee, absent limits, weights of 1 and empty children are left out.
 */
export function policyToYaml(policy: Policy, header?: string): string {
  const team = (spec: TeamSpec): Record<string, unknown> => {
    const lendable = Object.entries(spec.lendable).filter(
      ([flavor, gpus]) => spec.guarantee[flavor] !== gpus,
    );
    return {
      name: spec.name,
      guarantee: { ...spec.guarantee },
      ...(Object.keys(spec.limit).length > 0 ? { limit: { ...spec.limit } } : {}),
      ...(lendable.length > 0 ? { lendable: Object.fromEntries(lendable) } : {}),
      ...(spec.weight !== 1 ? { weight: spec.weight } : {}),
      ...(spec.children.length > 0 ? { children: spec.children.map(team) } : {}),
    };
  };
  const { preemption } = policy;
  const plain = {
    priorityClasses: policy.priorityClasses.map(({ name, priority, preemptible, defaultTimeLimit }) => ({
      name,
      priority,
      preemptible,
      ...(defaultTimeLimit !== undefined ? { defaultTimeLimit: duration(defaultTimeLimit) } : {}),
    })),
    defaultClass: policy.defaultClass,
    scheduling: { withinTeam: policy.scheduling.withinTeam },
    fairShare: { halfLife: duration(policy.fairShare.halfLife) },
    preemption: {
      minRuntime: duration(preemption.minRuntime),
      restartOverhead: duration(preemption.restartOverhead),
      checkpointInterval: duration(preemption.checkpointInterval),
      withinTeam: preemption.withinTeam,
      borrowing: preemption.borrowing,
      fairShare: preemption.fairShare,
    },
    teams: policy.teams.map(team),
    // Written as values (durations in seconds), which the parser reads like any other spelling.
    ...(policy.governance ? { governance: policy.governance } : {}),
  };
  const doc = new Document(plain, { aliasDuplicateObjects: false });
  // Small mappings on one line: `guarantee: { h100: 256 }`, `- { name: serving, ... }`.
  const FLOW_KEYS = new Set(['guarantee', 'limit', 'lendable', 'commentPeriod', 'ramp']);
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && FLOW_KEYS.has(String(pair.key.value)) && isMap(pair.value))
        pair.value.flow = true;
    },
    Seq(_, seq, path) {
      const parent = path[path.length - 1];
      if (parent && 'key' in parent && isScalar(parent.key) && parent.key.value === 'priorityClasses') {
        for (const item of seq.items) if (isMap(item)) item.flow = true;
      }
    },
  });
  const comment =
    header === undefined
      ? ''
      : header
          .split('\n')
          .map((line) => (line ? `# ${line}` : '#'))
          .join('\n') + '\n';
  return comment + doc.toString({ lineWidth: 0 });
}
