// Pending jobs grouped by everything a pass decides a job by: its leaf team, class (priority
// and preemptibility), flavor and size. Two jobs of one group that a pass considers in the same
// state get the same outcome, except that a shorter time limit may backfill where a longer one
// may not (P4). So one probe per group (its shortest time limit) tells whether any of its jobs
// could start in that state: the engine's early exit asks this of every group that still has
// jobs to visit instead of visiting them one by one (see Engine.noGroupCanStart).

/**
 * The time limits of a group's jobs, with the ones the current round has visited set aside:
 * distinct values in ascending order with their counts. A visit is only noted (folded into the
 * counts when the minimum is next asked for), a new round forgets them all at once, and the
 * smallest value not entirely visited is found by a cursor that only moves forward until the
 * next change: a round that visits k jobs of a group costs O(k) in all, and little per job.
 */
class TimeLimits {
  private readonly values: number[] = [];
  private readonly counts = new Map<number, number>();
  private readonly visitedCounts = new Map<number, number>();
  /** Visits not yet folded into visitedCounts. */
  private readonly noted: number[] = [];
  private cursor = 0;

  add(x: number): void {
    const n = this.counts.get(x);
    this.counts.set(x, (n ?? 0) + 1);
    if (n === undefined) {
      const v = this.values;
      let lo = 0;
      let hi = v.length;
      if (hi > 0 && v[hi - 1]! < x) lo = hi;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (v[mid]! < x) lo = mid + 1;
        else hi = mid;
      }
      v.splice(lo, 0, x);
    }
    this.cursor = 0;
  }

  remove(x: number): void {
    const n = this.counts.get(x)!;
    if (n > 1) {
      this.counts.set(x, n - 1);
    } else {
      this.counts.delete(x);
      const v = this.values;
      let lo = 0;
      let hi = v.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (v[mid]! < x) lo = mid + 1;
        else hi = mid;
      }
      v.splice(lo, 1);
    }
    this.cursor = 0;
  }

  visit(x: number): void {
    this.noted.push(x);
  }

  /** A new round: no job is visited. */
  forgetVisits(): void {
    this.noted.length = 0;
    this.visitedCounts.clear();
    this.cursor = 0;
  }

  /** The smallest value with a job not visited, or null when none. */
  min(): number | null {
    for (const x of this.noted) this.visitedCounts.set(x, (this.visitedCounts.get(x) ?? 0) + 1);
    this.noted.length = 0;
    const v = this.values;
    while (this.cursor < v.length) {
      const x = v[this.cursor]!;
      if (this.counts.get(x)! > (this.visitedCounts.get(x) ?? 0)) return x;
      this.cursor++;
    }
    return null;
  }
}

export class JobGroup {
  /** Jobs of the group in their queue. */
  pending = 0;
  /** Of those, jobs the current round of the pass has visited (their time limits are set aside). */
  visited = 0;
  private readonly limits = new TimeLimits();
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
    if (timeLimit !== null) this.limits.visit(timeLimit);
  }

  /** A new round (or the end of the pass): every job of the group counts again. */
  forgetVisits(): void {
    this.visited = 0;
    this.limits.forgetVisits();
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
