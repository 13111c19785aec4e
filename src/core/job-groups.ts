// Pending jobs grouped by everything a pass decides a job by: its leaf team, class (priority
// and preemptibility), flavor and size. Two jobs of one group that a pass considers in the same
// state get the same outcome, except that a shorter time limit may backfill where a longer one
// may not (P4). So one probe per group (its shortest time limit) tells whether any of its jobs
// could start in that state: the engine's early exit asks this of every group that still has
// jobs to visit instead of visiting them one by one (see Engine.noGroupCanStart).

/** A min-heap of numbers with removal by value (lazy: removed values leave when they surface). */
class MinMultiset {
  private readonly heap: number[] = [];
  private readonly removed = new Map<number, number>();
  private count = 0;

  add(x: number): void {
    const h = this.heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= x) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = x;
    this.count++;
  }

  remove(x: number): void {
    this.removed.set(x, (this.removed.get(x) ?? 0) + 1);
    this.count--;
    // Dead values deeper in the heap are dropped when it is rebuilt.
    if (this.heap.length > 64 && this.heap.length > 2 * this.count) this.rebuild();
  }

  /** The smallest value present, or null when empty. */
  min(): number | null {
    const h = this.heap;
    while (h.length > 0) {
      const top = h[0]!;
      const dead = this.removed.get(top);
      if (dead === undefined) return top;
      if (dead === 1) this.removed.delete(top);
      else this.removed.set(top, dead - 1);
      this.pop();
    }
    return null;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]! < h[l]! ? r : l;
      if (h[c]! >= last) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }

  private rebuild(): void {
    const live: number[] = [];
    for (const x of this.heap) {
      const dead = this.removed.get(x);
      if (dead === undefined) live.push(x);
      else if (dead === 1) this.removed.delete(x);
      else this.removed.set(x, dead - 1);
    }
    this.heap.length = 0;
    this.count = 0;
    for (const x of live) this.add(x);
  }
}

export class JobGroup {
  /** Jobs of the group in their queue. */
  pending = 0;
  /** Of those, jobs the current round of the pass has visited (their time limits are set aside). */
  visited = 0;
  private readonly limits = new MinMultiset();
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

  constructor(
    readonly leaf: number,
    readonly priority: number,
    readonly preemptible: boolean,
    readonly flavor: number,
    readonly gpus: number,
  ) {}

  add(timeLimit: number | null): void {
    this.pending++;
    if (timeLimit !== null) this.limits.add(timeLimit);
  }

  remove(timeLimit: number | null): void {
    this.pending--;
    if (timeLimit !== null) this.limits.remove(timeLimit);
  }

  /** The current round visits a job of the group: it no longer counts for the probe. */
  visit(timeLimit: number | null): void {
    this.visited++;
    if (timeLimit !== null) this.limits.remove(timeLimit);
  }

  /** A new round (or the end of the pass): the job counts again. */
  unvisit(timeLimit: number | null): void {
    this.visited--;
    if (timeLimit !== null) this.limits.add(timeLimit);
  }

  /**
   * The time limit most likely to backfill among the jobs the round has not visited yet (the
   * shortest; null when none of them has one).
   */
  shortestTimeLimit(): number | null {
    return this.limits.min();
  }
}

/** Every group by key, and the groups that have pending jobs (in no meaningful order). */
export class JobGroups {
  private readonly byKey = new Map<string, JobGroup>();
  readonly active: JobGroup[] = [];

  of(leaf: number, priority: number, preemptible: boolean, flavor: number, gpus: number): JobGroup {
    const key = `${leaf}:${priority}:${preemptible ? 1 : 0}:${flavor}:${gpus}`;
    let group = this.byKey.get(key);
    if (!group) this.byKey.set(key, (group = new JobGroup(leaf, priority, preemptible, flavor, gpus)));
    return group;
  }

  add(group: JobGroup, timeLimit: number | null): void {
    group.add(timeLimit);
    if (group.slot < 0) {
      group.slot = this.active.length;
      this.active.push(group);
    }
  }

  remove(group: JobGroup, timeLimit: number | null): void {
    group.remove(timeLimit);
    if (group.pending === 0 && group.slot >= 0) {
      const last = this.active.pop()!;
      if (last !== group) {
        this.active[group.slot] = last;
        last.slot = group.slot;
      }
      group.slot = -1;
    }
  }
}
