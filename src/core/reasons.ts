// Explanations (docs/scheduling.md, "Explanations"): every pending job carries a machine
// code and a sentence with numbers, written by the same code path that made the decision.

export type ReasonCode =
  | 'WaitingForCapacity'
  | 'GuaranteeExhausted'
  | 'TeamLimit'
  | 'ReservedForOtherJob'
  | 'MinRuntimeProtection'
  | 'LowerInOrder';

export interface Reason {
  readonly code: ReasonCode;
  readonly message: string;
  /** Expected start in seconds, when the scheduler can predict one (time limits known). */
  readonly expectedStart: number | null;
}

export const REASON_CODES: readonly ReasonCode[] = [
  'WaitingForCapacity',
  'GuaranteeExhausted',
  'TeamLimit',
  'ReservedForOtherJob',
  'MinRuntimeProtection',
  'LowerInOrder',
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
