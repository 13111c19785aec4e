// The scheduling engine: admission (S1, S2, M4 and rejection), the pass (P1 to P4) with
// reclaim, preemption, reservations and backfill, and the explanation of every pending job.
// Pure: time comes in as an argument, nothing here reads a clock or does I/O.
//
// Choose, then do: `pass(now)` applies its decisions to the state through two primitives
// (start a run, preempt a run) recorded in an undo log; `plan(now)` runs the same pass and
// rolls it back, so the caller sees the decisions without any change of state. The
// simulator commits at once; the live server plans, persists, then commits.
import { Counts, minRemaining } from './counts.js';
import { FleetIndex } from './fleet-index.js';
import { JobGroups } from './job-groups.js';
import type { JobGroup } from './job-groups.js';
import type { Fleet, JobSpec, Policy } from './model.js';
import { InvariantViolation, timeLimitOf } from './model.js';
import type { ExpectedStartBasis, Reason, RunHistory } from './reasons.js';
import { roughDuration } from './reasons.js';
import type { Reservation } from './reservations.js';
import { Reservations } from './reservations.js';
import { RunLevels } from './run-levels.js';
import type { Placement, Shape } from './shapes.js';
import { TeamTree } from './team-tree.js';
import { TeamQueue, entryBefore } from './team-queue.js';
import type { QueueEntry } from './team-queue.js';
import { VictimSearch } from './victims.js';

export type { Reservation } from './reservations.js';

export type JobState = 'pending' | 'running' | 'finished' | 'rejected';

/** The engine's record of one job. Handles are dense integers given at submission. */
export interface EngineJob {
  readonly handle: number;
  readonly spec: JobSpec;
  readonly leaf: number;
  readonly priority: number;
  readonly preemptible: boolean;
  /** Flavor index, or -1 for any flavor. */
  readonly flavor: number;
  readonly gpus: number;
  state: JobState;
  entry: QueueEntry | null;
  /** GPU-seconds received in finished runs (las order). */
  attained: number;
  preemptions: number;
  runStart: number;
  runFlavor: number;
  /** Nodes of the current run; each holds `perNode` of its GPUs. */
  nodes: readonly number[];
  perNode: number;
  reason: Reason | null;
  rejectReason: string | null;
  /** Counted in the unprotected sets: preemptible, running, past minRuntime. */
  unprotected: boolean;
  /** The jobs a pass decides alike (job-groups.ts); null for a rejected job. */
  group: JobGroup | null;
}

export interface PassResult {
  readonly now: number;
  /** Handles of jobs started, in the order the pass started them. */
  readonly started: readonly number[];
  /** Handles of jobs preempted, with the handle of the job they made room for. */
  readonly preempted: readonly { readonly job: number; readonly by: number }[];
  readonly reservation: Reservation | null;
  /** Jobs the pass looked at (the rest of the queue could not start, see `explain`). */
  readonly considered: number;
}

export interface PassOptions {
  /**
   * Visit every pending job to give it a current reason, instead of stopping as soon as
   * no remaining job can start. Decisions are the same either way.
   */
  readonly explainAll?: boolean;
}

/**
 * One decision of a pass, with what its undo needs: a start keeps the job's fields of before;
 * a preemption keeps the run it ended (placement, start, protection) and what the job had received.
 */
type Op =
  | { kind: 'start'; job: number; runStart: number; runFlavor: number }
  | {
      kind: 'preempt';
      job: number;
      by: number;
      runStart: number;
      attained: number;
      flavor: number;
      nodes: readonly number[];
      perNode: number;
      unprotected: boolean;
    };

/** Why a job could not start on one flavor. Ordered from most to least specific. */
type Blocker =
  | { kind: 'limit'; team: number; flavor: number }
  | { kind: 'nonPreemptible'; flavor: number }
  | { kind: 'lending'; flavor: number; locked: number }
  | { kind: 'capacity'; flavor: number; protectedUntil: number | null; fits: boolean };

/** Rounds of one pass (see runPass); each needs new victims, which are rare. */
const MAX_ROUNDS = 4;
/**
 * Groups the early exit probes per job a pass visits (see noGroupCanStart): a probe costs about
 * what visiting one job costs, so the bound at most triples the cost of a walk it cannot end.
 */
const PROBES_PER_VISIT = 2;

export class Engine {
  readonly fleet: FleetIndex;
  readonly teams: TeamTree;
  readonly jobs: EngineJob[] = [];
  private readonly queues: (TeamQueue | null)[];
  private readonly classes: Map<string, { priority: number; preemptible: boolean }>;
  /** Running jobs per node. */
  private readonly nodeJobs: number[][];
  /** Running jobs per [leaf * F + flavor]. */
  private readonly runningByLeafFlavor: Set<number>[];
  /** Pending jobs per leaf, counted per GPU size (for early exit). */
  private readonly pendingSizes: Counts[];
  private readonly pendingGlobalSizes = new Counts();
  private readonly pendingByPriority = new Counts();
  /** Running jobs with a time limit, per flavor (reservations can predict a start). */
  private readonly timeLimitedRunning: number[];
  private pendingWithTimeLimit = 0;
  /**
   * Running preemptible jobs past their minRuntime, per [leaf * F + flavor] and per class
   * priority: the only jobs any preemption may take (M5). Kept current by `expireProtections`.
   */
  private readonly unprotectedByLeafFlavor: Int32Array;
  private readonly unprotectedByPriority = new Counts();
  /** Protection ends still to count, sorted by time. */
  private expiries: { job: number; until: number }[] = [];
  private expiryHead = 0;
  /** Running preemptible jobs in start order, for the next minRuntime expiry. */
  private protectionQueue: { job: number; until: number }[] = [];
  private protectionHead = 0;
  private runningCount = 0;
  /**
   * Leaves that borrow on flavor f (usage above guarantee), per flavor: the only teams reclaim,
   * class preemption between borrowers and fair-share preemption take runs from. Kept current
   * on every start and end of a run (trackLeaf), so no search scans every team.
   */
  private readonly borrowing: Set<number>[];
  /** Per [leaf * F + flavor]: 1 when the leaf borrows there and has a run past minRuntime. */
  private readonly reclaimableFlag: Uint8Array;
  /** How many (leaf, flavor) pairs have reclaimableFlag set: reclaim can make room only if > 0. */
  private reclaimablePairs = 0;
  /** Preemptible runs per class level, per leaf and flavor and summed over borrowing leaves (run-levels.ts). */
  private readonly runLevels: RunLevels;
  private pendingCount = 0;
  private readonly F: number;
  private lastReservation: Reservation | null = null;
  /** Recorded run durations, for the expected start of a reason only (never a decision). */
  private runHistory: RunHistory = new Map();
  private readonly groups = new JobGroups();
  /**
   * Changes whenever what a pass would decide for a job may change: a run starts or ends or
   * loses its protection, the pass reserves nodes, a round begins (standings move with time).
   */
  private planStamp = 0;
  /**
   * Changes whenever what a group's probe reads may change, other than the pass's reservation
   * and the instant: a run starts or ends or loses its protection, GPUs are withheld or given
   * back. Unlike planStamp it survives passes, so that probes found in one pass are recalled in
   * the next while only jobs arrive (recall).
   */
  private probeEpoch = 0;
  /** The pass's reservation as probes see it: 0 while it has none, else an id kept from pass to pass while equal. */
  private reservationId = 0;
  private reservationSeq = 0;
  private lastReserved: Reservation | null = null;
  /** The last pass ran near the end of a run's protection (see runPass). */
  private nearProtectionEnd = false;
  /** A run started at a fractional second, or minRuntime is one (see runPass). */
  private fractionalStarts: boolean;
  /** The latest instant a run started at (a bound: never lowered). */
  private latestRunStart = Number.NEGATIVE_INFINITY;
  /** The latest end of protection counted so far (expireProtections). */
  private lastExpiry = Number.NEGATIVE_INFINITY;

  // Per-pass scratch state.
  private inPass = false;
  /** The pass's undo log (emptied by endPass). */
  private readonly ops: Op[] = [];
  /**
   * The pass may be rolled back (plan, tentativePass): the state it changes is kept as it was,
   * where undoing each decision in turn would not give it back exactly. Sets and per-node lists
   * are read in iteration order (victims of whole nodes are taken in a node's order, a team's
   * rule is checked in that order), so a rollback that left them in another order would make
   * the next pass decide differently.
   */
  private undoable = false;
  /** Each node's running jobs (nodeJobs) before the pass first changed them, in their order. */
  private readonly savedNodeJobs = new Map<number, number[]>();
  /** Each set (runningByLeafFlavor, borrowing) before the pass first changed it, in its order. */
  private readonly savedSets = new Map<Set<number>, number[]>();
  /**
   * Standings before the pass. A pass computes those of the teams with pending jobs only, and
   * fair-share preemption reads the victim's side's, which may be one an earlier pass left: a
   * rolled-back pass must leave those as they were too.
   */
  private readonly savedStanding: Float64Array;
  private now = 0;
  private reservation: Reservation | null = null;
  private readonly cursor: Int32Array;
  private readonly best: Int32Array;
  private readonly headFits: Uint8Array;
  private readonly standing: Float64Array;
  private readonly visited: Counts[];
  private readonly visitedGlobal = new Counts();
  private readonly touchedLeaves: number[] = [];
  /** Leaves whose head initTournament must compute again (markHead), and whether the rest are kept. */
  private readonly headDirty: Uint8Array;
  private readonly dirtyHeads: number[] = [];
  private headsKept = false;
  /** Each leaf's cursor as buildHead left it (a walk that moved it leaves the head to compute again). */
  private readonly builtCursor: Int32Array;
  /** Leaves whose queue lost an entry since compactQueues last looked at it. */
  private readonly removedFrom: number[] = [];
  private readonly removedMark: Uint8Array;
  /** Groups with jobs the current round has visited (see JobGroup.visit). */
  private readonly visitedGroups: JobGroup[] = [];
  /** Scratch of skipRun. */
  private readonly runGroups: JobGroup[] = [];
  private readonly runFirsts: QueueEntry[] = [];
  /** The early exit's scan of the groups (noGroupCanStart), valid while planStamp is scanStamp. */
  private scanStamp = -1;
  private scanPosition = 0;
  private feasibleGroup: JobGroup | null = null;
  private round = 0;
  /**
   * The last job the pass considered did not start. Before the reservation, groups are probed
   * only then: while jobs start one after another (a burst of reclaims), probes would rarely
   * end the pass and would each pay a victim search.
   */
  private lastRefused = false;
  private readonly fitPossible: Uint8Array;
  /** Leaves whose every remaining job is refused by a limit (skipped unless explaining all). */
  private readonly limitBlocked: Uint8Array;
  private explainAll = false;
  /** Victims of this pass already back in their queues. */
  private requeuedInPass = 0;
  private fitPossibleCount = 0;
  private idleAtStart: Float64Array;
  private maxBlockAtStart: Float64Array;
  /**
   * GPUs per node that no run of the engine may use (a node down or drained, a job the
   * executor found that the engine did not start): wanted, and taken so far. What is wanted
   * is taken from the node's idle GPUs, at once or as its runs end (never from a run).
   */
  private readonly withheldWanted: Int32Array;
  private readonly withheldTaken: Int32Array;
  /** Nodes whose wanted withheld GPUs are not all taken yet. */
  private readonly withheldShort = new Set<number>();
  /** P3: victim search (victims.ts) and P4: reservations (reservations.ts), over this engine's state. */
  private readonly victims: VictimSearch;
  private readonly reservations: Reservations;

  constructor(
    fleet: Fleet,
    readonly policy: Policy,
  ) {
    this.fleet = new FleetIndex(fleet);
    this.F = this.fleet.flavors.length;
    this.teams = new TeamTree(
      policy,
      this.fleet.flavors.map((f) => f.name),
    );
    const T = this.teams.size;
    this.queues = this.teams.isLeaf.map((leaf) => (leaf ? new TeamQueue() : null));
    this.classes = new Map(policy.priorityClasses.map((c) => [c.name, { priority: c.priority, preemptible: c.preemptible }]));
    this.nodeJobs = Array.from({ length: this.fleet.nodeCount }, () => []);
    this.runningByLeafFlavor = Array.from({ length: T * this.F }, () => new Set<number>());
    this.pendingSizes = Array.from({ length: T }, () => new Counts());
    this.unprotectedByLeafFlavor = new Int32Array(T * this.F);
    this.borrowing = Array.from({ length: this.F }, () => new Set<number>());
    this.reclaimableFlag = new Uint8Array(T * this.F);
    this.runLevels = new RunLevels(
      T,
      this.F,
      policy.priorityClasses.map((c) => c.priority),
    );
    this.visited = Array.from({ length: T }, () => new Counts());
    this.timeLimitedRunning = new Array<number>(this.F).fill(0);
    this.cursor = new Int32Array(T).fill(-1);
    this.best = new Int32Array(T).fill(-1);
    this.headFits = new Uint8Array(T);
    this.standing = new Float64Array(T);
    this.savedStanding = new Float64Array(T);
    this.fitPossible = new Uint8Array(T);
    this.limitBlocked = new Uint8Array(T);
    this.headDirty = new Uint8Array(T);
    this.builtCursor = new Int32Array(T).fill(-2);
    this.removedMark = new Uint8Array(T);
    this.idleAtStart = new Float64Array(this.F);
    this.maxBlockAtStart = new Float64Array(this.F);
    this.withheldWanted = new Int32Array(this.fleet.nodeCount);
    this.withheldTaken = new Int32Array(this.fleet.nodeCount);
    this.fractionalStarts = !Number.isInteger(policy.preemption.minRuntime);
    this.onlyFlavor = this.fleet.flavors.map((f) => [f.index]);
    this.shapes = this.fleet.flavors.map(() => new Map<number, Shape | null>());
    this.poolOrder = this.fleet.flavors.map((f) => f.index);
    this.victims = new VictimSearch({
      policy,
      fleet: this.fleet,
      teams: this.teams,
      jobs: this.jobs,
      F: this.F,
      nodeJobs: this.nodeJobs,
      runningByLeafFlavor: this.runningByLeafFlavor,
      borrowing: this.borrowing,
      unprotectedByLeafFlavor: this.unprotectedByLeafFlavor,
      runLevels: this.runLevels,
      standing: this.standing,
      now: () => this.now,
      planStamp: () => this.planStamp,
      epoch: () => this.probeEpoch,
      reservationId: () => this.reservationId,
      latestRunStart: () => this.latestRunStart,
    });
    this.reservations = new Reservations({
      fleet: this.fleet,
      jobs: this.jobs,
      nodeJobs: this.nodeJobs,
      timeLimitedRunning: this.timeLimitedRunning,
      now: () => this.now,
      epoch: () => this.probeEpoch,
      runHistory: () => this.runHistory,
      shapeOn: (gpus, f) => this.shapeOn(gpus, f),
    });
  }

  // ---------------------------------------------------------------- capacity

  /**
   * Withholds `gpus` of a node (by name) from every run: a node that is down or drained (all
   * its GPUs), GPUs held by work the engine did not start. 0 gives them back. GPUs a run holds
   * stay with it: they are withheld when it ends. Returns false for an unknown node.
   */
  setWithheld(node: string, gpus: number): boolean {
    if (this.inPass) throw new InvariantViolation('setWithheld during a pass');
    const n = this.fleet.nodeNames.indexOf(node);
    if (n < 0) return false;
    this.withheldWanted[n] = Math.max(0, Math.min(this.fleet.nodeSize[n]!, Math.floor(gpus)));
    this.applyWithheld(n);
    return true;
  }

  /** GPUs of a node withheld now (by name; 0 for an unknown node). */
  withheld(node: string): number {
    const n = this.fleet.nodeNames.indexOf(node);
    return n < 0 ? 0 : this.withheldTaken[n]!;
  }

  /** Withheld GPUs per flavor index, now. */
  withheldByFlavor(): number[] {
    const out = new Array<number>(this.F).fill(0);
    for (let n = 0; n < this.fleet.nodeCount; n++) out[this.fleet.nodeFlavor[n]!]! += this.withheldTaken[n]!;
    return out;
  }

  private applyWithheld(n: number): void {
    const wanted = this.withheldWanted[n]!;
    const taken = this.withheldTaken[n]!;
    const next = Math.min(wanted, taken + this.fleet.free[n]!);
    if (next !== taken) {
      this.fleet.adjust(n, taken - next);
      this.withheldTaken[n] = next;
      this.planStamp++;
      this.probeEpoch++;
    }
    if (next < wanted) this.withheldShort.add(n);
    else this.withheldShort.delete(n);
  }

  /**
   * Recorded run durations per team and class (sorted ascending, key `runHistoryKey`). They
   * only estimate an expected start that time limits cannot give, in a reason; no decision
   * reads them.
   */
  setRunHistory(history: RunHistory): void {
    this.runHistory = history;
  }

  // ---------------------------------------------------------------- admission

  /**
   * Admits a job at time `now`. Returns its handle; a job that can never run (S2, more
   * GPUs than its flavor, its team's limit or the policy allow, M4) is recorded as
   * `rejected` with a reason and never enters a queue.
   */
  submit(given: JobSpec, now: number, history?: { readonly attained: number; readonly preemptions: number }): number {
    if (this.inPass) throw new InvariantViolation('submit during a pass');
    // A job that declares no time limit runs under its class's default, if the policy gives one.
    const limit = timeLimitOf(this.policy, given);
    const spec = limit === given.timeLimit ? given : { ...given, timeLimit: limit };
    const handle = this.jobs.length;
    const leaf = this.teams.byName.get(spec.team);
    const cls = this.classes.get(spec.class);
    if (leaf === undefined || !this.teams.isLeaf[leaf]) throw new InvariantViolation(`job ${spec.id}: unknown leaf team ${spec.team}`);
    if (!cls) throw new InvariantViolation(`job ${spec.id}: unknown class ${spec.class}`);
    const flavor = spec.flavor === null ? -1 : (this.fleet.flavorByName.get(spec.flavor) ?? -2);
    if (flavor === -2) throw new InvariantViolation(`job ${spec.id}: unknown flavor ${spec.flavor}`);
    const job: EngineJob = {
      handle,
      spec,
      leaf,
      priority: cls.priority,
      preemptible: cls.preemptible,
      flavor,
      gpus: spec.gpus,
      state: 'pending',
      entry: null,
      // A job loaded again (restart, new policy) keeps what it received and how often it was preempted.
      attained: history?.attained ?? 0,
      preemptions: history?.preemptions ?? 0,
      runStart: 0,
      runFlavor: -1,
      nodes: NONE,
      perNode: 0,
      reason: null,
      rejectReason: null,
      unprotected: false,
      group: null,
    };
    this.jobs.push(job);
    const why = this.rejection(job);
    if (why !== null) {
      job.state = 'rejected';
      job.rejectReason = why;
      return handle;
    }
    job.group = this.groups.of(leaf, cls.priority, cls.preemptible, flavor, spec.gpus);
    void now;
    this.enqueue(job);
    return handle;
  }

  /**
   * Null when the job can run on some flavor in some state of the cluster, else why not: per
   * flavor the rule it breaks, then the largest job the fleet and the team's limits allow there.
   */
  private rejection(job: EngineJob): string | null {
    const flavors = job.flavor >= 0 ? [job.flavor] : this.fleet.flavors.map((f) => f.index);
    const reasons: string[] = [];
    for (const f of flavors) {
      const why = this.rejectionOn(job, f);
      if (why === null) return null;
      reasons.push(`${why}; ${this.largestText(job, f)}`);
    }
    return reasons.join('. ');
  }

  private rejectionOn(job: EngineJob, f: number): string | null {
    const info = this.fleet.flavors[f]!;
    const name = info.name;
    if (this.shapeOn(job.gpus, f) === null) {
      return job.gpus > info.capacity
        ? `${job.gpus} GPUs is more than the ${info.capacity} ${name} of the fleet`
        : `${job.gpus} GPUs fits no node of ${name} (nodes of ${info.nodeSizes.join('/')} GPUs) and is not a multiple of a node size with enough nodes (S2)`;
    }
    for (const t of this.teams.path[job.leaf]!) {
      const limit = this.teams.limitOf(t, f);
      if (job.gpus > limit) return `${job.gpus} ${name} is more than the ${limit} ${name} limit of team "${this.teams.names[t]}"`;
    }
    if (!job.preemptible && job.gpus > this.teams.guaranteed(job.leaf, f)) {
      return `non-preemptible class "${job.spec.class}" may only run inside the guarantee, and team "${job.spec.team}" is guaranteed ${this.teams.guaranteed(job.leaf, f)} ${name}, less than ${job.gpus} (M4)`;
    }
    const lockedEmpty = this.lockedWhenIdle(job.leaf, f);
    if (job.gpus > info.capacity - lockedEmpty) {
      return `${lockedEmpty} of the ${info.capacity} ${name} are guarantees other teams do not lend, leaving fewer than ${job.gpus} (M3)`;
    }
    return null;
  }

  /**
   * The largest shape the job's team may run on flavor f, e.g. "team research may hold at most
   * 64 h100 (its limit), and the largest gang the fleet can place is 32 nodes x 8".
   */
  private largestText(job: EngineJob, f: number): string {
    const info = this.fleet.flavors[f]!;
    const name = info.name;
    const team = job.spec.team;
    const parts: string[] = [];
    let tightest = -1;
    for (const t of this.teams.path[job.leaf]!) if (tightest < 0 || this.teams.limitOf(t, f) < this.teams.limitOf(tightest, f)) tightest = t;
    const limit = tightest < 0 ? Infinity : this.teams.limitOf(tightest, f);
    if (Number.isFinite(limit)) {
      parts.push(`team ${team} may hold at most ${limit} ${name} GPUs (${tightest === job.leaf ? 'its limit' : `the limit of team ${this.teams.names[tightest]} above it`})`);
    }
    if (!job.preemptible) parts.push(`class ${job.spec.class} may use at most the ${this.teams.guaranteed(job.leaf, f)} ${name} guaranteed to team ${team} (M4)`);
    const locked = this.lockedWhenIdle(job.leaf, f);
    if (locked > 0) parts.push(`${info.capacity - locked} of the ${info.capacity} ${name} are not locked by other teams' guarantees (M3)`);
    let gang = { count: 1, size: info.maxNodeSize };
    for (const [size, count] of info.nodesBySize) if (count * size > gang.count * gang.size) gang = { count, size };
    parts.push(
      gang.count > 1
        ? `the largest gang the fleet can place is ${gang.count} nodes x ${gang.size} ${name} (a job above ${info.maxNodeSize} GPUs asks for a multiple of a node size)`
        : `the largest ${name} job the fleet can place is ${gang.size} GPUs on one node`,
    );
    return parts.length > 1 ? `${parts.slice(0, -1).join(', ')}, and ${parts[parts.length - 1]!}` : parts[0]!;
  }

  /** M3 lock on flavor f against `leaf` when no team holds anything (the most it can ever be). */
  private lockedWhenIdle(leaf: number, f: number): number {
    if (!this.teams.hasLocks) return 0;
    const zero = new Map<number, number>();
    for (let t = 0; t < this.teams.size; t++) zero.set(t, -this.teams.used(t, f));
    return this.teams.lockedForOthers(leaf, f, zero);
  }

  /** S2: the shape of a job of `gpus` on flavor f, or null when it has none there. */
  private shapeOn(gpus: number, f: number): Shape | null {
    // The fleet's shapes never change: each is computed once (per flavor and size).
    const known = this.shapes[f]!.get(gpus);
    if (known !== undefined) return known;
    const shape = this.computeShape(gpus, f);
    this.shapes[f]!.set(gpus, shape);
    return shape;
  }

  private readonly shapes: Map<number, Shape | null>[];

  private computeShape(gpus: number, f: number): Shape | null {
    const info = this.fleet.flavors[f]!;
    if (gpus <= info.maxNodeSize) return { kind: 'single', size: gpus, count: 1 };
    for (const size of info.nodeSizes) {
      if (gpus % size === 0 && gpus / size <= info.nodesBySize.get(size)!) return { kind: 'whole', size, count: gpus / size };
    }
    return null;
  }

  private enqueue(job: EngineJob): void {
    const entry: QueueEntry = {
      job: job.handle,
      priority: job.priority,
      attained: this.policy.scheduling.withinTeam === 'las' ? job.attained : 0,
      submit: job.spec.submit,
      position: job.handle,
      live: true,
    };
    job.entry = entry;
    this.queues[job.leaf]!.insert(entry);
    this.markHead(job.leaf);
    this.pendingSizes[job.leaf]!.add(job.gpus, 1);
    this.pendingGlobalSizes.add(job.gpus, 1);
    this.pendingByPriority.add(job.priority, 1);
    if (job.spec.timeLimit !== null) this.pendingWithTimeLimit++;
    this.groups.add(job.group!, entry, job.spec.timeLimit);
    this.pendingCount++;
  }

  private dequeue(job: EngineJob): void {
    this.queues[job.leaf]!.remove(job.entry!);
    this.groups.remove(job.group!, job.entry!);
    this.markHead(job.leaf);
    if (!this.removedMark[job.leaf]) {
      this.removedMark[job.leaf] = 1;
      this.removedFrom.push(job.leaf);
    }
    job.entry = null;
    this.pendingSizes[job.leaf]!.add(job.gpus, -1);
    this.pendingGlobalSizes.add(job.gpus, -1);
    this.pendingByPriority.add(job.priority, -1);
    if (job.spec.timeLimit !== null) this.pendingWithTimeLimit--;
    this.pendingCount--;
  }

  /**
   * Undoes `enqueue` exactly (a rolled-back pass had requeued a victim): the entry leaves its
   * queue and group as if never inserted, where `dequeue` would leave a dead entry behind.
   */
  private unqueue(job: EngineJob): void {
    this.queues[job.leaf]!.withdraw(job.entry!);
    this.groups.withdraw(job.group!, job.entry!);
    this.markHead(job.leaf);
    job.entry = null;
    this.pendingSizes[job.leaf]!.add(job.gpus, -1);
    this.pendingGlobalSizes.add(job.gpus, -1);
    this.pendingByPriority.add(job.priority, -1);
    if (job.spec.timeLimit !== null) this.pendingWithTimeLimit--;
    this.pendingCount--;
  }

  // ---------------------------------------------------------------- run ends

  /** The current run of a running job ends for good (completed, timed out, cancelled, failed). */
  finish(handle: number, now: number): void {
    if (this.inPass) throw new InvariantViolation('finish during a pass');
    const job = this.jobs[handle]!;
    if (job.state !== 'running') throw new InvariantViolation(`finish: job ${job.spec.id} is ${job.state}`);
    job.attained += job.gpus * (now - job.runStart);
    this.releaseRun(job, now);
    job.state = 'finished';
    job.reason = null;
  }

  /** A pending job leaves the queue (cancelled). */
  cancelPending(handle: number): void {
    if (this.inPass) throw new InvariantViolation('cancel during a pass');
    const job = this.jobs[handle]!;
    if (job.state !== 'pending') throw new InvariantViolation(`cancelPending: job ${job.spec.id} is ${job.state}`);
    this.dequeue(job);
    job.state = 'finished';
    job.reason = null;
  }

  /** Queues are compacted between passes only (cursors point into them during one). */
  private compactQueues(): void {
    // Only a removal can make a queue due for compaction: the queues with one since the last look.
    for (const leaf of this.removedFrom) {
      this.removedMark[leaf] = 0;
      this.queues[leaf]!.maybeCompact();
      this.markHead(leaf); // a compaction moves the entry its cursor points at
    }
    emptyList(this.removedFrom);
    this.groups.maybeCompact();
  }

  // ---------------------------------------------------------------- primitives

  /**
   * A run starts (`restored` null), or a run a rolled-back pass preempted is given back as it
   * was: its protection entries are still queued, and it is past minRuntime again if it was.
   */
  private takeRun(job: EngineJob, f: number, placement: Placement, now: number, restored: { unprotected: boolean } | null = null): void {
    this.planStamp++;
    this.probeEpoch++;
    if (!Number.isInteger(now)) this.fractionalStarts = true;
    if (now > this.latestRunStart) this.latestRunStart = now;
    job.state = 'running';
    job.runStart = now;
    job.runFlavor = f;
    job.nodes = placement.nodes;
    job.perNode = placement.perNode;
    for (const node of placement.nodes) {
      this.fleet.adjust(node, -placement.perNode);
      this.keepNodeOrder(node);
      this.nodeJobs[node]!.push(job.handle);
    }
    this.teams.addUsage(job.leaf, f, job.gpus, !job.preemptible, now);
    this.markHead(job.leaf);
    if (restored?.unprotected) {
      job.unprotected = true;
      this.unprotectedByLeafFlavor[job.leaf * this.F + f]!++;
      this.unprotectedByPriority.add(job.priority, 1);
    }
    this.trackLeaf(job.leaf, f);
    const running = this.runningByLeafFlavor[job.leaf * this.F + f]!;
    this.keepOrder(running);
    running.add(job.handle);
    if (job.preemptible && restored) this.runLevels.change(job.leaf, f, job.priority, 1, restored.unprotected ? 1 : 0);
    else if (job.preemptible) {
      this.runLevels.change(job.leaf, f, job.priority, 1, 0);
      const until = now + this.policy.preemption.minRuntime;
      this.protectionQueue.push({ job: job.handle, until });
      // Sorted insert: runs re-taken by a rollback or adopted after a restart may end their
      // protection before runs started later.
      let i = this.expiries.length;
      while (i > this.expiryHead && this.expiries[i - 1]!.until > until) i--;
      if (i === this.expiries.length) this.expiries.push({ job: job.handle, until });
      else this.expiries.splice(i, 0, { job: job.handle, until });
    }
    if (job.spec.timeLimit !== null) this.timeLimitedRunning[f]!++;
    this.runningCount++;
  }

  private releaseRun(job: EngineJob, now: number): void {
    this.planStamp++;
    this.probeEpoch++;
    const f = job.runFlavor;
    for (const node of job.nodes) {
      this.fleet.adjust(node, job.perNode);
      this.keepNodeOrder(node);
      const list = this.nodeJobs[node]!;
      const i = list.indexOf(job.handle);
      list[i] = list[list.length - 1]!;
      list.pop();
    }
    this.teams.addUsage(job.leaf, f, -job.gpus, !job.preemptible, now);
    this.markHead(job.leaf);
    const running = this.runningByLeafFlavor[job.leaf * this.F + f]!;
    this.keepOrder(running);
    running.delete(job.handle);
    if (job.preemptible) this.runLevels.change(job.leaf, f, job.priority, -1, job.unprotected ? -1 : 0);
    if (job.unprotected) {
      job.unprotected = false;
      this.unprotectedByLeafFlavor[job.leaf * this.F + f]!--;
      this.unprotectedByPriority.add(job.priority, -1);
    }
    this.trackLeaf(job.leaf, f);
    if (job.spec.timeLimit !== null) this.timeLimitedRunning[f]!--;
    this.runningCount--;
    job.nodes = NONE;
    job.perNode = 0;
  }

  private start(job: EngineJob, f: number, placement: Placement): void {
    this.ops.push({ kind: 'start', job: job.handle, runStart: job.runStart, runFlavor: job.runFlavor });
    this.takeRun(job, f, placement, this.now);
  }

  private preempt(victim: EngineJob, by: number): void {
    this.ops.push({
      kind: 'preempt',
      job: victim.handle,
      by,
      runStart: victim.runStart,
      attained: victim.attained,
      flavor: victim.runFlavor,
      nodes: victim.nodes,
      perNode: victim.perNode,
      unprotected: victim.unprotected,
    });
    victim.attained += victim.gpus * (this.now - victim.runStart);
    this.releaseRun(victim, this.now);
    victim.state = 'pending';
    victim.preemptions++;
  }

  /**
   * Undoes the pass: the state is exactly as before it, orders included, so the next pass
   * decides as if it had never run. Decisions are undone last first; what that cannot give back
   * exactly (the order of sets and node lists, the fair-share usage settled at the pass's
   * instant, the standings) is put back from what the pass kept (keepOrder, keepNodeOrder,
   * saveDecay, savedStanding).
   */
  private rollback(): void {
    this.unvisitGroups();
    this.undoable = false;
    for (let i = this.ops.length - 1; i >= 0; i--) {
      const op = this.ops[i]!;
      const job = this.jobs[op.job]!;
      if (op.kind === 'start') {
        this.untakeRun(job);
        job.state = 'pending';
        job.runStart = op.runStart;
        job.runFlavor = op.runFlavor;
      } else {
        if (job.entry !== null) this.unqueue(job); // requeued for a later round of the pass
        this.takeRun(job, op.flavor, { nodes: op.nodes, perNode: op.perNode }, op.runStart, { unprotected: op.unprotected });
        job.attained = op.attained;
        job.preemptions--;
      }
    }
    for (const [node, list] of this.savedNodeJobs) {
      const now = this.nodeJobs[node]!;
      now.length = 0;
      for (const h of list) now.push(h);
    }
    for (const [set, items] of this.savedSets) {
      set.clear();
      for (const x of items) set.add(x);
    }
    this.teams.restoreDecay();
    this.standing.set(this.savedStanding);
    // What probes, victim searches and reservations remembered in the undone pass is not recalled.
    this.probeEpoch++;
  }

  /** A run this pass started ends as if it never had: its protection entries (the last queued) go too. */
  private untakeRun(job: EngineJob): void {
    const { handle, runStart } = job;
    this.releaseRun(job, this.now);
    if (!job.preemptible) return;
    const until = runStart + this.policy.preemption.minRuntime;
    const q = this.protectionQueue;
    if (q.length > this.protectionHead && q[q.length - 1]!.job === handle) q.pop();
    for (let i = this.expiries.length - 1; i >= this.expiryHead; i--) {
      const e = this.expiries[i]!;
      if (e.job === handle && e.until === until) {
        this.expiries.splice(i, 1);
        break;
      }
    }
  }

  /** The pass is about to change a node's list of runs: keep it as it was, if the pass may be undone. */
  private keepNodeOrder(node: number): void {
    if (this.undoable && !this.savedNodeJobs.has(node)) this.savedNodeJobs.set(node, this.nodeJobs[node]!.slice());
  }

  /** The pass is about to change a set: keep it as it was, in its order, if the pass may be undone. */
  private keepOrder(set: Set<number>): void {
    if (this.undoable && !this.savedSets.has(set)) this.savedSets.set(set, [...set]);
  }

  // ---------------------------------------------------------------- the pass

  /** Runs one pass at `now` and keeps its decisions. */
  pass(now: number, options: PassOptions = {}): PassResult {
    const result = this.runPass(now, options, false);
    this.commit(result);
    return result;
  }

  /** Runs one pass at `now` and returns its decisions without changing any state. */
  plan(now: number, options: PassOptions = {}): PassResult {
    const result = this.runPass(now, options, true);
    this.rollback();
    this.endPass();
    return result;
  }

  /**
   * Runs one pass and holds its decisions open: the caller persists them, then calls
   * `commitPass(result)` (keep) or `abortPass()` (undo). Nothing else may touch the engine
   * in between.
   */
  tentativePass(now: number, options: PassOptions = {}): PassResult {
    return this.runPass(now, options, true);
  }

  commitPass(result: PassResult): void {
    if (!this.inPass) throw new InvariantViolation('commitPass without a tentative pass');
    this.commit(result);
  }

  abortPass(): void {
    if (!this.inPass) throw new InvariantViolation('abortPass without a tentative pass');
    this.rollback();
    this.endPass();
  }

  /**
   * Re-adopts a job that was running before a restart: it holds `placement` (node names) of
   * `flavor` since `runStart`. The job must have been submitted and be pending.
   */
  adopt(handle: number, flavor: string, placement: readonly { node: string; gpus: number }[], runStart: number): void {
    if (this.inPass) throw new InvariantViolation('adopt during a pass');
    const job = this.jobs[handle]!;
    const f = this.fleet.flavorByName.get(flavor);
    if (job.state !== 'pending' || f === undefined) throw new InvariantViolation(`adopt: job ${job.spec.id} is ${job.state}, flavor ${flavor}`);
    const nodes = placement.map((p) => this.fleet.nodeNames.indexOf(p.node));
    if (nodes.some((n) => n < 0 || this.fleet.nodeFlavor[n] !== f || this.fleet.free[n]! < placement[0]!.gpus)) {
      throw new InvariantViolation(`adopt: job ${job.spec.id} placement ${JSON.stringify(placement)} does not fit the fleet`);
    }
    this.dequeue(job);
    this.takeRun(job, f, { nodes, perNode: placement[0]!.gpus }, runStart);
  }

  /** Why a job would be rejected at submission (S2, capacity, limits, M4, M3), or null. */
  rejectionOf(spec: JobSpec): string | null {
    const cls = this.classes.get(spec.class);
    const leaf = this.teams.byName.get(spec.team);
    const flavor = spec.flavor === null ? -1 : (this.fleet.flavorByName.get(spec.flavor) ?? -2);
    if (!cls || leaf === undefined || !this.teams.isLeaf[leaf] || flavor === -2) return 'unknown team, class or flavor';
    const probe = { spec, leaf, gpus: spec.gpus, flavor, preemptible: cls.preemptible, unprotected: false } as EngineJob;
    return this.rejection(probe);
  }

  private commit(result: PassResult): void {
    this.unvisitGroups();
    for (const op of this.ops) {
      const job = this.jobs[op.job]!;
      if (op.kind === 'start') {
        if (job.state === 'running' && job.entry !== null) this.dequeue(job);
        job.reason = null;
      }
    }
    for (const { job } of result.preempted) {
      const victim = this.jobs[job]!;
      // A job preempted and restarted within one pass is running again; else it waits.
      if (victim.state === 'pending' && victim.entry === null) this.enqueue(victim);
    }
    this.lastReservation = result.reservation;
    this.endPass();
    this.compactQueues();
  }

  private endPass(): void {
    if (this.reservation) for (const node of this.reservation.nodes) this.fleet.unreserve(node);
    this.reservation = null;
    emptyList(this.ops);
    this.undoable = false;
    // Clearing a Map allocates a new table, even when it is empty: most passes save nothing.
    if (this.savedNodeJobs.size > 0) this.savedNodeJobs.clear();
    if (this.savedSets.size > 0) this.savedSets.clear();
    this.inPass = false;
  }

  private runPass(now: number, options: PassOptions, undoable: boolean): PassResult {
    if (this.inPass) throw new InvariantViolation('nested pass');
    // GPUs freed since they were wanted withheld are withheld first (outside any undo log).
    if (this.withheldShort.size > 0) for (const n of [...this.withheldShort]) this.applyWithheld(n);
    this.inPass = true;
    this.undoable = undoable;
    if (undoable) {
      this.teams.saveDecay();
      this.savedStanding.set(this.standing);
    }
    this.now = now;
    this.reservation = null;
    const started: number[] = [];
    const preempted: { job: number; by: number }[] = [];
    for (let f = 0; f < this.F; f++) {
      this.idleAtStart[f] = this.fleet.idle[f]!;
      this.maxBlockAtStart[f] = this.fleet.maxAvailableOnOneNode(f);
    }
    this.visitedGlobal.clear();
    this.requeuedInPass = 0;
    this.explainAll = options.explainAll === true;
    this.expireProtections(now);
    this.reservationId = 0;
    // A probe reads the instant too: with fair-share preemption through the standings (recall
    // nothing then), and through which runs are past minRuntime, which the victim search reads
    // as now - start >= minRuntime and expireProtections as start + minRuntime <= now. Both are
    // exact while starts and minRuntime are whole seconds; otherwise, so that rounding never
    // makes them differ, nothing is recalled in or from a pass within a second of a protection's end.
    const near = this.fractionalStarts && this.protectionEndsNear(now);
    if (this.policy.preemption.fairShare || near || this.nearProtectionEnd) this.probeEpoch++;
    this.nearProtectionEnd = near;
    this.initTournament();
    const explainAll = options.explainAll === true;
    let considered = 0;
    // A round considers every pending job once. Jobs preempted in a round wait in their
    // queues again, and GPUs a preemption left over may fit a job already refused: one more
    // round gives them their chance, so after the pass no pending job could start on idle
    // GPUs (work conservation). Jobs started in this pass are protected, so rounds end.
    for (let round = 0; round === 0 || (preempted.length > this.requeuedInPass && round < MAX_ROUNDS); round++) {
      this.round = round;
      for (let i = this.requeuedInPass; i < preempted.length; i++) {
        const victim = this.jobs[preempted[i]!.job]!;
        if (victim.state === 'pending' && victim.entry === null) this.enqueue(victim);
      }
      this.requeuedInPass = preempted.length;
      if (round > 0) {
        this.visitedGlobal.clear();
        this.victims.forgetFailures();
        this.initTournament();
      }
      for (let leaf = this.bestOf(this.teams.roots); leaf >= 0; leaf = this.bestOf(this.teams.roots)) {
        if (!explainAll && (this.nothingMoreCanStart() || this.noGroupCanStart())) break;
        const job = this.jobs[this.queues[leaf]!.at(this.cursor[leaf]!).job]!;
        considered++;
        if (!explainAll && this.knownToFail(job)) {
          // Refused for sure, and it would not take the reservation: only its reason would change.
          this.advance(leaf, job);
          considered += this.skipKnownFailures(leaf);
          this.refreshHead(leaf);
          continue;
        }
        const victims = this.consider(job);
        this.lastRefused = job.state !== 'running';
        this.advance(leaf, job);
        if (job.state === 'running') {
          started.push(job.handle);
          for (const v of victims) preempted.push({ job: v, by: job.handle });
          this.refresh(leaf);
          for (const v of victims) if (this.jobs[v]!.leaf !== leaf) this.refresh(this.jobs[v]!.leaf);
          this.victims.forgetFailures();
        } else {
          this.refreshHead(leaf);
        }
      }
    }
    return { now, started, preempted, reservation: this.reservation, considered };
  }

  /**
   * After a head of `leaf` was passed over as known to fail: passes over the leaf's next heads
   * too, as long as each is known to fail and would still win the tournament, without going
   * back to the root each time. Nothing changes while known failures are passed over (no
   * start, no reservation, no standing), so the other subtrees' best heads stay as they are and
   * the leaf keeps winning exactly while its head beats, at each level of its path, the best of
   * its siblings there. Returns how many.
   *
   * In fifo order the run is found a group at a time, not a job at a time (skipRun): a pass
   * then costs the groups it probes, not the length of the queues it passes over.
   */
  private skipKnownFailures(leaf: number): number {
    const path = this.teams.path[leaf]!;
    const rivals: number[] = [];
    for (const t of path) {
      const parent = this.teams.parent[t]!;
      const siblings = parent < 0 ? this.teams.roots : this.teams.children[parent]!;
      let rival = -1;
      for (const c of siblings) {
        if (c === t || this.best[c]! < 0) continue;
        if (rival < 0 || this.headBefore(c, rival)) rival = c;
      }
      if (rival >= 0) rivals.push(t, rival);
    }
    if (this.policy.scheduling.withinTeam === 'fifo') return this.skipRun(leaf, rivals);
    const q = this.queues[leaf]!;
    let skipped = 0;
    for (let c = this.cursor[leaf]!; c >= 0; c = this.cursor[leaf]!) {
      // The early exits as the main loop asks them, so a pass visits no more jobs than before.
      if (this.nothingMoreCanStart() || this.noGroupCanStart()) break;
      const job = this.jobs[q.at(c).job]!;
      this.headFits[leaf] = this.fitsGuaranteeSomewhere(job) ? 1 : 0;
      let wins = true;
      for (let i = 0; i < rivals.length && wins; i += 2) wins = this.headBefore(rivals[i]!, rivals[i + 1]!);
      if (!wins || !this.knownToFail(job)) break;
      this.advance(leaf, job);
      skipped++;
    }
    return skipped;
  }

  /**
   * skipKnownFailures in fifo order, where a leaf's queue is its groups' entries merged (class,
   * then submit time) and fits-first and class are a group's: the run of known failures ends at
   * the first job, at or after the head, of a group not known to fail (or the reservation's
   * holder), or at the first job that no longer beats a rival (per group: all, none, or those
   * submitted before the rival's head). The early exits are asked at the head and again just
   * after each group's last job, the only places where what they read (which sizes and groups
   * have jobs left to visit) changes while the run is passed over. Each step is a binary search
   * per group, and what is passed over is counted per group (job-groups.ts).
   */
  private skipRun(leaf: number, rivals: readonly number[]): number {
    const q = this.queues[leaf]!;
    const groups = this.groups.ofLeaf(leaf);
    const r = this.reservation;
    const holder = r !== null && this.jobs[r.job]!.leaf === leaf && this.jobs[r.job]!.state === 'pending' ? this.jobs[r.job]!.entry : null;
    let skipped = 0;
    // This leaf's groups with jobs at or after the head, by their first one (insertion sort: few).
    const groupsAhead = this.runGroups;
    const firsts = this.runFirsts;
    for (let c = this.cursor[leaf]!; c >= 0; c = this.cursor[leaf]!) {
      if (this.nothingMoreCanStart() || this.noGroupCanStart()) break;
      const head = q.at(c);
      // The run ends before `runEnd` (or, with `runThrough`, just after it); null: it never ends.
      this.runEnd = null;
      this.runThrough = false;
      this.runFinal = false;
      if (holder !== null && !entryBefore(holder, head)) this.endRunAt(holder, false, true);
      let n = 0;
      for (const g of groups) {
        if (!g.hasUnvisited()) continue;
        const first = this.firstPending(g, g.firstFrom(head));
        if (first === null) continue;
        let i = n++;
        for (; i > 0 && entryBefore(first, firsts[i - 1]!); i--) {
          firsts[i] = firsts[i - 1]!;
          groupsAhead[i] = groupsAhead[i - 1]!;
        }
        firsts[i] = first;
        groupsAhead[i] = g;
      }
      for (let i = 0; i < n; i++) {
        const g = groupsAhead[i]!;
        const first = firsts[i]!;
        if (this.runEnd !== null && !entryBefore(first, this.runEnd)) break;
        if (!this.groupKnownToFail(g)) {
          // Feasible only with its shortest time limit: the run ends at its first job that may backfill.
          const backfiller = this.onlyBackfillersMayStart(g) ? this.firstBackfiller(g, first) : first;
          if (backfiller === first) {
            this.endRunAt(first, false, true);
            break;
          }
          if (backfiller !== null) this.endRunAt(backfiller, false, true);
        }
        const lose = this.firstLosing(g, first, rivals);
        if (lose !== null) this.endRunAt(lose, false, true);
        this.endRunAt(g.last()!, true, false);
      }
      const end = this.runEnd;
      if (end === head && !this.runThrough) break;
      let next: number;
      if (end === null) next = -1;
      else if (this.runThrough) next = this.nextPending(leaf, q.indexOf(end) + 1);
      else next = this.nextPending(leaf, q.indexOf(end));
      const until = next < 0 ? null : q.at(next);
      for (const g of groups) {
        if (!g.hasUnvisited()) continue;
        const touched = g.touched;
        const n = g.passBefore(until);
        if (!touched && g.touched) this.visitedGroups.push(g);
        this.countVisits(leaf, g.gpus, n);
        skipped += n;
      }
      this.cursor[leaf] = next;
      if (this.runFinal) break;
    }
    return skipped;
  }

  /** skipRun's end of the run: before `runEnd` (with `runThrough`, just after it), and whether the walk stops there. */
  private runEnd: QueueEntry | null = null;
  private runThrough = false;
  private runFinal = false;

  /** The run ends before `e` (with `after`, just after it) unless it ends sooner already; `stop`: the walk stops there. */
  private endRunAt(e: QueueEntry, after: boolean, stop: boolean): void {
    const end = this.runEnd;
    if (end === null || (e === end ? !after && this.runThrough : entryBefore(e, end))) {
      this.runEnd = e;
      this.runThrough = after;
      this.runFinal = stop;
    }
  }

  /** `entry` (an entry of group g) or the first one after it whose job waits, or null. */
  private firstPending(g: JobGroup, entry: QueueEntry | null): QueueEntry | null {
    let e = entry;
    while (e !== null && this.jobs[e.job]!.state !== 'pending') e = g.firstAfter(e);
    return e;
  }

  /**
   * The first job of group g, at or after `first` (its first one left), that would not beat
   * every rival (pairs of a team on the leaf's path and its best sibling) as the leaf's head, or
   * null. As headBefore: fits-first, class and fair share are the same for all of g's jobs;
   * submit time and position then rise along g's entries (fifo).
   */
  private firstLosing(g: JobGroup, first: QueueEntry, rivals: readonly number[]): QueueEntry | null {
    const fits = this.fitsSomewhere(g.leaf, g.flavor, g.gpus) ? 1 : 0;
    let bound: Mutable<QueueEntry> | null = null;
    for (let i = 0; i < rivals.length; i += 2) {
      const t = rivals[i]!;
      const rival = rivals[i + 1]!;
      const lb = this.best[rival]!;
      const fb = this.headFits[lb]!;
      const eb = this.queues[lb]!.at(this.cursor[lb]!);
      if (fits !== fb) {
        if (fits < fb) return first;
        continue;
      }
      if (g.priority !== eb.priority) {
        if (g.priority < eb.priority) return first;
        continue;
      }
      if (!fits && this.standing[t]! !== this.standing[rival]!) {
        if (this.standing[t]! > this.standing[rival]!) return first;
        continue;
      }
      // g's jobs submitted before the rival's head (then by position) still beat it: the earliest such key.
      if (bound === null || eb.submit < bound.submit || (eb.submit === bound.submit && eb.position < bound.position)) {
        bound = this.losingKey;
        bound.priority = g.priority;
        bound.submit = eb.submit;
        bound.position = eb.position;
      }
    }
    if (bound === null) return null;
    if (entryBefore(bound, first)) return first;
    return this.firstPending(g, g.firstFrom(bound));
  }

  /**
   * With the reservation made: true when group g's jobs could start only by backfilling (its
   * probe with its shortest time limit may start, one without any may not), so every job of g
   * that may not backfill (mayBackfill) is known to fail. A job with a time limit that may not
   * backfill decides exactly as one without (placeIdle is the only reader of a time limit).
   */
  private onlyBackfillersMayStart(g: JobGroup): boolean {
    const r = this.reservation;
    if (r === null || r.expectedStart === null) return false;
    if (g.noBackfillAt !== this.planStamp) {
      if (g.noBackfillMemoEpoch === this.probeEpoch && g.noBackfillMemoReservation === this.reservationId) g.noBackfillAt = this.planStamp;
      else this.setFeasibleWithoutBackfill(g, this.probeFeasible(this.probeOf(g, null)));
    }
    return !g.feasibleWithoutBackfill;
  }

  /** The first job of group g at or after `first` (a pending one of g) that may backfill and waits, or null. */
  private firstBackfiller(g: JobGroup, first: QueueEntry): QueueEntry | null {
    const end = this.reservation!.expectedStart!;
    let e = g.firstBackfilling(first, false, this.now, end);
    while (e !== null && this.jobs[e.job]!.state !== 'pending') e = g.firstBackfilling(e, true, this.now, end);
    return e;
  }

  /** firstLosing's bound, a key in queue order (reused: it never outlives the call). */
  private readonly losingKey: Mutable<QueueEntry> = { job: -1, priority: 0, attained: 0, submit: 0, position: 0, live: false };

  /** knownToFail for every job of group g but the reservation's holder. */
  private groupKnownToFail(g: JobGroup): boolean {
    const r = this.reservation;
    if (g.checkedAt !== this.planStamp && !this.recall(g)) {
      if (r === null) return false;
      this.probe(g);
    }
    return !g.feasible && (r !== null || !g.wouldReserve);
  }

  /** Whether a run's protection ended or ends within a second of `now` (after expireProtections). */
  private protectionEndsNear(now: number): boolean {
    if (this.lastExpiry >= now - 1) return true;
    return this.expiryHead < this.expiries.length && this.expiries[this.expiryHead]!.until <= now + 1;
  }

  /** Counts the runs whose minRuntime has ended by `now` as preemptible from now on. */
  private expireProtections(now: number): void {
    const q = this.expiries;
    const minRuntime = this.policy.preemption.minRuntime;
    while (this.expiryHead < q.length && q[this.expiryHead]!.until <= now) {
      const { job: handle, until } = q[this.expiryHead++]!;
      if (until > this.lastExpiry) this.lastExpiry = until;
      const job = this.jobs[handle]!;
      if (job.state !== 'running' || job.unprotected || job.runStart + minRuntime !== until) continue;
      job.unprotected = true;
      this.unprotectedByLeafFlavor[job.leaf * this.F + job.runFlavor]!++;
      this.runLevels.change(job.leaf, job.runFlavor, job.priority, 0, 1);
      this.trackLeaf(job.leaf, job.runFlavor);
      this.planStamp++;
      this.probeEpoch++;
      this.unprotectedByPriority.add(job.priority, 1);
    }
    if (this.expiryHead > 1024 && this.expiryHead * 2 > q.length) {
      this.expiries = q.slice(this.expiryHead);
      this.expiryHead = 0;
    }
  }

  /**
   * Could a job that fits its guarantee reclaim anything: a borrowing leaf with a run past
   * minRuntime? Kept as a count (trackLeaf), so the early exit asks it in O(1).
   */
  private anyReclaimable(): boolean {
    return this.reclaimablePairs > 0;
  }

  /** After a leaf's usage or unprotected runs on flavor f changed: its borrowing and reclaimable state. */
  private trackLeaf(leaf: number, f: number): void {
    const k = leaf * this.F + f;
    const borrows = this.teams.isBorrowing(leaf, f);
    const borrowing = this.borrowing[f]!;
    if (borrows !== borrowing.has(leaf)) {
      this.keepOrder(borrowing);
      if (borrows) borrowing.add(leaf);
      else borrowing.delete(leaf);
    }
    this.runLevels.setBorrowing(leaf, f, borrows);
    const flag = borrows && this.unprotectedByLeafFlavor[k]! > 0 ? 1 : 0;
    if (flag !== this.reclaimableFlag[k]) {
      this.reclaimablePairs += flag ? 1 : -1;
      this.reclaimableFlag[k] = flag;
    }
  }

  /**
   * Sets every leaf's cursor to its first pending job and builds the tournament. A leaf's head
   * (cursor, headFits, fitPossible, limitBlocked) is computed again only when it may have changed
   * since the last build (markHead: its queue or its usage changed; or the last walk moved its
   * cursor); the rest is kept. Standings move with time alone, so every active team's is read
   * again at each build.
   */
  private initTournament(): void {
    for (const t of this.touchedLeaves) {
      this.visited[t]!.clear();
      this.markHead(t);
    }
    emptyList(this.touchedLeaves);
    this.unvisitGroups();
    this.planStamp++;
    // limitBlocked reads the usage of the whole path (and explainAll): kept only where it is
    // always 0, i.e. where atLimit cannot hold (preemption between borrowers or fair share).
    const p = this.policy.preemption;
    if (!this.headsKept || (p.borrowing === 'never' && !p.fairShare)) {
      for (const t of this.teams.postOrder) if (this.teams.isLeaf[t]) this.markHead(t);
      this.headsKept = true;
    }
    for (const t of this.dirtyHeads) this.buildHead(t);
    emptyList(this.dirtyHeads);
    // Only subtrees with pending jobs take part; their standing is computed once here and
    // kept current as the pass starts and preempts jobs (refresh).
    for (const t of this.teams.postOrder) {
      if (this.teams.isLeaf[t]) {
        if (this.cursor[t] !== this.builtCursor[t]) this.buildHead(t);
        if (this.cursor[t]! >= 0) {
          this.standing[t] = this.teams.standing(t, this.now);
          this.best[t] = this.limitBlocked[t] ? -1 : t;
        } else {
          this.best[t] = -1;
        }
      } else {
        this.best[t] = this.bestOf(this.teams.children[t]!);
        if (this.best[t] >= 0) this.standing[t] = this.teams.standing(t, this.now);
      }
    }
  }

  /** A leaf's cursor at its first pending job, and its head state there. */
  private buildHead(t: number): void {
    this.headDirty[t] = 0;
    if (this.fitPossible[t]) {
      this.fitPossible[t] = 0;
      this.fitPossibleCount--;
    }
    this.limitBlocked[t] = 0;
    const q = this.queues[t]!;
    this.cursor[t] = q.live > 0 ? this.nextPending(t, 0) : -1;
    if (this.cursor[t] >= 0) this.updateHead(t);
    this.builtCursor[t] = this.cursor[t]!;
  }

  /** The head state of `leaf` may have changed (its queue or usage): initTournament computes it again. */
  private markHead(leaf: number): void {
    if (this.headDirty[leaf]) return;
    this.headDirty[leaf] = 1;
    this.dirtyHeads.push(leaf);
  }

  private advance(leaf: number, job: EngineJob): void {
    const group = job.group!;
    if (!group.touched) this.visitedGroups.push(group);
    this.countVisits(leaf, group.gpus, group.passThrough(job.entry!));
    this.cursor[leaf] = this.nextPending(leaf, this.cursor[leaf]! + 1);
  }

  /**
   * A round passed over `n` more jobs of `gpus` GPUs in a leaf's queue (their groups know which).
   * These counts are bounds only (see nothingMoreCanStart, updateHead).
   */
  private countVisits(leaf: number, gpus: number, n: number): void {
    if (n === 0) return;
    if (this.visited[leaf]!.empty) this.touchedLeaves.push(leaf);
    this.visited[leaf]!.add(gpus, n);
    this.visitedGlobal.add(gpus, n);
  }

  /** Every job the round visited counts in its group again (before a round, and before jobs leave or return to queues). */
  private unvisitGroups(): void {
    for (const group of this.visitedGroups) group.forgetVisits();
    emptyList(this.visitedGroups);
  }

  /** The first queue entry at or after `from` whose job still waits (started jobs leave at commit). */
  private nextPending(leaf: number, from: number): number {
    const q = this.queues[leaf]!;
    for (let i = q.nextLive(from); i >= 0; i = q.nextLive(i + 1)) if (this.jobs[q.at(i).job]!.state === 'pending') return i;
    return -1;
  }

  /** After a leaf's head or usage changed: its key, its standing path, the tournament above it. */
  private refresh(leaf: number): void {
    for (const t of this.teams.path[leaf]!) this.standing[t] = this.teams.standing(t, this.now);
    this.refreshHead(leaf);
  }

  /**
   * After a leaf's head moved past a job that did not start: no usage changed, so the standings
   * on its path (computed at this instant since the last change) are still current.
   */
  private refreshHead(leaf: number): void {
    if (this.cursor[leaf]! >= 0) {
      this.updateHead(leaf);
    } else if (this.fitPossible[leaf]) {
      this.fitPossible[leaf] = 0;
      this.fitPossibleCount--;
    }
    this.best[leaf] = this.cursor[leaf]! >= 0 && !this.limitBlocked[leaf] ? leaf : -1;
    for (const t of this.teams.path[leaf]!) if (t !== leaf) this.best[t] = this.bestOf(this.teams.children[t]!);
  }

  private updateHead(leaf: number): void {
    const c = this.cursor[leaf]!;
    if (c < 0) return;
    const job = this.jobs[this.queues[leaf]!.at(c).job]!;
    this.headFits[leaf] = this.fitsGuaranteeSomewhere(job) ? 1 : 0;
    // Could any remaining job of this team fit its guarantee? (early-exit bound)
    const smallest = minRemaining(this.pendingSizes[leaf]!, this.visited[leaf]!);
    let possible = 0;
    if (smallest > 0) {
      for (let f = 0; f < this.F; f++) {
        if (this.teams.used(leaf, f) + smallest <= this.teams.guaranteed(leaf, f)) {
          possible = 1;
          break;
        }
      }
    }
    if (possible !== this.fitPossible[leaf]) {
      this.fitPossibleCount += possible ? 1 : -1;
      this.fitPossible[leaf] = possible;
    }
    this.limitBlocked[leaf] = !this.explainAll && this.atLimit(leaf, smallest) ? 1 : 0;
  }

  /**
   * True when even the team's smallest remaining job would break a limit (M2) on every flavor
   * and no preemption inside the team could make room: every one of its jobs would be refused
   * for the limit, which changes nothing (no start, no reservation), so a pass that does not
   * explain everything may skip the whole queue. Static partitions make this the common case.
   */
  private atLimit(leaf: number, smallest: number): boolean {
    if (smallest <= 0) return false;
    // Preemption could bring the team (or an ancestor) under its limit: reclaim for a job that
    // fits its guarantee, or class and fair-share preemption between borrowers.
    const p = this.policy.preemption;
    if (this.fitPossible[leaf] || p.borrowing !== 'never' || p.fairShare) return false;
    for (let f = 0; f < this.F; f++) {
      if (this.teams.overLimit(leaf, f, smallest) < 0) return false;
      if (this.policy.preemption.withinTeam && this.runningByLeafFlavor[leaf * this.F + f]!.size > 0) return false;
    }
    return true;
  }

  /** P2: the team (among `candidates`, siblings) whose best head comes first; -1 if none. */
  private bestOf(candidates: readonly number[]): number {
    let bestChild = -1;
    for (const c of candidates) {
      if (this.best[c]! < 0) continue;
      if (bestChild < 0 || this.headBefore(c, bestChild)) bestChild = c;
    }
    return bestChild < 0 ? -1 : this.best[bestChild]!;
  }

  /** P2 order between the best heads of two sibling subtrees a and b. */
  private headBefore(a: number, b: number): boolean {
    const la = this.best[a]!;
    const lb = this.best[b]!;
    const fa = this.headFits[la]!;
    const fb = this.headFits[lb]!;
    if (fa !== fb) return fa > fb; // (a) fits its guarantee first
    const ea = this.queues[la]!.at(this.cursor[la]!);
    const eb = this.queues[lb]!.at(this.cursor[lb]!);
    if (ea.priority !== eb.priority) return ea.priority > eb.priority; // (b) class
    if (!fa) {
      const sa = this.standing[a]!;
      const sb = this.standing[b]!;
      if (sa !== sb) return sa < sb; // (c) fair share, compared between siblings
    }
    if (ea.submit !== eb.submit) return ea.submit < eb.submit; // (d)
    return ea.position < eb.position; // (e)
  }

  private fitsGuaranteeOn(job: EngineJob, f: number): boolean {
    return this.teams.used(job.leaf, f) + job.gpus <= this.teams.guaranteed(job.leaf, f);
  }

  private fitsGuaranteeSomewhere(job: EngineJob): boolean {
    return this.fitsSomewhere(job.leaf, job.flavor, job.gpus);
  }

  /** Whether `gpus` more of flavor `flavor` (-1: any) keep the leaf within its guarantee somewhere. */
  private fitsSomewhere(leaf: number, flavor: number, gpus: number): boolean {
    const teams = this.teams;
    if (flavor >= 0) return teams.used(leaf, flavor) + gpus <= teams.guaranteed(leaf, flavor);
    for (let f = 0; f < this.F; f++) if (teams.used(leaf, f) + gpus <= teams.guaranteed(leaf, f)) return true;
    return false;
  }

  /**
   * True when no job left in this pass can start: no head fits its guarantee (so nothing
   * may reclaim), no idle block is big enough for the smallest remaining job, and no
   * class- or fair-share-based preemption or backfill is possible. Only a bound: it never
   * changes a decision, it saves visiting jobs that would all be refused.
   */
  private nothingMoreCanStart(): boolean {
    const p = this.policy.preemption;
    // Only runs past minRuntime can be victims (M5); runs started in this pass never are.
    // Reclaim (by a job that fits its guarantee) and fair-share preemption both take only
    // borrowing teams' runs: without such a run past minRuntime neither can make room.
    if ((this.fitPossibleCount > 0 || p.fairShare) && this.anyReclaimable()) return false;
    if ((p.withinTeam || p.borrowing === 'lowerPriority') && !this.unprotectedByPriority.empty) {
      if (this.pendingByPriority.anyKeyAbove(this.unprotectedByPriority.lowestKey())) return false;
    }
    const smallest = minRemaining(this.pendingGlobalSizes, this.visitedGlobal);
    if (smallest <= 0) return true;
    for (let f = 0; f < this.F; f++) {
      // A job larger than every node takes whole nodes, possibly the smallest ones.
      const info = this.fleet.flavors[f]!;
      const need = Math.min(smallest, info.nodeSizes[0]!);
      if (this.fleet.maxAvailableOnOneNode(f) >= need) return false;
    }
    if (this.reservation && this.reservation.expectedStart !== null && this.pendingWithTimeLimit > 0) {
      for (const node of this.reservation.nodes) if (this.fleet.free[node]! > 0) return false;
    }
    return true;
  }

  /**
   * The early exit's second bound, for the queues `nothingMoreCanStart` cannot see through (a
   * congested fleet with higher-class jobs waiting and lower-class runs past minRuntime, teams
   * under their guarantee with borrowed runs around): true when no job left in this round could
   * start in the current state. Jobs are probed a group at a time (job-groups.ts): a group's
   * probe is its shortest time limit, and a job with a longer one has no option the probe lacks.
   * Exact, not a heuristic: once the pass has made its reservation, a job that cannot start
   * changes nothing but its own reason, so while no remaining job can start the state stays as
   * it is and every remaining job would be refused; visiting them changes no decision. Before
   * the reservation, a job that fails for lack of room would take it, and reserving nodes does
   * not only take options away (a whole-node job denied a reserved node may find other victims,
   * and those may pass the limit and lending checks where the first choice failed): so until
   * then a group stops the bound also when it would fail for lack of room (`wouldReserve`); a
   * failure for a limit, M4 or lending changes nothing but the reason, before the reservation
   * as after it (congested queues of teams at their limit never reserve). In a later round it also waits while the job holding
   * the reservation, which may use the reserved nodes as no probe may, is still pending.
   * Groups are probed a few per visited job (PROBES_PER_VISIT) and remembered until the state
   * changes, so the bound costs at most a small multiple of the walk it may end.
   */
  private noGroupCanStart(): boolean {
    const r = this.reservation;
    if (r !== null && this.round > 0 && this.jobs[r.job]!.state === 'pending') return false;
    if (r === null && !this.lastRefused) return false;
    if (this.scanStamp !== this.planStamp) {
      this.scanStamp = this.planStamp;
      this.scanPosition = 0;
      this.feasibleGroup = null;
    }
    const found = this.feasibleGroup;
    // Still feasible (or still one that would take the reservation) unless its remaining jobs were
    // all visited, or one with its shortest time limit failed.
    if (found !== null && found.hasUnvisited() && (found.feasible || (r === null && found.wouldReserve))) return false;
    this.feasibleGroup = null;
    const active = this.groups.active;
    let probes = 0;
    for (; this.scanPosition < active.length; this.scanPosition++) {
      const g = active[this.scanPosition]!;
      if (!g.hasUnvisited()) continue;
      if (g.checkedAt !== this.planStamp && !this.recall(g)) {
        if (probes++ === PROBES_PER_VISIT) return false;
        this.probe(g);
      }
      if (g.feasible || (r === null && g.wouldReserve)) {
        this.feasibleGroup = g;
        return false;
      }
    }
    return true;
  }

  /** A stand-in for the jobs of a group with time limit `timeLimit` (its shortest: its best chance of backfilling). */
  private probeOf(g: JobGroup, timeLimit: number | null): EngineJob {
    const spec = { timeLimit } as JobSpec;
    return { handle: -1, spec, leaf: g.leaf, priority: g.priority, preemptible: g.preemptible, flavor: g.flavor, gpus: g.gpus } as EngineJob;
  }

  /** S1: flavors a job may use, those where it fits its guarantee first, then pool order. */
  private flavorOrder(job: EngineJob): readonly number[] {
    if (job.flavor >= 0) return this.onlyFlavor[job.flavor]!;
    // Pool order unless some flavors fit and some do not (shared arrays: never changed).
    let fit = 0;
    for (let f = 0; f < this.F; f++) if (this.fitsGuaranteeOn(job, f)) fit++;
    if (fit === 0 || fit === this.F) return this.poolOrder;
    const fitting: number[] = [];
    const others: number[] = [];
    for (let f = 0; f < this.F; f++) (this.fitsGuaranteeOn(job, f) ? fitting : others).push(f);
    return fitting.concat(others);
  }

  /** Flavor orders that need no array per call: each flavor alone, and pool order. */
  private readonly onlyFlavor: readonly (readonly number[])[];
  private readonly poolOrder: readonly number[];

  /** P3: tries to start `job`; returns the handles of the jobs it preempted. Sets its reason when it cannot start. */
  private consider(job: EngineJob): readonly number[] {
    const stamp = this.planStamp;
    const blockers: Blocker[] = [];
    for (const f of this.flavorOrder(job)) {
      const outcome = this.planFlavor(job, f);
      if (outcome.kind === 'start') {
        for (const v of outcome.victims) {
          const victim = this.jobs[v]!;
          this.preempt(victim, job.handle);
        }
        this.start(job, f, outcome.placement);
        return outcome.victims;
      }
      blockers.push(outcome);
    }
    this.explainBlocked(job, blockers);
    const group = job.group!;
    // A job that fails with its group's best chance of backfilling fails for the whole group
    // (unless it just made the reservation: the state it failed in is gone).
    // Before the reservation a time limit changes nothing (no backfill), so any job answers for its group.
    if (stamp === this.planStamp && (this.reservation === null || job.spec.timeLimit === group.shortestTimeLimit())) {
      this.setProbed(group, false, blockers.some((b) => b.kind === 'capacity'));
    }
    // Likewise a job that may not backfill fails for every job of its group that may not.
    if (stamp === this.planStamp && this.reservation !== null && !this.mayBackfill(job)) this.setFeasibleWithoutBackfill(group, false);
    return [];
  }

  /**
   * True when `job` cannot start now and considering it would change nothing but its reason:
   * its group cannot start in the current state (probed here, or found by noGroupCanStart or
   * consider), and either the pass already has its reservation and it is not this job's (its
   * holder may use the reserved nodes, which no probe does), or the group fails for reasons
   * other than room (a limit, M4, lending), so the job would not take the reservation either.
   */
  private knownToFail(job: EngineJob): boolean {
    const r = this.reservation;
    if (r !== null && r.job === job.handle) return false;
    const group = job.group!;
    // One probe answers for every job of the group until the state changes. Before the
    // reservation only what is known already (noGroupCanStart's probes, consider's failures).
    if (group.checkedAt !== this.planStamp && !this.recall(group)) {
      if (r === null) return false;
      this.probe(group);
    }
    if (!group.feasible) return r !== null || !group.wouldReserve;
    return r !== null && !this.mayBackfill(job) && this.onlyBackfillersMayStart(group);
  }

  /**
   * Probes a group in the current state: could its jobs start (`feasible`), else would one
   * fail for lack of room (`wouldReserve`, a capacity blocker on some flavor). The same
   * decisions as `consider`, without acting on them.
   */
  private probe(g: JobGroup): void {
    const feasible = this.probeFeasible(this.probeOf(g, g.shortestTimeLimit()));
    this.setProbed(g, feasible, this.probedWouldReserve);
  }

  /** Group g's probe result in the current state (probed, or a job of its that failed with its chance), remembered for recall. */
  private setProbed(g: JobGroup, feasible: boolean, wouldReserve: boolean): void {
    g.feasible = feasible;
    g.wouldReserve = wouldReserve;
    g.checkedAt = this.planStamp;
    g.memoFeasible = feasible;
    g.memoWouldReserve = wouldReserve;
    g.memoEpoch = this.probeEpoch;
    g.memoReservation = this.reservationId;
    g.memoBackfill = this.backfills(g.shortestTimeLimit());
  }

  private setFeasibleWithoutBackfill(g: JobGroup, feasible: boolean): void {
    g.feasibleWithoutBackfill = feasible;
    g.noBackfillAt = this.planStamp;
    g.noBackfillMemoEpoch = this.probeEpoch;
    g.noBackfillMemoReservation = this.reservationId;
  }

  /**
   * Recalls group g's probe result from an earlier state (an earlier pass) when it holds now:
   * nothing a probe reads has changed since (probeEpoch), the reservation holds the same nodes
   * with the same expected start (or there is none in both), and the group's best chance,
   * its shortest time limit, may backfill in both or in neither (P4, the only reader of a time
   * limit). A probe would find the same again. Returns whether it did.
   */
  private recall(g: JobGroup): boolean {
    if (g.memoEpoch !== this.probeEpoch || g.memoReservation !== this.reservationId || g.memoBackfill !== this.backfills(g.shortestTimeLimit())) return false;
    g.feasible = g.memoFeasible;
    g.wouldReserve = g.memoWouldReserve;
    g.checkedAt = this.planStamp;
    return true;
  }

  /** P4: whether a job with time limit `timeLimit` may backfill on the pass's reservation now (mayBackfill). */
  private backfills(timeLimit: number | null): boolean {
    const r = this.reservation;
    return r !== null && r.expectedStart !== null && timeLimit !== null && this.now + timeLimit <= r.expectedStart;
  }

  /** Whether a probe's job could start; sets probedWouldReserve (a capacity blocker on some flavor). */
  private probeFeasible(job: EngineJob): boolean {
    this.probedWouldReserve = false;
    for (const f of this.flavorOrder(job)) {
      const outcome = this.planFlavor(job, f, true);
      if (outcome.kind === 'start') return true;
      if (outcome.kind === 'capacity') this.probedWouldReserve = true;
    }
    return false;
  }

  private probedWouldReserve = false;

  /**
   * What `job` would do on flavor f in the current state: start (on a placement, after
   * preempting victims) or the blocker. Changes nothing (victim searches that find nothing are
   * remembered until the next start, see VictimSearch). A probe (`probing`) only asks
   * whether the job would start or fail for lack of room: its capacity blocker leaves out when
   * protections end (`protectedUntil` null), which only a reason reads.
   */
  private planFlavor(job: EngineJob, f: number, probing = false): { kind: 'start'; placement: Placement; victims: readonly number[] } | Blocker {
    const shape = this.shapeOn(job.gpus, f);
    const fits = this.fitsGuaranteeOn(job, f);
    if (shape === null) return { kind: 'capacity', flavor: f, protectedUntil: null, fits };
    const teams = this.teams;
    if (!job.preemptible && teams.nonPreemptibleUsage[job.leaf * this.F + f]! + job.gpus > teams.guaranteed(job.leaf, f)) {
      return { kind: 'nonPreemptible', flavor: f };
    }
    const limitTeam = teams.overLimit(job.leaf, f, job.gpus);
    let lendingBlock: Blocker | null = null;
    if (limitTeam < 0) {
      const placement = this.placeIdle(job, f, shape);
      if (placement) {
        const locked = teams.lockedForOthers(job.leaf, f);
        if (this.fleet.idle[f]! - job.gpus >= locked) return { kind: 'start', placement, victims: NONE };
        lendingBlock = { kind: 'lending', flavor: f, locked };
      }
    }
    const selection = this.victims.selectVictims(job, f, shape, fits, probing);
    if (selection.victims !== null) {
      const freed = new Map<number, number>();
      let freedTotal = 0;
      for (const v of selection.victims) {
        const victim = this.jobs[v]!;
        freedTotal += victim.gpus;
        for (const t of teams.path[victim.leaf]!) freed.set(t, (freed.get(t) ?? 0) - victim.gpus);
      }
      const overLimit = teams.path[job.leaf]!.find((t) => teams.used(t, f) + (freed.get(t) ?? 0) + job.gpus > teams.limitOf(t, f));
      const locked = teams.lockedForOthers(job.leaf, f, freed);
      if (overLimit === undefined && this.fleet.idle[f]! + freedTotal - job.gpus >= locked) {
        return { kind: 'start', placement: selection.placement!, victims: selection.victims };
      }
    }
    if (limitTeam >= 0) return { kind: 'limit', team: limitTeam, flavor: f };
    if (lendingBlock) return lendingBlock;
    return { kind: 'capacity', flavor: f, protectedUntil: selection.protectedUntil, fits };
  }

  /** A placement on idle GPUs not reserved by an earlier job of this pass (or reserved, for backfill). */
  private placeIdle(job: EngineJob, f: number, shape: Shape): Placement | null {
    const fleet = this.fleet;
    // Reserved nodes serve the job they are reserved for (in a later round of the pass) and backfill.
    const usesReserved = this.reservation !== null && (this.reservation.job === job.handle || this.mayBackfill(job));
    if (shape.kind === 'single') {
      let node = fleet.bestFitNode(f, shape.size);
      if (usesReserved) {
        for (const r of this.reservation!.nodes) {
          if (fleet.nodeFlavor[r] !== f) continue;
          const free = fleet.free[r]!;
          if (free >= shape.size && (node < 0 || free < fleet.free[node]!)) node = r;
        }
      }
      return node < 0 ? null : { nodes: [node], perNode: shape.size };
    }
    const nodes = fleet.wholeNodes(f, shape.size, shape.count);
    if (nodes) return { nodes, perNode: shape.size };
    const backfill = usesReserved ? this.reservation!.nodes.filter((n) => fleet.nodeFlavor[n] === f) : [];
    if (backfill.length === 0) return null;
    const extra = backfill.filter((n) => fleet.nodeSize[n] === shape.size && fleet.free[n] === shape.size);
    const available = fleet.fullyIdleCount(f, shape.size);
    if (available + extra.length < shape.count) return null;
    const some = available > 0 ? (fleet.wholeNodes(f, shape.size, available) ?? []) : [];
    return { nodes: some.concat(extra.slice(0, shape.count - some.length)), perNode: shape.size };
  }

  /** P4 backfill: a job with a time limit that ends before the reserved job's expected start. */
  private mayBackfill(job: EngineJob): boolean {
    const r = this.reservation;
    return r !== null && r.expectedStart !== null && job.spec.timeLimit !== null && this.now + job.spec.timeLimit <= r.expectedStart;
  }

  // ---------------------------------------------------------------- reservations and reasons

  /** The job could not start: record why, and give it the pass's reservation if it is the first capacity failure (P4). */
  private explainBlocked(job: EngineJob, blockers: Blocker[]): void {
    const capacity = blockers.filter((b): b is Extract<Blocker, { kind: 'capacity' }> => b.kind === 'capacity');
    if (capacity.length > 0 && this.reservation === null) {
      this.reservation = this.reservations.reserveFor(job, capacity.map((b) => b.flavor));
      if (this.reservation) {
        for (const node of this.reservation.nodes) this.fleet.reserve(node);
        if (!sameRoom(this.reservation, this.lastReserved)) {
          this.lastReserved = this.reservation;
          this.reservationSeq++;
        }
        this.reservationId = this.reservationSeq;
      }
      this.planStamp++;
    }
    job.reason = this.reasonFor(job, blockers);
  }

  /**
   * The reason of a job that could not start. The decision's numbers are read now; the
   * sentence is only written when someone reads it (most reasons of a long queue are replaced
   * by the next pass unread, and building them eagerly was most of a busy pass's garbage).
   */
  private reasonFor(job: EngineJob, blockers: Blocker[]): Reason {
    const teams = this.teams;
    const team = job.spec.team;
    const gpus = job.gpus;
    const now = this.now;
    const primary = blockers[0]!;
    const f = primary.flavor;
    const flavor = this.fleet.flavors[f]!.name;
    const used = teams.used(job.leaf, f);
    const guaranteed = teams.guaranteed(job.leaf, f);
    const idle = this.fleet.idle[f]!;
    const held = (): string => `team ${team} holds ${used} of ${guaranteed} guaranteed ${flavor}`;
    switch (primary.kind) {
      case 'limit': {
        const t = primary.team;
        const whose = t === job.leaf ? `team ${team}` : `team ${teams.names[t]} (above ${team})`;
        const usedT = teams.used(t, f);
        const limit = teams.limitOf(t, f);
        return lazyReason('TeamLimit', null, () => `${whose} holds ${usedT} of its ${limit} ${flavor} limit; this job needs ${gpus} more`);
      }
      case 'nonPreemptible': {
        const np = teams.nonPreemptibleUsage[job.leaf * this.F + f]!;
        return lazyReason(
          'GuaranteeExhausted',
          null,
          () => `non-preemptible jobs of team ${team} hold ${np} of ${guaranteed} guaranteed ${flavor} and may only run inside the guarantee; this job needs ${gpus}`,
        );
      }
      case 'lending': {
        const locked = primary.locked;
        return lazyReason('GuaranteeExhausted', null, () => `${held()}; ${locked} of the ${idle} idle ${flavor} belong to other teams' guarantees and are not lendable`);
      }
      case 'capacity': {
        const r = this.reservation;
        const shapeText = this.shapeText(gpus, f);
        const until = primary.protectedUntil;
        if (until !== null) {
          return lazyReason(
            'MinRuntimeProtection',
            until,
            () => `${held()}; the borrowed GPUs it may reclaim are protected by minRuntime until t=${until} (in ~${roughDuration(until - now)})`,
            'minRuntime',
          );
        }
        if (r && r.job === job.handle) {
          const names = r.nodes.map((n) => this.fleet.nodeNames[n]!);
          // The reservation's start comes from time limits; where a run has none, the reason
          // estimates it from history on the same nodes (the decision is already made).
          const estimated = r.expectedStart === null ? this.reservations.estimatedStart(r, job) : null;
          const at = r.expectedStart ?? estimated;
          const basis = r.expectedStart !== null ? 'timeLimits' : 'history';
          const hasHistory = this.runHistory.size > 0;
          return lazyReason(
            'WaitingForCapacity',
            at,
            () => {
              const when =
                at === null
                  ? `start unknown: a run on them has no time limit${hasHistory ? ' and its team has too little history to estimate it' : ''}`
                  : `expected start in ~${roughDuration(at - now)} (t=${at}, ${basis === 'timeLimits' ? 'from time limits' : 'estimated from history'})`;
              return `needs ${shapeText}; ${idle} ${flavor} idle; nodes ${names.join(', ')} are reserved for it, ${when}`;
            },
            basis,
          );
        }
        const couldHaveFit = this.maxBlockAtStart[f]! >= Math.min(gpus, this.fleet.flavors[f]!.maxNodeSize) && this.idleAtStart[f]! >= gpus;
        if (r && r.flavor === f && r.nodes.some((n) => this.fleet.free[n]! >= Math.min(gpus, this.fleet.nodeSize[n]!))) {
          const holder = this.jobs[r.job]!.spec.id;
          const at = r.expectedStart;
          return lazyReason('ReservedForOtherJob', null, () => {
            const when = at === null ? 'start unknown' : `starts in ~${roughDuration(at - now)}`;
            return `${held()}; ${idle} ${flavor} idle, but the room of ${shapeText} is reserved for job ${holder} (${when})`;
          });
        }
        const idleAtStart = this.idleAtStart[f]!;
        if (couldHaveFit && idle < idleAtStart) {
          return lazyReason('LowerInOrder', null, () => `${held()}; ${idleAtStart} ${flavor} were idle when the pass began, but went to jobs ahead of it (guarantee first, class, fair share, submit time)`);
        }
        if (primary.fits) {
          return lazyReason('WaitingForCapacity', null, () => `${held()}, so it may reclaim, but no room of ${shapeText} can be made from ${idle} idle and reclaimable ${flavor}`);
        }
        return lazyReason('GuaranteeExhausted', null, () => `${held()}; it needs ${shapeText} to borrow and ${idle} ${flavor} are idle, none in such a block`);
      }
    }
  }

  private shapeText(gpus: number, f: number): string {
    const shape = this.shapeOn(gpus, f);
    const name = this.fleet.flavors[f]!.name;
    if (!shape || shape.kind === 'single') return `${gpus} ${name} on one node`;
    return `${shape.count} whole ${name} nodes of ${shape.size}`;
  }

  // ---------------------------------------------------------------- queries

  /** The earliest moment after `now` at which a running job's minRuntime protection ends, or null. */
  nextProtectionEnd(now: number): number | null {
    const q = this.protectionQueue;
    while (this.protectionHead < q.length) {
      const e = q[this.protectionHead]!;
      const job = this.jobs[e.job]!;
      const current = job.state === 'running' && job.runStart + this.policy.preemption.minRuntime === e.until;
      if (current && e.until > now) return e.until;
      this.protectionHead++;
    }
    if (this.protectionHead > 1024) {
      this.protectionQueue = q.slice(this.protectionHead);
      this.protectionHead = 0;
    }
    return null;
  }

  get pending(): number {
    return this.pendingCount;
  }

  get running(): number {
    return this.runningCount;
  }

  get lastPassReservation(): Reservation | null {
    return this.lastReservation;
  }

  /** Pending jobs of a leaf team in queue order (P1). */
  queueOf(team: string): number[] {
    const t = this.teams.byName.get(team);
    const q = t === undefined ? null : this.queues[t];
    return q ? [...q.liveEntries()].map((e) => e.job) : [];
  }

  /** Every pending job, team by team. */
  *pendingJobs(): IterableIterator<EngineJob> {
    for (const q of this.queues) if (q) for (const e of q.liveEntries()) yield this.jobs[e.job]!;
  }

  /** `node:gpus` pairs of a running job, sorted by node name. */
  placementOf(handle: number): { node: string; gpus: number }[] {
    const job = this.jobs[handle]!;
    return job.nodes
      .map((n) => ({ node: this.fleet.nodeNames[n]!, gpus: job.perNode }))
      .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  flavorName(f: number): string {
    return this.fleet.flavors[f]!.name;
  }
}


/** A reason whose sentence (`<code>: <details>`) is written on first read, then kept. */
function lazyReason(code: Reason['code'], expectedStart: number | null, details: () => string, basis: ExpectedStartBasis | null = null): Reason {
  let message: string | null = null;
  return {
    code,
    expectedStart,
    expectedStartBasis: expectedStart === null ? null : basis,
    get message(): string {
      message ??= `${code}: ${details()}`;
      return message;
    },
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Whether two reservations hold the same nodes with the same expected start (what a probe reads of one). */
function sameRoom(a: Reservation, b: Reservation | null): boolean {
  if (b === null || a.flavor !== b.flavor || a.expectedStart !== b.expectedStart || a.nodes.length !== b.nodes.length) return false;
  for (let i = 0; i < a.nodes.length; i++) if (a.nodes[i] !== b.nodes[i]) return false;
  return true;
}

/** An empty list, shared (no victims, no reserved nodes to backfill, the nodes of a job that does not run). */
const NONE: readonly number[] = [];

/**
 * Empties a scratch list the engine fills again soon (every pass) without freeing its storage:
 * `length = 0` frees it, and the next push allocates it again.
 */
function emptyList(list: unknown[]): void {
  while (list.length > 0) list.pop();
}
