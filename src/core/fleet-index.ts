// The fleet as flat arrays plus incremental indexes of idle GPUs, so placement costs
// what changed, not the size of the fleet (DESIGN.md, "Incremental state for speed").
//
// - Per flavor, `buckets[k]` is the set of *available* nodes with exactly k idle GPUs
//   (available = not reserved in the current pass). Best fit for a one-node job is the
//   first non-empty bucket at or above its size.
// - Per rack, the set of available nodes that are entirely idle, for whole-node jobs
//   (Q1: take whole nodes from as few racks as possible).
// Sets are arrays with a position index: O(1) add/remove, deterministic iteration order.
import type { Fleet } from './model.js';

class IndexedSet {
  readonly items: number[] = [];
  constructor(private readonly pos: Int32Array) {}
  add(node: number): void {
    this.pos[node] = this.items.length;
    this.items.push(node);
  }
  remove(node: number): void {
    const i = this.pos[node]!;
    const last = this.items.pop()!;
    if (last !== node) {
      this.items[i] = last;
      this.pos[last] = i;
    }
    this.pos[node] = -1;
  }
  get size(): number {
    return this.items.length;
  }
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
  readonly rackNodes: number[][] = [];
  /** Total idle GPUs per flavor (reserved nodes included). */
  readonly idle: Float64Array;
  private readonly buckets: IndexedSet[][] = [];
  private readonly rackFull: IndexedSet[] = [];

  constructor(fleet: Fleet) {
    const nodeCount = fleet.pools.reduce((n, p) => n + p.nodes, 0);
    this.nodeFlavor = new Int32Array(nodeCount);
    this.nodeSize = new Int32Array(nodeCount);
    this.nodeRack = new Int32Array(nodeCount);
    this.free = new Int32Array(nodeCount);
    this.reserved = new Uint8Array(nodeCount);
    const bucketPos = new Int32Array(nodeCount).fill(-1);
    const rackPos = new Int32Array(nodeCount).fill(-1);
    const flavorNames: string[] = [];
    for (const pool of fleet.pools) if (!flavorNames.includes(pool.flavor)) flavorNames.push(pool.flavor);
    const maxSize = new Map<string, number>();
    for (const pool of fleet.pools) maxSize.set(pool.flavor, Math.max(maxSize.get(pool.flavor) ?? 0, pool.gpusPerNode));
    flavorNames.forEach((name, index) => {
      this.flavorByName.set(name, index);
      const size = maxSize.get(name)!;
      this.buckets.push(Array.from({ length: size + 1 }, () => new IndexedSet(bucketPos)));
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
          rack = this.rackNodes.length;
          this.rackNodes.push([]);
          this.rackFull.push(new IndexedSet(rackPos));
          racksOf[f]!.push(rack);
        }
        this.nodeNames.push(`${pool.name}-${i}`);
        this.nodeFlavor[node] = f;
        this.nodeSize[node] = pool.gpusPerNode;
        this.nodeRack[node] = rack;
        this.free[node] = pool.gpusPerNode;
        this.rackNodes[rack]!.push(node);
        this.buckets[f]![pool.gpusPerNode]!.add(node);
        this.rackFull[rack]!.add(node);
      }
      capacity[f]! += pool.nodes * pool.gpusPerNode;
      bySize[f]!.set(pool.gpusPerNode, (bySize[f]!.get(pool.gpusPerNode) ?? 0) + pool.nodes);
    }
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
    if (before === size) this.rackFull[this.nodeRack[node]!]!.remove(node);
    if (after === size) this.rackFull[this.nodeRack[node]!]!.add(node);
  }

  /** Takes a node out of the available sets for the rest of the pass. */
  reserve(node: number): void {
    if (this.reserved[node] === 1) return;
    const f = this.nodeFlavor[node]!;
    this.buckets[f]![this.free[node]!]!.remove(node);
    if (this.free[node] === this.nodeSize[node]) this.rackFull[this.nodeRack[node]!]!.remove(node);
    this.reserved[node] = 1;
  }

  unreserve(node: number): void {
    if (this.reserved[node] === 0) return;
    this.reserved[node] = 0;
    const f = this.nodeFlavor[node]!;
    this.buckets[f]![this.free[node]!]!.add(node);
    if (this.free[node] === this.nodeSize[node]) this.rackFull[this.nodeRack[node]!]!.add(node);
  }

  /** Largest number of idle GPUs on one available node of flavor f. */
  maxAvailableOnOneNode(f: number): number {
    const flavorBuckets = this.buckets[f]!;
    for (let k = flavorBuckets.length - 1; k > 0; k--) if (flavorBuckets[k]!.size > 0) return k;
    return 0;
  }

  /** Q1 best fit: an available node with at least `gpus` idle, leaving the fewest idle. */
  bestFitNode(f: number, gpus: number): number {
    const flavorBuckets = this.buckets[f]!;
    for (let k = gpus; k < flavorBuckets.length; k++) {
      const items = flavorBuckets[k]!.items;
      if (items.length > 0) return items[items.length - 1]!;
    }
    return -1;
  }

  /**
   * Up to `count` available nodes of flavor f that can hold `need` GPUs (size >= need, or
   * size === need for whole nodes), the most idle first; among equally idle ones, those in
   * `preferred` first (a reservation sticks to its nodes while they stay the best).
   */
  mostIdleNodes(f: number, count: number, need: number, whole: boolean, preferred: ReadonlySet<number>): number[] {
    const chosen: number[] = [];
    const flavorBuckets = this.buckets[f]!;
    const fits = (node: number): boolean => (whole ? this.nodeSize[node] === need : this.nodeSize[node]! >= need);
    for (let k = flavorBuckets.length - 1; k >= 0 && chosen.length < count; k--) {
      const items = flavorBuckets[k]!.items;
      if (items.length === 0) continue;
      for (const node of preferred) {
        if (chosen.length < count && this.free[node] === k && this.reserved[node] === 0 && this.nodeFlavor[node] === f && fits(node)) chosen.push(node);
      }
      for (let i = items.length - 1; i >= 0 && chosen.length < count; i--) {
        const node = items[i]!;
        if (!preferred.has(node) && fits(node)) chosen.push(node);
      }
    }
    return chosen;
  }

  /** Available entirely-idle nodes of flavor f and the given size. */
  fullyIdleCount(f: number, size: number): number {
    const items = this.buckets[f]![size]?.items;
    if (!items) return 0;
    let n = 0;
    for (const node of items) if (this.nodeSize[node] === size) n++;
    return n;
  }

  /**
   * Q1: `count` available entirely-idle nodes of `size`, from as few racks as possible:
   * one rack that can hold the job (the one it fills best), else the racks with the most
   * idle nodes first. Returns null when there are not enough.
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
    const take = (rack: number): void => {
      for (const node of this.rackFull[rack]!.items) {
        if (chosen.length === count) return;
        if (this.nodeSize[node] === size) chosen.push(node);
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
    const items = this.rackFull[rack]!.items;
    if (items.length === 0) return 0;
    return this.nodeSize[items[0]!] === size ? items.length : 0;
  }
}
