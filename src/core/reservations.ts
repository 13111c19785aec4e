// Reservations (P4): the nodes the first job of a pass that fails for lack of room is given, and
// when it can expect to start there. A start is predicted from the time limits of the runs on
// the nodes only, so no decision depends on an estimate; `estimatedStart` (history) only dates
// a reason (docs/decisions/0005). Reads the engine's state, changes none of it.
import type { EngineJob } from './engine.js';
import type { FleetIndex } from './fleet-index.js';
import type { RunHistory } from './reasons.js';
import { estimatedRunEnd, runHistoryKey } from './reasons.js';
import type { Shape } from './shapes.js';
import { NO_TIME } from './shapes.js';

/** Flavors with at most this many nodes get the earliest reservation of all their nodes. */
const EXACT_RESERVATION_NODES = 512;
/** On larger flavors, how many of the most idle nodes are ranked by expected start. */
const RANKED_RESERVATION_NODES = 64;

export interface Reservation {
  readonly job: number;
  readonly flavor: number;
  readonly nodes: readonly number[];
  /** Null when a run on the reserved nodes has no time limit. */
  readonly expectedStart: number | null;
}

/** The engine state reservations read. */
export interface ReservationState {
  readonly fleet: FleetIndex;
  readonly jobs: readonly EngineJob[];
  readonly nodeJobs: readonly (readonly number[])[];
  /** Running jobs with a time limit, per flavor. */
  readonly timeLimitedRunning: readonly number[];
  now(): number;
  /** Changes whenever the runs, their nodes or the idle GPUs change (the engine's probe epoch). */
  epoch(): number;
  runHistory(): RunHistory;
  /** S2: the shape of a job of `gpus` on flavor f, or null. */
  shapeOn(gpus: number, f: number): Shape | null;
}

export class Reservations {
  private readonly fleet: FleetIndex;
  private readonly jobs: readonly EngineJob[];
  private readonly nodeJobs: readonly (readonly number[])[];
  private readonly timeLimitedRunning: readonly number[];
  /**
   * The last reservation found, for a job of `gpus` on `flavors`, while the state it read stands
   * (epoch): the passes of a congested queue between two starts or ends reserve the same nodes
   * again and again. Not kept when the instant entered the choice (`readNow`).
   */
  private memo: { epoch: number; gpus: number; flavors: readonly number[]; flavor: number; nodes: readonly number[]; at: number } | null = null;
  private readNow = false;
  /** freeAt's scratch: the ends of a node's runs in order, and their GPUs there. */
  private readonly ends: number[] = [];
  private readonly gpus: number[] = [];

  constructor(private readonly state: ReservationState) {
    this.fleet = state.fleet;
    this.jobs = state.jobs;
    this.nodeJobs = state.nodeJobs;
    this.timeLimitedRunning = state.timeLimitedRunning;
  }

  private get now(): number {
    return this.state.now();
  }

  private get runHistory(): RunHistory {
    return this.state.runHistory();
  }

  private shapeOn(gpus: number, f: number): Shape | null {
    return this.state.shapeOn(gpus, f);
  }

  /** P4: nodes for `job` on the flavor where it can start earliest, with its expected start. */
  reserveFor(job: EngineJob, flavors: number[]): Reservation | null {
    const epoch = this.state.epoch();
    const m = this.memo;
    // (A run past its time limit, still running, would make the expected start the instant.)
    if (m !== null && m.epoch === epoch && m.gpus === job.gpus && sameList(m.flavors, flavors) && !(m.at <= this.now)) {
      if (m.flavor < 0) return null;
      return { job: job.handle, flavor: m.flavor, nodes: m.nodes, expectedStart: Number.isFinite(m.at) ? m.at : null };
    }
    this.readNow = false;
    let best: Reservation | null = null;
    for (const f of flavors) {
      const shape = this.shapeOn(job.gpus, f);
      if (!shape) continue;
      const r = this.reservationOn(job, f, shape);
      if (r && (best === null || (r.expectedStart ?? NO_TIME) < (best.expectedStart ?? NO_TIME))) best = r;
    }
    this.memo = this.readNow
      ? null
      : { epoch, gpus: job.gpus, flavors: [...flavors], flavor: best?.flavor ?? -1, nodes: best?.nodes ?? [], at: best?.expectedStart ?? NO_TIME };
    return best;
  }

  private reservationOn(job: EngineJob, f: number, shape: Shape): Reservation | null {
    const fleet = this.fleet;
    const need = shape.size;
    const whole = shape.kind === 'whole';
    let chosen: { node: number; at: number }[];
    if (this.timeLimitedRunning[f] === 0) {
      // No run on this flavor has a time limit: no start can be predicted, so reserve the
      // nodes that have the least left to drain. A reserved node's idle GPUs only grow, so
      // the most idle node reaches the job's size and the job cannot starve (P4).
      chosen = fleet
        .mostIdleNodes(f, shape.count, need, whole)
        .map((node) => ({ node, at: this.freeAt(node, need) }));
    } else {
      // Rank nodes by when the time limits of their runs free enough GPUs. On a large flavor
      // only the most idle nodes are ranked (P4 asks for nodes and a start computed from
      // them, not for the earliest of all), so a pass stays cheap on 100,000 GPUs.
      const info = this.fleet.flavors[f]!;
      let nodesOfFlavor = 0;
      for (const n of info.nodesBySize.values()) nodesOfFlavor += n;
      const candidates =
        nodesOfFlavor <= EXACT_RESERVATION_NODES
          ? fleet.mostIdleNodes(f, nodesOfFlavor, need, whole)
          : fleet.mostIdleNodes(f, Math.max(RANKED_RESERVATION_NODES, 4 * shape.count), need, whole);
      const ranked = candidates.map((node) => ({
        node,
        at: this.freeAt(node, need),
        held: need - fleet.free[node]!,
      }));
      ranked.sort((a, b) => a.at - b.at || a.held - b.held || a.node - b.node);
      chosen = ranked.slice(0, shape.count);
    }
    if (chosen.length < shape.count) return null;
    const at = Math.max(...chosen.map((c) => c.at));
    if (at <= this.now) this.readNow = true;
    return {
      job: job.handle,
      flavor: f,
      nodes: chosen.map((c) => c.node).sort((a, b) => a - b),
      expectedStart: Number.isFinite(at) ? Math.max(at, this.now) : null,
    };
  }

  /**
   * When `need` GPUs of a node will be idle, from the time limits of the runs on it (Infinity
   * if unknown). With `estimate`, a run without a limit ends when its team's history says
   * (estimatedRunEnd); only reasons ask for that.
   */
  private freeAt(node: number, need: number, estimate = false): number {
    let free = this.fleet.free[node]!;
    if (free >= need) {
      this.readNow = true;
      return this.now;
    }
    // The runs' ends in order (insertion sort into scratch arrays: a node holds few runs).
    const ends = this.ends;
    const gpus = this.gpus;
    let n = 0;
    for (const h of this.nodeJobs[node]!) {
      const j = this.jobs[h]!;
      let end: number;
      if (j.spec.timeLimit !== null) end = j.runStart + j.spec.timeLimit;
      else {
        const guess = estimate ? estimatedRunEnd(this.runHistory.get(runHistoryKey(j.spec.team, j.spec.class)), j.runStart, this.now) : null;
        end = guess ?? NO_TIME;
      }
      let i = n++;
      for (; i > 0 && ends[i - 1]! > end; i--) {
        ends[i] = ends[i - 1]!;
        gpus[i] = gpus[i - 1]!;
      }
      ends[i] = end;
      gpus[i] = j.perNode;
    }
    for (let i = 0; i < n; i++) {
      free += gpus[i]!;
      if (free >= need) return ends[i]!;
    }
    return NO_TIME;
  }

  /** When the reserved nodes free the job's shape, runs without a limit estimated from history. */
  estimatedStart(r: Reservation, job: EngineJob): number | null {
    const shape = this.shapeOn(job.gpus, r.flavor);
    if (!shape || this.runHistory.size === 0) return null;
    let at = this.now;
    for (const node of r.nodes) at = Math.max(at, this.freeAt(node, shape.size, true));
    return Number.isFinite(at) ? at : null;
  }
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
