// The storage port's behavioural contract (port.ts), run against both stores: SQLite on a real
// file in a temporary folder, and PostgreSQL on a throwaway cluster (test/pg-harness.ts), a
// fresh database per test. Store-specific matters (SQLite's WAL and durability, PostgreSQL's
// migrations and faults) follow the shared part. When the PostgreSQL binaries are missing, the
// PostgreSQL tests fail with the harness's message: they never skip.
import { tokenRowSha256 } from './token-event.js';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startPgCluster, type PgCluster } from '../../test/pg-harness.js';
import { StorageError } from './port.js';
import type { StoredCheckpoint, StoredEvent, StoredJob, StoredRun, StoredToken, Store } from './port.js';
import { openPostgresStore, pgStorageErrorOf } from './postgres.js';
import { SCHEMA_VERSION } from './migrations.js';
import { PG_SCHEMA_VERSION } from './postgres-migrations.js';
import { openSqliteStore } from './sqlite.js';
import { fullJob, storedJob } from './test-fixtures.js';

// ------------------------------------------------------------------ fixtures

const token = (id: string, over: Partial<StoredToken> = {}): StoredToken => ({
  id,
  hash: `${id}`.padEnd(64, 'a'),
  user: 'ada',
  role: 'member',
  team: 'pretraining',
  createdAt: 1_700_000_000,
  revokedAt: null,
  ...over,
});

const checkpoint = (size: number): StoredCheckpoint => ({
  size,
  root: 'ab'.repeat(32),
  time: '2024-01-01T00:00:00Z',
  signature: `sig-${size}`,
  publicKey: 'pk',
});

/** Resolves with the StorageError a promise rejects with (fails if it resolves or rejects otherwise). */
async function storageError(promise: Promise<unknown>): Promise<StorageError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof StorageError)) throw new Error(`expected a StorageError, got ${String(error)}`);
  return error;
}

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

// ------------------------------------------------------------------ the two stores

interface Opened {
  readonly store: Store;
  /** Runs SQL on a second, raw connection (as an operator's shell would). */
  raw(sql: string): Promise<unknown[]>;
  /** Another store on the same database (another process, as `arbiter token create` is). */
  reopen(): Promise<Store>;
  /** What the store's errors carry as their cause. */
  readonly causeClass: new (...args: never[]) => Error;
  cleanup(): Promise<void>;
}

interface Backend {
  readonly name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  open(): Promise<Opened>;
}

const sqlite: Backend = {
  name: 'sqlite',
  setup: () => Promise.resolve(),
  teardown: () => Promise.resolve(),
  async open() {
    const dir = mkdtempSync(path.join(tmpdir(), 'arbiter-contract-'));
    const file = path.join(dir, 'arbiter.db');
    const store = await openSqliteStore(file);
    return {
      store,
      raw: (sql) => {
        const db = new Database(file);
        try {
          const statement = db.prepare(sql);
          return Promise.resolve(statement.reader ? statement.all() : (statement.run(), []));
        } catch (error) {
          return Promise.reject(error instanceof Error ? error : new Error(String(error)));
        } finally {
          db.close();
        }
      },
      reopen: () => openSqliteStore(file),
      causeClass: Database.SqliteError,
      cleanup: () => {
        rmSync(dir, { recursive: true, force: true });
        return Promise.resolve();
      },
    };
  },
};

let cluster: PgCluster | undefined;

const postgres: Backend = {
  name: 'postgres',
  async setup() {
    cluster = await startPgCluster();
  },
  async teardown() {
    await cluster?.stop();
  },
  async open() {
    if (cluster === undefined) throw new Error('no PostgreSQL test cluster (see the error of beforeAll)');
    const url = await cluster.createDatabase();
    const store = await openPostgresStore(url);
    return {
      store,
      raw: async (sql) => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          return (await client.query<Record<string, unknown>>(sql)).rows;
        } finally {
          await client.end();
        }
      },
      reopen: () => openPostgresStore(url),
      causeClass: pg.DatabaseError,
      cleanup: () => Promise.resolve(),
    };
  },
};

// ------------------------------------------------------------------ the contract

describe.each([sqlite, postgres])('the $name store', (backend) => {
  let opened: Opened;
  let store: Store;
  const others: Store[] = [];

  beforeAll(() => backend.setup(), 120_000);
  afterAll(() => backend.teardown());

  beforeEach(async () => {
    opened = await backend.open();
    store = opened.store;
    await store.migrate();
  });

  afterEach(async () => {
    for (const other of others.splice(0)) await other.close();
    await store.close();
    await opened.cleanup();
  });

  /** A second store on the same database, closed after the test. */
  async function another(): Promise<Store> {
    const other = await opened.reopen();
    others.push(other);
    await other.migrate();
    return other;
  }

  describe('migrations', () => {
    it('migrates again as a no-op, keeping what is stored, also from another store', async () => {
      await store.insertJob(storedJob(1));
      await store.migrate();
      const other = await another();
      expect(await other.getJob('j-1')).toEqual(storedJob(1));
      const [row] = (await opened.raw(`SELECT value FROM meta WHERE key = 'schema_version'`)) as {
        value: string;
      }[];
      expect(Number(row?.value)).toBe(backend.name === 'postgres' ? PG_SCHEMA_VERSION : SCHEMA_VERSION);
    });
  });

  describe('jobs', () => {
    it('numbers new jobs in the database: two stores (two processes) inserting at once never share an id', async () => {
      const other = await another();
      await store.insertJob(storedJob(1));
      const fresh = ({ id: _id, seq: _seq, ...job }: StoredJob): Omit<StoredJob, 'id' | 'seq'> => job;
      // SQLite in one test process: a transaction held across an await would block the other
      // store's synchronous busy wait (one event loop), so there both insert one statement at a
      // time; PostgreSQL also interleaves transactions of two inserts.
      const insert = (s: Store, n: number): Promise<{ id: string; seq: number }>[] =>
        Array.from({ length: n }, (_, i) =>
          i % 2 === 0 || backend.name === 'sqlite'
            ? s.insertNewJob({ ...fresh(storedJob(0)), idempotencyKey: null })
            : s.transaction(async (tx) => {
                const first = await tx.insertNewJob({ ...fresh(storedJob(0)), idempotencyKey: null });
                await tx.insertNewJob({ ...fresh(storedJob(0)), idempotencyKey: null });
                return first;
              }),
        );
      const got = await Promise.all([...insert(store, 20), ...insert(other, 20)]);
      const all = await store.listJobs({ limit: 500 });
      const seqs = all.jobs.map((j) => j.seq).sort((a, b) => a - b);
      // 1 stored before, then 40 inserts (20 of them transactions of two on PostgreSQL): numbered without gaps.
      const count = backend.name === 'sqlite' ? 41 : 61;
      expect(seqs).toEqual(Array.from({ length: count }, (_, i) => i + 1));
      expect(new Set(got.map((g) => g.id)).size).toBe(40);
      for (const { id, seq } of got) expect(id).toBe(`j-${seq}`);
      expect(all.jobs.every((j) => j.id === `j-${j.seq}`)).toBe(true);
    });

    it('numbers a batch of new jobs in its order, in one write, every field kept; batches of two stores at once never share an id', async () => {
      const fresh = ({ id: _id, seq: _seq, ...job }: StoredJob): Omit<StoredJob, 'id' | 'seq'> => job;
      await store.insertJob(storedJob(1));
      const batch = [fresh(fullJob(0)), fresh(storedJob(0)), { ...fresh(fullJob(0)), name: 'third', submittedAt: 1700000000.1234567, idempotencyKey: null }];
      const numbered = await store.insertNewJobs(batch);
      expect(numbered).toEqual([{ id: 'j-2', seq: 2 }, { id: 'j-3', seq: 3 }, { id: 'j-4', seq: 4 }]);
      for (const [i, { id, seq }] of numbered.entries()) expect(await store.getJob(id)).toEqual({ ...batch[i], id, seq });
      expect(await store.insertNewJobs([])).toEqual([]);
      const other = await another();
      const batches = (s: Store): Promise<{ id: string; seq: number }[]>[] =>
        Array.from({ length: 5 }, () => s.insertNewJobs(Array.from({ length: 7 }, () => ({ ...fresh(storedJob(0)), idempotencyKey: null }))));
      const got = (await Promise.all([...batches(store), ...batches(other)])).flat();
      expect(new Set(got.map((g) => g.seq)).size).toBe(70);
      const seqs = (await store.listJobs({ limit: 500 })).jobs.map((j) => j.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 74 }, (_, i) => i + 1));
    });

    it('stores and reads back whole jobs, every field set or every optional field null', async () => {
      await store.insertJob(fullJob(1));
      await store.insertJob(storedJob(2));
      expect(await store.getJob('j-1')).toEqual(fullJob(1));
      expect(await store.getJob('j-2')).toEqual(storedJob(2));
      expect(await store.getJob('j-3')).toBeNull();
      const job = await store.getJob('j-1');
      expect([typeof job?.seq, typeof job?.gpus, typeof job?.submittedAt]).toEqual([
        'number',
        'number',
        'number',
      ]);
    });

    it('numbers jobs from 1, then after the last stored', async () => {
      expect(await store.nextJobSeq()).toBe(1);
      await store.insertJob(storedJob(1));
      await store.insertJob(storedJob(7));
      expect(await store.nextJobSeq()).toBe(8);
    });

    it('replaces the mutable fields on update, and only those', async () => {
      await store.insertJob(storedJob(1, { idempotencyKey: 'k' }));
      const finished: StoredJob = {
        ...fullJob(1),
        status: 'completed',
        endedAt: 1_700_009_000,
        exitCode: 0,
        placement: null,
        runStart: null,
        runFlavor: null,
      };
      await store.updateJob(finished);
      expect(await store.getJob('j-1')).toEqual({
        ...storedJob(1, { idempotencyKey: 'k' }),
        status: 'completed',
        startedAt: finished.startedAt,
        endedAt: 1_700_009_000,
        preemptions: 2,
        attained: finished.attained,
        reasonCode: finished.reasonCode,
        reasonMessage: finished.reasonMessage,
        expectedStart: finished.expectedStart,
        exitCode: 0,
        keptWork: finished.keptWork,
      });
    });

    it('refuses to update a job that is not stored, and to store one twice', async () => {
      expect((await storageError(store.updateJob(storedJob(5)))).code).toBe('not_found');
      await store.insertJob(storedJob(5));
      const twice = await storageError(store.insertJob(storedJob(5)));
      expect([twice.code, twice.retryable]).toEqual(['constraint', false]);
      expect(twice.cause).toBeInstanceOf(opened.causeClass);
    });

    it('finds a job by its submitter and idempotency key, one job per key and user', async () => {
      await store.insertJob(storedJob(1, { submittedBy: 'ada', idempotencyKey: 'nightly-42', idempotencyHash: 'ab'.repeat(32) }));
      await store.insertJob(storedJob(2, { submittedBy: 'grace', idempotencyKey: 'nightly-42' }));
      await store.insertJob(storedJob(3, { submittedBy: 'ada' }));
      await store.insertJob(storedJob(4, { submittedBy: 'ada' }));
      // The hash of the body sent with the key comes back with it (a repeat with another body is refused).
      expect(await store.getJobByIdempotencyKey('ada', 'nightly-42')).toEqual(
        storedJob(1, { submittedBy: 'ada', idempotencyKey: 'nightly-42', idempotencyHash: 'ab'.repeat(32) }),
      );
      expect((await store.getJobByIdempotencyKey('grace', 'nightly-42'))?.id).toBe('j-2');
      expect(await store.getJobByIdempotencyKey('linus', 'nightly-42')).toBeNull();
      // Many pairs in one read: those found, each once (a pair asked twice too), in any order.
      const found = await store.jobsByIdempotencyKeys([
        { user: 'ada', key: 'nightly-42' },
        { user: 'grace', key: 'nightly-42' },
        { user: 'linus', key: 'nightly-42' },
        { user: 'ada', key: 'nightly-43' },
        { user: 'ada', key: 'nightly-42' },
      ]);
      expect(found.map((j) => j.id).sort()).toEqual(['j-1', 'j-2']);
      expect(found.find((j) => j.id === 'j-1')).toEqual(await store.getJobByIdempotencyKey('ada', 'nightly-42'));
      expect(await store.jobsByIdempotencyKeys([])).toEqual([]);
      expect(await store.jobsByIdempotencyKeys([{ user: 'ada', key: 'nope' }])).toEqual([]);
      const race = await storageError(
        store.insertJob(storedJob(5, { submittedBy: 'ada', idempotencyKey: 'nightly-42' })),
      );
      expect(race.code).toBe('constraint');
    });

    it('gives the pending and running jobs in submission order', async () => {
      const statuses = [
        'running',
        'completed',
        'pending',
        'failed',
        'pending',
        'cancelled',
        'running',
        'rejected',
        'timed_out',
      ] as const;
      for (const [i, status] of statuses.entries()) await store.insertJob(storedJob(i + 1, { status }));
      expect((await store.unfinishedJobs()).map((j) => [j.id, j.status])).toEqual([
        ['j-1', 'running'],
        ['j-3', 'pending'],
        ['j-5', 'pending'],
        ['j-7', 'running'],
      ]);
    });

    it('gives the jobs submitted in [from, to), in submission order', async () => {
      for (const [seq, at] of [
        [1, 100],
        [2, 150.5],
        [3, 200],
        [4, 120],
      ] as const)
        await store.insertJob(storedJob(seq, { submittedAt: at }));
      expect((await store.jobsSubmittedBetween(100, 200)).map((j) => j.id)).toEqual(['j-1', 'j-2', 'j-4']);
      expect(await store.jobsSubmittedBetween(300, 400)).toEqual([]);
    });
  });

  describe('listing jobs', () => {
    // j-1..j-9: teams A, B, C in turn; every third (j-3, j-6, j-9) completed, the rest pending.
    const nine = (seq: number): StoredJob =>
      storedJob(seq, { team: 'ABC'[(seq - 1) % 3]!, status: seq % 3 === 0 ? 'completed' : 'pending' });

    beforeEach(async () => {
      await store.transaction(async (tx) => {
        for (let seq = 1; seq <= 9; seq++) await tx.insertJob(nine(seq));
      });
    });

    /** Every page of a query, as lists of ids. */
    async function pages(query: Omit<Parameters<Store['listJobs']>[0], 'cursor'>): Promise<string[][]> {
      const result: string[][] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await store.listJobs({ ...query, ...(cursor === undefined ? {} : { cursor }) });
        result.push(page.jobs.map((j) => j.id));
        if (page.nextCursor === null) return result;
        cursor = page.nextCursor;
      }
    }

    it('lists newest first, a page at a time, whole jobs', async () => {
      expect((await store.listJobs({ limit: 4 })).jobs).toEqual([9, 8, 7, 6].map(nine));
      expect(await pages({ limit: 4 })).toEqual([
        ['j-9', 'j-8', 'j-7', 'j-6'],
        ['j-5', 'j-4', 'j-3', 'j-2'],
        ['j-1'],
      ]);
      // An exact last page has no cursor after it.
      expect(await pages({ limit: 3 })).toEqual([
        ['j-9', 'j-8', 'j-7'],
        ['j-6', 'j-5', 'j-4'],
        ['j-3', 'j-2', 'j-1'],
      ]);
    });

    it('filters by a list of teams, by status, and by both', async () => {
      expect((await store.listJobs({ limit: 2, team: ['A', 'C'] })).jobs).toEqual([9, 7].map(nine));
      expect(await pages({ limit: 2, team: ['A', 'C'] })).toEqual([
        ['j-9', 'j-7'],
        ['j-6', 'j-4'],
        ['j-3', 'j-1'],
      ]);
      expect(await pages({ limit: 10, team: ['B', 'B'] })).toEqual([['j-8', 'j-5', 'j-2']]);
      expect(await pages({ limit: 2, status: 'completed' })).toEqual([['j-9', 'j-6'], ['j-3']]);
      expect(await pages({ limit: 1, team: ['A', 'B'], status: 'pending' })).toEqual([
        ['j-8'],
        ['j-7'],
        ['j-5'],
        ['j-4'],
        ['j-2'],
        ['j-1'],
      ]);
      expect(await pages({ limit: 5, team: [] })).toEqual([[]]);
      expect(await pages({ limit: 5, team: ['nobody'] })).toEqual([[]]);
    });

    it('keeps its place when jobs arrive between pages', async () => {
      const first = await store.listJobs({ limit: 3 });
      await store.insertJob(storedJob(10));
      const second = await store.listJobs({ limit: 3, cursor: first.nextCursor! });
      expect(second.jobs.map((j) => j.id)).toEqual(['j-6', 'j-5', 'j-4']);
    });

    it('refuses a cursor it did not make, and a limit below 1', async () => {
      const good = (await store.listJobs({ limit: 3 })).nextCursor!;
      for (const cursor of [
        '',
        'garbage!',
        'abc',
        Buffer.from('j:0').toString('base64url'),
        Buffer.from('7').toString('base64url'),
        `${good}x`,
        `${good}=`,
      ]) {
        const error = await storageError(store.listJobs({ limit: 3, cursor }));
        expect([cursor, error.code, error.retryable]).toEqual([cursor, 'invalid_cursor', false]);
      }
      expect((await storageError(store.listJobs({ limit: 0 }))).code).toBe('invalid_query');
    });
  });

  describe('runs', () => {
    const open = (start: number): StoredRun => ({
      jobId: 'j-1',
      start,
      end: null,
      flavor: 'h100',
      placement: [{ node: 'h100-a-0', gpus: 8 }],
      outcome: null,
    });

    it('opens, closes and lists the runs of a job in order', async () => {
      await store.insertJob(storedJob(1));
      await store.insertRun(open(100));
      await store.closeRun('j-1', 250.5, 'preempted');
      await store.insertRun(open(300));
      expect(await store.runsOf('j-1')).toEqual([
        { ...open(100), end: 250.5, outcome: 'preempted', preemptedBy: null },
        { ...open(300), preemptedBy: null },
      ]);
      await store.closeRun('j-1', 400, 'completed');
      expect((await store.runsOf('j-1')).map((r) => [r.start, r.end, r.outcome])).toEqual([
        [100, 250.5, 'preempted'],
        [300, 400, 'completed'],
      ]);
      expect(await store.runsOf('j-2')).toEqual([]);
    });

    it('lists the runs that overlap a period, open ones included, with their job\'s team', async () => {
      await store.insertJob(storedJob(1, { team: 'pretraining', startedAt: 100 }));
      await store.insertJob(storedJob(2, { team: 'inference', startedAt: 500 }));
      await store.insertRun(open(100));
      await store.closeRun('j-1', 200, 'preempted');
      await store.insertRun(open(300));
      await store.closeRun('j-1', 400, 'completed');
      await store.insertRun({ ...open(500), jobId: 'j-2', placement: [{ node: 'h100-a-1', gpus: 2 }] });
      // [150, 300): the first run of j-1 only (the second starts at 300, which is outside).
      expect(await store.runsOverlapping(150, 300)).toEqual([
        { ...open(100), end: 200, outcome: 'preempted', team: 'pretraining', submittedAt: 1_700_000_001, jobStartedAt: 100, reclaimWait: null },
      ]);
      // A run ending exactly at `from` is outside; the open run of j-2 is inside.
      expect((await store.runsOverlapping(400, 1000)).map((r) => [r.jobId, r.start, r.end, r.team, r.placement])).toEqual([
        ['j-2', 500, null, 'inference', [{ node: 'h100-a-1', gpus: 2 }]],
      ]);
      expect((await store.runsOverlapping(0, 10_000)).map((r) => [r.jobId, r.start])).toEqual([
        ['j-1', 100],
        ['j-1', 300],
        ['j-2', 500],
      ]);
      expect(await store.runsOverlapping(0, 100)).toEqual([]);
    });

    it('keeps who took a preempted run\'s GPUs and why', async () => {
      await store.insertJob(storedJob(1));
      await store.insertRun(open(100));
      await store.closeRun('j-1', 200, 'preempted', { job: 'j-7', team: 'inference', class: 'prod', cause: 'reclaim' });
      await store.insertRun(open(300));
      await store.closeRun('j-1', 400, 'preempted', { job: 'j-9', team: 'pretraining', class: 'urgent', cause: 'withinTeam' });
      expect((await store.runsOf('j-1')).map((r) => r.preemptedBy)).toEqual([
        { job: 'j-7', team: 'inference', class: 'prod', cause: 'reclaim' },
        { job: 'j-9', team: 'pretraining', class: 'urgent', cause: 'withinTeam' },
      ]);
    });

    it('says which runs of a period started by a reclaim, and how long their job had waited for it', async () => {
      // j-1 (pretraining) borrows; j-2 (inference), submitted at 150, reclaims at 200; later j-2
      // is preempted within its team (not a reclaim) at 300 and reclaims again at 500.
      await store.insertJob(storedJob(1, { team: 'pretraining', submittedAt: 50, startedAt: 100 }));
      await store.insertJob(storedJob(2, { team: 'inference', submittedAt: 150, startedAt: 200 }));
      await store.insertJob(storedJob(3, { team: 'inference', submittedAt: 250, startedAt: 300 }));
      await store.insertRun(open(100));
      await store.closeRun('j-1', 200, 'preempted', { job: 'j-2', team: 'inference', class: 'prod', cause: 'reclaim' });
      await store.insertRun({ ...open(200), jobId: 'j-2' });
      await store.closeRun('j-2', 300, 'preempted', { job: 'j-3', team: 'inference', class: 'prod', cause: 'withinTeam' });
      await store.insertRun({ ...open(300), jobId: 'j-3' });
      await store.insertRun({ ...open(400), jobId: 'j-1' });
      await store.closeRun('j-1', 500, 'preempted', { job: 'j-2', team: 'inference', class: 'prod', cause: 'reclaim' });
      await store.insertRun({ ...open(500), jobId: 'j-2' });
      const runs = await store.runsOverlapping(0, 1000);
      expect(runs.map((r) => [r.jobId, r.start, r.reclaimWait])).toEqual([
        ['j-1', 100, null],
        ['j-2', 200, 50], // submitted at 150
        ['j-3', 300, null], // took j-2's GPUs within the team: no reclaim
        ['j-1', 400, null],
        ['j-2', 500, 200], // waiting since its run ended at 300
      ]);
    });

    it('refuses a second open run, closing with none open, and a run of an unknown job', async () => {
      await store.insertJob(storedJob(1));
      await store.insertRun(open(100));
      expect((await storageError(store.insertRun(open(200)))).code).toBe('constraint');
      await store.closeRun('j-1', 150, 'requeued');
      expect((await storageError(store.closeRun('j-1', 160, 'requeued'))).code).toBe('not_found');
      expect((await storageError(store.insertRun({ ...open(100), jobId: 'j-404' }))).code).toBe('constraint');
    });
  });

  describe('reasons', () => {
    const reason = (job: number, at: number, code: string) => ({ jobId: `j-${job}`, at, code, message: `${code} at ${at}` });

    it('appends reason changes in order, trims each job to its last ones, and gives unfinished jobs\' last', async () => {
      await store.insertJob(storedJob(1));
      await store.insertJob(storedJob(2));
      await store.insertJob(storedJob(3, { status: 'completed', endedAt: 50 }));
      await store.appendReasons([reason(1, 10, 'LowerInOrder'), reason(2, 10, 'TeamLimit'), reason(3, 10, 'TeamLimit')]);
      await store.appendReasons([reason(1, 20, 'GuaranteeExhausted'), reason(1, 30, 'LowerInOrder')]);
      await store.appendReasons([]);
      expect(await store.reasonsOf('j-1')).toEqual([reason(1, 10, 'LowerInOrder'), reason(1, 20, 'GuaranteeExhausted'), reason(1, 30, 'LowerInOrder')]);
      expect(await store.reasonsOf('j-404')).toEqual([]);
      // Finished jobs are not recovered.
      expect([...(await store.lastReasons()).entries()].sort()).toEqual([
        ['j-1', { reason: reason(1, 30, 'LowerInOrder'), count: 3 }],
        ['j-2', { reason: reason(2, 10, 'TeamLimit'), count: 1 }],
      ]);
      await store.trimReasons(['j-1', 'j-2'], 2);
      expect(await store.reasonsOf('j-1')).toEqual([reason(1, 20, 'GuaranteeExhausted'), reason(1, 30, 'LowerInOrder')]);
      expect(await store.reasonsOf('j-2')).toEqual([reason(2, 10, 'TeamLimit')]);
      expect((await store.lastReasons()).get('j-1')?.count).toBe(2);
    });

    it('stores a batch of reasons all or nothing', async () => {
      await store.insertJob(storedJob(1));
      expect((await storageError(store.appendReasons([reason(1, 10, 'LowerInOrder'), reason(404, 10, 'TeamLimit')]))).code).toBe('constraint');
      expect(await store.reasonsOf('j-1')).toEqual([]);
    });
  });

  describe('tokens', () => {
    it('finds a token by its hash and lists tokens in creation order', async () => {
      await store.insertToken(token('t-2'), 'admin', 'first start');
      await store.insertToken(token('t-1', { user: 'root', role: 'admin', team: null }), 'admin', 'ops');
      expect(await store.tokenByHash(token('t-1').hash)).toEqual(
        token('t-1', { user: 'root', role: 'admin', team: null }),
      );
      expect(await store.tokenByHash('f'.repeat(64))).toBeNull();
      expect((await store.listTokens()).map((t) => t.id)).toEqual(['t-2', 't-1']);
      expect((await storageError(store.insertToken(token('t-3', { user: 'ben', hash: token('t-1').hash })))).code).toBe(
        'constraint',
      );
      // The refused token left no event behind.
      expect((await store.events(1, 10)).map((e) => e.subject)).toEqual(['t-2', 't-1']);
    });

    it('appends token.create and token.revoke events without the hash, once per revocation', async () => {
      await store.insertToken(token('t-1', { hash: 'b'.repeat(64) }), 'root', 'new teammate');
      await store.revokeToken('t-1', 1_700_000_500, 'root', 'left the lab');
      await store.revokeToken('t-1', 1_700_000_600, 'root', 'again');
      expect(await store.tokenByHash('b'.repeat(64))).toEqual(
        token('t-1', { hash: 'b'.repeat(64), revokedAt: 1_700_000_500 }),
      );
      // The SHA-256 of the whole row as created (token-event.ts), never the secret's hash itself.
      const data = { id: 't-1', user: 'ada', role: 'member', team: 'pretraining', rowSha256: tokenRowSha256(token('t-1', { hash: 'b'.repeat(64) })) };
      expect(await store.events(1, 10)).toEqual([
        {
          seq: 1,
          at: 1_700_000_000,
          actor: 'root',
          kind: 'token.create',
          subject: 't-1',
          reason: 'new teammate',
          data,
        },
        {
          seq: 2,
          at: 1_700_000_500,
          actor: 'root',
          kind: 'token.revoke',
          subject: 't-1',
          reason: 'left the lab',
          data,
        },
      ]);
      expect(JSON.stringify(await opened.raw('SELECT * FROM events'))).not.toContain('b'.repeat(16));
      expect((await storageError(store.revokeToken('t-404', 1, 'root', 'typo'))).code).toBe('not_found');
    });

    it('refuses a second token for a user name, revoked or not, also from another store at the same moment', async () => {
      await store.insertToken(token('t-1', { user: 'admin', role: 'admin', team: null }), 'system', 'first start');
      // The same name with another role would act as the same person: refused, nothing stored.
      const taken = await storageError(store.insertToken(token('t-2', { user: 'admin', role: 'member' })));
      expect(taken.code).toBe('constraint');
      expect(taken.message).toMatch(/user name "admin" is taken by token t-1 \(admin\)/);
      await store.revokeToken('t-1', 1_700_000_100, 'system', 'rotated');
      expect((await storageError(store.insertToken(token('t-3', { user: 'admin' })))).message).toMatch(/t-1 \(admin, revoked\)/);
      // Two stores (two `arbiter token create` processes) with one new name at once: exactly one wins.
      const other = await another();
      const results = await Promise.allSettled([
        store.insertToken(token('t-4', { user: 'eve' })),
        other.insertToken(token('t-5', { user: 'eve' })),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect((await store.listTokens()).map((t) => t.user)).toEqual(['admin', 'eve']);
      expect((await store.events(1, 10)).map((e) => `${e.kind} ${e.subject}`)).toEqual([
        'token.create t-1',
        'token.revoke t-1',
        expect.stringMatching(/^token\.create t-[45]$/),
      ]);
    });
  });

  describe('events', () => {
    it('appends events numbered from 1 and reads them from a position', async () => {
      for (const n of [1, 2, 3])
        expect(
          await store.appendEvent({
            at: n,
            actor: 'system',
            kind: 'test',
            subject: `s${n}`,
            reason: 'r',
            data: { n, list: [n] },
          }),
        ).toBe(n);
      expect((await store.events(2, 10)).map((e) => [e.seq, e.data])).toEqual([
        [2, { n: 2, list: [2] }],
        [3, { n: 3, list: [3] }],
      ]);
      expect((await store.events(1, 1)).map((e) => e.seq)).toEqual([1]);
      expect(await store.events(4, 10)).toEqual([]);
      expect((await storageError(store.events(-1, 10))).code).toBe('invalid_query');
    });

    it('gives back exactly what was stored: the same numbers, the same JSON text', async () => {
      // The audit log hashes each event's canonical JSON: a time or a datum that came back
      // even one ulp off, or reordered, would read as tampering.
      const times = [
        1_700_000_123.456789,
        0.1 + 0.2,
        1_723_456_789.123_456_7,
        5e-324,
        1.7976931348623157e308,
        1 / 3,
        42,
      ];
      const data: unknown[] = [
        { b: 1, a: [2, { d: 'x', c: null }], z: true },
        {
          unicode: 'héllo — 世界 🚀',
          nul: 'a\u0000b',
          quote: '"\\',
          big: 1e21,
          small: -2.5e-7,
          third: 1 / 3,
        },
        [1, 'two', [3]],
        'a string',
        12.5,
        null,
        {},
      ];
      const events: Omit<StoredEvent, 'seq'>[] = times.map((at, i) => ({
        at,
        actor: 'system',
        kind: 'test',
        subject: `s${i}`,
        reason: 'r',
        data: data[i],
      }));
      for (const event of events) await store.appendEvent(event);
      const back = await store.events(1, 100);
      expect(back).toEqual(events.map((e, i) => ({ seq: i + 1, ...e })));
      for (const [i, e] of back.entries()) {
        expect(Object.is(e.at, times[i]), `at of event ${i + 1}`).toBe(true);
        expect(JSON.stringify(e.data)).toBe(JSON.stringify(data[i]));
        expect(typeof e.seq).toBe('number');
      }
      // undefined data is stored as null, as JSON would have it.
      await store.appendEvent({
        at: 1,
        actor: 'system',
        kind: 'test',
        subject: 's',
        reason: 'r',
        data: undefined,
      });
      expect((await store.events(8, 1))[0]?.data).toBeNull();
    });

    it('never lets an append-only row be updated or deleted, even through raw SQL', async () => {
      await store.appendEvent({
        at: 1,
        actor: 'system',
        kind: 'test',
        subject: 's',
        reason: 'r',
        data: null,
      });
      await store.putPolicy('teams: []', 'root', 'first', 1);
      await store.putFleet('pools: []', 'root', 'first', 1);
      await store.putReport('h1', { a: 1 });
      await store.appendAudit([{ seq: 1, hash: 'x' }], checkpoint(1));
      for (const sql of [
        `UPDATE events SET actor = 'mallory'`,
        'DELETE FROM events',
        'DELETE FROM events WHERE seq = 1',
        `UPDATE policy_versions SET text = 'x'`,
        'DELETE FROM policy_versions',
        'DELETE FROM fleet_versions',
        `UPDATE impact_reports SET hash = 'h2'`,
        'DELETE FROM impact_reports',
        `UPDATE audit_leaves SET hash = 'y'`,
        'DELETE FROM audit_leaves',
        `UPDATE audit_checkpoints SET root = 'y'`,
        'DELETE FROM audit_checkpoints',
      ])
        await expect(opened.raw(sql), sql).rejects.toThrow(/append-only/);
      if (backend.name === 'postgres')
        await expect(opened.raw('TRUNCATE events')).rejects.toThrow(/append-only/);
      expect((await store.events(1, 10)).map((e) => [e.seq, e.actor])).toEqual([
        [1, 'system'],
        [2, 'root'],
        [3, 'root'],
      ]);
    });

    it('numbers events without gaps when two stores append at once, and after a rollback', async () => {
      const other = await another();
      await storageError(
        store.transaction(async (tx) => {
          await tx.appendEvent({
            at: 1,
            actor: 'a',
            kind: 'test',
            subject: 'rolled back',
            reason: 'r',
            data: null,
          });
          throw new StorageError('test', 'rolled back', false);
        }),
      );
      const append = (s: Store, who: string, n: number): Promise<number>[] =>
        Array.from({ length: n }, (_, i) =>
          s.appendEvent({ at: i, actor: who, kind: 'test', subject: `${who}${i}`, reason: 'r', data: null }),
        );
      const seqs = await Promise.all([...append(store, 'a', 15), ...append(other, 'b', 15)]);
      expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect((await store.events(1, 100)).map((e) => e.seq)).toEqual(
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
    });
  });

  describe('policy and fleet versions', () => {
    it('numbers versions 1, 2... each with its policy.version or fleet.version event', async () => {
      expect(await store.currentPolicy()).toBeNull();
      expect(await store.currentFleet()).toBeNull();
      expect(await store.putFleet('pools: []', 'system', 'first start', 10)).toEqual({
        version: 1,
        text: 'pools: []',
        createdAt: 10,
        actor: 'system',
        reason: 'first start',
      });
      expect((await store.putPolicy('teams: [a]', 'system', 'first start', 10)).version).toBe(1);
      const second = {
        version: 2,
        text: 'teams: [a, b]',
        createdAt: 20.5,
        actor: 'root',
        reason: 'team b joins',
      };
      expect(await store.putPolicy('teams: [a, b]', 'root', 'team b joins', 20.5)).toEqual(second);
      expect(await store.currentPolicy()).toEqual(second);
      expect((await store.policyVersions()).map((v) => [v.version, v.text])).toEqual([
        [1, 'teams: [a]'],
        [2, 'teams: [a, b]'],
      ]);
      expect((await store.currentFleet())?.version).toBe(1);
      const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
      expect(await store.events(1, 10)).toEqual([
        {
          seq: 1,
          at: 10,
          actor: 'system',
          kind: 'fleet.version',
          subject: '1',
          reason: 'first start',
          data: { version: 1, sha256: sha('pools: []') },
        },
        {
          seq: 2,
          at: 10,
          actor: 'system',
          kind: 'policy.version',
          subject: '1',
          reason: 'first start',
          data: { version: 1, sha256: sha('teams: [a]') },
        },
        {
          seq: 3,
          at: 20.5,
          actor: 'root',
          kind: 'policy.version',
          subject: '2',
          reason: 'team b joins',
          data: { version: 2, sha256: sha('teams: [a, b]') },
        },
      ]);
    });
  });

  describe('governance', () => {
    it('numbers, stores, replaces and lists proposals, newest first', async () => {
      expect(await store.nextProposalSeq()).toBe(1);
      await store.putProposal({ id: 'p-1', status: 'open', doc: { id: 'p-1', votes: [] }, updatedAt: 10 });
      await store.putProposal({ seq: 5, id: 'p-5', status: 'open', doc: { id: 'p-5' }, updatedAt: 11 });
      expect(await store.nextProposalSeq()).toBe(6);
      await store.putProposal({
        id: 'p-1',
        status: 'accepted',
        doc: { id: 'p-1', votes: ['ada'] },
        updatedAt: 12.5,
      });
      await store.putProposal({ id: 'p-6', status: 'open', doc: { id: 'p-6' }, updatedAt: 13 });
      expect(await store.getProposal('p-1')).toEqual({
        seq: 1,
        id: 'p-1',
        status: 'accepted',
        doc: { id: 'p-1', votes: ['ada'] },
        updatedAt: 12.5,
      });
      expect(await store.getProposal('p-404')).toBeNull();
      expect((await store.listProposals()).map((p) => [p.seq, p.id, p.status])).toEqual([
        [6, 'p-6', 'open'],
        [5, 'p-5', 'open'],
        [1, 'p-1', 'accepted'],
      ]);
    });

    it('stores comments as rows of their own, pages them oldest first and counts them; a number taken is refused', async () => {
      await store.putProposal({ id: 'p-1', status: 'consultation', doc: { id: 'p-1' }, updatedAt: 10 });
      const comment = (proposal: string, n: number) => ({ proposal, n, actor: `u${n}`, text: `comment ${n}\nsecond line`, at: 100 + n + 0.25, revision: n > 3 ? 1 : 0, legacy: false });
      for (let n = 1; n <= 5; n++) await store.insertComment(comment('p-1', n));
      await store.insertComment(comment('p-2', 1));
      expect(await store.commentsOf('p-1', 0, 2)).toEqual([comment('p-1', 1), comment('p-1', 2)]);
      expect((await store.commentsOf('p-1', 2, 10)).map((c) => c.n)).toEqual([3, 4, 5]);
      expect(await store.commentsOf('p-1', 5, 10)).toEqual([]);
      expect(await store.commentsOf('p-404', 0, 10)).toEqual([]);
      expect(await store.commentCounts()).toEqual(new Map([['p-1', 5], ['p-2', 1]]));
      expect((await storageError(store.insertComment({ ...comment('p-1', 3), text: 'again' }))).code).toBe('constraint');
      expect((await store.commentsOf('p-1', 2, 1))[0]!.text).toBe('comment 3\nsecond line');
      // Adding a comment leaves the proposal's row as it was.
      expect(await store.getProposal('p-1')).toEqual({ seq: 1, id: 'p-1', status: 'consultation', doc: { id: 'p-1' }, updatedAt: 10 });
      // Rows are never rewritten or deleted.
      for (const sql of [`UPDATE proposal_comments SET text = 'x'`, `DELETE FROM proposal_comments`]) await expect(opened.raw(sql), sql).rejects.toThrow(/append-only/);
    });

    it('the schema migration moves comments embedded in proposal documents into their table, in order, with author, time and revision', async () => {
      // A database as the previous schema left it: no comments table, comments in the documents.
      await opened.raw('DROP TABLE proposal_comments');
      // (Version 5's leader table and fence, PostgreSQL's, are made again too.)
      if (backend.name === 'postgres') await opened.raw('DROP TABLE leader; DROP FUNCTION arbiter_fence');
      // (And version 7's reason history and preemption takers.)
      await opened.raw('DROP TABLE job_reasons');
      await opened.raw('DROP INDEX runs_by_preemptor');
      for (const column of ['preempted_by', 'preempted_by_team', 'preempted_by_class', 'preempt_cause']) await opened.raw(`ALTER TABLE runs DROP COLUMN ${column}`);
      await opened.raw(`UPDATE meta SET value = '3' WHERE key = 'schema_version'`);
      const embedded = [
        { actor: 'ada', text: 'first', at: 1700000000.5, revision: 0 },
        { actor: 'bob', text: 'second, "quoted"', at: 1700000100, revision: 0 },
        { actor: 'ada', text: 'third', at: 1700000200.25, revision: 1 },
      ];
      await store.putProposal({ id: 'p-1', status: 'voting', doc: { id: 'p-1', revision: 1, comments: embedded, timeline: [{ event: 'comment' }] }, updatedAt: 10 });
      await store.putProposal({ id: 'p-2', status: 'consultation', doc: { id: 'p-2', comments: [] }, updatedAt: 11 });
      await store.putProposal({ id: 'p-3', status: 'consultation', doc: { id: 'p-3' }, updatedAt: 12 });
      const migrated = await another();
      expect(await migrated.commentsOf('p-1', 0, 10)).toEqual(embedded.map((c, i) => ({ proposal: 'p-1', n: i + 1, ...c, legacy: true })));
      expect(await migrated.commentCounts()).toEqual(new Map([['p-1', 3]]));
      expect((await migrated.getProposal('p-1'))!.doc).toEqual({ id: 'p-1', revision: 1, timeline: [{ event: 'comment' }] });
      expect((await migrated.getProposal('p-2'))!.doc).toEqual({ id: 'p-2' });
      expect((await migrated.getProposal('p-3'))!.doc).toEqual({ id: 'p-3' });
      // New comments go on after the migrated ones.
      await migrated.insertComment({ proposal: 'p-1', n: 4, actor: 'cy', text: 'fourth', at: 1700000300, revision: 1, legacy: false });
      expect((await migrated.commentsOf('p-1', 3, 10)).map((c) => [c.n, c.legacy])).toEqual([[4, false]]);
    });

    it('stores a report once under its hash', async () => {
      const doc = { hash: 'h', metrics: { p50: 1.25, teams: ['b', 'a'] } };
      await store.putReport('h', doc);
      await store.putReport('h', { other: true });
      expect(await store.getReport('h')).toEqual(doc);
      expect(JSON.stringify(await store.getReport('h'))).toBe(JSON.stringify(doc));
      expect(await store.getReport('nope')).toBeNull();
    });

    it('appends audit leaves and checkpoints, in order; a leaf stored twice is refused', async () => {
      expect(await store.auditLeaves()).toEqual([]);
      await store.appendAudit(
        [
          { seq: 1, hash: 'a' },
          { seq: 2, hash: 'b' },
        ],
        checkpoint(2),
      );
      await store.appendAudit([], checkpoint(2));
      await store.appendAudit([{ seq: 3, hash: 'c' }], checkpoint(3));
      expect(await store.auditLeaves()).toEqual([
        { seq: 1, hash: 'a' },
        { seq: 2, hash: 'b' },
        { seq: 3, hash: 'c' },
      ]);
      expect(await store.checkpoints()).toEqual([checkpoint(2), checkpoint(2), checkpoint(3)]);
      // All or nothing: the refused append stores neither its new leaf nor its checkpoint.
      expect(
        (
          await storageError(
            store.appendAudit(
              [
                { seq: 4, hash: 'd' },
                { seq: 3, hash: 'c' },
              ],
              checkpoint(4),
            ),
          )
        ).code,
      ).toBe('constraint');
      expect((await store.auditLeaves()).length).toBe(3);
      expect((await store.checkpoints()).length).toBe(3);
    });
  });

  describe('transactions', () => {
    it('commits every write of fn together', async () => {
      const result = await store.transaction(async (tx) => {
        for (let seq = 1; seq <= 50; seq++) await tx.insertJob(storedJob(seq));
        await tx.insertRun({
          jobId: 'j-1',
          start: 1,
          end: null,
          flavor: 'h100',
          placement: [],
          outcome: null,
        });
        return (await tx.putPolicy('p', 'root', 'r', 1)).version;
      });
      expect(result).toBe(1);
      expect(await store.nextJobSeq()).toBe(51);
      expect(await store.runsOf('j-1')).toHaveLength(1);
    });

    it('leaves nothing behind when fn throws, and rethrows its error', async () => {
      await store.insertJob(storedJob(1));
      const boom = new Error('boom');
      const thrown = await store
        .transaction(async (tx) => {
          await tx.insertJob(storedJob(2));
          await tx.updateJob({ ...storedJob(1), status: 'running' });
          await tx.insertRun({
            jobId: 'j-1',
            start: 1,
            end: null,
            flavor: 'h100',
            placement: [],
            outcome: null,
          });
          await tx.putPolicy('p', 'root', 'r', 1);
          await tx.putFleet('f', 'root', 'r', 1);
          await tx.insertToken(token('t-1'), 'root', 'r');
          await tx.appendEvent({ at: 1, actor: 'root', kind: 'test', subject: 's', reason: 'r', data: {} });
          await tx.putProposal({ id: 'p-1', status: 'open', doc: {}, updatedAt: 1 });
          await tx.putReport('h', {});
          await tx.appendAudit([{ seq: 1, hash: 'a' }], checkpoint(1));
          // The store itself, called inside fn, writes into the transaction too.
          await store.insertJob(storedJob(3));
          throw boom;
        })
        .catch((e: unknown) => e);
      expect(thrown).toBe(boom);
      expect((await store.listJobs({ limit: 10 })).jobs).toEqual([storedJob(1)]);
      expect(await store.runsOf('j-1')).toEqual([]);
      expect(await store.currentPolicy()).toBeNull();
      expect(await store.currentFleet()).toBeNull();
      expect(await store.listTokens()).toEqual([]);
      expect(await store.events(1, 10)).toEqual([]);
      expect(await store.listProposals()).toEqual([]);
      expect(await store.getReport('h')).toBeNull();
      expect(await store.auditLeaves()).toEqual([]);
      expect(await store.checkpoints()).toEqual([]);
      // And the store goes on working.
      await store.insertJob(storedJob(2));
      expect(await store.nextJobSeq()).toBe(3);
    });

    it('rolls back a fault inside fn (a constraint) as a whole', async () => {
      await store.insertJob(storedJob(1));
      const error = await storageError(
        store.transaction(async (tx) => {
          await tx.insertJob(storedJob(2));
          await tx.insertJob(storedJob(1));
        }),
      );
      expect(error.code).toBe('constraint');
      expect(await store.getJob('j-2')).toBeNull();
    });

    it('lets fn go on after a write it caught failed: only that write is undone', async () => {
      await store.insertJob(storedJob(1));
      await store.transaction(async (tx) => {
        await tx.insertJob(storedJob(2));
        expect((await storageError(tx.insertToken(token('t-1', { role: 'emperor' as never })))).code).toBe(
          'constraint',
        );
        expect((await storageError(tx.insertJob(storedJob(1)))).code).toBe('constraint');
        await tx.insertJob(storedJob(3));
      });
      expect((await store.listJobs({ limit: 10 })).jobs.map((j) => j.id)).toEqual(['j-3', 'j-2', 'j-1']);
      expect(await store.events(1, 10)).toEqual([]);
    });

    it('stopAtFirstFailure: commits a straight line of writes; one that fails fails it whole, even if fn caught the failure', async () => {
      const straight = { stopAtFirstFailure: true };
      await store.insertJob(storedJob(1));
      await store.transaction(async (tx) => {
        await tx.insertJob(storedJob(2));
        await tx.insertRun({ jobId: 'j-2', start: 5, end: null, flavor: 'h100', placement: [{ node: 'n1', gpus: 1 }], outcome: null });
        await tx.updateJob({ ...storedJob(2), status: 'running' });
        // New jobs (PostgreSQL: one statement that fences itself) take no savepoint either.
        await tx.insertNewJob({ ...storedJob(0), idempotencyKey: null });
      }, straight);
      expect((await store.listJobs({ limit: 10 })).jobs.map((j) => [j.id, j.status])).toEqual([['j-3', 'pending'], ['j-2', 'running'], ['j-1', 'pending']]);
      expect((await store.runsOf('j-2')).map((r) => r.start)).toEqual([5]);
      const uncaught = await storageError(
        store.transaction(async (tx) => {
          await tx.insertJob(storedJob(4));
          await tx.insertJob(storedJob(1));
        }, straight),
      );
      expect(uncaught.code).toBe('constraint');
      // fn catches the failure and goes on: nothing of the transaction is committed, the failure is thrown.
      const caught = await storageError(
        store.transaction(async (tx) => {
          await tx.insertJob(storedJob(5));
          expect((await storageError(tx.insertJob(storedJob(1)))).code).toBe('constraint');
          await tx.insertJob(storedJob(6)).catch(() => undefined); // PostgreSQL: refused, the transaction is aborted
        }, straight),
      );
      expect(caught.code).toBe('constraint');
      expect((await store.listJobs({ limit: 10 })).jobs.map((j) => j.id)).toEqual(['j-3', 'j-2', 'j-1']);
      await store.insertJob(storedJob(7));
      expect((await store.getJob('j-7'))?.id).toBe('j-7');
    });

    it('runs transactions one at a time; outside, writes wait and reads see only committed data', async () => {
      const log: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let inserted!: () => void;
      const firstInserted = new Promise<void>((resolve) => (inserted = resolve));
      const first = store.transaction(async (tx) => {
        log.push('first begins');
        await tx.insertJob(storedJob(1));
        inserted();
        await gate;
        log.push('first ends');
      });
      const second = store.transaction(async (tx) => {
        log.push('second begins');
        await tx.insertJob(storedJob(2));
        log.push('second ends');
      });
      const outsideWrite = store.insertJob(storedJob(3)).then(() => log.push('outside write'));
      await firstInserted;
      // Give the others every chance to run (they must not): macrotask turns and a round trip.
      await turns(5);
      expect(await store.getJob('j-1')).toBeNull(); // not committed yet
      await turns(5);
      expect(log).toEqual(['first begins']);
      release();
      await Promise.all([first, second, outsideWrite]);
      expect(log).toEqual(['first begins', 'first ends', 'second begins', 'second ends', 'outside write']);
      expect((await store.listJobs({ limit: 10 })).jobs.map((j) => j.id)).toEqual(['j-3', 'j-2', 'j-1']);
    });

    it('refuses a nested transaction, and a view used after its transaction ended', async () => {
      let kept: Store | undefined;
      const nested = await storageError(
        store.transaction(async (tx) => {
          kept = tx;
          await store.transaction(() => Promise.resolve());
        }),
      );
      expect(nested.code).toBe('nested_transaction');
      expect((await storageError(kept!.insertJob(storedJob(1)))).code).toBe('transaction_closed');
      expect(await store.getJob('j-1')).toBeNull();
      const viaView = await storageError(store.transaction((tx) => tx.transaction(() => Promise.resolve())));
      expect(viaView.code).toBe('nested_transaction');
    });
  });

  it('refuses work once closed', async () => {
    await store.close();
    expect((await storageError(store.getJob('j-1'))).code).toBe('closed');
    expect((await storageError(store.insertJob(storedJob(1)))).code).toBe('closed');
    expect((await storageError(store.transaction(() => Promise.resolve()))).code).toBe('closed');
    await store.close(); // twice is fine
  });
});

// ------------------------------------------------------------------ PostgreSQL only

describe('the postgres store: migrations and faults', () => {
  let pgCluster: PgCluster;
  beforeAll(async () => {
    pgCluster = await startPgCluster();
  }, 120_000);
  afterAll(async () => {
    await pgCluster?.stop();
  });

  async function query(url: string, sql: string): Promise<unknown[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<Record<string, unknown>>(sql)).rows;
    } finally {
      await client.end();
    }
  }

  it('brings a fresh database to the last schema version, with every table, once even when two migrate at once', async () => {
    const url = await pgCluster.createDatabase();
    const [a, b] = await Promise.all([openPostgresStore(url), openPostgresStore(url)]);
    try {
      await Promise.all([a.migrate(), b.migrate()]);
      await a.migrate();
      const tables = (await query(
        url,
        `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`,
      )) as { tablename: string }[];
      expect(tables.map((t) => t.tablename)).toEqual([
        'audit_checkpoints',
        'audit_leaves',
        'events',
        'fleet_versions',
        'impact_reports',
        'job_reasons',
        'jobs',
        'leader',
        'meta',
        'policy_versions',
        'proposal_comments',
        'proposals',
        'runs',
        'tokens',
      ]);
      expect(await query(url, `SELECT value FROM meta`)).toEqual([{ value: String(PG_SCHEMA_VERSION) }]);
      const indexes = (await query(
        url,
        `SELECT indexname FROM pg_indexes WHERE tablename = 'jobs' ORDER BY indexname`,
      )) as { indexname: string }[];
      expect(indexes.map((i) => i.indexname)).toEqual(
        expect.arrayContaining([
          'jobs_by_idempotency',
          'jobs_by_status',
          'jobs_by_team',
          'jobs_by_team_status',
        ]),
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('refuses a database written by a newer Arbiter, with a clear message', async () => {
    const url = await pgCluster.createDatabase();
    const store = await openPostgresStore(url);
    try {
      await store.migrate();
      await query(url, `UPDATE meta SET value = '99' WHERE key = 'schema_version'`);
      const error = await storageError(store.migrate());
      expect([error.code, error.retryable]).toEqual(['schema_too_new', false]);
      expect(error.message).toContain(`schema version 99, newer than the ${PG_SCHEMA_VERSION} this Arbiter knows`);
    } finally {
      await store.close();
    }
  });

  it('reports a server that does not answer, and a missing database, as typed faults; never shows a password', async () => {
    const refused = await storageError(
      openPostgresStore('postgres://ada:hunter2@127.0.0.1:1/arbiter', { connectTimeoutMs: 2000 }),
    );
    expect([refused.code, refused.retryable]).toEqual(['connection', true]);
    expect(refused.message).not.toContain('hunter2');
    const missing = await storageError(openPostgresStore(pgCluster.url('no_such_database')));
    expect([missing.code, missing.retryable]).toEqual(['cantopen', false]);
  });

  it('refuses a connection that would round floats (extra_float_digits below 1, set in the URL)', async () => {
    const url = await pgCluster.createDatabase();
    const error = await storageError(
      openPostgresStore(`${url}?options=${encodeURIComponent('-c extra_float_digits=0')}`),
    );
    expect([error.code, error.retryable]).toEqual(['misconfigured', false]);
    expect(error.message).toMatch(/extra_float_digits is 0/);
  });

  it('maps pg errors to stable codes and keeps the cause', () => {
    const cases: [string, string, boolean][] = [
      ['23505', 'constraint', false],
      ['23001', 'constraint', false],
      ['22P02', 'constraint', false],
      ['40001', 'busy', true],
      ['40P01', 'busy', true],
      ['57P01', 'connection', true],
      ['08006', 'connection', true],
      ['53100', 'full', false],
      ['25006', 'readonly', false],
      ['XX001', 'corrupt', false],
      ['42601', 'postgres', false],
    ];
    for (const [sqlstate, code, retryable] of cases) {
      const cause = new pg.DatabaseError('it went wrong', 0, 'error');
      cause.code = sqlstate;
      const error = pgStorageErrorOf(cause, 'storing job j-1');
      expect([
        sqlstate,
        (error as StorageError).code,
        (error as StorageError).retryable,
        error.cause,
      ]).toEqual([sqlstate, code, retryable, cause]);
      expect(error.message).toBe(`storing job j-1: it went wrong (SQLSTATE ${sqlstate})`);
    }
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect([
      (pgStorageErrorOf(reset, 'x') as StorageError).code,
      (pgStorageErrorOf(reset, 'x') as StorageError).retryable,
    ]).toEqual(['connection', true]);
    const terminated = pgStorageErrorOf(new Error('Connection terminated unexpectedly'), 'x') as StorageError;
    expect([terminated.code, terminated.retryable]).toEqual(['connection', true]);
    const bug = new TypeError('not a fault');
    expect(pgStorageErrorOf(bug, 'x')).toBe(bug);
  });

  it('reports a connection killed by the server as retryable, and works again afterwards', async () => {
    const url = await pgCluster.createDatabase();
    const store = await openPostgresStore(url);
    try {
      await store.migrate();
      const killed = store.transaction(async (tx) => {
        await tx.insertJob(storedJob(1));
        await query(
          url,
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        );
        await tx.insertJob(storedJob(2));
      });
      const error = await storageError(killed);
      expect(error.retryable).toBe(true);
      expect(await store.getJob('j-1')).toBeNull();
      await store.insertJob(storedJob(3));
      expect((await store.getJob('j-3'))?.id).toBe('j-3');
    } finally {
      await store.close();
    }
  });

  it("fences a leader's writes: none while its lock is lost, none once the epoch moved on (storage/leadership.ts)", async () => {
    const url = await pgCluster.createDatabase();
    const store = await openPostgresStore(url);
    try {
      await store.migrate();
      await query(url, `INSERT INTO leader (id, epoch, installation) VALUES (1, 7, 'test')`);
      const guard = { held: true, epoch: 7 };
      store.fence(guard);
      await store.insertJob(storedJob(1)); // its epoch: written
      await store.transaction(async (tx) => tx.insertJob(storedJob(2)));
      // New jobs: one statement that checks the fence itself (no BEGIN), in and out of a transaction.
      const fresh = ({ id: _id, seq: _seq, ...job }: StoredJob): Omit<StoredJob, 'id' | 'seq'> => ({ ...job, idempotencyKey: null });
      expect(await store.insertNewJobs([fresh(storedJob(0)), fresh(storedJob(0))])).toEqual([{ id: 'j-3', seq: 3 }, { id: 'j-4', seq: 4 }]);
      expect(await store.transaction((tx) => tx.insertNewJob(fresh(storedJob(0))))).toEqual({ id: 'j-5', seq: 5 });
      guard.held = false; // the lock's connection failed: refused here, before the database
      for (const write of [store.insertJob(storedJob(6)), store.insertNewJobs([fresh(storedJob(0))])]) {
        const whileLost = await storageError(write);
        expect([whileLost.code, whileLost.retryable]).toEqual(['not_leader', true]);
      }
      guard.held = true;
      await query(url, 'UPDATE leader SET epoch = 8'); // another server took over
      for (const write of [
        store.insertJob(storedJob(6)),
        store.transaction(async (tx) => tx.insertJob(storedJob(7))),
        store.updateJob({ ...storedJob(1), status: 'running' }),
        store.insertNewJobs([fresh(storedJob(0)), fresh(storedJob(0))]),
        store.insertNewJob(fresh(storedJob(0))),
        store.transaction((tx) => tx.insertNewJob(fresh(storedJob(0)))),
      ]) {
        const error = await storageError(write);
        expect([error.code, error.retryable]).toEqual(['not_leader', true]);
        expect(error.message).toContain('no longer the leader');
      }
      expect(await query(url, 'SELECT id, status FROM jobs ORDER BY seq')).toEqual(
        [1, 2, 3, 4, 5].map((n) => ({ id: `j-${n}`, status: storedJob(1).status })),
      );
      // Reads are not fenced (a deposed leader still answers what it read until it closes).
      expect((await store.getJob('j-2'))?.id).toBe('j-2');
    } finally {
      await store.close();
    }
  });
});
