// Who may do what, attacked for real on the built server (docs/security.md "Who may do what"):
// a lead speaks only for the teams it leads (its own and those below it, decision 0004), never
// for a team above or beside it; every route of the served /openapi.json has a row in the
// matrix below and is called with each kind of caller (no token, members and leads of a team,
// of a child team and of a sibling team, council, admin, viewer), 401/403 against "allowed";
// tokens are listed without secrets, a user name gets one token only, and a revoked token
// answers 401 at once, also when revoked by the CLI on the data directory of a running server.
//
// The team tree:   research ── vision ── vision-3d
//                          └── language
//                  product
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, assertDistFresh, cli, createToken, sleep, smallCluster, startServer, stopAllServers, tempDir, waitFor, writeFile, tokenBook } from './server-harness.js';
import type { Api, ErrorBody, Server } from './server-harness.js';

const policyText = (vision3d: number, product: number): string => `
preemption: { minRuntime: 1s }
governance:
  impactWindow: 1h
  commentPeriod: { minor: 1s, material: 2s }
  lateQuorumExtension: 0
  timelock: 1h
  ramp: { steps: 2, over: 1h }
  petitionThreshold: 0.9
teams:
  - name: research
    guarantee: { h100: ${16 - product} }
    children:
      - name: vision
        guarantee: { h100: ${vision3d} }
        children:
          - name: vision-3d
            guarantee: { h100: ${vision3d} }
      - name: language
        guarantee: { h100: 0 }
  - name: product
    guarantee: { h100: ${product} }
`;

interface ProposalView {
  id: string;
  status: string;
  author: string;
  affected: string[];
  impact: { hash: string };
  responses: { team: string; actor: string; stance: string; current: boolean }[];
  objections: { team: string; open: boolean; current: boolean }[];
  blockers: string[];
  timeline: unknown[];
  tally: { cast: number; quorumMet: boolean };
}

let server: Server;
let data: string;
let a: Api;
const { tokens, tok } = tokenBook();

/** The callers of the matrix: each role, and leads of a team (A = vision), of its child and of its sibling. */
const CALLERS = ['none', 'viewer', 'memberA', 'memberB', 'leadA', 'leadChild', 'leadSibling', 'council', 'admin'] as const;
type Caller = (typeof CALLERS)[number];

beforeAll(async () => {
  assertDistFresh();
  const dir = tempDir('authz');
  data = `${dir}/data`;
  server = await startServer(data, { args: ['--cluster', writeFile(dir, 'cluster.yaml', smallCluster(2, 8)), '--policy', writeFile(dir, 'policy.yaml', policyText(8, 4))] });
  a = api(server);
  tokens['admin'] = server.adminToken;
  const people: [string, string, string?][] = [
    ['viewer', 'viewer'],
    ['memberA', 'member', 'vision'],
    ['memberB', 'member', 'language'],
    ['leadA', 'lead', 'vision'],
    ['leadChild', 'lead', 'vision-3d'],
    ['leadSibling', 'lead', 'language'],
    ['leadRoot', 'lead', 'research'],
    ['council', 'council'],
    ['c2', 'council'],
    ['c3', 'council'],
  ];
  for (const [user, role, team] of people) tokens[user] = await createToken(data, user, role, team);
  // Contention: vision-3d and product each want the whole fleet, in 2-GPU jobs that run for hours.
  for (let i = 0; i < 8; i++) {
    for (const team of ['vision-3d', 'product']) expect((await a.post('/v1/jobs', { team, gpus: 2, duration: 36_000 })).status).toBe(201);
  }
}, 120_000);

afterAll(stopAllServers);

const proposal = async (id: string): Promise<ProposalView> => (await a.get<ProposalView>(`/v1/proposals/${id}`)).body;
const auditSize = async (): Promise<number> => (await a.get<{ size: number }>('/v1/audit?limit=1')).body.size;
const propose = async (who: string, vision3d: number): Promise<ProposalView> => {
  const r = await a.post<ProposalView>('/v1/proposals', { title: `vision-3d to ${vision3d}`, rationale: 'product launch', policy: policyText(vision3d, 16 - vision3d - 4) }, tok(who));
  expect(r.status, r.text).toBe(201);
  return r.body;
};

describe('a lead speaks only for the teams it leads', () => {
  let p: ProposalView;

  it('the proposal that cuts vision-3d affects vision-3d, vision and research', async () => {
    p = await propose('c2', 2);
    expect(p.status).toBe('consultation');
    expect([...p.affected].sort()).toEqual(['research', 'vision', 'vision-3d']);
  });

  it("vision's lead objects; leads of a child, a sibling or below refuse to speak for vision or research: 403, nothing stored, the objection stays open", async () => {
    const objection = await a.post<ProposalView>(`/v1/proposals/${p.id}/responses`, { stance: 'object', reason: 'we lose six GPUs', metric: 'gpuHours', team: 'vision' }, tok('leadA'));
    expect(objection.status, objection.text).toBe(200);
    const before = await proposal(p.id);
    expect(before.objections).toEqual([expect.objectContaining({ team: 'vision', open: true })]);
    const size = await auditSize();

    const attacks: [string, Record<string, unknown>][] = [
      ['leadChild', { stance: 'consent', reason: 'fine by us', team: 'vision' }], // child for its parent
      ['leadChild', { stance: 'object', reason: 'no', metric: 'p95Wait', team: 'vision' }],
      ['leadChild', { stance: 'consent', reason: 'fine by us', team: 'research' }], // for an ancestor two levels up
      ['leadSibling', { stance: 'consent', reason: 'fine by us', team: 'vision' }], // a sibling
      ['leadSibling', { stance: 'abstain', reason: 'whatever', team: 'research' }], // its own parent
      ['leadSibling', { stance: 'consent', reason: 'fine by us' }], // its own team, not affected
      ['leadA', { stance: 'consent', reason: 'for the division', team: 'research' }], // its own parent
    ];
    for (const [who, body] of attacks) {
      const r = await a.post<ErrorBody>(`/v1/proposals/${p.id}/responses`, body, tok(who));
      expect(r.status, `${who} ${JSON.stringify(body)}: ${r.text}`).toBe(403);
      expect(r.body.code).toBe('forbidden');
    }
    const after = await proposal(p.id);
    expect(after.responses).toEqual(before.responses);
    expect(after.objections).toEqual([expect.objectContaining({ team: 'vision', open: true })]);
    expect(after.timeline).toEqual(before.timeline);
    expect(await auditSize()).toBe(size);
  });

  it('with quorum and the period over, the proposal is still not approved: the objection is open', async () => {
    for (const who of ['council', 'c2']) {
      const r = await a.post(`/v1/proposals/${p.id}/votes`, { vote: 'approve', reason: 'launch', reportHash: p.impact.hash }, tok(who));
      expect(r.status, r.text).toBe(200);
    }
    await sleep(2200); // past the material comment period
    const now = await proposal(p.id);
    expect(now.tally.quorumMet).toBe(true);
    expect(now.status).toBe('consultation');
    expect(now.blockers.join('\n')).toMatch(/open objection\(s\) from: vision/);
  });

  it('a lead answers for its own team, and (0004) a lead above answers for a team below it', async () => {
    const own = await a.post<ProposalView>(`/v1/proposals/${p.id}/responses`, { stance: 'consent', reason: 'we can live with 2' }, tok('leadChild'));
    expect(own.status, own.text).toBe(200);
    expect(own.body.responses.at(-1)).toMatchObject({ team: 'vision-3d', actor: 'leadChild', stance: 'consent' });
    const above = await a.post<ProposalView>(`/v1/proposals/${p.id}/responses`, { stance: 'abstain', reason: 'the division decides', team: 'research' }, tok('leadRoot'));
    expect(above.status, above.text).toBe(200);
    const below = await a.post<ProposalView>(`/v1/proposals/${p.id}/responses`, { stance: 'consent', reason: 'division call', team: 'vision' }, tok('leadRoot'));
    expect(below.status, below.text).toBe(200);
    expect(below.body.responses.at(-1)).toMatchObject({ team: 'vision', actor: 'leadRoot', stance: 'consent' });
    // Every affected team has answered and no objection is open: the deadline passed, so it is decided.
    expect(['approved', 'scheduled']).toContain((await proposal(p.id)).status);
  });
});

// ------------------------------------------------------------------ the matrix over /openapi.json

type Verdict = 'allow' | 'deny';
const ALLOW: Verdict = 'allow';
const DENY: Verdict = 'deny';
/** Every caller but "none": which may and which may not (no token is always 401, except public routes). */
type Row = Record<Exclude<Caller, 'none'>, Verdict> | 'public';
const everyone: Row = { viewer: ALLOW, memberA: ALLOW, memberB: ALLOW, leadA: ALLOW, leadChild: ALLOW, leadSibling: ALLOW, council: ALLOW, admin: ALLOW };
const only = (...callers: Exclude<Caller, 'none'>[]): Row => {
  const row: Record<Exclude<Caller, 'none'>, Verdict> = { viewer: DENY, memberA: DENY, memberB: DENY, leadA: DENY, leadChild: DENY, leadSibling: DENY, council: DENY, admin: DENY };
  for (const c of callers) row[c] = ALLOW;
  return row;
};

/**
 * The matrix (docs/security.md), for the matrix proposal (by `council`, affecting vision-3d,
 * vision and research) and a job of vision-3d submitted by the admin. Order matters only for
 * the last rows (withdraw ends the proposal).
 */
const MATRIX: Record<string, Row> = {
  'GET /healthz': 'public',
  'GET /openapi.json': everyone,
  'GET /metrics': everyone,
  'GET /v1/jobs': everyone,
  'GET /v1/jobs/{id}': everyone,
  'GET /v1/jobs/{id}/runs': everyone,
  'GET /v1/jobs/{id}/reasons': everyone,
  'GET /v1/queue': everyone,
  'GET /v1/me': everyone,
  'GET /v1/events': everyone,
  'GET /v1/teams': everyone,
  'GET /v1/usage': everyone,
  'GET /v1/fleet': everyone,
  'GET /v1/policy': everyone,
  'GET /v1/proposals': everyone,
  'GET /v1/proposals/{id}': everyone,
  'GET /v1/proposals/{id}/comments': everyone,
  'GET /v1/policy/versions': everyone,
  'GET /v1/policy/versions/{version}': everyone,
  'GET /v1/audit': everyone,
  'GET /v1/audit/checkpoint': everyone,
  'GET /v1/audit/checkpoints': everyone,
  'GET /v1/audit/proof/inclusion/{index}': everyone,
  'GET /v1/audit/proof/consistency': everyone,
  // A member submits to its own team (vision is not a leaf: submitting to vision-3d is another team); a lead to its team and below.
  'POST /v1/jobs': only('leadA', 'leadChild', 'admin'),
  // The job is vision-3d's, submitted by the admin: leads of vision and vision-3d, and admins.
  'POST /v1/jobs/{id}/cancel': only('leadA', 'leadChild', 'admin'),
  'GET /v1/tokens': only('admin'),
  'DELETE /v1/tokens/{id}': only('admin'),
  'POST /v1/proposals': only('leadA', 'leadChild', 'leadSibling', 'council', 'admin'),
  'POST /v1/emergency': only('admin'),
  'POST /v1/proposals/{id}/comments': everyone,
  // For vision: its lead only (not its child's, not its sibling's).
  'POST /v1/proposals/{id}/responses': only('leadA'),
  // Members and leads of an affected team or a team below one: language is below research.
  'POST /v1/proposals/{id}/petition': only('memberA', 'memberB', 'leadA', 'leadChild', 'leadSibling'),
  'POST /v1/proposals/{id}/votes': only('council'),
  'POST /v1/proposals/{id}/overrule': only('council'),
  'POST /v1/proposals/{id}/rollback': only('council'),
  'POST /v1/proposals/{id}/amend': only('council'),
  'POST /v1/proposals/{id}/withdraw': only('council'),
};

describe('the role and team matrix over every route of /openapi.json', () => {
  it('has a row for every operation the server describes, and none for an operation it does not', async () => {
    const doc = (await a.get<{ paths: Record<string, Record<string, unknown>> }>('/openapi.json')).body;
    const operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    expect(operations.length).toBeGreaterThan(25);
    expect(operations.filter((op) => !(op in MATRIX))).toEqual([]);
    expect(Object.keys(MATRIX).filter((op) => !operations.includes(op))).toEqual([]);
  });

  it('calls each route as each caller: 401 without a token, 403 where the row says deny, never 401/403 where it says allow', async () => {
    const p = await propose('council', 2);
    expect([...p.affected].sort()).toEqual(['research', 'vision', 'vision-3d']);
    const job = (await a.post<{ id: string }>('/v1/jobs', { team: 'vision-3d', gpus: 1, duration: 36_000 })).body;
    const size = await auditSize();
    /** A request for each operation: path parameters filled in, a body an allowed caller can send. */
    const requests: Record<string, { path: string; json?: unknown }> = {
      'GET /v1/jobs/{id}': { path: `/v1/jobs/${job.id}` },
      'GET /v1/jobs/{id}/runs': { path: `/v1/jobs/${job.id}/runs` },
      'GET /v1/jobs/{id}/reasons': { path: `/v1/jobs/${job.id}/reasons` },
      'GET /v1/policy/versions/{version}': { path: '/v1/policy/versions/1' },
      'POST /v1/jobs': { path: '/v1/jobs', json: { team: 'vision-3d', gpus: 1, duration: 10 } },
      'POST /v1/jobs/{id}/cancel': { path: `/v1/jobs/${job.id}/cancel` },
      'DELETE /v1/tokens/{id}': { path: '/v1/tokens/t-nonexistent' },
      'GET /v1/proposals/{id}': { path: `/v1/proposals/${p.id}` },
      'GET /v1/proposals/{id}/comments': { path: `/v1/proposals/${p.id}/comments` },
      'GET /v1/audit/proof/inclusion/{index}': { path: '/v1/audit/proof/inclusion/0?size=1' },
      'GET /v1/audit/proof/consistency': { path: '/v1/audit/proof/consistency?from=1&to=2' },
      // Refused by role before the body is read; an allowed caller gets 400 (nothing is proposed).
      'POST /v1/proposals': { path: '/v1/proposals', json: {} },
      'POST /v1/emergency': { path: '/v1/emergency', json: {} },
      'POST /v1/proposals/{id}/comments': { path: `/v1/proposals/${p.id}/comments`, json: { text: 'a comment' } },
      'POST /v1/proposals/{id}/responses': { path: `/v1/proposals/${p.id}/responses`, json: { stance: 'consent', reason: 'r', team: 'vision' } },
      'POST /v1/proposals/{id}/petition': { path: `/v1/proposals/${p.id}/petition` },
      'POST /v1/proposals/{id}/votes': { path: `/v1/proposals/${p.id}/votes`, json: { vote: 'abstain', reason: 'r', reportHash: p.impact.hash } },
      'POST /v1/proposals/{id}/overrule': { path: `/v1/proposals/${p.id}/overrule`, json: { rationale: 'r' } },
      'POST /v1/proposals/{id}/rollback': { path: `/v1/proposals/${p.id}/rollback`, json: { rationale: 'r' } },
      'POST /v1/proposals/{id}/amend': { path: `/v1/proposals/${p.id}/amend`, json: { policy: policyText(2, 10), rationale: 'same again' } },
      'POST /v1/proposals/{id}/withdraw': { path: `/v1/proposals/${p.id}/withdraw` },
    };
    const outcomes: string[] = [];
    for (const [operation, row] of Object.entries(MATRIX)) {
      const [method, template] = operation.split(' ') as [string, string];
      const request = requests[operation] ?? { path: template };
      for (const caller of CALLERS) {
        const r = await a.request<ErrorBody>(method, request.path, { token: caller === 'none' ? null : tok(caller), stream: true, ...(request.json !== undefined ? { json: request.json } : {}) });
        const expected = row === 'public' ? 'public' : caller === 'none' ? 'unauthenticated' : row[caller];
        const ok =
          expected === 'public'
            ? r.status === 200
            : expected === 'unauthenticated'
              ? r.status === 401 && r.body.code === 'unauthorized'
              : expected === 'deny'
                ? r.status === 403 && r.body.code === 'forbidden' && r.body.message.length > 0
                : r.status !== 401 && r.status !== 403 && r.status < 500;
        if (!ok) outcomes.push(`${operation} as ${caller}: expected ${expected}, got ${r.status} ${r.text.slice(0, 200)}`);
      }
    }
    expect(outcomes).toEqual([]);
    // The allowed requests happened (the job was cancelled, the author withdrew), the denied ones left no entry of their own.
    expect((await a.get<{ status: string }>(`/v1/jobs/${job.id}`)).body.status).toBe('cancelled');
    expect((await proposal(p.id)).status).toBe('withdrawn');
    expect(await auditSize()).toBeGreaterThan(size);
  });
});

// ------------------------------------------------------------------ tokens

describe('tokens: one per user name, listed without secrets, revoked at once', () => {
  it('refuses a second token for a user name (the admin, with another role): exit 2, the message says why, nothing stored', async () => {
    const before = (await a.get<{ tokens: unknown[] }>('/v1/tokens')).body.tokens.length;
    for (const [user, role, team] of [
      ['admin', 'member', 'product'],
      ['leadA', 'lead', 'research'],
    ] as const) {
      const run = await cli(['token', 'create', '--data', data, '--user', user, '--role', role, '--team', team]);
      expect(run.status, run.stderr).toBe(2);
      expect(run.stderr).toMatch(new RegExp(`user name "${user}" is taken by token t-`));
      expect(run.stdout).not.toMatch(/arb_/);
    }
    expect((await a.get<{ tokens: unknown[] }>('/v1/tokens')).body.tokens.length).toBe(before);
  });

  it('lists tokens (CLI and API) with user, role and team, never a secret or hash', async () => {
    const listed = await a.get<{ tokens: { id: string; user: string; role: string; team: string | null; revokedAt: string | null }[] }>('/v1/tokens');
    expect(listed.status).toBe(200);
    expect(listed.body.tokens).toEqual(expect.arrayContaining([expect.objectContaining({ user: 'leadChild', role: 'lead', team: 'vision-3d', revokedAt: null })]));
    for (const t of listed.body.tokens) expect(Object.keys(t).sort()).toEqual(['createdAt', 'id', 'revokedAt', 'role', 'team', 'user']);
    const run = await cli(['token', 'list', '--data', data]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/leadChild\s*│\s*lead\s*│\s*vision-3d/);
    for (const secret of Object.values(tokens)) {
      expect(listed.text).not.toContain(secret);
      expect(run.stdout).not.toContain(secret);
    }
    expect(listed.text).not.toMatch(/[0-9a-f]{64}/);
    expect(run.stdout).not.toMatch(/[0-9a-f]{64}|arb_/);
  });

  const routes = async (token: string): Promise<number[]> => [
    (await a.get('/v1/jobs', token)).status,
    (await a.get('/v1/teams', token)).status,
    (await a.get('/v1/proposals', token)).status,
    (await a.post('/v1/proposals/p-1/comments', { text: 'still here?' }, token)).status,
  ];

  it('a token revoked through the API answers 401 on every route from the next request on; only an admin revokes', async () => {
    const secret = await createToken(data, 'temp-lead', 'lead', 'language');
    expect(await routes(secret)).toEqual([200, 200, 200, 200]); // now cached by the server
    const id = (await a.get<{ tokens: { id: string; user: string }[] }>('/v1/tokens')).body.tokens.find((t) => t.user === 'temp-lead')!.id;
    for (const who of ['leadA', 'council', 'viewer']) {
      const r = await a.request<ErrorBody>('DELETE', `/v1/tokens/${id}`, { token: tok(who) });
      expect(r.status, who).toBe(403);
      expect(r.body.message).toMatch(/revoke a token/);
    }
    expect((await a.get('/v1/teams', secret)).status).toBe(200);
    const revoked = await a.request<{ revokedAt: string | null }>('DELETE', `/v1/tokens/${id}?reason=left%20the%20lab`);
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    expect(await routes(secret)).toEqual([401, 401, 401, 401]);
    const entries = (await a.get<{ entries: { kind: string; subject: string; actor: string; reason: string }[] }>('/v1/audit?limit=1000')).body.entries;
    expect(entries.filter((e) => e.kind === 'token.revoke' && e.subject === id)).toEqual([expect.objectContaining({ actor: 'admin', reason: 'left the lab' })]);
  });

  it('a token revoked by `arbiter token revoke` on the data directory of the running server answers 401 within a second or so', async () => {
    const secret = await createToken(data, 'temp-member', 'member', 'product');
    expect(await routes(secret)).toEqual([200, 200, 200, 200]);
    const id = (await a.get<{ tokens: { id: string; user: string }[] }>('/v1/tokens')).body.tokens.find((t) => t.user === 'temp-member')!.id;
    const run = await cli(['token', 'revoke', id, '--data', data, '--reason', 'laptop stolen']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`token ${id} \\(temp-member, member of product\\) revoked`));
    // The server's cache keeps a token for 1 s: well within the wait, and every route refuses it then.
    await waitFor(async () => (await a.get('/v1/teams', secret)).status === 401, 'the revoked token to be refused', 5000);
    expect(await routes(secret)).toEqual([401, 401, 401, 401]);
    const list = await cli(['token', 'list', '--data', data, '--json']);
    const listed = (JSON.parse(list.stdout) as { tokens: { id: string; revokedAt: string | null }[] }).tokens.find((t) => t.id === id);
    expect(listed?.revokedAt).not.toBeNull();
    const again = await cli(['token', 'revoke', id, '--data', data]);
    expect([again.status, again.stdout]).toEqual([0, expect.stringMatching(/already revoked/)]);
    const unknown = await cli(['token', 'revoke', 't-nope', '--data', data]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/t-nope: no such token/);
  });
});
