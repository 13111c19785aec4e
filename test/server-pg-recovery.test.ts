// Recovery and outages of `arbiter serve --database postgres://...` (docs/architecture.md,
// "Recovery"), through the real, built server on a throwaway PostgreSQL cluster
// (test/pg-harness.ts):
// - kill -9 of the server in a loop, with short runs (they end while it is down) and long ones:
//   every restart succeeds the first time, every acknowledged job is there, runs that ended
//   meanwhile are finished by recovery, and no node ever holds more GPUs than it has;
// - kill -9 of the postmaster under load: /healthz answers 503 naming the store while it is
//   down, and once it is back the state converges without a restart (no run exit is lost, so no
//   job stays running past its end).
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest).
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  api,
  sleep,
  smallCluster,
  startServer,
  tempDir,
  twoTeamsPolicy,
  waitFor,
  writeFile,
  type Api,
  type FleetBody,
  type Job,
  type JobPage,
} from './server-harness.js';
import { pgClusterForServers } from './pg-servers.js';

const POLICY = twoTeamsPolicy(16);

const pgCluster = pgClusterForServers();

/** A data directory and the arguments of a server on a fresh database: 4 nodes of 8 GPUs. */
async function setup(name: string): Promise<{ data: string; args: string[] }> {
  const dir = tempDir(name);
  const database = await pgCluster().createDatabase();
  const clusterFile = writeFile(dir, 'cluster.yaml', smallCluster(4, 8));
  const policy = writeFile(dir, 'policy.yaml', POLICY);
  return { data: path.join(dir, 'data'), args: ['--database', database, '--cluster', clusterFile, '--policy', policy, '--speed', '1'] };
}

async function allJobs(a: Api): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; text: string; body: JobPage } = await a.get<JobPage>(`/v1/jobs?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    expect(page.status, page.text).toBe(200);
    jobs.push(...page.body.jobs);
    cursor = page.body.nextCursor;
  } while (cursor !== null);
  return jobs;
}

/** No node holds more GPUs than it has, and the jobs it says it holds are running there. */
async function expectFleetWithinCapacity(a: Api): Promise<void> {
  const fleet = (await a.get<FleetBody>('/v1/fleet')).body;
  for (const pool of fleet.pools)
    for (const node of pool.nodes) {
      const held = node.held.reduce((sum, h) => sum + h.gpus, 0);
      expect(held, `node ${node.name} holds ${JSON.stringify(node.held)}`).toBeLessThanOrEqual(node.gpus);
      // The engine may hold more than the active jobs listed (a run stopping after a preemption or
      // cancel keeps its GPUs until it is gone), never less: GPUs of a listed run counted free
      // would be given twice.
      expect(node.free, `node ${node.name} free`).toBeGreaterThanOrEqual(0);
      expect(node.free, `node ${node.name} free`).toBeLessThanOrEqual(node.gpus - held);
    }
}

describe('PostgreSQL: recovery after kill -9 of the server', () => {
  it('restarts at once five times in a row; acknowledged jobs are all there, runs that ended meanwhile are finished', async () => {
    const { data, args } = await setup('pg-kill-loop');
    const acknowledged = new Map<string, number>(); // id -> duration
    let server = await startServer(data, { args });
    for (let round = 1; round <= 5; round++) {
      const a = api(server);
      // Short runs (they end while the server is down) and long ones fill the fleet; the rest wait.
      const posts = [];
      for (let i = 0; i < 8; i++) {
        const short = i % 2 === 0;
        posts.push(a.post<Job>('/v1/jobs', { team: i % 4 < 2 ? 'alpha' : 'beta', gpus: short ? 4 : 1, duration: short ? 1 : 1e6, name: `r${round}-${i}` }));
      }
      for (const r of await Promise.all(posts)) {
        expect(r.status, r.text).toBe(201);
        acknowledged.set(r.body.id, Number(r.body.name!.split('-')[1]) % 2 === 0 ? 1 : 1e6);
      }
      const running = (await allJobs(a)).filter((j) => j.status === 'running' && acknowledged.get(j.id) === 1);
      server.process.kill('SIGKILL');
      await new Promise((resolve) => server.process.once('exit', resolve));
      // Long enough for the short runs to end while nobody watches.
      await sleep(1200);
      // startServer fails if the server exits before it serves: it must succeed the first time.
      server = await startServer(data, { args });
      const b = api(server);
      const jobs = new Map((await allJobs(b)).map((j) => [j.id, j]));
      for (const id of acknowledged.keys()) expect(jobs.has(id), `acknowledged job ${id} after restart ${round}`).toBe(true);
      // Short runs that were running at the kill ended while the server was down: recovery
      // finished them (completed, when they ended), before any new pass could use their GPUs.
      for (const job of running) {
        const now = jobs.get(job.id)!;
        expect(now.status, `${job.id} after restart ${round}`).toBe('completed');
        expect(Date.parse(now.endedAt!) - Date.parse(now.startedAt!)).toBeGreaterThanOrEqual(1000);
      }
      await expectFleetWithinCapacity(b);
      expect(server.output()).not.toMatch(/InvariantViolation|scheduling loop failed/);
    }
    const a = api(server);
    // Every short job completes; the long ones run or wait, and the fleet stays within capacity.
    await waitFor(async () => (await allJobs(a)).filter((j) => acknowledged.get(j.id) === 1).every((j) => j.status === 'completed'), 'every short job to complete', 15_000);
    await expectFleetWithinCapacity(a);
    expect(await server.stop()).toBe(0);
  }, 120_000);
});

describe('PostgreSQL: an outage of the database', () => {
  // The lock's connection ends with the postmaster: the leader stops writing, rides the outage
  // out (503s), takes its lock again with its own epoch once the database is back, and goes on.
  it('/healthz reports it (503, the store and its cause); afterwards no job stays running past its end, without a restart', async () => {
    const { data, args } = await setup('pg-outage');
    const server = await startServer(data, { args });
    const a = api(server);
    const health = await a.get<{ status: string; store: { ok: boolean } }>('/healthz', null);
    expect([health.status, health.body.status, health.body.store.ok]).toEqual([200, 'ok', true]);

    // Load: short jobs (2 s) keep the fleet busy and a queue waiting, through the outage.
    const acknowledged = new Set<string>();
    let stop = false;
    let refused = 0;
    const submitter = (async () => {
      for (let i = 0; !stop; i++) {
        const r = await a.post<Job>('/v1/jobs', { team: i % 2 === 0 ? 'alpha' : 'beta', gpus: 4, duration: 2, name: `load-${i}` }).catch(() => null);
        if (r?.status === 201) acknowledged.add(r.body.id);
        else refused++;
        await sleep(50);
      }
    })();
    await waitFor(async () => (await allJobs(a)).filter((j) => j.status === 'running').length >= 4, 'the fleet to be busy');

    pgCluster().crash();
    const down = await waitFor(async () => {
      const r = await a.get<{ status: string; store: { ok: boolean; cause?: string }; scheduler: { ok: boolean } }>('/healthz', null);
      return r.status === 503 ? r.body : undefined;
    }, '/healthz to report the outage', 10_000);
    expect(down.status).toBe('degraded');
    expect(down.store.ok).toBe(false);
    expect(down.store.cause).toMatch(/\S/);
    // Runs end during the outage (2 s each): their exits cannot be stored yet.
    await sleep(3000);
    const during = await a.get<{ status: string; store: { ok: boolean }; scheduler: { ok: boolean; cause?: string }; leader: { ok: boolean; cause?: string } }>('/healthz', null);
    expect([during.status, during.body.store.ok, during.body.scheduler.ok, during.body.leader.ok]).toEqual([503, false, false, false]);
    expect(during.body.leader.cause).toMatch(/leader lock is lost/);
    expect(during.body.scheduler.cause).toMatch(/run exits wait to be stored/);

    await pgCluster().restart();
    await waitFor(async () => (await a.get('/healthz', null)).status === 200, '/healthz to be ok again', 15_000);
    // It took its lock again with its own epoch: nobody led meanwhile, so it goes on.
    expect((await a.get<{ leader: { ok: boolean; epoch: number } }>('/healthz', null)).body.leader).toEqual({ ok: true, epoch: 1 });
    stop = true;
    await submitter;
    expect(acknowledged.size).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0); // submissions during the outage were refused, not acknowledged

    // Every acknowledged job is there and, with no restart of the server, each completes: none
    // stays running past its end (each runs 2 s; the queue drains at 8 jobs every 2 s).
    const done = await waitFor(async () => {
      const jobs = await allJobs(a);
      return jobs.every((j) => j.status === 'completed') ? jobs : undefined;
    }, 'every job to complete after the outage', 30_000, 250);
    const ids = new Set(done.map((j) => j.id));
    for (const id of acknowledged) expect(ids.has(id), `acknowledged job ${id}`).toBe(true);
    await expectFleetWithinCapacity(a);
    expect(await server.stop()).toBe(0);
  }, 120_000);
});
