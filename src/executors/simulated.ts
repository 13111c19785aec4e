// The simulated executor (`arbiter serve --executor simulated`): nodes exist only on paper and a
// run "works" for remainingWork / speed seconds of wall time (docs/api.md, Start-up). Nothing is
// launched; a timer per run reports its end through onExit, exactly as a real executor would.
//
// The clock and the timers are inputs, so tests drive runs with a fake clock and no real waiting.
import { ExecutorError, type Executor, type RunExit, type RunRequest } from './port.js';

/** Arms a one-shot timer that calls `callback` after `ms` milliseconds; returns its cancel function. */
export type SetTimer = (callback: () => void, ms: number) => () => void;

export interface SimulatedExecutorOptions {
  /** Seconds of work done per second of wall time (`--speed`, default 1). Finite and > 0. */
  readonly speed?: number;
  /** Epoch seconds (default Date.now() / 1000). */
  readonly now?: () => number;
  /** Default: setTimeout / clearTimeout. */
  readonly setTimer?: SetTimer;
}

export interface SimulatedExecutor extends Executor {
  readonly kind: 'simulated';
  /** Runs started and not yet ended, as `{ jobId, runId }`, in start order. */
  running(): { jobId: string; runId: string }[];
}

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemTimer: SetTimer = (callback, ms) => {
  const handle = setTimeout(callback, ms);
  return () => clearTimeout(handle);
};

/**
 * Calls `callback` after `ms` milliseconds with any `setTimer`, splitting delays longer than
 * setTimeout allows into several timers (a 30-day time limit must not fire at once).
 * Returns the cancel function of the whole chain. `ms` = Infinity never fires.
 */
export function armTimer(setTimer: SetTimer, ms: number, callback: () => void): () => void {
  if (ms === Infinity) return () => {};
  let cancel: () => void = () => {};
  const arm = (left: number): void => {
    cancel =
      left > MAX_TIMER_MS
        ? setTimer(() => arm(left - MAX_TIMER_MS), MAX_TIMER_MS)
        : setTimer(callback, Math.max(0, left));
  };
  arm(ms);
  return () => cancel();
}

/**
 * Calls every listener with `exit`. One that throws does not keep the exit from the others: its
 * error is thrown again on a fresh microtask, so it surfaces as an uncaught error (a bug, loudly).
 */
export function emitExit(listeners: readonly ((exit: RunExit) => void)[], exit: RunExit): void {
  for (const listener of listeners) {
    try {
      listener(exit);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

/** The key of a run in an executor's table. */
export function runKey(jobId: string, runId: string): string {
  return `${jobId}\u0000${runId}`;
}

interface SimulatedRun {
  readonly jobId: string;
  readonly runId: string;
  readonly cancel: () => void;
}

/**
 * Creates the simulated executor. A run ends:
 * - after remainingWork / speed seconds, completed (exitCode 0);
 * - after timeLimit / speed seconds, if that comes first, timed out (exitCode null). Reaching
 *   both at the same moment counts as completed: the work was done within the limit;
 * - at once when stop() (or close()) is called: stopped, exitCode null.
 * Zero work (or a zero time limit) ends on the next timer tick, never inside start().
 * A run without remainingWork (null) goes on until its time limit or stop().
 * Example: speed 10, remainingWork 3600, timeLimit 7200: completes 360 s after start.
 */
export function createSimulatedExecutor(options: SimulatedExecutorOptions = {}): SimulatedExecutor {
  const speed = options.speed ?? 1;
  if (!Number.isFinite(speed) || speed <= 0) {
    throw new ExecutorError('invalid_config', `--speed must be a finite number above 0, got ${speed}`, false);
  }
  const now = options.now ?? (() => Date.now() / 1000);
  const setTimer = options.setTimer ?? systemTimer;
  const runs = new Map<string, SimulatedRun>();
  const listeners: ((exit: RunExit) => void)[] = [];
  let closed = false;

  const finish = (key: string, outcome: Omit<RunExit, 'jobId' | 'runId' | 'at'>): void => {
    const run = runs.get(key);
    if (!run) return; // already ended: onExit exactly once
    runs.delete(key);
    run.cancel();
    emitExit(listeners, { jobId: run.jobId, runId: run.runId, at: now(), ...outcome });
  };

  const seconds = (value: number | null, what: string, run: RunRequest): number => {
    if (value === null) return Infinity;
    if (Number.isNaN(value)) {
      throw new ExecutorError(
        'invalid_run',
        `run ${run.runId} of job ${run.jobId}: ${what} is not a number`,
        false,
      );
    }
    return Math.max(0, value);
  };

  return {
    kind: 'simulated',

    start(run: RunRequest): Promise<void> {
      // async-free on purpose: the run exists (and stop() finds it) as soon as start() returns.
      try {
        if (closed) throw new ExecutorError('executor_closed', 'the executor is closed', false);
        const key = runKey(run.jobId, run.runId);
        if (runs.has(key)) {
          throw new ExecutorError(
            'duplicate_run',
            `run ${run.runId} of job ${run.jobId} is already running`,
            false,
          );
        }
        const work = seconds(run.remainingWork, 'remainingWork', run);
        const limit = seconds(run.timeLimit, 'timeLimit', run);
        // Both reached at once: completed (work <= limit).
        const timedOut = limit < work;
        const wallMs = (Math.min(work, limit) / speed) * 1000;
        const cancel = armTimer(setTimer, wallMs, () =>
          finish(
            key,
            timedOut
              ? { exitCode: null, stopped: false, timedOut: true }
              : { exitCode: 0, stopped: false, timedOut: false },
          ),
        );
        runs.set(key, { jobId: run.jobId, runId: run.runId, cancel });
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },

    stop(jobId: string, runId: string): Promise<void> {
      // Unknown or already ended: nothing to do (the exit was, or will never be, reported).
      finish(runKey(jobId, runId), { exitCode: null, stopped: true, timedOut: false });
      return Promise.resolve();
    },

    close(): Promise<void> {
      closed = true;
      for (const key of [...runs.keys()]) finish(key, { exitCode: null, stopped: true, timedOut: false });
      return Promise.resolve();
    },

    onExit(listener: (exit: RunExit) => void): void {
      listeners.push(listener);
    },

    running() {
      return [...runs.values()].map(({ jobId, runId }) => ({ jobId, runId }));
    },
  };
}
