// The PostgreSQL implementation of the storage port (pg): the same contracts as sqlite.ts, for
// a service whose data lives on a database server (`arbiter serve --database postgres://...`).
//
// - One pg.Pool. Reads made outside a transaction go to any pooled connection, so they see only
//   committed data; a transaction takes a dedicated connection for BEGIN, fn, COMMIT (ROLLBACK
//   if fn throws).
// - Transactions are serialized by an in-process mutex (a promise chain), as in sqlite.ts.
//   Writes made outside a transaction take the same mutex, so they wait for an open transaction;
//   a write of several statements runs in a transaction of its own. Inside fn, the view it gets
//   and the store itself (tracked with AsyncLocalStorage) both go to the transaction's
//   connection, one operation at a time, each write in a savepoint: a failed write undoes only
//   itself and fn may go on, as SQLite's statements do. A transaction opened with
//   stopAtFirstFailure (the loop's: a pass's decisions, an exit) has no savepoints, one round
//   trip per write instead of three; a failed write then fails the whole transaction.
// - Numbers come back as numbers: int8 is parsed to a JS number (the schema's integers are
//   BIGINT; a value beyond 2^53 is a `corrupt` fault), float8 with every digit
//   (extra_float_digits = 3), so a time reads back as the same double that was written.
// - JSON is written as JSON.stringify's text into `json` columns, which keep it as written, and
//   parsed on the way out, exactly as SQLite's TEXT columns.
// - Numbered appends (events, policy and fleet versions, proposals) take last + 1 under one
//   transaction-scoped advisory lock, so numbers have no gaps even with other processes writing
//   (`arbiter token create` beside a running server): the audit log needs event seq = position.
//   New jobs likewise, under a lock of their own, in one statement per batch (insertNewJobs:
//   schema 6's arbiter_insert_jobs, which also checks a leader's fence): one round trip.
// - pg's errors become StorageError with a stable code (see pgStorageErrorOf).
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';

import pg from 'pg';

import { redactUrl } from './open.js';
import { runPgMigrations } from './postgres-migrations.js';
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
  StoredPlacement,
  StoredProposal,
  StoredComment,
  StoredReason,
  StoredRun,
  StoredToken,
  StoredVersion,
  Store,
  TransactionOptions,
} from './port.js';

export interface PostgresOptions {
  /** Most connections open at once (default 10). */
  readonly maxConnections?: number;
  /** How long to wait for a connection to the server (default 10000). */
  readonly connectTimeoutMs?: number;
}

export interface PostgresStore extends Store {
  /** The database URL, without its password (for logs and messages). */
  readonly url: string;
  /**
   * Fences the writes of a leader (storage/leadership.ts): from now on every write runs in a
   * transaction that first checks, in the database, that `guard.epoch` is still the leader's
   * epoch, and none starts while `guard.held` is false; either refusal is a StorageError
   * `not_leader` (retryable: the API answers 503). Reads are not fenced.
   */
  fence(guard: WriteFence): void;
}

/** What the store asks of leadership before each write transaction. */
export interface WriteFence {
  /** The lock's connection is known alive. */
  readonly held: boolean;
  /** The epoch this server leads in. */
  readonly epoch: number;
}

/**
 * Connects to the database at `url` (postgres://user:password@host:port/db; the database must
 * exist) and checks that it answers. Call migrate() next.
 */
export async function openPostgresStore(url: string, options: PostgresOptions = {}): Promise<PostgresStore> {
  const shown = redactUrl(url);
  let pool: pg.Pool;
  try {
    pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      application_name: 'arbiter',
      // float8 printed with every digit (PostgreSQL 12+ does so by default, unless a server's
      // configuration lowered it): a time reads back as the same double. Options in the URL
      // replace this; open checks the result.
      options: '-c extra_float_digits=3',
      types: { getTypeParser },
    });
  } catch (error) {
    throw new StorageError('cantopen', `cannot open ${shown}: ${String(error)}`, false, { cause: error });
  }
  // An idle connection that fails (the server restarted) is dropped by the pool; without a
  // listener the error would crash the process. The next query opens a fresh connection.
  pool.on('error', () => undefined);
  try {
    const { rows } = await pool.query<{ extra_float_digits: string }>('SHOW extra_float_digits');
    const digits = Number(rows[0]?.extra_float_digits);
    if (!(digits >= 1))
      throw new StorageError(
        'misconfigured',
        `${shown}: extra_float_digits is ${String(rows[0]?.extra_float_digits)}: PostgreSQL would round times ` +
          "and sums on the way out; drop it from the URL's options (or set it to 1..3)",
        false,
      );
  } catch (error) {
    await pool.end().catch(() => undefined);
    const fault = pgStorageErrorOf(error, `connecting to ${shown}`);
    throw fault instanceof StorageError
      ? fault
      : new StorageError('cantopen', `cannot open ${shown}: ${fault.message}`, false, { cause: error });
  }
  return new PgStoreImpl(new Shared(shown, pool), null);
}

// ------------------------------------------------------------------ types

const INT8 = 20;
const JSON_OID = 114;

/** int8 as a JS number: exact up to 2^53, which counts and seqs never reach. */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n))
    throw new StorageError('corrupt', `the integer ${text} is beyond what a JS number holds exactly`, false);
  return n;
}

/** pg's parsers, but int8 as a number and json parsed (the default too, made explicit). */
const getTypeParser = ((oid: number, format?: 'text' | 'binary') => {
  if (oid === INT8) return parseInt8;
  if (oid === JSON_OID) return (text: string) => JSON.parse(text) as unknown;
  return pg.types.getTypeParser(oid, format) as unknown;
}) as typeof pg.types.getTypeParser;

// ------------------------------------------------------------------ faults

/** Node's network error codes: the server is unreachable or the connection broke. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** pg's own messages when a connection breaks or cannot be had. */
const CONNECTION_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Client was closed/i;

/**
 * A pg error as a StorageError with a stable code, keeping it as the cause:
 * `connection` (the server is unreachable, restarting, or the connection broke; retryable),
 * `busy` (deadlock, serialization failure, lock not available; retryable), `timeout`
 * (statement cancelled; retryable), `constraint` (unique, check, foreign key, not null,
 * append-only trigger, data that does not fit a column), `full` (disk full), `nomem`,
 * `resources`, `io`, `corrupt`, `readonly`, `permission`, `cantopen` (no such database), else
 * `postgres`. A StorageError passes through; any other error (a bug) too.
 */
export function pgStorageErrorOf(error: unknown, doing: string): Error {
  if (error instanceof StorageError) return error;
  if (error instanceof pg.DatabaseError) {
    const sqlstate = error.code ?? '';
    const [code, retryable] = classify(sqlstate);
    return new StorageError(code, `${doing}: ${error.message} (SQLSTATE ${sqlstate})`, retryable, {
      cause: error,
    });
  }
  if (error instanceof Error) {
    const errno = (error as { code?: unknown }).code;
    if ((typeof errno === 'string' && NETWORK_CODES.has(errno)) || CONNECTION_MESSAGES.test(error.message))
      return new StorageError('connection', `${doing}: ${error.message}`, true, { cause: error });
    return error;
  }
  return new Error(String(error));
}

function classify(sqlstate: string): [code: string, retryable: boolean] {
  switch (sqlstate) {
    case '40001': // serialization_failure
    case '40P01': // deadlock_detected
    case '55P03': // lock_not_available
      return ['busy', true];
    case 'AR001': // arbiter_fence: another server leads now
      return ['not_leader', true];
    case '57014': // query_canceled (statement_timeout)
      return ['timeout', true];
    case '57P01': // admin_shutdown
    case '57P02': // crash_shutdown
    case '57P03': // cannot_connect_now (starting up)
      return ['connection', true];
    case '53100': // disk_full
      return ['full', false];
    case '53200': // out_of_memory
      return ['nomem', false];
    case '58030': // io_error
      return ['io', false];
    case 'XX001': // data_corrupted
    case 'XX002': // index_corrupted
      return ['corrupt', false];
    case '25006': // read_only_sql_transaction
      return ['readonly', false];
    case '42501': // insufficient_privilege
      return ['permission', false];
    case '3D000': // invalid_catalog_name: no such database
      return ['cantopen', false];
    default:
      break;
  }
  switch (sqlstate.slice(0, 2)) {
    case '23': // integrity constraint violation (and the append-only trigger's restrict_violation)
    case '22': // data exception: a value that does not fit its column (SQLite STRICT: a constraint)
      return ['constraint', false];
    case '08': // connection exception
      return ['connection', true];
    case '53': // insufficient resources
      return ['resources', false];
    case '28': // invalid authorization
      return ['permission', false];
    default:
      return ['postgres', false];
  }
}

/** Runs f, turning what pg throws into StorageError. */
async function attempt<T>(doing: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (error) {
    throw pgStorageErrorOf(error, doing);
  }
}

// ------------------------------------------------------------------ rows

// PostgreSQL folds unquoted names to lower case: the camelCase aliases are quoted.
const JOB_COLUMNS = `id, seq, name, team, class, flavor, gpus, duration, time_limit AS "timeLimit", command,
  submitted_by AS "submittedBy", submitted_at AS "submittedAt", idempotency_key AS "idempotencyKey",
  idempotency_hash AS "idempotencyHash", status,
  started_at AS "startedAt", ended_at AS "endedAt", preemptions, attained, run_flavor AS "runFlavor",
  run_start AS "runStart", placement, reason_code AS "reasonCode", reason_message AS "reasonMessage",
  expected_start AS "expectedStart", reject_reason AS "rejectReason", exit_code AS "exitCode", kept_work AS "keptWork"`;

/** The json parser has already made placement an array. */
type JobRow = StoredJob;

const placementText = (placement: readonly StoredPlacement[]): string =>
  JSON.stringify(placement.map(({ node, gpus }) => ({ node, gpus })));

/** The fields that change after a job is stored, in the order of INSERT_JOB's tail and UPDATE_JOB. */
const mutableJobValues = (job: StoredJob): unknown[] => [
  job.status,
  job.startedAt ?? null,
  job.endedAt ?? null,
  job.preemptions,
  job.attained,
  job.runFlavor ?? null,
  job.runStart ?? null,
  job.placement == null ? null : placementText(job.placement),
  job.reasonCode ?? null,
  job.reasonMessage ?? null,
  job.expectedStart ?? null,
  job.rejectReason ?? null,
  job.exitCode ?? null,
  job.keptWork,
];

/** A job's columns and values, in INSERT order; `?? null` stores a missing optional field as null. */
const jobValues = (job: StoredJob): unknown[] => [
  job.seq,
  job.id,
  job.name ?? null,
  job.team,
  job.class,
  job.flavor ?? null,
  job.gpus,
  job.duration ?? null,
  job.timeLimit ?? null,
  job.command ?? null,
  job.submittedBy,
  job.submittedAt,
  job.idempotencyKey ?? null,
  job.idempotencyHash ?? null,
  ...mutableJobValues(job),
];

const INSERT_JOB = `INSERT INTO jobs (seq, id, name, team, class, flavor, gpus, duration, time_limit, command,
  submitted_by, submitted_at, idempotency_key, idempotency_hash, status, started_at, ended_at, preemptions, attained,
  run_flavor, run_start, placement, reason_code, reason_message, expected_start, reject_reason, exit_code, kept_work)
  VALUES (${Array.from({ length: 28 }, (_, i) => `$${i + 1}`).join(', ')})`;

/** A new job as a row of INSERT_NEW_JOBS' JSON (`i`: its position in the batch, from 1). */
const newJobRow = (job: Omit<StoredJob, 'id' | 'seq'>, i: number): Record<string, unknown> => ({
  i,
  name: job.name ?? null,
  team: job.team,
  class: job.class,
  flavor: job.flavor ?? null,
  gpus: job.gpus,
  duration: job.duration ?? null,
  time_limit: job.timeLimit ?? null,
  command: job.command ?? null,
  submitted_by: job.submittedBy,
  submitted_at: job.submittedAt,
  idempotency_key: job.idempotencyKey ?? null,
  idempotency_hash: job.idempotencyHash ?? null,
  status: job.status,
  started_at: job.startedAt ?? null,
  ended_at: job.endedAt ?? null,
  preemptions: job.preemptions,
  attained: job.attained,
  run_flavor: job.runFlavor ?? null,
  run_start: job.runStart ?? null,
  placement: job.placement == null ? null : job.placement.map(({ node, gpus }) => ({ node, gpus })),
  reason_code: job.reasonCode ?? null,
  reason_message: job.reasonMessage ?? null,
  expected_start: job.expectedStart ?? null,
  reject_reason: job.rejectReason ?? null,
  exit_code: job.exitCode ?? null,
  kept_work: job.keptWork,
});

/**
 * Many new jobs in one statement, and one round trip (migration 6's arbiter_insert_jobs: the
 * fence, the numbering lock, one multi-row INSERT): $1 the leader's epoch (null: not fenced), $2 a
 * JSON array of newJobRow (JSON numbers read back as the same doubles).
 */
const INSERT_NEW_JOBS = 'SELECT new_id AS id, new_seq AS seq FROM arbiter_insert_jobs($1, $2::json)';

/** Replaces the mutable fields only (the others never change once stored). */
const UPDATE_JOB = `UPDATE jobs SET status = $2, started_at = $3, ended_at = $4, preemptions = $5,
  attained = $6, run_flavor = $7, run_start = $8, placement = $9, reason_code = $10,
  reason_message = $11, expected_start = $12, reject_reason = $13, exit_code = $14, kept_work = $15
  WHERE id = $1`;

const updateJobValues = (job: StoredJob): unknown[] => [job.id, ...mutableJobValues(job)];

const TOKEN_COLUMNS = `id, hash, "user", role, team, created_at AS "createdAt", revoked_at AS "revokedAt"`;

const VERSION_COLUMNS = `version, text, created_at AS "createdAt", actor, reason`;

const PROPOSAL_COLUMNS = `seq, id, status, doc, updated_at AS "updatedAt"`;

/** Key of the advisory lock that numbered appends take (transaction-scoped; any constant will do). */
const APPEND_LOCK = 41_726_269_02;

// ------------------------------------------------------------------ connections

/** A pool or one of its clients: where a query goes. */
type Queryable = Pick<pg.ClientBase, 'query'>;

/** The rows of a query; a QueryConfig with a `name` is a prepared statement (parsed once per connection). */
async function rows<R extends pg.QueryResultRow>(
  q: Queryable,
  sql: string | pg.QueryConfig,
  values: unknown[] = [],
): Promise<R[]> {
  return (typeof sql === 'string' ? await q.query<R>(sql, values) : await q.query<R>(sql)).rows;
}

/** The state of one open transaction, shared by its view and the ambient store. */
class TxState {
  open = true;
  /** A write that failed without a savepoint (the transaction is aborted: it must not commit). */
  failure: { error: unknown } | null = null;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly client: pg.PoolClient,
    /** false: fn stops at the first failed write (TransactionOptions.stopAtFirstFailure). */
    readonly savepoints: boolean,
  ) {}

  /** Runs a write: in a savepoint, or alone when fn stops at the first failure (then noted). */
  async guarded<T>(f: () => Promise<T>): Promise<T> {
    if (this.savepoints) return this.savepoint(f);
    try {
      return await f();
    } catch (error) {
      this.failure ??= { error };
      throw error;
    }
  }

  /** Runs f after every earlier operation of this transaction: one connection, one query at a time. */
  serial<T>(f: () => Promise<T>): Promise<T> {
    const result = this.tail.then(f);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Runs f in a savepoint: if it fails, its writes are undone and the transaction goes on. */
  async savepoint<T>(f: () => Promise<T>): Promise<T> {
    await this.client.query('SAVEPOINT arbiter_write');
    try {
      const result = await f();
      await this.client.query('RELEASE SAVEPOINT arbiter_write');
      return result;
    } catch (error) {
      await this.client.query('ROLLBACK TO SAVEPOINT arbiter_write').catch(() => undefined);
      throw error;
    }
  }
}

/** What the store and the views of its transactions share. */
class Shared {
  closed = false;
  /** Set on a leader's store: every write transaction checks it first. */
  fence: WriteFence | null = null;
  readonly ambient = new AsyncLocalStorage<TxState>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly url: string,
    readonly pool: pg.Pool,
  ) {}

  /** Runs f when every earlier exclusive task has settled (the in-process write mutex). */
  exclusive<T>(f: () => Promise<T>): Promise<T> {
    const result = this.tail.then(f);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * Runs f on a dedicated connection. A checked-out connection that fails while f is between
   * queries emits 'error' (the server went away): it is listened to here, else it would crash
   * the process, and that connection is destroyed rather than returned to the pool. f's next
   * query fails on its own ("not queryable": a `connection` fault).
   */
  async withClient<T>(
    doing: string,
    f: (client: pg.PoolClient, broken: (error: Error) => void) => Promise<T>,
  ): Promise<T> {
    const client = await attempt(`${doing}: connecting`, () => this.pool.connect());
    let failure: Error | undefined;
    const broken = (error: Error): void => {
      failure ??= error;
    };
    client.on('error', broken);
    try {
      return await f(client, broken);
    } finally {
      client.off('error', broken);
      client.release(failure);
    }
  }

  /** Runs f on a dedicated connection in BEGIN ... COMMIT (ROLLBACK if f throws, and f's error rethrown). */
  inTransaction<T>(doing: string, f: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const fence = this.fence;
    if (fence !== null && !fence.held) return Promise.reject(notLeader(doing));
    return this.withClient(doing, async (client, broken) => {
      // One round trip: BEGIN and the fence (its epoch an integer, so a literal is safe).
      const begin = fence === null ? 'BEGIN' : `BEGIN; SELECT arbiter_fence(${Math.trunc(fence.epoch)})`;
      await attempt(`${doing}: beginning a transaction`, () => client.query(begin)).catch(async (error: unknown) => {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      });
      try {
        const result = await f(client);
        await attempt(`${doing}: committing`, () => client.query('COMMIT'));
        return result;
      } catch (error) {
        // After a failed COMMIT PostgreSQL has rolled back already (ROLLBACK then only warns).
        // A failing ROLLBACK means a broken connection: fn's error is what the caller needs.
        await client
          .query('ROLLBACK')
          .catch((rollbackError: unknown) =>
            broken(rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))),
          );
        throw error;
      }
    });
  }

  checkOpen(): void {
    if (this.closed) throw new StorageError('closed', `the store ${this.url} is closed`, false);
  }
}

const notLeader = (doing: string): StorageError =>
  new StorageError('not_leader', `${doing}: this server is not the leader now (its lock on the database is lost); no write is made`, true);

// ------------------------------------------------------------------ the store

class PgStoreImpl implements PostgresStore {
  constructor(
    private readonly s: Shared,
    /** Set on the view a transaction's fn receives. */
    private readonly tx: TxState | null,
  ) {}

  get url(): string {
    return this.s.url;
  }

  fence(guard: WriteFence): void {
    this.s.fence = guard;
  }

  /** The open transaction this call belongs to, if any. */
  private currentTx(): TxState | null {
    if (this.tx !== null) {
      if (!this.tx.open)
        throw new StorageError(
          'transaction_closed',
          'this transaction has ended: use the store itself',
          false,
        );
      return this.tx;
    }
    const ambient = this.s.ambient.getStore();
    return ambient?.open === true ? ambient : null;
  }

  /** A read: in the transaction if inside one, else on any pooled connection (committed data only). */
  private async read<T>(doing: string, f: (q: Queryable) => Promise<T>): Promise<T> {
    this.s.checkOpen();
    const tx = this.currentTx();
    return attempt(doing, () => (tx !== null ? tx.serial(() => f(tx.client)) : f(this.s.pool)));
  }

  /**
   * A write: in the transaction (in a savepoint) if inside one, else on its own after every
   * earlier transaction. `atomic` runs f in a transaction of its own (it has several statements,
   * or takes a transaction-scoped lock); otherwise f is one statement on any pooled connection.
   */
  private async write<T>(doing: string, f: (q: Queryable) => Promise<T>, atomic = false): Promise<T> {
    this.s.checkOpen();
    const tx = this.currentTx();
    if (tx !== null) return attempt(doing, () => tx.serial(() => tx.guarded(() => f(tx.client))));
    return this.s.exclusive(() => {
      this.s.checkOpen();
      // A leader's single statements too go through the fence's transaction.
      return attempt(doing, () => (atomic || this.s.fence !== null ? this.s.inTransaction(doing, f) : f(this.s.pool)));
    });
  }

  /**
   * A write of one statement that fences itself (f gets the leader's epoch to check, or null): in
   * the transaction if inside one (in a savepoint; its BEGIN checked the fence already, so null),
   * else after every earlier transaction, sent alone: a transaction of its own, committed before
   * its answer comes back, in one round trip.
   */
  private async selfFencedWrite<T>(doing: string, f: (q: Queryable, epoch: number | null) => Promise<T>): Promise<T> {
    this.s.checkOpen();
    const tx = this.currentTx();
    if (tx !== null) return attempt(doing, () => tx.serial(() => tx.guarded(() => f(tx.client, null))));
    return this.s.exclusive(() => {
      this.s.checkOpen();
      const fence = this.s.fence;
      if (fence !== null && !fence.held) throw notLeader(doing);
      return attempt(doing, () => f(this.s.pool, fence === null ? null : Math.trunc(fence.epoch)));
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

  async migrate(): Promise<void> {
    this.refuseInTransaction('migrate()');
    this.s.checkOpen();
    return this.s.exclusive(async () => {
      this.s.checkOpen();
      const doing = `migrating ${this.s.url}`;
      await this.s.withClient(doing, (client) => attempt(doing, () => runPgMigrations(client, this.s.url)));
    });
  }

  async close(): Promise<void> {
    this.refuseInTransaction('close()');
    return this.s.exclusive(async () => {
      if (this.s.closed) return;
      this.s.closed = true;
      await this.s.pool.end();
    });
  }

  async transaction<T>(fn: (store: Store) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    this.refuseInTransaction('transaction()');
    this.s.checkOpen();
    return this.s.exclusive(() => {
      this.s.checkOpen();
      return this.s.inTransaction('a transaction', async (client) => {
        const state = new TxState(client, options.stopAtFirstFailure !== true);
        try {
          const result = await this.s.ambient.run(state, () => fn(new PgStoreImpl(this.s, state)));
          // Operations fn started without awaiting them finish before COMMIT.
          await state.serial(() => Promise.resolve());
          // fn went on after a write failed with no savepoint: PostgreSQL has aborted the
          // transaction (its COMMIT would roll back without an error), so it fails here.
          if (state.failure !== null) throw pgStorageErrorOf(state.failure.error, 'a transaction that went on after a failed write');
          return result;
        } finally {
          state.open = false;
        }
      });
    });
  }

  // ---------------------------------------------------------------- jobs

  async ping(): Promise<void> {
    await this.read('checking that the database answers', (q) => q.query('SELECT 1'));
  }

  nextJobSeq(): Promise<number> {
    return this.read('nextJobSeq', async (q) => {
      const [row] = await rows<{ next: number }>(q, 'SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM jobs');
      return row?.next ?? 1;
    });
  }

  insertJob(job: StoredJob): Promise<void> {
    return this.write(`storing job ${job.id}`, async (q) => {
      await q.query(INSERT_JOB, jobValues(job));
    });
  }

  async insertNewJob(job: Omit<StoredJob, 'id' | 'seq'>): Promise<{ id: string; seq: number }> {
    const [numbered] = await this.insertNewJobs([job]);
    return numbered!;
  }

  insertNewJobs(jobs: readonly Omit<StoredJob, 'id' | 'seq'>[]): Promise<{ id: string; seq: number }[]> {
    if (jobs.length === 0) return Promise.resolve([]);
    const batch = JSON.stringify(jobs.map((job, i) => newJobRow(job, i + 1)));
    return this.selfFencedWrite(`storing ${jobs.length} new job${jobs.length === 1 ? '' : 's'}`, async (q, epoch) => {
      const numbered = await rows<{ id: string; seq: number }>(q, { name: 'arbiter-insert-new-jobs', text: INSERT_NEW_JOBS, values: [epoch, batch] });
      return numbered.sort((a, b) => a.seq - b.seq); // the batch's order (RETURNING promises none)
    });
  }

  updateJob(job: StoredJob): Promise<void> {
    return this.write(`updating job ${job.id}`, async (q) => {
      const { rowCount } = await q.query({ name: 'arbiter-update-job', text: UPDATE_JOB, values: updateJobValues(job) });
      if (rowCount === 0)
        throw new StorageError('not_found', `cannot update job ${job.id}: it is not stored`, false);
    });
  }

  getJob(id: string): Promise<StoredJob | null> {
    return this.read(`reading job ${id}`, async (q) => {
      const [row] = await rows<JobRow>(q, `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`, [id]);
      return row ?? null;
    });
  }

  getJobByIdempotencyKey(user: string, key: string): Promise<StoredJob | null> {
    return this.read('reading a job by idempotency key', async (q) => {
      const [row] = await rows<JobRow>(
        q,
        `SELECT ${JOB_COLUMNS} FROM jobs WHERE submitted_by = $1 AND idempotency_key = $2`,
        [user, key],
      );
      return row ?? null;
    });
  }

  jobsByIdempotencyKeys(keys: readonly { readonly user: string; readonly key: string }[]): Promise<StoredJob[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.read('reading jobs by idempotency key', (q) =>
      rows<JobRow>(
        q,
        {
          name: 'arbiter-jobs-by-idempotency-keys',
          // Along the partial index jobs_by_idempotency (hence IS NOT NULL), once per distinct pair.
          text: `SELECT j.* FROM (SELECT DISTINCT u, k FROM unnest($1::text[], $2::text[]) AS t (u, k)) AS t
                 CROSS JOIN LATERAL (
                   SELECT ${JOB_COLUMNS} FROM jobs
                   WHERE submitted_by = t.u AND idempotency_key = t.k AND idempotency_key IS NOT NULL
                 ) AS j`,
          values: [keys.map((k) => k.user), keys.map((k) => k.key)],
        },
      ),
    );
  }

  async listJobs(query: JobQuery): Promise<JobPage> {
    const limit = count(query.limit, 'limit', 1);
    const before = query.cursor === undefined ? null : decodeCursor(query.cursor);
    return this.read('listing jobs', async (q) => {
      const values: unknown[] = [limit + 1];
      const where: string[] = [];
      if (query.status !== undefined) where.push(`status = $${values.push(query.status)}`);
      if (before !== null) where.push(`seq < $${values.push(before)}`);
      let found: JobRow[];
      if (query.team === undefined) {
        found = await rows<JobRow>(
          q,
          `SELECT ${JOB_COLUMNS} FROM jobs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY seq DESC LIMIT $1`,
          values,
        );
      } else {
        // Per team, the newest limit+1 along its index (no sort of a team's whole history),
        // merged; one statement, so every team is read at one moment.
        const teams = [...new Set(query.team)];
        where.push(`jobs.team = t.team`);
        found = await rows<JobRow>(
          q,
          `SELECT j.* FROM unnest($${values.push(teams)}::text[]) AS t (team)
           CROSS JOIN LATERAL (
             SELECT ${JOB_COLUMNS} FROM jobs WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $1
           ) AS j
           ORDER BY j.seq DESC LIMIT $1`,
          values,
        );
      }
      const more = found.length > limit;
      if (more) found.length = limit;
      const last = found[found.length - 1];
      return { jobs: found, nextCursor: more && last !== undefined ? encodeCursor(last.seq) : null };
    });
  }

  unfinishedJobs(): Promise<StoredJob[]> {
    return this.read('reading unfinished jobs', (q) =>
      rows<JobRow>(q, `SELECT ${JOB_COLUMNS} FROM jobs WHERE status IN ('pending', 'running') ORDER BY seq`),
    );
  }

  // ---------------------------------------------------------------- runs

  insertRun(run: StoredRun): Promise<void> {
    return this.write(`storing a run of ${run.jobId}`, async (q) => {
      await q.query({
        name: 'arbiter-insert-run',
        text: 'INSERT INTO runs (job_id, start_at, end_at, flavor, placement, outcome) VALUES ($1, $2, $3, $4, $5, $6)',
        values: [
          run.jobId,
          run.start,
          run.end ?? null,
          run.flavor,
          placementText(run.placement),
          run.outcome ?? null,
        ],
      });
    });
  }

  closeRun(jobId: string, end: number, outcome: NonNullable<StoredRun['outcome']>, by?: RunPreemptor): Promise<void> {
    return this.write(`closing the run of ${jobId}`, async (q) => {
      const { rowCount } = await q.query(
        `UPDATE runs SET end_at = $1, outcome = $2, preempted_by = $3, preempted_by_team = $4, preempted_by_class = $5, preempt_cause = $6
         WHERE job_id = $7 AND end_at IS NULL`,
        [end, outcome, by?.job ?? null, by?.team ?? null, by?.class ?? null, by?.cause ?? null, jobId],
      );
      if (rowCount === 0) throw new StorageError('not_found', `job ${jobId} has no open run to close`, false);
    });
  }

  runsOf(jobId: string): Promise<StoredRun[]> {
    return this.read(`reading the runs of ${jobId}`, async (q) =>
      (
        await rows<Omit<StoredRun, 'preemptedBy'> & { byJob: string | null; byTeam: string | null; byClass: string | null; byCause: PreemptionCause | null }>(
          q,
          `SELECT job_id AS "jobId", start_at AS start, end_at AS "end", flavor, placement, outcome,
             preempted_by AS "byJob", preempted_by_team AS "byTeam", preempted_by_class AS "byClass", preempt_cause AS "byCause"
           FROM runs WHERE job_id = $1 ORDER BY id`,
          [jobId],
        )
      ).map(({ byJob, byTeam, byClass, byCause, ...run }) => ({
        ...run,
        preemptedBy: byJob === null ? null : { job: byJob, team: byTeam!, class: byClass!, cause: byCause! },
      })),
    );
  }

  // ---------------------------------------------------------------- reasons

  appendReasons(reasons: readonly StoredReason[]): Promise<void> {
    if (reasons.length === 0) return Promise.resolve();
    return this.write(`storing ${reasons.length} reason(s)`, async (q) => {
      // One statement for the batch, inserted in the order given (ids follow it).
      await q.query(
        `INSERT INTO job_reasons (job_id, at, code, message)
         SELECT job_id, at, code, message FROM unnest($1::text[], $2::float8[], $3::text[], $4::text[])
           WITH ORDINALITY AS r (job_id, at, code, message, n) ORDER BY n`,
        [reasons.map((r) => r.jobId), reasons.map((r) => r.at), reasons.map((r) => r.code), reasons.map((r) => r.message)],
      );
    });
  }

  trimReasons(jobIds: readonly string[], keep: number): Promise<void> {
    if (jobIds.length === 0) return Promise.resolve();
    return this.write(`trimming the reasons of ${jobIds.length} job(s)`, async (q) => {
      await q.query(
        `DELETE FROM job_reasons r USING (
           SELECT id, row_number() OVER (PARTITION BY job_id ORDER BY id DESC) AS back
           FROM job_reasons WHERE job_id = ANY($1::text[])) o
         WHERE r.id = o.id AND o.back > $2`,
        [[...jobIds], keep],
      );
    });
  }

  reasonsOf(jobId: string): Promise<StoredReason[]> {
    return this.read(`reading the reasons of ${jobId}`, (q) =>
      rows<StoredReason>(q, 'SELECT job_id AS "jobId", at, code, message FROM job_reasons WHERE job_id = $1 ORDER BY id', [jobId]),
    );
  }

  lastReasons(): Promise<Map<string, { readonly reason: StoredReason; readonly count: number }>> {
    return this.read('reading the last reasons of unfinished jobs', async (q) => {
      const found = await rows<StoredReason & { count: string }>(
        q,
        `SELECT r.job_id AS "jobId", r.at, r.code, r.message, l.count
         FROM (SELECT x.job_id, MAX(x.id) AS last, COUNT(*) AS count
               FROM job_reasons x JOIN jobs j ON j.id = x.job_id WHERE j.status IN ('pending', 'running') GROUP BY x.job_id) l
         JOIN job_reasons r ON r.id = l.last`,
      );
      return new Map(found.map(({ count, ...reason }) => [reason.jobId, { reason, count: Number(count) }]));
    });
  }

  runsOverlapping(from: number, to: number): Promise<PeriodRun[]> {
    return this.read('reading the runs of a period', (q) =>
      rows<PeriodRun>(
        q,
        `SELECT r.job_id AS "jobId", r.start_at AS start, r.end_at AS "end", r.flavor, r.placement, r.outcome,
           j.team, j.submitted_at AS "submittedAt", j.started_at AS "jobStartedAt",
           CASE WHEN EXISTS (SELECT 1 FROM runs v WHERE v.preempted_by = r.job_id AND v.preempt_cause = 'reclaim' AND v.end_at = r.start_at)
             THEN r.start_at - COALESCE((SELECT MAX(p.end_at) FROM runs p WHERE p.job_id = r.job_id AND p.id < r.id), j.submitted_at) END AS "reclaimWait"
         FROM runs r JOIN jobs j ON j.id = r.job_id
         WHERE r.start_at < $1 AND (r.end_at IS NULL OR r.end_at > $2) ORDER BY r.start_at, j.seq, r.id`,
        [to, from],
      ),
    );
  }

  // ---------------------------------------------------------------- tokens

  insertToken(token: StoredToken, actor = 'system', reason = 'token created'): Promise<void> {
    return this.write(
      `storing token ${token.id}`,
      async (q) => {
        // Under the append lock: two processes creating the same user at once are serialized.
        await lockAppends(q);
        refuseTakenUser(token.user, (await rows<StoredToken>(q, `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE "user" = $1 ORDER BY rowid LIMIT 1`, [token.user]))[0]);
        await q.query(
          'INSERT INTO tokens (id, hash, "user", role, team, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [
            token.id,
            token.hash,
            token.user,
            token.role,
            token.team ?? null,
            token.createdAt,
            token.revokedAt ?? null,
          ],
        );
        await insertEvent(q, {
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
    return this.read('reading a token', async (q) => {
      const [row] = await rows<StoredToken>(q, `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE hash = $1`, [hash]);
      return row ?? null;
    });
  }

  listTokens(): Promise<StoredToken[]> {
    return this.read('listing tokens', (q) =>
      rows<StoredToken>(q, `SELECT ${TOKEN_COLUMNS} FROM tokens ORDER BY rowid`),
    );
  }

  revokeToken(id: string, at: number, actor = 'system', reason = 'token revoked'): Promise<void> {
    return this.write(
      `revoking token ${id}`,
      async (q) => {
        // FOR UPDATE: another process revoking it at once waits, then sees it revoked (one event).
        const [token] = await rows<StoredToken>(
          q,
          `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = $1 FOR UPDATE`,
          [id],
        );
        if (token === undefined) throw new StorageError('not_found', `there is no token ${id}`, false);
        if (token.revokedAt !== null) return;
        await q.query('UPDATE tokens SET revoked_at = $1 WHERE id = $2', [at, id]);
        await insertEvent(q, {
          at,
          actor,
          kind: 'token.revoke',
          subject: id,
          reason,
          data: tokenEventData(token),
        });
      },
      true,
    );
  }

  // ---------------------------------------------------------------- events

  appendEvent(event: Omit<StoredEvent, 'seq'>): Promise<number> {
    return this.write(`appending a ${event.kind} event`, (q) => insertEvent(q, event), true);
  }

  async events(from: number, limit: number): Promise<StoredEvent[]> {
    const start = count(from, 'from', 0);
    const most = count(limit, 'limit', 0);
    return this.read('reading events', (q) =>
      rows<StoredEvent>(
        q,
        'SELECT seq, at, actor, kind, subject, reason, data FROM events WHERE seq >= $1 ORDER BY seq LIMIT $2',
        [start, most],
      ),
    );
  }

  // ---------------------------------------------------------------- policy and fleet versions

  putPolicy(text: string, actor: string, reason: string, at: number): Promise<StoredVersion> {
    return this.write(
      'storing a policy version',
      (q) => putVersion(q, 'policy', text, actor, reason, at),
      true,
    );
  }

  currentPolicy(): Promise<StoredVersion | null> {
    return this.read('reading the policy', (q) => lastVersion(q, 'policy'));
  }

  policyVersions(): Promise<StoredVersion[]> {
    return this.read('reading policy versions', (q) =>
      rows<StoredVersion>(q, `SELECT ${VERSION_COLUMNS} FROM policy_versions ORDER BY version`),
    );
  }

  putFleet(text: string, actor: string, reason: string, at: number): Promise<StoredVersion> {
    return this.write(
      'storing a fleet version',
      (q) => putVersion(q, 'fleet', text, actor, reason, at),
      true,
    );
  }

  currentFleet(): Promise<StoredVersion | null> {
    return this.read('reading the fleet', (q) => lastVersion(q, 'fleet'));
  }

  // ---------------------------------------------------------------- governance

  jobsSubmittedBetween(from: number, to: number): Promise<StoredJob[]> {
    return this.read('reading the recorded workload', (q) =>
      rows<JobRow>(
        q,
        `SELECT ${JOB_COLUMNS} FROM jobs WHERE submitted_at >= $1 AND submitted_at < $2 ORDER BY seq`,
        [from, to],
      ),
    );
  }

  nextProposalSeq(): Promise<number> {
    return this.read('numbering a proposal', async (q) => {
      const [row] = await rows<{ next: number }>(
        q,
        'SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM proposals',
      );
      return row?.next ?? 1;
    });
  }

  putProposal(p: Omit<StoredProposal, 'seq'> & { seq?: number }): Promise<void> {
    return this.write(
      `storing proposal ${p.id}`,
      async (q) => {
        const doc = JSON.stringify(p.doc);
        const { rowCount } = await q.query(
          'UPDATE proposals SET status = $1, doc = $2, updated_at = $3 WHERE id = $4',
          [p.status, doc, p.updatedAt, p.id],
        );
        if (rowCount !== 0) return;
        if (p.seq !== undefined)
          await q.query(
            'INSERT INTO proposals (seq, id, status, doc, updated_at) VALUES ($1, $2, $3, $4, $5)',
            [p.seq, p.id, p.status, doc, p.updatedAt],
          );
        else {
          await lockAppends(q);
          await q.query(
            `INSERT INTO proposals (seq, id, status, doc, updated_at)
             SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4 FROM proposals`,
            [p.id, p.status, doc, p.updatedAt],
          );
        }
      },
      true,
    );
  }

  getProposal(id: string): Promise<StoredProposal | null> {
    return this.read(`reading proposal ${id}`, async (q) => {
      const [row] = await rows<StoredProposal>(q, `SELECT ${PROPOSAL_COLUMNS} FROM proposals WHERE id = $1`, [
        id,
      ]);
      return row ?? null;
    });
  }

  listProposals(): Promise<StoredProposal[]> {
    return this.read('listing proposals', (q) =>
      rows<StoredProposal>(q, `SELECT ${PROPOSAL_COLUMNS} FROM proposals ORDER BY seq DESC`),
    );
  }

  insertComment(comment: StoredComment): Promise<void> {
    return this.write(`storing comment ${comment.n} of proposal ${comment.proposal}`, async (q) => {
      await q.query('INSERT INTO proposal_comments (proposal, n, actor, text, at, revision, legacy) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        comment.proposal,
        comment.n,
        comment.actor,
        comment.text,
        comment.at,
        comment.revision,
        comment.legacy,
      ]);
    });
  }

  commentsOf(proposal: string, after: number, limit: number): Promise<StoredComment[]> {
    return this.read(`reading the comments of proposal ${proposal}`, (q) =>
      rows<StoredComment>(
        q,
        'SELECT proposal, n, actor, text, at, revision, legacy FROM proposal_comments WHERE proposal = $1 AND n > $2 ORDER BY n LIMIT $3',
        [proposal, after, limit],
      ),
    );
  }

  commentCounts(): Promise<Map<string, number>> {
    return this.read('counting comments', async (q) => {
      const counts = await rows<{ proposal: string; count: number }>(q, 'SELECT proposal, COUNT(*) AS count FROM proposal_comments GROUP BY proposal');
      return new Map(counts.map((row) => [row.proposal, row.count]));
    });
  }

  putReport(hash: string, doc: unknown): Promise<void> {
    return this.write(`storing impact report ${hash}`, async (q) => {
      // DO NOTHING fires no UPDATE trigger: storing the same report again changes nothing.
      await q.query('INSERT INTO impact_reports (hash, doc) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING', [
        hash,
        JSON.stringify(doc),
      ]);
    });
  }

  getReport(hash: string): Promise<unknown> {
    return this.read(`reading impact report ${hash}`, async (q) => {
      const [row] = await rows<{ doc: unknown }>(q, 'SELECT doc FROM impact_reports WHERE hash = $1', [hash]);
      return row ? row.doc : null;
    });
  }

  auditLeaves(): Promise<{ seq: number; hash: string }[]> {
    return this.read('reading the audit leaves', (q) =>
      rows<{ seq: number; hash: string }>(q, 'SELECT seq, hash FROM audit_leaves ORDER BY seq'),
    );
  }

  appendAudit(leaves: readonly { seq: number; hash: string }[], cp: StoredCheckpoint): Promise<void> {
    return this.write(
      'appending to the audit log',
      async (q) => {
        if (leaves.length > 0)
          await q.query(
            'INSERT INTO audit_leaves (seq, hash) SELECT * FROM unnest($1::bigint[], $2::text[])',
            [leaves.map((l) => l.seq), leaves.map((l) => l.hash)],
          );
        await q.query(
          'INSERT INTO audit_checkpoints (size, root, time, signature, public_key) VALUES ($1, $2, $3, $4, $5)',
          [cp.size, cp.root, cp.time, cp.signature, cp.publicKey],
        );
      },
      true,
    );
  }

  checkpoints(): Promise<StoredCheckpoint[]> {
    return this.read('reading the audit checkpoints', (q) =>
      rows<StoredCheckpoint>(
        q,
        'SELECT size, root, time, signature, public_key AS "publicKey" FROM audit_checkpoints ORDER BY id',
      ),
    );
  }
}

/**
 * Takes the lock of numbered appends until the end of the transaction q is in (q must be a
 * transaction's connection). Re-entrant: taking it twice in one transaction is fine.
 */
async function lockAppends(q: Queryable): Promise<void> {
  await q.query(`SELECT pg_advisory_xact_lock(${APPEND_LOCK})`);
}

/** Appends an event numbered last + 1 (q must be a transaction's connection). */
async function insertEvent(q: Queryable, event: Omit<StoredEvent, 'seq'>): Promise<number> {
  await lockAppends(q);
  const [row] = await rows<{ seq: number }>(
    q,
    `INSERT INTO events (seq, at, actor, kind, subject, reason, data)
     SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4, $5, $6 FROM events
     RETURNING seq`,
    [event.at, event.actor, event.kind, event.subject, event.reason, JSON.stringify(event.data ?? null)],
  );
  if (row === undefined) throw new Error('INSERT ... RETURNING returned no row');
  return row.seq;
}

async function putVersion(
  q: Queryable,
  what: 'policy' | 'fleet',
  text: string,
  actor: string,
  reason: string,
  at: number,
): Promise<StoredVersion> {
  const table = `${what}_versions`;
  await lockAppends(q);
  const [row] = await rows<{ version: number }>(
    q,
    `INSERT INTO ${table} (version, text, created_at, actor, reason)
     SELECT COALESCE(MAX(version), 0) + 1, $1, $2, $3, $4 FROM ${table}
     RETURNING version`,
    [text, at, actor, reason],
  );
  if (row === undefined) throw new Error('INSERT ... RETURNING returned no row');
  const { version } = row;
  const sha256 = createHash('sha256').update(text).digest('hex');
  await insertEvent(q, {
    at,
    actor,
    kind: `${what}.version`,
    subject: String(version),
    reason,
    data: { version, sha256 },
  });
  return { version, text, createdAt: at, actor, reason };
}

async function lastVersion(q: Queryable, what: 'policy' | 'fleet'): Promise<StoredVersion | null> {
  const [row] = await rows<StoredVersion>(
    q,
    `SELECT ${VERSION_COLUMNS} FROM ${what}_versions ORDER BY version DESC LIMIT 1`,
  );
  return row ?? null;
}
