// One data directory, one server. `arbiter serve` takes this lock before it opens (let alone
// migrates) the store, and a second server on the same directory refuses to start, naming the
// process that holds it (docs/architecture.md, "One server per data directory"). Several servers
// on one PostgreSQL database are a leader and standbys instead (leadership.ts).
//
// DATA/server.lock is, a SQLite file held by one connection in exclusive
//   locking mode. The lock is the operating system's (a POSIX record lock), so it ends with the
//   process however the process ends, kill -9 included: a left-over file never blocks a restart,
//   and a pid reused by an unrelated process never passes for a holder. The holder writes who it
//   is (pid, host, start, URL) to DATA/server.json once it holds the lock; that file only feeds
//   the message of a refused start.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

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
