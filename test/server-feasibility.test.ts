// No silent rejection, and expected starts that say where they come from, on the real, built
// server and CLI: a job that can never run is refused at submission (400, nothing stored, the
// CLI exits 2 naming the largest shape); a job that a later policy version makes impossible
// keeps its reason in the API, `arbiter jobs` and `arbiter explain`; a waiting job's expected
// start comes from time limits (a class's defaultTimeLimit) or from the team's run history.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, assertDistFresh, cli, startServer, stopAllServers, tempDir, waitFor, writeFile } from './server-harness.js';
import type { Api, Server } from './server-harness.js';

interface Job {
  id: string;
  status: string;
  reason: { code: string; message: string } | null;
  expectedStart: string | null;
  expectedStartBasis: string | null;
  timeLimit: number | null;
  rejectReason: string | null;
}

// Two pools of 2 nodes x 8 h100: 32 GPUs, whole-node gangs of at most 4 nodes.
const CLUSTER = `pools:
  - { name: p, flavor: h100, nodes: 2, gpusPerNode: 8 }
  - { name: q, flavor: h100, nodes: 2, gpusPerNode: 8 }
`;
const policyText = (limit: number, researchDefault = '', guarantee = 16) => `priorityClasses:
  - { name: training, priority: 500 }
  - { name: research, priority: 100${researchDefault ? `, defaultTimeLimit: ${researchDefault}` : ''} }
defaultClass: research
teams:
  - name: lab
    guarantee: { h100: ${guarantee} }
    limit: { h100: ${limit} }
  - name: other
    guarantee: { h100: 8 }
`;

async function serve(policy: string, speed = 1): Promise<{ server: Server; a: Api; env: Record<string, string> }> {
  const dir = tempDir('feasible');
  const server = await startServer(`${dir}/data`, {
    args: ['--cluster', writeFile(dir, 'cluster.yaml', CLUSTER), '--policy', writeFile(dir, 'policy.yaml', policy), '--speed', String(speed)],
  });
  return { server, a: api(server), env: { ARBITER_SERVER: server.url, ARBITER_TOKEN: server.adminToken } };
}

beforeAll(() => assertDistFresh());
afterAll(stopAllServers);

describe('a job that can never run', () => {
  let a: Api;
  let env: Record<string, string>;
  beforeAll(async () => ({ a, env } = await serve(policyText(24))));

  it('is refused at submission: HTTP 400 naming the largest shape the team limit and the fleet allow, nothing stored', async () => {
    const r = await a.post<{ code: string; message: string; issues: { path: string; message: string }[] }>('/v1/jobs', { team: 'lab', gpus: 1000, duration: 60 });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      code: 'invalid_input',
      message: 'the job can never run under the policy in force',
      issues: [
        {
          path: 'gpus',
          message:
            '1000 GPUs is more than the 32 h100 of the fleet; team lab may hold at most 24 h100 GPUs (its limit), and the largest gang the fleet can place is 4 nodes x 8 h100 (a job above 8 GPUs asks for a multiple of a node size)',
        },
      ],
    });
    expect((await a.get<{ jobs: Job[] }>('/v1/jobs')).body.jobs).toEqual([]);
  });

  it('makes `arbiter submit` exit 2 with the reason, and stores nothing', async () => {
    const run = await cli(['submit', '--team', 'lab', '--gpus', '32', '--duration', '60'], env);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('the job can never run under the policy in force');
    expect(run.stderr).toContain('32 h100 is more than the 24 h100 limit of team "lab"; team lab may hold at most 24 h100 GPUs (its limit)');
    expect((await a.get<{ jobs: Job[] }>('/v1/jobs')).body.jobs).toEqual([]);
  });

  it('keeps its reason when a later policy version makes it impossible: API, `arbiter jobs`, `arbiter explain`', async () => {
    // Two 8-GPU jobs of lab run for hours; a 16-GPU one waits behind the limit of 24.
    for (let i = 0; i < 2; i++) expect((await a.post('/v1/jobs', { team: 'lab', gpus: 8, duration: 36_000 })).status).toBe(201);
    const waiting = (await a.post<Job>('/v1/jobs', { team: 'lab', gpus: 16, duration: 60 })).body;
    expect(waiting.status).toBe('pending');
    // An emergency change (in force at once) lowers lab's guarantee and limit to 8: 16 GPUs can
    // never run (the two running jobs go on).
    const emergency = await a.post('/v1/emergency', { title: 'Cap lab', rationale: 'budget', policy: policyText(8, '', 8) });
    expect(emergency.status, emergency.text).toBe(201);
    const job = await waitFor(async () => {
      const j = (await a.get<Job>(`/v1/jobs/${waiting.id}`)).body;
      return j.status === 'rejected' ? j : undefined;
    }, 'the job to be rejected by the new policy');
    expect(job.rejectReason).toMatch(/^policy version 2: 16 h100 is more than the 8 h100 limit of team "lab"; team lab may hold at most 8 h100 GPUs \(its limit\)/);
    expect(job.reason).toBeNull();

    const jobs = await cli(['jobs'], env);
    expect(jobs.status).toBe(0);
    const row = jobs.stdout.split('\n').find((line) => line.includes(` ${waiting.id} `));
    expect(row).toMatch(/rejected .*can never run: policy version 2: 16 h100 is more than/);
    const explain = await cli(['explain', waiting.id], env);
    expect(explain.status).toBe(0);
    expect(explain.stdout).toContain(`${waiting.id}: rejected, 16 GPUs`);
    expect(explain.stdout).toContain(`it can never run: ${job.rejectReason!}`);
  });
});

describe('the expected start of a waiting job', () => {
  it("comes from time limits when the job's class has a default time limit", async () => {
    const { a, env } = await serve(policyText(40, '2h'));
    // Research jobs declare no limit, so they run under research's default of 2 h.
    const full = (await a.post<Job>('/v1/jobs', { team: 'lab', gpus: 32, duration: 36_000 })).body;
    expect(full).toMatchObject({ status: 'running', timeLimit: 7200 });
    const waiting = (await a.post<Job>('/v1/jobs', { team: 'lab', gpus: 8, duration: 60 })).body;
    expect(waiting).toMatchObject({ status: 'pending', timeLimit: 7200, expectedStartBasis: 'timeLimits' });
    expect(waiting.reason!.code).toBe('WaitingForCapacity');
    expect(Date.parse(waiting.expectedStart!) / 1000).toBeCloseTo(Date.parse((await a.get<{ startedAt: string }>(`/v1/jobs/${full.id}`)).body.startedAt) / 1000 + 7200, 0);
    const explain = await cli(['explain', waiting.id], env);
    expect(explain.stdout).toMatch(/expected start: ~\S+ \(in ~2h\), from time limits/);
  });

  it('is estimated from the run history of the team and class of the runs it waits for', async () => {
    // At --speed 10, three research jobs of lab run 1 s, 10 s and 10 s of wall time, side by side.
    const { a, env } = await serve(policyText(40), 10);
    const past: string[] = [];
    for (const duration of [10, 100, 100]) past.push((await a.post<Job>('/v1/jobs', { team: 'lab', gpus: 8, duration })).body.id);
    await waitFor(
      async () => {
        const statuses = await Promise.all(past.map(async (id) => (await a.get<Job>(`/v1/jobs/${id}`)).body.status));
        return statuses.every((s) => s === 'completed') || undefined;
      },
      'the three short jobs to complete',
      30_000,
    );
    // No limit: the 32-GPU run's end is unknown from limits; its team's history says ~10 s.
    expect((await a.post<Job>('/v1/jobs', { team: 'lab', gpus: 32, duration: 1e6 })).body.status).toBe('running');
    const waiting = (await a.post<Job>('/v1/jobs', { team: 'lab', gpus: 8, duration: 60 })).body;
    const seen = (await a.get<Job>(`/v1/jobs/${waiting.id}`)).body;
    expect(seen).toMatchObject({ status: 'pending', expectedStartBasis: 'history', reason: { code: 'WaitingForCapacity' } });
    expect(seen.reason!.message).toContain('estimated from history');
    const explain = await cli(['explain', waiting.id], env);
    expect(explain.stdout).toMatch(/expected start: ~\S+ \(in ~\S+\), estimated from history/);
  });
});
