// Tokens and roles (docs/api.md, "Auth"). Secrets are random, shown once, stored as SHA-256.
// Who may do what with them is the table of authorization.ts.
import { createHash, randomBytes } from 'node:crypto';
import type { Policy, TeamSpec } from '../core/model.js';
import type { Role, StoredToken } from '../storage/port.js';

export const ROLES: readonly Role[] = ['viewer', 'member', 'lead', 'council', 'admin'];

export interface Principal {
  readonly user: string;
  readonly role: Role;
  readonly team: string | null;
}

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** A new token: `arb_` + 32 random bytes, base64url. */
export function newToken(user: string, role: Role, team: string | null, at: number): { secret: string; token: StoredToken } {
  const secret = `arb_${randomBytes(32).toString('base64url')}`;
  const token: StoredToken = { id: `t-${randomBytes(6).toString('hex')}`, hash: hashToken(secret), user, role, team, createdAt: at, revokedAt: null };
  return { secret, token };
}

/** The team and all teams below it. */
export function subtree(policy: Policy, team: string): Set<string> {
  const out = new Set<string>();
  const add = (t: TeamSpec, inside: boolean): void => {
    const now = inside || t.name === team;
    if (now) out.add(t.name);
    for (const c of t.children) add(c, now);
  };
  for (const t of policy.teams) add(t, false);
  return out;
}
