// Impact analyses on the real, built server: an analysis of a large attached trace never holds up
// job requests, even when a governance deadline falls due while it runs (the deadline is applied
// after it, off the request path), and a trace over the server's bound is refused with a 400.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCluster } from '../src/core/config/cluster.js';
import { parsePolicy } from '../src/core/config/policy.js';
import type { Fleet, Policy } from '../src/core/model.js';
import { analyzeImpact, type ImpactReport } from '../src/governance/impact.js';
import { api, assertDistFresh, createToken, sleep, smallCluster, startServer, stopAllServers, tempDir, waitFor, writeFile } from './server-harness.js';
import type { Api, Server } from './server-harness.js';

const policyText = (research: number, product: number): string => `
preemption: { minRuntime: 1s }
governance:
  impactWindow: 1d
  commentPeriod: { minor: 1s, material: 60s }
  lateQuorumExtension: 0
  timelock: 0s
  ramp: { steps: 1, over: 0s }
teams:
  - name: research
    guarantee: { h100: ${research} }
  - name: product
    guarantee: { h100: ${product} }
`;

/** Both teams submit far more than the 16 GPUs can run: thousands of jobs wait at once (all inside the 1-day window). */
const congested = (jobs: number) =>
  Array.from({ length: jobs }, (_, i) => ({ id: `t${i}`, submit: i * 2, team: i % 2 ? 'research' : 'product', gpus: 1 + (i % 4), duration: 1800 + ((i * 37) % 5400) }));

interface View {
  id: string;
  status: string;
  class: string;
  impact: { hash: string; workload?: { jobs: number } } & Partial<ImpactReport>;
  deadlines: { votingCloses: string | null };
}

const MAX_TRACE_JOBS = 8000;
let clusterText: string;
let server: Server;
let a: Api;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  assertDistFresh();
  const dir = tempDir('impact');
  const data = `${dir}/data`;
  clusterText = smallCluster(2, 8);
  const args = ['--cluster', writeFile(dir, 'cluster.yaml', clusterText), '--policy', writeFile(dir, 'policy.yaml', policyText(8, 8)), '--max-trace-jobs', String(MAX_TRACE_JOBS)];
  server = await startServer(data, { args });
  a = api(server);
  tokens['council'] = await createToken(data, 'solo', 'council');
  tokens['lead'] = await createToken(data, 'lr', 'lead', 'research');
}, 60_000);

afterAll(stopAllServers);

const parsed = <T>(r: { ok: true; value: T } | { ok: false }): T => {
  if (!r.ok) throw new Error('a fixture does not parse');
  return r.value;
};

describe("the server's analysis, its two replays on two threads", () => {
  it('gives the report, byte for byte, that one replay after the other gives', async () => {
    // Over PARALLEL_REPLAY_JOBS: the proposal's replay runs in a thread of its own.
    const trace = congested(2500);
    const made = await a.post<View>('/v1/proposals', { title: 'Shift', rationale: 'what if', policy: policyText(4, 12), trace }, tokens['lead']);
    expect(made.status).toBe(201);
    const report = made.body.impact as ImpactReport;
    expect(report.workload.jobs).toBe(2500);
    // The same inputs, analysed here from the sources, one replay after the other.
    const fleet: Fleet = parsed(parseCluster(clusterText, 'cluster.yaml'));
    const policy = (text: string): Policy => parsed(parsePolicy(text, 'policy.yaml', fleet));
    const from = Date.parse(report.window.from) / 1000;
    const inForce = policy(policyText(8, 8));
    const sequential = analyzeImpact({
      fleet,
      current: { policy: inForce, version: report.inputs.currentPolicyVersion, hash: report.inputs.currentPolicyHash },
      proposed: { policy: policy(policyText(4, 12)), hash: report.inputs.proposedPolicyHash },
      workload: trace.map((j) => ({ id: j.id, submittedAt: from + j.submit, team: j.team, class: inForce.defaultClass, flavor: null, gpus: j.gpus, duration: j.duration, timeLimit: null })),
      window: { from, to: Date.parse(report.window.to) / 1000 },
      materialThreshold: report.inputs.materialThreshold,
      engineVersion: report.inputs.engineVersion,
    });
    expect(report.class).toBe('material');
    expect(sequential).toEqual(report);
    expect((await a.post(`/v1/proposals/${made.body.id}/withdraw`, undefined, tokens['lead'])).status).toBe(200);
  }, 120_000);
});

describe('an impact analysis in progress', () => {
  it('holds up no job request, even with a deadline due; the deadline is applied after it', async () => {
    // A minor proposal, approved: its comment period ends 1 s after it was made.
    const minor = (await a.post<View>('/v1/proposals', { title: 'Tidy', rationale: 'no one is affected', policy: policyText(8, 7) }, tokens['lead'])).body;
    expect(minor.class).toBe('minor');
    expect((await a.post(`/v1/proposals/${minor.id}/votes`, { vote: 'approve', reason: 'fine', reportHash: minor.impact.hash }, tokens['council'])).status).toBe(200);
    const due = Date.parse(minor.deadlines.votingCloses!);

    // Meanwhile two proposals attach congested traces: their analyses take seconds each and run
    // one after the other (if replays become much faster, make the traces larger: the deadline
    // must fall due during the first).
    let firstAnswered = false;
    const propose = (title: string) => a.post<View>('/v1/proposals', { title, rationale: 'what if', policy: policyText(4, 12), trace: congested(6000) }, tokens['lead']);
    const first = propose('Shift').then((r) => {
      firstAnswered = true;
      return r;
    });
    const second = propose('Shift again');
    await sleep(Math.max(0, due - Date.now()) + 200);
    // The deadline is due, the analyses still run. Job requests are answered all the same: before
    // the first proposal is (a request that waited for the deadline would wait for both analyses).
    const list = await a.get<{ jobs: unknown[] }>('/v1/jobs');
    const submit = await a.post<{ status: string }>('/v1/jobs', { team: 'research', gpus: 1, duration: 60 });
    const teams = await a.get('/v1/teams');
    expect([list.status, submit.status, teams.status]).toEqual([200, 201, 200]);
    expect(firstAnswered, 'job requests were answered only after an analysis').toBe(false);

    const made = [await first, await second];
    expect(made.map((r) => [r.status, r.body.impact.workload?.jobs])).toEqual([
      [201, 6000],
      [201, 6000],
    ]);
    // The due deadline was applied (after the analysis, in turn): the minor change is in force.
    await waitFor(async () => (await a.get<{ version: number }>('/v1/policy')).body.version === 2, 'the deadline to be applied', 30_000);
    expect((await a.get<View>(`/v1/proposals/${minor.id}`)).body.status).toBe('active');
    for (const r of made) expect((await a.post(`/v1/proposals/${r.body.id}/withdraw`, undefined, tokens['lead'])).status).toBe(200);
  }, 120_000);
});

describe('an attached trace over the bound', () => {
  it('is refused with a 400 that names the bound and the count, and nothing is stored', async () => {
    const count = async () => (await a.get<{ proposals: unknown[] }>('/v1/proposals')).body.proposals.length;
    const before = await count();
    const json = await a.post<{ code: string; message: string; issues: { path: string; message: string }[] }>(
      '/v1/proposals',
      { title: 'Too big', rationale: 'r', policy: policyText(4, 12), trace: congested(MAX_TRACE_JOBS + 1) },
      tokens['lead'],
    );
    expect(json.status).toBe(400);
    expect(json.body.code).toBe('invalid_input');
    expect(json.body.message).toContain(`${MAX_TRACE_JOBS + 1} jobs`);
    expect(json.body.message).toContain(`${MAX_TRACE_JOBS}`);
    expect(json.body.issues.map((i) => i.path)).toEqual(['trace']);
    // The same bound for CSV text (rows after the header), and for an emergency change.
    const csv = ['id,submit,team,gpus,duration', ...congested(MAX_TRACE_JOBS + 1).map((j) => `${j.id},${j.submit},${j.team},${j.gpus},${j.duration}`)].join('\n');
    const asCsv = await a.post<{ message: string }>('/v1/proposals', { title: 'Too big', rationale: 'r', policy: policyText(4, 12), trace: csv }, tokens['lead']);
    expect(asCsv.status).toBe(400);
    expect(asCsv.body.message).toContain(`${MAX_TRACE_JOBS + 1} jobs`);
    const emergency = await a.post<{ message: string }>('/v1/emergency', { title: 'Too big', rationale: 'r', policy: policyText(4, 12), trace: csv });
    expect(emergency.status).toBe(400);
    expect(await count()).toBe(before);
    // At the bound it is analysed (jobs a minute apart: most fall outside the window, which keeps it short).
    const spread = congested(MAX_TRACE_JOBS).map((j, i) => ({ ...j, submit: i * 60 }));
    const atBound = await a.post<View>('/v1/proposals', { title: 'Just fits', rationale: 'r', policy: policyText(4, 12), trace: spread }, tokens['lead']);
    expect(atBound.status).toBe(201);
    expect(atBound.body.impact.workload?.jobs).toBe(MAX_TRACE_JOBS);
    expect((await a.post(`/v1/proposals/${atBound.body.id}/withdraw`, undefined, tokens['lead'])).status).toBe(200);
  }, 120_000);
});

describe('a large attached trace that is not valid', () => {
  // Bodies this large are read in a worker thread (impact-runner.ts), and the CSV checked
  // against the policy where the analysis runs: the answers are the same 400s, naming where.
  it('is refused with a 400 naming each bad job or line, and nothing is stored', async () => {
    type Refusal = { code: string; message: string; issues: { path: string; message: string }[] };
    const count = async () => (await a.get<{ proposals: unknown[] }>('/v1/proposals')).body.proposals.length;
    const before = await count();
    const jobs: Record<string, unknown>[] = congested(3000);
    jobs[2500] = { ...jobs[2500], gpus: 0 };
    jobs[2700] = { ...jobs[2700], colour: 'red' };
    const json = await a.post<Refusal>('/v1/proposals', { title: 'Bad jobs', rationale: 'r', policy: policyText(4, 12), trace: jobs }, tokens['lead']);
    expect(json.status).toBe(400);
    expect(json.body.code).toBe('invalid_input');
    expect(json.body.message).toBe('the proposal is not valid: 2 problem(s)');
    expect(json.body.issues.map((i) => i.path)).toEqual(['trace.2500.gpus', 'trace.2700']);
    expect(json.body.issues[0]!.message).toBe('must be at least 1');
    expect(json.body.issues[1]!.message).toContain('unknown field "colour"');
    // An amendment reads its body the same way.
    const amend = await a.post<Refusal>('/v1/proposals/p-1/amend', { rationale: 'r', policy: policyText(4, 12), trace: jobs }, tokens['lead']);
    expect([amend.status, amend.body.message]).toEqual([400, 'the amendment is not valid: 2 problem(s)']);
    // Broken JSON of that size: the message of any other route.
    const text = JSON.stringify({ title: 'Broken', rationale: 'r', policy: policyText(4, 12), trace: congested(3000) });
    const broken = await a.request<Refusal>('POST', '/v1/proposals', { raw: text.slice(0, -1), headers: { 'content-type': 'application/json' }, token: tokens['lead']! });
    expect(broken.status).toBe(400);
    expect(broken.body.issues).toEqual([{ path: '(body)', message: "Body is not valid JSON but content-type is set to 'application/json'" }]);
    // CSV: a row whose team this policy does not have, checked where the analysis runs.
    const rows = congested(3000).map((j) => `${j.id},${j.submit},${j.team},${j.gpus},${j.duration}`);
    rows[1999] = 't1999,3998,nobody,1,60';
    const csv = await a.post<Refusal>('/v1/proposals', { title: 'Bad CSV', rationale: 'r', policy: policyText(4, 12), trace: ['id,submit,team,gpus,duration', ...rows].join('\n') }, tokens['lead']);
    expect(csv.status).toBe(400);
    expect(csv.body.message).toBe('the attached trace is not valid: 1 problem(s)');
    expect(csv.body.issues).toHaveLength(1);
    expect(csv.body.issues[0]!.path).toMatch(/^trace/);
    expect(csv.body.issues[0]!.message).toMatch(/^line 2001: .*nobody/);
    expect(await count()).toBe(before);
  }, 120_000);
});
