// The authorization table on its own: each scope against the team relations it names, on the
// tree research ⊃ vision ⊃ vision-3d, research ⊃ language, and product (a proposal may add
// teams: "below" is read in its tree too).
import { describe, expect, it } from 'vitest';
import { parseCluster } from '../core/config/cluster.js';
import { parsePolicy } from '../core/config/policy.js';
import type { Policy } from '../core/model.js';
import type { Role } from '../storage/port.js';
import { actionOf, authorize, roleRefusal, ROUTE_ACTIONS, RULES } from './authorization.js';
import type { Principal } from './auth.js';

const fleet = (() => {
  const r = parseCluster('pools:\n  - name: p\n    flavor: h100\n    nodes: 2\n    gpusPerNode: 8\n', 'cluster');
  if (!r.ok) throw new Error('bad cluster');
  return r.value;
})();
const policy = (extra = ''): Policy => {
  const text = `teams:
  - name: research
    children:
      - name: vision
        children:
          - name: vision-3d
${extra}
      - name: language
  - name: product
`;
  const r = parsePolicy(text, 'policy', fleet);
  if (!r.ok) throw new Error(r.issues.map((i) => i.message).join('; '));
  return r.value;
};
const trees = [policy()];
const who = (role: Role, team: string | null = null, user = `${role}-${team ?? 'x'}`): Principal => ({ user, role, team });
const proposal = { id: 'p-1', author: 'council-x', affected: ['vision', 'vision-3d'] };

describe('the authorization table', () => {
  it('names an action for every route and has a rule for every action a route names', () => {
    for (const action of Object.values(ROUTE_ACTIONS)) if (action !== 'public') expect(RULES[action]).toBeDefined();
    expect(actionOf('get', '/v1/jobs')).toBe('read');
    expect(actionOf('POST', '/v1/nowhere')).toBeUndefined();
  });

  it('refuses a role without a grant, naming who may', () => {
    expect(roleRefusal('proposals.vote', who('admin'))).toMatch(/^role admin may not vote on a proposal \(allowed: council; /);
    expect(roleRefusal('proposals.comment', who('viewer'))).toBeNull();
  });

  it('a lead responds for its own affected team and those below it, never above or beside it', () => {
    const respond = (lead: string, team: string) => authorize('proposals.respond', who('lead', lead), { trees, proposal, team });
    expect(respond('vision', 'vision')).toBeNull();
    expect(respond('vision', 'vision-3d')).toBeNull();
    expect(respond('research', 'vision')).toBeNull();
    expect(respond('vision-3d', 'vision')).toMatch(/leads vision-3d and may respond only for it and the teams below it, never for vision/);
    expect(respond('language', 'vision')).toMatch(/never for vision/);
    expect(respond('language', 'language')).toMatch(/not an affected team/);
    expect(authorize('proposals.respond', who('council'), { trees, proposal, team: 'vision' })).toMatch(/role council may not respond/);
  });

  it('a petition is signed from an affected team or below one, in the tree in force or the proposed one', () => {
    const sign = (role: Role, team: string, t: Policy[] = trees) => authorize('proposals.petition', who(role, team), { trees: t, proposal });
    expect(sign('member', 'vision-3d')).toBeNull();
    expect(sign('lead', 'vision')).toBeNull();
    expect(sign('member', 'language')).toMatch(/neither an affected team of p-1 nor below one/);
    expect(sign('member', 'research')).toMatch(/neither/);
    // A team the proposal adds below vision-3d.
    expect(sign('member', 'vision-3d-new', [...trees, policy('            children:\n              - name: vision-3d-new')])).toBeNull();
  });

  it('jobs: a member in its own team and its own jobs, a lead in its team and below', () => {
    const job = { id: 'j-1', team: 'vision-3d', submittedBy: 'ada' };
    expect(authorize('jobs.submit', who('member', 'vision-3d'), { trees, team: 'vision-3d' })).toBeNull();
    expect(authorize('jobs.submit', who('member', 'vision'), { trees, team: 'vision-3d' })).toMatch(/only in its own team, not in vision-3d/);
    expect(authorize('jobs.submit', who('lead', 'research'), { trees, team: 'vision-3d' })).toBeNull();
    expect(authorize('jobs.submit', who('lead', 'vision-3d'), { trees, team: 'language' })).toMatch(/only in its team and the teams below it/);
    expect(authorize('jobs.cancel', who('member', 'vision-3d', 'ada'), { trees, job })).toBeNull();
    expect(authorize('jobs.cancel', who('member', 'vision-3d', 'bob'), { trees, job })).toMatch(/only if it submitted the job to its own team/);
    expect(authorize('jobs.cancel', who('lead', 'vision'), { trees, job })).toBeNull();
    expect(authorize('jobs.cancel', who('lead', 'language'), { trees, job })).toMatch(/belongs to vision-3d/);
    expect(authorize('jobs.cancel', who('viewer'), { trees, job })).toMatch(/role viewer may not cancel a job/);
  });

  it('amend and withdraw: the author only, whatever the role', () => {
    expect(authorize('proposals.withdraw', who('council', null, 'council-x'), { trees, proposal })).toBeNull();
    expect(authorize('proposals.withdraw', who('admin'), { trees, proposal })).toMatch(/only the author \(council-x\)/);
    expect(authorize('proposals.amend', who('member', 'vision', 'council-x'), { trees, proposal })).toMatch(/role member may not amend/);
  });
});
