// The Slurm executor (`arbiter serve --executor slurm`, docs/slurm.md): Arbiter decides, Slurm
// executes. Each run becomes one batch job pinned to exactly the nodes and GPUs per node the
// engine chose (`sbatch --nodelist=... -N n --gres=gpu:<type>:<per node>`), carrying the Arbiter
// job, run and team in its name and comment, the team as its account when asked, and the job's
// time limit (`--time`).
//
// Nothing here makes the scheduling loop wait for Slurm. start() and stop() only record what
// is wanted and return; a background actor runs Slurm's commands, each with a short timeout
// (with slurmctld down they would otherwise wait Slurm's MessageTimeout), and what comes of them
// comes back as events: onExit (a run ended), onEvent `refused` (sbatch said no: the job waits
// again, quoting Slurm), onEvent `nodes` (nodes down or drained, jobs outside Arbiter).
//
// State is observed, never assumed: every pollMs, `scontrol show nodes --oneliner` (node
// states) beside `squeue -O` (the jobs not ended, SQUEUE_FORMAT, then the runs' jobs that left
// them); the jobs every fastPollMs while the loop has jobs waiting for GPUs (demand()). A run ends when Slurm
// says its job ended, with its exit code or signal: COMPLETED, FAILED, TIMEOUT, CANCELLED by
// someone else (an operator), NODE_FAIL (reported as a node failure: the job is requeued); a job
// still COMPLETING holds its GPUs. A poll that fails is retried at the next one.
//
// Submissions: up to submitsAtOnce sbatch at a time, each run's as soon as it is decided. An sbatch that cannot reach the
// controller (or runs out of time, in which case Slurm may have taken the job) is tried again
// after a backoff, or as soon as a poll answers again after failing: before each new try the
// poll looks for a job carrying the run's comment, so a run is never submitted twice.
//
// Stopping (preemption, cancel): a running job gets SIGTERM (`scancel --signal=TERM --full`) and
// its grace period to end, then `scancel` (SIGTERM to every process of the job, then SIGKILL
// after Slurm's KillWait). The exit is reported (stopped: true) only once Slurm reports the job
// ended, so the GPUs go to the next run only when Slurm has freed them; a scancel that fails is
// sent again at the next poll.
//
// Crash safety: Slurm jobs outlive the server. recoverRuns() lists this server's jobs (its
// instance in the comment); the live loop adopts the runs it had stored as running, starts those
// it had decided but not launched, and recovered() cancels the rest (runs it had stopped).
// close() leaves every Slurm job running: the next start adopts them.
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecutorError, type Executor, type ExecutorEvent, type ForeignJob, type FoundRun, type NodeCondition, type RunExit, type RunRequest } from './port.js';
import { emitExit, runKey } from './simulated.js';
import { expandHostlist, parseScontrolNodes, slurmCommand, type SlurmCommands, type SlurmNode, type SlurmPlace } from './slurm-fleet.js';

export interface SlurmExecutorOptions {
  readonly partition: string;
  readonly commands: SlurmCommands;
  /** Engine node -> Slurm node (matchFleet). */
  readonly nodes: ReadonlyMap<string, SlurmPlace>;
  /** Where each job's output goes, `<outputDir>/<jobId>.log` (must be reachable from the nodes). */
  readonly outputDir: string;
  /** Marks this server's Slurm jobs (in their comment), so a restart finds them. */
  readonly instance: string;
  /** Team -> Slurm account (`sbatch --account`); a team not listed takes its nearest ancestor's. */
  readonly accounts?: ReadonlyMap<string, string>;
  /** Milliseconds between polls of Slurm (default 1000); node states are read at this pace. */
  readonly pollMs?: number;
  /**
   * Milliseconds between polls of the runs' jobs while jobs wait for GPUs that runs in flight
   * hold (demand(true)): a run's end is then used at once (default 200). At least the last poll's
   * duration, at most pollMs: one poll at a time, in flight at most half the time.
   */
  readonly fastPollMs?: number;
  /** sbatch commands run at once at most (default 4: more only made each slower on a loaded slurmctld, BENCHMARKS.md 7). */
  readonly submitsAtOnce?: number;
  /**
   * Seconds a stopped run (preempted, cancelled) has to end after SIGTERM before it is cancelled
   * (`scancel --signal=TERM --full`, then `scancel`: SIGTERM again, SIGKILL after KillWait). 0:
   * `scancel` at once (Slurm's KillWait alone). Default 10, as the local executor.
   */
  readonly graceSeconds?: number;
  /**
   * Where each batch script leaves its end hint (an empty file named after its Slurm job id,
   * written by an EXIT trap), default `<outputDir>/.ends`; null: no hints, ends are found by
   * polls alone. Like outputDir, it must be reachable from the nodes.
   */
  readonly endDir?: string | null;
  /** Called on every failed Slurm command. */
  readonly onError?: (error: ExecutorError) => void;
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
  readonly user_name?: string;
  /** e.g. ["gpu:a100:4(IDX:0-3)"], one per node, while it runs (squeue --json). */
  readonly gres_detail?: readonly string[];
  /** GPUs it asked for on each node (squeue -O tres-per-node / tres-per-job), when gres_detail is absent. */
  readonly gpus_per_node?: number;
}

/**
 * The columns a poll asks of `squeue -O` (every job the controller holds, ended ones too), each
 * followed by "|". Comment and name come last: free text, a "|" in them cannot shift the
 * columns before (a comment of Arbiter's never holds one). Far cheaper for slurmctld and
 * squeue than `squeue --json` (which ignores filters in 22.05 and prints kilobytes per job).
 */
export const SQUEUE_FORMAT = 'JobID:|,exit_code:|,State:|,NodeList:|,tres-per-node:|,tres-per-job:|,UserName:|,Partition:|,Reason:|,Comment:|,Name:';

/** GPUs in a TRES string: "gres:gpu:a100:6", "gres/gpu:4", "gres:gpu:2,gres:mps:100"; 0 for none or N/A. */
export function gpusOfTres(tres: string): number {
  let gpus = 0;
  for (const item of tres.split(',')) {
    const m = /^gres[:/]gpu(?::[^:]+)?:(\d+)$/.exec(item.trim());
    if (m) gpus += Number(m[1]);
  }
  return gpus;
}

/** Reads `squeue -h -t all -O SQUEUE_FORMAT`. */
export function parseSqueueFormatted(text: string): SqueueJob[] {
  const jobs: SqueueJob[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const parts = line.split('|');
    if (parts.length < 11 || !/^\d+$/.test(parts[0]!.trim())) throw new ExecutorError('slurm_output', `squeue printed an unexpected line: "${line.slice(0, 80)}"`, true);
    const [id, exit, state, nodes, perNode, perJob, user, partition, reason] = parts.map((p) => p.trim());
    const comment = parts[9]!;
    const name = parts.slice(10).join('|');
    const nodeCount = nodes === '' || nodes === '(null)' ? 0 : expandHostlist(nodes!).length;
    const total = gpusOfTres(perJob!);
    jobs.push({
      job_id: Number(id),
      name,
      comment: comment === '(null)' ? '' : comment,
      // A job ended "CANCELLED by 0" is CANCELLED.
      job_state: state!.split(' ')[0]!,
      nodes: nodes === '(null)' ? '' : nodes!,
      exit_code: Number(exit) || 0,
      state_reason: reason!,
      partition: partition!,
      user_name: user!,
      gpus_per_node: gpusOfTres(perNode!) || (nodeCount > 0 ? Math.ceil(total / nodeCount) : 0),
    });
  }
  return jobs;
}

const ENDED = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED', 'SPECIAL_EXIT']);
/** States in which a job holds its nodes' GPUs. */
const HOLDING = new Set(['RUNNING', 'COMPLETING', 'CONFIGURING', 'SUSPENDED', 'STOPPED', 'SIGNALING', 'STAGE_OUT', 'RESIZING']);
/** A node in one of these states takes no new job (its GPUs are withheld from the engine). */
const UNUSABLE = /DOWN|DRAIN|FAIL|INVAL|FUTURE|MAINT|REBOOT|POWER|NOT_RESPONDING|\*/;

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

/** `--time` in Slurm's minutes:seconds (at least one second; Slurm rounds it up to whole minutes). */
export function slurmTime(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The Slurm account of a run: its team's, else its nearest ancestor's (`teams` is the team, then its ancestors). */
export function accountOf(teams: readonly string[] | undefined, accounts: ReadonlyMap<string, string> | undefined): string | null {
  if (!accounts) return null;
  for (const team of teams ?? []) {
    const account = accounts.get(team);
    if (account !== undefined) return account;
  }
  return null;
}

/** A word for sh, quoted: 'it'\''s'. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The batch script of a run: its command, after a trap that, when the script exits (not when a
 * signal kills it), leaves an empty file `<endDir>/<Slurm job id>` as a hint that the job is
 * ending. The trap keeps the script's exit status (POSIX sh) and stays silent if the file
 * cannot be written; a command that sets its own EXIT trap, or execs, gives no hint, and its end
 * is found by a poll as without hints.
 */
export function batchScript(command: string, endDir: string | null | undefined): string {
  if (!endDir) return command;
  const touch = `true 2>/dev/null >${shellQuote(`${endDir}/`)}"$SLURM_JOB_ID"`;
  return `trap ${shellQuote(touch)} EXIT\n${command}`;
}

/** The sbatch arguments of a run (the command goes through --wrap). */
export function sbatchArgs(run: RunRequest, options: Pick<SlurmExecutorOptions, 'partition' | 'nodes' | 'outputDir' | 'instance' | 'accounts' | 'endDir'>): string[] {
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
  const account = accountOf(run.teams, options.accounts);
  return [
    '--parsable',
    `--partition=${options.partition}`,
    `--nodes=${places.length}`,
    `--nodelist=${places.map((p) => p.node).join(',')}`,
    `--ntasks-per-node=1`,
    `--gres=gpu:${type === '' ? '' : `${type}:`}${perNode}`,
    `--job-name=arbiter-${run.jobId}`,
    `--comment=${runComment(options.instance, team, run.jobId, run.runId)}`,
    ...(account !== null ? [`--account=${account}`] : []),
    // Arbiter requeues; a job Slurm would requeue on its own (node failure) is ended and reported.
    '--no-requeue',
    `--output=${join(options.outputDir, `${run.jobId}.log`)}`,
    '--open-mode=append',
    ...(run.timeLimit !== null ? [`--time=${slurmTime(run.timeLimit)}`] : []),
    '--wrap',
    batchScript(run.command ?? '', options.endDir),
  ];
}

/** Whether a failed Slurm command failed because the controller could not be reached (or did not answer in time). */
export function unreachable(error: unknown): boolean {
  return error instanceof ExecutorError && error.code === 'slurm_unreachable';
}

/** GPUs of each node a job holds, from `gres_detail` ("gpu:a100:4(IDX:0-3)", one per node, in node order). */
export function gpusPerNode(job: Pick<SqueueJob, 'nodes' | 'gres_detail' | 'gpus_per_node'>): { node: string; gpus: number }[] {
  const nodes = job.nodes ? expandHostlist(job.nodes) : [];
  return nodes.map((node, i) => {
    if (job.gres_detail === undefined) return { node, gpus: job.gpus_per_node ?? 0 };
    const detail = job.gres_detail[i] ?? '';
    let gpus = 0;
    for (const item of detail.split(/,(?![^(]*\))/)) {
      const m = /^gpu(?::[^:(]+)?:(\d+)/.exec(item.trim());
      if (m) gpus += Number(m[1]);
    }
    return { node, gpus };
  });
}

/** Timeouts of Slurm's commands (ms): a poll, an sbatch, an scancel. */
const POLL_TIMEOUT_MS = 8000;
const SBATCH_TIMEOUT_MS = 10_000;
/** After an orphaned sbatch is killed, slurmctld may still be handling the job it sent. */
const ORPHAN_MARGIN_MS = 2000;
const SCANCEL_TIMEOUT_MS = 8000;
const SUBMITS_AT_ONCE = 4;
const FAST_POLL_MS = 200;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;
/**
 * A job missing from this many squeue answers in a row, over at least MISSING_MS, counts as
 * ended (a restarted controller may answer before it has loaded its jobs).
 */
const MISSING_POLLS = 10;
const MISSING_MS = 10_000;
/** recovered() waits at most this long for the runs it cancels to end in Slurm. */
const RECOVERY_WAIT_MS = 60_000;
/** A job whose end hint came is polled at the fast pace until Slurm shows it ended, at most this long. */
const HINT_MS = 10_000;

export interface SlurmRunExecutor extends Executor {
  /** Slurm job id of each run in flight (null while not submitted). */
  running(): { jobId: string; runId: string; slurmId: string | null }[];
}

type Phase = 'queued' | 'submitting' | 'waiting' | 'submitted';

interface SlurmRun {
  readonly request: RunRequest;
  readonly jobId: string;
  readonly runId: string;
  readonly comment: string;
  phase: Phase;
  slurmId: string | null;
  /** When the run got its Slurm id (ms): only polls asked later judge it. */
  boundAt: number;
  attempts: number;
  nextAttempt: number;
  /** When its last sbatch failed (ms): only polls asked later may look for it or try again. */
  failedAt: number;
  stopped: boolean;
  cancelSent: boolean;
  /** Its Slurm state at the last poll ('' before one saw it). */
  state: string;
  /** When SIGTERM reached it (ms; 0: it could not be signalled), null before; a scancel --signal in flight. */
  signalledAt: number | null;
  signalling: boolean;
  /** Set when Arbiter cancels the run because a node it runs on is down in Slurm. */
  nodeFailed: string | null;
  /** When the loop handed it over (ms). */
  readonly trackedAt: number;
  missing: number;
  /** When the current run of missing answers began (ms). */
  missingSince: number;
  ended: boolean;
  resolveGone: () => void;
  readonly gone: Promise<void>;
}

export async function createSlurmExecutor(options: SlurmExecutorOptions): Promise<SlurmRunExecutor> {
  const pollMs = options.pollMs ?? 1000;
  const fastPollMs = Math.min(pollMs, options.fastPollMs ?? FAST_POLL_MS);
  const submitsAtOnce = Math.max(1, options.submitsAtOnce ?? SUBMITS_AT_ONCE);
  const graceMs = Math.max(0, options.graceSeconds ?? 10) * 1000;
  /** Every sbatch of a server before this one (killed with it) is over by then (ms). */
  const orphansOverAt = Date.now() + SBATCH_TIMEOUT_MS + ORPHAN_MARGIN_MS;
  const endDir = options.endDir === undefined ? join(options.outputDir, '.ends') : options.endDir;
  const submitOptions = { ...options, endDir };
  const exitListeners: ((exit: RunExit) => void)[] = [];
  const eventListeners: ((event: ExecutorEvent) => void)[] = [];
  const runs = new Map<string, SlurmRun>();
  const bySlurmId = new Map<string, SlurmRun>();
  const byComment = new Map<string, SlurmRun>();
  const engineNodeOf = new Map([...options.nodes].map(([engine, place]) => [place.node, { engine, gpus: place.gpus }]));
  const errors = new Map<string, number>();
  let submitting = 0;
  let closed = false;
  let timer: NodeJS.Timeout | null = null;
  /** When the pending poll is due (ms). */
  let dueAt = 0;
  let polling: Promise<void> | null = null;
  /** How long the last poll took (ms): fast polls keep at least that apart. */
  let lastPollMs = 0;
  /** Whether the loop has jobs waiting for GPUs (demand()): then runs' ends are watched closely. */
  let demanded = false;
  /**
   * The node states and the jobs not ended that no run claims (outside Arbiter, strays), as last
   * read, and when: read every pollMs; a fast poll between asks only for the runs' jobs.
   */
  let lastNodes: SlurmNode[] = [];
  let lastOthers: SqueueJob[] = [];
  let listedAt = -Infinity;
  /** The last poll's failure, null once one succeeds. */
  let pollFailure: { at: number; cause: string } | null = null;
  let lastSubmitFailure: string | null = null;
  let lastConditions = '';
  /** After recovery: jobs of this instance that no run claims are cancelled. */
  let recovering = true;
  /** recoverRuns() has read Slurm: the runs started until recovered() were decided before a restart. */
  let recoveryRead = false;
  let found = new Map<string, FoundRun>();
  const strayCancelled = new Map<string, number>();
  await mkdir(options.outputDir, { recursive: true });
  if (endDir) await mkdir(endDir, { recursive: true });

  /** Per Slurm command: calls and their seconds in all (metrics: where the time goes). */
  const timings = new Map<string, { count: number; seconds: number }>();
  const time = (name: string, seconds: number): void => {
    const t = timings.get(name) ?? { count: 0, seconds: 0 };
    t.count++;
    t.seconds += seconds;
    timings.set(name, t);
  };
  /** A Slurm command, timed (failed ones too). */
  const slurm = (program: string, args: readonly string[], timeoutMs: number, outlive = true): Promise<string> => {
    const began = performance.now();
    return slurmCommand(options.commands, program, args, timeoutMs, outlive).finally(() => time(program, (performance.now() - began) / 1000));
  };

  /** Counts a failed call (operation: start = sbatch, stop = scancel, poll = scontrol and squeue). */
  const failed = (error: unknown, operation: 'start' | 'stop' | 'poll'): ExecutorError => {
    const e = error instanceof ExecutorError ? error : new ExecutorError('slurm_failed', error instanceof Error ? error.message : String(error), true, { cause: error });
    const key = `${operation}\u0000${e.code}`;
    errors.set(key, (errors.get(key) ?? 0) + 1);
    options.onError?.(e);
    return e;
  };
  const emit = (event: ExecutorEvent): void => {
    for (const listener of eventListeners) listener(event);
  };

  /**
   * Slurm jobs whose runs were reported ended, and when (ms), for a minute: a list of jobs asked
   * before such an end (a poll in flight while an end check reported it) still shows the job
   * running, and must not make it a job no run claims (cancelled) or one outside Arbiter.
   */
  const endedIds = new Map<string, number>();
  const forget = (run: SlurmRun): void => {
    run.ended = true;
    runs.delete(runKey(run.jobId, run.runId));
    byComment.delete(run.comment);
    if (run.slurmId !== null) {
      bySlurmId.delete(run.slurmId);
      endedIds.set(run.slurmId, Date.now());
    }
    run.resolveGone();
  };

  const report = (run: SlurmRun, job: SqueueJob | null, why?: string): void => {
    if (run.ended) return;
    forget(run);
    const state = job?.job_state ?? null;
    const status = job?.exit_code ?? null;
    const signal = status === null ? null : status & 0x7f;
    const nodeFailure = run.nodeFailed ?? (state === 'NODE_FAIL' ? (job?.nodes ?? null) : null);
    emitExit(exitListeners, {
      jobId: run.jobId,
      runId: run.runId,
      at: Date.now() / 1000,
      exitCode: status === null || signal !== 0 || state === 'CANCELLED' || state === 'NODE_FAIL' ? null : (status >> 8) & 0xff,
      signal: signal ? (SIGNALS[signal] ?? `signal ${signal}`) : null,
      stopped: run.stopped && nodeFailure === null,
      timedOut: state === 'TIMEOUT',
      nodeFailure,
      cancelled: state === 'CANCELLED' && !run.stopped && nodeFailure === null,
      detail: why ?? (job ? `Slurm job ${job.job_id} ${state}${job.state_reason && job.state_reason !== 'None' ? ` (${job.state_reason})` : ''}` : `never reached Slurm`),
    });
  };

  const bind = (run: SlurmRun, id: string): void => {
    run.slurmId = id;
    run.phase = 'submitted';
    run.boundAt = Date.now();
    bySlurmId.set(id, run);
    if (run.stopped) cancel(run);
    else if (hints.has(id)) pollSoon(); // it ended before its sbatch had answered
  };

  /**
   * End hints: a run's batch script, when it exits, leaves `<endDir>/<Slurm id>` (batchScript).
   * The next poll is then brought forward (it asks for the runs' jobs by id, ended ones too), so
   * the end (and the GPUs) is known about a poll's time after it happens rather than up to a
   * poll interval later. No command is added: a hint only moves the next poll, never sooner than
   * half the last poll's time after it ended (on a loaded machine every extra Slurm command slows
   * every other, BENCHMARKS.md 7). A hint is only a hint: the run ends when, and as, Slurm says.
   */
  const hints = new Map<string, number>();
  /** A hint came while a poll was in flight (asked, perhaps, before that end). */
  let hintedMidPoll = false;
  let watcher: FSWatcher | null = null;
  /** When the last poll ended (ms). */
  let lastPollEnd = 0;
  const hint = (name: string): void => {
    if (closed || !endDir || !/^\d+$/.test(name)) return;
    unlink(join(endDir, name)).catch(() => {});
    if (hints.has(name)) return;
    hints.set(name, Date.now()); // a job not bound yet (its sbatch has not answered) counts once bound
    if (polling !== null) hintedMidPoll = true;
    else if (bySlurmId.has(name)) pollSoon();
  };
  /** Brings the next poll forward for a hinted run (none while one is in flight: it is asked again after). */
  const pollSoon = (): void => {
    if (closed || polling !== null || timer === null) return;
    const delay = Math.max(0, lastPollEnd + lastPollMs / 2 - Date.now());
    if (dueAt > Date.now() + delay) schedule(delay);
  };
  /** Whether a run with a hint has not been seen ended yet (hints older than HINT_MS are dropped). */
  const hinted = (): boolean => {
    const now = Date.now();
    for (const [id, at] of hints) if (now - at > HINT_MS || bySlurmId.get(id)?.ended === true || (!bySlurmId.has(id) && now - at > 1000)) hints.delete(id);
    return [...hints.keys()].some((id) => bySlurmId.has(id));
  };
  /** Hints that fs.watch missed (a file system that does not tell, an executor started after them). */
  const readHints = (): void => {
    if (endDir) readdir(endDir).then((names) => names.forEach(hint), () => {});
  };
  if (endDir) {
    try {
      watcher = watch(endDir, (_event, name) => {
        if (name) hint(String(name));
      });
      watcher.on('error', () => {
        watcher?.close();
        watcher = null;
      });
      watcher.unref();
    } catch {
      watcher = null; // polls read the folder
    }
  }

  /**
   * Stops a run, in the background: a running job gets SIGTERM (`scancel --signal=TERM --full`:
   * the batch script and every step) and graceMs to end, then `scancel` (SIGTERM, SIGKILL after
   * KillWait); a job not running yet, or on a failed node, is cancelled at once. Called again by
   * every poll until the scancel is sent; a failure is retried by the next poll.
   */
  const cancel = (run: SlurmRun): void => {
    if (run.slurmId === null) {
      // Never reached Slurm, and never will: nothing to stop. One in sbatch is cancelled once bound.
      if (run.phase !== 'submitting') report(run, null, 'stopped before it reached Slurm');
      return;
    }
    if (run.cancelSent || run.signalling) return;
    const grace = graceMs > 0 && run.nodeFailed === null && (run.state === 'RUNNING' || run.signalledAt !== null);
    if (grace && run.signalledAt === null) {
      run.signalling = true;
      slurm('scancel', ['--signal=TERM', '--full', run.slurmId], SCANCEL_TIMEOUT_MS)
        .then(
          () => {
            run.signalledAt = Date.now();
            // Cancelled when its grace period is over (a poll would do it too, up to pollMs later).
            setTimeout(() => {
              if (!run.ended && !run.cancelSent && !closed) cancel(run);
            }, graceMs).unref();
          },
          (error: unknown) => {
            // Slurm said no (it is no longer running): cancelled at once; unreachable: tried again.
            if (!unreachable(failed(error, 'stop'))) run.signalledAt = 0;
          },
        )
        .finally(() => {
          run.signalling = false;
          if (run.signalledAt === 0 && !run.ended) cancel(run);
        });
      return;
    }
    if (grace && Date.now() < run.signalledAt! + graceMs) return; // its grace goes on: the timer above comes back
    run.cancelSent = true;
    slurm('scancel', [run.slurmId], SCANCEL_TIMEOUT_MS).catch((error: unknown) => {
      run.cancelSent = false;
      failed(error, 'stop');
    });
  };

  const submit = (run: SlurmRun): void => {
    if (run.attempts === 0) time('wait to submit', (Date.now() - run.trackedAt) / 1000);
    run.phase = 'submitting';
    submitting++;
    // Under `timeout`: an sbatch orphaned by a kill -9 of the server is over SBATCH_TIMEOUT_MS after it began.
    slurm('sbatch', sbatchArgs(run.request, submitOptions), SBATCH_TIMEOUT_MS, false)
      .then((out) => {
        const id = out.trim().split(';')[0] ?? '';
        if (!/^\d+$/.test(id)) throw new ExecutorError('slurm_output', `sbatch printed "${out.trim()}" instead of a job id`, true);
        lastSubmitFailure = null;
        if (!run.ended) bind(run, id);
      })
      .catch((error: unknown) => {
        const e = failed(error, 'start');
        if (run.ended) return;
        if (e.retryable) {
          // Slurm may have taken it (an sbatch that ran out of time): a poll looks for its comment first.
          lastSubmitFailure = e.message;
          run.phase = 'waiting';
          run.attempts++;
          run.failedAt = Date.now();
          run.nextAttempt = Date.now() + Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (run.attempts - 1));
          if (run.stopped) report(run, null, 'stopped before it reached Slurm');
          return;
        }
        // Slurm said no: the job waits again in Arbiter, with Slurm's words as its reason.
        forget(run);
        emit({ kind: 'refused', jobId: run.jobId, runId: run.runId, at: Date.now() / 1000, message: e.message });
      })
      .finally(() => {
        submitting--;
        pump();
      });
  };

  const pump = (): void => {
    if (closed) return;
    for (const run of runs.values()) {
      if (submitting >= submitsAtOnce) return;
      if (run.phase === 'queued') submit(run);
    }
  };

  /** Node conditions from `scontrol show nodes` and the jobs outside Arbiter from `squeue`. */
  const conditionsOf = (nodes: readonly SlurmNode[], jobs: readonly SqueueJob[], failing: ReadonlyMap<string, string>): { conditions: NodeCondition[]; foreign: ForeignJob[]; down: Map<string, string> } => {
    const down = new Map<string, string>();
    const withheld = new Map<string, { gpus: number; state: string | null; why: string[] }>();
    // Nodes that failed under a run this poll reports (NODE_FAIL), even if the node list was read
    // before Slurm marked them: withheld before the run is requeued, so it goes elsewhere.
    for (const [name, why] of failing) {
      const mine = engineNodeOf.get(name);
      if (mine) withheld.set(mine.engine, { gpus: mine.gpus, state: 'NODE_FAIL', why: [why] });
    }
    for (const node of nodes) {
      const mine = engineNodeOf.get(node.name);
      if (!mine || !UNUSABLE.test(node.state)) continue;
      const why = `Slurm node ${node.name} is ${node.state}${node.reason ? ` (${node.reason})` : ''}`;
      withheld.set(mine.engine, { gpus: mine.gpus, state: node.state, why: [why] });
      if (/DOWN|FAIL|NOT_RESPONDING|\*/.test(node.state)) down.set(node.name, why);
    }
    const foreign: ForeignJob[] = [];
    for (const job of jobs) {
      if (ENDED.has(job.job_state)) continue;
      const mark = parseRunComment(job.comment ?? '');
      if (mark !== null && mark.instance === options.instance) continue;
      const placement: { node: string; gpus: number }[] = [];
      if (HOLDING.has(job.job_state)) {
        for (const { node, gpus } of gpusPerNode(job)) {
          const mine = engineNodeOf.get(node);
          if (!mine || gpus === 0) continue;
          placement.push({ node: mine.engine, gpus });
          const w = withheld.get(mine.engine) ?? { gpus: 0, state: null, why: [] };
          if (w.state === null) w.gpus += gpus;
          w.why.push(`Slurm job ${job.job_id} of ${job.user_name ?? 'someone'}, outside Arbiter, holds ${gpus}`);
          withheld.set(mine.engine, w);
        }
      }
      // A pending job outside Arbiter is reported too when it asks for this partition.
      if (placement.length > 0 || job.partition.split(',').includes(options.partition)) {
        foreign.push({ id: String(job.job_id), name: job.name, user: job.user_name ?? '', state: job.job_state, placement });
      }
    }
    const conditions = [...withheld].map(([node, w]) => ({ node, withheld: Math.min(w.gpus, options.nodes.get(node)!.gpus), state: w.state, why: w.why.join('; ') }));
    conditions.sort((a, b) => a.node.localeCompare(b.node));
    foreign.sort((a, b) => Number(a.id) - Number(b.id));
    return { conditions, foreign, down };
  };

  const readNodes = async (): Promise<SlurmNode[]> => {
    lastNodes = parseScontrolNodes(await slurm('scontrol', ['show', 'nodes', '--oneliner'], POLL_TIMEOUT_MS));
    return lastNodes;
  };

  /** Slurm's nodes and jobs now (the runs' jobs at least); throws when Slurm does not answer. */
  const observe = async (full = false): Promise<{ nodes: SlurmNode[]; jobs: SqueueJob[] }> => {
    const squeue = (args: string[]): Promise<SqueueJob[]> => slurm('squeue', ['-h', ...args, '-O', SQUEUE_FORMAT], POLL_TIMEOUT_MS).then(parseSqueueFormatted);
    // Every job Slurm holds, ended ones too, only when it matters (recovery, an sbatch in doubt):
    // with MinJobAge that is every job of the last minutes.
    if (full || [...runs.values()].some((r) => r.phase === 'waiting')) {
      const [nodes, jobs] = await Promise.all([readNodes(), squeue(['-t', 'all'])]);
      lastOthers = jobs.filter((j) => !ENDED.has(j.job_state) && !bySlurmId.has(String(j.job_id)) && !endedIds.has(String(j.job_id)));
      listedAt = Date.now();
      return { nodes, jobs };
    }
    // Else, side by side: the runs' own jobs asked by id, ended ones too (their end state and
    // exit status); every pollMs also the node states and the jobs not ended (jobs outside
    // Arbiter, jobs of this instance no run claims). A fast poll between reuses the last of those.
    const ids = [...bySlurmId.keys()];
    // An id Slurm no longer knows makes squeue -j fail: then the whole list is read.
    const ours = ids.length === 0 ? Promise.resolve([]) : squeue(['-t', 'all', '-j', ids.join(',')]).catch(() => squeue(['-t', 'all']));
    const listAll = Date.now() - listedAt >= pollMs * 0.9;
    const [nodes, others, mine] = await Promise.all([listAll ? readNodes() : lastNodes, listAll ? squeue([]) : null, ours]);
    if (others !== null) {
      lastOthers = others.filter((j) => !bySlurmId.has(String(j.job_id)) && !endedIds.has(String(j.job_id)));
      listedAt = Date.now();
    }
    // One entry per job, the freshest.
    const fresh = new Set(mine.map((j) => String(j.job_id)));
    return { nodes, jobs: [...(others ?? lastOthers).filter((j) => !fresh.has(String(j.job_id))), ...mine] };
  };

  const poll = async (): Promise<void> => {
    readHints();
    const askedAt = Date.now();
    let seen: { nodes: SlurmNode[]; jobs: SqueueJob[] };
    try {
      seen = await observe();
    } catch (error) {
      const e = failed(error, 'poll');
      pollFailure = { at: Date.now() / 1000, cause: e.message };
      return;
    }
    apply(seen.nodes, seen.jobs, askedAt);
  };

  /** What a poll saw: capacity, then each run's job, then jobs no run claims. */
  const apply = (nodes: readonly SlurmNode[], jobs: readonly SqueueJob[], askedAt: number): void => {
    const cameBack = pollFailure !== null;
    pollFailure = null;
    const now = Date.now();

    // Capacity first: a run ended by a node failure below must not be placed on that node again.
    const failing = new Map<string, string>();
    for (const job of jobs) {
      if (job.job_state !== 'NODE_FAIL' || !bySlurmId.has(String(job.job_id))) continue;
      for (const name of expandHostlist(job.nodes)) failing.set(name, `Slurm node ${name} failed under Slurm job ${job.job_id}`);
    }
    const { conditions, foreign, down } = conditionsOf(nodes, jobs, failing);
    const key = JSON.stringify([conditions, foreign]);
    if (key !== lastConditions) {
      lastConditions = key;
      emit({ kind: 'nodes', at: now / 1000, conditions, foreign });
    }

    const byId = new Map<string, SqueueJob>();
    const mine = new Map<string, SqueueJob>();
    for (const job of jobs) {
      byId.set(String(job.job_id), job);
      const mark = parseRunComment(job.comment ?? '');
      if (mark !== null && mark.instance === options.instance) {
        // Of two jobs with one comment (should not happen), the live one counts.
        const before = mine.get(job.comment);
        if (!before || ENDED.has(before.job_state)) mine.set(job.comment, job);
      }
    }
    for (const run of [...runs.values()]) {
      if (run.ended) continue;
      if (run.phase === 'waiting') {
        if (run.failedAt >= askedAt) continue;
        const job = mine.get(run.comment);
        if (job) bind(run, String(job.job_id)); // an sbatch that ran out of time had gone through
        else if (cameBack || now >= run.nextAttempt) run.phase = 'queued';
        continue;
      }
      if (run.phase !== 'submitted' || run.boundAt >= askedAt) continue;
      const job = byId.get(run.slurmId!);
      if (!job) {
        if (run.missing++ === 0) run.missingSince = now;
        if (run.missing >= MISSING_POLLS && now - run.missingSince >= MISSING_MS) report(run, null, `Slurm job ${run.slurmId} is no longer known to slurmctld`);
        continue;
      }
      run.missing = 0;
      run.state = job.job_state;
      if (ENDED.has(job.job_state)) {
        report(run, job);
        continue;
      }
      // A node down under a job Slurm still counts as running, or keeps waiting for: Arbiter
      // ends it (and requeues it elsewhere).
      const failedNode = run.request.placement.map((p) => options.nodes.get(p.node)?.node ?? '').find((n) => down.has(n));
      if (failedNode !== undefined && run.nodeFailed === null) {
        run.nodeFailed = failedNode;
        run.stopped = true;
        run.cancelSent = false;
      }
      if (run.stopped && !run.cancelSent) cancel(run);
    }
    // Jobs of this instance that no run claims: left by a run Arbiter stopped before a crash, or
    // an sbatch that went through after it was tried again. Cancelled (once a minute at most).
    for (const [id, at] of endedIds) if (now - at > 60_000) endedIds.delete(id);
    if (!recovering) {
      for (const [comment, job] of mine) {
        if (ENDED.has(job.job_state) || endedIds.has(String(job.job_id))) continue;
        const run = byComment.get(comment);
        const id = String(job.job_id);
        if (run && (run.slurmId === null || run.slurmId === id)) continue;
        if (now - (strayCancelled.get(id) ?? 0) < 60_000) continue;
        strayCancelled.set(id, now);
        slurm('scancel', [id], SCANCEL_TIMEOUT_MS).catch((error: unknown) => failed(error, 'stop'));
      }
    }
    pump();
  };

  /**
   * Polls come every pollMs, or every fastPollMs (at least the last poll's duration)
   * while jobs wait for GPUs and runs are in Slurm: their ends are then noticed within a fraction
   * of a second, and their GPUs given at once, at a bounded cost to slurmctld.
   */
  const nextDelay = (): number => {
    // A hinted run still ending (COMPLETING) is asked for again at the fast pace.
    if (!(demanded && [...runs.values()].some((r) => r.phase === 'submitted')) && !hinted()) return pollMs;
    return Math.min(pollMs, Math.max(fastPollMs, lastPollMs));
  };

  const schedule = (delay: number): void => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    dueAt = Date.now() + delay;
    timer = setTimeout(() => {
      timer = null;
      const began = performance.now();
      polling = poll()
        .catch((error: unknown) => void failed(error, 'poll'))
        .finally(() => {
          lastPollMs = performance.now() - began;
          lastPollEnd = Date.now();
          time('poll', lastPollMs / 1000);
          polling = null;
          schedule(nextDelay());
          if (hintedMidPoll) pollSoon();
          hintedMidPoll = false;
        });
    }, delay);
    timer.unref();
  };

  const track = (run: RunRequest): SlurmRun => {
    const key = runKey(run.jobId, run.runId);
    if (runs.has(key)) throw new ExecutorError('duplicate_run', `run ${run.runId} of job ${run.jobId} is already running`, false);
    let resolveGone: () => void = () => {};
    const record: SlurmRun = {
      request: run,
      jobId: run.jobId,
      runId: run.runId,
      comment: runComment(options.instance, run.teams?.[0] ?? 'unknown', run.jobId, run.runId),
      phase: 'queued',
      slurmId: null,
      boundAt: 0,
      attempts: 0,
      nextAttempt: 0,
      failedAt: 0,
      stopped: false,
      cancelSent: false,
      state: '',
      signalledAt: null,
      signalling: false,
      nodeFailed: null,
      trackedAt: Date.now(),
      missing: 0,
      missingSince: 0,
      ended: false,
      resolveGone: () => resolveGone(),
      gone: new Promise<void>((resolve) => (resolveGone = resolve)),
    };
    runs.set(key, record);
    byComment.set(record.comment, record);
    return record;
  };

  /** Jobs in Slurm of this instance's runs (ended ones too); throws when Slurm cannot be asked. */
  const jobsOfInstance = async (): Promise<SqueueJob[]> => {
    const jobs = parseSqueueFormatted(await slurm('squeue', ['-h', '-t', 'all', '-O', SQUEUE_FORMAT], POLL_TIMEOUT_MS));
    return jobs.filter((job) => parseRunComment(job.comment ?? '')?.instance === options.instance);
  };

  schedule(pollMs);

  return {
    kind: 'slurm',

    async start(run: RunRequest): Promise<void> {
      if (closed) throw new ExecutorError('executor_closed', 'the executor is closed', false);
      if ((run.command?.trim() ?? '') === '') {
        throw new ExecutorError('invalid_run', `job ${run.jobId} has no command: the Slurm executor runs a job's "command" as its batch script`, false);
      }
      sbatchArgs(run, submitOptions); // an impossible placement is refused now, not in the background
      const record = track(run);
      // A run recovery found in Slurm is bound to its job, never submitted again.
      const there = found.get(run.runId);
      if (there && !ENDED.has(there.state)) bind(record, there.id);
      else if (recovering && recoveryRead) {
        // Decided before a restart, not found in Slurm: the server before may have died with its
        // sbatch still running, which may yet take the job. It is over SBATCH_TIMEOUT_MS after
        // it began (before this executor): the run waits until then, and a poll that lists every
        // job, asked after, adopts the job if it came (or the run is submitted): never twice.
        record.phase = 'waiting';
        record.failedAt = orphansOverAt;
        record.nextAttempt = orphansOverAt;
        lastSubmitFailure = `an sbatch of the server before the restart may still be running; waiting until ${new Date(orphansOverAt).toISOString()} to submit again`;
      } else pump();
    },

    stop(jobId: string, runId: string): Promise<void> {
      const run = runs.get(runKey(jobId, runId));
      if (!run) return Promise.resolve();
      if (!run.stopped) {
        run.stopped = true;
        cancel(run);
      }
      return run.gone;
    },

    async recoverRuns() {
      // A full poll first: the capacity it reports reaches the loop before its first pass.
      const askedAt = Date.now();
      const seen = await observe(true);
      apply(seen.nodes, seen.jobs, askedAt);
      const result = new Map<string, FoundRun>();
      for (const job of seen.jobs) {
        const mark = parseRunComment(job.comment ?? '');
        if (mark === null || mark.instance !== options.instance) continue;
        const before = result.get(mark.runId);
        if (before && !ENDED.has(before.state)) continue;
        result.set(mark.runId, { jobId: mark.jobId, runId: mark.runId, id: String(job.job_id), state: job.job_state });
      }
      found = result;
      recoveryRead = true;
      return result;
    },

    adopt(run: RunRequest, there: FoundRun): void {
      bind(track(run), there.id);
    },

    async recovered() {
      // Every live job of this instance that no run took back is cancelled, and waited for (its
      // GPUs are free only once Slurm says it ended), before the loop places anything.
      const claimed = new Set([...runs.values()].map((r) => r.slurmId));
      const left = [...found.values()].filter((f) => !ENDED.has(f.state) && !claimed.has(f.id));
      found = new Map();
      recovering = false;
      if (left.length === 0) return { stopped: [] };
      await slurm('scancel', left.map((f) => f.id), SCANCEL_TIMEOUT_MS);
      const ids = new Set(left.map((f) => f.id));
      for (const deadline = Date.now() + RECOVERY_WAIT_MS; Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const live = (await jobsOfInstance().catch(() => null))?.filter((j) => ids.has(String(j.job_id)) && !ENDED.has(j.job_state));
        if (live && live.length === 0) break;
      }
      return { stopped: left };
    },

    health() {
      if (pollFailure) return { ok: false, cause: `Slurm does not answer: ${pollFailure.cause}` };
      const waiting = [...runs.values()].filter((r) => r.phase === 'waiting').length;
      if (waiting > 0) return { ok: false, cause: `${waiting} run${waiting === 1 ? '' : 's'} wait${waiting === 1 ? 's' : ''} to be submitted to Slurm: ${lastSubmitFailure ?? 'sbatch failed'}` };
      return { ok: true };
    },

    timings() {
      return [...timings].map(([name, t]) => ({ name, ...t }));
    },

    errorCounts() {
      return [...errors].map(([key, count]) => {
        const [operation, code] = key.split('\u0000') as [string, string];
        return { operation, code, count };
      });
    },

    async close(): Promise<void> {
      // Slurm jobs go on: the next start of the server adopts them.
      closed = true;
      if (timer) clearTimeout(timer);
      watcher?.close();
      await polling;
    },

    onExit(listener: (exit: RunExit) => void): void {
      exitListeners.push(listener);
    },

    onEvent(listener: (event: ExecutorEvent) => void): void {
      eventListeners.push(listener);
    },

    demand(waiting: boolean): void {
      demanded = waiting;
      // A poll due later than a fast one would be is brought forward (never while one runs).
      if (waiting && timer !== null && polling === null) {
        const delay = nextDelay();
        if (dueAt > Date.now() + delay) schedule(delay);
      }
    },

    running() {
      return [...runs.values()].map((run) => ({ jobId: run.jobId, runId: run.runId, slurmId: run.slurmId }));
    },
  };
}
