// Where jobs really run. The live scheduling loop decides (engine), persists, then tells an
// executor to start or stop a run; the executor reports how each run ended.
//
// Contracts:
// - start() returns once the run is launched (or throws an ExecutorError); it never blocks
//   on the run itself.
// - stop() ends a run (preemption or cancellation): the executor sends SIGTERM, waits a grace
//   period, then SIGKILL (local), and reports the exit through onExit with `stopped: true`.
// - onExit is called exactly once per started run, unless the executor refuses the run: then
//   onEvent gets one `refused` event for it instead (the job waits again, nothing ran).
// - Executors that talk to a cluster manager (Slurm) never make the loop wait for it: start,
//   stop and their polls go on in the background and come back as events.

export interface RunRequest {
  readonly jobId: string;
  /** Identifies this run of the job (a job preempted twice has three runs). */
  readonly runId: string;
  readonly gpus: number;
  readonly flavor: string;
  readonly placement: readonly { readonly node: string; readonly gpus: number }[];
  /** Seconds of work left (simulated executor). */
  readonly remainingWork: number | null;
  /** Shell command (local executor). */
  readonly command: string | null;
  /** Seconds; the executor stops the run when it reaches it and reports `timedOut`. */
  readonly timeLimit: number | null;
  /** The job's team, then its ancestors up to the root (local executor: picks the user it runs as). */
  readonly teams?: readonly string[];
}

export interface RunExit {
  readonly jobId: string;
  readonly runId: string;
  /** Epoch seconds. */
  readonly at: number;
  /** Process exit code (local), 0 for a simulated run that finished, null when killed. */
  readonly exitCode: number | null;
  /** The signal that killed the process (local), e.g. "SIGKILL"; null or absent when it exited by itself. */
  readonly signal?: string | null;
  /** True when the run ended because stop() was called. */
  readonly stopped: boolean;
  readonly timedOut: boolean;
  /** Names of the nodes whose failure ended the run (Slurm NODE_FAIL): the job is requeued, as a preemption. */
  readonly nodeFailure?: string | null;
  /** True when someone ended the run outside Arbiter (an operator's scancel): the job ends cancelled. */
  readonly cancelled?: boolean;
  /** What the executor saw, in words (e.g. "Slurm job 12 TIMEOUT"), for the log and the job's reason. */
  readonly detail?: string;
}

/** GPUs of an engine node that no run may use now, and why (a node down or drained, work outside Arbiter). */
export interface NodeCondition {
  readonly node: string;
  readonly withheld: number;
  /** Slurm's node state when it is not usable (e.g. "DOWN", "IDLE+DRAIN"), else null. */
  readonly state: string | null;
  readonly why: string;
}

/** A job someone started on the fleet's nodes without Arbiter (behind its back). */
export interface ForeignJob {
  readonly id: string;
  readonly name: string;
  readonly user: string;
  readonly state: string;
  /** Engine nodes and the GPUs it holds on each (empty while it waits). */
  readonly placement: readonly { readonly node: string; readonly gpus: number }[];
}

export type ExecutorEvent =
  /** The cluster manager refused to run it (its words): nothing ran, the job waits again. */
  | { readonly kind: 'refused'; readonly jobId: string; readonly runId: string; readonly at: number; readonly message: string }
  /** The capacity the engine may use changed: every node with GPUs withheld, and the jobs found outside Arbiter. */
  | { readonly kind: 'nodes'; readonly at: number; readonly conditions: readonly NodeCondition[]; readonly foreign: readonly ForeignJob[] };

/** A run found in the cluster manager after a restart of the server (recoverRuns). */
export interface FoundRun {
  readonly jobId: string;
  readonly runId: string;
  /** The cluster manager's id of it, e.g. the Slurm job id. */
  readonly id: string;
  readonly state: string;
}

export interface ExecutorNode {
  readonly name: string;
  readonly gpus: number;
  readonly flavor: string;
}

export interface Executor {
  readonly kind: 'simulated' | 'local' | 'slurm';
  start(run: RunRequest): Promise<void>;
  stop(jobId: string, runId: string): Promise<void>;
  /** Stops everything (graceful shutdown). */
  close(): Promise<void>;
  /**
   * After a crash of the server, before anything starts: ends every process its runs left
   * running (local processes), and says of which jobs. No run is re-adopted by an executor that
   * has this.
   */
  reapOrphans?(): Promise<{ readonly jobs: readonly string[]; readonly processes: number }>;
  onExit(listener: (exit: RunExit) => void): void;
  onEvent?(listener: (event: ExecutorEvent) => void): void;
  /**
   * Crash safety by re-adoption (Slurm): the runs of this server the cluster manager still
   * holds, by run id. The server then takes each back (adopt), carries out a run it had decided
   * but not launched (start), and calls recovered(), which stops the runs nobody took back.
   */
  recoverRuns?(): Promise<ReadonlyMap<string, FoundRun>>;
  adopt?(run: RunRequest, found: FoundRun): void;
  recovered?(): Promise<{ readonly stopped: readonly FoundRun[] }>;
  /**
   * After every pass: whether jobs wait for GPUs. An executor that learns of run ends by polling
   * (Slurm) then polls faster, so freed GPUs are given at once.
   */
  demand?(waiting: boolean): void;
  /** Whether the executor reaches what it drives (Slurm's controller), with why not. */
  health?(): { readonly ok: boolean; readonly cause?: string };
  /**
   * Time spent since start, per call to what it drives (Slurm: sbatch, squeue, ...; `poll`, a
   * whole poll; `wait to submit`, from the loop's decision to its sbatch): calls and seconds.
   */
  timings?(): readonly { readonly name: string; readonly count: number; readonly seconds: number }[];
  /** Failed calls to the cluster manager since start, per operation (start, stop, poll) and error code (metrics). */
  errorCounts?(): readonly { readonly operation: string; readonly code: string; readonly count: number }[];
}

export class ExecutorError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExecutorError';
  }
}
