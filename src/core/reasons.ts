// Explanations (docs/scheduling.md, "Explanations"): every pending job carries a machine
// code and a sentence with numbers, written by the same code path that made the decision.

export type ReasonCode =
  | 'WaitingForCapacity'
  | 'GuaranteeExhausted'
  | 'TeamLimit'
  | 'ReservedForOtherJob'
  | 'MinRuntimeProtection'
  | 'LowerInOrder'
  /** The executor (Slurm's sbatch) refused the job's placement: it waits, and is placed again after a backoff. */
  | 'PlacementRefused';

/**
 * Where an expected start comes from: `timeLimits` (the runs it waits for end by their time
 * limits, declared or their class's default), `minRuntime` (the protection of the runs it may
 * reclaim ends then), `history` (some of those runs have no limit: their end is estimated from
 * the recorded run durations of their team and class; an estimate never changes a decision).
 */
export type ExpectedStartBasis = 'timeLimits' | 'minRuntime' | 'history';

export interface Reason {
  readonly code: ReasonCode;
  readonly message: string;
  /** Expected start in seconds, when the scheduler can predict one. */
  readonly expectedStart: number | null;
  /** Null exactly when expectedStart is null. */
  readonly expectedStartBasis: ExpectedStartBasis | null;
}

/**
 * Recorded run durations (seconds, sorted ascending) per team and class, key `runHistoryKey`:
 * an input of the engine, given by its caller (the live server records them; the simulator
 * gives none, so its decisions and outputs never depend on it).
 */
export type RunHistory = ReadonlyMap<string, readonly number[]>;

export const runHistoryKey = (team: string, cls: string): string => `${team}\u0000${cls}`;

/** Fewer recorded runs than this give no estimate. */
export const MIN_HISTORY = 3;

/**
 * When a run without a time limit is expected to end, from the history of its team and class:
 * the median of the recorded durations longer than what it has run so far (it has outlived
 * the shorter ones). Null with too little history, or when it outlived every recorded run.
 * Example: durations [600, 1200, 3600, 7200], started 1000 s ago: the median of [1200, 3600,
 * 7200] is 3600, so it ends at runStart + 3600.
 */
export function estimatedRunEnd(durations: readonly number[] | undefined, runStart: number, now: number): number | null {
  if (!durations || durations.length < MIN_HISTORY) return null;
  const ran = now - runStart;
  let lo = 0;
  let hi = durations.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (durations[mid]! > ran) hi = mid;
    else lo = mid + 1;
  }
  const longer = durations.length - lo;
  if (longer === 0) return null;
  return runStart + durations[lo + Math.floor((longer - 1) / 2)]!;
}

export const REASON_CODES: readonly ReasonCode[] = [
  'WaitingForCapacity',
  'GuaranteeExhausted',
  'TeamLimit',
  'ReservedForOtherJob',
  'MinRuntimeProtection',
  'LowerInOrder',
  'PlacementRefused',
];

/** "in ~2h" style for sentences; `seconds` is a duration. */
export function roughDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'an unknown time';
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s}s`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m`;
  if (s < 36 * 3600) return `${Math.round(s / 360) / 10}h`;
  return `${Math.round(s / 8640) / 10}d`;
}
