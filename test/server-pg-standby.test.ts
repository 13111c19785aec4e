// One leader, hot standbys (docs/architecture.md, "One leader, hot standbys"): several real,
// built `arbiter serve` on one database of a throwaway PostgreSQL cluster (test/pg-harness.ts).
// - two servers: the second stands by (/healthz 503 naming the leader, every other route 503
//   `standby` with the leader's URL), the CLI given both addresses finds the leader, a server
//   given another audit key is refused at once, and kill -9 of the leader hands over;
// - a leader whose lock connection is cut (pg_terminate_backend) with a standby beside it: the
//   standby takes over, the old leader's writes are fenced and it becomes a standby;
// - three servers, the leader killed repeatedly under load: after each takeover, read from the
//   database itself, no node ever held more GPUs than it has, no job ran twice (no two runs of a
//   job overlap, none after it completed), every acknowledged job is there; `audit verify` passes.
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest).
import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  api,
  cli,
  sleep,
  smallCluster,
  STANDBY_READY,
  startServer,
  tempDir,
  twoTeamsPolicy,
  waitFor,
  writeFile,
  type Job,
  type Server,
} from './server-harness.js';
import { pgClusterForServers, query } from './pg-servers.js';

const POLICY = twoTeamsPolicy(16, { urgent: true });

const pgCluster = pgClusterForServers();

interface Installation {
  readonly database: string;
  readonly dir: string;
  readonly key: string;
  readonly args: string[];
  /** A data directory of its own for server n. */
  data(n: number): string;
}

/** A fresh database, a fleet of 4 nodes of 8 GPUs, and the installation's one audit key file. */
async function installation(name: string): Promise<Installation> {
  const dir = tempDir(name);
  const database = await pgCluster().createDatabase();
  const key = path.join(dir, 'audit-key.pem');
  const args = [
    '--database', database,
    '--cluster', writeFile(dir, 'cluster.yaml', smallCluster(4, 8)),
    '--policy', writeFile(dir, 'policy.yaml', POLICY),
    '--audit-key', key,
    '--speed', '1',
  ];
  return { database, dir, key, args, data: (n) => path.join(dir, `data-${n}`) };
}

interface RunRow {
  job_id: string;
  start_at: number;
  end_at: number | null;
  outcome: string | null;
  placement: { node: string; gpus: number }[];
}

/**
 * What the database says happened, whoever led: at no moment did a node hold more GPUs than it
 * has (runs as intervals, open ones to now), no two runs of a job overlap, no run starts after
 * the job completed, and every acknowledged job is stored.
 */
async function expectHistorySound(database: string, acknowledgedNow: Iterable<string>, gpusPerNode = 8): Promise<void> {
  // Taken before the database is read: jobs acknowledged meanwhile are checked next time.
  const acknowledged = [...acknowledgedNow];
  const runs = await query<RunRow>(database, 'SELECT job_id, start_at, end_at, outcome, placement FROM runs ORDER BY id');
  const edges = new Map<string, { at: number; delta: number }[]>();
  for (const run of runs)
    for (const { node, gpus } of run.placement) {
      const list = edges.get(node) ?? [];
      list.push({ at: run.start_at, delta: gpus }, { at: run.end_at ?? Infinity, delta: -gpus });
      edges.set(node, list);
    }
  for (const [node, list] of edges) {
    // At one instant, the runs that end give their GPUs before those that start take them.
    list.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let held = 0;
    for (const edge of list) {
      held += edge.delta;
      expect(held, `GPUs held on ${node} at ${edge.at}`).toBeLessThanOrEqual(gpusPerNode);
    }
  }
  const byJob = new Map<string, RunRow[]>();
  for (const run of runs) byJob.set(run.job_id, [...(byJob.get(run.job_id) ?? []), run]);
  for (const [job, list] of byJob) {
    list.sort((a, b) => a.start_at - b.start_at);
    for (let i = 1; i < list.length; i++) {
      const before = list[i - 1]!;
      expect(before.end_at, `run ${i} of ${job} starts while run ${i - 1} is open`).not.toBeNull();
      expect(before.end_at!, `runs of ${job} overlap`).toBeLessThanOrEqual(list[i]!.start_at);
      expect(before.outcome, `${job} ran again after it completed`).not.toBe('completed');
    }
  }
  const stored = new Set((await query<{ id: string }>(database, 'SELECT id FROM jobs')).map((r) => r.id));
  for (const id of acknowledged) expect(stored.has(id), `acknowledged job ${id}`).toBe(true);
}

/** The one server of `servers` whose /healthz says it leads and is ready. */
async function leaderOf(servers: Server[], token: string, timeoutMs = 15_000): Promise<Server> {
  return waitFor(async () => {
    for (const s of servers) {
      const r = await api({ url: s.url, adminToken: token }).get<{ role?: string }>('/healthz', null).catch(() => null);
      if (r?.status === 200 && r.body.role === 'leader') return s;
    }
    return undefined;
  }, 'a leader to answer /healthz 200', timeoutMs, 100);
}

describe('PostgreSQL: one leader, hot standbys', () => {
  it('a second server stands by (503 naming the leader), the CLI finds the leader, another key is refused, kill -9 hands over', async () => {
    const inst = await installation('pg-standby-two');
    const first = await startServer(inst.data(1), { args: inst.args });
    const token = first.adminToken;
    const second = await startServer(inst.data(2), { args: inst.args, ready: STANDBY_READY });
    expect(second.startupOutput).toMatch(new RegExp(`led by pid ${first.process.pid} on \\S+, serving on ${first.url.replace(/[.]/g, '\\.')}, epoch 1`));

    const health = await api({ url: second.url, adminToken: token }).get<{ status: string; role: string; leader: string }>('/healthz', null);
    expect([health.status, health.body.status, health.body.role, health.body.leader]).toEqual([503, 'standby', 'standby', first.url]);
    const refused = await api({ url: second.url, adminToken: token }).post<{ code: string; leader: string; message: string }>('/v1/jobs', { team: 'alpha', gpus: 1, duration: 5 });
    expect([refused.status, refused.body.code, refused.body.leader, refused.headers.get('x-arbiter-leader')]).toEqual([503, 'standby', first.url, first.url]);
    expect(refused.body.message).toContain(`the leader is ${first.url}`);
    const leaderHealth = await api(first).get<{ role: string; leader: { ok: boolean; epoch: number } }>('/healthz', null);
    expect([leaderHealth.status, leaderHealth.body.role, leaderHealth.body.leader]).toEqual([200, 'leader', { ok: true, epoch: 1 }]);

    // The CLI given the standby first (and a dead address) finds the leader.
    const env = { ARBITER_TOKEN: token };
    const submitted = await cli(['submit', '--server', `http://127.0.0.1:9,${second.url},${first.url}`, '--team', 'alpha', '--gpus', '2', '--duration', '1000', '--json'], env);
    expect(submitted.status, submitted.stderr).toBe(0);
    const id = (JSON.parse(submitted.stdout) as Job).id;
    const listed = await cli(['jobs', '--json'], { ...env, ARBITER_SERVER: `${second.url},${first.url}` });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(id);

    // Another key than the installation's: refused at once, saying which and what to do.
    const otherKey = await cli(['serve', '--data', inst.data(3), '--port', '0', ...inst.args.slice(0, -4), '--speed', '1'], {}, 30_000);
    expect(otherKey.status, otherKey.stderr).not.toBe(0);
    expect(otherKey.stderr).toMatch(/audit-key\.pem: no audit signing key there, and the checkpoints in \S+ are signed by the installation's key/);
    const strangerKey = writeFile(inst.dir, 'stranger.pem', generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const stranger = await cli(['serve', '--data', inst.data(5), '--port', '0', ...inst.args.slice(0, -4), '--audit-key', strangerKey], {}, 30_000);
    expect(stranger.status).not.toBe(0);
    expect(stranger.stderr).toMatch(/this audit signing key \(public key \S+\) is not the installation's: the checkpoints in \S+ are signed by public key \S+; refusing to start/);

    // kill -9 of the leader: the standby takes over within 10 s, on its own URL, and has the job.
    const killedAt = Date.now();
    first.process.kill('SIGKILL');
    await waitFor(() => /Arbiter is serving on/.test(second.output()), 'the standby to take over', 10_000, 50);
    const tookMs = Date.now() - killedAt;
    expect(tookMs).toBeLessThan(10_000);
    const taken = api({ url: second.url, adminToken: token });
    const job = await taken.get<Job>(`/v1/jobs/${id}`);
    expect([job.status, job.body.status]).toEqual([200, 'running']);
    const after = await taken.get<{ role: string; leader: { epoch: number } }>('/healthz', null);
    expect([after.status, after.body.role, after.body.leader.epoch]).toEqual([200, 'leader', 2]);
    await expectHistorySound(inst.database, [id]);
    expect(await second.stop()).toBe(0);
    const verified = await cli(['audit', 'verify', '--data', inst.data(2), '--database', inst.database, '--audit-key', inst.key]);
    expect(verified.status, verified.stderr).toBe(0);
  }, 90_000);

  it('a leader whose lock connection is cut is fenced and stands by; the standby takes over', async () => {
    const inst = await installation('pg-standby-cut');
    const first = await startServer(inst.data(1), { args: inst.args });
    const token = first.adminToken;
    const second = await startServer(inst.data(2), { args: inst.args, ready: STANDBY_READY });
    const a = api(first);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await a.post<Job>('/v1/jobs', { team: i % 2 ? 'alpha' : 'beta', gpus: 8, duration: 1e6 });
      expect(r.status, r.text).toBe(201);
      ids.push(r.body.id);
    }
    // Only the lock's session ends: the leader's pooled connections still work, so only the
    // fence (the epoch in the database) keeps it from writing once the standby leads.
    const [ended] = await query<{ ended: boolean }>(
      inst.database,
      `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = 'arbiter serve pid ${first.process.pid} on ' || split_part(application_name, ' on ', 2) AND datname = current_database()`,
    );
    expect(ended?.ended).toBe(true);
    await waitFor(() => /Arbiter is serving on/.test(second.output()), 'the standby to take over', 10_000, 50);
    // The old leader learns it was deposed and stands by, naming the new leader.
    await waitFor(() => /stopped leading; starting again as a standby/.test(first.output()), 'the old leader to stand by', 10_000, 50);
    const old = await waitFor(async () => {
      const r = await api({ url: first.url, adminToken: token }).get<{ role: string; leader: string }>('/healthz', null).catch(() => null);
      return r?.body?.role === 'standby' ? r : undefined;
    }, 'the old leader to answer as a standby', 10_000);
    expect([old.status, old.body.leader]).toEqual([503, second.url]);
    const b = api({ url: second.url, adminToken: token });
    const r = await b.post<Job>('/v1/jobs', { team: 'alpha', gpus: 8, duration: 1e6 });
    expect(r.status, r.text).toBe(201);
    ids.push(r.body.id);
    await expectHistorySound(inst.database, ids);
    expect(await first.stop()).toBe(0);
    expect(await second.stop()).toBe(0);
  }, 90_000);

  it('three servers, the leader killed three times under load: after each takeover nothing is double-booked, run twice or lost; audit verify passes', async () => {
    const inst = await installation('pg-standby-three');
    let servers: Server[] = [await startServer(inst.data(1), { args: inst.args })];
    const token = servers[0]!.adminToken;
    servers.push(await startServer(inst.data(2), { args: inst.args, ready: STANDBY_READY }));
    servers.push(await startServer(inst.data(3), { args: inst.args, ready: STANDBY_READY }));
    const dataOf = new Map(servers.map((s, i) => [s, i + 1]));
    const acknowledged = new Set<string>();
    let stop = false;
    let leader = servers[0]!;
    // Load: short and long jobs, urgent ones preempt; submitted to whoever leads now.
    const submitter = (async () => {
      for (let i = 0; !stop; i++) {
        const body = { team: i % 2 ? 'alpha' : 'beta', gpus: 1 + (i % 4), duration: i % 3 === 0 ? 1e6 : 1 + (i % 5), class: i % 7 === 0 ? 'urgent' : 'training' };
        const r = await api({ url: leader.url, adminToken: token }).post<Job>('/v1/jobs', body).catch(() => null);
        if (r?.status === 201) acknowledged.add(r.body.id);
        await sleep(20);
      }
    })();
    const takeovers: number[] = [];
    for (let round = 1; round <= 3; round++) {
      await sleep(2500);
      const victim = leader;
      const killedAt = Date.now();
      victim.process.kill('SIGKILL');
      await new Promise((resolve) => victim.process.once('exit', resolve));
      const rest = servers.filter((s) => s !== victim);
      leader = await leaderOf(rest, token);
      takeovers.push(Date.now() - killedAt);
      await expectHistorySound(inst.database, acknowledged);
      // The killed one comes back as a standby (its own data directory, free again).
      const back = await startServer(inst.data(dataOf.get(victim)!), { args: inst.args, ready: STANDBY_READY });
      dataOf.set(back, dataOf.get(victim)!);
      servers = [...rest, back];
    }
    stop = true;
    await submitter;
    expect(acknowledged.size).toBeGreaterThan(50);
    for (const ms of takeovers) expect(ms).toBeLessThan(10_000);
    await expectHistorySound(inst.database, acknowledged);
    for (const s of servers) expect(await s.stop()).toBe(0);
    const verified = await cli(['audit', 'verify', '--data', inst.data(1), '--database', inst.database, '--audit-key', inst.key]);
    expect(verified.status, verified.stderr).toBe(0);
  }, 120_000);
});
