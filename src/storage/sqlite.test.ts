// The SQLite store against a real database file in a temporary folder.
// The durability test runs the built module (dist/) in a child process that kills itself with
// SIGKILL right after a write resolved: run `npx tsc -p tsconfig.build.json` first (npm test does).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { MIGRATIONS, runMigrations, schemaVersion } from './migrations.js';
import type { Migration } from './migrations.js';
import { StorageError } from './port.js';
import type { StoredJob, StoredRun, StoredToken, Store } from './port.js';
import { openSqliteStore, storageErrorOf } from './sqlite.js';
import type { SqliteStore } from './sqlite.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A pending job with every optional field null; `over` sets any field. */
function storedJob(seq: number, over: Partial<StoredJob> = {}): StoredJob {
  return {
    id: `j-${seq}`,
    seq,
    name: null,
    team: 'pretraining',
    class: 'training',
    flavor: null,
    gpus: 8,
    duration: null,
    timeLimit: null,
    command: null,
    submittedBy: 'ada',
    submittedAt: 1_700_000_000 + seq,
    idempotencyKey: null,
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
    ...over,
  };
}

/** A running job with every field set. */
const fullJob = (seq: number): StoredJob =>
  storedJob(seq, {
    name: 'llm-7b-run-3',
    team: 'research',
    class: 'research',
    flavor: 'h100',
    gpus: 16,
    duration: 3600.5,
    timeLimit: 7200,
    command: 'python train.py --lr 3e-4',
    submittedBy: 'grace',
    submittedAt: 1_700_000_123.456,
    idempotencyKey: 'key-1',
    status: 'running',
    startedAt: 1_700_000_200.25,
    endedAt: null,
    preemptions: 2,
    attained: 12_345.75,
    runFlavor: 'h100',
    runStart: 1_700_000_900.125,
    placement: [
      { node: 'h100-a-0', gpus: 8 },
      { node: 'h100-a-1', gpus: 8 },
    ],
    reasonCode: 'quota',
    reasonMessage: 'waiting for 8 GPUs of h100',
    expectedStart: 1_700_003_600,
    rejectReason: null,
    exitCode: null,
    keptWork: 1800.5,
  });

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

/** Resolves with the StorageError a promise rejects with (fails if it resolves or rejects otherwise). */
async function storageError(promise: Promise<unknown>): Promise<StorageError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof StorageError)) throw new Error(`expected a StorageError, got ${String(error)}`);
  return error;
}

let dir: string;
let file: string;
let store: SqliteStore;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'arbiter-sqlite-'));
  file = path.join(dir, 'data', 'nested', 'arbiter.db');
  store = await openSqliteStore(file);
  await store.migrate();
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A second, raw connection to the same file (as an operator's sqlite3 shell would be). */
function raw(): Database.Database {
  return new Database(file);
}

describe('opening and migrating', () => {
  it('creates the file and its folders, in WAL mode with synchronous FULL and foreign keys on', () => {
    expect(existsSync(file)).toBe(true);
    expect(store.settings()).toEqual({
      journalMode: 'wal',
      synchronous: 'full',
      busyTimeoutMs: 5000,
      foreignKeys: true,
    });
  });

  it('brings a fresh database to the last schema version, with every table', () => {
    const db = raw();
    try {
      expect(schemaVersion(db)).toBe(MIGRATIONS.length);
      const tables = (
        db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`).all() as {
          name: string;
        }[]
      ).map((t) => t.name);
      expect(tables).toEqual(
        [
          'audit_checkpoints',
          'audit_leaves',
          'events',
          'fleet_versions',
          'impact_reports',
          'jobs',
          'meta',
          'policy_versions',
          'proposals',
          'runs',
          'sqlite_sequence',
          'tokens',
        ].sort(),
      );
    } finally {
      db.close();
    }
  });

  it('migrates again as a no-op, keeping what is stored, also after reopening', async () => {
    await store.insertJob(storedJob(1));
    await store.migrate();
    await store.close();
    store = await openSqliteStore(file);
    await store.migrate();
    expect(await store.getJob('j-1')).toEqual(storedJob(1));
    const db = raw();
    try {
      expect(schemaVersion(db)).toBe(MIGRATIONS.length);
      expect(runMigrations(db)).toEqual({ from: MIGRATIONS.length, to: MIGRATIONS.length });
    } finally {
      db.close();
    }
  });

  it('applies only the steps a database lacks, each in its own transaction', () => {
    const db = new Database(path.join(dir, 'steps.db'));
    try {
      const one: Migration = { version: 1, description: 'a', sql: 'CREATE TABLE a (x INTEGER) STRICT;' };
      const two: Migration = { version: 2, description: 'b', sql: 'CREATE TABLE b (x INTEGER) STRICT;' };
      const broken: Migration = {
        version: 3,
        description: 'c',
        sql: 'CREATE TABLE c (x INTEGER); CREATE TABLE oops (',
      };
      expect(runMigrations(db, [one])).toEqual({ from: 0, to: 1 });
      expect(runMigrations(db, [one, two])).toEqual({ from: 1, to: 2 });
      expect(() => runMigrations(db, [one, two, broken])).toThrow();
      // The broken step left nothing behind: neither its first table nor a new version.
      expect(schemaVersion(db)).toBe(2);
      expect(db.prepare(`SELECT name FROM sqlite_schema WHERE name = 'c'`).get()).toBeUndefined();
    } finally {
      db.close();
    }
  });

  it('refuses a database written by a newer Arbiter, with a clear message', async () => {
    const db = raw();
    db.prepare(`UPDATE meta SET value = '99' WHERE key = 'schema_version'`).run();
    db.close();
    await store.close();
    store = await openSqliteStore(file);
    const error = await storageError(store.migrate());
    expect(error.code).toBe('schema_too_new');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(
      `schema version 99, newer than the ${MIGRATIONS.length} this Arbiter knows`,
    );
  });

  it('refuses a file that is not a database, as a typed fault', async () => {
    const bad = path.join(dir, 'not-a-db');
    writeFileSync(bad, 'just some text, long enough to look like a header '.repeat(4));
    const error = await storageError(openSqliteStore(bad).then((s) => s.migrate()));
    expect(error.code).toBe('corrupt');
    expect(error.cause).toBeInstanceOf(Database.SqliteError);
  });
});

describe('jobs', () => {
  it('stores and reads back whole jobs, every field set or every optional field null', async () => {
    await store.insertJob(fullJob(1));
    await store.insertJob(storedJob(2));
    expect(await store.getJob('j-1')).toEqual(fullJob(1));
    expect(await store.getJob('j-2')).toEqual(storedJob(2));
    expect(await store.getJob('j-3')).toBeNull();
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
    expect(twice.code).toBe('constraint');
    expect(twice.retryable).toBe(false);
    expect(twice.cause).toBeInstanceOf(Database.SqliteError);
  });

  it('finds a job by its submitter and idempotency key, one job per key and user', async () => {
    await store.insertJob(storedJob(1, { submittedBy: 'ada', idempotencyKey: 'nightly-42' }));
    await store.insertJob(storedJob(2, { submittedBy: 'grace', idempotencyKey: 'nightly-42' }));
    await store.insertJob(storedJob(3, { submittedBy: 'ada' }));
    await store.insertJob(storedJob(4, { submittedBy: 'ada' }));
    expect(await store.getJobByIdempotencyKey('ada', 'nightly-42')).toEqual(
      storedJob(1, { submittedBy: 'ada', idempotencyKey: 'nightly-42' }),
    );
    expect((await store.getJobByIdempotencyKey('grace', 'nightly-42'))?.id).toBe('j-2');
    expect(await store.getJobByIdempotencyKey('linus', 'nightly-42')).toBeNull();
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
});

describe('listing jobs', () => {
  // j-1..j-9: teams A, B, C in turn; every third (j-3, j-6, j-9) completed, the rest pending.
  beforeEach(async () => {
    await store.transaction(async (tx) => {
      for (let seq = 1; seq <= 9; seq++)
        await tx.insertJob(
          storedJob(seq, { team: 'ABC'[(seq - 1) % 3]!, status: seq % 3 === 0 ? 'completed' : 'pending' }),
        );
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
    const first = await store.listJobs({ limit: 4 });
    expect(first.jobs).toEqual(
      [9, 8, 7, 6].map((seq) =>
        storedJob(seq, { team: 'ABC'[(seq - 1) % 3]!, status: seq % 3 === 0 ? 'completed' : 'pending' }),
      ),
    );
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
      { ...open(100), end: 250.5, outcome: 'preempted' },
      open(300),
    ]);
    await store.closeRun('j-1', 400, 'completed');
    expect((await store.runsOf('j-1')).map((r) => [r.start, r.end, r.outcome])).toEqual([
      [100, 250.5, 'preempted'],
      [300, 400, 'completed'],
    ]);
    expect(await store.runsOf('j-2')).toEqual([]);
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

describe('tokens', () => {
  it('finds a token by its hash and lists tokens in creation order', async () => {
    await store.insertToken(token('t-1'), 'admin', 'first start');
    await store.insertToken(token('t-2', { user: 'root', role: 'admin', team: null }), 'admin', 'ops');
    expect(await store.tokenByHash(token('t-2').hash)).toEqual(
      token('t-2', { user: 'root', role: 'admin', team: null }),
    );
    expect(await store.tokenByHash('f'.repeat(64))).toBeNull();
    expect((await store.listTokens()).map((t) => t.id)).toEqual(['t-1', 't-2']);
    expect((await storageError(store.insertToken(token('t-3', { hash: token('t-1').hash })))).code).toBe(
      'constraint',
    );
  });

  it('appends token.create and token.revoke events without the hash, once per revocation', async () => {
    const secret = 'arb_s3cr3t';
    await store.insertToken(token('t-1', { hash: 'b'.repeat(64) }), 'root', 'new teammate');
    await store.revokeToken('t-1', 1_700_000_500, 'root', 'left the lab');
    await store.revokeToken('t-1', 1_700_000_600, 'root', 'again');
    expect(await store.tokenByHash('b'.repeat(64))).toEqual(
      token('t-1', { hash: 'b'.repeat(64), revokedAt: 1_700_000_500 }),
    );
    const data = { id: 't-1', user: 'ada', role: 'member', team: 'pretraining' };
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
    const db = raw();
    try {
      const stored = JSON.stringify(db.prepare('SELECT * FROM events').all());
      expect(stored).not.toContain('b'.repeat(16));
      expect(stored).not.toContain(secret);
    } finally {
      db.close();
    }
    expect((await storageError(store.revokeToken('t-404', 1, 'root', 'typo'))).code).toBe('not_found');
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
  });

  it('never lets an event (or a policy version) be updated or deleted, even through raw SQL', async () => {
    await store.appendEvent({ at: 1, actor: 'system', kind: 'test', subject: 's', reason: 'r', data: null });
    await store.putPolicy('teams: []', 'root', 'first', 1);
    await store.putFleet('pools: []', 'root', 'first', 1);
    const db = raw();
    try {
      for (const sql of [
        `UPDATE events SET actor = 'mallory'`,
        'DELETE FROM events',
        'DELETE FROM events WHERE seq = 1',
        `UPDATE policy_versions SET text = 'x'`,
        'DELETE FROM policy_versions',
        'DELETE FROM fleet_versions',
      ]) {
        expect(() => db.prepare(sql).run(), sql).toThrow(/append-only/);
      }
    } finally {
      db.close();
    }
    expect((await store.events(1, 10)).map((e) => [e.seq, e.actor])).toEqual([
      [1, 'system'],
      [2, 'root'],
      [3, 'root'],
    ]);
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
    expect(await store.putPolicy('teams: [a, b]', 'root', 'team b joins', 20)).toEqual({
      version: 2,
      text: 'teams: [a, b]',
      createdAt: 20,
      actor: 'root',
      reason: 'team b joins',
    });
    expect(await store.currentPolicy()).toEqual({
      version: 2,
      text: 'teams: [a, b]',
      createdAt: 20,
      actor: 'root',
      reason: 'team b joins',
    });
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
        at: 20,
        actor: 'root',
        kind: 'policy.version',
        subject: '2',
        reason: 'team b joins',
        data: { version: 2, sha256: sha('teams: [a, b]') },
      },
    ]);
  });
});

describe('transactions', () => {
  it('commits every write of fn together', async () => {
    const result = await store.transaction(async (tx) => {
      for (let seq = 1; seq <= 50; seq++) await tx.insertJob(storedJob(seq));
      await tx.insertRun({ jobId: 'j-1', start: 1, end: null, flavor: 'h100', placement: [], outcome: null });
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

  it('runs transactions one at a time; outside, writes wait and reads see only committed data', async () => {
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = store.transaction(async (tx) => {
      log.push('first begins');
      await tx.insertJob(storedJob(1));
      await gate;
      log.push('first ends');
    });
    const second = store.transaction(async (tx) => {
      log.push('second begins');
      await tx.insertJob(storedJob(2));
      log.push('second ends');
    });
    const outsideWrite = store.insertJob(storedJob(3)).then(() => log.push('outside write'));
    // Let everything that could run, run (macrotask turns, not a timer).
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['first begins']);
    expect(await store.getJob('j-1')).toBeNull(); // not committed yet
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
  });
});

describe('faults', () => {
  it('reports a write lock held by another process past the timeout as busy, retryable', async () => {
    await store.close();
    store = await openSqliteStore(file, { busyTimeoutMs: 20 });
    const other = raw();
    try {
      other.prepare('BEGIN IMMEDIATE').run();
      const direct = await storageError(store.insertJob(storedJob(1)));
      const inTransaction = await storageError(store.transaction(() => Promise.resolve()));
      for (const error of [direct, inTransaction]) {
        expect([error.code, error.retryable]).toEqual(['busy', true]);
        expect((error.cause as { code?: string }).code).toBe('SQLITE_BUSY');
      }
      other.prepare('ROLLBACK').run();
      await store.insertJob(storedJob(1));
      expect(await store.getJob('j-1')).toEqual(storedJob(1));
    } finally {
      other.close();
    }
  });

  it('maps better-sqlite3 errors to stable codes and keeps the cause', () => {
    const cases: [string, string, boolean][] = [
      ['SQLITE_BUSY', 'busy', true],
      ['SQLITE_BUSY_SNAPSHOT', 'busy', true],
      ['SQLITE_LOCKED', 'busy', true],
      ['SQLITE_FULL', 'full', false],
      ['SQLITE_IOERR_FSYNC', 'io', false],
      ['SQLITE_CONSTRAINT_UNIQUE', 'constraint', false],
      ['SQLITE_CORRUPT', 'corrupt', false],
      ['SQLITE_READONLY', 'readonly', false],
      ['SQLITE_CANTOPEN', 'cantopen', false],
      ['SQLITE_ERROR', 'sqlite', false],
    ];
    for (const [sqliteCode, code, retryable] of cases) {
      const cause = new Database.SqliteError('it went wrong', sqliteCode);
      const error = storageErrorOf(cause, 'storing job j-1');
      expect(error).toBeInstanceOf(StorageError);
      expect([
        sqliteCode,
        (error as StorageError).code,
        (error as StorageError).retryable,
        error.cause,
      ]).toEqual([sqliteCode, code, retryable, cause]);
      expect(error.message).toBe(`storing job j-1: it went wrong (${sqliteCode})`);
    }
    const bug = new TypeError('not a fault');
    expect(storageErrorOf(bug, 'x')).toBe(bug);
  });

  it('refuses work once closed', async () => {
    await store.close();
    expect((await storageError(store.getJob('j-1'))).code).toBe('closed');
    expect((await storageError(store.insertJob(storedJob(1)))).code).toBe('closed');
    await store.close(); // twice is fine
  });
});

describe('durability', () => {
  const SOURCES = ['storage/sqlite.ts', 'storage/migrations.ts', 'storage/port.ts'];

  it('keeps every write that resolved when the process is killed with SIGKILL right after', async () => {
    const stale = SOURCES.filter((source) => {
      const built = path.join(repoRoot, 'dist', source.replace(/\.ts$/, '.js'));
      return (
        !existsSync(built) || statSync(built).mtimeMs < statSync(path.join(repoRoot, 'src', source)).mtimeMs
      );
    });
    if (stale.length > 0)
      throw new Error(
        `dist/ is missing or older than src/${stale.join(', src/')}: run \`npx tsc -p tsconfig.build.json\` first (npm test does)`,
      );

    await store.close();
    rmSync(path.dirname(file), { recursive: true, force: true });
    const job = JSON.stringify(fullJob(1));
    const script = `
      const { openSqliteStore } = await import(process.argv[1]);
      const store = await openSqliteStore(process.argv[2]);
      await store.migrate();
      const job = ${job};
      await store.transaction(async (tx) => {
        for (let seq = 1; seq <= 100; seq++) await tx.insertJob({ ...job, id: 'j-' + seq, seq, idempotencyKey: 'k' + seq });
      });
      await store.putPolicy('teams: []', 'system', 'first start', 1);
      await store.insertJob({ ...job, id: 'j-101', seq: 101, idempotencyKey: null });
      process.kill(process.pid, 'SIGKILL');
    `;
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        script,
        pathToFileURL(path.join(repoRoot, 'dist/storage/sqlite.js')).href,
        file,
      ],
      { encoding: 'utf8' },
    );
    expect([child.signal, child.stderr]).toEqual(['SIGKILL', '']);
    // The WAL was never checkpointed: what is there comes from the log on reopening.
    expect(existsSync(`${file}-wal`)).toBe(true);

    store = await openSqliteStore(file);
    await store.migrate();
    expect(await store.nextJobSeq()).toBe(102);
    expect(await store.getJob('j-100')).toEqual({
      ...fullJob(1),
      id: 'j-100',
      seq: 100,
      idempotencyKey: 'k100',
    });
    expect(await store.getJob('j-101')).toEqual({
      ...fullJob(1),
      id: 'j-101',
      seq: 101,
      idempotencyKey: null,
    });
    expect((await store.currentPolicy())?.version).toBe(1);
    expect((await store.events(1, 10)).map((e) => e.kind)).toEqual(['policy.version']);
  });
});
