// Shapes and placements (S2, Q1): what the engine, victim search and reservations share.

/** 'single': one node with at least `size` GPUs; 'whole': `count` entire nodes of `size`. */
export interface Shape {
  readonly kind: 'single' | 'whole';
  readonly size: number;
  readonly count: number;
}

/** Nodes of a run; each holds `perNode` of its GPUs. */
export interface Placement {
  readonly nodes: readonly number[];
  readonly perNode: number;
}

/** A time that never comes (no time limit, no end known). */
export const NO_TIME = Number.POSITIVE_INFINITY;
