// The SQLite store against a real database file in a temporary folder: what is particular to
// SQLite (file, WAL, migrations, locks, error mapping, durability after SIGKILL). What every
// store must do is in store-contract.test.ts, run against SQLite and PostgreSQL alike.
// The durability test runs the built module (dist/) in a child process that kills itself with
// SIGKILL right after a write resolved: run `npx tsc -p tsconfig.build.json` first (npm test does).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { MIGRATIONS, runMigrations, schemaVersion } from './migrations.js';
import type { Migration } from './migrations.js';
import { StorageError } from './port.js';
import { openSqliteStore, storageErrorOf } from './sqlite.js';
import { fullJob, storedJob } from './test-fixtures.js';
import type { SqliteStore } from './sqlite.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');



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
          'job_reasons',
          'jobs',
          'meta',
          'policy_versions',
          'proposal_comments',
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
