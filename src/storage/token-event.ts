// What a token event (token.create, token.revoke) says about the token, the same in both stores:
// who it is for, its role and team, and the SHA-256 of the whole row as created, so that
// `arbiter audit verify` and the server's start-up can tell a row edited in the database (a role
// raised, the secret's hash swapped for one an attacker knows) from the row the log vouches for.
// Never the secret's hash itself: the log is readable by every token.
import { createHash } from 'node:crypto';
import type { Role, StoredToken } from './port.js';

/**
 * Hex SHA-256 of the UTF-8 of the JSON array [id, hash, user, role, team, createdAt] (revokedAt is
 * left out: revoking changes it, and the token.revoke event records when).
 * Example: ["t-1","9f86...","alice","member","research",1700000000.5].
 */
export function tokenRowSha256(token: Pick<StoredToken, 'id' | 'hash' | 'user' | 'role' | 'team' | 'createdAt'>): string {
  const row = [token.id, token.hash, token.user, token.role, token.team ?? null, token.createdAt];
  return createHash('sha256').update(JSON.stringify(row), 'utf8').digest('hex');
}

export function tokenEventData(token: StoredToken): { id: string; user: string; role: Role; team: string | null; rowSha256: string } {
  return { id: token.id, user: token.user, role: token.role, team: token.team ?? null, rowSha256: tokenRowSha256(token) };
}
