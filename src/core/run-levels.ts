// Preemptible runs counted per class level, per (leaf, flavor) and, summed over the leaves
// that borrow, per flavor. Victim search asks these counts before it scans any run: a job that
// may only take lower-class runs (class preemption within its team or between borrowers) finds
// nothing when no such run exists, and on a congested fleet that was most searches, each a scan
// of every borrowed run. The engine keeps them on every start, end, end of protection and
// change of a leaf's borrowing (engine.ts, takeRun / releaseRun / expireProtections / trackLeaf).
export class RunLevels {
  /** Distinct class priorities, ascending; a run's level is its priority's index here. */
  private readonly priorities: number[];
  private readonly levelOf = new Map<number, number>();
  private readonly L: number;
  /** Preemptible runs per [(leaf * F + f) * L + level], and those past minRuntime. */
  private readonly running: Int32Array;
  private readonly unprotected: Int32Array;
  /** The same summed over the (leaf, f) pairs counted as borrowing, per [f * L + level]. */
  private readonly borrowedRunning: Int32Array;
  private readonly borrowedUnprotected: Int32Array;
  /** Per [leaf * F + f]: 1 when the pair's runs are in the borrowed sums. */
  private readonly counted: Uint8Array;

  constructor(
    teams: number,
    private readonly F: number,
    priorities: readonly number[],
  ) {
    this.priorities = [...new Set(priorities)].sort((a, b) => a - b);
    this.priorities.forEach((p, i) => this.levelOf.set(p, i));
    this.L = this.priorities.length;
    this.running = new Int32Array(teams * F * this.L);
    this.unprotected = new Int32Array(teams * F * this.L);
    this.borrowedRunning = new Int32Array(F * this.L);
    this.borrowedUnprotected = new Int32Array(F * this.L);
    this.counted = new Uint8Array(teams * F);
  }

  /** A preemptible run of `leaf` on f at class `priority`: `running` and `unprotected` change by these deltas. */
  change(leaf: number, f: number, priority: number, running: number, unprotected: number): void {
    const k = leaf * this.F + f;
    const level = this.levelOf.get(priority)!;
    this.running[k * this.L + level]! += running;
    this.unprotected[k * this.L + level]! += unprotected;
    if (this.counted[k]) {
      this.borrowedRunning[f * this.L + level]! += running;
      this.borrowedUnprotected[f * this.L + level]! += unprotected;
    }
  }

  /** Whether `leaf` borrows on f now (its runs count in the borrowed sums). */
  setBorrowing(leaf: number, f: number, borrows: boolean): void {
    const k = leaf * this.F + f;
    if ((this.counted[k] === 1) === borrows) return;
    this.counted[k] = borrows ? 1 : 0;
    const sign = borrows ? 1 : -1;
    for (let level = 0; level < this.L; level++) {
      this.borrowedRunning[f * this.L + level]! += sign * this.running[k * this.L + level]!;
      this.borrowedUnprotected[f * this.L + level]! += sign * this.unprotected[k * this.L + level]!;
    }
  }

  /** Does `leaf` hold a preemptible run on f of a class below `priority` (past minRuntime if `unprotectedOnly`)? */
  leafHasBelow(leaf: number, f: number, priority: number, unprotectedOnly: boolean): boolean {
    const counts = unprotectedOnly ? this.unprotected : this.running;
    const base = (leaf * this.F + f) * this.L;
    for (let level = 0; level < this.L && this.priorities[level]! < priority; level++) if (counts[base + level]! > 0) return true;
    return false;
  }

  /** Does some borrowing leaf hold a preemptible run on f of a class below `priority` (past minRuntime if `unprotectedOnly`)? */
  borrowedHasBelow(f: number, priority: number, unprotectedOnly: boolean): boolean {
    const counts = unprotectedOnly ? this.borrowedUnprotected : this.borrowedRunning;
    const base = f * this.L;
    for (let level = 0; level < this.L && this.priorities[level]! < priority; level++) if (counts[base + level]! > 0) return true;
    return false;
  }
}
