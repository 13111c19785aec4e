// Counts per small integer key (GPU sizes, class priorities): the engine's pending, visited and
// unprotected tallies behind its early-exit bounds. A key keeps its slot once seen (there are only
// as many as distinct job sizes and classes), so no update allocates. A Map that loses its last
// key, or is cleared, allocates a new table in V8: with a clear or two and several such deletes
// in every pass, that was a large part of a long replay's garbage.

export class Counts {
  /** Slot of each key seen; keys and counts by slot, in the order keys were first seen. */
  private readonly slot = new Map<number, number>();
  readonly keys: number[] = [];
  readonly counts: number[] = [];
  /** How many keys have a count other than 0. */
  private nonZero = 0;

  /** Adds `by` (may be negative) to the count of `key`. */
  add(key: number, by: number): void {
    let i = this.slot.get(key);
    if (i === undefined) {
      i = this.keys.length;
      this.slot.set(key, i);
      this.keys.push(key);
      this.counts.push(0);
    }
    const before = this.counts[i]!;
    const after = before + by;
    this.counts[i] = after;
    if (before === 0 && after !== 0) this.nonZero++;
    else if (before !== 0 && after === 0) this.nonZero--;
  }

  get(key: number): number {
    const i = this.slot.get(key);
    return i === undefined ? 0 : this.counts[i]!;
  }

  /** True when every count is 0. */
  get empty(): boolean {
    return this.nonZero === 0;
  }

  /** The smallest key with a count other than 0; Infinity when every count is 0. */
  lowestKey(): number {
    let min = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.keys.length; i++) if (this.counts[i] !== 0 && this.keys[i]! < min) min = this.keys[i]!;
    return min;
  }

  /** Whether some key above `bound` has a count other than 0. */
  anyKeyAbove(bound: number): boolean {
    for (let i = 0; i < this.keys.length; i++) if (this.counts[i] !== 0 && this.keys[i]! > bound) return true;
    return false;
  }

  /** Every count back to 0 (the keys stay). */
  clear(): void {
    if (this.nonZero === 0) return;
    this.counts.fill(0);
    this.nonZero = 0;
  }
}

/** Smallest key whose pending count exceeds its visited count; 0 when none remains. */
export function minRemaining(pending: Counts, visited: Counts): number {
  let min = 0;
  const { keys, counts } = pending;
  for (let i = 0; i < keys.length; i++) {
    const size = keys[i]!;
    if ((min === 0 || size < min) && counts[i]! > visited.get(size)) min = size;
  }
  return min;
}
