// The live scheduling loop: the only place where a real clock, the database and the
// executors meet the engine (DESIGN.md). One actor processes commands in batches, so the
// engine is never touched concurrently:
//   submissions (one transaction per batch: group commit, then 201) -> engine.submit
//   run exits -> persist -> engine.finish
//   cancellations -> persist -> engine
//   then a pass: engine.tentativePass -> persist every decision -> commit -> executors act.
// A pass also runs when a minRuntime protection ends while jobs are pending (a timer that is
// re-armed after every pass, so it cannot silently stop).
import { Engine } from '../core/engine.js';
import type { PassResult } from '../core/engine.js';
import type { Fleet, JobSpec, Policy, TeamSpec } from '../core/model.js';
import { InvariantViolation, timeLimitOf } from '../core/model.js';
import type { Reason } from '../core/reasons.js';
import { runHistoryKey } from '../core/reasons.js';
import type { Executor, ExecutorEvent, ForeignJob, NodeCondition, RunExit } from '../executors/port.js';
import type { LiveJobStatus, PreemptionCause, RunPreemptor, StoredJob, StoredReason, Store } from '../storage/port.js';
import { StorageError } from '../storage/port.js';
import { IdempotencyConflict, sameSubmission, submissionHash } from './idempotency.js';

/**
 * The loop's transactions are straight lines of writes that never go on after one fails (the
 * failure ends the command, which is retried or answered): on PostgreSQL, no savepoint per write.
 */
const STRAIGHT = { stopAtFirstFailure: true } as const;

export interface SubmitInput {
  readonly team: string;
  readonly gpus: number;
  readonly class?: string | undefined;
  readonly flavor?: string | undefined;
  readonly name?: string | undefined;
  readonly duration?: number | undefined;
  readonly timeLimit?: number | undefined;
  readonly command?: string | undefined;
}

export interface LiveLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Why a run was preempted (docs/scheduling.md, P3), as the live server reports it. */
export type { PreemptionCause } from '../storage/port.js';

export interface LiveHooks {
  onPass?(result: PassResult, seconds: number): void;
  /**
   * Something people see changed: a job was submitted, cancelled, ended, started or preempted,
   * or a policy version came into force (never for a pass that changed nothing, such as one
   * that only refreshed reasons).
   */
  onChange?(): void;
  /**
   * A run started (stored and handed to the executor): `waited` seconds since the job was
   * submitted or last preempted; `insideGuarantee` when its team holds no more than its
   * guarantee with it.
   */
  onStart?(job: StoredJob, waited: number, insideGuarantee: boolean): void;
  /** A run was preempted (stored) to make room for `by`. */
  onPreempt?(victim: StoredJob, by: StoredJob, cause: PreemptionCause): void;
  /** The runs of a pass that preempted were started `seconds` after the pass decided it. */
  onReclaim?(seconds: number): void;
}

export interface LiveOptions {
  readonly store: Store;
  readonly executor: Executor;
  readonly fleet: Fleet;
  readonly policy: Policy;
  readonly policyVersion?: number;
  readonly policyText?: string;
  /** Seconds since the epoch. */
  readonly clock: () => number;
  /** Simulated executor speed: one wall second is `speed` seconds of work. */
  readonly speed: number;
  readonly logger: LiveLogger;
  readonly hooks?: LiveHooks;
}

type Command =
  | { kind: 'submit'; job: StoredJob; input: SubmitInput; resolve: (answer: Submitted) => void; reject: (error: unknown) => void }
  | { kind: 'exit'; exit: RunExit }
  | { kind: 'event'; event: ExecutorEvent }
  /** A job held back after the executor refused its run: it may be placed again. */
  | { kind: 'release'; id: string }
  | { kind: 'cancel'; id: string; resolve: (job: StoredJob) => void; reject: (error: unknown) => void }
  | { kind: 'policy'; policy: InForce; resolve: () => void; reject: (error: unknown) => void };

/** The policy in force: its version and document, as stored. */
export interface InForce {
  readonly policy: Policy;
  readonly version: number;
  readonly text: string;
}

/** A stored job, and whether this request created it (false: a repeat of its Idempotency-Key). */
export interface Submitted {
  readonly job: StoredJob;
  readonly created: boolean;
}

/** A request the live state refuses (e.g. cancelling a finished job): the API answers 409. */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/**
 * A job that can never run under the policy in force (the engine's admission rule,
 * `Engine.rejectionOf`): refused at submission, nothing stored. The API answers 400.
 */
export class InfeasibleJobError extends Error {
  constructor(readonly reason: string) {
    super('the job can never run under the policy in force');
    this.name = 'InfeasibleJobError';
  }
}

/** A job whose run the executor refused waits this long (doubling per refusal, at most the max) before it is placed again. */
const REFUSED_FIRST_SECONDS = 2;
const REFUSED_MAX_SECONDS = 60;

/** Recorded run durations kept per team and class (the most recent ones). */
const HISTORY_PER_KEY = 200;
/** Finished jobs read from the store at start to seed the history. */
const HISTORY_AT_START = 2000;

/** A reason read is at most this old (seconds). */
const EXPLAIN_EVERY_SECONDS = 1;
/** Up to this many pending jobs, every pass refreshes every reason (it costs well under 10 ms). */
const EXPLAIN_ALWAYS_UP_TO = 2000;

const FINISHED: ReadonlySet<LiveJobStatus> = new Set(['completed', 'failed', 'cancelled', 'timed_out', 'rejected']);

/** A pending job's recorded reasons: at most this many, the latest (the job page's history). */
export const REASONS_KEPT = 50;

export class LiveScheduler {
  private current: Engine;
  private inForce: InForce;
  private readonly handles = new Map<string, number>();
  /** Pending and running jobs, as stored. */
  private readonly active = new Map<string, StoredJob>();
  /** Moves whenever a job enters, leaves or changes in `active` (setActive, forget): readers cache on it. */
  private activeVersion = 0;
  private pendingCache: { readonly version: number; readonly jobs: readonly StoredJob[] } | null = null;
  /** jobId -> id of its current run; exits of other runs are stale and ignored. */
  private readonly currentRun = new Map<string, string>();
  private readonly runCount = new Map<string, number>();
  private queue: Command[] = [];
  private draining: Promise<void> | null = null;
  private passWanted = false;
  private timer: NodeJS.Timeout | null = null;
  private lastExplainAll = -Infinity;
  /** Readers waiting for a pass that refreshes every reason (a long queue refreshes on demand). */
  private explainWaiters: (() => void)[] = [];
  /** A refresh of every reason asked for by a reader that does not wait for it (readReasons). */
  private explainWanted = false;
  private closed = false;
  /** True until recovery is over: commands (executor events among them) wait in the queue. */
  private recovering = true;
  /** Run exits the store refused (an outage): applied again, in order, until stored. */
  private unstoredExits: RunExit[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  /** The last store failure of the loop and when it happened, for /healthz; null once one succeeds. */
  private storeFailure: { at: number; cause: string } | null = null;
  /** True while the last pass could not store its decisions (retried in a second). */
  private passUnstored = false;
  /** The last run the executor could not start, until one starts (for /healthz). */
  private executorFailure: { at: number; cause: string } | null = null;
  /** Run durations of completed, never-preempted jobs per team and class, oldest first. */
  private readonly history = new Map<string, number[]>();
  /** The same, each list sorted: what the engine reads (changed only between passes). */
  private readonly sortedHistory = new Map<string, readonly number[]>();
  /**
   * Per unfinished job, the reason last recorded in the store (null once it started: its next
   * wait records its first reason again) and how many it has there (REASONS_KEPT bounds them).
   */
  private readonly recordedReasons = new Map<string, { code: string | null; count: number }>();
  /** Counters for metrics (storage and executor calls that failed, by operation). */
  readonly counters = { preemptions: 0, admissions: 0, passes: 0, storeErrors: 0, executorErrors: { start: 0, stop: 0 }, nodeFailures: 0, refusals: 0 };
  /** When each pending job began its current wait: its last preemption (else its submission). */
  private readonly waitingSince = new Map<string, number>();
  /** Pending jobs inside their team's guarantee: since when (waitingInsideGuarantee). */
  private readonly insideSince = new Map<string, number>();
  /**
   * Jobs whose run the executor refused (Slurm's sbatch said no): out of the engine until their
   * backoff ends, with Slurm's words as their reason.
   */
  private readonly held = new Map<string, { code: 'PlacementRefused'; message: string; timer: NodeJS.Timeout }>();
  /** Refusals per job so far (the backoff doubles with each). */
  private readonly refusals = new Map<string, number>();
  /** Why a job waits again though no pass preempted it (a node failed under it), until it starts again. */
  private readonly notes = new Map<string, string>();
  /** GPUs the executor says no run may use (nodes down or drained, jobs outside Arbiter), per node. */
  private conditionList: readonly NodeCondition[] = [];
  private foreignList: readonly ForeignJob[] = [];

  private constructor(private readonly options: LiveOptions) {
    this.current = new Engine(options.fleet, options.policy);
    this.inForce = { policy: options.policy, version: options.policyVersion ?? 1, text: options.policyText ?? '' };
    options.executor.onExit((exit) => this.enqueue({ kind: 'exit', exit }));
    options.executor.onEvent?.((event) => this.enqueue({ kind: 'event', event }));
  }

  /** The engine of the policy in force (replaced when the policy changes). */
  get engine(): Engine {
    return this.current;
  }

  get policy(): InForce {
    return this.inForce;
  }

  /**
   * Loads what the store holds: pending jobs are queued again, running ones re-adopted or
   * requeued, and runs that ended while the server was down are finished. The loop starts only
   * once this is done: until then executor events and passes wait (they would otherwise start
   * jobs on GPUs of runs not yet re-adopted, and an adopt cannot happen during a pass).
   */
  static async start(options: LiveOptions): Promise<LiveScheduler> {
    const live = new LiveScheduler(options);
    await live.recover();
    live.recovering = false;
    live.requestPass();
    return live;
  }

  private async recover(): Promise<void> {
    const { store, executor, clock, logger, speed } = this.options;
    // Local processes that outlived a crash of the server are killed before anything starts, each
    // one its run left (not only the shell: what it started too), so no job runs twice.
    if (executor.reapOrphans) {
      const reaped = await executor.reapOrphans();
      if (reaped.processes > 0) logger.warn({ jobs: reaped.jobs, processes: reaped.processes }, 'killed processes left over from before the restart');
    }
    // Runs the cluster manager (Slurm) still holds for this server: re-adopted in place.
    const found = executor.recoverRuns ? await executor.recoverRuns() : null;
    await this.loadHistory();
    for (const [id, { reason, count }] of await store.lastReasons()) this.recordedReasons.set(id, { code: reason.code, count });
    const now = clock();
    const running: StoredJob[] = [];
    for (const job of await store.unfinishedJobs()) {
      const handle = this.engine.submit(this.specOf(job), job.submittedAt, job);
      const rejected = this.engine.jobs[handle]!.rejectReason;
      if (rejected !== null) {
        // The fleet or policy changed under it: it can never run now.
        await this.rejectLoaded(job, rejected, now);
        logger.warn({ job: job.id, reason: rejected }, 'rejected after restart');
        continue;
      }
      this.handles.set(job.id, handle);
      this.setActive(job.id, job);
      if (job.status === 'running') running.push(job);
    }
    // Runs are taken again in start order (minRuntime protections end in the same order).
    running.sort((a, b) => (a.runStart ?? 0) - (b.runStart ?? 0) || a.seq - b.seq);
    const goOn: { job: StoredJob; runId: string; work: number; limit: number | null }[] = [];
    const again: { job: StoredJob; runId: string }[] = [];
    for (const job of running) {
      const runs = await store.runsOf(job.id);
      this.runCount.set(job.id, runs.length);
      const handle = this.handles.get(job.id)!;
      if (found && job.placement && job.runFlavor && job.runStart !== null && this.adopted(job, handle)) {
        // Its Slurm job goes on (or ended meanwhile: the executor reports how at its first poll);
        // a run decided but never submitted is submitted now.
        const runId = `${job.id}-r${runs.length}`;
        this.currentRun.set(job.id, runId);
        again.push({ job, runId });
      } else if (executor.kind === 'simulated' && job.placement && job.runFlavor && job.runStart !== null && this.adopted(job, handle)) {
        // The simulated nodes went on meanwhile: work and time limit count from the run's start.
        const done = Math.max(0, now - job.runStart) * speed;
        const work = this.workLeft(job);
        const limit = this.timeLimitOf(job);
        const end = Math.min(work, limit ?? Infinity);
        if (done >= end) {
          // It ended while the server was down: finished now, at the moment it ended.
          const timedOut = limit !== null && limit < work;
          await this.finishJob(job, timedOut ? 'timed_out' : 'completed', job.runStart + end / speed, timedOut ? null : 0, timedOut ? 'timed_out' : 'completed');
          logger.info({ job: job.id, status: timedOut ? 'timed_out' : 'completed' }, 'a run ended while the server was down');
          continue;
        }
        const runId = `${job.id}-r${runs.length}`;
        this.currentRun.set(job.id, runId);
        goOn.push({ job, runId, work: work - done, limit: limit === null ? null : limit - done });
      } else {
        // The job waits again, nothing is lost (its processes were reaped above, so it never
        // runs twice on the same GPUs).
        await store.transaction(async (tx) => {
          await tx.closeRun(job.id, now, 'requeued');
          await tx.updateJob({ ...job, status: 'pending', placement: null, runFlavor: null, runStart: null });
        }, STRAIGHT);
        Object.assign(job, { status: 'pending', placement: null, runFlavor: null, runStart: null });
        logger.warn({ job: job.id }, 'requeued a job that was running before the restart');
      }
    }
    // The executor learns of the runs that go on last: an exit it reports waits in the queue
    // until recovery is over (`recovering`).
    for (const { job, runId, work, limit } of goOn) {
      await executor.start({ ...this.runRequest(job, runId, work), timeLimit: limit });
      logger.info({ job: job.id }, 're-adopted running job');
    }
    for (const { job, runId } of again) {
      const there = found?.get(runId);
      const request = this.runRequest(job, runId, this.workLeft(job));
      if (there && executor.adopt) {
        executor.adopt(request, there);
        logger.info({ job: job.id, run: runId, slurmJob: there.id, state: there.state }, 're-adopted a running job in place');
        continue;
      }
      try {
        await executor.start(request);
        logger.warn({ job: job.id, run: runId }, 'launched a run decided before the restart but not launched then');
      } catch (error) {
        logger.error({ err: error, job: job.id }, 'executor could not start the run');
        this.enqueue({ kind: 'exit', exit: { jobId: job.id, runId, at: clock(), exitCode: null, stopped: false, timedOut: false } });
      }
    }
    // Runs Slurm holds that no stored run claims (stopped or cancelled just before the crash): stopped now.
    if (executor.recovered) {
      const { stopped } = await executor.recovered();
      if (stopped.length > 0) logger.warn({ runs: stopped.map((r) => r.runId) }, 'cancelled runs left in Slurm that Arbiter had stopped before the restart');
    }
  }

  /**
   * Takes a stored run again in the engine; false when its GPUs are not free (a store written by
   * an older server that double-booked them): the job is then requeued instead.
   */
  private adopted(job: StoredJob, handle: number): boolean {
    try {
      this.engine.adopt(handle, job.runFlavor!, job.placement!, job.runStart!);
      return true;
    } catch (error) {
      if (!(error instanceof InvariantViolation)) throw error;
      this.options.logger.error({ job: job.id, err: error }, 'could not re-adopt a run (its GPUs are held by another); requeued');
      return false;
    }
  }

  // ------------------------------------------------------------------ commands

  /** Admits a job; resolves once it is on disk. `rejected` jobs are stored too, with why. */
  submit(input: SubmitInput, user: string, idempotencyKey: string | null): Promise<Submitted> {
    const now = this.options.clock();
    // Numbered by the database when stored (Store.insertNewJob), never by this process: two
    // servers on one database cannot give out the same id.
    const job: StoredJob = {
      id: '',
      seq: 0,
      name: input.name ?? null,
      team: input.team,
      class: input.class ?? this.inForce.policy.defaultClass,
      flavor: input.flavor ?? null,
      gpus: input.gpus,
      duration: input.duration ?? null,
      timeLimit: input.timeLimit ?? null,
      command: input.command ?? null,
      submittedBy: user,
      submittedAt: now,
      idempotencyKey,
      idempotencyHash: idempotencyKey === null ? null : submissionHash(input),
      status: 'pending',
      startedAt: null,
      endedAt: null,
      preemptions: 0,
      attained: 0,
      runFlavor: null,
      runStart: null,
      placement: null,
      reasonCode: null,
      reasonMessage: null,
      expectedStart: null,
      rejectReason: null,
      exitCode: null,
      keptWork: 0,
    };
    // Checked again in the loop: a policy version put in force meanwhile may refuse it.
    const why = this.engine.rejectionOf(this.specOf(job));
    if (why !== null) return Promise.reject(new InfeasibleJobError(why));
    return new Promise((resolve, reject) => this.enqueue({ kind: 'submit', job, input, resolve, reject }));
  }

  /** Why the policy in force can never run this job (`Engine.rejectionOf`), or null. */
  rejectionOf(input: SubmitInput): string | null {
    const spec: JobSpec = {
      id: 'new',
      submit: this.options.clock(),
      team: input.team,
      gpus: input.gpus,
      duration: input.duration ?? 0,
      class: input.class ?? this.inForce.policy.defaultClass,
      flavor: input.flavor ?? null,
      timeLimit: input.timeLimit ?? null,
      checkpointInterval: null,
    };
    return this.engine.rejectionOf(spec);
  }

  /**
   * Puts a new policy version in force: the engine is rebuilt under it with every pending and
   * running job (running ones keep their GPUs and their minRuntime protection; fair-share
   * history carries over by leaf team), then a pass runs. Jobs the new policy can never run
   * (their team removed, a limit below their size) are rejected, running ones stopped.
   */
  applyPolicy(next: InForce): Promise<void> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'policy', policy: next, resolve, reject }));
  }

  cancel(id: string): Promise<StoredJob> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'cancel', id, resolve, reject }));
  }

  /** The stored job with its live reason (pending) merged in, or null when it is not active. */
  activeJob(id: string): StoredJob | null {
    const job = this.active.get(id);
    return job ? this.withReason(job) : null;
  }

  withReason(job: StoredJob): StoredJob {
    const reason = this.reasonOf(job);
    return reason ? { ...job, reasonCode: reason.code, reasonMessage: reason.message, expectedStart: reason.expectedStart } : job;
  }

  /** The engine's current reason of a pending job (with where its expected start comes from). */
  reasonOf(job: StoredJob): Reason | null {
    if (job.status !== 'pending') return null;
    const held = this.held.get(job.id);
    if (held) return { code: held.code, message: held.message, expectedStart: null, expectedStartBasis: null };
    const handle = this.handles.get(job.id);
    if (handle === undefined) return null;
    const reason = this.engine.jobs[handle]!.reason;
    const note = this.notes.get(job.id);
    return reason && note ? { ...reason, message: `${reason.message} (${note})` } : reason;
  }

  /** The time limit a job runs under: its own, or its class's default in the policy in force. */
  timeLimitOf(job: Pick<StoredJob, 'class' | 'timeLimit'>): number | null {
    return timeLimitOf(this.inForce.policy, job);
  }

  /**
   * Stores the reasons of pending jobs whose code changed since the last recorded one (with the
   * sentence of that moment): the history of a job's reasons (GET /v1/jobs/{id}/reasons). Called after the passes
   * that explained every pending job; a failed write is logged and tried again after the next.
   */
  private async recordReasons(now: number): Promise<void> {
    const changed: StoredReason[] = [];
    for (const job of this.active.values()) {
      const seen = this.recordedReasons.get(job.id);
      if (job.status !== 'pending') {
        if (seen && seen.code !== null) this.recordedReasons.set(job.id, { code: null, count: seen.count });
        continue;
      }
      const reason = this.reasonOf(job);
      // The code, not the sentence: its numbers move with every pass (and it is built only here).
      if (reason === null || seen?.code === reason.code) continue;
      changed.push({ jobId: job.id, at: now, code: reason.code, message: reason.message });
    }
    if (changed.length === 0) return;
    const over: string[] = [];
    try {
      await this.options.store.transaction(async (tx) => {
        await tx.appendReasons(changed);
        for (const r of changed) if ((this.recordedReasons.get(r.jobId)?.count ?? 0) + 1 > REASONS_KEPT) over.push(r.jobId);
        await tx.trimReasons(over, REASONS_KEPT);
      }, STRAIGHT);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not store the reasons that changed; trying again after the next pass');
      return;
    }
    for (const r of changed) {
      const count = Math.min(REASONS_KEPT, (this.recordedReasons.get(r.jobId)?.count ?? 0) + 1);
      this.recordedReasons.set(r.jobId, { code: r.code, count });
    }
  }

  /** Commands (submissions, exits, cancels) waiting for the loop: its backlog. */
  get backlog(): number {
    return this.queue.length + this.unstoredExits.length;
  }

  /** Seconds since a pending job began its current wait (its last preemption, else its submission). */
  waitedBy(job: StoredJob, now: number): number {
    return Math.max(0, now - (this.waitingSince.get(job.id) ?? job.submittedAt));
  }

  /**
   * The pending jobs that would run inside their team's guarantee (the team's usage plus the
   * job stays within it on a flavor the job may use), with how long each has been inside: these
   * should start as soon as borrowed GPUs are reclaimed, that is within minRuntime
   * (docs/monitoring.md). The wait counts from the first call that saw the job inside (callers
   * poll every few seconds), not from its submission: a job that waited hours behind its own
   * team's use of the guarantee is not reported the moment a GPU of the team frees up.
   */
  waitingInsideGuarantee(now: number): { job: StoredJob; waited: number }[] {
    const { teams, fleet } = this.engine;
    const out: { job: StoredJob; waited: number }[] = [];
    const seen = new Set<string>();
    for (const job of this.active.values()) {
      if (job.status !== 'pending') continue;
      const t = teams.byName.get(job.team);
      if (t === undefined) continue;
      const inside = fleet.flavors.some((f) => (job.flavor === null || f.name === job.flavor) && teams.used(t, f.index) + job.gpus <= teams.guaranteed(t, f.index));
      if (!inside) continue;
      seen.add(job.id);
      const since = this.insideSince.get(job.id) ?? now;
      this.insideSince.set(job.id, since);
      out.push({ job, waited: Math.max(0, now - since) });
    }
    for (const id of this.insideSince.keys()) if (!seen.has(id)) this.insideSince.delete(id);
    return out;
  }

  /**
   * The pending jobs in queue order (submission order: `active` keeps it, a requeued job keeps
   * its place), with the version of the active set they were read at. One walk of the active
   * jobs per change of that set, shared by every reader until the next change: 100 open queue
   * pages reading after one change cost one walk, not 100 (BENCHMARKS.md, "Dashboard").
   */
  pendingInOrder(): { readonly version: number; readonly jobs: readonly StoredJob[] } {
    if (this.pendingCache?.version !== this.activeVersion) {
      const jobs: StoredJob[] = [];
      for (const job of this.active.values()) if (job.status === 'pending') jobs.push(job);
      this.pendingCache = { version: this.activeVersion, jobs };
    }
    return this.pendingCache;
  }

  /** Active jobs (for metrics and fleet views). */
  activeJobs(): IterableIterator<StoredJob> {
    return this.active.values();
  }

  /**
   * Resolves once every pending job's reason is at most EXPLAIN_EVERY_SECONDS old. With a short
   * queue every pass refreshes them all; with a long one (a refresh visits every pending job,
   * about a microsecond each, and blocks the loop meanwhile) only when someone reads them, so a
   * stream of submissions that nobody reads never pays for it.
   */
  freshReasons(): Promise<void> {
    if (this.closed || this.options.clock() - this.lastExplainAll < EXPLAIN_EVERY_SECONDS) return Promise.resolve();
    return new Promise((resolve) => {
      this.explainWaiters.push(resolve);
      this.requestPass();
    });
  }

  /**
   * For a page of the queue (GET /v1/queue), which an open dashboard reads on every change: a
   * short queue is explained by every pass, so this waits for fresh reasons as freshReasons does.
   * A long one is explained by a pass over every pending job, which takes seconds at 100,000
   * (and blocks the loop meanwhile): the reader gets the reasons of the last such pass at once,
   * and a new one is asked for, without waiting, when that is older than maxAgeSeconds. So open
   * pages cost at most one such pass per maxAgeSeconds, however many there are.
   */
  readReasons(maxAgeSeconds: number): Promise<void> {
    if (this.engine.pending <= EXPLAIN_ALWAYS_UP_TO) return this.freshReasons();
    if (!this.closed && !this.explainWanted && this.options.clock() - this.lastExplainAll >= maxAgeSeconds) {
      this.explainWanted = true;
      this.requestPass();
    }
    return Promise.resolve();
  }

  /** When every pending job's reason was last refreshed (clock seconds), or null if never. */
  get reasonsRefreshedAt(): number | null {
    return Number.isFinite(this.lastExplainAll) ? this.lastExplainAll : null;
  }

  requestPass(): void {
    this.passWanted = true;
    this.kick();
  }

  /** Stops timers and waits for the actor to finish what it started; running jobs keep running. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const resolve of this.explainWaiters.splice(0)) resolve();
    await this.draining;
  }

  private enqueue(command: Command): void {
    if (this.closed) {
      if (command.kind !== 'exit' && command.kind !== 'event' && command.kind !== 'release') command.reject(new ConflictError('the server is shutting down'));
      return;
    }
    this.queue.push(command);
    this.kick();
  }

  private kick(): void {
    if (this.draining || this.closed || this.recovering) return;
    // setImmediate lets concurrent requests join one batch (group commit).
    this.draining = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.drain())
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'scheduling loop failed'))
      .finally(() => {
        this.draining = null;
        if ((this.queue.length > 0 || this.passWanted) && !this.closed) this.kick();
      });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 || this.passWanted) {
      const batch = this.queue;
      this.queue = [];
      const answers = await this.applySubmissions(batch.filter((c) => c.kind === 'submit'));
      const unstored: RunExit[] = [];
      for (const command of batch) {
        if (command.kind === 'exit') {
          // An exit is never dropped: one the store refuses is applied again later, as are the
          // exits of the same job that came after it (their order matters).
          if (unstored.some((e) => e.jobId === command.exit.jobId) || !(await this.storedExit(command.exit))) unstored.push(command.exit);
        } else if (command.kind === 'event') {
          try {
            await this.applyEvent(command.event);
          } catch (error) {
            // Only a refusal writes (the job back to pending): tried again in a second, like an exit.
            this.noteStoreFailure(error);
            this.options.logger.error({ err: error }, 'could not store an executor event; retrying in 1 s');
            const retry = setTimeout(() => this.enqueue(command), 1000);
            retry.unref();
          }
        } else if (command.kind === 'release') this.release(command.id);
        else if (command.kind === 'cancel') await this.applyCancel(command);
        else if (command.kind === 'policy') await this.swapPolicy(command);
      }
      if (unstored.length > 0) this.retryExits(unstored);
      if (batch.length > 0) this.options.hooks?.onChange?.();
      try {
        if (this.passWanted) {
          this.passWanted = false;
          await this.runPass();
        }
      } finally {
        // Answered after the pass, so a 201 already carries the job's reason (or its start).
        for (const answer of answers) answer();
      }
    }
  }

  /**
   * One transaction for the whole batch (group commit). A repeat of an Idempotency-Key, in the
   * store or earlier in the batch, creates nothing and answers with the first job; with another
   * body it creates nothing and fails with IdempotencyConflict. The keys of the batch are looked
   * up in one read. When the store refuses the batch for good (a row it will not take: not a
   * retryable fault such as an outage), the jobs are stored again one by one, so that only the
   * ones it refuses fail, each with its own error; nothing is answered before it is stored.
   */
  private async applySubmissions(batch: Extract<Command, { kind: 'submit' }>[]): Promise<(() => void)[]> {
    if (batch.length === 0) return [];
    const { store } = this.options;
    const answers: (() => void)[] = [];
    const fresh: Extract<Command, { kind: 'submit' }>[] = [];
    /** The first submission of each key in this batch (its id is known once stored). */
    const firstOfKey = new Map<string, Extract<Command, { kind: 'submit' }>>();
    const keyOf = (job: StoredJob): string => `${job.submittedBy}\u0000${job.idempotencyKey}`;
    /** Submissions the store refused (storeNew), with why: read when answering. */
    let refused = new Map<Extract<Command, { kind: 'submit' }>, unknown>();
    try {
      const admitted = batch.filter((command) => {
        const why = this.engine.rejectionOf(this.specOf(command.job));
        // A policy version put in force since the request was checked refuses it.
        if (why !== null) command.reject(new InfeasibleJobError(why));
        return why === null;
      });
      const keyed = admitted.filter(({ job }) => job.idempotencyKey !== null);
      const storedByKey = new Map(
        (keyed.length === 0
          ? []
          : await store.jobsByIdempotencyKeys(keyed.map(({ job }) => ({ user: job.submittedBy, key: job.idempotencyKey! })))
        ).map((job) => [keyOf(job), job]),
      );
      for (const command of admitted) {
        const { job } = command;
        if (job.idempotencyKey === null) {
          fresh.push(command);
          continue;
        }
        const key = keyOf(job);
        const first = firstOfKey.get(key);
        const earlier = first?.job ?? storedByKey.get(key);
        // Read when answering: a first submission of this batch has its id only once stored.
        const stored = (): StoredJob => first?.job ?? earlier!;
        const ok = (): boolean => first === undefined || !refused.has(first);
        if (earlier && !sameSubmission(earlier, command.input, job.idempotencyHash!)) {
          answers.push(() => (ok() ? command.reject(new IdempotencyConflict(job.idempotencyKey!, stored().id)) : command.reject(refused.get(first!))));
        } else if (earlier) {
          answers.push(() => (ok() ? command.resolve({ job: this.activeJob(stored().id) ?? stored(), created: false }) : command.reject(refused.get(first!))));
        } else {
          firstOfKey.set(key, command);
          fresh.push(command);
        }
      }
      refused = await this.storeNew(fresh);
    } catch (error) {
      this.noteStoreFailure(error);
      for (const c of batch) c.reject(error);
      return [];
    }
    if (refused.size === 0) this.storeFailure = null;
    for (const command of fresh) {
      const { job, resolve, reject } = command;
      if (refused.has(command)) {
        answers.unshift(() => reject(refused.get(command)));
        continue;
      }
      this.handles.set(job.id, this.engine.submit(this.specOf(job), job.submittedAt));
      this.setActive(job.id, job);
      this.passWanted = true;
      answers.unshift(() => resolve({ job: this.activeJob(job.id) ?? { ...job }, created: true }));
    }
    return answers;
  }

  /**
   * Stores new jobs in one write (PostgreSQL: one statement), numbered in the batch's order, and
   * gives each command its id once committed. A retryable fault of that write (an outage, lost
   * leadership) stored nothing and is thrown: the whole batch fails (503). Any other refusal (a
   * row the store will not take) is followed by one write per job; the map holds the commands
   * not stored, with why (after a retryable fault there, the one that met it and all after it).
   */
  private async storeNew(fresh: Extract<Command, { kind: 'submit' }>[]): Promise<Map<Extract<Command, { kind: 'submit' }>, unknown>> {
    const { store, logger } = this.options;
    const refused = new Map<Extract<Command, { kind: 'submit' }>, unknown>();
    try {
      const numbered = await store.insertNewJobs(fresh.map(({ job }) => job));
      // Only once the transaction committed do the commands carry their ids.
      fresh.forEach((command, i) => (command.job = { ...command.job, ...numbered[i]! }));
      return refused;
    } catch (error) {
      if (fresh.length === 1 || !(error instanceof StorageError) || error.retryable) throw error;
      logger.warn({ err: error, jobs: fresh.length }, 'the store refused a batch of submissions; storing them one by one');
    }
    let fault: unknown = null;
    for (const command of fresh) {
      if (fault !== null) {
        refused.set(command, fault);
        continue;
      }
      try {
        const [numbered] = await store.insertNewJobs([command.job]);
        command.job = { ...command.job, ...numbered! };
      } catch (error) {
        refused.set(command, error);
        // The jobs stored so far stay stored (and are answered); the rest are not tried.
        if (!(error instanceof StorageError) || error.retryable) {
          this.noteStoreFailure(error);
          fault = error;
        }
      }
    }
    return refused;
  }

  /** Applies an exit; false when the store refused it (nothing changed, to be applied again). */
  private async storedExit(exit: RunExit): Promise<boolean> {
    try {
      await this.applyExit(exit);
      this.storeFailure = null;
      return true;
    } catch (error) {
      this.noteStoreFailure(error);
      this.options.logger.error({ err: error, job: exit.jobId, run: exit.runId }, 'could not store a run exit; retrying in 1 s');
      return false;
    }
  }

  /** Puts exits the store refused back at the head of the queue in a second (before newer ones). */
  private retryExits(exits: RunExit[]): void {
    this.unstoredExits.push(...exits);
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      const again = this.unstoredExits.splice(0);
      if (this.closed) return;
      this.queue.unshift(...again.map((exit): Command => ({ kind: 'exit', exit })));
      this.kick();
    }, 1000);
    this.retryTimer.unref();
  }

  private noteStoreFailure(error: unknown): void {
    this.counters.storeErrors++;
    this.storeFailure = { at: this.options.clock(), cause: error instanceof Error ? error.message : String(error) };
  }

  /**
   * The scheduling loop's own view of its health: false with a cause while events or a pass's
   * decisions wait to be stored (an outage: both are retried every second).
   */
  loopHealth(): { ok: boolean; cause?: string; exitsWaiting: number } {
    const exitsWaiting = this.unstoredExits.length + this.queue.filter((c) => c.kind === 'exit').length;
    if (this.unstoredExits.length === 0 && !this.passUnstored) return { ok: true, exitsWaiting };
    const what = this.unstoredExits.length > 0 ? `${this.unstoredExits.length} run exits wait to be stored` : 'the decisions of a pass wait to be stored';
    return { ok: false, cause: `${what}: ${this.storeFailure?.cause ?? 'the store failed'}`, exitsWaiting };
  }

  /** The executor's health as the loop sees it: not ok while its last start of a run failed. */
  executorHealth(): { ok: boolean; cause?: string } {
    const own = this.options.executor.health?.() ?? { ok: true };
    if (!own.ok) return own;
    if (this.held.size > 0) {
      const [id, held] = [...this.held][this.held.size - 1]!;
      return { ok: false, cause: `${this.held.size} job${this.held.size === 1 ? '' : 's'} wait${this.held.size === 1 ? 's' : ''} because the executor refused to run ${this.held.size === 1 ? 'it' : 'them'}; job ${id}: ${held.message}` };
    }
    return this.executorFailure === null ? { ok: true } : { ok: false, cause: this.executorFailure.cause };
  }

  /**
   * Failed executor calls per operation and code: the loop's own start and stop calls
   * (code `call`), and the executor's calls to what it drives (Slurm: its error codes).
   */
  executorErrors(): { operation: string; code: string; count: number }[] {
    return [
      { operation: 'start', code: 'call', count: this.counters.executorErrors.start },
      { operation: 'stop', code: 'call', count: this.counters.executorErrors.stop },
      ...(this.options.executor.errorCounts?.() ?? []),
    ];
  }

  /** The executor's time per call to what it drives (Slurm), since start. */
  executorTimings(): readonly { name: string; count: number; seconds: number }[] {
    return this.options.executor.timings?.() ?? [];
  }

  /** Nodes with GPUs withheld from the engine, and why (the executor's last word). */
  get conditions(): readonly NodeCondition[] {
    return this.conditionList;
  }

  /** Jobs the executor found on the fleet that Arbiter did not start. */
  get foreignJobs(): readonly ForeignJob[] {
    return this.foreignList;
  }

  private async applyEvent(event: ExecutorEvent): Promise<void> {
    if (event.kind === 'nodes') this.applyNodes(event.conditions, event.foreign);
    else await this.applyRefused(event);
  }

  /** Capacity changes: each node's withheld GPUs as the executor reports them now. */
  private applyNodes(conditions: readonly NodeCondition[], foreign: readonly ForeignJob[]): void {
    const { logger } = this.options;
    const before = new Map(this.conditionList.map((c) => [c.node, c]));
    const after = new Map(conditions.map((c) => [c.node, c]));
    for (const [node, c] of after) {
      const was = before.get(node);
      if (was?.withheld !== c.withheld || was.why !== c.why) {
        if (!this.engine.setWithheld(node, c.withheld)) continue;
        logger.warn({ node, withheld: c.withheld, state: c.state, why: c.why }, 'GPUs of a node are withheld from scheduling');
      }
    }
    for (const node of before.keys()) {
      if (after.has(node)) continue;
      this.engine.setWithheld(node, 0);
      logger.info({ node }, 'every GPU of a node is usable again');
    }
    const known = new Set(this.foreignList.map((j) => j.id));
    for (const job of foreign) {
      if (!known.has(job.id)) logger.warn({ slurmJob: job.id, name: job.name, user: job.user, state: job.state, placement: job.placement }, 'a job was submitted to the fleet outside Arbiter');
    }
    this.conditionList = conditions;
    this.foreignList = foreign;
    this.passWanted = true;
  }

  /**
   * The executor refused a run (sbatch said no): nothing ran. The job waits again, out of the
   * engine for a backoff, with the executor's words as its reason; then it is placed again.
   */
  private async applyRefused(event: Extract<ExecutorEvent, { kind: 'refused' }>): Promise<void> {
    const job = this.active.get(event.jobId);
    if (!job || this.currentRun.get(event.jobId) !== event.runId) return;
    const handle = this.handles.get(job.id)!;
    const at = Math.max(event.at, job.runStart ?? event.at);
    if (job.status === 'cancelled') {
      this.engine.finish(handle, at);
      this.forget(job.id);
      this.passWanted = true;
      return;
    }
    const n = (this.refusals.get(job.id) ?? 0) + 1;
    const delay = Math.min(REFUSED_MAX_SECONDS, REFUSED_FIRST_SECONDS * 2 ** (n - 1));
    const message = `the executor refused to run it (${n === 1 ? 'once' : `${n} times`}): ${event.message}; placed again in ${delay} s`;
    const next: StoredJob = {
      ...job,
      status: 'pending',
      startedAt: job.startedAt === job.runStart ? null : job.startedAt,
      placement: null,
      runFlavor: null,
      runStart: null,
      reasonCode: 'PlacementRefused',
      reasonMessage: message,
      expectedStart: null,
    };
    await this.options.store.transaction(async (tx) => {
      await tx.closeRun(job.id, at, 'requeued');
      await tx.updateJob(next);
    }, STRAIGHT);
    this.engine.finish(handle, at);
    this.handles.delete(job.id);
    this.currentRun.delete(job.id);
    this.setActive(job.id, next);
    this.refusals.set(job.id, n);
    const timer = setTimeout(() => this.enqueue({ kind: 'release', id: job.id }), delay * 1000);
    timer.unref();
    this.held.set(job.id, { code: 'PlacementRefused', message, timer });
    this.counters.refusals++;
    this.passWanted = true;
    this.options.logger.warn({ job: job.id, run: event.runId, reason: event.message }, 'the executor refused a run; the job waits again');
  }

  /** A held job's backoff is over: it is queued in the engine again, in its place by submission time. */
  private release(id: string): void {
    const job = this.active.get(id);
    const held = this.held.get(id);
    if (!job || !held || job.status !== 'pending') return;
    this.held.delete(id);
    const handle = this.engine.submit(this.specOf(job), job.submittedAt, job);
    const why = this.engine.jobs[handle]!.rejectReason;
    if (why !== null) {
      // The policy in force changed meanwhile and can never run it.
      void this.rejectLoaded(job, why, this.options.clock()).then(() => this.forget(id), (error: unknown) => this.options.logger.error({ err: error, job: id }, 'could not store a rejection'));
      return;
    }
    this.handles.set(id, handle);
    this.passWanted = true;
  }

  private async applyExit(exit: RunExit): Promise<void> {
    const job = this.active.get(exit.jobId);
    if (!job || this.currentRun.get(exit.jobId) !== exit.runId) return; // a run already closed (preempted)
    if (job.status === 'cancelled') {
      // Cancelled while running: already stored; now its GPUs are really free.
      this.engine.finish(this.handles.get(job.id)!, Math.max(exit.at, job.runStart ?? exit.at));
      this.forget(job.id);
      this.passWanted = true;
      return;
    }
    const at = Math.max(exit.at, job.runStart ?? exit.at);
    if (exit.nodeFailure) {
      await this.requeueAfterNodeFailure(job, exit, at);
      return;
    }
    if (exit.cancelled) {
      // Cancelled outside Arbiter (an operator's scancel): the job ends cancelled, as Slurm says.
      await this.finishJob(job, 'cancelled', at, null, 'cancelled');
      this.options.logger.warn({ job: job.id, run: exit.runId, detail: exit.detail }, 'a run was cancelled outside Arbiter; the job ends cancelled');
      return;
    }
    const status: LiveJobStatus = exit.timedOut ? 'timed_out' : exit.exitCode === 0 ? 'completed' : 'failed';
    await this.finishJob(job, status, at, exit.exitCode, status === 'completed' ? 'completed' : status === 'timed_out' ? 'timed_out' : 'failed');
    if (exit.detail && status !== 'completed') this.options.logger.info({ job: job.id, run: exit.runId, status, exitCode: exit.exitCode, detail: exit.detail }, 'run ended');
  }

  /**
   * A node failed under a run (Slurm NODE_FAIL, or a node down under it): the job is requeued,
   * as a preemption (its run closed `preempted`), with a reason that names the node. The engine
   * frees its GPUs (those of the failed node are withheld by the node's condition) and queues the
   * job again in its place.
   */
  private async requeueAfterNodeFailure(job: StoredJob, exit: RunExit, at: number): Promise<void> {
    const handle = this.handles.get(job.id)!;
    const note = `requeued after node ${exit.nodeFailure} failed under run ${exit.runId}${exit.detail ? `: ${exit.detail}` : ''}`;
    const next: StoredJob = { ...this.preempted(job, at), reasonCode: 'WaitingForCapacity', reasonMessage: note, expectedStart: null };
    await this.options.store.transaction(async (tx) => {
      await tx.closeRun(job.id, at, 'preempted');
      await tx.updateJob(next);
    }, STRAIGHT);
    this.engine.finish(handle, at);
    this.handles.set(job.id, this.engine.submit(this.specOf(job), job.submittedAt, { attained: this.engine.jobs[handle]!.attained, preemptions: next.preemptions }));
    this.currentRun.delete(job.id);
    this.setActive(job.id, next);
    this.notes.set(job.id, note);
    this.counters.preemptions++;
    this.counters.nodeFailures++;
    this.passWanted = true;
    this.options.logger.warn({ job: job.id, run: exit.runId, node: exit.nodeFailure, detail: exit.detail }, 'a node failed under a run; the job is requeued');
  }

  private async finishJob(job: StoredJob, status: LiveJobStatus, at: number, exitCode: number | null, outcome: 'completed' | 'timed_out' | 'failed' | 'cancelled'): Promise<void> {
    const next: StoredJob = { ...job, status, endedAt: at, exitCode, placement: null, runStart: null, reasonCode: null, reasonMessage: null, expectedStart: null };
    next.attained = job.attained + job.gpus * (at - (job.runStart ?? at));
    await this.options.store.transaction(async (tx) => {
      await tx.closeRun(job.id, at, outcome);
      await tx.updateJob(next);
    }, STRAIGHT);
    this.engine.finish(this.handles.get(job.id)!, at);
    this.forget(job.id);
    if (status === 'completed' && job.preemptions === 0 && job.runStart !== null) this.record(job.team, job.class, at - job.runStart);
    this.passWanted = true;
  }

  /**
   * Seeds the run history from the store: completed jobs never preempted (their one run is
   * their whole time), newest first, up to HISTORY_AT_START.
   */
  private async loadHistory(): Promise<void> {
    const runs: StoredJob[] = [];
    let cursor: string | undefined;
    while (runs.length < HISTORY_AT_START) {
      const page = await this.options.store.listJobs({ status: 'completed', limit: 500, ...(cursor ? { cursor } : {}) });
      runs.push(...page.jobs);
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    for (const job of runs.reverse()) {
      if (job.preemptions === 0 && job.startedAt !== null && job.endedAt !== null) this.record(job.team, job.class, job.endedAt - job.startedAt);
    }
    this.current.setRunHistory(this.sortedHistory);
  }

  /** Adds a run duration to the history of its team and class (at most HISTORY_PER_KEY kept). */
  private record(team: string, cls: string, seconds: number): void {
    const key = runHistoryKey(team, cls);
    let list = this.history.get(key);
    if (!list) this.history.set(key, (list = []));
    list.push(seconds);
    if (list.length > HISTORY_PER_KEY) list.shift();
    this.sortedHistory.set(key, [...list].sort((a, b) => a - b));
  }

  private async applyCancel(command: Extract<Command, { kind: 'cancel' }>): Promise<void> {
    const job = this.active.get(command.id);
    if (!job) {
      const stored = await this.options.store.getJob(command.id);
      if (stored && FINISHED.has(stored.status)) command.reject(new ConflictError(`job ${command.id} is already ${stored.status}`));
      else command.reject(new ConflictError(`job ${command.id} is not pending or running`));
      return;
    }
    const now = this.options.clock();
    try {
      if (job.status === 'pending') {
        const next: StoredJob = { ...job, status: 'cancelled', endedAt: now, reasonCode: null, reasonMessage: null, expectedStart: null };
        await this.options.store.updateJob(next);
        if (!this.held.has(job.id)) this.engine.cancelPending(this.handles.get(job.id)!);
        this.forget(job.id);
        this.passWanted = true;
        command.resolve(next);
      } else {
        // Stored as cancelled at once; the engine keeps its GPUs held until the process is
        // gone (applyExit), so a command slow to stop never shares GPUs with the next run, and
        // the loop does not wait for it.
        const runId = this.currentRun.get(job.id)!;
        const next: StoredJob = { ...job, status: 'cancelled', endedAt: now, attained: job.attained + job.gpus * (now - (job.runStart ?? now)) };
        await this.options.store.transaction(async (tx) => {
          await tx.closeRun(job.id, now, 'cancelled');
          await tx.updateJob({ ...next, placement: null, runStart: null });
        }, STRAIGHT);
        this.setActive(job.id, next);
        this.options.executor.stop(job.id, runId).catch((error: unknown) => this.stopFailed(error, job.id));
        command.resolve({ ...next, placement: null, runStart: null });
      }
    } catch (error) {
      command.reject(error);
    }
  }

  private async swapPolicy(command: Extract<Command, { kind: 'policy' }>): Promise<void> {
    const { clock, logger, executor } = this.options;
    try {
      const now = clock();
      const { engine, handles, rejected } = this.loadEngine(command.policy.policy, now, [...this.active.values()].filter((j) => !this.held.has(j.id)));
      for (const { job, why: reason } of rejected) {
        const why = `policy version ${command.policy.version}: ${reason}`;
        if (job.status === 'cancelled') continue; // already ended for the user; its process is on its way out
        const runId = this.currentRun.get(job.id);
        await this.rejectLoaded(job, why, now);
        if (runId) executor.stop(job.id, runId).catch((error: unknown) => this.stopFailed(error, job.id));
        this.forget(job.id);
        logger.warn({ job: job.id, reason: why }, 'rejected by the new policy');
      }
      this.current = engine;
      engine.setRunHistory(this.sortedHistory);
      for (const c of this.conditionList) engine.setWithheld(c.node, c.withheld);
      this.handles.clear();
      for (const [id, handle] of handles) this.handles.set(id, handle);
      this.inForce = command.policy;
      this.passWanted = true;
      logger.info({ version: command.policy.version }, 'policy version in force');
      command.resolve();
    } catch (error) {
      command.reject(error);
    }
  }

  /**
   * Teams whose jobs `policy` would preempt or reject at once if it were put in force now: a
   * dry run (plan, which changes nothing) of an engine loaded like swapPolicy's.
   */
  preview(policy: Policy): string[] {
    const now = this.options.clock();
    const { engine, rejected } = this.loadEngine(policy, now, [...this.active.values()].filter((j) => j.status !== 'cancelled' && !this.held.has(j.id)));
    for (const c of this.conditionList) engine.setWithheld(c.node, c.withheld);
    const teams = new Set(rejected.filter(({ job }) => job.status === 'running').map(({ job }) => job.team));
    for (const { job } of engine.plan(now).preempted) teams.add(engine.jobs[job]!.spec.team);
    return [...teams].sort();
  }

  /**
   * A new engine under `policy` holding `jobs` (active ones): pending jobs queued in submission
   * order, runs (also of cancelled jobs whose process is still stopping) taken again with their
   * placement and start, fair-share history carried over per leaf. Jobs the policy can never run
   * are left out and returned with why.
   */
  private loadEngine(policy: Policy, now: number, jobs: StoredJob[]): { engine: Engine; handles: Map<string, number>; rejected: { job: StoredJob; why: string }[] } {
    const engine = new Engine(this.options.fleet, policy);
    engine.teams.seedFairShare(this.current.teams.decayedByLeaf(now), now);
    jobs.sort((a, b) => a.seq - b.seq);
    const handles = new Map<string, number>();
    const rejected: { job: StoredJob; why: string }[] = [];
    for (const job of jobs) {
      const handle = engine.submit(this.specOf(job), job.submittedAt, job);
      const why = engine.jobs[handle]!.rejectReason;
      if (why !== null) rejected.push({ job, why });
      else handles.set(job.id, handle);
    }
    // Runs are taken again in start order, so minRuntime protections end in the same order.
    const running = jobs.filter((j) => handles.has(j.id) && (j.status === 'running' || j.status === 'cancelled') && j.placement && j.runFlavor && j.runStart !== null);
    running.sort((a, b) => a.runStart! - b.runStart! || a.seq - b.seq);
    for (const job of running) engine.adopt(handles.get(job.id)!, job.runFlavor!, job.placement!, job.runStart!);
    return { engine, handles, rejected };
  }

  /** Ends a loaded job the engine refuses (status rejected, its run closed), on disk. */
  private async rejectLoaded(job: StoredJob, why: string, now: number): Promise<void> {
    await this.options.store.transaction(async (tx) => {
      if (job.status === 'running') await tx.closeRun(job.id, now, 'requeued');
      await tx.updateJob({ ...job, status: 'rejected', rejectReason: why, endedAt: now, placement: null, runStart: null, runFlavor: null, reasonCode: null, reasonMessage: null, expectedStart: null });
    }, STRAIGHT);
  }

  private setActive(id: string, job: StoredJob): void {
    this.active.set(id, job);
    this.activeVersion++;
  }

  private forget(id: string): void {
    this.active.delete(id);
    this.activeVersion++;
    this.waitingSince.delete(id);
    this.currentRun.delete(id);
    const held = this.held.get(id);
    if (held) clearTimeout(held.timer);
    this.held.delete(id);
    this.refusals.delete(id);
    this.notes.delete(id);
    this.recordedReasons.delete(id);
  }

  // ------------------------------------------------------------------ the pass

  private async runPass(): Promise<void> {
    const now = this.options.clock();
    const t0 = performance.now();
    // A pass that refreshes every pending job's reason visits all of them; other passes stop
    // as soon as nothing more can start. Decisions are the same either way (Engine,
    // PassOptions.explainAll). Short queues are explained by every pass, long ones when read.
    const waiters = this.explainWaiters.splice(0);
    const explainAll = this.engine.pending <= EXPLAIN_ALWAYS_UP_TO || waiters.length > 0 || this.explainWanted;
    this.explainWanted = false;
    if (explainAll) this.lastExplainAll = now;
    try {
      await this.passAt(now, t0, explainAll);
    } finally {
      for (const resolve of waiters) resolve();
    }
    if (explainAll) await this.recordReasons(now);
  }

  private async passAt(now: number, t0: number, explainAll: boolean): Promise<void> {
    const { store, executor, clock, logger } = this.options;
    const result = this.engine.tentativePass(now, { explainAll });
    this.counters.passes++;
    if (result.started.length > 0 || result.preempted.length > 0) {
      const victims = result.preempted.map(({ job }) => this.active.get(this.engine.jobs[job]!.spec.id)!);
      // Who took each victim's GPUs, and why: stored with the run it ended (GET /v1/jobs/{id}/runs).
      const takers = new Map(
        result.preempted.map(({ job, by }): [string, RunPreemptor] => {
          const victim = this.active.get(this.engine.jobs[job]!.spec.id)!;
          const taker = this.engine.jobs[by]!;
          const stored = this.active.get(taker.spec.id)!;
          const cause = this.causeOf(victim, stored.team, this.engine.flavorName(taker.runFlavor));
          return [victim.id, { job: stored.id, team: stored.team, class: stored.class, cause }];
        }),
      );
      const started = result.started.map((h) => this.active.get(this.engine.jobs[h]!.spec.id)!);
      const updates = new Map<string, StoredJob>();
      try {
        await store.transaction(async (tx) => {
          for (const job of victims) {
            const next = this.preempted(job, now);
            updates.set(job.id, next);
            await tx.closeRun(job.id, now, 'preempted', takers.get(job.id));
            await tx.updateJob(next);
          }
          for (const job of started) {
            const e = this.engine.jobs[this.handles.get(job.id)!]!;
            const base = updates.get(job.id) ?? job;
            const next: StoredJob = {
              ...base,
              status: 'running',
              startedAt: base.startedAt ?? now,
              runStart: now,
              runFlavor: this.engine.flavorName(e.runFlavor),
              placement: this.engine.placementOf(e.handle),
              reasonCode: null,
              reasonMessage: null,
              expectedStart: null,
            };
            updates.set(job.id, next);
            await tx.insertRun({ jobId: job.id, start: now, end: null, flavor: next.runFlavor!, placement: next.placement!, outcome: null });
            await tx.updateJob(next);
          }
        }, STRAIGHT);
      } catch (error) {
        // Nothing was decided: undo and try again shortly.
        this.engine.abortPass();
        this.noteStoreFailure(error);
        this.passUnstored = true;
        logger.error({ err: error }, 'could not persist the pass; retrying in 1 s');
        this.armTimer(now + 1);
        return;
      }
      this.engine.commitPass(result);
      this.storeFailure = null;
      this.passUnstored = false;
      for (const [id, job] of updates) this.setActive(id, job);
      for (const job of victims) this.waitingSince.set(job.id, now);
      const hooks = this.options.hooks;
      if (hooks?.onPreempt) {
        for (const { job, by } of result.preempted) {
          const victim = updates.get(this.engine.jobs[job]!.spec.id);
          const preemptor = updates.get(this.engine.jobs[by]!.spec.id) ?? this.active.get(this.engine.jobs[by]!.spec.id);
          if (victim && preemptor) hooks.onPreempt(victim, preemptor, takers.get(victim.id)?.cause ?? this.causeOf(victim, preemptor.team, preemptor.runFlavor));
        }
      }
      if (hooks?.onStart) {
        for (const job of started) {
          const next = updates.get(job.id)!;
          const t = this.engine.teams.byName.get(job.team);
          const f = this.engine.fleet.flavors.find((x) => x.name === next.runFlavor)?.index;
          const inside = t !== undefined && f !== undefined && this.engine.teams.used(t, f) <= this.engine.teams.guaranteed(t, f);
          hooks.onStart(next, this.waitedBy(job, now), inside);
        }
      }
      for (const job of started) this.waitingSince.delete(job.id);
      for (const job of started) this.notes.delete(job.id);
      this.counters.preemptions += victims.length;
      this.options.hooks?.onChange?.();
      // The victims were not in the queue during this pass: one more gives them their reasons.
      if (victims.length > 0) this.passWanted = true;
      this.counters.admissions += started.length;
      // Act: stop victims first (their GPUs go to the new runs), then start. Local runs get a
      // grace period between SIGTERM and SIGKILL: the loop does not wait for it; the new runs
      // are launched once their victims are gone, and anything that happened to them in the
      // meantime (a cancel, another preemption, a failed launch) comes back as a command.
      const stops = victims.map((job) => {
        const runId = this.currentRun.get(job.id);
        this.currentRun.delete(job.id);
        return runId ? executor.stop(job.id, runId).catch((error: unknown) => this.stopFailed(error, job.id)) : Promise.resolve();
      });
      const launches = started.map((job) => {
        const n = (this.runCount.get(job.id) ?? 0) + 1;
        this.runCount.set(job.id, n);
        const runId = `${job.id}-r${n}`;
        this.currentRun.set(job.id, runId);
        return { id: job.id, runId };
      });
      const launch = async (): Promise<void> => {
        for (const { id, runId } of launches) {
          if (this.currentRun.get(id) !== runId) continue; // preempted again before it began
          const stored = this.active.get(id);
          const ended = (exitCode: number | null, stopped: boolean): void =>
            this.enqueue({ kind: 'exit', exit: { jobId: id, runId, at: clock(), exitCode, stopped, timedOut: false } });
          if (!stored || stored.status !== 'running') {
            ended(null, true); // cancelled while its victims stopped: the exit frees its GPUs
            continue;
          }
          try {
            await executor.start(this.runRequest(stored, runId, this.workLeft(stored)));
            this.executorFailure = null;
          } catch (error) {
            this.counters.executorErrors.start++;
            this.executorFailure = { at: clock(), cause: `could not start run ${runId}: ${error instanceof Error ? error.message : String(error)}` };
            logger.error({ err: error, job: id }, 'executor could not start the run');
            ended(null, false); // recorded as failed by applyExit
          }
        }
      };
      const reclaimed = async (): Promise<void> => {
        await launch();
        if (victims.length > 0) this.options.hooks?.onReclaim?.(Math.max(0, clock() - now));
      };
      if (executor.kind === 'simulated' || victims.length === 0) {
        await Promise.all(stops);
        await reclaimed();
      } else {
        void Promise.all(stops)
          .then(reclaimed)
          .catch((error: unknown) => logger.error({ err: error }, 'launching runs after preemption failed'));
      }
    } else {
      this.engine.commitPass(result);
      this.passUnstored = false;
    }
    this.options.hooks?.onPass?.(result, (performance.now() - t0) / 1000);
    executor.demand?.(this.engine.pending > 0);
    const wake = this.engine.pending > 0 ? this.engine.nextProtectionEnd(now) : null;
    if (wake !== null) this.armTimer(wake);
  }

  private stopFailed(error: unknown, job: string): void {
    this.counters.executorErrors.stop++;
    this.options.logger.error({ err: error, job }, 'stop failed');
  }

  /** Why `victim` made room for `by`: its own team (a higher class), a reclaim, or a higher class while borrowing. */
  /** Why `victim` made room for a job of `byTeam` running on `byFlavor` (with the teams' usage after the pass). */
  private causeOf(victim: StoredJob, byTeam: string, byFlavor: string | null): PreemptionCause {
    if (victim.team === byTeam) return 'withinTeam';
    const { teams } = this.engine;
    const t = teams.byName.get(byTeam);
    const f = byFlavor === null ? undefined : this.engine.fleet.flavors.find((x) => x.name === byFlavor)?.index;
    return t !== undefined && f !== undefined && teams.used(t, f) <= teams.guaranteed(t, f) ? 'reclaim' : 'priority';
  }

  private armTimer(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.closed) return;
    const delay = Math.max(0, (at - this.options.clock()) * 1000) + 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.requestPass();
    }, delay);
    this.timer.unref();
  }

  /** A preempted job keeps its progress up to the last checkpoint (M6). */
  private preempted(job: StoredJob, now: number): StoredJob {
    const ran = now - (job.runStart ?? now);
    const c = this.inForce.policy.preemption.checkpointInterval;
    const overhead = job.preemptions > 0 ? this.inForce.policy.preemption.restartOverhead : 0;
    // Simulated runs do `speed` seconds of work per second, the restart overhead first.
    const made = Math.max(0, ran * this.options.speed - overhead);
    const total = Math.min(job.duration ?? Infinity, job.keptWork + made);
    const kept = this.options.executor.kind !== 'simulated' ? 0 : c > 0 ? Math.max(job.keptWork, Math.floor(total / c) * c) : total;
    return {
      ...job,
      status: 'pending',
      preemptions: job.preemptions + 1,
      attained: job.attained + job.gpus * ran,
      keptWork: kept,
      placement: null,
      runFlavor: null,
      runStart: null,
    };
  }

  private workLeft(job: StoredJob): number {
    const overhead = job.preemptions > 0 ? this.inForce.policy.preemption.restartOverhead : 0;
    return overhead + Math.max(0, (job.duration ?? 0) - job.keptWork);
  }

  private runRequest(job: StoredJob, runId: string, work: number) {
    return {
      jobId: job.id,
      runId,
      gpus: job.gpus,
      flavor: job.runFlavor!,
      placement: job.placement!,
      remainingWork: work,
      command: job.command,
      timeLimit: this.timeLimitOf(job),
      teams: this.teamPath(job.team),
    };
  }

  /** A team and its ancestors, nearest first, in the policy in force. */
  private teamPath(team: string): string[] {
    const path: string[] = [];
    const visit = (nodes: readonly TeamSpec[]): boolean => {
      for (const node of nodes) {
        path.push(node.name);
        if (node.name === team || visit(node.children)) return true;
        path.pop();
      }
      return false;
    };
    return visit(this.inForce.policy.teams) ? path.reverse() : [team];
  }

  private specOf(job: StoredJob): JobSpec {
    return {
      id: job.id,
      submit: job.submittedAt,
      team: job.team,
      gpus: job.gpus,
      duration: job.duration ?? 0,
      class: job.class,
      flavor: job.flavor,
      timeLimit: job.timeLimit,
      checkpointInterval: null,
    };
  }
}
