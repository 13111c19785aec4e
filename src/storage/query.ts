// What both stores (sqlite.ts, postgres.ts) check the same way in a query: the opaque cursors of
// GET /v1/jobs and the numbers a caller passes.
import { StorageError } from './port.js';

const CURSOR = /^j:([1-9][0-9]{0,15})$/;

/** The cursor of the page after the job numbered `seq` (newest first: the next page is below it). */
export function encodeCursor(seq: number): string {
  return Buffer.from(`j:${seq}`).toString('base64url');
}

/** The seq a cursor points below; anything this store did not make is StorageError `invalid_cursor`. */
export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const seq = Number(CURSOR.exec(text)?.[1]);
  // Node decodes base64url leniently: re-encoding catches stray characters.
  if (!Number.isSafeInteger(seq) || encodeCursor(seq) !== cursor)
    throw new StorageError(
      'invalid_cursor',
      `"${cursor}" is not a cursor of this list: pass the nextCursor of the previous page`,
      false,
    );
  return seq;
}

/** `value` when it is an integer of at least `min`, else StorageError `invalid_query`. */
export function count(value: number, what: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min)
    throw new StorageError(
      'invalid_query',
      `${what} must be an integer of at least ${min}, not ${value}`,
      false,
    );
  return value;
}

/**
 * Refuses a token for a user name that already has one, revoked or not (StorageError
 * `constraint`): a user name is one person in proposals, ballots and the audit log, so a second
 * token under it (say, `admin` with role member) would act as that person.
 */
export function refuseTakenUser(user: string, existing: { id: string; role: string; team: string | null; revokedAt: number | null } | undefined): void {
  if (existing === undefined) return;
  const what = `${existing.role}${existing.team !== null ? ` of ${existing.team}` : ''}${existing.revokedAt !== null ? ', revoked' : ''}`;
  throw new StorageError(
    'constraint',
    `user name "${user}" is taken by token ${existing.id} (${what}); a user name stands for one person in proposals, ballots and the audit log, so choose another --user`,
    false,
  );
}
