// The synthetic lab of the scale benchmark: a fleet, a three-level team tree and a job
// stream, all from a seed (mulberry32), so two runs see the same inputs.
//
// Team tree: `divisions x groups x leaves` teams at three levels; jobs belong to the
// leaves. The default lab has 10 x 10 x 10 = 1,000 leaf teams (1,110 teams with the 10
// divisions and 100 groups above them): "1,000 teams" counts the teams that submit jobs.
//
// Guarantees: the divisions share 80% of each flavor (top level), and every team's
// guarantee is split entirely among its children by random shares (lognormal), so the
// sums nest exactly as docs/scheduling.md requires. One leaf in ten is guaranteed nothing
// (it only borrows). One leaf in ten has a limit (twice its guarantee, at least 256 GPUs).
//
// Job mix (per job): GPUs 1 (30%), 2 (14%), 4 (18%), 8 (22%), then whole nodes: 16 (7%),
// 32 (5%), 64 (2.5%), 128 (1.5%); class research 60%, training 38%, serving 2% (serving is
// non-preemptible, so it is only drawn for a leaf whose guarantee holds it, else training);
// duration lognormal, median 45 min (2 h 15 for whole-node jobs), sigma 1.8, clamped to
// [1 min, 7 days]; half the jobs declare a time limit of 1.5 to 3 times their duration.
// Arrivals: a Poisson stream whose rate offers `load` times the fleet's GPU-seconds
// (1.1 by default: more work arrives than the fleet can do, so queues build up).
import type { Fleet, JobSpec, Policy, TeamSpec } from '../../src/core/model.js';
import { policy as makePolicy, team } from '../../test/builders.js';

/** mulberry32: a small, fast, seeded 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box-Muller, one value per call). */
function normal(rand: () => number): number {
  const u = 1 - rand(); // (0, 1]: log(u) is finite
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Picks an index from cumulative weights (ascending, last = total). */
function pickCumulative(cumulative: readonly number[], rand: () => number): number {
  const x = rand() * cumulative[cumulative.length - 1]!;
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cumulative[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function cumulativeOf(weights: readonly number[]): number[] {
  let sum = 0;
  return weights.map((w) => (sum += w));
}

/** Splits `total` into integer parts proportional to `shares` (largest remainder). */
function split(total: number, shares: readonly number[]): number[] {
  const sum = shares.reduce((a, b) => a + b, 0);
  const exact = shares.map((s) => (sum > 0 ? (total * s) / sum : 0));
  const parts = exact.map(Math.floor);
  let left = total - parts.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    parts[i]!++;
    left--;
  }
  return parts;
}

export interface LabOptions {
  /** Nodes of 8 GPUs (12,500 = 100,000 GPUs). */
  readonly nodes: number;
  readonly divisions: number;
  readonly groups: number;
  readonly leaves: number;
  /** 1: one pool of h100; 2: h100 (75% of the nodes) and a100 (25%). */
  readonly flavors?: 1 | 2;
  /** Share of each flavor guaranteed to the top-level teams (0.8). */
  readonly guaranteed?: number;
  readonly seed?: number;
}

export interface LeafInfo {
  readonly name: string;
  /** Guarantee per flavor name. */
  readonly guarantee: Readonly<Record<string, number>>;
  readonly limit: number | null;
}

export interface Lab {
  readonly fleet: Fleet;
  readonly policy: Policy;
  readonly leaves: readonly LeafInfo[];
  readonly flavors: readonly string[];
  /** GPUs per flavor. */
  readonly capacity: Readonly<Record<string, number>>;
  readonly totalGpus: number;
  /** Teams in the tree (all levels). */
  readonly teamCount: number;
}

export const GPUS_PER_NODE = 8;
export const RACK_SIZE = 32;

export function makeLab(options: LabOptions): Lab {
  const rand = mulberry32(options.seed ?? 1);
  const flavorCount = options.flavors ?? 1;
  const guaranteedShare = options.guaranteed ?? 0.8;
  const pools =
    flavorCount === 1
      ? [
          {
            name: 'h100',
            flavor: 'h100',
            nodes: options.nodes,
            gpusPerNode: GPUS_PER_NODE,
            rackSize: RACK_SIZE,
          },
        ]
      : [
          {
            name: 'h100',
            flavor: 'h100',
            nodes: Math.round(options.nodes * 0.75),
            gpusPerNode: GPUS_PER_NODE,
            rackSize: RACK_SIZE,
          },
          {
            name: 'a100',
            flavor: 'a100',
            nodes: options.nodes - Math.round(options.nodes * 0.75),
            gpusPerNode: GPUS_PER_NODE,
            rackSize: RACK_SIZE,
          },
        ];
  const flavors = pools.map((p) => p.flavor);
  const capacity: Record<string, number> = {};
  for (const p of pools) capacity[p.flavor] = p.nodes * p.gpusPerNode;

  const share = (): number => Math.exp(0.5 * normal(rand));
  const weight = (): number => [1, 1, 1, 2, 2, 3, 4][Math.floor(rand() * 7)]!;
  const leaves: LeafInfo[] = [];
  const pad = (n: number, width: number): string => String(n).padStart(width, '0');
  const w = (n: number): number => String(n - 1).length;

  // Guarantees per flavor, top-down: each level splits its parent's guarantee entirely.
  const levelSplit = (
    totals: Record<string, number>,
    count: number,
    zeroSome: boolean,
  ): Record<string, number>[] => {
    const shares = Array.from({ length: count }, () => share());
    // One leaf in ten is guaranteed nothing (it only borrows).
    if (zeroSome) for (let i = 0; i < count; i++) if (rand() < 0.1) shares[i] = 0;
    if (!shares.some((s) => s > 0)) shares[0] = 1;
    const perFlavor = flavors.map((f) => split(totals[f]!, shares));
    return Array.from({ length: count }, (_, i) =>
      Object.fromEntries(flavors.map((f, k) => [f, perFlavor[k]![i]!])),
    );
  };

  const top: Record<string, number> = Object.fromEntries(
    flavors.map((f) => [f, Math.floor(capacity[f]! * guaranteedShare)]),
  );
  const divisionQuotas = levelSplit(top, options.divisions, false);
  const divisions: TeamSpec[] = divisionQuotas.map((dq, d) => {
    const dName = `d${pad(d, w(options.divisions))}`;
    const groupQuotas = levelSplit(dq, options.groups, false);
    const groups = groupQuotas.map((gq, g) => {
      const gName = `${dName}-g${pad(g, w(options.groups))}`;
      const leafQuotas = levelSplit(gq, options.leaves, true);
      const children = leafQuotas.map((lq, l) => {
        const name = `${gName}-t${pad(l, w(options.leaves))}`;
        const guaranteeTotal = flavors.reduce((s, f) => s + lq[f]!, 0);
        const limited = rand() < 0.1;
        const limitValue = limited ? Math.max(2 * guaranteeTotal, 256) : null;
        const limit =
          limitValue === null
            ? {}
            : Object.fromEntries(flavors.map((f) => [f, Math.max(limitValue, lq[f]!)]));
        leaves.push({ name, guarantee: lq, limit: limitValue });
        return team(name, lq, { weight: weight(), limit });
      });
      return team(gName, gq, { weight: weight(), children });
    });
    return team(dName, dq, { weight: weight(), children: groups });
  });

  const totalGpus = pools.reduce((s, p) => s + p.nodes * p.gpusPerNode, 0);
  return {
    fleet: { pools },
    policy: makePolicy(divisions),
    leaves,
    flavors,
    capacity,
    totalGpus,
    teamCount: options.divisions * (1 + options.groups * (1 + options.leaves)),
  };
}

/** How jobs arrive: a Poisson stream at `load` x capacity, all at one instant, or spread evenly-random over [from, to]. */
export type Arrivals =
  | { kind: 'poisson'; load: number; start?: number }
  | { kind: 'at'; time: number }
  | { kind: 'spread'; from: number; to: number };

/** 'realistic': the mix described at the top. 'small': 1, 2 and 4 GPUs only (mean 2), to pack ~50,000 runs onto 100,000 GPUs. */
export type Mix = 'realistic' | 'small';

export interface JobOptions {
  readonly seed: number;
  readonly arrivals: Arrivals;
  readonly mix?: Mix;
  /** Job ids are `${prefix}${i}`. */
  readonly prefix?: string;
}

const REALISTIC_SIZES = [1, 2, 4, 8, 16, 32, 64, 128];
const REALISTIC_CUMULATIVE = cumulativeOf([0.3, 0.14, 0.18, 0.22, 0.07, 0.05, 0.025, 0.015]);
const SMALL_SIZES = [1, 2, 4];
const SMALL_CUMULATIVE = cumulativeOf([0.5, 0.25, 0.25]);
const MINUTE = 60;
const DAY = 86400;

/**
 * `count` jobs of the lab, sorted by submit time. Leaf teams are drawn in proportion to
 * their guarantee (teams guaranteed nothing still submit, at a tenth of the average rate).
 */
export function makeJobs(lab: Lab, count: number, options: JobOptions): JobSpec[] {
  const rand = mulberry32(options.seed);
  const mix = options.mix ?? 'realistic';
  const prefix = options.prefix ?? 'j';
  const sizes = mix === 'realistic' ? REALISTIC_SIZES : SMALL_SIZES;
  const sizeCumulative = mix === 'realistic' ? REALISTIC_CUMULATIVE : SMALL_CUMULATIVE;
  const guaranteeOf = (leaf: LeafInfo): number => Object.values(leaf.guarantee).reduce((a, b) => a + b, 0);
  const mean = lab.leaves.reduce((s, l) => s + guaranteeOf(l), 0) / lab.leaves.length;
  const teamCumulative = cumulativeOf(lab.leaves.map((l) => guaranteeOf(l) + 0.1 * mean));
  const twoFlavors = lab.flavors.length > 1;

  interface Draft {
    team: string;
    gpus: number;
    duration: number;
    cls: string;
    flavor: string | null;
    timeLimit: number | null;
  }
  const drafts: Draft[] = new Array<Draft>(count);
  let gpuSeconds = 0;
  for (let i = 0; i < count; i++) {
    const leaf = lab.leaves[pickCumulative(teamCumulative, rand)]!;
    const gpus = sizes[pickCumulative(sizeCumulative, rand)]!;
    const whole = gpus > GPUS_PER_NODE;
    const median = whole ? 135 * MINUTE : 45 * MINUTE;
    const duration = Math.round(Math.min(7 * DAY, Math.max(MINUTE, median * Math.exp(1.8 * normal(rand)))));
    let flavor: string | null = lab.flavors[0]!;
    if (twoFlavors) {
      const x = rand();
      flavor = x < 0.6 ? 'h100' : x < 0.85 ? 'a100' : null;
    }
    const c = rand();
    let cls = c < 0.6 ? 'research' : 'training';
    if (c >= 0.98) {
      // Serving (non-preemptible) only inside the leaf's guarantee (M4), else it would be rejected.
      const g = flavor === null ? Math.max(...Object.values(leaf.guarantee)) : (leaf.guarantee[flavor] ?? 0);
      cls = gpus <= g ? 'serving' : 'training';
    }
    const timeLimit = rand() < 0.5 ? Math.ceil(duration * (1.5 + 1.5 * rand())) : null;
    drafts[i] = { team: leaf.name, gpus, duration, cls, flavor, timeLimit };
    gpuSeconds += gpus * duration;
  }

  const submits = new Float64Array(count);
  const arrivals = options.arrivals;
  if (arrivals.kind === 'poisson') {
    // Rate such that the offered GPU-seconds per second is `load` x the fleet's GPUs.
    const span = gpuSeconds / (arrivals.load * lab.totalGpus);
    const rate = count / span;
    let t = arrivals.start ?? 0;
    for (let i = 0; i < count; i++) {
      t += -Math.log(1 - rand()) / rate;
      submits[i] = Math.round(t);
    }
  } else if (arrivals.kind === 'at') {
    submits.fill(arrivals.time);
  } else {
    for (let i = 0; i < count; i++)
      submits[i] = Math.round(arrivals.from + rand() * (arrivals.to - arrivals.from));
    submits.sort();
  }

  const jobs: JobSpec[] = new Array<JobSpec>(count);
  for (let i = 0; i < count; i++) {
    const d = drafts[i]!;
    jobs[i] = {
      id: `${prefix}${i}`,
      submit: submits[i]!,
      team: d.team,
      gpus: d.gpus,
      duration: d.duration,
      class: d.cls,
      flavor: d.flavor,
      timeLimit: d.timeLimit,
      checkpointInterval: null,
    };
  }
  return jobs;
}

/** The offered load of a job list: GPU-seconds per second of its arrival span, over the fleet's GPUs. */
export function offeredLoad(lab: Lab, jobs: readonly JobSpec[]): number {
  if (jobs.length < 2) return 0;
  let work = 0;
  for (const j of jobs) work += j.gpus * j.duration;
  const span = jobs[jobs.length - 1]!.submit - jobs[0]!.submit;
  return span > 0 ? work / span / lab.totalGpus : Infinity;
}
