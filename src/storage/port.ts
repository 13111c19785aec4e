// The storage port of the live service: everything the server keeps, behind one interface.
// SQLite (better-sqlite3, embedded, the default) implements it in sqlite.ts, PostgreSQL (pg) in
// postgres.ts; open.ts picks one. Every method is async for the sake of the latter.
//
// Contracts:
// - A write that resolves is durable (on disk; fsync'd in SQLite's WAL with synchronous=FULL).
// - `transaction(fn)` runs fn's writes atomically: all or nothing.
// - Every change of policy, fleet or tokens is also an append-only event (who, when, why),
//   appended by putPolicy/putFleet/insertToken/revokeToken themselves in the same transaction;
//   events are never updated or deleted (governance builds its audit log on them).
// - Times are seconds since the Unix epoch (floating point).

export type LiveJobStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' | 'timed_out' | 'rejected';

export interface StoredPlacement {
  readonly node: string;
  readonly gpus: number;
}

export interface StoredJob {
  /** "j-<seq>": stable, human-friendly, ordered. */
  readonly id: string;
  /** Submission order, from 1; the engine's tie-breaker after submit time (P1, P2e). */
  readonly seq: number;
  readonly name: string | null;
  readonly team: string;
  readonly class: string;
  readonly flavor: string | null;
  readonly gpus: number;
  /** Seconds of work, for the simulated executor. */
  readonly duration: number | null;
  readonly timeLimit: number | null;
  readonly command: string | null;
  /** The user (token owner) who submitted it. */
  readonly submittedBy: string;
  readonly submittedAt: number;
  readonly idempotencyKey: string | null;
  /** SHA-256 of the canonical JSON of the submitted body, kept with the key (null: no key, or stored before schema 3). */
  readonly idempotencyHash?: string | null;
  status: LiveJobStatus;
  /** Start of the first run. */
  startedAt: number | null;
  endedAt: number | null;
  preemptions: number;
  /** GPU-seconds received in finished runs. */
  attained: number;
  /** Current run (status running): its flavor, placement and start. */
  runFlavor: string | null;
  runStart: number | null;
  placement: StoredPlacement[] | null;
  reasonCode: string | null;
  reasonMessage: string | null;
  expectedStart: number | null;
  rejectReason: string | null;
  exitCode: number | null;
  /** Kept progress in seconds of work (preempted jobs resume from it). */
  keptWork: number;
}

export interface StoredRun {
  readonly jobId: string;
  readonly start: number;
  readonly end: number | null;
  readonly flavor: string;
  readonly placement: readonly StoredPlacement[];
  /** null while the run goes on. */
  readonly outcome: 'completed' | 'preempted' | 'timed_out' | 'failed' | 'cancelled' | 'requeued' | null;
  /** For a preempted run: the job its GPUs went to, and why (null: not preempted, or not recorded, before schema 7). */
  readonly preemptedBy?: RunPreemptor | null;
}

/** Why a run was preempted (server/live.ts decides it with the pass). */
export type PreemptionCause = 'reclaim' | 'withinTeam' | 'priority';

/** The job a preempted run's GPUs went to, its team and class, and why. */
export interface RunPreemptor {
  readonly job: string;
  readonly team: string;
  readonly class: string;
  /** reclaim: its team took back GPUs of its guarantee; withinTeam: a job of the same team; priority: a class of higher priority. */
  readonly cause: PreemptionCause;
}

/** A pending job's reason as it changed: recorded when its code or sentence changes (docs/api.md). */
export interface StoredReason {
  readonly jobId: string;
  readonly at: number;
  readonly code: string;
  readonly message: string;
}

/** A run as the usage report reads it: with its job's team, submission and first start. */
export interface PeriodRun extends StoredRun {
  readonly team: string;
  readonly submittedAt: number;
  /** Start of the job's first run: this run is the first when it equals `start`. */
  readonly jobStartedAt: number | null;
  /**
   * When this run started by reclaiming (a run of another team was preempted for it with cause
   * `reclaim`, at its start): how long the job had waited, seconds, since its submission or the
   * end of its previous run. Null otherwise (and for runs stored before schema 7).
   */
  readonly reclaimWait?: number | null;
}

export type Role = 'viewer' | 'member' | 'lead' | 'council' | 'admin';

export interface StoredToken {
  readonly id: string;
  /** SHA-256 of the secret, hex. The secret itself is never stored. */
  readonly hash: string;
  readonly user: string;
  readonly role: Role;
  readonly team: string | null;
  readonly createdAt: number;
  readonly revokedAt: number | null;
}

export interface StoredEvent {
  /** Position in the log, from 1. */
  readonly seq: number;
  readonly at: number;
  /** Who did it: a user name, or "system". */
  readonly actor: string;
  /** e.g. "policy.version", "fleet.version", "token.create", "token.revoke". */
  readonly kind: string;
  /** What it is about: a policy version, a token id... */
  readonly subject: string;
  readonly reason: string;
  readonly data: unknown;
}

export interface StoredVersion {
  readonly version: number;
  /** The document as given (YAML or JSON text). */
  readonly text: string;
  readonly createdAt: number;
  readonly actor: string;
  readonly reason: string;
}

/** A proposal as stored: the governance layer's JSON document, with its status for listing. */
export interface StoredProposal {
  readonly seq: number;
  readonly id: string;
  readonly status: string;
  readonly doc: unknown;
  readonly updatedAt: number;
}

/**
 * A comment on a proposal: a row of its own, inserted once and never rewritten, so that adding
 * one does not rewrite the proposal's document. `n` numbers a proposal's comments from 1.
 */
export interface StoredComment {
  readonly proposal: string;
  readonly n: number;
  readonly actor: string;
  readonly text: string;
  readonly at: number;
  /** The proposal's revision when it was made. */
  readonly revision: number;
  /**
   * Moved out of the proposal's document by the schema migration: the log vouches for it
   * through the document's digest (with its comments embedded) rather than an entry of its own.
   */
  readonly legacy: boolean;
}

/** A signed checkpoint of the audit log (docs/governance.md). */
export interface StoredCheckpoint {
  readonly size: number;
  /** Hex. */
  readonly root: string;
  /** ISO 8601 UTC. */
  readonly time: string;
  /** Base64 Ed25519 signature. */
  readonly signature: string;
  /** Base64 raw Ed25519 public key. */
  readonly publicKey: string;
}

export interface JobQuery {
  readonly team?: readonly string[];
  readonly status?: LiveJobStatus;
  readonly limit: number;
  /** Opaque: the `nextCursor` of the previous page (anything else: StorageError `invalid_cursor`). */
  readonly cursor?: string;
}

export interface JobPage {
  /** Newest first. */
  readonly jobs: StoredJob[];
  readonly nextCursor: string | null;
}

/** How a transaction's fn treats a failed write (Store.transaction). */
export interface TransactionOptions {
  /**
   * fn never goes on after one of its writes failed: it lets the failure end the transaction.
   * A store may then skip what lets a failed write undo only itself while the transaction goes
   * on (PostgreSQL: a savepoint around every write, two more round trips each). If fn catches
   * a failed write anyway and returns, nothing is committed and that failure is thrown.
   */
  readonly stopAtFirstFailure?: boolean;
}

export interface Store {
  /** Runs pending schema migrations; called once on start. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /**
   * Atomic group of writes: all or nothing (rolled back if fn throws, and fn's error rethrown).
   * fn receives the store bound to the transaction; nesting is not supported (a StorageError
   * `nested_transaction`). Transactions run one at a time; while one is open, writes from
   * outside it wait for it, and reads from outside it see only committed data.
   */
  transaction<T>(fn: (store: Store) => Promise<T>, options?: TransactionOptions): Promise<T>;

  /** Resolves once the database answers a trivial query (health checks); rejects with why not. */
  ping(): Promise<void>;

  /** The number the next new job would get now (a read; jobs are numbered by insertNewJob). */
  nextJobSeq(): Promise<number>;
  insertJob(job: StoredJob): Promise<void>;
  /**
   * Stores a new job numbered by the database: seq is the last stored one + 1, taken in the same
   * transaction as the insert (serialized with every other process writing to the database), and
   * id is "j-<seq>". Two processes on one database never give out the same number.
   */
  insertNewJob(job: Omit<StoredJob, 'id' | 'seq'>): Promise<{ id: string; seq: number }>;
  /**
   * insertNewJob for several jobs at once, numbered in the order given, atomically (all or
   * none): the group commit of a batch of submissions (PostgreSQL: one multi-row INSERT).
   */
  insertNewJobs(jobs: readonly Omit<StoredJob, 'id' | 'seq'>[]): Promise<{ id: string; seq: number }[]>;
  /** Replaces the mutable fields of a stored job (an unknown id: StorageError `not_found`). */
  updateJob(job: StoredJob): Promise<void>;
  getJob(id: string): Promise<StoredJob | null>;
  getJobByIdempotencyKey(user: string, key: string): Promise<StoredJob | null>;
  /**
   * getJobByIdempotencyKey for many (user, key) pairs at once (one query on PostgreSQL): the jobs
   * found, in no particular order; a pair with none is left out.
   */
  jobsByIdempotencyKeys(keys: readonly { readonly user: string; readonly key: string }[]): Promise<StoredJob[]>;
  listJobs(query: JobQuery): Promise<JobPage>;
  /** Pending and running jobs, in submission order (recovery after a restart). */
  unfinishedJobs(): Promise<StoredJob[]>;

  insertRun(run: StoredRun): Promise<void>;
  /** Ends the open run of a job (none open: StorageError `not_found`); a preempted one with who took its GPUs. */
  closeRun(jobId: string, end: number, outcome: NonNullable<StoredRun['outcome']>, preemptedBy?: RunPreemptor): Promise<void>;
  runsOf(jobId: string): Promise<StoredRun[]>;
  /**
   * Runs that overlap [from, to): started before `to` and not ended by `from` (open runs
   * included), with their job's team; ordered by start, then job seq. Not clipped: the caller
   * clips each to the period (the usage report, server/usage.ts).
   */
  runsOverlapping(from: number, to: number): Promise<PeriodRun[]>;

  /** Appends reason changes (atomically), each after the job's earlier ones. */
  appendReasons(reasons: readonly StoredReason[]): Promise<void>;
  /** Deletes all but the last `keep` reasons of each of `jobIds` (the history is bounded per job). */
  trimReasons(jobIds: readonly string[], keep: number): Promise<void>;
  /** A job's recorded reasons, oldest first. */
  reasonsOf(jobId: string): Promise<StoredReason[]>;
  /** For each pending or running job with recorded reasons: its last one and how many there are (recovery). */
  lastReasons(): Promise<Map<string, { readonly reason: StoredReason; readonly count: number }>>;

  /**
   * Stores a token and appends its `token.create` event, by `actor` (default "system") because
   * of `reason` (default "token created").
   */
  insertToken(token: StoredToken, actor?: string, reason?: string): Promise<void>;
  tokenByHash(hash: string): Promise<StoredToken | null>;
  listTokens(): Promise<StoredToken[]>;
  /**
   * Revokes a token and appends its `token.revoke` event (actor default "system", reason
   * default "token revoked"). Revoking a revoked token changes nothing (no event); an unknown
   * id is a StorageError `not_found`.
   */
  revokeToken(id: string, at: number, actor?: string, reason?: string): Promise<void>;

  appendEvent(event: Omit<StoredEvent, 'seq'>): Promise<number>;
  events(from: number, limit: number): Promise<StoredEvent[]>;

  /** Adds a version (version = last + 1) and returns it. */
  putPolicy(text: string, actor: string, reason: string, at: number): Promise<StoredVersion>;
  currentPolicy(): Promise<StoredVersion | null>;
  policyVersions(): Promise<StoredVersion[]>;
  putFleet(text: string, actor: string, reason: string, at: number): Promise<StoredVersion>;
  currentFleet(): Promise<StoredVersion | null>;

  /** Jobs submitted in [from, to), in submission order (the recorded workload of impact analysis). */
  jobsSubmittedBetween(from: number, to: number): Promise<StoredJob[]>;

  nextProposalSeq(): Promise<number>;
  /** Inserts or replaces a proposal document (by id). */
  putProposal(proposal: Omit<StoredProposal, 'seq'> & { seq?: number }): Promise<void>;
  getProposal(id: string): Promise<StoredProposal | null>;
  /** Newest first. */
  listProposals(): Promise<StoredProposal[]>;
  /** Inserts a comment; `n` must be the proposal's next (a taken one: StorageError `constraint`). */
  insertComment(comment: StoredComment): Promise<void>;
  /** A proposal's comments with n > `after`, oldest first, at most `limit`. */
  commentsOf(proposal: string, after: number, limit: number): Promise<StoredComment[]>;
  /** How many comments each proposal with any has. */
  commentCounts(): Promise<Map<string, number>>;
  /** Stores a report under its hash; storing the same hash again changes nothing. */
  putReport(hash: string, doc: unknown): Promise<void>;
  getReport(hash: string): Promise<unknown>;

  /** Stored leaf hashes, by seq from 1 (the audit log's leaves so far). */
  auditLeaves(): Promise<{ seq: number; hash: string }[]>;
  /** Appends leaves (seq must continue the stored ones) and the checkpoint that signs them. */
  appendAudit(leaves: readonly { seq: number; hash: string }[], checkpoint: StoredCheckpoint): Promise<void>;
  /** In the order they were signed. */
  checkpoints(): Promise<StoredCheckpoint[]>;
}

/** A fault of the storage (disk full, database locked...): typed, with a stable code. */
export class StorageError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}
