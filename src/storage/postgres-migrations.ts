// Schema migrations of the PostgreSQL store: the same tables and columns as SQLite's
// (migrations.ts), in PostgreSQL's types, as an ordered list of steps applied like SQLite's:
// each in its own transaction together with the new `schema_version` (in `meta`), serialized
// between processes by an advisory lock. Running them again is a no-op; a database written by a
// newer Arbiter is refused. Steps are never edited once released: a change is a new step.
//
// Type choices, and why:
// - Every INTEGER is BIGINT (SQLite's integers are 64-bit); the store reads int8 as a JS number.
// - Every REAL is DOUBLE PRECISION, so a time comes back as the very JS number that was stored
//   (the audit log hashes the events' canonical JSON, `at` included).
// - JSON columns are `json`, not `jsonb`: json keeps the text as written (key order, duplicate
//   keys, \u0000 escapes) and only checks it, like SQLite's TEXT with json_valid().
// - Append-only tables refuse UPDATE, DELETE and TRUNCATE with a trigger that raises
//   restrict_violation (SQLSTATE 23001), a constraint fault like SQLite's RAISE(ABORT).
// - `rowid` in tokens stands for SQLite's implicit rowid: listTokens gives creation order.
import type pg from 'pg';

import type { Migration } from './migrations.js';
import { StorageError } from './port.js';

const appendOnly = (table: string): string => `
  CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table}
    FOR EACH ROW EXECUTE FUNCTION arbiter_append_only();
  CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table}
    FOR EACH ROW EXECUTE FUNCTION arbiter_append_only();
  CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table}
    FOR EACH STATEMENT EXECUTE FUNCTION arbiter_append_only();
`;

/**
 * Key of the transaction-scoped advisory lock that numbers new jobs (apart from the store's
 * APPEND_LOCK); migration 6's function takes it. Never changes: a running server of an older
 * build takes the same key.
 */
export const JOB_NUMBER_LOCK = 0x4a4f4253;

export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'jobs, runs, tokens, events, policy and fleet versions',
    sql: `
      CREATE FUNCTION arbiter_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% is append-only: rows are never %', TG_TABLE_NAME,
          CASE TG_OP WHEN 'UPDATE' THEN 'updated' WHEN 'DELETE' THEN 'deleted' ELSE 'truncated' END
          USING ERRCODE = 'restrict_violation';
      END $$;

      CREATE TABLE jobs (
        seq             BIGINT PRIMARY KEY CHECK (seq >= 1),
        id              TEXT   NOT NULL UNIQUE,
        name            TEXT,
        team            TEXT   NOT NULL,
        class           TEXT   NOT NULL,
        flavor          TEXT,
        gpus            BIGINT NOT NULL,
        duration        DOUBLE PRECISION,
        time_limit      DOUBLE PRECISION,
        command         TEXT,
        submitted_by    TEXT   NOT NULL,
        submitted_at    DOUBLE PRECISION NOT NULL,
        idempotency_key TEXT,
        status          TEXT   NOT NULL CHECK (status IN
                          ('pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out', 'rejected')),
        started_at      DOUBLE PRECISION,
        ended_at        DOUBLE PRECISION,
        preemptions     BIGINT NOT NULL,
        attained        DOUBLE PRECISION NOT NULL,
        run_flavor      TEXT,
        run_start       DOUBLE PRECISION,
        placement       JSON,
        reason_code     TEXT,
        reason_message  TEXT,
        expected_start  DOUBLE PRECISION,
        reject_reason   TEXT,
        exit_code       BIGINT,
        kept_work       DOUBLE PRECISION NOT NULL
      );
      -- GET /v1/jobs?team=&status=, newest first (the primary key walks "newest first" alone);
      -- jobs_by_status also finds the unfinished jobs at recovery.
      CREATE INDEX jobs_by_team ON jobs (team, seq DESC);
      CREATE INDEX jobs_by_status ON jobs (status, seq DESC);
      CREATE INDEX jobs_by_team_status ON jobs (team, status, seq DESC);
      -- Idempotency-Key: one job per (user, key); the loser of a race gets a constraint fault.
      CREATE UNIQUE INDEX jobs_by_idempotency ON jobs (submitted_by, idempotency_key)
        WHERE idempotency_key IS NOT NULL;

      CREATE TABLE runs (
        id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id    TEXT   NOT NULL REFERENCES jobs (id),
        start_at  DOUBLE PRECISION NOT NULL,
        end_at    DOUBLE PRECISION,
        flavor    TEXT   NOT NULL,
        placement JSON   NOT NULL,
        outcome   TEXT   CHECK (outcome IN
                    ('completed', 'preempted', 'timed_out', 'failed', 'cancelled', 'requeued')),
        CHECK ((end_at IS NULL) = (outcome IS NULL))
      );
      CREATE INDEX runs_by_job ON runs (job_id, id);
      -- At most one open run per job.
      CREATE UNIQUE INDEX runs_open ON runs (job_id) WHERE end_at IS NULL;

      CREATE TABLE tokens (
        rowid      BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id         TEXT PRIMARY KEY,
        hash       TEXT NOT NULL UNIQUE,
        "user"     TEXT NOT NULL,
        role       TEXT NOT NULL CHECK (role IN ('viewer', 'member', 'lead', 'council', 'admin')),
        team       TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION
      );

      -- The change log that governance's audit log builds on: append-only, enforced below.
      -- seq is numbered by the store (last + 1 under a lock), not by a sequence: a sequence
      -- leaves gaps after a rollback, and the audit log needs seq = position, from 1.
      CREATE TABLE events (
        seq     BIGINT PRIMARY KEY CHECK (seq >= 1),
        at      DOUBLE PRECISION NOT NULL,
        actor   TEXT NOT NULL,
        kind    TEXT NOT NULL,
        subject TEXT NOT NULL,
        reason  TEXT NOT NULL,
        data    JSON NOT NULL
      );
      ${appendOnly('events')}

      CREATE TABLE policy_versions (
        version    BIGINT PRIMARY KEY CHECK (version >= 1),
        text       TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        actor      TEXT NOT NULL,
        reason     TEXT NOT NULL
      );
      ${appendOnly('policy_versions')}

      CREATE TABLE fleet_versions (
        version    BIGINT PRIMARY KEY CHECK (version >= 1),
        text       TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        actor      TEXT NOT NULL,
        reason     TEXT NOT NULL
      );
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
        seq        BIGINT PRIMARY KEY CHECK (seq >= 1),
        id         TEXT NOT NULL UNIQUE,
        status     TEXT NOT NULL,
        doc        JSON NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
      );

      -- Impact reports, content-addressed: hash = SHA-256 of the canonical JSON.
      CREATE TABLE impact_reports (
        hash TEXT PRIMARY KEY,
        doc  JSON NOT NULL
      );
      ${appendOnly('impact_reports')}

      -- The audit log's leaves (RFC 6962 leaf hashes of the events' canonical JSON, seq = index
      -- + 1) and its signed checkpoints.
      CREATE TABLE audit_leaves (
        seq  BIGINT PRIMARY KEY CHECK (seq >= 1),
        hash TEXT NOT NULL
      );
      ${appendOnly('audit_leaves')}

      CREATE TABLE audit_checkpoints (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        size       BIGINT NOT NULL CHECK (size >= 0),
        root       TEXT NOT NULL,
        time       TEXT NOT NULL,
        signature  TEXT NOT NULL,
        public_key TEXT NOT NULL
      );
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
        proposal TEXT             NOT NULL,
        n        BIGINT           NOT NULL CHECK (n >= 1),
        actor    TEXT             NOT NULL,
        text     TEXT             NOT NULL,
        at       DOUBLE PRECISION NOT NULL,
        revision BIGINT           NOT NULL,
        legacy   BOOLEAN          NOT NULL DEFAULT FALSE,
        PRIMARY KEY (proposal, n)
      );
      ${appendOnly('proposal_comments')}
      INSERT INTO proposal_comments (proposal, n, actor, text, at, revision, legacy)
        SELECT p.id, c.ord, c.value->>'actor', c.value->>'text', (c.value->>'at')::double precision,
               (c.value->>'revision')::bigint, TRUE
        FROM proposals p, json_array_elements(p.doc->'comments') WITH ORDINALITY AS c(value, ord)
        WHERE json_typeof(p.doc->'comments') = 'array';
      UPDATE proposals SET doc = (doc::jsonb - 'comments')::json WHERE doc->'comments' IS NOT NULL;
    `,
  },
  {
    version: 5,
    description: 'the leader of several servers on one database, and the fence of its writes',
    sql: `
      -- One row: the server that leads (storage/leadership.ts). Every new leader increments the
      -- epoch on its lock connection; installation is the id every server shares (the executors
      -- mark their runs with it, so a new leader finds the runs of the one before).
      CREATE TABLE leader (
        id           INTEGER          PRIMARY KEY CHECK (id = 1),
        epoch        BIGINT           NOT NULL CHECK (epoch >= 1),
        url          TEXT,
        pid          INTEGER,
        host         TEXT,
        since        DOUBLE PRECISION,
        installation TEXT             NOT NULL
      );
      -- First statement of every write transaction of a leader: the row FOR SHARE, so a new
      -- leader's increment waits for the transactions of the old one, and every later one fails
      -- (SQLSTATE AR001: the store's not_leader fault).
      CREATE FUNCTION arbiter_fence(mine BIGINT) RETURNS void LANGUAGE plpgsql AS $$
      DECLARE
        current BIGINT;
      BEGIN
        SELECT epoch INTO current FROM leader WHERE id = 1 FOR SHARE;
        IF current IS DISTINCT FROM mine THEN
          RAISE EXCEPTION 'this server is no longer the leader (its epoch is %, the database''s %): another server took over', mine, current
            USING ERRCODE = 'AR001';
        END IF;
      END $$;
    `,
  },
  {
    version: 6,
    description: 'new jobs stored in one round trip: fence, numbering lock and multi-row insert in one function',
    sql: `
      -- A batch of new jobs (the group commit of POST /v1/jobs) in one statement, so that it is
      -- one round trip and, sent alone, a transaction of its own (committed before the answer):
      -- the leader's fence (mine: its epoch; NULL for a process that does not lead, e.g. the CLI),
      -- then the numbering lock, then one INSERT of every row of batch (a JSON array, each row
      -- with its position i from 1), numbered last + i. A VOLATILE function takes a new snapshot
      -- per statement, so the INSERT reads MAX(seq) after the lock is held: a second process
      -- waits for the lock, then sees these rows. Returns each row's id and seq.
      CREATE OR REPLACE FUNCTION arbiter_insert_jobs(mine BIGINT, batch JSON)
        RETURNS TABLE (new_id TEXT, new_seq BIGINT) LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        IF mine IS NOT NULL THEN
          PERFORM arbiter_fence(mine);
        END IF;
        PERFORM pg_advisory_xact_lock(${JOB_NUMBER_LOCK});
        RETURN QUERY
        INSERT INTO jobs AS j (seq, id, name, team, class, flavor, gpus, duration, time_limit, command,
          submitted_by, submitted_at, idempotency_key, idempotency_hash, status, started_at, ended_at,
          preemptions, attained, run_flavor, run_start, placement, reason_code, reason_message,
          expected_start, reject_reason, exit_code, kept_work)
        SELECT last.seq + r.i, 'j-' || (last.seq + r.i), r.name, r.team, r.class, r.flavor, r.gpus,
          r.duration, r.time_limit, r.command, r.submitted_by, r.submitted_at, r.idempotency_key,
          r.idempotency_hash, r.status, r.started_at, r.ended_at, r.preemptions, r.attained,
          r.run_flavor, r.run_start, r.placement, r.reason_code, r.reason_message, r.expected_start,
          r.reject_reason, r.exit_code, r.kept_work
        FROM (SELECT COALESCE(MAX(jobs.seq), 0) AS seq FROM jobs) AS last,
          json_to_recordset(batch) AS r (i bigint, name text, team text, class text, flavor text,
            gpus bigint, duration double precision, time_limit double precision, command text,
            submitted_by text, submitted_at double precision, idempotency_key text,
            idempotency_hash text, status text, started_at double precision, ended_at double precision,
            preemptions bigint, attained double precision, run_flavor text, run_start double precision,
            placement json, reason_code text, reason_message text, expected_start double precision,
            reject_reason text, exit_code bigint, kept_work double precision)
        ORDER BY r.i
        RETURNING j.id, j.seq;
      END $$;
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
        id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id  TEXT             NOT NULL REFERENCES jobs (id),
        at      DOUBLE PRECISION NOT NULL,
        code    TEXT             NOT NULL,
        message TEXT             NOT NULL
      );
      CREATE INDEX job_reasons_by_job ON job_reasons (job_id, id);
    `,
  },
];

/** The schema version this build writes and understands. */
export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/** Key of the advisory lock that serializes migrations between processes (any constant will do). */
export const MIGRATION_LOCK = 41_726_269_01;

const META = `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`;

/** The schema version of a database (0: empty), read through `client`. */
export async function pgSchemaVersion(client: pg.ClientBase): Promise<number> {
  const exists = await client.query<{ found: boolean }>(`SELECT to_regclass('meta') IS NOT NULL AS found`);
  if (exists.rows[0]?.found !== true) return 0;
  const { rows } = await client.query<{ value: string }>(
    `SELECT value FROM meta WHERE key = 'schema_version'`,
  );
  const row = rows[0];
  if (row === undefined) return 0;
  const version = Number(row.value);
  if (!Number.isSafeInteger(version) || version < 0)
    throw new StorageError('corrupt', `meta.schema_version is "${row.value}", not a version number`, false);
  return version;
}

/**
 * Brings the database to the last version of `migrations`; returns the versions before and after.
 * `client` must not be in a transaction. Each step runs in its own transaction, which takes the
 * migration lock and re-reads the version first, so two processes migrating one database at
 * once apply each step once. `name` names the database in messages.
 */
export async function runPgMigrations(
  client: pg.ClientBase,
  name: string,
  migrations: readonly Migration[] = PG_MIGRATIONS,
): Promise<{ from: number; to: number }> {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${i + 1} is numbered ${m.version}`);
  });
  const latest = migrations.length;
  const refuseNewer = (version: number): void => {
    if (version > latest)
      throw new StorageError(
        'schema_too_new',
        `the database ${name} has schema version ${version}, newer than the ${latest} this Arbiter knows: ` +
          'it was written by a newer Arbiter; run that version (or a newer one), or restore a backup',
        false,
      );
  };
  /** Runs f in a transaction holding the migration lock. */
  const locked = async <T>(f: () => Promise<T>): Promise<T> => {
    await client.query('BEGIN');
    try {
      await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
      const result = await f();
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  };
  const from = await locked(async () => {
    await client.query(META);
    return pgSchemaVersion(client);
  });
  refuseNewer(from);
  for (const step of migrations) {
    if (step.version <= from) continue;
    await locked(async () => {
      const current = await pgSchemaVersion(client);
      refuseNewer(current);
      if (current >= step.version) return; // another process got there first
      if (current !== step.version - 1)
        throw new StorageError(
          'corrupt',
          `schema version ${current} cannot take migration ${step.version}`,
          false,
        );
      await client.query(step.sql); // no parameters: the simple protocol, several statements
      await client.query(
        `INSERT INTO meta (key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [String(step.version)],
      );
    });
  }
  return { from, to: Math.max(from, await pgSchemaVersion(client)) };
}
