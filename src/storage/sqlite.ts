// The SQLite implementation of the storage port (better-sqlite3, embedded; the default store).
//
// - Durability: WAL with synchronous=FULL, so a write whose promise resolved is fsync'd and
//   survives kill -9 and power loss; foreign keys on; a busy timeout for other processes.
// - Two connections on one file: the writer, through which every write and every transaction
//   goes, and a reader for reads made outside a transaction, so they see only committed data
//   (WAL lets it read while the writer holds a transaction open). ":memory:" has one connection.
// - better-sqlite3 is synchronous but transaction(fn) takes an async fn, so transactions are
//   serialized by an in-process mutex (a promise chain): BEGIN IMMEDIATE, fn, COMMIT (ROLLBACK if
//   fn throws). Writes made outside a transaction take the same mutex, so they never slip into
//   someone else's open transaction, and each is atomic on its own. Inside fn, the view it gets
//   and the store itself (tracked with AsyncLocalStorage) both write into the transaction.
// - Statements are prepared once per connection and cached by their SQL text.
// - better-sqlite3's errors become StorageError with a stable code (see storageErrorOf).
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

import Database from 'better-sqlite3';

import { runMigrations } from './migrations.js';
import { StorageError } from './port.js';
import { count, decodeCursor, encodeCursor, refuseTakenUser } from './query.js';
import { tokenEventData } from './token-event.js';
import type {
  JobPage,
  JobQuery,
  PeriodRun,
  PreemptionCause,
  RunPreemptor,
  StoredCheckpoint,
  StoredEvent,
  StoredJob,
  StoredProposal,
  StoredComment,
  StoredPlacement,
  StoredReason,
  StoredRun,
  StoredToken,
  StoredVersion,
  Store,
  TransactionOptions,
} from './port.js';

export interface SqliteOptions {
  /** How long a write waits for another process holding the database's write lock (default 5000). */
  readonly busyTimeoutMs?: number;
}

/** What the connection was set up with (for start-up logs and tests). */
export interface SqliteSettings {
  readonly journalMode: string;
  readonly synchronous: 'off' | 'normal' | 'full' | 'extra';
  readonly busyTimeoutMs: number;
  readonly foreignKeys: boolean;
}

export interface SqliteStore extends Store {
  readonly file: string;
  settings(): SqliteSettings;
}

/** Opens (creating it, and its folder, if missing) the database file. Call migrate() next. */
export function openSqliteStore(file: string, options: SqliteOptions = {}): Promise<SqliteStore> {
  const memory = file === ':memory:';
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  let writer: Database.Database | undefined;
  let reader: Database.Database | undefined;
  try {
    if (!memory) mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    writer = new Database(file, { timeout: busyTimeoutMs });
    const journalMode = writer.pragma('journal_mode = WAL', { simple: true });
    if (!memory && journalMode !== 'wal')
      throw new StorageError(
        'io',
        `${file}: cannot use WAL mode (journal_mode is ${String(journalMode)})`,
        false,
      );
    writer.pragma('synchronous = FULL');
    writer.pragma('foreign_keys = ON');
    writer.pragma(`busy_timeout = ${busyTimeoutMs}`);
    if (memory) reader = writer;
    else {
      reader = new Database(file, { timeout: busyTimeoutMs });
      reader.pragma(`busy_timeout = ${busyTimeoutMs}`);
      reader.pragma('query_only = ON');
    }
  } catch (error) {
    if (reader !== writer) reader?.close();
    writer?.close();
    const fault = storageErrorOf(error, `opening ${file}`);
    return Promise.reject(
      fault instanceof StorageError
        ? fault
        : new StorageError('cantopen', `cannot open ${file}: ${fault.message}`, false, { cause: error }),
    );
  }
  return Promise.resolve(
    new SqliteStoreImpl(new Shared(file, new Connection(writer), new Connection(reader)), null),
  );
}

// ------------------------------------------------------------------ faults

/**
 * A better-sqlite3 error as a StorageError with a stable code, keeping it as the cause:
 * `busy` (another writer held the lock past the timeout; retryable), `full` (disk or database
 * full), `io`, `constraint` (unique, check, foreign key, not null, append-only trigger),
 * `corrupt`, `readonly`, `cantopen`, `permission`, `nomem`, else `sqlite`. A StorageError
 * passes through; any other error (a bug: wrong binding, closed statement) too.
 */
export function storageErrorOf(error: unknown, doing: string): Error {
  if (error instanceof StorageError) return error;
  if (!(error instanceof Database.SqliteError))
    return error instanceof Error ? error : new Error(String(error));
  const [code, retryable] = classify(error.code);
  return new StorageError(code, `${doing}: ${error.message} (${error.code})`, retryable, { cause: error });
}

function classify(sqliteCode: string): [code: string, retryable: boolean] {
  const primary = /^SQLITE_[A-Z]+/.exec(sqliteCode)?.[0] ?? sqliteCode;
  switch (primary) {
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return ['busy', true];
    case 'SQLITE_FULL':
      return ['full', false];
    case 'SQLITE_IOERR':
      return ['io', false];
    case 'SQLITE_CONSTRAINT':
      return ['constraint', false];
    case 'SQLITE_CORRUPT':
    case 'SQLITE_NOTADB':
      return ['corrupt', false];
    case 'SQLITE_READONLY':
      return ['readonly', false];
    case 'SQLITE_CANTOPEN':
      return ['cantopen', false];
    case 'SQLITE_PERM':
    case 'SQLITE_AUTH':
      return ['permission', false];
    case 'SQLITE_NOMEM':
      return ['nomem', false];
    default:
      return ['sqlite', false];
  }
}

// ------------------------------------------------------------------ rows

const JOB_COLUMNS = `id, seq, name, team, class, flavor, gpus, duration, time_limit AS timeLimit, command,
  submitted_by AS submittedBy, submitted_at AS submittedAt, idempotency_key AS idempotencyKey,
  idempotency_hash AS idempotencyHash, status,
  started_at AS startedAt, ended_at AS endedAt, preemptions, attained, run_flavor AS runFlavor,
  run_start AS runStart, placement, reason_code AS reasonCode, reason_message AS reasonMessage,
  expected_start AS expectedStart, reject_reason AS rejectReason, exit_code AS exitCode, kept_work AS keptWork`;

type JobRow = Omit<StoredJob, 'placement'> & { placement: string | null };

const toJob = (row: JobRow): StoredJob => ({
  ...row,
  placement: row.placement === null ? null : (JSON.parse(row.placement) as StoredPlacement[]),
});

/** Named parameters of a job; `?? null` so that a missing optional field is stored as null. */
const jobParams = (job: StoredJob): Record<string, unknown> => ({
  seq: job.seq,
  id: job.id,
  name: job.name ?? null,
  team: job.team,
  class: job.class,
  flavor: job.flavor ?? null,
  gpus: job.gpus,
  duration: job.duration ?? null,
  timeLimit: job.timeLimit ?? null,
  command: job.command ?? null,
  submittedBy: job.submittedBy,
  submittedAt: job.submittedAt,
  idempotencyKey: job.idempotencyKey ?? null,
  idempotencyHash: job.idempotencyHash ?? null,
  status: job.status,
  startedAt: job.startedAt ?? null,
  endedAt: job.endedAt ?? null,
  preemptions: job.preemptions,
  attained: job.attained,
  runFlavor: job.runFlavor ?? null,
  runStart: job.runStart ?? null,
  placement:
    job.placement == null ? null : JSON.stringify(job.placement.map(({ node, gpus }) => ({ node, gpus }))),
  reasonCode: job.reasonCode ?? null,
  reasonMessage: job.reasonMessage ?? null,
  expectedStart: job.expectedStart ?? null,
  rejectReason: job.rejectReason ?? null,
  exitCode: job.exitCode ?? null,
  keptWork: job.keptWork,
});

const INSERT_JOB = `INSERT INTO jobs (seq, id, name, team, class, flavor, gpus, duration, time_limit, command,
  submitted_by, submitted_at, idempotency_key, idempotency_hash, status, started_at, ended_at, preemptions, attained, run_flavor,
  run_start, placement, reason_code, reason_message, expected_start, reject_reason, exit_code, kept_work)
  VALUES (@seq, @id, @name, @team, @class, @flavor, @gpus, @duration, @timeLimit, @command,
  @submittedBy, @submittedAt, @idempotencyKey, @idempotencyHash, @status, @startedAt, @endedAt, @preemptions, @attained, @runFlavor,
  @runStart, @placement, @reasonCode, @reasonMessage, @expectedStart, @rejectReason, @exitCode, @keptWork)`;

const UPDATE_JOB = `UPDATE jobs SET status = @status, started_at = @startedAt, ended_at = @endedAt,
  preemptions = @preemptions, attained = @attained, run_flavor = @runFlavor, run_start = @runStart,
  placement = @placement, reason_code = @reasonCode, reason_message = @reasonMessage,
  expected_start = @expectedStart, reject_reason = @rejectReason, exit_code = @exitCode, kept_work = @keptWork
  WHERE id = @id`;

type RunRow = Omit<StoredRun, 'placement'> & { placement: string };
type PreemptorRow = { byJob: string | null; byTeam: string | null; byClass: string | null; byCause: PreemptionCause | null };

const TOKEN_COLUMNS = `id, hash, user, role, team, created_at AS createdAt, revoked_at AS revokedAt`;

type EventRow = Omit<StoredEvent, 'data'> & { data: string };

const VERSION_COLUMNS = `version, text, created_at AS createdAt, actor, reason`;

// ------------------------------------------------------------------ connections

class Connection {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(readonly db: Database.Database) {}

  /** The statement for `sql`, prepared on first use. */
  stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

interface TxState {
  open: boolean;
  /** TransactionOptions.stopAtFirstFailure: a failed write is noted and fails the transaction. */
  readonly stopAtFirstFailure: boolean;
  failure: { error: unknown } | null;
}

/** What the store and the views of its transactions share. */
class Shared {
  closed = false;
  readonly ambient = new AsyncLocalStorage<TxState>();
  private tail: Promise<unknown> = Promise.resolve();
  /** Runs a thunk in one transaction, or in a savepoint when a transaction is already open. */
  private readonly atomic: Database.Transaction<(f: () => unknown) => unknown>;
  private readonly readTx: Database.Transaction<(f: () => unknown) => unknown>;

  constructor(
    readonly file: string,
    readonly writer: Connection,
    readonly reader: Connection,
  ) {
    this.atomic = writer.db.transaction((f: () => unknown) => f());
    this.readTx = reader.db.transaction((f: () => unknown) => f());
  }

  /** Runs f when every earlier exclusive task has settled (the in-process write mutex). */
  exclusive<T>(f: () => T | Promise<T>): Promise<T> {
    const result = this.tail.then(f);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  atomically<T>(f: () => T): T {
    return this.atomic.immediate(f) as T;
  }

  /** Runs the reads of f on one snapshot: in a read transaction on the reader (on the writer, f is in one already). */
  snapshot<T>(c: Connection, f: () => T): T {
    return c === this.reader && c !== this.writer ? (this.readTx.deferred(f) as T) : f();
  }

  checkOpen(): void {
    if (this.closed) throw new StorageError('closed', `the store ${this.file} is closed`, false);
  }
}

/** Runs f, turning what better-sqlite3 throws into StorageError. */
function attempt<T>(doing: string, f: () => T): T {
  try {
    return f();
  } catch (error) {
    throw storageErrorOf(error, doing);
  }
}

// ------------------------------------------------------------------ the store

class SqliteStoreImpl implements SqliteStore {
  constructor(
    private readonly s: Shared,
    /** Set on the view a transaction's fn receives. */
    private readonly tx: TxState | null,
  ) {}

  get file(): string {
    return this.s.file;
  }

  /** The open transaction this call belongs to, if any. */
  private inTransaction(): boolean {
    if (this.tx !== null) {
      if (!this.tx.open)
        throw new StorageError(
          'transaction_closed',
          'this transaction has ended: use the store itself',
          false,
        );
      return true;
    }
    return this.s.ambient.getStore()?.open === true;
  }

  /** A read: in the transaction if inside one, else on the reader (committed data only). */
  private read<T>(doing: string, f: (c: Connection) => T): Promise<T> {
    try {
      this.s.checkOpen();
      const connection = this.inTransaction() ? this.s.writer : this.s.reader;
      return Promise.resolve(attempt(doing, () => f(connection)));
    } catch (error) {
      return Promise.reject(storageErrorOf(error, doing));
    }
  }

  /**
   * A write: in the transaction if inside one, else on its own after every earlier transaction.
   * `atomic` wraps f in its own transaction (a savepoint inside one) for writes of several statements.
   */
  private write<T>(doing: string, f: (c: Connection) => T, atomic = false): Promise<T> {
    const run = (): T =>
      attempt(doing, () => (atomic ? this.s.atomically(() => f(this.s.writer)) : f(this.s.writer)));
    try {
      this.s.checkOpen();
      if (this.inTransaction()) return Promise.resolve(run());
    } catch (error) {
      const tx = this.tx ?? this.s.ambient.getStore();
      if (tx?.open === true && tx.stopAtFirstFailure) tx.failure ??= { error };
      return Promise.reject(storageErrorOf(error, doing));
    }
    return this.s.exclusive(() => {
      this.s.checkOpen();
      return run();
    });
  }

  private refuseInTransaction(what: string): void {
    if (this.tx !== null || this.s.ambient.getStore()?.open === true)
      throw new StorageError(
        'nested_transaction',
        `${what} inside a transaction: nesting is not supported`,
        false,
      );
  }

  settings(): SqliteSettings {
    this.s.checkOpen();
    const db = this.s.writer.db;
    const synchronous = Number(db.pragma('synchronous', { simple: true }));
    return {
      journalMode: String(db.pragma('journal_mode', { simple: true })),
      synchronous: (['off', 'normal', 'full', 'extra'] as const)[synchronous] ?? 'off',
      busyTimeoutMs: Number(db.pragma('busy_timeout', { simple: true })),
      foreignKeys: Number(db.pragma('foreign_keys', { simple: true })) === 1,
    };
  }

  migrate(): Promise<void> {
    try {
      this.refuseInTransaction('migrate()');
      this.s.checkOpen();
    } catch (error) {
      return Promise.reject(storageErrorOf(error, 'migrate'));
    }
    return this.s.exclusive(() => {
      this.s.checkOpen();
      attempt(`migrating ${this.s.file}`, () => runMigrations(this.s.writer.db));
    });
  }

  close(): Promise<void> {
    try {
      this.refuseInTransaction('close()');
    } catch (error) {
      return Promise.reject(storageErrorOf(error, 'close'));
    }
    return this.s.exclusive(() => {
      if (this.s.closed) return;
      this.s.closed = true;
      // The writer last: the last connection to close checkpoints the WAL into the file.
      if (this.s.reader !== this.s.writer) this.s.reader.db.close();
      this.s.writer.db.close();
    });
  }

  async transaction<T>(fn: (store: Store) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    this.refuseInTransaction('transaction()');
    this.s.checkOpen();
    return this.s.exclusive(async () => {
      this.s.checkOpen();
      const w = this.s.writer;
      attempt('beginning a transaction', () => w.stmt('BEGIN IMMEDIATE').run());
      const state: TxState = { open: true, stopAtFirstFailure: options.stopAtFirstFailure === true, failure: null };
      try {
        const result = await this.s.ambient.run(state, () => fn(new SqliteStoreImpl(this.s, state)));
        // fn went on after a failed write although it said it would not: as on PostgreSQL, nothing is committed.
        if (state.failure !== null) throw storageErrorOf(state.failure.error, 'a transaction that went on after a failed write');
        attempt('committing a transaction', () => w.stmt('COMMIT').run());
        return result;
      } catch (error) {
        // A failed COMMIT may have rolled back already; else undo fn's writes. A failing
        // ROLLBACK is not what the caller needs to hear about: fn's error is.
        if (w.db.inTransaction) {
          try {
            w.stmt('ROLLBACK').run();
          } catch {
            // ignored: see above
          }
        }
        throw error;
      } finally {
        state.open = false;
      }
    });
  }

  // ---------------------------------------------------------------- jobs

  async ping(): Promise<void> {
    await this.read('checking that the database answers', (c) => c.stmt('SELECT 1').get());
  }

  nextJobSeq(): Promise<number> {
    return this.read(
      'nextJobSeq',
      (c) => (c.stmt('SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM jobs').get() as { next: number }).next,
    );
  }

  insertJob(job: StoredJob): Promise<void> {
    return this.write(`storing job ${job.id}`, (c) => {
      c.stmt(INSERT_JOB).run(jobParams(job));
    });
  }

  insertNewJob(job: Omit<StoredJob, 'id' | 'seq'>): Promise<{ id: string; seq: number }> {
    // The writer holds SQLite's write lock (BEGIN IMMEDIATE in a transaction, or this one
    // statement's own): no other process can insert between the MAX and the INSERT.
    return this.write(
      'storing a new job',
      (c) => {
        const seq = (c.stmt('SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM jobs').get() as { next: number }).next;
        const id = `j-${seq}`;
        c.stmt(INSERT_JOB).run(jobParams({ ...job, id, seq }));
        return { id, seq };
      },
      true,
    );
  }

  insertNewJobs(jobs: readonly Omit<StoredJob, 'id' | 'seq'>[]): Promise<{ id: string; seq: number }[]> {
    // One write (a transaction of its own outside one): numbered under the same write lock.
    return this.write(
      `storing ${jobs.length} new jobs`,
      (c) => {
        let seq = (c.stmt('SELECT COALESCE(MAX(seq), 0) AS last FROM jobs').get() as { last: number }).last;
        return jobs.map((job) => {
          seq += 1;
          const id = `j-${seq}`;
          c.stmt(INSERT_JOB).run(jobParams({ ...job, id, seq }));
          return { id, seq };
        });
      },
      true,
    );
  }

  updateJob(job: StoredJob): Promise<void> {
    return this.write(`updating job ${job.id}`, (c) => {
      if (c.stmt(UPDATE_JOB).run(jobParams(job)).changes === 0)
        throw new StorageError('not_found', `cannot update job ${job.id}: it is not stored`, false);
    });
  }

  getJob(id: string): Promise<StoredJob | null> {
    return this.read(`reading job ${id}`, (c) => {
      const row = c.stmt(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`).get(id) as JobRow | undefined;
      return row === undefined ? null : toJob(row);
    });
  }

  getJobByIdempotencyKey(user: string, key: string): Promise<StoredJob | null> {
    return this.read('reading a job by idempotency key', (c) => {
      const row = c
        .stmt(`SELECT ${JOB_COLUMNS} FROM jobs WHERE submitted_by = ? AND idempotency_key = ?`)
        .get(user, key) as JobRow | undefined;
      return row === undefined ? null : toJob(row);
    });
  }

  jobsByIdempotencyKeys(keys: readonly { readonly user: string; readonly key: string }[]): Promise<StoredJob[]> {
    return this.read('reading jobs by idempotency key', (c) => {
      const stmt = c.stmt(`SELECT ${JOB_COLUMNS} FROM jobs WHERE submitted_by = ? AND idempotency_key = ?`);
      const found = new Map<number, StoredJob>();
      for (const { user, key } of keys) {
        const row = stmt.get(user, key) as JobRow | undefined;
        if (row !== undefined) found.set(row.seq, toJob(row));
      }
      return [...found.values()];
    });
  }

  listJobs(query: JobQuery): Promise<JobPage> {
    return this.read('listing jobs', (c) => {
      const limit = count(query.limit, 'limit', 1);
      const before = query.cursor === undefined ? null : decodeCursor(query.cursor);
      const where: string[] = [];
      const params: Record<string, unknown> = { limit: limit + 1, status: query.status, before };
      if (query.team !== undefined) where.push('team = @team');
      if (query.status !== undefined) where.push('status = @status');
      if (before !== null) where.push('seq < @before');
      // One SQL text per combination of filters: at most 8 cached statements.
      const statement = c.stmt(
        `SELECT ${JOB_COLUMNS} FROM jobs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT @limit`,
      );
      let rows: JobRow[];
      if (query.team === undefined) rows = statement.all(params) as JobRow[];
      else {
        // Per team, the newest limit+1 along its index (no sort of a team's whole history),
        // merged here; in one read transaction, so that every team is read at one moment.
        const teams = [...new Set(query.team)];
        rows = this.s.snapshot(c, () =>
          teams.flatMap((team) => statement.all({ ...params, team }) as JobRow[]),
        );
        if (teams.length > 1) rows.sort((a, b) => b.seq - a.seq);
      }
      const more = rows.length > limit;
      if (more) rows.length = limit;
      const last = rows[rows.length - 1];
      return {
        jobs: rows.map(toJob),
        nextCursor: more && last !== undefined ? encodeCursor(last.seq) : null,
      };
    });
  }

  unfinishedJobs(): Promise<StoredJob[]> {
    return this.read('reading unfinished jobs', (c) =>
      (
        c
          .stmt(`SELECT ${JOB_COLUMNS} FROM jobs WHERE status IN ('pending', 'running') ORDER BY seq`)
          .all() as JobRow[]
      ).map(toJob),
    );
  }

  // ---------------------------------------------------------------- runs

  insertRun(run: StoredRun): Promise<void> {
    return this.write(`storing a run of ${run.jobId}`, (c) => {
      c.stmt(
        `INSERT INTO runs (job_id, start_at, end_at, flavor, placement, outcome) VALUES (@jobId, @start, @end, @flavor, @placement, @outcome)`,
      ).run({
        jobId: run.jobId,
        start: run.start,
        end: run.end ?? null,
        flavor: run.flavor,
        placement: JSON.stringify(run.placement.map(({ node, gpus }) => ({ node, gpus }))),
        outcome: run.outcome ?? null,
      });
    });
  }

  closeRun(jobId: string, end: number, outcome: NonNullable<StoredRun['outcome']>, by?: RunPreemptor): Promise<void> {
    return this.write(`closing the run of ${jobId}`, (c) => {
      const { changes } = c
        .stmt(
          `UPDATE runs SET end_at = ?, outcome = ?, preempted_by = ?, preempted_by_team = ?, preempted_by_class = ?, preempt_cause = ?
           WHERE job_id = ? AND end_at IS NULL`,
        )
        .run(end, outcome, by?.job ?? null, by?.team ?? null, by?.class ?? null, by?.cause ?? null, jobId);
      if (changes === 0) throw new StorageError('not_found', `job ${jobId} has no open run to close`, false);
    });
  }

  runsOf(jobId: string): Promise<StoredRun[]> {
    return this.read(`reading the runs of ${jobId}`, (c) =>
      (
        c
          .stmt(
            `SELECT job_id AS jobId, start_at AS start, end_at AS "end", flavor, placement, outcome,
               preempted_by AS byJob, preempted_by_team AS byTeam, preempted_by_class AS byClass, preempt_cause AS byCause
             FROM runs WHERE job_id = ? ORDER BY id`,
          )
          .all(jobId) as (RunRow & PreemptorRow)[]
      ).map(({ byJob, byTeam, byClass, byCause, ...row }) => ({
        ...row,
        placement: JSON.parse(row.placement) as StoredPlacement[],
        preemptedBy: byJob === null ? null : { job: byJob, team: byTeam!, class: byClass!, cause: byCause! },
      })),
    );
  }

  // ---------------------------------------------------------------- reasons

  appendReasons(reasons: readonly StoredReason[]): Promise<void> {
    if (reasons.length === 0) return Promise.resolve();
    return this.write(`storing ${reasons.length} reason(s)`, (c) => {
      const insert = c.stmt('INSERT INTO job_reasons (job_id, at, code, message) VALUES (?, ?, ?, ?)');
      for (const r of reasons) insert.run(r.jobId, r.at, r.code, r.message);
    }, true);
  }

  trimReasons(jobIds: readonly string[], keep: number): Promise<void> {
    if (jobIds.length === 0) return Promise.resolve();
    return this.write(`trimming the reasons of ${jobIds.length} job(s)`, (c) => {
      const trim = c.stmt(
        `DELETE FROM job_reasons WHERE job_id = ? AND id <= (SELECT id FROM job_reasons WHERE job_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
      );
      for (const id of jobIds) trim.run(id, id, keep);
    }, true);
  }

  reasonsOf(jobId: string): Promise<StoredReason[]> {
    return this.read(`reading the reasons of ${jobId}`, (c) =>
      c.stmt('SELECT job_id AS jobId, at, code, message FROM job_reasons WHERE job_id = ? ORDER BY id').all(jobId) as StoredReason[],
    );
  }

  lastReasons(): Promise<Map<string, { readonly reason: StoredReason; readonly count: number }>> {
    return this.read('reading the last reasons of unfinished jobs', (c) => {
      const rows = c
        .stmt(
          `SELECT r.job_id AS jobId, r.at, r.code, r.message, l.count
           FROM (SELECT x.job_id, MAX(x.id) AS last, COUNT(*) AS count
                 FROM job_reasons x JOIN jobs j ON j.id = x.job_id WHERE j.status IN ('pending', 'running') GROUP BY x.job_id) l
           JOIN job_reasons r ON r.id = l.last`,
        )
        .all() as (StoredReason & { count: number })[];
      return new Map(rows.map(({ count, ...reason }) => [reason.jobId, { reason, count }]));
    });
  }

  runsOverlapping(from: number, to: number): Promise<PeriodRun[]> {
    return this.read('reading the runs of a period', (c) =>
      (
        c
          .stmt(
            `SELECT r.job_id AS jobId, r.start_at AS start, r.end_at AS "end", r.flavor, r.placement, r.outcome,
               j.team, j.submitted_at AS submittedAt, j.started_at AS jobStartedAt,
               CASE WHEN EXISTS (SELECT 1 FROM runs v WHERE v.preempted_by = r.job_id AND v.preempt_cause = 'reclaim' AND v.end_at = r.start_at)
                 THEN r.start_at - COALESCE((SELECT MAX(p.end_at) FROM runs p WHERE p.job_id = r.job_id AND p.id < r.id), j.submitted_at) END AS reclaimWait
             FROM runs r JOIN jobs j ON j.id = r.job_id
             WHERE r.start_at < ? AND (r.end_at IS NULL OR r.end_at > ?) ORDER BY r.start_at, j.seq, r.id`,
          )
          .all(to, from) as (RunRow & { team: string; submittedAt: number; jobStartedAt: number | null; reclaimWait: number | null })[]
      ).map((row) => ({ ...row, placement: JSON.parse(row.placement) as StoredPlacement[] })),
    );
  }

  // ---------------------------------------------------------------- tokens

  insertToken(token: StoredToken, actor = 'system', reason = 'token created'): Promise<void> {
    return this.write(
      `storing token ${token.id}`,
      (c) => {
        refuseTakenUser(token.user, c.stmt(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE user = ? ORDER BY rowid LIMIT 1`).get(token.user) as StoredToken | undefined);
        c.stmt(
          'INSERT INTO tokens (id, hash, user, role, team, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        ).run(
          token.id,
          token.hash,
          token.user,
          token.role,
          token.team ?? null,
          token.createdAt,
          token.revokedAt ?? null,
        );
        insertEvent(c, {
          at: token.createdAt,
          actor,
          kind: 'token.create',
          subject: token.id,
          reason,
          data: tokenEventData(token),
        });
      },
      true,
    );
  }

  tokenByHash(hash: string): Promise<StoredToken | null> {
    return this.read('reading a token', (c) => {
      const row = c.stmt(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE hash = ?`).get(hash) as
        StoredToken | undefined;
      return row ?? null;
    });
  }

  listTokens(): Promise<StoredToken[]> {
    return this.read(
      'listing tokens',
      (c) => c.stmt(`SELECT ${TOKEN_COLUMNS} FROM tokens ORDER BY rowid`).all() as StoredToken[],
    );
  }

  revokeToken(id: string, at: number, actor = 'system', reason = 'token revoked'): Promise<void> {
    return this.write(
      `revoking token ${id}`,
      (c) => {
        const token = c.stmt(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ?`).get(id) as
          StoredToken | undefined;
        if (token === undefined) throw new StorageError('not_found', `there is no token ${id}`, false);
        if (token.revokedAt !== null) return;
        c.stmt('UPDATE tokens SET revoked_at = ? WHERE id = ?').run(at, id);
        insertEvent(c, { at, actor, kind: 'token.revoke', subject: id, reason, data: tokenEventData(token) });
      },
      true,
    );
  }

  // ---------------------------------------------------------------- events

  appendEvent(event: Omit<StoredEvent, 'seq'>): Promise<number> {
    return this.write(`appending a ${event.kind} event`, (c) => insertEvent(c, event));
  }

  events(from: number, limit: number): Promise<StoredEvent[]> {
    return this.read('reading events', (c) =>
      (
        c
          .stmt(
            'SELECT seq, at, actor, kind, subject, reason, data FROM events WHERE seq >= ? ORDER BY seq LIMIT ?',
          )
          .all(count(from, 'from', 0), count(limit, 'limit', 0)) as EventRow[]
      ).map((row) => ({ ...row, data: JSON.parse(row.data) as unknown })),
    );
  }

  // ---------------------------------------------------------------- policy and fleet versions

  putPolicy(text: string, actor: string, reason: string, at: number): Promise<StoredVersion> {
    return this.write(
      'storing a policy version',
      (c) => putVersion(c, 'policy', text, actor, reason, at),
      true,
    );
  }

  currentPolicy(): Promise<StoredVersion | null> {
    return this.read('reading the policy', (c) => lastVersion(c, 'policy'));
  }

  policyVersions(): Promise<StoredVersion[]> {
    return this.read(
      'reading policy versions',
      (c) =>
        c.stmt(`SELECT ${VERSION_COLUMNS} FROM policy_versions ORDER BY version`).all() as StoredVersion[],
    );
  }

  putFleet(text: string, actor: string, reason: string, at: number): Promise<StoredVersion> {
    return this.write(
      'storing a fleet version',
      (c) => putVersion(c, 'fleet', text, actor, reason, at),
      true,
    );
  }

  currentFleet(): Promise<StoredVersion | null> {
    return this.read('reading the fleet', (c) => lastVersion(c, 'fleet'));
  }

  // ---------------------------------------------------------------- governance

  jobsSubmittedBetween(from: number, to: number): Promise<StoredJob[]> {
    return this.read('reading the recorded workload', (c) =>
      (c.stmt(`SELECT ${JOB_COLUMNS} FROM jobs WHERE submitted_at >= ? AND submitted_at < ? ORDER BY seq`).all(from, to) as JobRow[]).map(toJob),
    );
  }

  nextProposalSeq(): Promise<number> {
    return this.read('numbering a proposal', (c) => (c.stmt('SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM proposals').get() as { next: number }).next);
  }

  putProposal(p: Omit<StoredProposal, 'seq'> & { seq?: number }): Promise<void> {
    return this.write(`storing proposal ${p.id}`, (c) => {
      const doc = JSON.stringify(p.doc);
      const updated = c.stmt('UPDATE proposals SET status = ?, doc = ?, updated_at = ? WHERE id = ?').run(p.status, doc, p.updatedAt, p.id);
      if (updated.changes === 0) {
        const seq = p.seq ?? (c.stmt('SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM proposals').get() as { next: number }).next;
        c.stmt('INSERT INTO proposals (seq, id, status, doc, updated_at) VALUES (?, ?, ?, ?, ?)').run(seq, p.id, p.status, doc, p.updatedAt);
      }
    });
  }

  getProposal(id: string): Promise<StoredProposal | null> {
    return this.read(`reading proposal ${id}`, (c) => {
      const row = c.stmt('SELECT seq, id, status, doc, updated_at AS updatedAt FROM proposals WHERE id = ?').get(id) as ProposalRow | undefined;
      return row ? { ...row, doc: JSON.parse(row.doc) as unknown } : null;
    });
  }

  listProposals(): Promise<StoredProposal[]> {
    return this.read('listing proposals', (c) =>
      (c.stmt('SELECT seq, id, status, doc, updated_at AS updatedAt FROM proposals ORDER BY seq DESC').all() as ProposalRow[]).map((row) => ({
        ...row,
        doc: JSON.parse(row.doc) as unknown,
      })),
    );
  }

  insertComment(comment: StoredComment): Promise<void> {
    return this.write(`storing comment ${comment.n} of proposal ${comment.proposal}`, (c) => {
      c.stmt('INSERT INTO proposal_comments (proposal, n, actor, text, at, revision, legacy) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
        comment.proposal,
        comment.n,
        comment.actor,
        comment.text,
        comment.at,
        comment.revision,
        comment.legacy ? 1 : 0,
      );
    });
  }

  commentsOf(proposal: string, after: number, limit: number): Promise<StoredComment[]> {
    return this.read(`reading the comments of proposal ${proposal}`, (c) =>
      (
        c.stmt('SELECT proposal, n, actor, text, at, revision, legacy FROM proposal_comments WHERE proposal = ? AND n > ? ORDER BY n LIMIT ?').all(proposal, after, limit) as (Omit<StoredComment, 'legacy'> & { legacy: number })[]
      ).map((row) => ({ ...row, legacy: row.legacy === 1 })),
    );
  }

  commentCounts(): Promise<Map<string, number>> {
    return this.read('counting comments', (c) => {
      const counts = c.stmt('SELECT proposal, COUNT(*) AS count FROM proposal_comments GROUP BY proposal').all() as { proposal: string; count: number }[];
      return new Map(counts.map((row) => [row.proposal, row.count]));
    });
  }

  putReport(hash: string, doc: unknown): Promise<void> {
    return this.write(`storing impact report ${hash}`, (c) => {
      c.stmt('INSERT INTO impact_reports (hash, doc) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING').run(hash, JSON.stringify(doc));
    });
  }

  getReport(hash: string): Promise<unknown> {
    return this.read(`reading impact report ${hash}`, (c) => {
      const row = c.stmt('SELECT doc FROM impact_reports WHERE hash = ?').get(hash) as { doc: string } | undefined;
      return row ? (JSON.parse(row.doc) as unknown) : null;
    });
  }

  auditLeaves(): Promise<{ seq: number; hash: string }[]> {
    return this.read('reading the audit leaves', (c) => c.stmt('SELECT seq, hash FROM audit_leaves ORDER BY seq').all() as { seq: number; hash: string }[]);
  }

  appendAudit(leaves: readonly { seq: number; hash: string }[], cp: StoredCheckpoint): Promise<void> {
    return this.write(
      'appending to the audit log',
      (c) => {
        const insert = c.stmt('INSERT INTO audit_leaves (seq, hash) VALUES (?, ?)');
        for (const leaf of leaves) insert.run(leaf.seq, leaf.hash);
        c.stmt('INSERT INTO audit_checkpoints (size, root, time, signature, public_key) VALUES (?, ?, ?, ?, ?)').run(cp.size, cp.root, cp.time, cp.signature, cp.publicKey);
      },
      true,
    );
  }

  checkpoints(): Promise<StoredCheckpoint[]> {
    return this.read('reading the audit checkpoints', (c) =>
      c.stmt('SELECT size, root, time, signature, public_key AS publicKey FROM audit_checkpoints ORDER BY id').all() as StoredCheckpoint[],
    );
  }
}

interface ProposalRow {
  seq: number;
  id: string;
  status: string;
  doc: string;
  updatedAt: number;
}

function insertEvent(c: Connection, event: Omit<StoredEvent, 'seq'>): number {
  const { lastInsertRowid } = c
    .stmt('INSERT INTO events (at, actor, kind, subject, reason, data) VALUES (?, ?, ?, ?, ?, ?)')
    .run(event.at, event.actor, event.kind, event.subject, event.reason, JSON.stringify(event.data ?? null));
  return Number(lastInsertRowid);
}

function putVersion(
  c: Connection,
  what: 'policy' | 'fleet',
  text: string,
  actor: string,
  reason: string,
  at: number,
): StoredVersion {
  const table = `${what}_versions`;
  const { version } = c.stmt(`SELECT COALESCE(MAX(version), 0) + 1 AS version FROM ${table}`).get() as {
    version: number;
  };
  c.stmt(`INSERT INTO ${table} (version, text, created_at, actor, reason) VALUES (?, ?, ?, ?, ?)`).run(
    version,
    text,
    at,
    actor,
    reason,
  );
  const sha256 = createHash('sha256').update(text).digest('hex');
  insertEvent(c, {
    at,
    actor,
    kind: `${what}.version`,
    subject: String(version),
    reason,
    data: { version, sha256 },
  });
  return { version, text, createdAt: at, actor, reason };
}

function lastVersion(c: Connection, what: 'policy' | 'fleet'): StoredVersion | null {
  const row = c
    .stmt(`SELECT ${VERSION_COLUMNS} FROM ${what}_versions ORDER BY version DESC LIMIT 1`)
    .get() as StoredVersion | undefined;
  return row ?? null;
}
