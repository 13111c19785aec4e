// Pending jobs grouped by everything a pass decides a job by: its leaf team, class (priority
// and preemptibility), flavor and size. Two jobs of one group that a pass considers in the same
// state get the same outcome, except that a shorter time limit may backfill where a longer one
// may not (P4). So one probe per group (its shortest time limit) tells whether any of its jobs
// could start in that state: the engine's early exit asks this of every group that still has
// jobs to visit instead of visiting them one by one (see Engine.noGroupCanStart).
//
// A group also keeps its jobs' queue entries in their team's queue order (team-queue.ts), so
// that the pass can find a group's first job at or after its team's cursor by binary search,
// and pass over a run of its team's queue at once (Engine.skipKnownFailures): what a round has
// passed over is a prefix of each group's entries, and what is left (how many, the shortest
// time limit) is a suffix, read from a segment tree in O(log n).
import type { QueueEntry } from './team-queue.js';
import { entryBefore } from './team-queue.js';

const NO_LIMIT = Number.POSITIVE_INFINITY;

export class JobGroup {
  /** Jobs of the group in their queue (live entries). */
  pending = 0;
  /** Of those, entries the current round has passed over (before `next`). */
  passed = 0;
  /** Index of the first entry the current round has not passed over. */
  private next = 0;
  /** Entries in queue order; dead ones (their job left the queue) stay until `compact`. */
  private entries: QueueEntry[] = [];
  /** Time limit of each entry's job (Infinity: none). */
  private limits: number[] = [];
  private dead = 0;
  /** Segment tree over the entries (leaves at cap + i): live entries, and their shortest time limit. */
  private cap = 0;
  private live = new Int32Array(0);
  private least = new Float64Array(0);
  /** Position in JobGroups.active, or -1. */
  slot = -1;
  /** The engine's plan stamp at which `feasible` was computed (-1: never). */
  checkedAt = -1;
  feasible = false;
  /**
   * With `feasible` false: whether a job of the group would fail for lack of room somewhere
   * (a capacity blocker), so that, while the pass has no reservation yet, it would take it.
   * A failure for a limit, M4 or lending changes nothing but the job's reason.
   */
  wouldReserve = false;
  /**
   * The plan stamp at which `feasibleWithoutBackfill` was computed (-1: never): whether a job of
   * the group that may not backfill (P4: no time limit, or one that ends after the reservation's
   * expected start) could start. With `feasible` true only thanks to its shortest time limit,
   * the group's other jobs are known to fail (Engine.knownToFail).
   */
  noBackfillAt = -1;
  feasibleWithoutBackfill = false;
  /**
   * The last results above with the state they were found in, kept from pass to pass (see
   * Engine.recall): the engine's probe epoch, its reservation id, and whether the group's
   * shortest time limit could backfill. -1: none.
   */
  memoEpoch = -1;
  memoReservation = -1;
  memoBackfill = false;
  memoFeasible = false;
  memoWouldReserve = false;
  noBackfillMemoEpoch = -1;
  noBackfillMemoReservation = -1;

  constructor(
    readonly leaf: number,
    readonly priority: number,
    readonly preemptible: boolean,
    readonly flavor: number,
    readonly gpus: number,
  ) {}

  /** A job of the group enters its queue (arrivals in queue order append). */
  add(entry: QueueEntry, timeLimit: number | null): void {
    this.pending++;
    const limit = timeLimit ?? NO_LIMIT;
    const n = this.entries.length;
    if (n === 0 || entryBefore(this.entries[n - 1]!, entry)) {
      this.entries.push(entry);
      this.limits.push(limit);
      if (n < this.cap) this.set(n, 1, limit);
      else this.rebuild();
      return;
    }
    const i = this.lowerBound(entry);
    this.entries.splice(i, 0, entry);
    this.limits.splice(i, 0, limit);
    if (i < this.next) {
      this.next++;
      this.passed++;
    }
    if (n < this.cap) this.insertAt(i, n + 1, limit);
    else this.rebuild();
  }

  /** A job of the group leaves its queue (started, cancelled). */
  remove(entry: QueueEntry): void {
    this.pending--;
    const i = this.indexOf(entry);
    this.set(i, 0, NO_LIMIT);
    this.dead++;
    if (i < this.next) this.passed--;
  }

  /** Undoes `add(entry)` (a rolled-back pass): the entry leaves as if it had never been added. */
  withdraw(entry: QueueEntry): void {
    const i = this.indexOf(entry);
    const n = this.entries.length;
    this.entries.splice(i, 1);
    this.limits.splice(i, 1);
    this.pending--;
    if (i < this.next) {
      this.next--;
      this.passed--;
    }
    this.removeAt(i, n);
  }

  /** Drops dead entries once they outnumber the live ones; only between passes (nothing passed over then). */
  maybeCompact(): void {
    if (this.next > 0 || !(this.pending === 0 ? this.dead > 0 : this.dead > 64 && this.dead > this.pending)) return;
    const entries: QueueEntry[] = [];
    const limits: number[] = [];
    for (let i = 0; i < this.entries.length; i++) {
      if (!this.entries[i]!.live) continue;
      entries.push(this.entries[i]!);
      limits.push(this.limits[i]!);
    }
    this.entries = entries;
    this.limits = limits;
    this.dead = 0;
    this.next = 0;
    this.passed = 0;
    this.rebuild(true);
  }

  /** Whether the current round has jobs of the group left to visit. */
  hasUnvisited(): boolean {
    return this.pending > this.passed;
  }

  /**
   * The current round passes over every entry before `entry` (an entry of the group, or any
   * key in queue order); null: all of them. Returns how many live entries that newly passes.
   */
  passBefore(entry: QueueEntry | null): number {
    return this.passTo(entry === null ? this.entries.length : this.lowerBound(entry));
  }

  /** The current round passes over `entry`, an entry of the group, and everything before it. */
  passThrough(entry: QueueEntry): number {
    return this.passTo(this.indexOf(entry) + 1);
  }

  /** Whether the round has passed anything (so that `forgetVisits` has work to do). */
  get touched(): boolean {
    return this.next > 0;
  }

  /** A new round (or the end of the pass): every job of the group counts again. */
  forgetVisits(): void {
    this.next = 0;
    this.passed = 0;
  }

  /**
   * The time limit most likely to backfill among the jobs the round has not passed over yet
   * (the shortest; null when none of them has one).
   */
  shortestTimeLimit(): number | null {
    const m = this.suffixLeast(this.next);
    return m === NO_LIMIT ? null : m;
  }

  /** The first live entry at or after `key` (any key in queue order), or null. */
  firstFrom(key: QueueEntry): QueueEntry | null {
    const i = this.firstLiveFrom(this.lowerBound(key));
    return i < 0 ? null : this.entries[i]!;
  }

  /** The first live entry after `entry` (an entry of the group), or null. */
  firstAfter(entry: QueueEntry): QueueEntry | null {
    const i = this.firstLiveFrom(this.indexOf(entry) + 1);
    return i < 0 ? null : this.entries[i]!;
  }

  /**
   * The first live entry at or after `entry` (an entry of the group; with `after`, after it)
   * whose job may backfill before `end` at `now`: a time limit t with now + t <= end. Null if none.
   */
  firstBackfilling(entry: QueueEntry, after: boolean, now: number, end: number): QueueEntry | null {
    const from = this.indexOf(entry) + (after ? 1 : 0);
    if (from >= this.entries.length) return null;
    // A subtree holds such an entry iff its shortest limit is one (dead entries hold no limit).
    const least = this.least;
    let node = from + this.cap;
    if (!(now + least[node]! <= end)) {
      // Climb until a right sibling holds one, then descend to its leftmost one.
      for (;;) {
        if ((node & 1) === 0 && now + least[node + 1]! <= end) {
          node++;
          break;
        }
        node >>= 1;
        if (node <= 1) return null;
      }
      while (node < this.cap) node = now + least[2 * node]! <= end ? 2 * node : 2 * node + 1;
    }
    return this.entries[node - this.cap]!;
  }

  /** The last live entry, or null. */
  last(): QueueEntry | null {
    if (this.pending === 0) return null;
    // Descend to the rightmost leaf with a live entry.
    let node = 1;
    while (node < this.cap) node = this.live[2 * node + 1]! > 0 ? 2 * node + 1 : 2 * node;
    return this.entries[node - this.cap]!;
  }

  private passTo(i: number): number {
    if (i <= this.next) return 0;
    const n = this.count(this.next, i);
    this.next = i;
    this.passed += n;
    return n;
  }

  /** First index whose entry does not come before `key`. */
  private lowerBound(key: QueueEntry): number {
    const v = this.entries;
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (entryBefore(v[mid]!, key)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of an entry of the group (a dead entry and a live one of the same job may share a key). */
  private indexOf(entry: QueueEntry): number {
    let i = this.lowerBound(entry);
    while (this.entries[i] !== entry) i++;
    return i;
  }

  /** The tree over the entries again; `resize`: sized afresh to them (a compaction), else it only grows. */
  private rebuild(resize = false): void {
    const n = this.entries.length;
    let cap = resize ? 16 : Math.max(this.cap, 16);
    while (cap < n) cap *= 2;
    // Same size: the arrays are reused (a group that empties and fills again, the common case,
    // allocated two new ones each time).
    if (cap !== this.cap) {
      this.cap = cap;
      this.live = new Int32Array(2 * cap);
      this.least = new Float64Array(2 * cap);
    }
    this.live.fill(0);
    this.least.fill(NO_LIMIT);
    for (let i = 0; i < n; i++) {
      if (!this.entries[i]!.live) continue;
      this.live[cap + i] = 1;
      this.least[cap + i] = this.limits[i]!;
    }
    for (let node = cap - 1; node >= 1; node--) {
      this.live[node] = this.live[2 * node]! + this.live[2 * node + 1]!;
      this.least[node] = Math.min(this.least[2 * node]!, this.least[2 * node + 1]!);
    }
  }

  /**
   * A middle insert (a preempted job back in its queue) without rebuilding the tree: the leaves
   * from i on move one place right, then only their ancestors are computed again. `n`: entries now.
   */
  /** The segment tree's leaves after i move one to the left (entry i is gone; there were n). */
  private removeAt(i: number, n: number): void {
    const cap = this.cap;
    this.live.copyWithin(cap + i, cap + i + 1, cap + n);
    this.least.copyWithin(cap + i, cap + i + 1, cap + n);
    this.live[cap + n - 1] = 0;
    this.least[cap + n - 1] = NO_LIMIT;
    for (let lo = (cap + i) >> 1, hi = (cap + n - 1) >> 1; lo >= 1; lo >>= 1, hi >>= 1) {
      for (let node = lo; node <= hi; node++) {
        this.live[node] = this.live[2 * node]! + this.live[2 * node + 1]!;
        this.least[node] = Math.min(this.least[2 * node]!, this.least[2 * node + 1]!);
      }
    }
  }

  private insertAt(i: number, n: number, limit: number): void {
    const cap = this.cap;
    this.live.copyWithin(cap + i + 1, cap + i, cap + n - 1);
    this.least.copyWithin(cap + i + 1, cap + i, cap + n - 1);
    this.live[cap + i] = 1;
    this.least[cap + i] = limit;
    for (let lo = (cap + i) >> 1, hi = (cap + n - 1) >> 1; lo >= 1; lo >>= 1, hi >>= 1) {
      for (let node = lo; node <= hi; node++) {
        this.live[node] = this.live[2 * node]! + this.live[2 * node + 1]!;
        this.least[node] = Math.min(this.least[2 * node]!, this.least[2 * node + 1]!);
      }
    }
  }

  private set(i: number, live: number, limit: number): void {
    let node = this.cap + i;
    this.live[node] = live;
    this.least[node] = limit;
    for (node >>= 1; node >= 1; node >>= 1) {
      this.live[node] = this.live[2 * node]! + this.live[2 * node + 1]!;
      this.least[node] = Math.min(this.least[2 * node]!, this.least[2 * node + 1]!);
    }
  }

  /** Live entries in [from, to). */
  private count(from: number, to: number): number {
    let n = 0;
    for (let l = from + this.cap, r = to + this.cap; l < r; l >>= 1, r >>= 1) {
      if (l & 1) n += this.live[l++]!;
      if (r & 1) n += this.live[--r]!;
    }
    return n;
  }

  /** The shortest time limit of the live entries from `from` on. */
  private suffixLeast(from: number): number {
    let m = NO_LIMIT;
    for (let l = from + this.cap, r = 2 * this.cap; l < r; l >>= 1, r >>= 1) {
      if (l & 1) m = Math.min(m, this.least[l++]!);
      if (r & 1) m = Math.min(m, this.least[--r]!);
    }
    return m;
  }

  /** The first index at or after `from` with a live entry, or -1. */
  private firstLiveFrom(from: number): number {
    if (from >= this.entries.length) return -1;
    let node = from + this.cap;
    if (this.live[node]! > 0) return from;
    // Climb until a right sibling holds a live entry, then descend to its leftmost one.
    for (;;) {
      if ((node & 1) === 0 && this.live[node + 1]! > 0) {
        node++;
        break;
      }
      node >>= 1;
      if (node <= 1) return -1;
    }
    while (node < this.cap) node = this.live[2 * node]! > 0 ? 2 * node : 2 * node + 1;
    return node - this.cap;
  }
}

/** Every group by key, and the groups that have pending jobs (in no meaningful order). */
export class JobGroups {
  private readonly byKey = new Map<string, JobGroup>();
  readonly active: JobGroup[] = [];
  /** Every group of each leaf team. */
  private readonly byLeaf = new Map<number, JobGroup[]>();

  of(leaf: number, priority: number, preemptible: boolean, flavor: number, gpus: number): JobGroup {
    const key = `${leaf}:${priority}:${preemptible ? 1 : 0}:${flavor}:${gpus}`;
    let group = this.byKey.get(key);
    if (!group) {
      this.byKey.set(key, (group = new JobGroup(leaf, priority, preemptible, flavor, gpus)));
      const list = this.byLeaf.get(leaf);
      if (list) list.push(group);
      else this.byLeaf.set(leaf, [group]);
    }
    return group;
  }

  /** The groups of a leaf team (some may have no pending job). */
  ofLeaf(leaf: number): readonly JobGroup[] {
    return this.byLeaf.get(leaf) ?? [];
  }

  add(group: JobGroup, entry: QueueEntry, timeLimit: number | null): void {
    group.add(entry, timeLimit);
    if (group.slot < 0) {
      group.slot = this.active.length;
      this.active.push(group);
    }
  }

  remove(group: JobGroup, entry: QueueEntry): void {
    group.remove(entry);
    if (this.leaveIfEmpty(group)) group.maybeCompact();
  }

  /**
   * Undoes `add` (a rolled-back pass): a group that had no pending job leaves `active` again, from
   * the end where add put it (undone last first, so the order of `active` is as before).
   */
  withdraw(group: JobGroup, entry: QueueEntry): void {
    group.withdraw(entry);
    this.leaveIfEmpty(group);
  }

  /** A group with no pending job leaves `active` (the last one takes its slot); true if it left. */
  private leaveIfEmpty(group: JobGroup): boolean {
    if (group.pending !== 0 || group.slot < 0) return false;
    const last = this.active.pop()!;
    if (last !== group) {
      this.active[group.slot] = last;
      last.slot = group.slot;
    }
    group.slot = -1;
    return true;
  }

  /** Between passes: groups drop their dead entries once these outnumber the live ones. */
  maybeCompact(): void {
    for (const g of this.active) g.maybeCompact();
  }
}
