// The fleet as flat arrays plus incremental indexes of idle GPUs, so placement costs what
// changed, not the size of the fleet (DESIGN.md, "Incremental state for speed").
//
// - Per flavor and idle count k, a bitset of the *available* nodes (not reserved in the
//   current pass) with exactly k idle GPUs. Best fit for a one-node job is the first non-empty
//   bucket at or above its size, and within it the lowest node index, so ties always go to the
//   first node in pool order (h100-a-0 before h100-a-1): placements are predictable.
// - Per rack, the count of available nodes that are entirely idle, for whole-node jobs
//   (Q1: take whole nodes from as few racks as possible). Racks are runs of consecutive nodes.
import type { Fleet } from '../../src/core/model.js';

/** A set of node indexes with O(1) add/remove and fast "first member at or after i". */
class NodeBitset {
  private readonly words: Uint32Array;
  /** Bit w of summary[w >> 5] is set when words[w] is non-zero. */
  private readonly summary: Uint32Array;
  size = 0;

  constructor(nodes: number) {
    this.words = new Uint32Array(Math.ceil(nodes / 32) + 1);
    this.summary = new Uint32Array(Math.ceil(this.words.length / 32) + 1);
  }

  add(node: number): void {
    const w = node >>> 5;
    const before = this.words[w]!;
    const after = before | (1 << (node & 31));
    if (after === before) return;
    this.words[w] = after;
    this.summary[w >>> 5]! |= 1 << (w & 31);
    this.size++;
  }

  remove(node: number): void {
    const w = node >>> 5;
    const before = this.words[w]!;
    const after = before & ~(1 << (node & 31));
    if (after === before) return;
    this.words[w] = after;
    if (after === 0) this.summary[w >>> 5]! &= ~(1 << (w & 31));
    this.size--;
  }

  /** The smallest member >= from, or -1. */
  next(from: number): number {
    if (this.size === 0) return -1;
    let w = from >>> 5;
    if (w >= this.words.length) return -1;
    const first = this.words[w]! & (~0 << (from & 31));
    if (first !== 0) return (w << 5) + lowestBit(first);
    w++;
    // Skip empty words 32 at a time through the summary.
    let s = w >>> 5;
    let mask = s < this.summary.length ? this.summary[s]! & (~0 << (w & 31)) : 0;
    while (mask === 0) {
      s++;
      if (s >= this.summary.length) return -1;
      mask = this.summary[s]!;
    }
    const word = (s << 5) + lowestBit(mask);
    return (word << 5) + lowestBit(this.words[word]!);
  }
}

function lowestBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}

export interface FlavorInfo {
  readonly name: string;
  readonly index: number;
  readonly capacity: number;
  /** Largest node size of this flavor. */
  readonly maxNodeSize: number;
  /** Distinct node sizes, ascending. */
  readonly nodeSizes: readonly number[];
  /** Node count per node size. */
  readonly nodesBySize: ReadonlyMap<number, number>;
  /** Racks of this flavor (global rack indexes), in pool order. */
  readonly racks: readonly number[];
}

export class FleetIndex {
  readonly flavors: FlavorInfo[] = [];
  readonly flavorByName = new Map<string, number>();
  readonly nodeNames: string[] = [];
  readonly nodeFlavor: Int32Array;
  readonly nodeSize: Int32Array;
  readonly nodeRack: Int32Array;
  /** Idle GPUs per node (reserved or not). */
  readonly free: Int32Array;
  /** 1 while a node is reserved in the current pass. */
  readonly reserved: Uint8Array;
  /** First node and node count of each rack (racks are consecutive nodes of one pool). */
  readonly rackFirst: number[] = [];
  readonly rackLength: number[] = [];
  /** Total idle GPUs per flavor (reserved nodes included). */
  readonly idle: Float64Array;
  private readonly buckets: NodeBitset[][] = [];
  /** Available, entirely idle nodes per rack. */
  private readonly rackFull: Int32Array;

  constructor(fleet: Fleet) {
    const nodeCount = fleet.pools.reduce((n, p) => n + p.nodes, 0);
    this.nodeFlavor = new Int32Array(nodeCount);
    this.nodeSize = new Int32Array(nodeCount);
    this.nodeRack = new Int32Array(nodeCount);
    this.free = new Int32Array(nodeCount);
    this.reserved = new Uint8Array(nodeCount);
    const flavorNames: string[] = [];
    for (const pool of fleet.pools) if (!flavorNames.includes(pool.flavor)) flavorNames.push(pool.flavor);
    const maxSize = new Map<string, number>();
    for (const pool of fleet.pools) maxSize.set(pool.flavor, Math.max(maxSize.get(pool.flavor) ?? 0, pool.gpusPerNode));
    flavorNames.forEach((name, index) => {
      this.flavorByName.set(name, index);
      const size = maxSize.get(name)!;
      this.buckets.push(Array.from({ length: size + 1 }, () => new NodeBitset(nodeCount)));
    });
    const racksOf: number[][] = flavorNames.map(() => []);
    const capacity = flavorNames.map(() => 0);
    const bySize = flavorNames.map(() => new Map<number, number>());
    let node = 0;
    for (const pool of fleet.pools) {
      const f = this.flavorByName.get(pool.flavor)!;
      const rackSize = pool.rackSize ?? pool.nodes;
      let rack = -1;
      for (let i = 0; i < pool.nodes; i++, node++) {
        if (i % rackSize === 0) {
          rack = this.rackFirst.length;
          this.rackFirst.push(node);
          this.rackLength.push(0);
          racksOf[f]!.push(rack);
        }
        this.nodeNames.push(`${pool.name}-${i}`);
        this.nodeFlavor[node] = f;
        this.nodeSize[node] = pool.gpusPerNode;
        this.nodeRack[node] = rack;
        this.free[node] = pool.gpusPerNode;
        this.rackLength[rack]!++;
        this.buckets[f]![pool.gpusPerNode]!.add(node);
      }
      capacity[f]! += pool.nodes * pool.gpusPerNode;
      bySize[f]!.set(pool.gpusPerNode, (bySize[f]!.get(pool.gpusPerNode) ?? 0) + pool.nodes);
    }
    this.rackFull = Int32Array.from(this.rackLength);
    this.idle = Float64Array.from(capacity);
    flavorNames.forEach((name, index) => {
      this.flavors.push({
        name,
        index,
        capacity: capacity[index]!,
        maxNodeSize: maxSize.get(name)!,
        nodeSizes: [...bySize[index]!.keys()].sort((a, b) => a - b),
        nodesBySize: bySize[index]!,
        racks: racksOf[index]!,
      });
    });
  }

  get nodeCount(): number {
    return this.nodeNames.length;
  }

  /** Changes a node's idle GPUs by `delta` (negative: GPUs taken). */
  adjust(node: number, delta: number): void {
    const before = this.free[node]!;
    const after = before + delta;
    const f = this.nodeFlavor[node]!;
    this.free[node] = after;
    this.idle[f]! += delta;
    if (this.reserved[node] === 1) return;
    const flavorBuckets = this.buckets[f]!;
    flavorBuckets[before]!.remove(node);
    flavorBuckets[after]!.add(node);
    const size = this.nodeSize[node]!;
    if (before === size) this.rackFull[this.nodeRack[node]!]!--;
    if (after === size) this.rackFull[this.nodeRack[node]!]!++;
  }

  /** Takes a node out of the available sets for the rest of the pass. */
  reserve(node: number): void {
    if (this.reserved[node] === 1) return;
    this.buckets[this.nodeFlavor[node]!]![this.free[node]!]!.remove(node);
    if (this.free[node] === this.nodeSize[node]) this.rackFull[this.nodeRack[node]!]!--;
    this.reserved[node] = 1;
  }

  unreserve(node: number): void {
    if (this.reserved[node] === 0) return;
    this.reserved[node] = 0;
    this.buckets[this.nodeFlavor[node]!]![this.free[node]!]!.add(node);
    if (this.free[node] === this.nodeSize[node]) this.rackFull[this.nodeRack[node]!]!++;
  }

  /** Largest number of idle GPUs on one available node of flavor f. */
  maxAvailableOnOneNode(f: number): number {
    const flavorBuckets = this.buckets[f]!;
    for (let k = flavorBuckets.length - 1; k > 0; k--) if (flavorBuckets[k]!.size > 0) return k;
    return 0;
  }

  /** Q1 best fit: the available node with at least `gpus` idle that leaves the fewest idle (lowest index on ties). */
  bestFitNode(f: number, gpus: number): number {
    const flavorBuckets = this.buckets[f]!;
    for (let k = gpus; k < flavorBuckets.length; k++) {
      const node = flavorBuckets[k]!.next(0);
      if (node >= 0) return node;
    }
    return -1;
  }

  /**
   * Up to `count` available nodes of flavor f that can hold `need` GPUs (size >= need, or
   * size === need for whole nodes), the most idle first, then by index.
   */
  mostIdleNodes(f: number, count: number, need: number, whole: boolean): number[] {
    const chosen: number[] = [];
    const flavorBuckets = this.buckets[f]!;
    const fits = (node: number): boolean => (whole ? this.nodeSize[node] === need : this.nodeSize[node]! >= need);
    for (let k = flavorBuckets.length - 1; k >= 0 && chosen.length < count; k--) {
      const bucket = flavorBuckets[k]!;
      if (bucket.size === 0) continue;
      for (let node = bucket.next(0); node >= 0 && chosen.length < count; node = bucket.next(node + 1)) {
        if (fits(node)) chosen.push(node);
      }
    }
    return chosen;
  }

  /** Available entirely-idle nodes of flavor f and the given size. */
  fullyIdleCount(f: number, size: number): number {
    let n = 0;
    for (const rack of this.flavors[f]!.racks) if (this.nodeSize[this.rackFirst[rack]!] === size) n += this.rackFull[rack]!;
    return n;
  }

  /**
   * Q1: `count` available entirely-idle nodes of `size`, from as few racks as possible:
   * one rack that can hold the job (the one it fills best), else the racks with the most
   * idle nodes first. Lowest indexes within a rack. Null when there are not enough.
   */
  wholeNodes(f: number, size: number, count: number): number[] | null {
    const racks = this.flavors[f]!.racks;
    let total = 0;
    let bestRack = -1;
    let bestRackCount = Infinity;
    for (const rack of racks) {
      const n = this.rackFullOfSize(rack, size);
      total += n;
      if (n >= count && n < bestRackCount) {
        bestRack = rack;
        bestRackCount = n;
      }
    }
    if (total < count) return null;
    const chosen: number[] = [];
    const bucket = this.buckets[f]![size]!;
    const take = (rack: number): void => {
      const end = this.rackFirst[rack]! + this.rackLength[rack]!;
      for (let node = bucket.next(this.rackFirst[rack]!); node >= 0 && node < end && chosen.length < count; node = bucket.next(node + 1)) {
        chosen.push(node);
      }
    };
    if (bestRack >= 0) {
      take(bestRack);
    } else {
      const ordered = racks
        .map((rack) => ({ rack, n: this.rackFullOfSize(rack, size) }))
        .filter((r) => r.n > 0)
        .sort((a, b) => b.n - a.n || a.rack - b.rack);
      for (const { rack } of ordered) {
        if (chosen.length === count) break;
        take(rack);
      }
    }
    return chosen;
  }

  private rackFullOfSize(rack: number, size: number): number {
    return this.nodeSize[this.rackFirst[rack]!] === size ? this.rackFull[rack]! : 0;
  }
}
