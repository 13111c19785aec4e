// Victim search (P3, Q2, M2, M5): which running jobs a job may preempt on a flavor, and the
// fewest of them that make room of its shape. The engine's pass asks `selectVictims` for every
// job it considers that does not fit on idle GPUs, and for the probes of its early exits; this
// module reads the engine's state (through VictimState) and changes none of it.
//
// Searches that find nothing are remembered until the state changes (`forgetFailures`, after a
// start and at every round; from pass to pass while nothing they read changes, see keepFailures):
// the same search again would find the same nothing, and a team's queue often repeats it many times.
import type { EngineJob } from './engine.js';
import type { FleetIndex } from './fleet-index.js';
import type { Policy } from './model.js';
import type { RunLevels } from './run-levels.js';
import type { Placement, Shape } from './shapes.js';
import { NO_TIME } from './shapes.js';
import type { TeamTree } from './team-tree.js';

/** A failed victim search whose `protectedUntil` (a reason's detail, never a decision) was not computed. */
const NOT_COMPUTED = Symbol('not computed');

/** What a search finds: victims and the placement they make room for, or when room could be made once protections end. */
export interface VictimSelection {
  readonly victims: number[] | null;
  readonly placement: Placement | null;
  readonly protectedUntil: number | null;
}

/** No room, and none once protections end (shared: most searches of a congested pass end here). */
const NONE: VictimSelection = Object.freeze({ victims: null, placement: null, protectedUntil: null });

/** The engine state a search reads (the engine's own arrays, shared, never copied). */
export interface VictimState {
  readonly policy: Policy;
  readonly fleet: FleetIndex;
  readonly teams: TeamTree;
  readonly jobs: readonly EngineJob[];
  /** Flavors. */
  readonly F: number;
  /** Running jobs per node. */
  readonly nodeJobs: readonly (readonly number[])[];
  /** Running jobs per [leaf * F + flavor]. */
  readonly runningByLeafFlavor: readonly ReadonlySet<number>[];
  /** Leaves that borrow, per flavor. */
  readonly borrowing: readonly ReadonlySet<number>[];
  /** Runs past minRuntime per [leaf * F + flavor]. */
  readonly unprotectedByLeafFlavor: Int32Array;
  /** Preemptible runs per class level, of each leaf and of the borrowing leaves. */
  readonly runLevels: RunLevels;
  /** Fair-share standing per team, current in the pass. */
  readonly standing: Float64Array;
  /** The pass's instant. */
  now(): number;
  /** Changes whenever what a search would find may change (see Engine.planStamp). */
  planStamp(): number;
  /** Changes whenever the runs, their protections or the idle GPUs change, kept across passes (Engine.probeEpoch). */
  epoch(): number;
  /** The pass's reserved room: 0 while none, an id kept across passes while the same (Engine.reservationId). */
  reservationId(): number;
  /** The latest instant a run now running started at (or later). */
  latestRunStart(): number;
}

interface Candidate {
  readonly job: EngineJob;
  /** Subject to "reclaimable only while the team still borrows" (jobs of other teams). */
  readonly teamBound: boolean;
  /** Depth of the common ancestor with the preempting job's team (-1: other division). */
  readonly nearness: number;
}

export class VictimSearch {
  private readonly policy: Policy;
  private readonly fleet: FleetIndex;
  private readonly teams: TeamTree;
  private readonly jobs: readonly EngineJob[];
  private readonly F: number;
  private readonly nodeJobs: readonly (readonly number[])[];
  private readonly runningByLeafFlavor: readonly ReadonlySet<number>[];
  private readonly borrowing: readonly ReadonlySet<number>[];
  private readonly unprotectedByLeafFlavor: Int32Array;
  private readonly runLevels: RunLevels;
  private readonly standing: Float64Array;
  /**
   * Victim searches that found no room since the state last changed, keyed by what decides the
   * candidates (flavor, guarantee fit, class, team, size), with when room could be made.
   */
  private readonly failedVictimSearch = new Map<number, Map<number, Map<number, number | null | typeof NOT_COMPUTED>>>();
  /**
   * Searches that found victims in the state of `foundStamp` (one planStamp): the early exit's
   * probe of a group and the pass's consideration of its job ask the same search in the same
   * state, and a probe finds what the full search would (it leaves out only protected runs,
   * which no choice takes).
   */
  private readonly foundVictims: { key: number; gpus: number; priority: number; found: VictimSelection }[] = [];
  private foundStamp = -1;
  /** Per flavor: room if every run any search may take were taken (cannotMakeRoom), valid at `stamp`. */
  private readonly roomBound: {
    stamp: number;
    searches: number;
    maxOnOneNode: number;
    wholeNodes: Map<number, number>;
  }[];

  constructor(private readonly state: VictimState) {
    this.policy = state.policy;
    this.fleet = state.fleet;
    this.teams = state.teams;
    this.jobs = state.jobs;
    this.F = state.F;
    this.nodeJobs = state.nodeJobs;
    this.runningByLeafFlavor = state.runningByLeafFlavor;
    this.borrowing = state.borrowing;
    this.unprotectedByLeafFlavor = state.unprotectedByLeafFlavor;
    this.runLevels = state.runLevels;
    this.standing = state.standing;
    this.roomBound = Array.from({ length: state.F }, () => ({
      stamp: -1,
      searches: 0,
      maxOnOneNode: 0,
      wholeNodes: new Map<number, number>(),
    }));
  }

  private get now(): number {
    return this.state.now();
  }

  private get planStamp(): number {
    return this.state.planStamp();
  }

  /** The state changed (a start, a new round): failed searches may succeed now. */
  forgetFailures(): void {
    if (this.failedVictimSearch.size > 0) this.failedVictimSearch.clear();
    this.failEpoch = -1;
  }

  /** The state the remembered failures were found in: the epoch, a reservation (0: none), the earliest instant. */
  private failEpoch = -1;
  private failReservation = 0;
  private failSince = 0;

  /**
   * Forgets the failures unless they still hold: the same epoch (no run started, ended or lost
   * its protection), a reservation that holds the same nodes as when they were found (failures
   * found with none hold under any: reserved nodes only take options away), and no run that
   * started at the instant they were found (a search leaves out runs started at that very
   * instant, and later counts them as protected, which dates a reason).
   */
  private keepFailures(): void {
    const epoch = this.state.epoch();
    const reservation = this.state.reservationId();
    const now = this.now;
    if (this.failEpoch === epoch && (this.failReservation === 0 || this.failReservation === reservation) && (this.failSince === now || this.state.latestRunStart() < this.failSince)) return;
    this.forgetFailures();
    this.failEpoch = epoch;
    this.failReservation = 0;
    this.failSince = now;
  }

  /**
   * P3: the jobs `job` may preempt on flavor f, and the fewest of them that make room of a
   * valid shape. `protectedUntil` reports when room could be made if minRuntime (M5) were
   * over, for the explanation.
   */
  selectVictims(job: EngineJob, f: number, shape: Shape, fits: boolean, probing: boolean): VictimSelection {
    const p = this.policy.preemption;
    const reclaim = fits;
    const none = NONE;
    // Class preemption takes only runs of a lower class: none there (counted, run-levels.ts), no
    // candidate, and no search (a probe counts only runs past minRuntime, as it takes only those).
    const within = p.withinTeam && this.runLevels.leafHasBelow(job.leaf, f, job.priority, probing);
    const lowerBorrow = !fits && p.borrowing === 'lowerPriority' && this.runLevels.borrowedHasBelow(f, job.priority, probing);
    const fair = !fits && p.fairShare;
    if (!reclaim && !within && !lowerBorrow && !fair) return none;
    this.keepFailures();
    // Keyed by numbers, not a string built per search (a busy pass asks this thousands of times):
    // (leaf, flavor, fit), then size, then class priority.
    const key = (job.leaf * this.F + f) * 2 + (fits ? 1 : 0);
    const bySize = this.failedVictimSearch.get(key);
    let byPriority = bySize?.get(job.gpus);
    const known = byPriority?.get(job.priority);
    if (known === NOT_COMPUTED ? probing : known !== undefined)
      return known === NOT_COMPUTED || known === null ? NONE : { victims: null, placement: null, protectedUntil: known! };
    if (this.foundStamp !== this.planStamp) {
      this.foundStamp = this.planStamp;
      this.foundVictims.length = 0;
    }
    for (const e of this.foundVictims) {
      if (e.key === key && e.gpus === job.gpus && e.priority === job.priority) return { victims: [...e.found.victims!], placement: e.found.placement, protectedUntil: null };
    }
    const found = this.searchVictims(job, f, shape, { reclaim, within, lowerBorrow, fair }, probing);
    if (found.victims === null) {
      if (!byPriority) {
        let sizes = bySize;
        if (!sizes) this.failedVictimSearch.set(key, (sizes = new Map<number, Map<number, number | null | typeof NOT_COMPUTED>>()));
        sizes.set(job.gpus, (byPriority = new Map<number, number | null | typeof NOT_COMPUTED>()));
      }
      byPriority.set(job.priority, probing ? NOT_COMPUTED : found.protectedUntil);
      const reservation = this.state.reservationId();
      if (reservation !== 0) this.failReservation = reservation;
    } else this.foundVictims.push({ key, gpus: job.gpus, priority: job.priority, found });
    return found;
  }

  private searchVictims(
    job: EngineJob,
    f: number,
    shape: Shape,
    kinds: { reclaim: boolean; within: boolean; lowerBorrow: boolean; fair: boolean },
    probing: boolean,
  ): VictimSelection {
    const { reclaim, within, lowerBorrow, fair } = kinds;
    const p = this.policy.preemption;
    const none = NONE;
    if (probing && this.cannotMakeRoom(job, f, shape, within)) return none;
    const candidates: Candidate[] = [];
    const protectedOnes: Candidate[] = [];
    const minRuntime = p.minRuntime;
    const teams = this.teams;
    const consider = (v: EngineJob, teamBound: boolean): void => {
      if (!v.preemptible) return;
      // A run that began at this very instant is never a victim, even with minRuntime 0:
      // it was started by this pass (or one at the same instant) and a zero-length run is waste.
      if (v.runStart === this.now) return;
      const unprotected = this.now - v.runStart >= minRuntime;
      // A probe asks only whether room can be made now; protected runs only date a reason.
      if (!unprotected && probing) return;
      const candidate: Candidate = { job: v, teamBound, nearness: teams.commonDepth(job.leaf, v.leaf) };
      if (unprotected) candidates.push(candidate);
      else protectedOnes.push(candidate);
    };
    if (within)
      for (const h of this.runningByLeafFlavor[job.leaf * this.F + f]!) {
        const v = this.jobs[h]!;
        if (v.priority < job.priority) consider(v, false);
      }
    if (reclaim || lowerBorrow || fair) {
      // Any order: the choice below depends on the set of candidates only (Q2 and node ties are total orders).
      for (const leaf of this.borrowing[f]!) {
        if (leaf === job.leaf || (probing && this.unprotectedByLeafFlavor[leaf * this.F + f] === 0)) continue;
        for (const h of this.runningByLeafFlavor[leaf * this.F + f]!) {
          const v = this.jobs[h]!;
          const allowed =
            reclaim ||
            (lowerBorrow && v.priority < job.priority) ||
            (fair && this.fairShareAllows(job, v, 0));
          if (allowed) consider(v, true);
        }
      }
    }
    const pick = (list: Candidate[]): { victims: number[]; placement: Placement } | null =>
      shape.kind === 'single'
        ? this.victimsOneNode(job, f, shape.size, list)
        : this.victimsWholeNodes(job, f, shape, list);
    if (candidates.length > 0) {
      const chosen = pick(candidates);
      if (chosen) return { ...chosen, protectedUntil: null };
    }
    if (protectedOnes.length === 0) return none;
    // Would room exist once protections end? Report the earliest moment that suffices.
    const all = candidates.concat(protectedOnes);
    if (!pick(all)) return none;
    let until = NO_TIME;
    for (const c of protectedOnes) until = Math.min(until, c.job.runStart + minRuntime);
    return { victims: null, placement: null, protectedUntil: until };
  }

  /**
   * A bound for probes: true when no node (or not enough whole nodes) of flavor f would have
   * room for `shape` even if every run any preemption may take were taken: every run past
   * minRuntime of every borrowing leaf (a superset of the candidates of reclaim, of class
   * preemption between borrowers and of fair share), not one started at this instant. Within-team
   * candidates of a leaf that does not borrow are not in that set, so such a job is not judged
   * here. The room is computed once per state of the pass (planStamp), from the second search in
   * that state on, so a search that finds its victims at once pays nothing for it.
   */
  private cannotMakeRoom(job: EngineJob, f: number, shape: Shape, within: boolean): boolean {
    const k = job.leaf * this.F + f;
    if (within && this.unprotectedByLeafFlavor[k]! > 0 && !this.borrowing[f]!.has(job.leaf)) return false;
    const bound = this.roomBound[f]!;
    if (bound.stamp !== this.planStamp) {
      bound.stamp = this.planStamp;
      bound.searches = 0;
    }
    if (++bound.searches === 2) this.computeRoomBound(f);
    if (bound.searches < 2) return false;
    if (shape.kind === 'single') return bound.maxOnOneNode < shape.size;
    return (bound.wholeNodes.get(shape.size) ?? 0) + this.fleet.fullyIdleCount(f, shape.size) < shape.count;
  }

  private computeRoomBound(f: number): void {
    const fleet = this.fleet;
    const minRuntime = this.policy.preemption.minRuntime;
    const takeable = new Map<number, number>();
    for (const leaf of this.borrowing[f]!) {
      if (this.unprotectedByLeafFlavor[leaf * this.F + f] === 0) continue;
      for (const h of this.runningByLeafFlavor[leaf * this.F + f]!) {
        const v = this.jobs[h]!;
        if (!v.preemptible || v.runStart === this.now || this.now - v.runStart < minRuntime) continue;
        for (const node of v.nodes) takeable.set(node, (takeable.get(node) ?? 0) + v.perNode);
      }
    }
    const bound = this.roomBound[f]!;
    bound.maxOnOneNode = fleet.maxAvailableOnOneNode(f);
    bound.wholeNodes.clear();
    for (const [node, gpus] of takeable) {
      if (fleet.reserved[node] === 1) continue;
      const room = fleet.free[node]! + gpus;
      if (room > bound.maxOnOneNode) bound.maxOnOneNode = room;
      // Entirely idle nodes are counted by fullyIdleCount; these become entirely idle.
      if (room === fleet.nodeSize[node] && fleet.free[node]! < room)
        bound.wholeNodes.set(room, (bound.wholeNodes.get(room) ?? 0) + 1);
    }
  }

  /** Fair-share preemption: the victim's side stays worse off (higher standing) than the job's. */
  private fairShareAllows(job: EngineJob, victim: EngineJob, alreadyFreed: number): boolean {
    const teams = this.teams;
    const depth = teams.commonDepth(job.leaf, victim.leaf);
    const side = (leaf: number): number => teams.path[leaf]![teams.path[leaf]!.length - 1 - (depth + 1)]!;
    const mine = side(job.leaf);
    const theirs = side(victim.leaf);
    const tau = this.policy.fairShare.halfLife / Math.LN2;
    const after = this.standing[theirs]! - ((alreadyFreed + victim.gpus) * tau) / teams.weight[theirs]!;
    const mineAfter = this.standing[mine]! + (job.gpus * tau) / teams.weight[mine]!;
    return after > mineAfter;
  }

  /** Q2 order of victims: nearest subtree, then lowest class, then most recently started. */
  private victimBefore(a: Candidate, b: Candidate): boolean {
    if (a.nearness !== b.nearness) return a.nearness > b.nearness;
    if (a.job.priority !== b.job.priority) return a.job.priority < b.job.priority;
    if (a.job.runStart !== b.job.runStart) return a.job.runStart > b.job.runStart;
    return a.job.handle > b.job.handle;
  }

  /** A team's jobs stay reclaimable only while the team, without the victims chosen, still borrows. */
  private stillReclaimable(c: Candidate, f: number, freedByTeam: Map<number, number>): boolean {
    if (!c.teamBound) return true;
    const leaf = c.job.leaf;
    return this.teams.used(leaf, f) - (freedByTeam.get(leaf) ?? 0) > this.teams.guaranteed(leaf, f);
  }

  /** One-node shape: the node where the fewest victims make room (then Q2, then best fit). */
  /** The deepest team on the job's path that it would take over its limit (M2), and the largest excess on the path; null when none. */
  private limitExcess(job: EngineJob, f: number): { team: number; gpus: number } | null {
    let team = -1;
    let excess = 0;
    for (const t of this.teams.path[job.leaf]!) {
      const over = this.teams.used(t, f) + job.gpus - this.teams.limitOf(t, f);
      if (over > 0) {
        if (team < 0) team = t;
        excess = Math.max(excess, over);
      }
    }
    return team < 0 ? null : { team, gpus: excess };
  }

  private victimsOneNode(
    job: EngineJob,
    f: number,
    gpus: number,
    candidates: Candidate[],
  ): { victims: number[]; placement: Placement } | null {
    const fleet = this.fleet;
    const byNode = new Map<number, Candidate[]>();
    // M2: a job that some team on its path would hold more than its limit with must free
    // that team's GPUs too, not only room on a node (a node may have room already): its
    // victims come from inside the deepest such team, and free at least the largest excess.
    // Example: P (limit 6) holds 6 through X; Y (in P) asks for 2 where 2 GPUs are idle:
    // room needs no victim, the limit needs 2 of P's GPUs back, so X's run is the victim.
    const limit = this.limitExcess(job, f);
    const counts = (c: Candidate): boolean =>
      limit === null || this.teams.path[c.job.leaf]!.includes(limit.team);
    // A victim frees `perNode` GPUs on each of its nodes (whole-node victims too).
    for (const c of candidates) {
      if (!counts(c)) continue;
      for (const node of c.job.nodes) {
        if (fleet.reserved[node] === 1 || fleet.nodeSize[node]! < gpus) continue;
        let list = byNode.get(node);
        if (!list) byNode.set(node, (list = []));
        list.push(c);
      }
    }
    let best: { node: number; chosen: Candidate[]; leftover: number } | null = null;
    for (const [node, list] of byNode) {
      const need = Math.max(gpus - fleet.free[node]!, limit?.gpus ?? 0);
      let sum = 0;
      for (const c of list) sum += c.job.perNode;
      if (sum < need) continue;
      // Largest first gives the fewest victims. When the rule "reclaimable only while the team
      // still borrows" stops it, smallest first frees more of each team (its last pick may
      // overshoot), so try that before giving up on the node.
      list.sort((a, b) => b.job.perNode - a.job.perNode || (this.victimBefore(a, b) ? -1 : 1));
      const chosen = this.pickVictims(list, need, f) ?? this.pickVictims([...list].reverse(), need, f);
      if (chosen === null) continue;
      let freed = 0;
      for (const c of chosen) freed += c.job.perNode;
      const leftover = freed - need;
      if (
        best === null ||
        this.betterVictimSet(chosen, leftover, node, best.chosen, best.leftover, best.node)
      ) {
        best = { node, chosen, leftover };
      }
    }
    if (!best) return null;
    return {
      victims: best.chosen.map((c) => c.job.handle),
      placement: { nodes: [best.node], perNode: gpus },
    };
  }

  /**
   * Victims from `ordered` (preferred first) freeing at least `need` GPUs: at each step the
   * smallest one that covers what is left, else the first one. Null when they cannot.
   */
  private pickVictims(ordered: readonly Candidate[], need: number, f: number): Candidate[] | null {
    const chosen: Candidate[] = [];
    const freedByTeam = new Map<number, number>();
    const used = new Set<Candidate>();
    let left = need;
    while (left > 0) {
      let cover: Candidate | null = null;
      let first: Candidate | null = null;
      for (const c of ordered) {
        if (used.has(c) || !this.stillReclaimable(c, f, freedByTeam)) continue;
        first ??= c;
        if (c.job.perNode >= left && (cover === null || c.job.perNode < cover.job.perNode)) cover = c;
      }
      const pick = cover ?? first;
      if (pick === null) return null;
      used.add(pick);
      chosen.push(pick);
      left -= pick.job.perNode;
      freedByTeam.set(pick.job.leaf, (freedByTeam.get(pick.job.leaf) ?? 0) + pick.job.gpus);
    }
    return chosen;
  }

  private betterVictimSet(
    a: Candidate[],
    leftoverA: number,
    nodeA: number,
    b: Candidate[],
    leftoverB: number,
    nodeB: number,
  ): boolean {
    if (a.length !== b.length) return a.length < b.length;
    const sortedA = [...a].sort((x, y) => (this.victimBefore(x, y) ? -1 : 1));
    const sortedB = [...b].sort((x, y) => (this.victimBefore(x, y) ? -1 : 1));
    for (let i = 0; i < sortedA.length; i++) {
      if (sortedA[i] === sortedB[i]) continue;
      if (this.victimBefore(sortedA[i]!, sortedB[i]!)) return true;
      if (this.victimBefore(sortedB[i]!, sortedA[i]!)) return false;
    }
    if (leftoverA !== leftoverB) return leftoverA < leftoverB;
    return nodeA < nodeB;
  }

  /** Whole-node shape: take entire nodes, idle ones first, then those emptied by the fewest victims. */
  private victimsWholeNodes(
    job: EngineJob,
    f: number,
    shape: Shape,
    candidates: Candidate[],
  ): { victims: number[]; placement: Placement } | null {
    const fleet = this.fleet;
    const byJob = new Map<number, Candidate>();
    for (const c of candidates) byJob.set(c.job.handle, c);
    const nodes = new Set<number>();
    for (const c of candidates) for (const n of c.job.nodes) nodes.add(n);
    const idle = fleet.wholeNodes(f, shape.size, fleet.fullyIdleCount(f, shape.size)) ?? [];
    for (const n of idle) nodes.add(n);
    const usable = [...nodes].filter(
      (n) =>
        fleet.nodeSize[n] === shape.size &&
        fleet.reserved[n] === 0 &&
        this.nodeJobs[n]!.every((h) => byJob.has(h)),
    );
    usable.sort((a, b) => a - b);
    const chosenNodes: number[] = [];
    const chosen = new Set<number>();
    const freedByTeam = new Map<number, number>();
    const racks = new Set<number>();
    // The team rule is checked for a node's new victims on `trial`, freedByTeam plus those victims,
    // put back after each node (one map per chosen node, not one per node looked at).
    const undoLeaf: number[] = [];
    const undoFreed: (number | undefined)[] = [];
    while (chosenNodes.length < shape.count) {
      let bestNode = -1;
      let bestCost = NO_TIME;
      const trial = new Map(freedByTeam);
      for (const n of usable) {
        if (chosenNodes.includes(n)) continue;
        // Check the team rule for the new victims in order.
        let ok = true;
        let fresh = 0;
        undoLeaf.length = 0;
        undoFreed.length = 0;
        for (const h of this.nodeJobs[n]!) {
          if (chosen.has(h)) continue;
          fresh++;
          const c = byJob.get(h)!;
          if (!this.stillReclaimable(c, f, trial)) {
            ok = false;
            break;
          }
          const before = trial.get(c.job.leaf);
          undoLeaf.push(c.job.leaf);
          undoFreed.push(before);
          trial.set(c.job.leaf, (before ?? 0) + c.job.gpus);
        }
        for (let i = undoLeaf.length - 1; i >= 0; i--) {
          const before = undoFreed[i];
          if (before === undefined) trial.delete(undoLeaf[i]!);
          else trial.set(undoLeaf[i]!, before);
        }
        if (!ok) continue;
        const cost = fresh * 2 + (racks.has(fleet.nodeRack[n]!) || racks.size === 0 ? 0 : 1);
        if (cost < bestCost) {
          bestCost = cost;
          bestNode = n;
        }
      }
      if (bestNode < 0) return null;
      chosenNodes.push(bestNode);
      racks.add(fleet.nodeRack[bestNode]!);
      for (const h of this.nodeJobs[bestNode]!) {
        if (chosen.has(h)) continue;
        chosen.add(h);
        const c = byJob.get(h)!;
        freedByTeam.set(c.job.leaf, (freedByTeam.get(c.job.leaf) ?? 0) + c.job.gpus);
      }
    }
    return {
      victims: [...chosen],
      placement: { nodes: chosenNodes.sort((a, b) => a - b), perNode: shape.size },
    };
  }
}
