// What one simulation produces: the raw record from which jobs.csv, segments.csv,
// summary.json, the summary table and the report are all derived (docs/formats.md).
import type { Fleet, JobSpec, Policy } from '../core/model.js';

export type JobStatus = 'completed' | 'timed_out' | 'running' | 'pending' | 'rejected';
export type RunOutcome = 'completed' | 'preempted' | 'timed_out' | 'running';

/** One run (segment) of a job: an interval during which it held GPUs. */
export interface RunRecord {
  /** Position of the job in the trace (0-based). */
  readonly job: number;
  readonly start: number;
  /** End of the run; the horizon for a run cut by `--until`. */
  readonly end: number;
  readonly flavor: string;
  /** `node:gpus` pairs, sorted by node name. */
  readonly placement: readonly { readonly node: string; readonly gpus: number }[];
  readonly outcome: RunOutcome;
  readonly gpus: number;
  /** GPU-seconds of this run that made no kept progress (restart overhead + work lost since the last checkpoint). */
  readonly lostGpuSeconds: number;
}

export interface JobOutcome {
  readonly spec: JobSpec;
  readonly status: JobStatus;
  /** Start of the first run, or null. */
  readonly start: number | null;
  /** Completion, time-out or horizon cut; null otherwise. */
  readonly end: number | null;
  /** Flavor of the last run, else the flavor asked for, else null. */
  readonly flavor: string | null;
  readonly preemptions: number;
  /** GPU-seconds received over all runs. */
  readonly gpuSeconds: number;
  /**
   * At its arrival, the GPUs its leaf team held plus its own fitted the team's guarantee on some
   * flavor it may use (jobs arriving at the same instant do not count each other). Measured
   * against the reported policy's teams, for every variant alike (baselines included). Absent
   * when the job never arrived (past `--until`) or the result was not made by a simulator.
   */
  readonly inGuaranteeAtSubmit?: boolean;
  /** Why it was rejected (status 'rejected'). */
  readonly rejectReason?: string;
}

export interface SimulationResult {
  readonly fleet: Fleet;
  readonly policy: Policy;
  /** In trace order. */
  readonly jobs: readonly JobOutcome[];
  /** Ordered by start, then by the job's position in the trace. */
  readonly runs: readonly RunRecord[];
  /** The `--until` horizon, or null when the simulation ran until no job was left. */
  readonly horizon: number | null;
  /** Number of passes run. */
  readonly passes: number;
}
