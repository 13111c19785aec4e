// P1: one leaf team's pending jobs, in order: class priority (highest first), then
// `withinTeam` (fifo: submit time; las: fewest GPU-seconds received, then submit time),
// then submission position.
//
// A sorted array of entries with lazy deletion: an entry keeps a snapshot of its job's
// key, so a job that leaves (starts, is cancelled) and later returns (preempted) gets a
// fresh entry while the dead one still sorts correctly. Arrivals in time order append at
// the end; compaction runs when dead entries outnumber live ones.

export interface QueueEntry {
  readonly job: number;
  readonly priority: number;
  /** GPU-seconds received (las) or 0 (fifo). */
  readonly attained: number;
  readonly submit: number;
  readonly position: number;
  live: boolean;
}

export function entryBefore(a: QueueEntry, b: QueueEntry): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.attained !== b.attained) return a.attained < b.attained;
  if (a.submit !== b.submit) return a.submit < b.submit;
  return a.position < b.position;
}

export class TeamQueue {
  private entries: QueueEntry[] = [];
  private head = 0;
  private dead = 0;
  live = 0;

  insert(entry: QueueEntry): void {
    const entries = this.entries;
    let lo = this.head;
    let hi = entries.length;
    // Fast path: arrivals in order go last.
    if (hi === lo || entryBefore(entries[hi - 1]!, entry)) {
      entries.push(entry);
    } else {
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (entryBefore(entries[mid]!, entry)) lo = mid + 1;
        else hi = mid;
      }
      entries.splice(lo, 0, entry);
    }
    this.live++;
  }

  remove(entry: QueueEntry): void {
    if (!entry.live) return;
    entry.live = false;
    this.live--;
    this.dead++;
    const entries = this.entries;
    while (this.head < entries.length && !entries[this.head]!.live) {
      this.head++;
      this.dead--;
    }
  }

  /**
   * Undoes `insert(entry)` of a live entry (a rolled-back pass): it leaves the array as if it had
   * never been inserted, where `remove` would leave a dead entry behind.
   */
  withdraw(entry: QueueEntry): void {
    this.entries.splice(this.indexOf(entry), 1);
    if (entry.live) {
      entry.live = false;
      this.live--;
    }
  }

  /** Drops dead entries; only between passes, since it moves the indexes cursors point at. */
  maybeCompact(): void {
    if (this.dead > 64 && this.dead > this.live) this.compact();
  }

  /** Index of the first live entry at or after `from`, or -1. */
  nextLive(from: number): number {
    const entries = this.entries;
    for (let i = Math.max(from, this.head); i < entries.length; i++) if (entries[i]!.live) return i;
    return -1;
  }

  /** Index of an entry of this queue that is still in it (a dead entry may share its key). */
  indexOf(entry: QueueEntry): number {
    const entries = this.entries;
    let lo = this.head;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (entryBefore(entries[mid]!, entry)) lo = mid + 1;
      else hi = mid;
    }
    while (entries[lo] !== entry) lo++;
    return lo;
  }

  at(index: number): QueueEntry {
    return this.entries[index]!;
  }

  /** Live entries in order (for explanations and tests). */
  *liveEntries(): IterableIterator<QueueEntry> {
    for (let i = this.head; i < this.entries.length; i++) if (this.entries[i]!.live) yield this.entries[i]!;
  }

  private compact(): void {
    this.entries = this.entries.filter((e) => e.live);
    this.head = 0;
    this.dead = 0;
  }
}
