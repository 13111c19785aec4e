// Who may do what: one table for every route of the API (docs/api.md "Auth", docs/governance.md
// "Roles" and "Routes", decision 0004 "Who speaks for a team"). The routes consult it and only
// it: the request hook refuses a role that has no grant for the route's action before anything
// is read or parsed, and a route whose grant depends on a team, a job or a proposal asks
// `authorize` with those facts before it changes anything. A route without a row here cannot
// even be registered (app.ts), and docs/security.md "Who may do what" prints this table.
import type { Policy } from '../core/model.js';
import type { Role } from '../storage/port.js';
import type { Principal } from './auth.js';
import { subtree } from './auth.js';

/**
 * The condition a grant puts on the thing acted upon.
 * - `any`: none.
 * - `own-team`: the target team is the principal's team.
 * - `team-or-below`: the target team is the principal's team or a team below it.
 * - `own-job`: the job was submitted by the principal, to the principal's team.
 * - `job-in-team-or-below`: the job belongs to the principal's team or a team below it.
 * - `author`: the principal wrote the proposal.
 * - `speaks-for`: the team responded for is affected and is the principal's team or a team
 *   below it (0004: a lead of `research` may respond for `pretraining`); never a team above
 *   it or beside it.
 * - `in-affected`: the principal's team is an affected team or a team below one (0004:
 *   petitions count the members of the affected teams and the teams below them).
 */
export type Scope = 'any' | 'own-team' | 'team-or-below' | 'own-job' | 'job-in-team-or-below' | 'author' | 'speaks-for' | 'in-affected';

export type Action =
  | 'read'
  | 'jobs.submit'
  | 'jobs.cancel'
  | 'tokens.list'
  | 'tokens.revoke'
  | 'proposals.create'
  | 'proposals.amend'
  | 'proposals.withdraw'
  | 'proposals.respond'
  | 'proposals.vote'
  | 'proposals.overrule'
  | 'proposals.petition'
  | 'proposals.comment'
  | 'proposals.rollback'
  | 'emergency';

export interface Rule {
  /** What the action does, as a verb phrase ("vote on a proposal"). */
  readonly what: string;
  /** The roles that may take it, each with its condition; a role not listed may not (403). */
  readonly grants: Readonly<Partial<Record<Role, Scope>>>;
  /** Where the rule comes from. */
  readonly source: string;
}

const everyone: Readonly<Record<Role, Scope>> = { viewer: 'any', member: 'any', lead: 'any', council: 'any', admin: 'any' };

/**
 * Admins hold every right of api.md's table except the steps of governance: a policy change is
 * decided by the affected teams and the council, never by one person (governance.md), so an
 * admin does not respond, vote, overrule, sign or roll back; its own governance power is the
 * emergency change, which reverts unless the normal process ratifies it.
 */
export const RULES: Readonly<Record<Action, Rule>> = {
  read: { what: 'read', grants: everyone, source: 'api.md: every role reads everything' },
  'jobs.submit': { what: 'submit a job', grants: { member: 'own-team', lead: 'team-or-below', admin: 'any' }, source: 'api.md: a member submits to its team, a lead to its team and subteams' },
  'jobs.cancel': { what: 'cancel a job', grants: { member: 'own-job', lead: 'job-in-team-or-below', admin: 'any' }, source: 'api.md: a member cancels its own jobs in its team, a lead any job of its team and subteams' },
  'tokens.list': { what: 'list tokens', grants: { admin: 'any' }, source: 'api.md: admins manage tokens' },
  'tokens.revoke': { what: 'revoke a token', grants: { admin: 'any' }, source: 'api.md: admins manage tokens' },
  'proposals.create': { what: 'propose a policy change', grants: { lead: 'any', council: 'any', admin: 'any' }, source: 'governance.md: any lead, council, admin' },
  'proposals.amend': { what: 'amend a proposal', grants: { lead: 'author', council: 'author', admin: 'author' }, source: 'governance.md: the author' },
  'proposals.withdraw': { what: 'withdraw a proposal', grants: { lead: 'author', council: 'author', admin: 'author' }, source: 'governance.md: the author' },
  'proposals.respond': { what: 'respond (consent, object, abstain) for a team', grants: { lead: 'speaks-for' }, source: 'governance.md: the lead of an affected team; 0004: or of a team above it' },
  'proposals.vote': { what: 'vote on a proposal', grants: { council: 'any' }, source: 'governance.md: council' },
  'proposals.overrule': { what: 'overrule objections', grants: { council: 'any' }, source: 'governance.md: council' },
  'proposals.petition': { what: 'sign a petition', grants: { member: 'in-affected', lead: 'in-affected' }, source: 'governance.md: members of affected teams; 0004: and of the teams below them' },
  'proposals.comment': { what: 'comment on a proposal', grants: everyone, source: '0004: anyone with a token may comment' },
  'proposals.rollback': { what: 'roll back a change', grants: { council: 'any' }, source: 'governance.md: council' },
  emergency: { what: 'declare an emergency change', grants: { admin: 'any' }, source: 'governance.md: admins declare emergencies' },
};

/** Every route (`METHOD /path` as fastify names it) with its action; `public` needs no token. */
export const ROUTE_ACTIONS: Readonly<Record<string, Action | 'public'>> = {
  'GET /healthz': 'public',
  // The dashboard's files (web.ts): the app holds no data; it reads the API with the user's token.
  'GET /': 'public',
  'GET /ui/*': 'public',
  'GET /assets/:file': 'public',
  'GET /v1/me': 'read',
  'GET /v1/queue': 'read',
  'GET /v1/events': 'read',
  'GET /v1/jobs/:id/runs': 'read',
  'GET /v1/jobs/:id/reasons': 'read',
  'GET /openapi.json': 'read',
  'GET /metrics': 'read',
  'POST /v1/jobs': 'jobs.submit',
  'GET /v1/jobs': 'read',
  'GET /v1/jobs/:id': 'read',
  'POST /v1/jobs/:id/cancel': 'jobs.cancel',
  'GET /v1/teams': 'read',
  'GET /v1/usage': 'read',
  'GET /v1/fleet': 'read',
  'GET /v1/policy': 'read',
  'GET /v1/tokens': 'tokens.list',
  'DELETE /v1/tokens/:id': 'tokens.revoke',
  'POST /v1/proposals': 'proposals.create',
  'GET /v1/proposals': 'read',
  'GET /v1/proposals/:id': 'read',
  'GET /v1/proposals/:id/comments': 'read',
  'POST /v1/proposals/:id/amend': 'proposals.amend',
  'POST /v1/proposals/:id/withdraw': 'proposals.withdraw',
  'POST /v1/proposals/:id/responses': 'proposals.respond',
  'POST /v1/proposals/:id/votes': 'proposals.vote',
  'POST /v1/proposals/:id/overrule': 'proposals.overrule',
  'POST /v1/proposals/:id/comments': 'proposals.comment',
  'POST /v1/proposals/:id/petition': 'proposals.petition',
  'POST /v1/proposals/:id/rollback': 'proposals.rollback',
  'POST /v1/emergency': 'emergency',
  'GET /v1/policy/versions': 'read',
  'GET /v1/policy/versions/:version': 'read',
  'GET /v1/audit': 'read',
  'GET /v1/audit/checkpoint': 'read',
  'GET /v1/audit/checkpoints': 'read',
  'GET /v1/audit/proof/inclusion/:index': 'read',
  'GET /v1/audit/proof/consistency': 'read',
};

/** The action of a route, or undefined when the route has no row (which app.ts refuses to register). */
export function actionOf(method: string, url: string): Action | 'public' | undefined {
  return ROUTE_ACTIONS[`${method.toUpperCase()} ${url}`];
}

/** The facts a scoped grant is checked against; each scope reads the ones it names. */
export interface Subject {
  /** own-team, team-or-below: the team acted on; speaks-for: the team responded for. */
  readonly team?: string;
  /** own-job, job-in-team-or-below. */
  readonly job?: { readonly id: string; readonly team: string; readonly submittedBy: string };
  /** author: the proposal's author; speaks-for, in-affected: its id and affected teams. */
  readonly proposal?: { readonly id: string; readonly author: string; readonly affected: readonly string[] };
  /** The team trees "below" is read in (the policy in force, and a proposal's own). */
  readonly trees: readonly Policy[];
}

const who = (rule: Rule): string => {
  const roles = Object.keys(rule.grants);
  return roles.length === Object.keys(everyone).length ? 'every role' : roles.join(', ');
};

/** Null when the role has some grant for the action, else the 403 message naming the rule. */
export function roleRefusal(action: Action, principal: Principal): string | null {
  const rule = RULES[action];
  if (rule.grants[principal.role] !== undefined) return null;
  return `role ${principal.role} may not ${rule.what} (allowed: ${who(rule)}; ${rule.source})`;
}

/** True when `team` is `top` or lies below it in one of the trees. */
function atOrBelow(trees: readonly Policy[], top: string, team: string): boolean {
  return team === top || trees.some((policy) => subtree(policy, top).has(team));
}

/** Null when the principal may take the action on the subject, else the 403 message naming the rule. */
export function authorize(action: Action, principal: Principal, subject: Subject): string | null {
  const byRole = roleRefusal(action, principal);
  if (byRole) return byRole;
  const scope = RULES[action].grants[principal.role]!;
  const { role, user } = principal;
  const own = principal.team;
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`authorize(${action}): the ${what} is needed for scope ${scope}`);
    return value;
  };
  switch (scope) {
    case 'any':
      return null;
    case 'own-team': {
      const team = need(subject.team, 'team');
      return own === team ? null : `a ${role} of team ${own ?? '(none)'} may ${RULES[action].what} only in its own team, not in ${team}`;
    }
    case 'team-or-below': {
      const team = need(subject.team, 'team');
      return own !== null && atOrBelow(subject.trees, own, team) ? null : `a ${role} of team ${own ?? '(none)'} may ${RULES[action].what} only in its team and the teams below it, not in ${team}`;
    }
    case 'own-job': {
      const job = need(subject.job, 'job');
      return own === job.team && user === job.submittedBy
        ? null
        : `a ${role} may ${RULES[action].what} only if it submitted the job to its own team; job ${job.id} was submitted by ${job.submittedBy} to ${job.team}`;
    }
    case 'job-in-team-or-below': {
      const job = need(subject.job, 'job');
      return own !== null && atOrBelow(subject.trees, own, job.team)
        ? null
        : `a ${role} of team ${own ?? '(none)'} may ${RULES[action].what} only if it belongs to its team or a team below it; job ${job.id} belongs to ${job.team}`;
    }
    case 'author': {
      const p = need(subject.proposal, 'proposal');
      return user === p.author ? null : `only the author (${p.author}) may ${RULES[action].what}: ${p.id} is not ${user}'s`;
    }
    case 'speaks-for': {
      const p = need(subject.proposal, 'proposal');
      const team = need(subject.team, 'team');
      if (!p.affected.includes(team)) return `team ${team} is not an affected team of ${p.id} (affected: ${p.affected.join(', ') || 'none'}); anyone may comment`;
      return own !== null && atOrBelow(subject.trees, own, team)
        ? null
        : `${user} leads ${own ?? 'no team'} and may respond only for it and the teams below it, never for ${team} above or beside it (decision 0004)`;
    }
    case 'in-affected': {
      const p = need(subject.proposal, 'proposal');
      return own !== null && p.affected.some((team) => atOrBelow(subject.trees, team, own))
        ? null
        : `${user} is in ${own ?? 'no team'}, neither an affected team of ${p.id} nor below one (affected: ${p.affected.join(', ') || 'none'})`;
    }
  }
}
