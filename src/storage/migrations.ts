// Schema migrations of the SQLite store: an ordered list of SQL steps, applied in order, each in
// its own IMMEDIATE transaction together with the new `schema_version` (kept in the `meta` table).
// Running them again is a no-op; a database written by a newer Arbiter (a version above the last
// step here) is refused rather than guessed at. Steps are never edited once released: a change
// is a new step at the end.
import type Database from 'better-sqlite3';

import { StorageError } from './port.js';

export interface Migration {
  /** 1, 2, 3...: its position in MIGRATIONS. */
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

const appendOnly = (table: string): string => `
  CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table}
  BEGIN SELECT RAISE(ABORT, '${table} is append-only: rows are never updated'); END;
  CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table}
  BEGIN SELECT RAISE(ABORT, '${table} is append-only: rows are never deleted'); END;
`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'jobs, runs, tokens, events, policy and fleet versions',
    sql: `
      CREATE TABLE jobs (
        seq             INTEGER PRIMARY KEY CHECK (seq >= 1),
        id              TEXT    NOT NULL UNIQUE,
        name            TEXT,
        team            TEXT    NOT NULL,
        class           TEXT    NOT NULL,
        flavor          TEXT,
        gpus            INTEGER NOT NULL,
        duration        REAL,
        time_limit      REAL,
        command         TEXT,
        submitted_by    TEXT    NOT NULL,
        submitted_at    REAL    NOT NULL,
        idempotency_key TEXT,
        status          TEXT    NOT NULL CHECK (status IN
                          ('pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out', 'rejected')),
        started_at      REAL,
        ended_at        REAL,
        preemptions     INTEGER NOT NULL,
        attained        REAL    NOT NULL,
        run_flavor      TEXT,
        run_start       REAL,
        placement       TEXT    CHECK (placement IS NULL OR json_valid(placement)),
        reason_code     TEXT,
        reason_message  TEXT,
        expected_start  REAL,
        reject_reason   TEXT,
        exit_code       INTEGER,
        kept_work       REAL    NOT NULL
      ) STRICT;
      -- GET /v1/jobs?team=&status=, newest first (seq is the rowid: "newest first" alone needs no
      -- index); jobs_by_status also finds the unfinished jobs at recovery.
      CREATE INDEX jobs_by_team ON jobs (team, seq DESC);
      CREATE INDEX jobs_by_status ON jobs (status, seq DESC);
      CREATE INDEX jobs_by_team_status ON jobs (team, status, seq DESC);
      -- Idempotency-Key: one job per (user, key); the loser of a race gets a constraint fault.
      CREATE UNIQUE INDEX jobs_by_idempotency ON jobs (submitted_by, idempotency_key)
        WHERE idempotency_key IS NOT NULL;

      CREATE TABLE runs (
        id        INTEGER PRIMARY KEY,
        job_id    TEXT    NOT NULL REFERENCES jobs (id),
        start_at  REAL    NOT NULL,
        end_at    REAL,
        flavor    TEXT    NOT NULL,
        placement TEXT    NOT NULL CHECK (json_valid(placement)),
        outcome   TEXT    CHECK (outcome IN
                    ('completed', 'preempted', 'timed_out', 'failed', 'cancelled', 'requeued')),
        CHECK ((end_at IS NULL) = (outcome IS NULL))
      ) STRICT;
      CREATE INDEX runs_by_job ON runs (job_id, id);
      -- At most one open run per job.
      CREATE UNIQUE INDEX runs_open ON runs (job_id) WHERE end_at IS NULL;

      CREATE TABLE tokens (
        id         TEXT PRIMARY KEY,
        hash       TEXT NOT NULL UNIQUE,
        user       TEXT NOT NULL,
        role       TEXT NOT NULL CHECK (role IN ('viewer', 'member', 'lead', 'council', 'admin')),
        team       TEXT,
        created_at REAL NOT NULL,
        revoked_at REAL
      ) STRICT;

      -- The change log that governance's audit log builds on: append-only, enforced below.
      CREATE TABLE events (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        at      REAL NOT NULL,
        actor   TEXT NOT NULL,
        kind    TEXT NOT NULL,
        subject TEXT NOT NULL,
        reason  TEXT NOT NULL,
        data    TEXT NOT NULL CHECK (json_valid(data))
      ) STRICT;
      ${appendOnly('events')}

      CREATE TABLE policy_versions (
        version    INTEGER PRIMARY KEY CHECK (version >= 1),
        text       TEXT NOT NULL,
        created_at REAL NOT NULL,
        actor      TEXT NOT NULL,
        reason     TEXT NOT NULL
      ) STRICT;
      ${appendOnly('policy_versions')}

      CREATE TABLE fleet_versions (
        version    INTEGER PRIMARY KEY CHECK (version >= 1),
        text       TEXT NOT NULL,
        created_at REAL NOT NULL,
        actor      TEXT NOT NULL,
        reason     TEXT NOT NULL
      ) STRICT;
      ${appendOnly('fleet_versions')}
    `,
  },
  {
    version: 2,
    description: 'governance: proposals, impact reports, audit leaves and signed checkpoints',
    sql: `
      -- A proposal is one JSON document, rewritten at every step of its lifecycle; its history
      -- is in the append-only events (the audit log).
      CREATE TABLE proposals (
        seq        INTEGER PRIMARY KEY CHECK (seq >= 1),
        id         TEXT NOT NULL UNIQUE,
        status     TEXT NOT NULL,
        doc        TEXT NOT NULL CHECK (json_valid(doc)),
        updated_at REAL NOT NULL
      ) STRICT;

      -- Impact reports, content-addressed: hash = SHA-256 of the canonical JSON.
      CREATE TABLE impact_reports (
        hash TEXT PRIMARY KEY,
        doc  TEXT NOT NULL CHECK (json_valid(doc))
      ) STRICT;
      ${appendOnly('impact_reports')}

      -- The audit log's leaves (RFC 6962 leaf hashes of the events' canonical JSON, seq = index
      -- + 1) and its signed checkpoints. Verification recomputes the leaves from the events;
      -- these stored hashes only help it name the first edited entry.
      CREATE TABLE audit_leaves (
        seq  INTEGER PRIMARY KEY CHECK (seq >= 1),
        hash TEXT NOT NULL
      ) STRICT;
      ${appendOnly('audit_leaves')}

      CREATE TABLE audit_checkpoints (
        id         INTEGER PRIMARY KEY,
        size       INTEGER NOT NULL CHECK (size >= 0),
        root       TEXT NOT NULL,
        time       TEXT NOT NULL,
        signature  TEXT NOT NULL,
        public_key TEXT NOT NULL
      ) STRICT;
      ${appendOnly('audit_checkpoints')}
    `,
  },
  {
    version: 3,
    description: 'jobs keep the hash of the body sent with an Idempotency-Key',
    sql: `
      -- The SHA-256 of the canonical body submitted with an Idempotency-Key: the same key with
      -- another body is refused (409). Jobs stored before have none and are compared field by field.
      ALTER TABLE jobs ADD COLUMN idempotency_hash TEXT;
    `,
  },
  {
    version: 4,
    description: 'comments in a table of their own, moved out of the proposal documents',
    sql: `
      -- A comment is one row, inserted once: adding one rewrites neither the proposal's document
      -- nor its other comments. Those embedded in the documents until now move here, in their
      -- order, marked legacy (the log vouches for them through the document's digest).
      CREATE TABLE proposal_comments (
        proposal TEXT    NOT NULL,
        n        INTEGER NOT NULL CHECK (n >= 1),
        actor    TEXT    NOT NULL,
        text     TEXT    NOT NULL,
        at       REAL    NOT NULL,
        revision INTEGER NOT NULL,
        legacy   INTEGER NOT NULL DEFAULT 0 CHECK (legacy IN (0, 1)),
        PRIMARY KEY (proposal, n)
      ) STRICT;
      ${appendOnly('proposal_comments')}
      INSERT INTO proposal_comments (proposal, n, actor, text, at, revision, legacy)
        SELECT p.id, c.key + 1, json_extract(c.value, '$.actor'), json_extract(c.value, '$.text'),
               json_extract(c.value, '$.at'), json_extract(c.value, '$.revision'), 1
        FROM proposals p, json_each(p.doc, '$.comments') c;
      UPDATE proposals SET doc = json_remove(doc, '$.comments') WHERE json_type(doc, '$.comments') IS NOT NULL;
    `,
  },
  {
    version: 5,
    description: 'nothing for SQLite (PostgreSQL adds the leader of several servers): both stores keep one schema version',
    sql: `
      -- One server per data directory (storage/lock.ts): no leader, no fence.
      SELECT 1;
    `,
  },
  {
    version: 6,
    description: 'nothing for SQLite (PostgreSQL stores a batch of new jobs through a function): both stores keep one schema version',
    sql: `
      -- SQLite numbers new jobs in its own write transaction (sqlite.ts insertNewJobs).
      SELECT 1;
    `,
  },
  {
    version: 7,
    description: 'who took a preempted run\'s GPUs and why, and the history of pending jobs\' reasons',
    sql: `
      ALTER TABLE runs ADD COLUMN preempted_by TEXT;
      ALTER TABLE runs ADD COLUMN preempted_by_team TEXT;
      ALTER TABLE runs ADD COLUMN preempted_by_class TEXT;
      ALTER TABLE runs ADD COLUMN preempt_cause TEXT CHECK (preempt_cause IN ('reclaim', 'withinTeam', 'priority'));
      CREATE INDEX runs_by_preemptor ON runs (preempted_by) WHERE preempted_by IS NOT NULL;
      CREATE TABLE job_reasons (
        id      INTEGER PRIMARY KEY,
        job_id  TEXT    NOT NULL REFERENCES jobs (id),
        at      REAL    NOT NULL,
        code    TEXT    NOT NULL,
        message TEXT    NOT NULL
      ) STRICT;
      CREATE INDEX job_reasons_by_job ON job_reasons (job_id, id);
    `,
  },
];

/** The schema version this build writes and understands. */
export const SCHEMA_VERSION = MIGRATIONS.length;

const META = `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT`;

/** The schema version of a database (0: empty). */
export function schemaVersion(db: Database.Database): number {
  const row = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as
    { value: string } | undefined;
  if (row === undefined) return 0;
  const version = Number(row.value);
  if (!Number.isSafeInteger(version) || version < 0)
    throw new StorageError('corrupt', `meta.schema_version is "${row.value}", not a version number`, false);
  return version;
}

/**
 * Brings the database to the last version of `migrations`; returns the versions before and after.
 * Each step runs in its own IMMEDIATE transaction, which re-reads the version first, so two
 * processes migrating one file at once apply each step once.
 */
export function runMigrations(
  db: Database.Database,
  migrations: readonly Migration[] = MIGRATIONS,
): { from: number; to: number } {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${i + 1} is numbered ${m.version}`);
  });
  const latest = migrations.length;
  db.transaction(() => db.exec(META)).immediate();
  const from = schemaVersion(db);
  const refuseNewer = (version: number): void => {
    if (version > latest)
      throw new StorageError(
        'schema_too_new',
        `the database ${db.name} has schema version ${version}, newer than the ${latest} this Arbiter knows: ` +
          'it was written by a newer Arbiter; run that version (or a newer one), or restore a backup',
        false,
      );
  };
  refuseNewer(from);
  const setVersion = db.prepare(
    `INSERT INTO meta (key, value) VALUES ('schema_version', ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
  );
  for (const step of migrations) {
    if (step.version <= from) continue;
    db.transaction(() => {
      const current = schemaVersion(db);
      refuseNewer(current);
      if (current >= step.version) return; // another process got there first
      if (current !== step.version - 1)
        throw new StorageError(
          'corrupt',
          `schema version ${current} cannot take migration ${step.version}`,
          false,
        );
      db.exec(step.sql);
      setVersion.run(String(step.version));
    }).immediate();
  }
  return { from, to: Math.max(from, schemaVersion(db)) };
}
