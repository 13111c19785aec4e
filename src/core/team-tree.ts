// The team tree as flat arrays: per team and flavor, guarantee, limit, lendable and usage;
// per team, fair-share accounting with half-life decay (Q3).
//
// Fair-share standing (P2c) of a team at time t:
//   standing = (decayedUsage(t) + held * halfLife / ln 2) / weight
// decayedUsage is the GPU-seconds received by the team's subtree, each second weighted by
// 2^(-age/halfLife). `held * halfLife / ln 2` is what the GPUs held now will add to it if
// kept (the integral of the decay): it makes a start count at once, so standing is
// "updated after each start, within the pass" (P2) even though no time passes in a pass.
// Worked example, halfLife = 1 h: a team that held 4 GPUs for its last hour has
// decayedUsage = 4 * 3600/ln2 * (1 - 1/2) = 10,387; holding them still adds 20,775.
import type { Policy, TeamSpec } from './model.js';

const LN2 = Math.log(2);

export class TeamTree {
  readonly names: string[] = [];
  readonly byName = new Map<string, number>();
  readonly parent: number[] = [];
  readonly children: number[][] = [];
  readonly depth: number[] = [];
  readonly weight: number[] = [];
  readonly isLeaf: boolean[] = [];
  /** Top-level teams in policy order. */
  readonly roots: number[] = [];
  /** Teams in post-order (children before parents). */
  readonly postOrder: number[] = [];
  /** Ancestors-or-self, leaf first, per team. */
  readonly path: number[][] = [];
  /** [team * F + flavor] */
  readonly guarantee: Float64Array;
  readonly limit: Float64Array;
  /** Non-lendable part of the guarantee (guarantee - lendable). */
  readonly locked: Float64Array;
  /** GPUs held by the team's subtree, per flavor. */
  readonly usage: Float64Array;
  /** GPUs held by the team's non-preemptible jobs, per flavor (leaves only; M4). */
  readonly nonPreemptibleUsage: Float64Array;
  /** True when some team has a non-lendable part, so M3 needs checking at all. */
  readonly hasLocks: boolean;
  // Fair share, all flavors together.
  private readonly decayed: Float64Array;
  private readonly heldAll: Float64Array;
  private readonly settledAt: Float64Array;
  private savedDecayed = new Float64Array(0);
  private savedSettledAt = new Float64Array(0);
  private readonly tau: number;

  constructor(
    policy: Policy,
    readonly flavorNames: readonly string[],
  ) {
    const F = flavorNames.length;
    const specs: TeamSpec[] = [];
    const visit = (spec: TeamSpec, parent: number, depth: number): number => {
      const id = specs.length;
      specs.push(spec);
      this.names.push(spec.name);
      this.byName.set(spec.name, id);
      this.parent.push(parent);
      this.children.push([]);
      this.depth.push(depth);
      this.weight.push(spec.weight);
      this.isLeaf.push(spec.children.length === 0);
      this.path.push(parent < 0 ? [id] : [id, ...this.path[parent]!]);
      for (const child of spec.children) this.children[id]!.push(visit(child, id, depth + 1));
      this.postOrder.push(id);
      return id;
    };
    for (const spec of policy.teams) this.roots.push(visit(spec, -1, 0));
    const T = specs.length;
    this.guarantee = new Float64Array(T * F);
    this.limit = new Float64Array(T * F).fill(Infinity);
    this.locked = new Float64Array(T * F);
    this.usage = new Float64Array(T * F);
    this.nonPreemptibleUsage = new Float64Array(T * F);
    let hasLocks = false;
    specs.forEach((spec, t) => {
      flavorNames.forEach((flavor, f) => {
        const g = spec.guarantee[flavor] ?? 0;
        this.guarantee[t * F + f] = g;
        const limit = spec.limit[flavor];
        if (limit !== undefined) this.limit[t * F + f] = limit;
        const lendable = spec.lendable[flavor] ?? g;
        this.locked[t * F + f] = Math.max(0, g - lendable);
        if (g - lendable > 0) hasLocks = true;
      });
    });
    this.hasLocks = hasLocks;
    this.decayed = new Float64Array(T);
    this.heldAll = new Float64Array(T);
    this.settledAt = new Float64Array(T);
    this.tau = policy.fairShare.halfLife / LN2;
  }

  get size(): number {
    return this.names.length;
  }

  /** Brings a team's decayed usage forward to time `now`. */
  private settle(team: number, now: number): void {
    const dt = now - this.settledAt[team]!;
    if (dt <= 0) return;
    const keep = Math.exp(-dt / this.tau);
    // Held GPUs accrue tau * (1 - keep) decayed GPU-seconds over dt.
    this.decayed[team] = this.decayed[team]! * keep + this.heldAll[team]! * this.tau * (1 - keep);
    this.settledAt[team] = now;
  }

  /** A job of `leaf` starts (gpus > 0) or stops (gpus < 0) holding GPUs of flavor f at `now`. */
  addUsage(leaf: number, f: number, gpus: number, nonPreemptible: boolean, now: number): void {
    const F = this.flavorNames.length;
    for (const t of this.path[leaf]!) {
      this.settle(t, now);
      this.usage[t * F + f]! += gpus;
      this.heldAll[t]! += gpus;
    }
    if (nonPreemptible) this.nonPreemptibleUsage[leaf * F + f]! += gpus;
  }

  /** Keeps the fair-share usage as it is now, for restoreDecay (a pass that may be rolled back settles it at its instant). */
  saveDecay(): void {
    if (this.savedDecayed.length !== this.decayed.length) {
      this.savedDecayed = new Float64Array(this.decayed.length);
      this.savedSettledAt = new Float64Array(this.decayed.length);
    }
    this.savedDecayed.set(this.decayed);
    this.savedSettledAt.set(this.settledAt);
  }

  /**
   * Puts back the fair-share usage saveDecay kept, bit for bit: usage settled later from another
   * instant differs in its last bits, and standings order teams. Held GPUs must be as they were.
   */
  restoreDecay(): void {
    this.decayed.set(this.savedDecayed);
    this.settledAt.set(this.savedSettledAt);
  }

  standing(team: number, now: number): number {
    this.settle(team, now);
    return (this.decayed[team]! + this.heldAll[team]! * this.tau) / this.weight[team]!;
  }

  /** Decayed usage of every leaf team at `now`, by name (to carry fair share into a new policy). */
  decayedByLeaf(now: number): Map<string, number> {
    const out = new Map<string, number>();
    this.names.forEach((name, t) => {
      if (this.isLeaf[t]) out.set(name, this.decayedUsage(t, now));
    });
    return out;
  }

  /**
   * Starts from the decayed usage of each leaf (teams not named start from 0); a parent's is the
   * sum of its leaves' (decay is linear). Call before any usage is added.
   */
  seedFairShare(decayedByLeaf: ReadonlyMap<string, number>, now: number): void {
    for (const t of this.postOrder) {
      const own = this.isLeaf[t] ? (decayedByLeaf.get(this.names[t]!) ?? 0) : this.children[t]!.reduce((sum, c) => sum + this.decayed[c]!, 0);
      this.decayed[t] = own;
      this.settledAt[t] = now;
    }
  }

  decayedUsage(team: number, now: number): number {
    this.settle(team, now);
    return this.decayed[team]!;
  }

  /** Usage of team t on flavor f. */
  used(t: number, f: number): number {
    return this.usage[t * this.flavorNames.length + f]!;
  }

  guaranteed(t: number, f: number): number {
    return this.guarantee[t * this.flavorNames.length + f]!;
  }

  limitOf(t: number, f: number): number {
    return this.limit[t * this.flavorNames.length + f]!;
  }

  isBorrowing(t: number, f: number): boolean {
    return this.used(t, f) > this.guaranteed(t, f);
  }

  /** The first team on the leaf's path whose limit `gpus` more would exceed (M2), or -1. */
  overLimit(leaf: number, f: number, gpus: number, freedInTeam = 0): number {
    for (const t of this.path[leaf]!) if (this.used(t, f) - freedInTeam + gpus > this.limitOf(t, f)) return t;
    return -1;
  }

  /**
   * M3: idle GPUs of flavor f that must stay idle for teams outside `leaf`'s subtree:
   * the sum, over the siblings S of the leaf and of each of its ancestors (and the other
   * top-level teams), of need(S) = max(locked(S) - usage(S), sum of need(children)), where
   * `usageDelta` adjusts usage of teams (victims about to be preempted).
   */
  lockedForOthers(leaf: number, f: number, usageDelta?: ReadonlyMap<number, number>): number {
    if (!this.hasLocks) return 0;
    const F = this.flavorNames.length;
    const need = (t: number): number => {
      const usage = this.usage[t * F + f]! + (usageDelta?.get(t) ?? 0);
      let childNeed = 0;
      for (const c of this.children[t]!) childNeed += need(c);
      return Math.max(this.locked[t * F + f]! - usage, childNeed, 0);
    };
    let total = 0;
    const onPath = new Set(this.path[leaf]);
    for (const t of this.path[leaf]!) {
      const siblings = this.parent[t]! < 0 ? this.roots : this.children[this.parent[t]!]!;
      for (const s of siblings) if (!onPath.has(s)) total += need(s);
    }
    return total;
  }

  /** Depth of the lowest common ancestor of two teams (-1: none, they are in different top-level teams). */
  commonDepth(a: number, b: number): number {
    const pb = this.path[b]!;
    for (const t of this.path[a]!) if (pb.includes(t)) return this.depth[t]!;
    return -1;
  }
}
