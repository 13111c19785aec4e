// The Slurm executor (`arbiter serve --executor slurm`, docs/slurm.md): Arbiter decides, Slurm
// executes. Each run becomes one batch job pinned to exactly the nodes and GPUs per node the
// engine chose (`sbatch --nodelist=... -N n --gres=gpu:<type>:<per node>`), carrying the Arbiter
// job, run and team in its name and comment and the job's time limit (`--time`).
//
// State is observed, never assumed: a poll (`squeue --json`, every pollMs, all jobs the
// controller still holds) ends each run when Slurm says its job ended (COMPLETED, FAILED,
// TIMEOUT, CANCELLED, NODE_FAIL, ...), with its exit code or signal; a job still COMPLETING still
// holds its GPUs. A poll that fails is retried at the next one; nothing here ever blocks the loop.
//
// Stopping (preemption, cancel, shutdown): `scancel` (Slurm sends SIGTERM to every process of
// the job, then SIGKILL after its KillWait: the grace period is Slurm's, and the job's state is
// CANCELLED); a scancel that fails is sent again at the next poll. The exit is reported
// (stopped: true) only once Slurm reports the job ended (not COMPLETING), so the GPUs go to the
// next run only when Slurm has freed them.
//
// Crash safety (for now): runs are not re-adopted. reapOrphans() cancels every job of this
// server (its instance in the comment) that a crashed server left in Slurm, and waits until
// Slurm reports them ended, before anything starts: the live loop then requeues their Arbiter
// jobs, so none runs twice.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecutorError, type Executor, type RunExit, type RunRequest } from './port.js';
import { emitExit, runKey } from './simulated.js';
import { slurmCommand, type SlurmCommands, type SlurmPlace } from './slurm-fleet.js';

export interface SlurmExecutorOptions {
  readonly partition: string;
  readonly commands: SlurmCommands;
  /** Engine node -> Slurm node (matchFleet). */
  readonly nodes: ReadonlyMap<string, SlurmPlace>;
  /** Where each job's output goes, `<outputDir>/<jobId>.log` (must be reachable from the nodes). */
  readonly outputDir: string;
  /** Marks this server's Slurm jobs (in their comment), so a restart finds them. */
  readonly instance: string;
  /** Milliseconds between polls of Slurm (default 1000). */
  readonly pollMs?: number;
  /** Called on every failed Slurm command (metrics, health). */
  readonly onError?: (error: ExecutorError) => void;
  /** Called on every successful poll. */
  readonly onPoll?: () => void;
}

/** One job as `squeue --json` (Slurm 22.05, openapi v0.0.38) gives it: the fields read here. */
export interface SqueueJob {
  readonly job_id: number;
  readonly name: string;
  readonly comment: string;
  readonly job_state: string;
  readonly nodes: string;
  /** The raw wait status: exit code << 8, or the signal. */
  readonly exit_code: number;
  readonly state_reason: string;
  readonly partition: string;
  /** e.g. ["gpu:a100:4(IDX:0-3)"], one per node, while it runs. */
  readonly gres_detail?: readonly string[];
}

const ENDED = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED', 'SPECIAL_EXIT']);

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 15: 'SIGTERM' };

/** Reads `squeue --json`. */
export function parseSqueueJson(text: string): SqueueJob[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new ExecutorError('slurm_output', 'squeue --json printed something that is not JSON', true, { cause: error });
  }
  const jobs = (body as { jobs?: unknown }).jobs;
  if (!Array.isArray(jobs)) throw new ExecutorError('slurm_output', 'squeue --json printed no "jobs" list', true);
  return jobs as SqueueJob[];
}

/** The comment that marks a run: `arbiter/<instance>/<team>/<jobId>/<runId>`. */
export function runComment(instance: string, team: string, jobId: string, runId: string): string {
  return ['arbiter', instance, team, jobId, runId].join('/');
}

export function parseRunComment(comment: string): { instance: string; team: string; jobId: string; runId: string } | null {
  const parts = comment.split('/');
  if (parts.length !== 5 || parts[0] !== 'arbiter') return null;
  return { instance: parts[1]!, team: parts[2]!, jobId: parts[3]!, runId: parts[4]! };
}

/** `--time` in Slurm's minutes:seconds (at least one second). */
export function slurmTime(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The sbatch arguments of a run (the command goes through --wrap). */
export function sbatchArgs(run: RunRequest, options: Pick<SlurmExecutorOptions, 'partition' | 'nodes' | 'outputDir' | 'instance'>): string[] {
  const places = run.placement.map((p) => {
    const place = options.nodes.get(p.node);
    if (!place) throw new ExecutorError('invalid_run', `run ${run.runId}: engine node ${p.node} has no Slurm node`, false);
    return { ...place, gpus: p.gpus };
  });
  const perNode = places[0]?.gpus ?? 0;
  if (places.length === 0 || places.some((p) => p.gpus !== perNode || p.gresType !== places[0]!.gresType)) {
    throw new ExecutorError('invalid_run', `run ${run.runId}: a Slurm job needs the same GPUs of one type on every node; got ${run.placement.map((p) => `${p.node}:${p.gpus}`).join(', ')}`, false);
  }
  const type = places[0]!.gresType;
  const team = run.teams?.[0] ?? 'unknown';
  return [
    '--parsable',
    `--partition=${options.partition}`,
    `--nodes=${places.length}`,
    `--nodelist=${places.map((p) => p.node).join(',')}`,
    `--ntasks-per-node=1`,
    `--gres=gpu:${type === '' ? '' : `${type}:`}${perNode}`,
    `--job-name=arbiter-${run.jobId}`,
    `--comment=${runComment(options.instance, team, run.jobId, run.runId)}`,
    // Arbiter requeues; a job Slurm would requeue on its own (node failure) is ended and reported.
    '--no-requeue',
    `--output=${join(options.outputDir, `${run.jobId}.log`)}`,
    '--open-mode=append',
    ...(run.timeLimit !== null ? [`--time=${slurmTime(run.timeLimit)}`] : []),
    '--wrap',
    run.command ?? '',
  ];
}

/** Whether a failed Slurm command failed because the controller could not be reached. */
export function unreachable(error: unknown): boolean {
  return error instanceof ExecutorError && /Unable to contact slurm controller|Socket timed out|Connection refused|Zero Bytes were transmitted|did not answer within/i.test(error.message);
}

const RETRY_FIRST_MS = 1000;
const MISSING_POLLS = 10;
const RETRY_MAX_MS = 30_000;

interface SlurmRun {
  readonly jobId: string;
  readonly runId: string;
  /** null while sbatch could not reach the controller (retried with backoff). */
  slurmId: string | null;
  stopped: boolean;
  cancelSent: boolean;
  /** Successive polls whose answer lacked this job. */
  missing: number;
  retry: NodeJS.Timeout | null;
  ended: boolean;
  resolveGone: () => void;
  readonly gone: Promise<void>;
}

export interface SlurmExecutor extends Executor {
  /** Slurm job id of each run in flight. */
  running(): { jobId: string; runId: string; slurmId: string | null }[];
}

export async function createSlurmExecutor(options: SlurmExecutorOptions): Promise<SlurmExecutor> {
  const pollMs = options.pollMs ?? 1000;
  const listeners: ((exit: RunExit) => void)[] = [];
  const runs = new Map<string, SlurmRun>();
  const bySlurmId = new Map<string, SlurmRun>();
  let closed = false;
  let timer: NodeJS.Timeout | null = null;
  let polling: Promise<void> | null = null;
  await mkdir(options.outputDir, { recursive: true });

  const failed = (error: unknown): ExecutorError => {
    const e = error instanceof ExecutorError ? error : new ExecutorError('slurm_error', error instanceof Error ? error.message : String(error), true, { cause: error });
    options.onError?.(e);
    return e;
  };

  const report = (run: SlurmRun, job: SqueueJob | null): void => {
    if (run.ended) return;
    run.ended = true;
    runs.delete(runKey(run.jobId, run.runId));
    if (run.retry) clearTimeout(run.retry);
    if (run.slurmId !== null) bySlurmId.delete(run.slurmId);
    const status = job?.exit_code ?? null;
    const signal = status === null ? null : status & 0x7f;
    emitExit(listeners, {
      jobId: run.jobId,
      runId: run.runId,
      at: Date.now() / 1000,
      exitCode: status === null || signal !== 0 ? null : (status >> 8) & 0xff,
      signal: signal ? (SIGNALS[signal] ?? `signal ${signal}`) : null,
      stopped: run.stopped,
      timedOut: job?.job_state === 'TIMEOUT',
    });
    run.resolveGone();
  };

  const poll = async (): Promise<void> => {
    if (bySlurmId.size === 0) return;
    // Only runs submitted before squeue was asked: a newer one may not be in its answer yet.
    const asked = [...bySlurmId];
    let jobs: SqueueJob[];
    try {
      jobs = parseSqueueJson(await slurmCommand(options.commands, 'squeue', ['--json']));
    } catch (error) {
      failed(error);
      return;
    }
    options.onPoll?.();
    const seen = new Map(jobs.map((job) => [String(job.job_id), job]));
    for (const [slurmId, run] of asked) {
      if (run.ended) continue;
      const job = seen.get(slurmId);
      // Missing: a controller that has just restarted may answer before it has loaded its jobs,
      // so only a job missing from MISSING_POLLS answers in a row counts as ended and purged
      // (MinJobAge), how no longer known.
      if (!job) {
        run.missing++;
        if (run.missing >= MISSING_POLLS) report(run, null);
        continue;
      }
      run.missing = 0;
      if (ENDED.has(job.job_state)) report(run, job);
      else if (run.stopped && !run.cancelSent) await cancel(run);
    }
  };

  const schedule = (): void => {
    if (closed && runs.size === 0) return;
    timer = setTimeout(() => {
      polling = poll().finally(() => {
        polling = null;
        schedule();
      });
    }, pollMs);
    timer.unref();
  };
  schedule();

  /** `scancel`; false when Slurm could not be asked (the next poll tries again). */
  const cancel = async (run: SlurmRun): Promise<void> => {
    if (run.slurmId === null) {
      report(run, null); // never reached Slurm: nothing to stop
      return;
    }
    try {
      await slurmCommand(options.commands, 'scancel', [run.slurmId]);
      run.cancelSent = true;
    } catch (error) {
      failed(error);
    }
  };

  const stop = async (jobId: string, runId: string): Promise<void> => {
    const run = runs.get(runKey(jobId, runId));
    if (!run) return;
    if (!run.stopped) {
      run.stopped = true;
      await cancel(run);
    }
    await run.gone;
  };

  /** Jobs in Slurm of this instance's runs, not ended; throws when Slurm cannot be asked. */
  const liveJobsOfInstance = async (): Promise<SqueueJob[]> => {
    const jobs = parseSqueueJson(await slurmCommand(options.commands, 'squeue', ['--json']));
    return jobs.filter((job) => parseRunComment(job.comment ?? '')?.instance === options.instance && !ENDED.has(job.job_state));
  };

  return {
    kind: 'slurm',

    async start(run: RunRequest): Promise<void> {
      if (closed) throw new ExecutorError('executor_closed', 'the executor is closed', false);
      if ((run.command?.trim() ?? '') === '') {
        throw new ExecutorError('invalid_run', `job ${run.jobId} has no command: the Slurm executor runs a job's "command" as its batch script`, false);
      }
      const key = runKey(run.jobId, run.runId);
      if (runs.has(key)) throw new ExecutorError('duplicate_run', `run ${run.runId} of job ${run.jobId} is already running`, false);
      const args = sbatchArgs(run, options);
      const submit = async (): Promise<string> => {
        const out = await slurmCommand(options.commands, 'sbatch', args);
        const id = out.trim().split(';')[0] ?? '';
        if (!/^\d+$/.test(id)) throw new ExecutorError('slurm_output', `sbatch printed "${out.trim()}" instead of a job id`, false);
        return id;
      };
      let slurmId: string | null = null;
      try {
        slurmId = await submit();
      } catch (error) {
        // Slurm refused the job: the caller is told, quoting Slurm. An unreachable controller:
        // the run is kept and sbatch retried with backoff (below), the loop never waits for it.
        if (!unreachable(error)) throw failed(error);
        failed(error);
      }
      let resolveGone: () => void = () => {};
      const record: SlurmRun = {
        jobId: run.jobId,
        runId: run.runId,
        slurmId,
        stopped: false,
        cancelSent: false,
        missing: 0,
        retry: null,
        ended: false,
        resolveGone: () => resolveGone(),
        gone: new Promise<void>((resolve) => (resolveGone = resolve)),
      };
      runs.set(key, record);
      if (slurmId !== null) bySlurmId.set(slurmId, record);
      else {
        let delay = RETRY_FIRST_MS;
        const again = (): void => {
          record.retry = setTimeout(() => {
            record.retry = null;
            if (record.ended || record.stopped) return;
            submit().then(
              (id) => {
                record.slurmId = id;
                bySlurmId.set(id, record);
                if (record.stopped || closed) void cancel(record);
              },
              (error: unknown) => {
                failed(error);
                if (!unreachable(error)) report(record, null); // refused now: the run ends (failed)
                else {
                  delay = Math.min(RETRY_MAX_MS, delay * 2);
                  again();
                }
              },
            );
          }, delay);
        };
        again();
      }
    },

    stop,

    async reapOrphans() {
      const left = await liveJobsOfInstance();
      if (left.length === 0) return { jobs: [], processes: 0 };
      await slurmCommand(options.commands, 'scancel', left.map((job) => String(job.job_id)));
      // Wait (bounded) until Slurm reports them ended: their GPUs are free only then.
      for (let i = 0; i < 600; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        if ((await liveJobsOfInstance()).length === 0) break;
      }
      return { jobs: [...new Set(left.map((job) => parseRunComment(job.comment)!.jobId))], processes: left.length };
    },

    async close(): Promise<void> {
      closed = true;
      // Never leave a run behind that a restart would start a second time.
      await Promise.all([...runs.values()].map((run) => stop(run.jobId, run.runId)));
      if (timer) clearTimeout(timer);
      await polling;
    },

    onExit(listener: (exit: RunExit) => void): void {
      listeners.push(listener);
    },

    running() {
      return [...runs.values()].map((run) => ({ jobId: run.jobId, runId: run.runId, slurmId: run.slurmId }));
    },
  };
}
