// Governance end to end (docs/governance.md) on the real, built server: a proposal that cuts a
// team's guarantee, its consultation, votes bound to the impact report, the timelock, the ramp of
// policy versions the engine uses one after the other, rollback, emergencies that revert, and
// the audit log's proofs. Periods are seconds long (they come from the policy).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leafHash, verifyConsistency, verifyInclusion } from '../src/governance/merkle.js';
import { verifyCheckpointSignature } from '../src/governance/audit-log.js';
import { api, assertDistFresh, createToken, findTeam, sleep, smallCluster, startServer, stopAllServers, tempDir, waitFor, writeFile } from './server-harness.js';
import type { Api, Server, TeamNode } from './server-harness.js';

const policyText = (research: number, product: number, governance = GOVERNANCE): string => `
preemption: { minRuntime: 1s }
${governance}
teams:
  - name: research
    guarantee: { h100: ${research} }
  - name: product
    guarantee: { h100: ${product} }
`;
const GOVERNANCE = `governance:
  impactWindow: 1h
  commentPeriod: { minor: 1s, material: 3s }
  lateQuorumExtension: 0
  timelock: 2s
  ramp: { steps: 2, over: 2s }
  emergencyRatification: 3s
  petitionThreshold: 0.5`;

interface ProposalView {
  id: string;
  status: string;
  class: string;
  author: string;
  impact: { hash: string; teams: Record<string, { gpuHours: number; gpuHoursDelta: number; p95WaitDelta: number }> };
  affected: string[];
  awaitingResponses: string[];
  blockers: string[];
  objections: { team: string; open: boolean }[];
  tally: { cast: number; approve: number; quorumMet: boolean };
  petition: { signatures: unknown[]; needed: number; reopened: boolean };
  deadlines: { votingCloses: string | null; enforceAt: string | null; steps: { step: number; at: string; version: number | null }[] };
  timeline: { event: string; actor: string }[];
  rolledBackTo: number | null;
  receipt?: { entry: number; checkpoint: { size: number; root: string }; proof: string[] } | null;
}
interface ErrorBody {
  code: string;
  message: string;
  issues: { path: string; message: string }[];
}

let server: Server;
let a: Api;
const tokens: Record<string, string> = {};

const guarantee = async (team: string): Promise<number> => {
  const teams = (await a.get<{ teams: TeamNode[] }>('/v1/teams')).body.teams;
  return findTeam(teams, team)!.flavors['h100']!.guarantee;
};
const policyVersion = async (): Promise<number> => (await a.get<{ version: number }>('/v1/policy')).body.version;
const proposal = async (id: string): Promise<ProposalView> => (await a.get<ProposalView>(`/v1/proposals/${id}`)).body;
const vote = (id: string, who: string, hash: string, choice = 'approve') =>
  a.post<ProposalView & ErrorBody>(`/v1/proposals/${id}/votes`, { vote: choice, reason: `${who} read the report`, reportHash: hash }, tokens[who]);

beforeAll(async () => {
  assertDistFresh();
  const dir = tempDir('governance');
  const data = `${dir}/data`;
  server = await startServer(data, { args: ['--cluster', writeFile(dir, 'cluster.yaml', smallCluster(2, 8)), '--policy', writeFile(dir, 'policy.yaml', policyText(8, 8))] });
  a = api(server);
  const people: [string, string, string?][] = [
    ['c1', 'council'],
    ['c2', 'council'],
    ['c3', 'council'],
    ['lr', 'lead', 'research'],
    ['lp', 'lead', 'product'],
    ['m1', 'member', 'research'],
    ['m2', 'member', 'research'],
    ['v', 'viewer'],
  ];
  for (const [user, role, team] of people) tokens[user] = await createToken(data, user, role, team);
  // Contention: both teams want twice their guarantee, in 2-GPU jobs that run for hours.
  for (let i = 0; i < 8; i++) {
    for (const team of ['research', 'product']) expect((await a.post('/v1/jobs', { team, gpus: 2, duration: 36_000 })).status).toBe(201);
  }
}, 60_000);

afterAll(stopAllServers);

describe('a proposal that cuts one team guarantee', () => {
  let id = '';
  let firstHash = '';

  it('is created with a simulated impact that shows that team as affected', async () => {
    const created = await a.post<ProposalView>('/v1/proposals', { title: 'More for product', rationale: 'launch week', policy: policyText(2, 14) }, tokens['lp']);
    expect(created.status).toBe(201);
    const p = created.body;
    id = p.id;
    firstHash = p.impact.hash;
    expect(p).toMatchObject({ status: 'consultation', class: 'material', author: 'lp', affected: ['research'], awaitingResponses: ['research'] });
    expect(p.impact.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(p.impact.teams['research']!.gpuHoursDelta).toBeLessThan(0);
    expect(p.impact.teams['product']!.gpuHoursDelta).toBeGreaterThan(0);
    // The report is stored whole: GET returns the same hash.
    expect((await proposal(id)).impact.hash).toBe(firstHash);
  });

  it('cannot be approved before the lead responded, while an objection is open, or without quorum', async () => {
    expect((await vote(id, 'c1', firstHash)).status).toBe(200);
    await sleep(3200); // past the comment period
    let p = await proposal(id);
    expect(p.status).toBe('consultation');
    expect(p.blockers).toEqual(expect.arrayContaining([expect.stringMatching(/response of the lead of: research/), expect.stringMatching(/quorum: 1 of 3/)]));
    const objection = await a.post<ProposalView>(`/v1/proposals/${id}/responses`, { stance: 'object', reason: 'our jobs wait four times longer', metric: 'p95Wait' }, tokens['lr']);
    expect(objection.status).toBe(200);
    expect((await vote(id, 'c2', firstHash)).status).toBe(200);
    p = await proposal(id);
    expect(p.tally.quorumMet).toBe(true);
    expect(p.status).toBe('consultation');
    expect(p.objections).toEqual([expect.objectContaining({ team: 'research', open: true })]);
    expect(p.blockers).toEqual([expect.stringMatching(/open objection\(s\) from: research \(p95Wait\)/)]);
  });

  it('an amendment makes a new report; a ballot on the superseded one is refused', async () => {
    const amended = await a.post<ProposalView>(`/v1/proposals/${id}/amend`, { policy: policyText(4, 12), rationale: 'a smaller cut, as research asked' }, tokens['lp']);
    expect(amended.status).toBe(200);
    expect(amended.body.impact.hash).not.toBe(firstHash);
    expect(amended.body.tally.cast).toBe(0);
    expect(amended.body.awaitingResponses).toEqual(['research']);
    const stale = await vote(id, 'c1', firstHash);
    expect(stale.status).toBe(409);
    expect(stale.body.code).toBe('conflict');
    expect(stale.body.message).toMatch(/current report/);
  });

  it('after approval the timelock holds, then the ramp makes each version and the engine uses it; a rollback restores the old policy', async () => {
    const hash = (await proposal(id)).impact.hash;
    expect((await a.post(`/v1/proposals/${id}/responses`, { stance: 'consent', reason: 'we can live with 4' }, tokens['lr'])).status).toBe(200);
    const ballot = await vote(id, 'c1', hash);
    expect((await vote(id, 'c2', hash)).status).toBe(200);
    expect(ballot.body.receipt).toBeTruthy();
    const receipt = ballot.body.receipt!;

    const scheduled = await waitFor(async () => {
      const p = await proposal(id);
      return p.status === 'scheduled' ? p : undefined;
    }, 'approval after the comment period', 10_000);
    expect(scheduled.deadlines.steps).toHaveLength(2);
    // The timelock: nothing enforced yet.
    expect(await policyVersion()).toBe(1);
    expect(await guarantee('research')).toBe(8);

    // Step 1 of 2: halfway, rounded down: research 6, product 10.
    await waitFor(async () => (await policyVersion()) === 2, 'the first ramp step', 10_000, 20);
    expect(await guarantee('research')).toBe(6);
    expect(await guarantee('product')).toBe(10);
    await waitFor(async () => (await policyVersion()) === 3, 'the last ramp step', 10_000, 20);
    expect(await guarantee('research')).toBe(4);
    expect(await guarantee('product')).toBe(12);
    const active = await proposal(id);
    expect(active.status).toBe('active');
    // Step 8: the realized figures beside the predicted ones.
    const review = (active as unknown as { review: { predicted: Record<string, unknown>; realized: Record<string, { jobs: number }> } }).review;
    expect(Object.keys(review.predicted).sort()).toEqual(['product', 'research']);
    expect(Object.keys(review.realized).sort()).toEqual(['product', 'research']);
    expect(active.deadlines.steps.map((s) => s.version)).toEqual([2, 3]);
    const versions = (await a.get<{ versions: { version: number; proposal: string | null; step: number | null }[] }>('/v1/policy/versions')).body.versions;
    expect(versions.map((v) => [v.version, v.proposal, v.step])).toEqual([
      [1, null, null],
      [2, id, 1],
      [3, id, 2],
    ]);

    // The voter's receipt proves the ballot is in the signed log.
    const entry = (await a.get<{ entries: { index: number; entry: string; kind: string }[] }>(`/v1/audit?from=${receipt.entry}&limit=1`)).body.entries[0]!;
    expect(entry.kind).toBe('proposal.vote');
    const root = Buffer.from(receipt.checkpoint.root, 'hex');
    expect(verifyInclusion(leafHash(entry.entry), receipt.entry, receipt.checkpoint.size, receipt.proof.map((h) => Buffer.from(h, 'hex')), root)).toBe(true);

    const forbidden = await a.post<ErrorBody>(`/v1/proposals/${id}/rollback`, { rationale: 'no' }, tokens['lr']);
    expect(forbidden.status).toBe(403);
    const rolled = await a.post<ProposalView>(`/v1/proposals/${id}/rollback`, { rationale: 'research deadlines slipped' }, tokens['c3']);
    expect(rolled.status).toBe(200);
    expect(rolled.body.status).toBe('rolled_back');
    expect(rolled.body.rolledBackTo).toBe(4);
    expect(await policyVersion()).toBe(4);
    expect(await guarantee('research')).toBe(8);
    expect((await a.get<{ text: string }>('/v1/policy')).body.text).toBe(policyText(8, 8));
  });

  it('signs checkpoints that grow consistently', async () => {
    const checkpoints = (await a.get<{ checkpoints: { size: number; root: string; time: string; signature: string; publicKey: string }[] }>('/v1/audit/checkpoints')).body.checkpoints;
    expect(checkpoints.length).toBeGreaterThan(3);
    for (const c of checkpoints) expect(verifyCheckpointSignature(c)).toBe(true);
    const first = checkpoints.find((c) => c.size > 0)!;
    const last = (await a.get<{ size: number; root: string }>('/v1/audit/checkpoint')).body;
    const consistency = (await a.get<{ proof: string[]; fromRoot: string; toRoot: string }>(`/v1/audit/proof/consistency?from=${first.size}&to=${last.size}`)).body;
    expect([consistency.fromRoot, consistency.toRoot]).toEqual([first.root, last.root]);
    const proof = consistency.proof;
    expect(verifyConsistency(first.size, last.size, Buffer.from(first.root, 'hex'), Buffer.from(last.root, 'hex'), proof.map((h) => Buffer.from(h, 'hex')))).toBe(true);
    const metrics = (await a.get('/metrics')).text;
    expect(metrics).toMatch(/^arbiter_policy_version 4$/m);
    expect(metrics).toMatch(/^arbiter_proposals\{status="rolled_back"\} 1$/m);
    expect(metrics).toMatch(/^arbiter_audit_entries \d+$/m);
    const kinds = (await a.get<{ entries: { kind: string }[] }>('/v1/audit?from=0&limit=1000')).body.entries.map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['policy.version', 'token.create', 'proposal.create', 'proposal.vote', 'proposal.respond', 'proposal.amend', 'policy.activate', 'proposal.rollback']));
  });
});

describe('petitions and emergencies', () => {
  it('members of the affected team reopen consultation by petition', async () => {
    const p = (await a.post<ProposalView>('/v1/proposals', { title: 'Again', rationale: 'second try', policy: policyText(3, 13) }, tokens['lp'])).body;
    expect(p.affected).toEqual(['research']);
    // research has 3 people (lead and two members): 0.5 of them is 2 signatures.
    expect(p.petition.needed).toBe(2);
    expect((await a.post<ErrorBody>(`/v1/proposals/${p.id}/petition`, undefined, tokens['lp'])).status).toBe(403);
    expect((await a.post(`/v1/proposals/${p.id}/petition`, undefined, tokens['m1'])).status).toBe(200);
    const second = await a.post<ProposalView>(`/v1/proposals/${p.id}/petition`, undefined, tokens['m2']);
    expect(second.body.petition.reopened).toBe(true);
    expect(second.body.timeline.filter((e) => e.event === 'consultation')).toHaveLength(2);
    expect((await a.post<ErrorBody>(`/v1/proposals/${p.id}/petition`, undefined, tokens['m2'])).status).toBe(409);
    // Anyone may comment, even a council member or a member of an unaffected team.
    const commented = await a.post<ProposalView & { comments: { actor: string; text: string }[] }>(`/v1/proposals/${p.id}/comments`, { text: 'what about a smaller cut?' }, tokens['c2']);
    expect(commented.status).toBe(200);
    expect(commented.body.comments).toEqual([expect.objectContaining({ actor: 'c2', text: 'what about a smaller cut?' })]);
    expect((await a.post(`/v1/proposals/${p.id}/withdraw`, undefined, tokens['lp'])).status).toBe(200);
  });

  it('an emergency change takes effect at once and reverts by itself when not ratified', async () => {
    const before = await policyVersion();
    const open = (await a.post<ProposalView & { baseVersion: number }>('/v1/proposals', { title: 'Pending', rationale: 'open during the emergency', policy: policyText(6, 10) }, tokens['lp'])).body;
    expect(open.baseVersion).toBe(before);
    const refused = await a.post<ErrorBody>('/v1/emergency', { title: 'x', rationale: 'y', policy: policyText(0, 16) }, tokens['c1']);
    expect(refused.status).toBe(403);
    const e = await a.post<ProposalView>('/v1/emergency', { title: 'Outage', rationale: 'serving is down', policy: policyText(0, 16) });
    expect(e.status).toBe(201);
    expect(e.body.class).toBe('emergency');
    expect(await policyVersion()).toBe(before + 1);
    expect(await guarantee('product')).toBe(16);
    // The open proposal was analysed again against the emergency policy now in force.
    const rebased = (await a.get<ProposalView & { baseVersion: number }>(`/v1/proposals/${open.id}`)).body;
    expect(rebased.baseVersion).toBe(before + 1);
    expect(rebased.impact.hash).not.toBe(open.impact.hash);
    expect(rebased.timeline.map((t) => t.event)).toContain('reanalysed');
    expect((await a.post(`/v1/proposals/${open.id}/withdraw`, undefined, tokens['lp'])).status).toBe(200);
    await waitFor(async () => (await policyVersion()) === before + 2, 'the emergency to revert', 10_000);
    expect(await guarantee('product')).toBe(8);
    const reverted = await proposal(e.body.id);
    expect(reverted.status).toBe('rolled_back');
    expect(reverted.timeline.map((t) => t.event)).toContain('reverted');
  });
});

describe('an attached workload', () => {
  it('replaces the recorded one in the impact analysis (an installation with no history)', async () => {
    // Research wants the whole fleet in 1-GPU jobs for an hour; product is idle.
    const trace = Array.from({ length: 16 }, (_, i) => ({ id: `t${i}`, submit: 0, team: 'research', gpus: 1, duration: 3600 }));
    const p = (await a.post<ProposalView & { impact: { workload: { jobs: number } } }>('/v1/proposals', { title: 'Cap research', rationale: 'what if', policy: policyText(2, 14).replace('guarantee: { h100: 2 }', 'guarantee: { h100: 2 }\n    limit: { h100: 4 }'), trace }, tokens['lp'])).body;
    expect(p.impact.workload.jobs).toBe(16);
    expect(p.affected).toEqual(['research']);
    expect(p.impact.teams['research']!.gpuHoursDelta).toBe(-12);
    const csv = await a.post<ProposalView>('/v1/proposals', { title: 'Same, as CSV', rationale: 'what if', policy: policyText(8, 8), trace: 'id,submit,team,gpus,duration\nx,0,research,1,60\n' }, tokens['lp']);
    expect(csv.status).toBe(201);
    const bad = await a.post<{ issues: { path: string }[] }>('/v1/proposals', { title: 't', rationale: 'r', policy: policyText(8, 8), trace: [{ submit: -1, team: 'research', gpus: 0, duration: 1 }] }, tokens['lp']);
    expect(bad.status).toBe(400);
    expect(bad.body.issues.map((i) => i.path).sort()).toEqual(['trace.0.gpus', 'trace.0.submit']);
    for (const id of [p.id, csv.body.id]) expect((await a.post(`/v1/proposals/${id}/withdraw`, undefined, tokens['lp'])).status).toBe(200);
  });
});

describe('deadlines without a running server', () => {
  it('a deadline that passed while the server was down is applied at the next start', async () => {
    const dir = tempDir('governance-restart');
    const data = `${dir}/data`;
    const args = ['--cluster', writeFile(dir, 'cluster.yaml', smallCluster(1, 8))];
    const first = await startServer(data, { args: [...args, '--policy', writeFile(dir, 'policy.yaml', policyText(4, 4))] });
    const council = await createToken(data, 'solo', 'council');
    const lead = await createToken(data, 'lx', 'lead', 'research');
    const b = api(first);
    const p = (await b.post<ProposalView>('/v1/proposals', { title: 'Tidy', rationale: 'no one is affected', policy: policyText(4, 3) }, lead)).body;
    expect(p.class).toBe('minor');
    expect((await b.post(`/v1/proposals/${p.id}/votes`, { vote: 'approve', reason: 'fine', reportHash: p.impact.hash }, council)).status).toBe(200);
    expect((await b.get<ProposalView>(`/v1/proposals/${p.id}`)).body.status).toBe('consultation');
    expect(await first.stop()).toBe(0);
    await sleep(1500); // the 1 s comment period ends while nothing runs
    const second = await startServer(data, { args });
    const c = api({ url: second.url, adminToken: first.adminToken });
    // Applied during start-up, before any request could trigger it.
    expect((await c.get<{ version: number; text: string }>('/v1/policy')).body).toMatchObject({ version: 2, text: policyText(4, 3) });
    expect((await c.get<ProposalView>(`/v1/proposals/${p.id}`)).body.status).toBe('active');
    expect(await second.stop()).toBe(0);
  });
});

describe('bad and forbidden governance requests change nothing', () => {
  it('answers 400, 401, 403, 404 and 409 as api.md says', async () => {
    const count = async () => (await a.get<{ proposals: unknown[] }>('/v1/proposals')).body.proposals.length;
    const n = await count();
    const bad = await a.post<ErrorBody>('/v1/proposals', { title: '', policy: 'teams: [', extra: 1 }, tokens['lp']);
    expect(bad.status).toBe(400);
    expect(bad.body.issues.map((i) => i.path).sort()).toEqual(expect.arrayContaining(['title', 'rationale']));
    const invalid = await a.post<ErrorBody>('/v1/proposals', { title: 't', rationale: 'r', policy: policyText(20, 8) }, tokens['lp']);
    expect(invalid.status).toBe(400);
    expect(invalid.body.issues[0]!.path).toMatch(/^policy/);
    expect((await a.post<ErrorBody>('/v1/proposals', { title: 't', rationale: 'r', policy: policyText(8, 8) }, tokens['m1'])).status).toBe(403);
    expect((await a.post<ErrorBody>('/v1/proposals', { title: 't', rationale: 'r', policy: policyText(8, 8) }, null)).status).toBe(401);
    expect((await a.get<ErrorBody>('/v1/proposals/p-999')).status).toBe(404);
    expect(await count()).toBe(n);

    const p = (await a.post<ProposalView>('/v1/proposals', { title: 'Minor', rationale: 'tidy', policy: policyText(8, 8) }, tokens['lr'])).body;
    expect(p.class).toBe('minor');
    expect((await a.post<ErrorBody>(`/v1/proposals/${p.id}/amend`, { policy: policyText(8, 8), rationale: 'mine now' }, tokens['lp'])).status).toBe(403);
    expect((await a.post<ErrorBody>(`/v1/proposals/${p.id}/votes`, { vote: 'approve', reason: 'r', reportHash: p.impact.hash }, tokens['lr'])).status).toBe(403);
    const badBallot = await a.post<ErrorBody>(`/v1/proposals/${p.id}/votes`, { vote: 'yes', reason: '', reportHash: 42 }, tokens['c1']);
    expect(badBallot.status).toBe(400);
    expect(badBallot.body.issues.map((i) => i.path).sort()).toEqual(['reason', 'reportHash', 'vote']);
    // A well-formed ballot on a report that is not the current one: 409, whatever the hash looks like.
    expect((await a.post<ErrorBody>(`/v1/proposals/${p.id}/votes`, { vote: 'approve', reason: 'r', reportHash: 'abc' }, tokens['c1'])).status).toBe(409);
    expect((await a.post<ErrorBody>(`/v1/proposals/${p.id}/responses`, { stance: 'consent', reason: 'r' }, tokens['lr'])).status).toBe(403); // research is not affected
    expect((await proposal(p.id)).tally.cast).toBe(0);
    // Each role against each governance action it may not take: 403, nothing recorded.
    const forbidden: [string, string, unknown][] = [
      ['v', 'proposals', { title: 't', rationale: 'r', policy: policyText(8, 8) }],
      ['v', `proposals/${p.id}/votes`, { vote: 'approve', reason: 'r', reportHash: p.impact.hash }],
      ['admin', `proposals/${p.id}/votes`, { vote: 'approve', reason: 'r', reportHash: p.impact.hash }],
      ['m1', `proposals/${p.id}/responses`, { stance: 'consent', reason: 'r' }],
      ['c1', `proposals/${p.id}/responses`, { stance: 'consent', reason: 'r' }],
      ['lr', `proposals/${p.id}/overrule`, { rationale: 'r' }],
      ['v', `proposals/${p.id}/petition`, undefined],
      ['c1', `proposals/${p.id}/withdraw`, undefined],
      ['m1', 'emergency', { title: 't', rationale: 'r', policy: policyText(8, 8) }],
    ];
    for (const [who, route, body] of forbidden) {
      const r = await a.post<ErrorBody>(`/v1/${route}`, body, who === 'admin' ? undefined : tokens[who]);
      expect(r.status, `${who} POST ${route}`).toBe(403);
      expect(r.body.code).toBe('forbidden');
    }
    const after = await proposal(p.id);
    expect([after.tally.cast, after.status, after.timeline.length]).toEqual([0, 'consultation', 2]);
    expect((await a.post(`/v1/proposals/${p.id}/withdraw`, undefined, tokens['lr'])).status).toBe(200);
    expect((await a.post<ErrorBody>(`/v1/proposals/${p.id}/withdraw`, undefined, tokens['lr'])).status).toBe(409);
  });
});
