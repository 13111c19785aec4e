// The las and srtf baselines: a priority-preemptive loop that ignores teams and classes and keeps
// every physical rule (S1 flavors, S2 shapes, M1 capacity, M6 progress through the shared
// JobProgress, time limits). Reference points, not policies Arbiter offers.
//
// - las (least attained service, as Tiresias): a job's key is the GPU-seconds it received so
//   far (the current run included). With `round` (as Gavel's rounds), jobs start and are
//   preempted only at multiples of `round` seconds: a GPU freed mid-round stays idle until the
//   next round. Without it, every batch of events (arrivals, completions, time-outs) is a
//   decision point; attained service is re-read at each.
// - srtf (shortest remaining time first): a job's key is how long it still has to run on the
//   flavor: for a running job, until its current run ends; for a waiting one, the restart
//   overhead plus the work left on its fastest flavor, cut by its time limit. It reads the true
//   durations: an oracle, a lower bound on what scheduling can do for JCT, not a real policy.
//
// At a decision point every unfinished, arrived job is taken in key order (then submit time,
// then trace position). A running job is kept where it runs when no job before it took its
// GPUs; a waiting job starts on idle GPUs (best fit on one node, or whole nodes from the fewest
// racks: FleetIndex, as the engine places), else on GPUs freed by preempting running jobs that
// come after it: on one node, the node needing the fewest victims (then the least important
// ones, then the best fit); for whole nodes, idle nodes first, then those emptied by the fewest
// victims. A job preempted at a decision point waits for the next one (no migration within an
// instant). There is no minRuntime; restart overheads and checkpoints still apply (M6).
//
// With rounds, one guard: a run is preempted only once preempting it keeps some of its work
// (past its restart overhead and, with checkpoints, past its next checkpoint). Rounds make
// decisions without events; with a round shorter than the restart overhead or the checkpoint
// interval, las would otherwise swap equal jobs every round, none keeping any work: a livelock,
// not a schedule. Without rounds, decisions happen only at arrivals and completions, finitely
// many, so no guard is needed and none is applied.
import { FleetIndex } from '../../core/fleet-index.js';
import type { Fleet, JobSpec, Policy } from '../../core/model.js';
import { JobProgress } from '../job-progress.js';
import type { SimulationResult } from '../types.js';

export type PriorityOrder = 'las' | 'srtf';

export interface PriorityLoopOptions {
  readonly order: PriorityOrder;
  /** Decide only at multiples of this many seconds (> 0). Default: at every batch of events. */
  readonly round?: number;
  /** Stop the clock here; running jobs are cut (formats.md). */
  readonly until?: number;
  /** Called after each batch of events, for progress display. */
  readonly onProgress?: (simTime: number, jobsDone: number) => void;
}

interface Shape {
  readonly kind: 'single' | 'whole';
  readonly size: number;
  readonly count: number;
}

/**
 * Replays `trace` under las or srtf. `policy` gives only the progress settings (restartOverhead,
 * checkpointInterval) and the teams the result reports; its team rules and classes are ignored.
 */
export function runPriorityLoop(fleet: Fleet, policy: Policy, trace: readonly JobSpec[], options: PriorityLoopOptions): SimulationResult {
  const round = options.round;
  if (round !== undefined && !(round > 0 && Number.isFinite(round))) throw new RangeError(`round: expected seconds > 0, got ${round}`);
  const until = options.until ?? Number.POSITIVE_INFINITY;
  const index = new FleetIndex(fleet);
  const F = index.flavors.length;
  const flavorNames = index.flavors.map((f) => f.name);
  const book = new JobProgress(trace, policy, flavorNames);
  const n = trace.length;
  const arrivals = Array.from({ length: n }, (_, i) => i).sort((a, b) => trace[a]!.submit - trace[b]!.submit || a - b);
  const nodesOfFlavor: number[][] = Array.from({ length: F }, () => []);
  for (let node = 0; node < index.nodeCount; node++) nodesOfFlavor[index.nodeFlavor[node]!]!.push(node);
  const nodeJobs: number[][] = Array.from({ length: index.nodeCount }, () => []);

  // Per job.
  const flavorsOf: number[][] = new Array<number[]>(n);
  const jobNodes: number[][] = Array.from({ length: n }, () => []);
  const jobPerNode = new Int32Array(n);
  const key = new Float64Array(n);
  const rank = new Int32Array(n);
  const rankPass = new Int32Array(n).fill(-1);
  const running = new Set<number>();
  /** Waiting jobs in key order; a waiting job's key does not change while it waits. */
  let pending: number[] = [];

  /** S2: one node of at least `gpus`, else whole nodes of one size (smallest size first). */
  const shapeOn = (gpus: number, f: number): Shape | null => {
    const info = index.flavors[f]!;
    if (gpus <= info.maxNodeSize) return { kind: 'single', size: gpus, count: 1 };
    for (const size of info.nodeSizes) {
      if (gpus % size === 0 && gpus / size <= info.nodesBySize.get(size)!) return { kind: 'whole', size, count: gpus / size };
    }
    return null;
  };

  /** Flavors with a valid shape, in the order to try: pool order (las); fastest first (srtf). */
  const usableFlavors = (spec: JobSpec): number[] | string => {
    let candidates: number[];
    if (spec.flavor === null) candidates = index.flavors.map((f) => f.index);
    else {
      const f = index.flavorByName.get(spec.flavor);
      if (f === undefined) return `flavor ${spec.flavor} is not in the fleet`;
      candidates = [f];
    }
    const usable = candidates.filter((f) => shapeOn(spec.gpus, f) !== null);
    if (usable.length === 0) {
      return candidates
        .map((f) => {
          const info = index.flavors[f]!;
          return spec.gpus > info.capacity
            ? `${spec.gpus} GPUs is more than the ${info.capacity} ${info.name} of the fleet`
            : `${spec.gpus} GPUs fits no node of ${info.name} (nodes of ${info.nodeSizes.join('/')} GPUs) and is not a multiple of a node size with enough nodes (S2)`;
        })
        .join('; ');
    }
    if (options.order === 'srtf') {
      const work = (f: number): number => spec.durationByFlavor?.[flavorNames[f]!] ?? spec.duration;
      usable.sort((a, b) => work(a) - work(b) || a - b);
    }
    return usable;
  };

  /** The key of a waiting job (fixed while it waits). */
  const waitingKey = (pos: number): number => {
    if (options.order === 'las') return book.attained(pos, 0);
    let best = Number.POSITIVE_INFINITY;
    for (const f of flavorsOf[pos]!) best = Math.min(best, book.runTimeIfStarted(pos, flavorNames[f]!));
    return best;
  };

  /** The key of a running job at t. */
  const runningKey = (pos: number, t: number): number =>
    options.order === 'las' ? book.attained(pos, t) : book.currentRunEnd(pos) - t;

  const before = (a: number, b: number): number =>
    key[a]! - key[b]! || trace[a]!.submit - trace[b]!.submit || a - b;

  const insertPending = (pos: number): void => {
    key[pos] = waitingKey(pos);
    let lo = 0;
    let hi = pending.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(pending[mid]!, pos) < 0) lo = mid + 1;
      else hi = mid;
    }
    pending.splice(lo, 0, pos);
  };

  const start = (pos: number, f: number, nodes: number[], perNode: number, t: number): void => {
    for (const node of nodes) {
      index.adjust(node, -perNode);
      nodeJobs[node]!.push(pos);
    }
    jobNodes[pos] = nodes;
    jobPerNode[pos] = perNode;
    running.add(pos);
    const placement = nodes
      .map((node) => ({ node: index.nodeNames[node]!, gpus: perNode }))
      .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    book.start(pos, t, flavorNames[f]!, placement);
  };

  const release = (pos: number): void => {
    const perNode = jobPerNode[pos]!;
    for (const node of jobNodes[pos]!) {
      index.adjust(node, perNode);
      const list = nodeJobs[node]!;
      const i = list.indexOf(pos);
      list[i] = list[list.length - 1]!;
      list.pop();
    }
    jobNodes[pos] = [];
    running.delete(pos);
  };

  let passes = 0;

  const pass = (t: number): void => {
    const passId = passes++;
    const order = [...running];
    for (const pos of order) key[pos] = runningKey(pos, t);
    order.sort(before);
    order.forEach((pos, i) => {
      rank[pos] = i;
      rankPass[pos] = passId;
    });
    let i = 0; // running jobs before order[i] are kept (they made the cut)
    // With rounds, a run that would keep nothing yet is not a victim (see the header).
    const isVictim = (pos: number): boolean =>
      rankPass[pos] === passId && rank[pos]! >= i && running.has(pos) && (round === undefined || book.wouldKeepProgress(pos, t));
    const preempted: number[] = [];
    const failedSearch = new Set<string>();

    const tryIdle = (pos: number): boolean => {
      const gpus = trace[pos]!.gpus;
      for (const f of flavorsOf[pos]!) {
        const shape = shapeOn(gpus, f)!;
        if (shape.kind === 'single') {
          const node = index.bestFitNode(f, gpus);
          if (node >= 0) {
            start(pos, f, [node], gpus, t);
            return true;
          }
        } else {
          const nodes = index.wholeNodes(f, shape.size, shape.count);
          if (nodes) {
            start(pos, f, nodes, shape.size, t);
            return true;
          }
        }
      }
      return false;
    };

    /** One node: fewest victims, then the least important (highest rank) most important victim, then best fit, then index. */
    const victimsOneNode = (f: number, gpus: number): { node: number; victims: number[] } | null => {
      let best: { node: number; victims: number[]; top: number; leftover: number } | null = null;
      for (const node of nodesOfFlavor[f]!) {
        if (index.nodeSize[node]! < gpus) continue;
        let free = index.free[node]!;
        const candidates = nodeJobs[node]!.filter(isVictim);
        let room = free;
        for (const c of candidates) room += jobPerNode[c]!;
        if (room < gpus) continue;
        candidates.sort((a, b) => rank[b]! - rank[a]!); // least important first
        const victims: number[] = [];
        for (const c of candidates) {
          if (free >= gpus) break;
          victims.push(c);
          free += jobPerNode[c]!;
        }
        if (victims.length === 0) continue; // unreachable: tryIdle would have found this node
        const top = rank[victims[victims.length - 1]!]!;
        const leftover = free - gpus;
        if (
          best === null ||
          victims.length < best.victims.length ||
          (victims.length === best.victims.length && (top > best.top || (top === best.top && leftover < best.leftover)))
        ) {
          best = { node, victims, top, leftover };
        }
      }
      return best;
    };

    /** Whole nodes: idle ones first, then those emptied by the fewest new victims (least important first), lowest index on ties. */
    const victimsWholeNodes = (f: number, shape: Shape): { nodes: number[]; victims: number[] } | null => {
      const usable = nodesOfFlavor[f]!.filter((node) => index.nodeSize[node] === shape.size && nodeJobs[node]!.every(isVictim));
      const chosenNodes: number[] = [];
      const chosen = new Set<number>();
      const taken = new Set<number>();
      while (chosenNodes.length < shape.count) {
        let bestNode = -1;
        let bestFresh = Number.POSITIVE_INFINITY;
        let bestTop = -1;
        for (const node of usable) {
          if (taken.has(node)) continue;
          let fresh = 0;
          let top = Number.POSITIVE_INFINITY;
          for (const v of nodeJobs[node]!) {
            if (chosen.has(v)) continue;
            fresh++;
            top = Math.min(top, rank[v]!);
          }
          if (fresh < bestFresh || (fresh === bestFresh && top > bestTop)) {
            bestNode = node;
            bestFresh = fresh;
            bestTop = top;
          }
        }
        if (bestNode < 0) return null;
        taken.add(bestNode);
        chosenNodes.push(bestNode);
        for (const v of nodeJobs[bestNode]!) chosen.add(v);
      }
      return { nodes: chosenNodes.sort((a, b) => a - b), victims: [...chosen] };
    };

    const tryPreempt = (pos: number): void => {
      const spec = trace[pos]!;
      const cacheKey = `${spec.flavor ?? ''}:${spec.gpus}`;
      if (failedSearch.has(cacheKey)) return;
      for (const f of flavorsOf[pos]!) {
        const shape = shapeOn(spec.gpus, f)!;
        let nodes: number[];
        let victims: number[];
        let perNode: number;
        if (shape.kind === 'single') {
          const found = victimsOneNode(f, spec.gpus);
          if (!found) continue;
          nodes = [found.node];
          victims = found.victims;
          perNode = spec.gpus;
        } else {
          const found = victimsWholeNodes(f, shape);
          if (!found) continue;
          nodes = found.nodes;
          victims = found.victims;
          perNode = shape.size;
        }
        for (const v of victims) {
          book.preempt(v, t);
          release(v);
          preempted.push(v);
        }
        start(pos, f, nodes, perNode, t);
        // Preemption may leave GPUs idle beyond what the job took: earlier failures may now succeed.
        failedSearch.clear();
        return;
      }
      // Later jobs of the same size and flavor would find nothing either: the room only shrinks.
      failedSearch.add(cacheKey);
    };

    /** Smallest GPU count among pending[j..], for the early exit once no running job is left to preempt. */
    let suffixMin: Int32Array | null = null;
    const nothingFits = (j: number): boolean => {
      if (suffixMin === null) {
        suffixMin = new Int32Array(pending.length + 1).fill(2 ** 30);
        for (let k = pending.length - 1; k >= 0; k--) suffixMin[k] = Math.min(suffixMin[k + 1]!, trace[pending[k]!]!.gpus);
      }
      const smallest = suffixMin[j]!;
      for (let f = 0; f < F; f++) {
        if (index.maxAvailableOnOneNode(f) >= Math.min(smallest, index.flavors[f]!.maxNodeSize)) return false;
      }
      return true;
    };

    let j = 0;
    while (i < order.length || j < pending.length) {
      if (j >= pending.length || (i < order.length && before(order[i]!, pending[j]!) < 0)) {
        i++; // kept in place, unless an earlier job preempted it
        continue;
      }
      const pos = pending[j]!;
      if (i >= order.length && nothingFits(j)) break;
      j++;
      if (tryIdle(pos)) continue;
      if (i < order.length) tryPreempt(pos);
    }
    pending = pending.filter((pos) => book.status(pos) === 'pending');
    for (const v of preempted) insertPending(v);
  };

  let next = 0;
  let done = 0;
  let now = 0;
  let lastRound = -1;
  for (;;) {
    const nextArrival = next < n ? trace[arrivals[next]!]!.submit : Number.POSITIVE_INFINITY;
    const nextEnd = book.nextEnd();
    const nextRound =
      round !== undefined && pending.length > 0 ? Math.max(Math.ceil(now / round), lastRound + 1) * round : Number.POSITIVE_INFINITY;
    const t = Math.min(nextArrival, nextEnd, nextRound);
    if (t === Number.POSITIVE_INFINITY || t > until) break;
    now = t;
    let changed = false;
    // Completions and time-outs first, then arrivals, then one decision.
    for (const pos of book.finishDue(t)) {
      release(pos);
      done++;
      changed = true;
    }
    while (next < n && trace[arrivals[next]!]!.submit === t) {
      const pos = arrivals[next++]!;
      book.arrive(pos);
      const usable = usableFlavors(trace[pos]!);
      if (typeof usable === 'string') {
        book.reject(pos, usable);
        done++;
        continue;
      }
      flavorsOf[pos] = usable;
      insertPending(pos);
      changed = true;
    }
    if (round !== undefined) {
      const k = Math.round(t / round);
      if (k * round === t && k > lastRound && pending.length > 0) {
        lastRound = k;
        pass(t);
      }
    } else if (changed && pending.length > 0) {
      pass(t);
    }
    options.onProgress?.(t, done);
  }

  const horizon = options.until ?? null;
  if (horizon !== null) book.cutAt(horizon);
  const runs = book.sortedRuns();
  return { fleet, policy, jobs: book.outcomes(), runs, horizon, passes };
}
