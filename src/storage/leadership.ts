// One leader, hot standbys: several `arbiter serve` on one PostgreSQL database
// (docs/architecture.md, "One leader, hot standbys"). Exactly one server, the leader, holds a
// session advisory lock on a connection of its own; it alone schedules and writes. The others
// are standbys: they try the lock every second (pg_try_advisory_lock) and take over as soon as
// PostgreSQL releases it, which it does when the leader's session ends (kill -9, a lost host
// once TCP keepalives give up, a cut connection).
//
// Fencing. A leader that lost its lock's connection must not write on: another may lead by
// then. Two guards:
// - in this process, `held` turns false the moment the lock's connection fails (an error, its
//   end, or a heartbeat unanswered for 3 s); the store refuses every write while it is false;
// - in the database, the leader row carries an epoch that every new leader increments (on its
//   lock connection, after taking the lock) and every write transaction of a leader checks
//   first (arbiter_fence(epoch), which takes the leader row FOR SHARE). The increment waits
//   for the old leader's open write transactions and every later one fails: whatever the old
//   leader committed is committed before the new one recovers, and nothing after.
// A leader whose lock's connection fails tries to take the lock again every second (an outage
// of the database is ridden out this way); if it gets it and the epoch is still its own, nobody
// led meanwhile and it goes on where it was; if another server holds the lock or the epoch
// moved on, it is deposed (`deposed` resolves) and must close down and start again as a
// standby (its memory of the jobs is stale).
import { hostname } from 'node:os';

import pg from 'pg';

import { redactUrl } from './open.js';
import { pgStorageErrorOf } from './postgres.js';

/** The advisory lock's key (two int4): "ARBI" and 1, the live server. */
export const LEADER_LOCK_KEY = [0x41524249, 1] as const;

/** How often a standby tries the lock, and a leader checks its lock's connection (ms). */
export const POLL_MS = 1000;
/** A heartbeat unanswered for this long counts as a lost connection (ms). */
const HEARTBEAT_TIMEOUT_MS = 3000;

/** Who leads, as a standby sees it. */
export interface LeaderInfo {
  /** Where the leader serves (null: not recorded yet, e.g. still recovering). */
  readonly url: string | null;
  readonly pid: number | null;
  readonly host: string | null;
  readonly epoch: number | null;
  /** Described in words (the leader row, or the lock holder's session in pg_stat_activity). */
  readonly description: string;
}

/** The name a server gives its lock connection (at most 63 bytes are kept by PostgreSQL). */
const applicationName = (): string => `arbiter serve pid ${process.pid} on ${hostname()}`.slice(0, 63);

export interface Leadership {
  /** True while this process holds the lock and its connection is known alive. */
  readonly held: boolean;
  /** How often a standby tries the lock (ms). */
  readonly pollMs: number;
  /** The epoch this process leads in (0 before `lead`). */
  readonly epoch: number;
  /** The installation's id (shared by every server on the database; from `lead`). */
  readonly installation: string;
  /** Tries the lock once; true when this process holds it now. */
  tryAcquire(): Promise<boolean>;
  /** The leader as recorded in the database, or the holder of the lock; null when nobody leads. */
  leader(): Promise<LeaderInfo | null>;
  /**
   * Becomes the leader (call with the lock held, after the schema is migrated): increments the
   * epoch, waiting for the previous leader's open write transactions, and records this server
   * (`url`: where it serves, if known; `instance`: the installation id to keep when none is stored).
   */
  lead(url: string | null, instance: string): Promise<void>;
  /** Records where the leader serves. */
  serving(url: string): Promise<void>;
  /** The public key of the last signed audit checkpoint in the database (null: none yet). */
  storedAuditKey(): Promise<string | null>;
  /** Resolves when leadership is lost for good (another server took over): close and stand by. */
  readonly deposed: Promise<Error>;
  /** Gives the lock up (idempotent). */
  release(): Promise<void>;
}

/**
 * Connects the lock's own connection to `url` (connection failures are thrown, as a
 * StorageError `connection`, for the caller to report). Takes nothing yet: see tryAcquire.
 */
export async function openLeadership(url: string, log: (line: string) => void = () => undefined): Promise<Leadership> {
  const shown = redactUrl(url);
  let client: pg.Client | null = null;
  let held = false;
  let epoch = 0;
  let installation = '';
  let released = false;
  let reconnecting: Promise<void> | null = null;
  let heartbeat: NodeJS.Timeout | null = null;
  let resolveDeposed: (error: Error) => void = () => undefined;
  const deposed = new Promise<Error>((resolve) => (resolveDeposed = resolve));
  let isDeposed = false;

  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({
      connectionString: url,
      application_name: applicationName(),
      connectionTimeoutMillis: 5000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 1000,
    });
    // Without a listener an error of the idle connection would crash the process.
    c.on('error', () => lost(c, 'the connection that holds it failed'));
    c.on('end', () => lost(c, 'the connection that holds it ended'));
    try {
      await c.connect();
      // The server ends this session soon after the host is gone (TCP only; a socket ends at once).
      await c.query('SET tcp_keepalives_idle = 2; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 3');
    } catch (error) {
      void c.end().catch(() => undefined);
      throw pgStorageErrorOf(error, `connecting to ${shown}`);
    }
    return c;
  };

  /** The lock's connection `c` failed: stop writing at once, and try to take the lock again. */
  const lost = (c: pg.Client, why: string): void => {
    if (c !== client || released) return;
    client = null;
    void c.end().catch(() => undefined);
    if (!held) return; // a standby's poll connection: the next poll opens another
    held = false;
    log(`lost the lock on ${shown}: ${why}; writes stop until it is taken again`);
    reconnecting ??= retake().finally(() => (reconnecting = null));
  };

  /** After a lost connection: the lock again with the same epoch, or deposed. */
  const retake = async (): Promise<void> => {
    while (!released && !isDeposed) {
      await sleep(POLL_MS);
      if (released) return;
      let c: pg.Client;
      try {
        c = await connect();
      } catch {
        continue; // the database is still down: try again in a second
      }
      client = c;
      try {
        const { rows } = await c.query<{ locked: boolean; epoch: string | null }>(
          `SELECT pg_try_advisory_lock($1, $2) AS locked, (SELECT epoch FROM leader WHERE id = 1)::text AS epoch`,
          [...LEADER_LOCK_KEY],
        );
        const row = rows[0];
        if (row?.locked === true && Number(row.epoch) === epoch) {
          held = true;
          log(`took the lock on ${shown} again (epoch ${epoch}): writing again`);
          return;
        }
        const why = row?.locked === true ? `another server led meanwhile (epoch ${row.epoch ?? '?'})` : 'another server holds it now';
        isDeposed = true;
        client = null;
        await c.end().catch(() => undefined);
        resolveDeposed(new Error(`no longer the leader on ${shown}: ${why}`));
        return;
      } catch {
        if (client === c) client = null;
        void c.end().catch(() => undefined);
      }
    }
  };

  /** Every second: the lock's connection answers, and the epoch is still ours. */
  const beat = async (): Promise<void> => {
    const c = client;
    if (!held || c === null) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = c.query<{ epoch: string }>('SELECT epoch::text AS epoch FROM leader WHERE id = 1');
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${HEARTBEAT_TIMEOUT_MS / 1000} s`)), HEARTBEAT_TIMEOUT_MS);
      });
      const { rows } = await Promise.race([answer, timeout]);
      if (Number(rows[0]?.epoch) !== epoch) {
        // Cannot happen while the lock is held (only a holder increments it): stop at once.
        held = false;
        isDeposed = true;
        resolveDeposed(new Error(`no longer the leader on ${shown}: the epoch moved on to ${rows[0]?.epoch ?? '?'}`));
      }
    } catch (error) {
      lost(c, error instanceof Error ? error.message : String(error));
    } finally {
      clearTimeout(timer);
    }
  };

  client = await connect();

  return {
    get held() {
      return held && !isDeposed;
    },
    get epoch() {
      return epoch;
    },
    pollMs: POLL_MS,
    get installation() {
      return installation;
    },
    deposed,

    async tryAcquire() {
      if (held) return true;
      client ??= await connect();
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [...LEADER_LOCK_KEY]);
      held = rows[0]?.locked === true;
      return held;
    },

    async leader() {
      const c = (client ??= await connect());
      const { rows: table } = await c.query<{ present: boolean }>(`SELECT to_regclass('leader') IS NOT NULL AS present`);
      if (table[0]?.present === true) {
        const { rows } = await c.query<{ url: string | null; pid: number | null; host: string | null; epoch: string; since: number | null }>(
          'SELECT url, pid, host, epoch::text AS epoch, since FROM leader WHERE id = 1',
        );
        const row = rows[0];
        // The row names the last leader; it leads only while somebody holds the lock.
        if (row !== undefined && (await lockHolder(c)) !== null)
          return {
            url: row.url,
            pid: row.pid,
            host: row.host,
            epoch: Number(row.epoch),
            description: `pid ${row.pid ?? '?'} on ${row.host ?? '?'}${row.url ? `, serving on ${row.url}` : ', not serving yet'}, epoch ${row.epoch}`,
          };
      }
      const holder = await lockHolder(c);
      return holder === null ? null : { url: null, pid: null, host: null, epoch: null, description: holder };
    },

    async lead(url, instance) {
      if (!held || client === null) throw new Error('lead() without the lock');
      const { rows } = await client.query<{ epoch: string; installation: string }>(
        `INSERT INTO leader (id, epoch, url, pid, host, since, installation)
              VALUES (1, 1, $1, $2, $3, extract(epoch FROM clock_timestamp()), $4)
         ON CONFLICT (id) DO UPDATE SET epoch = leader.epoch + 1, url = EXCLUDED.url, pid = EXCLUDED.pid,
              host = EXCLUDED.host, since = EXCLUDED.since
         RETURNING epoch::text AS epoch, installation`,
        [url, process.pid, hostname(), instance],
      );
      epoch = Number(rows[0]!.epoch);
      installation = rows[0]!.installation;
      heartbeat ??= setInterval(() => void beat(), POLL_MS);
      heartbeat.unref();
    },

    async serving(url) {
      if (!held || client === null) return;
      await client.query('UPDATE leader SET url = $1 WHERE id = 1 AND epoch = $2', [url, epoch]);
    },

    async storedAuditKey() {
      const c = (client ??= await connect());
      const { rows: table } = await c.query<{ present: boolean }>(`SELECT to_regclass('audit_checkpoints') IS NOT NULL AS present`);
      if (table[0]?.present !== true) return null;
      const { rows } = await c.query<{ public_key: string }>('SELECT public_key FROM audit_checkpoints ORDER BY id DESC LIMIT 1');
      return rows[0]?.public_key ?? null;
    },

    async release() {
      if (released) return;
      released = true;
      held = false;
      if (heartbeat) clearInterval(heartbeat);
      const c = client;
      client = null;
      await c?.end().catch(() => undefined); // ending the session releases the lock
    },
  };
}

/** The session holding the lock, in words (pg_locks joined with pg_stat_activity), or null. */
async function lockHolder(c: pg.Client): Promise<string | null> {
  const { rows } = await c.query<{ pid: number; application_name: string | null; client_addr: string | null; backend_start: Date | null }>(
    `SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.backend_start
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [...LEADER_LOCK_KEY],
  );
  const h = rows[0];
  if (h === undefined) return null;
  return [
    h.application_name ? `"${h.application_name}"` : 'a session',
    `PostgreSQL backend pid ${h.pid}`,
    h.client_addr ? `connected from ${h.client_addr}` : '',
    h.backend_start ? `since ${h.backend_start.toISOString()}` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());
