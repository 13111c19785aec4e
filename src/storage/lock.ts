// One data directory, one server; one PostgreSQL database, one server. `arbiter serve` takes
// these locks before it opens (let alone migrates) the store, and a second server refuses to
// start, naming the process that holds them (docs/architecture.md, "One server per data").
//
// - The data directory: DATA/server.lock, a SQLite file held by one connection in exclusive
//   locking mode. The lock is the operating system's (a POSIX record lock), so it ends with the
//   process however the process ends, kill -9 included: a left-over file never blocks a restart,
//   and a pid reused by an unrelated process never passes for a holder. The holder writes who it
//   is (pid, host, start, URL) to DATA/server.json once it holds the lock; that file only feeds
//   the message of a refused start.
// - PostgreSQL: a session advisory lock on a dedicated connection, whose application_name names
//   the holder (pid and host); a refused server finds it in pg_locks joined with
//   pg_stat_activity. PostgreSQL releases it when that connection ends.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

import { redactUrl } from './open.js';
import { StorageError } from './port.js';

/** A start refused because another server holds the data: `message` names it and what to do. */
export class DataInUse extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataInUse';
  }
}

/** What a server writes about itself beside its lock (DATA/server.json). */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** ISO time the server took the lock. */
  readonly since: string;
  /** Where it serves, once it listens. */
  readonly url?: string;
}

export interface HeldLock {
  /** Records where the server listens (shown to a refused second server). */
  serving(url: string): void;
  /**
   * Resolves if the lock is lost while held (the PostgreSQL connection that holds it ended);
   * never for the data directory, whose lock lasts as long as the process.
   */
  readonly lost: Promise<Error>;
  /** Gives the lock up (idempotent). */
  release(): Promise<void>;
}

export const LOCK_FILE = 'server.lock';
export const HOLDER_FILE = 'server.json';

/** "pid 812 on host gpu-1, serving on http://127.0.0.1:7420, since 2025-01-31T12:00:00.000Z" */
const describeHolder = (h: Partial<LockHolder>): string =>
  [
    `pid ${h.pid ?? '?'}${h.host !== undefined ? ` on host ${h.host}` : ''}`,
    h.url !== undefined ? `serving on ${h.url}` : '',
    h.since !== undefined ? `since ${h.since}` : '',
  ]
    .filter(Boolean)
    .join(', ');

function readHolder(dir: string): Partial<LockHolder> | null {
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(dir, HOLDER_FILE), 'utf8'));
    return typeof parsed === 'object' && parsed !== null ? parsed : null;
  } catch {
    return null;
  }
}

function writeHolder(dir: string, holder: LockHolder): void {
  const file = join(dir, HOLDER_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(holder)}\n`);
  renameSync(temp, file);
}

/**
 * Locks the data directory `dir` (which must exist) for this process, or throws DataInUse
 * naming the holder. `previous` is the holder recorded by a server that did not stop cleanly
 * (killed, crashed), null otherwise.
 */
export async function lockDataDirectory(dir: string): Promise<HeldLock & { previous: Partial<LockHolder> | null }> {
  const { default: Database } = await import('better-sqlite3');
  const file = join(dir, LOCK_FILE);
  let db: InstanceType<typeof Database>;
  try {
    // timeout 0: a lock held elsewhere answers SQLITE_BUSY at once instead of waiting for it.
    db = new Database(file, { timeout: 0 });
  } catch (error) {
    throw new StorageError('cantopen', `${file}: cannot open the lock of the data directory: ${error instanceof Error ? error.message : String(error)}`, false, { cause: error });
  }
  try {
    db.pragma('journal_mode = MEMORY'); // no journal file beside the lock
    db.pragma('locking_mode = EXCLUSIVE'); // once taken, kept until the connection closes
    db.exec('BEGIN EXCLUSIVE; COMMIT');
  } catch (error) {
    db.close();
    if (error instanceof Error && 'code' in error && error.code === 'SQLITE_BUSY') {
      const holder = readHolder(dir);
      throw new DataInUse(
        `${dir}: in use by another Arbiter server (${holder ? describeHolder(holder) : 'a process that has not said who it is yet'}); ` +
          `stop it first${holder?.pid !== undefined ? ` (kill ${holder.pid})` : ''}, or give this server another --data`,
      );
    }
    throw error;
  }
  const previous = readHolder(dir);
  let holder: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  writeHolder(dir, holder);
  let released = false;
  return {
    previous,
    lost: new Promise<Error>(() => undefined),
    serving(url) {
      holder = { ...holder, url };
      writeHolder(dir, holder);
    },
    async release() {
      if (released) return;
      released = true;
      rmSync(join(dir, HOLDER_FILE), { force: true });
      db.close();
    },
  };
}

/** The advisory lock's key (two int4): "ARBI" and 1, the live server. */
const LOCK_KEY = [0x41524249, 1] as const;

/** The name a holder gives its lock connection (at most 63 bytes are kept by PostgreSQL). */
const applicationName = (): string => `arbiter serve pid ${process.pid} on ${hostname()}`.slice(0, 63);

/**
 * Takes the PostgreSQL database's server lock on a connection of its own, or throws DataInUse
 * naming the holder. Connection failures are thrown as they come (the caller reports them).
 */
export async function lockPostgres(url: string): Promise<HeldLock> {
  // Loaded here: a SQLite user never loads pg.
  const { default: pg } = await import('pg');
  const { pgStorageErrorOf } = await import('./postgres.js');
  const shown = redactUrl(url);
  const client = new pg.Client({ connectionString: url, application_name: applicationName(), connectionTimeoutMillis: 10_000 });
  let resolveLost: (error: Error) => void = () => undefined;
  const lost = new Promise<Error>((resolve) => (resolveLost = resolve));
  let released = false;
  // Without a listener an error of the idle connection would crash the process.
  client.on('error', (error) => {
    if (!released) resolveLost(new Error(`lost the lock on ${shown}: ${error.message}`));
  });
  client.on('end', () => {
    if (!released) resolveLost(new Error(`lost the lock on ${shown}: the connection that holds it ended`));
  });
  try {
    await client.connect();
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [...LOCK_KEY]);
    if (rows[0]?.locked !== true) {
      const { rows: holders } = await client.query<{ pid: number; application_name: string | null; client_addr: string | null; backend_start: Date | null }>(
        `SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.backend_start
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [...LOCK_KEY],
      );
      const h = holders[0];
      const who = h
        ? [
            h.application_name ? `"${h.application_name}"` : 'a session',
            `PostgreSQL backend pid ${h.pid}`,
            h.client_addr ? `connected from ${h.client_addr}` : '',
            h.backend_start ? `since ${h.backend_start.toISOString()}` : '',
          ]
            .filter(Boolean)
            .join(', ')
        : 'a session this user cannot see';
      throw new DataInUse(`${shown}: in use by another Arbiter server (${who}); stop it first, or give this server another --database`);
    }
  } catch (error) {
    released = true;
    await client.end().catch(() => undefined);
    throw pgStorageErrorOf(error, `connecting to ${shown}`);
  }
  return {
    lost,
    serving() {
      // The holder is named by its connection (application_name); nothing more to record.
    },
    async release() {
      if (released) return;
      released = true;
      await client.end().catch(() => undefined); // ending the session releases the lock
    },
  };
}
