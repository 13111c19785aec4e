// Tokens and roles (docs/api.md, "Auth"). Secrets are random, shown once, stored as SHA-256.
import { createHash, randomBytes } from 'node:crypto';
import type { Policy, TeamSpec } from '../core/model.js';
import type { Role, StoredJob, StoredToken } from '../storage/port.js';

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

/** Null when allowed, else the rule that forbids it (403 message). */
export function maySubmit(principal: Principal, policy: Policy, team: string): string | null {
  switch (principal.role) {
    case 'admin':
      return null;
    case 'member':
      return principal.team === team ? null : `a member of team ${principal.team ?? '(none)'} may submit only to its own team, not to ${team}`;
    case 'lead':
      return principal.team !== null && subtree(policy, principal.team).has(team)
        ? null
        : `a lead of team ${principal.team ?? '(none)'} may submit only to its team and the teams below it, not to ${team}`;
    case 'viewer':
    case 'council':
      return `role ${principal.role} may read but not submit jobs`;
  }
}

export function mayCancel(principal: Principal, policy: Policy, job: StoredJob): string | null {
  switch (principal.role) {
    case 'admin':
      return null;
    case 'member':
      return principal.team === job.team && principal.user === job.submittedBy
        ? null
        : `a member may cancel only its own jobs in its own team; job ${job.id} was submitted by ${job.submittedBy} to ${job.team}`;
    case 'lead':
      return principal.team !== null && subtree(policy, principal.team).has(job.team)
        ? null
        : `a lead of team ${principal.team ?? '(none)'} may cancel only jobs of its team and the teams below it; job ${job.id} belongs to ${job.team}`;
    case 'viewer':
    case 'council':
      return `role ${principal.role} may read but not cancel jobs`;
  }
}
