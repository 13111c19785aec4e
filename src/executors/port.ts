// Where jobs really run. The live scheduling loop decides (engine), persists, then tells an
// executor to start or stop a run; the executor reports how each run ended.
//
// Contracts:
// - start() returns once the run is launched (or throws an ExecutorError); it never blocks
//   on the run itself.
// - stop() ends a run (preemption or cancellation): the executor sends SIGTERM, waits a grace
//   period, then SIGKILL (local), and reports the exit through onExit with `stopped: true`.
// - onExit is called exactly once per started run.

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
