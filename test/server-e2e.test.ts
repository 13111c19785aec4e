// The live service end to end (docs/api.md, docs/scheduling.md "Reclaim"), through real
// `arbiter serve` processes (bin/arbiter.js -> dist/) and the client CLI, as users run them:
// a job from submission to completion, reclaim and preemption seen through the API, reasons and
// `arbiter explain`, Idempotency-Key, pagination and filters, cancellation, the local executor
// running real child processes, the client commands, /openapi.json, /metrics, restarts with a
// changed or unchanged policy, and the admin token file.
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest); the
// test does not build itself, because other test files run the same dist/ in parallel.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  assertDistFresh,
  burst,
  cli,
  findTeam,
  jobUser,
  openToJobs,
  ISO_UTC,
  rawJobPost,
  runServeExpectingExit,
  smallCluster,
  startServer,
  stopAllServers,
  tempDir,
  waitFor,
  writeFile,
  type Api,
  type ErrorBody,
  type FleetBody,
  type Job,
  type JobPage,
  type Server,
  type TeamNode,
} from './server-harness.js';

beforeAll(() => assertDistFresh());
afterAll(async () => {
  await stopAllServers();
});

const SPEC_JOB_FIELDS = [
  'id',
  'name',
  'team',
  'class',
  'flavor',
  'gpus',
  'status',
  'submittedAt',
  'startedAt',
  'endedAt',
  'placement',
  'preemptions',
  'reason',
  'expectedStart',
];
const STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out', 'rejected'];
const REASON_CODES = [
  'WaitingForCapacity',
  'GuaranteeExhausted',
  'TeamLimit',
  'ReservedForOtherJob',
  'MinRuntimeProtection',
  'LowerInOrder',
];

/** Checks the shape of a job as returned (docs/api.md) and returns it. */
function checkJob(job: Job): Job {
  for (const field of SPEC_JOB_FIELDS) expect(job, `job field ${field}`).toHaveProperty(field);
  expect(job.id).toMatch(/\S/);
  expect(STATUSES).toContain(job.status);
  expect(job.submittedAt).toMatch(ISO_UTC);
  for (const t of [job.startedAt, job.endedAt, job.expectedStart]) if (t !== null) expect(t).toMatch(ISO_UTC);
  expect(Array.isArray(job.placement)).toBe(true);
  for (const p of job.placement) {
    expect(typeof p.node).toBe('string');
    expect(Number.isInteger(p.gpus)).toBe(true);
  }
  if (job.status === 'pending') {
    expect(job.reason, `pending job ${job.id} has a reason`).not.toBeNull();
    expect(REASON_CODES).toContain(job.reason!.code);
    expect(job.reason!.message.length).toBeGreaterThan(0);
  } else {
    expect(job.reason).toBeNull();
  }
  if (job.status === 'running') expect(job.placement.reduce((n, p) => n + p.gpus, 0)).toBe(job.gpus);
  return job;
}

const allJobs = async (a: Api, query = ''): Promise<Job[]> => {
  const r = await a.get<JobPage>(`/v1/jobs?limit=1000${query}`);
  expect(r.status).toBe(200);
  return r.body.jobs;
};

const getJob = async (a: Api, id: string): Promise<Job> => {
  const r = await a.get<Job>(`/v1/jobs/${id}`);
  expect(r.status).toBe(200);
  return r.body;
};

const submit = async (
  a: Api,
  body: Record<string, unknown>,
  headers?: Record<string, string>,
): Promise<Job> => {
  const r = await a.post<Job>('/v1/jobs', body, undefined, headers);
  expect(r.status, r.text).toBe(201);
  return r.body;
};

const numericId = (id: string): number => Number(/(\d+)$/.exec(id)![1]);

// ====================================================================== the demo lab, simulated

describe('simulated executor on the demo lab (--speed 1000)', () => {
  let server: Server;
  let a: Api;

  beforeAll(async () => {
    server = await startServer(tempDir('e2e-demo'), { args: ['--speed', '1000'] });
    a = api(server);
  });

  it('writes the admin token to DIR/admin-token with mode 0600 and prints it once', () => {
    const file = path.join(server.data, 'admin-token');
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(server.adminToken).toMatch(/^\S{16,}$/);
    expect(server.startupOutput).toContain(server.adminToken);
  });

  it('answers /healthz: the store, the scheduling loop and the executor, each ok', async () => {
    const r = await a.get('/healthz', null);
    expect(r.status).toBe(200);
    const body = r.body as { scheduler: { exitsWaiting: number } };
    expect(body).toEqual({
      status: 'ok',
      role: 'leader',
      store: { kind: 'sqlite', ok: true },
      scheduler: { ok: true, exitsWaiting: body.scheduler.exitsWaiting },
      executor: { kind: 'simulated', ok: true },
    });
    expect(body.scheduler.exitsWaiting).toBeGreaterThanOrEqual(0);
  });

  it('runs a job from submission to completion: pending -> running -> completed, ISO times, placement', async () => {
    const body = {
      team: 'pretraining',
      gpus: 8,
      class: 'training',
      flavor: 'h100',
      name: 'llm-7b-run-3',
      duration: 1500,
      timeLimit: 7200,
    };
    const created = checkJobLoose(await submit(a, body));
    expect(created).toMatchObject({
      team: 'pretraining',
      gpus: 8,
      class: 'training',
      name: 'llm-7b-run-3',
      preemptions: 0,
      endedAt: null,
    });
    // The 201 is answered after the pass that follows the submission: the job may already run.
    expect(['pending', 'running']).toContain(created.status);
    expect(created.startedAt === null).toBe(created.status === 'pending');
    const seen: string[] = [created.status];
    let running: Job | undefined;
    const done = await waitFor(
      async () => {
        const job = await getJob(a, created.id);
        if (seen[seen.length - 1] !== job.status) seen.push(job.status);
        if (job.status === 'running') running ??= job;
        return job.status === 'completed' ? job : undefined;
      },
      'the job to complete',
      15_000,
      20,
    );
    expect(seen).toEqual(
      ['pending', 'running', 'completed'].slice(['pending', 'running', 'completed'].indexOf(seen[0]!)),
    );
    expect(running, 'the job was seen running').toBeDefined();
    checkJob(running!);
    expect(running!.flavor).toBe('h100');
    expect(running!.placement).toHaveLength(1); // S2: fits one node, runs on one node
    expect(running!.placement[0]).toMatchObject({ gpus: 8 });
    expect(running!.placement[0]!.node).toMatch(/^h100-/);
    expect(running!.startedAt).toMatch(ISO_UTC);
    checkJob(done);
    expect(done).toMatchObject({ status: 'completed', preemptions: 0, reason: null, exitCode: 0 });
    const submitted = Date.parse(done.submittedAt);
    const started = Date.parse(done.startedAt!);
    const ended = Date.parse(done.endedAt!);
    expect(submitted).toBeLessThanOrEqual(started);
    // 1500 s of work at --speed 1000: 1.5 s of wall time.
    expect(ended - started).toBeGreaterThanOrEqual(1400);
    expect(ended - started).toBeLessThan(5000);
    expect(Math.abs(submitted - Date.now())).toBeLessThan(60_000);
  });

  it('ends a run at its time limit: status timed_out', async () => {
    const job = await submit(a, { team: 'evals', gpus: 1, flavor: 'h100', duration: 5000, timeLimit: 1000 });
    const done = await waitFor(
      async () => {
        const j = await getJob(a, job.id);
        return ['pending', 'running'].includes(j.status) ? undefined : j;
      },
      'the job to end',
      10_000,
    );
    checkJob(done);
    expect(done.status).toBe('timed_out');
    const ran = Date.parse(done.endedAt!) - Date.parse(done.startedAt!);
    expect(ran).toBeGreaterThanOrEqual(900); // 1000 s at --speed 1000
    expect(ran).toBeLessThan(4000);
  });

  it('refuses at submission (400, nothing stored) a job of an impossible shape or a non-preemptible job above its guarantee, naming the largest shape', async () => {
    const before = await a.get<FleetBody>('/v1/fleet');
    const listed = (await a.get<{ jobs: Job[] }>('/v1/jobs?limit=1000')).body.jobs.length;
    for (const [body, rule] of [
      [{ team: 'pretraining', gpus: 12, flavor: 'h100', duration: 1 }, /12 GPUs fits no node of h100 .*\(S2\); team pretraining may hold at most 160 h100 GPUs \(its limit\), .*the largest gang the fleet can place is 24 nodes x 8 h100/],
      [{ team: 'serving', class: 'serving', gpus: 40, flavor: 'h100', duration: 1 }, /serving.*guaranteed 32 h100, less than 40 \(M4\); class serving may use at most the 32 h100 guaranteed to team serving/],
    ] as const) {
      const r = await a.post<ErrorBody>('/v1/jobs', body);
      expect(r.status, r.text).toBe(400);
      expect(r.body.code).toBe('invalid_input');
      expect(r.body.message).toBe('the job can never run under the policy in force');
      expect(r.body.issues.map((i) => i.path)).toEqual(['gpus']);
      expect(r.body.issues[0]!.message).toMatch(rule);
    }
    expect((await a.get<{ jobs: Job[] }>('/v1/jobs?limit=1000')).body.jobs.length).toBe(listed);
    expect((await a.get<FleetBody>('/v1/fleet')).body).toEqual(before.body);
  });

  it('says what is wrong with a malformed job in words a caller can act on: the field, what it is, what it must be', async () => {
    for (const [body, path, message] of [
      [{ team: 'interp', gpus: 0, duration: 1 }, 'gpus', 'must be at least 1 (gpus: GPUs it needs, all at once)'],
      [{ team: 'interp', gpus: 1.5, duration: 1 }, 'gpus', 'must be a whole number (gpus: GPUs it needs, all at once)'],
      [{ team: 'interp', gpus: '2', duration: 1 }, 'gpus', 'must be a number, not a string (gpus: GPUs it needs, all at once)'],
      [{ gpus: 1, duration: 1 }, 'team', 'required (team: leaf team the job belongs to)'],
      [{ team: 'interp', gpus: 1, duration: 1, priority: 9 }, '(body)', 'unknown field "priority"; the fields are: team, gpus, class, flavor, name, duration, timeLimit, command'],
      [[1], '(body)', 'must be an object, not an array (a job to submit)'],
    ] as const) {
      const r = await a.post<ErrorBody>('/v1/jobs', body);
      expect(r.status, r.text).toBe(400);
      expect(r.body.issues, r.text).toEqual([{ path, message }]);
    }
  });

  it('gives every pending job a reason {code, message}, also in the 201 answer', async () => {
    // A job that cannot run: pretraining may hold at most 160 h100 (its limit).
    const big = await submit(a, { team: 'pretraining', gpus: 160, flavor: 'h100', duration: 1e8 });
    await waitFor(async () => (await getJob(a, big.id)).status === 'running', 'the 160-GPU job to run');
    const r = await a.post<Job>('/v1/jobs', { team: 'pretraining', gpus: 8, flavor: 'h100', duration: 1e8 });
    expect(r.status).toBe(201);
    const blocked = r.body;
    try {
      const pending = await waitFor(async () => {
        const j = await getJob(a, blocked.id);
        return j.reason !== null ? j : undefined;
      }, 'a reason for the pending job');
      checkJob(pending);
      expect(pending.status).toBe('pending');
      expect(pending.reason!.code).toBe('TeamLimit');
      expect(pending.reason!.message).toMatch(/160/);
      // docs/api.md: "`reason` is set while pending" -- the 201 answer of a pending job too.
      if (blocked.status === 'pending')
        expect(blocked.reason, 'the 201 answer of a pending job carries a reason').not.toBeNull();
    } finally {
      await a.post(`/v1/jobs/${blocked.id}/cancel`);
      await a.post(`/v1/jobs/${big.id}/cancel`);
    }
  });

  it('Idempotency-Key: a repeat answers 200 with the same job and creates nothing', async () => {
    const before = (await allJobs(a)).length;
    const body = { team: 'evals', gpus: 1, flavor: 'h100', duration: 1e8, name: 'idem' };
    const first = await a.post<Job>('/v1/jobs', body, undefined, { 'Idempotency-Key': 'run-42' });
    expect(first.status).toBe(201);
    const again = await a.post<Job>('/v1/jobs', body, undefined, { 'Idempotency-Key': 'run-42' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    checkJobLoose(again.body);
    expect((await allJobs(a)).length).toBe(before + 1);
    // Another key is another job.
    const other = await a.post<Job>('/v1/jobs', body, undefined, { 'Idempotency-Key': 'run-43' });
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);
    expect((await allJobs(a)).length).toBe(before + 2);
    await a.post(`/v1/jobs/${first.body.id}/cancel`);
    await a.post(`/v1/jobs/${other.body.id}/cancel`);
  });

  it('Idempotency-Key: concurrent repeats create one job and do not fail other submissions', async () => {
    const body = { team: 'evals', gpus: 1, flavor: 'h100', duration: 1e8 };
    const created: string[] = [];
    try {
      // Several rounds of 20 requests that reach the server together (one group commit):
      // 10 repeats of one key, 10 without a key.
      for (let round = 0; round < 10; round++) {
        const before = (await allJobs(a)).length;
        const key = `concurrent-${round}`;
        const answers = await burst(
          server.url,
          Array.from({ length: 20 }, (_, i) =>
            rawJobPost(server.adminToken, body, i % 2 === 0 ? { 'Idempotency-Key': key } : {}),
          ),
        );
        for (const r of answers) if (r.status >= 200 && r.status < 300) created.push((r.body as Job).id);
        const statuses = answers.map((r) => r.status);
        expect(
          statuses.filter((s) => s >= 500 || s === 0),
          `round ${round}: no 5xx, got ${statuses.join(',')}`,
        ).toEqual([]);
        const keyed = answers.filter((_, i) => i % 2 === 0);
        expect(
          keyed.filter((r) => r.status === 201),
          `round ${round}: one 201 for the key`,
        ).toHaveLength(1);
        expect(keyed.filter((r) => r.status === 200)).toHaveLength(9);
        expect(new Set(keyed.map((r) => (r.body as Job).id)).size).toBe(1);
        expect(answers.filter((_, i) => i % 2 === 1).every((r) => r.status === 201)).toBe(true);
        expect((await allJobs(a)).length, `round ${round}: 1 + 10 jobs created`).toBe(before + 1 + 10);
      }
    } finally {
      for (const id of new Set(created)) await a.post(`/v1/jobs/${id}/cancel`);
    }
  });

  it('lists jobs newest first, paginated with limit and cursor, filtered by team and status', async () => {
    const mine: Job[] = [];
    for (const team of ['interp', 'alignment', 'interp', 'serving', 'evals', 'interp', 'alignment']) {
      mine.push(await submit(a, { team, gpus: 1, flavor: 'h100', duration: 1e8, name: `page-${team}` }));
    }
    const all = await allJobs(a);
    // Newest first: the ids are in submission order.
    expect(all.slice(0, mine.length).map((j) => j.id)).toEqual(mine.map((j) => j.id).reverse());
    for (let i = 1; i < all.length; i++) {
      expect(numericId(all[i - 1]!.id)).toBeGreaterThan(numericId(all[i]!.id));
      expect(Date.parse(all[i - 1]!.submittedAt)).toBeGreaterThanOrEqual(Date.parse(all[i]!.submittedAt));
    }
    all.forEach((j) => checkJobLoose(j));

    // Pages of 3 give the same list, without gaps or repeats; the last page has no cursor.
    const paged: Job[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: Awaited<ReturnType<typeof a.get<JobPage>>> = await a.get<JobPage>(
        `/v1/jobs?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(r.status).toBe(200);
      expect(r.body.jobs.length).toBeLessThanOrEqual(3);
      paged.push(...r.body.jobs);
      cursor = r.body.nextCursor;
      if (cursor !== null) expect(r.body.jobs).toHaveLength(3);
      pages++;
    } while (cursor !== null && pages < 100);
    expect(paged.map((j) => j.id)).toEqual(all.map((j) => j.id));
    expect(pages).toBe(Math.max(1, Math.ceil(all.length / 3)));

    // team= a leaf: only its jobs; team= a parent: its subtree.
    const interp = await allJobs(a, '&team=interp');
    expect(interp.map((j) => j.id)).toEqual(all.filter((j) => j.team === 'interp').map((j) => j.id));
    expect(interp.length).toBeGreaterThanOrEqual(3);
    const research = await allJobs(a, '&team=research');
    expect(research.map((j) => j.id)).toEqual(
      all.filter((j) => ['research', 'pretraining', 'alignment', 'interp'].includes(j.team)).map((j) => j.id),
    );
    const interpPage = await a.get<JobPage>('/v1/jobs?team=interp&limit=2');
    expect(interpPage.body.jobs.map((j) => j.id)).toEqual(interp.slice(0, 2).map((j) => j.id));
    expect(interpPage.body.nextCursor).not.toBeNull();
    const interpRest = await a.get<JobPage>(
      `/v1/jobs?team=interp&limit=1000&cursor=${encodeURIComponent(interpPage.body.nextCursor!)}`,
    );
    expect(interpRest.body.jobs.map((j) => j.id)).toEqual(interp.slice(2).map((j) => j.id));

    // status=: only that status (finished statuses do not change: the lists must match exactly); with team= too.
    for (const status of ['completed', 'cancelled']) {
      const list = await allJobs(a, `&status=${status}`);
      expect(list.length, status).toBeGreaterThanOrEqual(1);
      expect(list.map((j) => j.id)).toEqual(all.filter((j) => j.status === status).map((j) => j.id));
    }
    const runningNow = await allJobs(a, '&status=running');
    for (const j of runningNow) expect(j.status).toBe('running');
    await waitFor(
      async () => (await allJobs(a, '&team=interp&status=running')).length >= 3,
      'the interp jobs to run',
    );
    const interpRunning = await allJobs(a, '&team=interp&status=running');
    for (const j of interpRunning) expect(j).toMatchObject({ team: 'interp', status: 'running' });

    // Bad queries: 400 invalid_input naming the parameter.
    for (const [query, param] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=100000', 'limit'],
      ['status=sleeping', 'status'],
      ['team=nope', 'team'],
      ['cursor=%%%garbage', 'cursor'],
    ] as const) {
      const r = await a.get<ErrorBody>(`/v1/jobs?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body.code).toBe('invalid_input');
      expect(r.body.issues.map((i) => i.path).join(' ')).toContain(param);
    }
    for (const j of mine) await a.post(`/v1/jobs/${j.id}/cancel`);
  });

  it('cancels pending and running jobs: status cancelled, GPUs freed', async () => {
    // All 64 a100 to interp (8 whole nodes), then an evals job that must wait (minRuntime 10m).
    const running = await submit(a, { team: 'interp', gpus: 64, flavor: 'a100', duration: 1e9 });
    await waitFor(async () => (await getJob(a, running.id)).status === 'running', 'the 64-GPU job to run');
    const pending = await submit(a, { team: 'evals', gpus: 8, flavor: 'a100', duration: 1e9 });
    await waitFor(async () => (await getJob(a, pending.id)).reason !== null, 'a reason for the waiting job');
    const a100Nodes = (f: FleetBody) => f.pools.filter((p) => p.flavor === 'a100').flatMap((p) => p.nodes);
    let fleet = (await a.get<FleetBody>('/v1/fleet')).body;
    expect(
      a100Nodes(fleet).every(
        (n) =>
          n.free === 0 &&
          n.held.length === 1 &&
          n.held[0]!.job === running.id &&
          n.held[0]!.team === 'interp',
      ),
    ).toBe(true);
    let teams = (await a.get<{ teams: TeamNode[] }>('/v1/teams')).body.teams;
    expect(findTeam(teams, 'evals')!.flavors['a100']!.pending).toBe(8);
    expect(findTeam(teams, 'interp')!.flavors['a100']!.usage).toBe(64);

    // The pending one.
    const c1 = await a.post<Job>(`/v1/jobs/${pending.id}/cancel`);
    expect(c1.status).toBe(200);
    checkJob(c1.body);
    expect(c1.body).toMatchObject({ id: pending.id, status: 'cancelled', reason: null, placement: [] });
    expect(c1.body.endedAt).toMatch(ISO_UTC);
    expect((await getJob(a, pending.id)).status).toBe('cancelled');
    teams = (await a.get<{ teams: TeamNode[] }>('/v1/teams')).body.teams;
    expect(findTeam(teams, 'evals')!.flavors['a100']!.pending).toBe(0);

    // The running one: its GPUs are free again.
    const c2 = await a.post<Job>(`/v1/jobs/${running.id}/cancel`);
    expect(c2.status).toBe(200);
    checkJob(c2.body);
    expect(c2.body).toMatchObject({ id: running.id, status: 'cancelled', placement: [] });
    expect(c2.body.endedAt).toMatch(ISO_UTC);
    fleet = (await a.get<FleetBody>('/v1/fleet')).body;
    expect(a100Nodes(fleet).every((n) => n.free === n.gpus && n.held.length === 0)).toBe(true);
    teams = (await a.get<{ teams: TeamNode[] }>('/v1/teams')).body.teams;
    expect(findTeam(teams, 'interp')!.flavors['a100']!.usage).toBe(0);
    expect(findTeam(teams, 'research')!.flavors['a100']!.usage).toBe(0);

    // Once more: 409; an unknown job: 404.
    const again = await a.post<ErrorBody>(`/v1/jobs/${running.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'conflict' });
    const unknown = await a.post<ErrorBody>('/v1/jobs/j-999999/cancel');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: 'not_found' });
    expect((await a.get<ErrorBody>('/v1/jobs/j-999999')).status).toBe(404);
  });

  it('client commands: submit, jobs, explain, cancel, teams, fleet (tables and --json, ARBITER_SERVER/ARBITER_TOKEN)', async () => {
    const env = { ARBITER_SERVER: server.url, ARBITER_TOKEN: server.adminToken };
    // A CLI process is cheap, but a dozen at once on a busy 2-core machine each wait their turn.
    const ok = async (args: string[], extra: Record<string, string> = {}) => {
      const run = await cli(args, { ...env, ...extra }, 90_000);
      expect(run.stderr, `arbiter ${args.join(' ')}`).toBe('');
      expect(run.status, `arbiter ${args.join(' ')}`).toBe(0);
      return run.stdout;
    };
    const plain = await ok([
      'submit',
      '--team',
      'alignment',
      '--gpus',
      '8',
      '--flavor',
      'h100',
      '--duration',
      '100000000',
      '--name',
      'cli-one',
    ]);
    const json = await ok([
      'submit',
      '--team',
      'alignment',
      '--gpus',
      '4',
      '--class',
      'training',
      '--duration',
      '100000000',
      '--time-limit',
      '2e8',
      '--json',
    ]);
    const idOne = /^submitted (\S+) \((pending|running)/.exec(plain)?.[1];
    expect(idOne, plain).toBeDefined();
    const two = JSON.parse(json) as Job;
    checkJobLoose(two);
    expect(two).toMatchObject({ team: 'alignment', gpus: 4, class: 'training', name: null });
    const keyed = [
      'submit',
      '--team',
      'evals',
      '--gpus',
      '1',
      '--duration',
      '1e8',
      '--idempotency-key',
      'cli-key',
      '--json',
    ];
    const k1 = JSON.parse(await ok(keyed)) as Job;
    const k2 = JSON.parse(await ok(keyed)) as Job;
    expect(k2.id).toBe(k1.id);

    await waitFor(
      async () =>
        (await getJob(a, idOne!)).status === 'running' && (await getJob(a, two.id)).status === 'running',
      'the CLI jobs to run',
    );
    const where = (await getJob(a, idOne!)).placement[0]!.node;

    // Read-only commands, all at once.
    const [
      table,
      pageJson,
      first,
      explained,
      explainedJson,
      teamsTable,
      teamsJsonText,
      fleetTable,
      fleetJsonText,
      viaFlags,
      bad,
      none,
      invalid,
    ] = await Promise.all([
      ok(['jobs']),
      ok(['jobs', '--json', '--team', 'alignment', '--status', 'running']),
      ok(['jobs', '--limit', '1']),
      ok(['explain', idOne!]),
      ok(['explain', idOne!, '--json']),
      ok(['teams']),
      ok(['teams', '--json']),
      ok(['fleet']),
      ok(['fleet', '--json']),
      // Token and server: flags override the environment; a bad or missing token: exit 2.
      cli(['jobs', '--json', '--limit', '1', '--server', server.url, '--token', server.adminToken], {
        ARBITER_SERVER: 'http://127.0.0.1:1',
        ARBITER_TOKEN: 'bad',
      }, 90_000),
      cli(['jobs'], { ...env, ARBITER_TOKEN: 'not-a-token' }, 90_000),
      cli(['jobs'], { ARBITER_SERVER: server.url, ARBITER_TOKEN: undefined }, 90_000),
      cli(['submit', '--team', 'nope', '--gpus', '1', '--duration', '1'], env, 90_000),
    ]);

    // jobs: a table with the ids; --json: the page; filters; pagination with the printed cursor.
    expect(table).toMatch(/\bid\b.*\bteam\b.*\bstatus\b/);
    expect(table).toContain(idOne);
    expect(table).toContain(two.id);
    expect(table).toContain('running');
    const page = JSON.parse(pageJson) as JobPage;
    expect(page.jobs.map((j) => j.id)).toEqual(expect.arrayContaining([idOne, two.id]));
    for (const j of page.jobs) expect(j).toMatchObject({ team: 'alignment', status: 'running' });
    const cursor = /more: --cursor (\S+)/.exec(first)?.[1];
    expect(cursor, first).toBeDefined();
    const second = JSON.parse(await ok(['jobs', '--limit', '1', '--cursor', cursor!, '--json'])) as JobPage;
    expect(second.jobs).toHaveLength(1);
    expect(first).toMatch(new RegExp(`\\b${k1.id}\\b`)); // the newest
    expect(second.jobs[0]!.id).toBe(two.id); // the one before it
    expect(first).not.toMatch(new RegExp(`\\b${two.id}\\b`));

    // explain: a running job says where it runs.
    expect(explained).toContain(idOne);
    expect(explained).toContain('running');
    expect(explained).toContain(where);
    expect((JSON.parse(explainedJson) as Job).id).toBe(idOne);

    // teams and fleet.
    expect(teamsTable).toMatch(/team.*flavor.*guarantee.*limit.*usage.*borrowed.*pending/);
    expect(teamsTable).toContain('alignment');
    const teamsJson = JSON.parse(teamsJsonText) as { teams: TeamNode[] };
    expect(findTeam(teamsJson.teams, 'alignment')!.flavors['h100']!.usage).toBeGreaterThanOrEqual(12);
    expect(fleetTable).toMatch(/node.*flavor.*free.*held by/);
    expect(fleetTable).toContain(where);
    expect(fleetTable).toContain(idOne);
    const fleetJson = JSON.parse(fleetJsonText) as FleetBody;
    expect(fleetJson.pools.map((p) => p.name)).toEqual(['h100-a', 'h100-b', 'a100-a']);

    expect(viaFlags.status, viaFlags.stderr).toBe(0);
    expect((JSON.parse(viaFlags.stdout) as JobPage).jobs).toHaveLength(1);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/401/);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/ARBITER_TOKEN/);
    expect(invalid.status).toBe(2);
    expect(invalid.stderr).toMatch(/400/);
    expect(invalid.stderr).toMatch(/team/);

    // cancel: plain and --json; again: 409, exit 2.
    expect(await ok(['cancel', idOne!])).toBe(`${idOne}: cancelled\n`);
    expect((JSON.parse(await ok(['cancel', two.id, '--json'])) as Job).status).toBe('cancelled');
    const twice = await cli(['cancel', idOne!], env);
    expect(twice.status).toBe(2);
    expect(twice.stderr).toMatch(/409/);
    await ok(['cancel', k1.id]);
  }, 240_000);

  it('/openapi.json is a valid OpenAPI 3 document describing every route', async () => {
    const r = await a.get<OpenApiDoc>('/openapi.json');
    expect(r.status).toBe(200);
    const problems = openApiProblems(r.body);
    expect(problems).toEqual([]);
  });

  it('/metrics: Prometheus text, arbiter_ names, jobs, guarantee/usage/borrowed, preemptions, admissions, pass and HTTP histograms', async () => {
    const job = await submit(a, {
      team: 'serving',
      gpus: 8,
      class: 'serving',
      flavor: 'h100',
      duration: 1e9,
    });
    await waitFor(async () => (await getJob(a, job.id)).status === 'running', 'the serving job to run');
    const r = await a.get('/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    const lines = r.text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(line).toMatch(/^arbiter_[a-zA-Z0-9_:]*(\{.*\})? \S+$/);
    for (const line of r.text.split('\n').filter((l) => l.startsWith('# TYPE') || l.startsWith('# HELP')))
      expect(line).toMatch(/^# (TYPE|HELP) arbiter_/);
    const value = (re: RegExp): number => {
      const line = lines.find((l) => re.test(l));
      expect(line, `a metric line matching ${re}`).toBeDefined();
      return Number(line!.split(' ').pop());
    };
    // Jobs per team and class.
    expect(value(/^arbiter_jobs\{(?=.*team="serving")(?=.*class="serving")(?=.*status="running").*\} /)).toBe(
      1,
    );
    // Guarantee, usage and borrowed per team and flavor.
    expect(value(/^arbiter_team_guarantee_gpus\{(?=.*team="pretraining")(?=.*flavor="h100").*\} /)).toBe(80);
    expect(value(/^arbiter_team_guarantee_gpus\{(?=.*team="research")(?=.*flavor="a100").*\} /)).toBe(32);
    expect(
      value(/^arbiter_team_usage_gpus\{(?=.*team="serving")(?=.*flavor="h100").*\} /),
    ).toBeGreaterThanOrEqual(8);
    expect(value(/^arbiter_team_borrowed_gpus\{(?=.*team="serving")(?=.*flavor="h100").*\} /)).toBe(0);
    // Preemptions and admissions.
    expect(value(/^arbiter_preemptions_total /)).toBe(0);
    expect(value(/^arbiter_admissions_total /)).toBeGreaterThanOrEqual(5);
    // The pass duration histogram.
    expect(value(/^arbiter_pass_duration_seconds_count /)).toBeGreaterThanOrEqual(5);
    expect(value(/^arbiter_pass_duration_seconds_bucket\{le="\+Inf"\} /)).toBe(
      value(/^arbiter_pass_duration_seconds_count /),
    );
    // HTTP requests and latency.
    expect(
      value(
        /^arbiter_http_requests_total\{(?=.*route="\/v1\/jobs")(?=.*method="POST")(?=.*status="201").*\} /,
      ),
    ).toBeGreaterThanOrEqual(5);
    expect(
      value(/^arbiter_http_requests_total\{(?=.*route="\/v1\/jobs\/:id\/cancel")(?=.*status="409").*\} /),
    ).toBeGreaterThanOrEqual(1);
    expect(
      value(/^arbiter_http_request_duration_seconds_count\{(?=.*route="\/v1\/jobs")(?=.*method="GET").*\} /),
    ).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => /^arbiter_http_request_duration_seconds_bucket\{/.test(l))).toBe(true);
    await a.post(`/v1/jobs/${job.id}/cancel`);
  });
});

/** Like checkJob, without the reason rule (the 201 answer, lists): shape only. */
function checkJobLoose(job: Job): Job {
  for (const field of SPEC_JOB_FIELDS) expect(job, `job field ${field}`).toHaveProperty(field);
  expect(STATUSES).toContain(job.status);
  expect(job.submittedAt).toMatch(ISO_UTC);
  for (const t of [job.startedAt, job.endedAt, job.expectedStart]) if (t !== null) expect(t).toMatch(ISO_UTC);
  if (job.reason !== null) {
    expect(REASON_CODES).toContain(job.reason.code);
    expect(typeof job.reason.message).toBe('string');
  }
  return job;
}

// ====================================================================== reclaim

interface UsageBody {
  busyGpuHours: number;
  capacityGpuHours: number;
  fleetGpus: number;
  teams: { team: string; gpuHours: number; guaranteeHours: number; preemptions: number; wait: { jobs: number; p50: number | null }; reclaims: { runs: number; p50: number | null; p95: number | null; max: number | null } }[];
}

const RECLAIM_POLICY = `priorityClasses:
  - { name: serving, priority: 1000, preemptible: false }
  - { name: training, priority: 500 }
defaultClass: training
preemption:
  minRuntime: 6s
  restartOverhead: 0s
  checkpointInterval: 0s
teams:
  - name: alpha
    guarantee: { h100: 4 }
  - name: beta
    guarantee: { h100: 4 }
`;

describe('reclaim and preemption through the API (2 nodes of 4, alpha and beta guaranteed 4 each, minRuntime 6s)', () => {
  let server: Server;
  let a: Api;

  beforeAll(async () => {
    const dir = tempDir('e2e-reclaim');
    const cluster = writeFile(dir, 'cluster.yaml', smallCluster(2, 4));
    const policy = writeFile(dir, 'policy.yaml', RECLAIM_POLICY);
    server = await startServer(path.join(dir, 'data'), { args: ['--cluster', cluster, '--policy', policy] });
    a = api(server);
  });

  it('a borrower fills the fleet; a team within its guarantee gets its GPUs back after minRuntime', async () => {
    const a1 = await submit(a, { team: 'alpha', gpus: 4, duration: 3600, name: 'a1' });
    const a2 = await submit(a, { team: 'alpha', gpus: 4, duration: 3600, name: 'a2' });
    const [r1, r2] = await waitFor(async () => {
      const jobs = [await getJob(a, a1.id), await getJob(a, a2.id)];
      return jobs.every((j) => j.status === 'running') ? jobs : undefined;
    }, 'both alpha jobs to run');

    // alpha borrows 4 of beta's guarantee; the fleet shows who holds what.
    let teams = (await a.get<{ teams: TeamNode[] }>('/v1/teams')).body.teams;
    expect(findTeam(teams, 'alpha')!.flavors['h100']).toMatchObject({
      guarantee: 4,
      usage: 8,
      borrowed: 4,
      pending: 0,
    });
    expect(findTeam(teams, 'beta')!.flavors['h100']).toMatchObject({ guarantee: 4, usage: 0, borrowed: 0 });
    let fleet = (await a.get<FleetBody>('/v1/fleet')).body;
    const holders = (f: FleetBody) =>
      f.pools[0]!.nodes.map((n) => ({
        node: n.name,
        free: n.free,
        held: n.held.map((h) => `${h.job}/${h.team}/${h.gpus}`),
      }));
    expect(holders(fleet)).toEqual(
      expect.arrayContaining([
        { node: r1!.placement[0]!.node, free: 0, held: [`${a1.id}/alpha/4`] },
        { node: r2!.placement[0]!.node, free: 0, held: [`${a2.id}/alpha/4`] },
      ]),
    );

    // beta asks for its guarantee: it waits for minRuntime, and says so (6 s: long enough for the
    // CLI to start and read it on a loaded machine, where 3 s was not).
    const b1 = await submit(a, { team: 'beta', gpus: 4, duration: 3600, name: 'b1' });
    const waiting = await waitFor(
      async () => {
        const j = await getJob(a, b1.id);
        return j.reason !== null || j.status !== 'pending' ? j : undefined;
      },
      'a reason for the beta job',
      2000,
      20,
    );
    expect(waiting.status).toBe('pending');
    checkJob(waiting);
    const explained = await cli(['explain', b1.id], {
      ARBITER_SERVER: server.url,
      ARBITER_TOKEN: server.adminToken,
    });
    expect(explained.status).toBe(0);
    expect(explained.stdout).toContain(b1.id);
    expect(explained.stdout).toContain('pending');
    expect(explained.stdout).toContain(waiting.reason!.message.slice(0, 40));

    // After minRuntime: one alpha job is preempted (preemptions 1, pending again), beta runs.
    const started = await waitFor(
      async () => {
        const j = await getJob(a, b1.id);
        return j.status === 'running' ? j : undefined;
      },
      'the beta job to run',
      10_000,
    );
    checkJob(started);
    const earliestStart = Math.min(Date.parse(r1!.startedAt!), Date.parse(r2!.startedAt!));
    const ranFor = Date.parse(started.startedAt!) - earliestStart;
    expect(ranFor, 'M5: no preemption before minRuntime').toBeGreaterThanOrEqual(6000);
    expect(ranFor, 'the reclaim happens when minRuntime ends').toBeLessThan(9000);
    // Reasons are refreshed at least once a second: wait for the victim's (see the report).
    const after = await waitFor(
      async () => {
        const jobs = [await getJob(a, a1.id), await getJob(a, a2.id)];
        return jobs.every((j) => j.status !== 'pending' || j.reason !== null) ? jobs : undefined;
      },
      'a reason for the preempted job',
      3000,
    );
    after.forEach((j) => checkJob(j));
    const victims = after.filter((j) => j.preemptions === 1);
    expect(victims).toHaveLength(1);
    const victim = victims[0]!;
    const survivor = after.find((j) => j !== victim)!;
    expect(victim).toMatchObject({ status: 'pending', placement: [], preemptions: 1 });
    expect(victim.reason).not.toBeNull();
    expect(victim.startedAt).toMatch(ISO_UTC); // it has run before
    expect(survivor).toMatchObject({ status: 'running', preemptions: 0 });

    teams = (await a.get<{ teams: TeamNode[] }>('/v1/teams')).body.teams;
    expect(findTeam(teams, 'alpha')!.flavors['h100']).toMatchObject({
      guarantee: 4,
      usage: 4,
      borrowed: 0,
      pending: 4,
    });
    expect(findTeam(teams, 'beta')!.flavors['h100']).toMatchObject({
      guarantee: 4,
      usage: 4,
      borrowed: 0,
      pending: 0,
    });
    fleet = (await a.get<FleetBody>('/v1/fleet')).body;
    expect(holders(fleet)).toEqual(
      expect.arrayContaining([
        { node: started.placement[0]!.node, free: 0, held: [`${b1.id}/beta/4`] },
        { node: survivor.placement[0]!.node, free: 0, held: [`${survivor.id}/alpha/4`] },
      ]),
    );
    const pendingList = await allJobs(a, '&status=pending');
    expect(pendingList.map((j) => j.id)).toEqual([victim.id]);
    const metrics = (await a.get('/metrics')).text;
    expect(metrics).toMatch(/^arbiter_preemptions_total 1$/m);
    expect(metrics).toMatch(/^arbiter_team_borrowed_gpus\{(?=.*team="alpha")(?=.*flavor="h100").*\} 0$/m);
    expect(metrics).toMatch(/^arbiter_team_usage_gpus\{(?=.*team="beta")(?=.*flavor="h100").*\} 4$/m);
  });

  it('reports usage of a period (GET /v1/usage, `arbiter usage`): team totals add up to the busy GPU-hours of the runs clipped to it', async () => {
    // A period ending in the past (to = now, read after it), so that open runs count up to `to`
    // both here and on the server; it starts one minute in, cutting runs that began earlier.
    const jobs = await allJobs(a, '');
    const firstStart = Math.min(...jobs.filter((j) => j.startedAt !== null).map((j) => Date.parse(j.startedAt!)));
    const from = Math.floor(firstStart / 1000) + 1; // cuts the first runs
    const to = Math.ceil(Date.now() / 1000);
    await new Promise((r) => setTimeout(r, 1100));
    const q = `from=${new Date(from * 1000).toISOString()}&to=${new Date(to * 1000).toISOString()}`;
    const r = await a.get<UsageBody>(`/v1/usage?${q}&by=day`);
    expect(r.status, r.text).toBe(200);
    const report = r.body;

    let busy = 0;
    let preempted = 0;
    for (const job of jobs) {
      const runs = (await a.get<{ runs: { start: string; end: string | null; placement: { gpus: number }[]; outcome: string | null }[] }>(`/v1/jobs/${job.id}/runs`)).body.runs;
      for (const run of runs) {
        const start = Math.max(Date.parse(run.start) / 1000, from);
        const end = Math.min(run.end === null ? to : Date.parse(run.end) / 1000, to);
        busy += (run.placement.reduce((n, p) => n + p.gpus, 0) * Math.max(0, end - start)) / 3600;
        if (run.outcome === 'preempted' && run.end !== null && Date.parse(run.end) / 1000 >= from) preempted++;
      }
    }
    expect(busy).toBeGreaterThan(0);
    expect(report.busyGpuHours).toBeCloseTo(busy, 6);
    expect(report.teams.map((t) => t.team)).toEqual(['alpha', 'beta']);
    expect(report.teams.reduce((n, t) => n + t.gpuHours, 0)).toBeCloseTo(report.busyGpuHours, 9);
    expect(report.fleetGpus).toBe(8);
    expect(report.capacityGpuHours).toBeCloseTo((8 * (to - from)) / 3600, 9);
    const alpha = report.teams.find((t) => t.team === 'alpha')!;
    expect(alpha.guaranteeHours).toBeCloseTo((4 * (to - from)) / 3600, 9);
    expect(alpha.preemptions).toBe(preempted);
    expect(preempted).toBe(1);
    // beta's job was submitted and first started inside the period: one wait, of minRuntime or so.
    expect(report.teams.find((t) => t.team === 'beta')!.wait.jobs).toBe(1);
    // ... and it started by reclaiming alpha's borrowed GPUs: one reclaim, whose wait is that wait
    // (its first run); alpha reclaimed nothing.
    const beta = report.teams.find((t) => t.team === 'beta')!;
    expect(beta.reclaims.runs).toBe(1);
    expect(beta.reclaims.p50).toBe(beta.wait.p50);
    expect(beta.reclaims.p50!).toBeGreaterThan(0);
    expect(alpha.reclaims).toEqual({ runs: 0, p50: null, p95: null, max: null });

    // Bad input: a clear 400 naming the field; an unknown team too.
    const bad = await a.get<ErrorBody>(`/v1/usage?from=${new Date(to * 1000).toISOString()}&to=${new Date(from * 1000).toISOString()}`);
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0]?.path).toBe('to');
    expect((await a.get<ErrorBody>(`/v1/usage?from=yesterday&to=2026-12-01`)).body.issues[0]?.path).toBe('from');
    expect((await a.get<ErrorBody>(`/v1/usage?${q}&team=gamma`)).body.issues[0]?.message).toContain('unknown team "gamma"');

    // The command: a table by default, CSV and JSON with the same numbers.
    const env = { ARBITER_SERVER: server.url, ARBITER_TOKEN: server.adminToken };
    const args = ['usage', '--from', new Date(from * 1000).toISOString(), '--to', new Date(to * 1000).toISOString()];
    const json = await cli([...args, '--json'], env);
    expect(json.status, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as UsageBody).busyGpuHours).toBeCloseTo(busy, 6);
    const csv = await cli([...args, '--csv'], env);
    expect(csv.status, csv.stderr).toBe(0);
    const totals = csv.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(','))
      .filter((f) => f[3] === 'total');
    expect(totals.map((f) => f[0])).toEqual(['alpha', 'beta']);
    expect(totals.reduce((n, f) => n + Number(f[6]), 0)).toBeCloseTo(busy, 2);
    expect(totals[0]!.slice(4, 6)).toEqual([new Date(from * 1000).toISOString(), new Date(to * 1000).toISOString()]);
    expect(totals.find((f) => f[0] === 'alpha')![11]).toBe('1');
    expect(totals.find((f) => f[0] === 'beta')!.slice(12, 14)).toEqual(['1', String(beta.reclaims.p50)]);
    const table = await cli(args, env);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/│ alpha +│ 4 +│/);
    expect(table.stdout).toContain('top-level teams add up to it');
    expect(table.stdout).toMatch(/reclaims.*reclaim p95/);
    const refused = await cli(['usage', '--from', 'last tuesday'], env);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('from');
  });
});

// ====================================================================== local executor

/** Whether a process still exists (signal 0 checks without signalling). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('local executor (--executor local --gpus 4): real child processes', () => {
  let server: Server;
  let a: Api;
  let dir: string;
  let team: string;

  beforeAll(async () => {
    dir = openToJobs(tempDir('e2e-local'));
    server = await startServer(path.join(dir, 'data'), { args: ['--executor', 'local', '--gpus', '4', '--run-as', jobUser().name] });
    a = api(server);
    const policy = (await a.get<{ policy: { teams: { name: string }[] } }>('/v1/policy')).body.policy;
    team = policy.teams[0]!.name;
  });


  it('gives two 2-GPU jobs CUDA_VISIBLE_DEVICES "0,1" and "2,3"; a failing command fails with its exit code; cancel kills', async () => {
    const command = `echo "$CUDA_VISIBLE_DEVICES" > ${dir}/$ARBITER_JOB_ID.gpus; echo $$ > ${dir}/$ARBITER_JOB_ID.pid; exec sleep 60`;
    const j1 = await submit(a, { team, gpus: 2, command, name: 'first' });
    const j2 = await submit(a, { team, gpus: 2, command, name: 'second' });
    const read = (id: string, ext: string): string | undefined => {
      const file = path.join(dir, `${id}.${ext}`);
      if (!existsSync(file)) return undefined;
      const text = readFileSync(file, 'utf8');
      return text.endsWith('\n') ? text.trim() : undefined;
    };
    const [g1, g2] = await waitFor(() => {
      const v = [read(j1.id, 'gpus'), read(j2.id, 'gpus')];
      return v.every((x) => x !== undefined) ? v : undefined;
    }, 'both commands to write CUDA_VISIBLE_DEVICES');
    expect(g1).toBe('0,1');
    expect(g2).toBe('2,3');
    const pid2 = Number(await waitFor(() => read(j2.id, 'pid'), 'the pid of the second job'));
    expect(alive(pid2)).toBe(true);
    for (const j of [j1, j2]) {
      const job = await waitFor(async () => {
        const x = await getJob(a, j.id);
        return x.status === 'running' ? x : undefined;
      }, `${j.id} running`);
      checkJob(job);
      expect(job.placement).toEqual([{ node: expect.any(String) as string, gpus: 2 }]);
    }
    let fleet = (await a.get<FleetBody>('/v1/fleet')).body;
    expect(fleet.pools[0]!.nodes[0]).toMatchObject({ gpus: 4, free: 0 });

    // The fleet is full: a third job waits, with a reason.
    const failing = await submit(a, {
      team,
      gpus: 1,
      command: 'echo about to fail; exit 3',
      name: 'failing',
    });
    await waitFor(async () => (await getJob(a, failing.id)).reason !== null, 'a reason for the third job');
    checkJob(await getJob(a, failing.id));

    // Cancel the second: its process is killed, its GPUs are freed, the third runs and fails.
    const cancelled = await a.post<Job>(`/v1/jobs/${j2.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    await waitFor(() => !alive(pid2), "the cancelled job's process to be gone", 5000);
    const failed = await waitFor(async () => {
      const x = await getJob(a, failing.id);
      return x.status === 'failed' ? x : undefined;
    }, 'the failing job to fail');
    checkJob(failed);
    expect(failed.exitCode).toBe(3);
    expect(failed.endedAt).toMatch(ISO_UTC);
    expect(readFileSync(path.join(server.data, 'logs', `${failing.id}.log`), 'utf8')).toContain(
      'about to fail',
    );
    expect((await getJob(a, j1.id)).status).toBe('running');
    fleet = (await a.get<FleetBody>('/v1/fleet')).body;
    expect(fleet.pools[0]!.nodes[0]).toMatchObject({ gpus: 4, free: 2 });
    expect(fleet.pools[0]!.nodes[0]!.held).toEqual([{ job: j1.id, team, gpus: 2 }]);

    // The local executor needs a command.
    const noCommand = await a.post<ErrorBody>('/v1/jobs', { team, gpus: 1 });
    expect(noCommand.status).toBe(400);
    expect(noCommand.body.issues.map((i) => i.path)).toContain('command');

    const pid1 = Number(read(j1.id, 'pid'));
    expect((await a.post<Job>(`/v1/jobs/${j1.id}/cancel`)).body.status).toBe('cancelled');
    await waitFor(() => !alive(pid1), "the first job's process to be gone", 5000);
  });

  it('a job that ignores SIGTERM is killed after the grace period, and the wait does not hold up other submissions', async () => {
    const stubborn = await submit(a, {
      team,
      gpus: 1,
      command: `trap '' TERM; echo $$ > ${dir}/$ARBITER_JOB_ID.pid; while true; do sleep 0.2; done`,
    });
    const pidFile = path.join(dir, `${stubborn.id}.pid`);
    const pid = Number(
      await waitFor(
        () => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() || undefined : undefined),
        'its pid',
      ),
    );
    const t0 = Date.now();
    const cancelling = a.post<Job>(`/v1/jobs/${stubborn.id}/cancel`);
    await new Promise((r) => setTimeout(r, 300));
    const s0 = Date.now();
    const other = await a.post<Job>('/v1/jobs', { team, gpus: 1, command: 'true' });
    const submitMs = Date.now() - s0;
    const cancelled = await cancelling;
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    await waitFor(() => !alive(pid), 'the stubborn process to be killed', 15_000);
    expect(Date.now() - t0, 'SIGKILL follows SIGTERM after a grace period').toBeGreaterThanOrEqual(1000);
    expect(other.status).toBe(201);
    expect(submitMs, 'a submission is answered while a cancelled job is still being stopped').toBeLessThan(
      3000,
    );
    await waitFor(
      async () => (await getJob(a, other.body.id)).status === 'completed',
      'the other job to complete',
    );
  });
});

describe('local executor: preemption', () => {
  it('a preempted run that ignores SIGTERM holds its GPU until killed, and the loop keeps answering meanwhile', async () => {
    const dir = openToJobs(tempDir('e2e-local-preempt'));
    // No guarantee: both jobs borrow the free pool, and training may preempt research at once.
    const policy = writeFile(dir, 'policy.yaml', 'preemption: { minRuntime: 0 }\nteams:\n  - name: lab\n');
    const server = await startServer(path.join(dir, 'data'), { args: ['--executor', 'local', '--gpus', '1', '--policy', policy, '--run-as', jobUser().name] });
    const a = api(server);
    const stubborn = await submit(a, { team: 'lab', gpus: 1, class: 'research', command: `trap '' TERM; echo $$ > ${dir}/stubborn.pid; while true; do sleep 0.2; done` });
    const pidFile = path.join(dir, 'stubborn.pid');
    const pid = Number(await waitFor(() => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() || undefined : undefined), 'its pid'));
    const urgent = await submit(a, { team: 'lab', gpus: 1, class: 'training', command: `echo started > ${dir}/urgent.started; sleep 60` });
    await waitFor(async () => (await getJob(a, stubborn.id)).status === 'pending', 'the research job to be preempted');
    // The victim still runs out its grace period; the loop does not wait for it.
    const other = await a.post<Job>('/v1/jobs', { team: 'lab', gpus: 1, class: 'opportunistic', command: 'true' });
    expect(other.status).toBe(201);
    expect(alive(pid), 'answered while the preempted process is still in its grace period').toBe(true);
    expect(existsSync(path.join(dir, 'urgent.started')), 'the new run waits for its GPU').toBe(false);
    await waitFor(() => !alive(pid), 'the preempted process to be killed', 20_000);
    await waitFor(() => existsSync(path.join(dir, 'urgent.started')), 'the urgent job to start on the freed GPU', 10_000);
    const victim = await getJob(a, stubborn.id);
    expect(victim.preemptions).toBe(1);
    expect((await getJob(a, urgent.id)).status).toBe('running');
    expect(await server.stop()).toBe(0);
  }, 60_000);
});

// ====================================================================== restarts

describe('restart', () => {
  it('refuses a different --policy (exit 2, pointing to `arbiter propose`) and accepts the same one', async () => {
    const dir = tempDir('e2e-restart');
    const data = path.join(dir, 'data');
    const cluster = writeFile(dir, 'cluster.yaml', smallCluster(2, 4));
    const policy = writeFile(dir, 'policy.yaml', RECLAIM_POLICY);
    const first = await startServer(data, { args: ['--cluster', cluster, '--policy', policy] });
    const job = await submit(api(first), { team: 'alpha', gpus: 1, duration: 1e6 });
    expect(await first.stop()).toBe(0);

    const changed = writeFile(
      dir,
      'changed.yaml',
      RECLAIM_POLICY.replace('minRuntime: 6s', 'minRuntime: 5s'),
    );
    const refused = await runServeExpectingExit(data, ['--policy', changed]);
    expect(refused.status).toBe(2);
    expect(refused.stdout).not.toMatch(/Arbiter is serving/);
    expect(refused.stderr).toContain(changed);
    expect(refused.stderr).toMatch(/arbiter propose --policy/);

    // The same policy (reformatted, with a comment) and the same cluster: accepted; the job is still there.
    const same = writeFile(dir, 'same.yaml', `# the same policy\n${RECLAIM_POLICY}`);
    const again = await startServer(data, { args: ['--cluster', cluster, '--policy', same] });
    expect(again.startupOutput).not.toContain(first.adminToken); // printed only at the first start
    const aa = api({ url: again.url, adminToken: first.adminToken });
    const policyView = await aa.get<{ version: number }>('/v1/policy');
    expect(policyView.status).toBe(200);
    expect(policyView.body.version).toBe(1);
    expect((await aa.get<Job>(`/v1/jobs/${job.id}`)).body.id).toBe(job.id);
    expect(await again.stop()).toBe(0);
  });
});

// ====================================================================== OpenAPI checks

interface OpenApiDoc {
  openapi?: unknown;
  info?: { title?: unknown; version?: unknown };
  paths?: Record<string, Record<string, unknown>>;
  components?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The routes of docs/api.md: each must be described. */
const ROUTES: [string, string][] = [
  ['get', '/healthz'],
  ['get', '/openapi.json'],
  ['get', '/metrics'],
  ['post', '/v1/jobs'],
  ['get', '/v1/jobs'],
  ['get', '/v1/jobs/{id}'],
  ['get', '/v1/jobs/{id}/runs'],
  ['get', '/v1/jobs/{id}/reasons'],
  ['get', '/v1/queue'],
  ['get', '/v1/me'],
  ['get', '/v1/events'],
  ['post', '/v1/jobs/{id}/cancel'],
  ['get', '/v1/teams'],
  ['get', '/v1/fleet'],
  ['get', '/v1/policy'],
  // docs/governance.md
  ['post', '/v1/proposals'],
  ['get', '/v1/proposals'],
  ['get', '/v1/proposals/{id}'],
  ['post', '/v1/proposals/{id}/amend'],
  ['post', '/v1/proposals/{id}/withdraw'],
  ['post', '/v1/proposals/{id}/responses'],
  ['post', '/v1/proposals/{id}/votes'],
  ['post', '/v1/proposals/{id}/overrule'],
  ['post', '/v1/proposals/{id}/petition'],
  ['post', '/v1/proposals/{id}/rollback'],
  ['post', '/v1/emergency'],
  ['get', '/v1/policy/versions'],
  ['get', '/v1/policy/versions/{version}'],
  ['get', '/v1/audit'],
  ['get', '/v1/audit/checkpoint'],
  ['get', '/v1/audit/proof/inclusion/{index}'],
  ['get', '/v1/audit/proof/consistency'],
];

const SCHEMA_KEYWORDS_30 = new Set([
  'title',
  'multipleOf',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'maxProperties',
  'minProperties',
  'required',
  'enum',
  'type',
  'allOf',
  'oneOf',
  'anyOf',
  'not',
  'items',
  'properties',
  'additionalProperties',
  'description',
  'format',
  'default',
  'nullable',
  'discriminator',
  'readOnly',
  'writeOnly',
  'xml',
  'externalDocs',
  'example',
  'deprecated',
  '$ref',
]);
const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** Structural checks of an OpenAPI 3.0/3.1 document; returns the problems found. */
function openApiProblems(doc: OpenApiDoc): string[] {
  const problems: string[] = [];
  const is30 = typeof doc.openapi === 'string' && /^3\.0\.\d+$/.test(doc.openapi);
  if (typeof doc.openapi !== 'string' || !/^3\.\d+\.\d+$/.test(doc.openapi))
    problems.push(`openapi: "${String(doc.openapi)}" is not 3.x.y`);
  if (typeof doc.info?.title !== 'string' || typeof doc.info.version !== 'string')
    problems.push('info.title and info.version must be strings');
  if (!doc.paths || typeof doc.paths !== 'object') return [...problems, 'no paths'];
  for (const [method, route] of ROUTES)
    if (!doc.paths[route]?.[method]) problems.push(`${method.toUpperCase()} ${route} is not described`);

  const resolve = (ref: string): unknown => {
    if (!ref.startsWith('#/')) return undefined;
    let node: unknown = doc;
    for (const raw of ref.slice(2).split('/')) {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
      node = (node as Record<string, unknown>)[key];
    }
    return node;
  };
  const schema = (s: unknown, where: string): void => {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) {
      problems.push(`${where}: a schema must be an object`);
      return;
    }
    const o = s as Record<string, unknown>;
    if (typeof o['$ref'] === 'string' && resolve(o['$ref']) === undefined)
      problems.push(`${where}: $ref ${o['$ref']} does not resolve in the document`);
    if (is30) {
      for (const key of Object.keys(o))
        if (!SCHEMA_KEYWORDS_30.has(key) && !key.startsWith('x-'))
          problems.push(`${where}: "${key}" is not an OpenAPI 3.0 schema keyword`);
      if (o['type'] !== undefined && typeof o['type'] !== 'string')
        problems.push(`${where}: type must be a string in OpenAPI 3.0`);
      for (const k of ['exclusiveMinimum', 'exclusiveMaximum'])
        if (o[k] !== undefined && typeof o[k] !== 'boolean')
          problems.push(`${where}: ${k} must be a boolean in OpenAPI 3.0`);
    }
    if (o['properties'] !== undefined)
      for (const [k, v] of Object.entries(o['properties'] as object)) schema(v, `${where}.properties.${k}`);
    if (o['items'] !== undefined) schema(o['items'], `${where}.items`);
    if (o['additionalProperties'] !== undefined && typeof o['additionalProperties'] === 'object')
      schema(o['additionalProperties'], `${where}.additionalProperties`);
    for (const k of ['allOf', 'anyOf', 'oneOf'])
      if (Array.isArray(o[k])) (o[k] as unknown[]).forEach((x, i) => schema(x, `${where}.${k}[${i}]`));
    if (o['not'] !== undefined) schema(o['not'], `${where}.not`);
  };
  const content = (c: unknown, where: string): void => {
    if (c === undefined) return;
    for (const [type, media] of Object.entries(c as Record<string, { schema?: unknown }>))
      if (media.schema !== undefined) schema(media.schema, `${where}.content[${type}].schema`);
  };
  for (const [route, item] of Object.entries(doc.paths)) {
    if (!route.startsWith('/')) problems.push(`path ${route} must start with /`);
    const templated = [...route.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.has(method)) {
        if (
          method !== 'parameters' &&
          method !== 'summary' &&
          method !== 'description' &&
          method !== 'servers'
        )
          problems.push(`${route}: "${method}" is not an HTTP method`);
        continue;
      }
      const where = `${method.toUpperCase()} ${route}`;
      const operation = op as {
        responses?: Record<string, { description?: unknown; content?: unknown }>;
        parameters?: { name?: unknown; in?: unknown; required?: unknown; schema?: unknown }[];
        requestBody?: { content?: unknown };
      };
      if (!operation.responses || Object.keys(operation.responses).length === 0)
        problems.push(`${where}: no responses`);
      for (const [code, response] of Object.entries(operation.responses ?? {})) {
        if (!/^([1-5]\d\d|[1-5]XX|default)$/.test(code)) problems.push(`${where}: response code ${code}`);
        if (typeof response.description !== 'string') problems.push(`${where} ${code}: no description`);
        content(response.content, `${where} ${code}`);
      }
      const params = operation.parameters ?? [];
      for (const p of params) {
        if (typeof p.name !== 'string' || !['query', 'header', 'path', 'cookie'].includes(String(p.in)))
          problems.push(`${where}: bad parameter ${JSON.stringify(p)}`);
        if (p.schema !== undefined) schema(p.schema, `${where} parameter ${String(p.name)}`);
      }
      for (const name of templated) {
        const p = params.find((x) => x.in === 'path' && x.name === name);
        if (!p || p.required !== true)
          problems.push(`${where}: path parameter {${name}} is not declared as required`);
      }
      if (operation.requestBody) content(operation.requestBody.content, `${where} requestBody`);
    }
  }
  // The job body of docs/api.md is described.
  const body = (
    doc.paths['/v1/jobs']?.['post'] as
      { requestBody?: { content?: Record<string, { schema?: { properties?: object } }> } } | undefined
  )?.requestBody?.content?.['application/json']?.schema;
  for (const field of ['team', 'gpus', 'class', 'flavor', 'name', 'duration', 'timeLimit', 'command']) {
    if (!body?.properties || !(field in body.properties))
      problems.push(`POST /v1/jobs: body field ${field} is not described`);
  }
  return problems;
}
