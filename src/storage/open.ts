// Which store a server uses: the embedded SQLite file DATA/arbiter.db (the default), or the
// PostgreSQL database named by a URL (`--database postgres://user@host:port/db`). The data
// directory is needed either way: it holds the admin token, the audit log's signing key and logs.
// Drivers are loaded on demand, so a SQLite user never loads pg, nor a PostgreSQL user SQLite.
import { join } from 'node:path';

import { StorageError } from './port.js';
import type { Store } from './port.js';

export interface StoreLocation {
  /** The data directory (for SQLite, the database file is DATA/arbiter.db). */
  readonly data: string;
  /** A postgres:// or postgresql:// URL; undefined: SQLite in `data`. */
  readonly database?: string | undefined;
}

/** Whether `url` names a PostgreSQL database (the only kind --database takes). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\/./i.test(url);
}

/** A URL as it may be shown: the password, if any, replaced by "***". */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(an unparsable database URL)';
  }
}

/** Where the store is, for messages: the SQLite file, or the URL without its password. */
export function describeStore(location: StoreLocation): string {
  return location.database === undefined ? join(location.data, 'arbiter.db') : redactUrl(location.database);
}

/** Opens the store (not yet migrated: call migrate() next). */
export async function openStore(location: StoreLocation): Promise<Store> {
  if (location.database === undefined) {
    const { openSqliteStore } = await import('./sqlite.js');
    return openSqliteStore(join(location.data, 'arbiter.db'));
  }
  if (!isPostgresUrl(location.database))
    throw new StorageError(
      'cantopen',
      `${describeStore(location)}: not a PostgreSQL URL (expected postgres://user@host:port/database)`,
      false,
    );
  const { openPostgresStore } = await import('./postgres.js');
  return openPostgresStore(location.database);
}
