// `arbiter serve --executor slurm` end to end, on a real Slurm cluster (test/slurm-harness.ts:
// gpu1..gpu3, 8 a100 each): the fleet comes from the partition; a job submitted through the API
// runs in Slurm on exactly the node and GPUs Arbiter chose; a 2 x 8 gang gets two whole nodes;
// completion, failure with its exit code, a time limit reached, an operator's scancel and cancel
// are reconciled from Slurm; slurmctld down (submissions answered at once, /healthz degraded,
// errors counted) and restarted; a submission Slurm refuses waits with Slurm's words; a node set
// DOWN under a job (requeued, a preemption naming the node) and back; a job submitted behind
// Arbiter's back (reported, its GPUs never double-booked); kill -9 of Arbiter (runs re-adopted in
// place; an sbatch that outlives it never makes a second Slurm job of its run); a cluster.yaml
// that does not match the partition is refused at start.
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, assertDistFresh, runServeExpectingExit, startServer, stopAllServers, tempDir, waitFor, writeFile, type Api, type FleetBody, type Job, type Server } from './server-harness.js';
import { hostlist } from '../src/executors/slurm-fleet.js';
import { startSlurmCluster, type SlurmCluster } from './slurm-harness.js';

interface SqueueJob {
  job_id: number;
  name: string;
  comment: string;
  job_state: string;
  nodes: string;
  exit_code: number;
  gres_detail?: string[];
  tres_per_node?: string;
  account?: string;
}

interface Health {
  status: string;
  executor: { kind: string; ok: boolean; cause?: string };
}

type Fleet = FleetBody;

/** A value of /metrics (0 when the series is absent). */
const metric = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
};

describe('arbiter serve --executor slurm', () => {
  let cluster: SlurmCluster;
  let server: Server;
  let client: Api;
  /** A job with a one-minute time limit (Slurm counts whole minutes), started early, checked last. */
  let limited: Job;

  beforeAll(async () => {
    assertDistFresh();
    cluster = await startSlurmCluster();
    server = await startServer(tempDir('arbiter-slurm-'), { args: ['--executor', 'slurm', '--slurm-partition', cluster.partition], env: { SLURM_CONF: cluster.conf }, timeoutMs: 30_000 });
    client = api(server);
  }, 120_000);
  afterAll(async () => {
    await stopAllServers();
    await cluster?.stop();
  });

  const slurmJobs = async (): Promise<SqueueJob[]> => (JSON.parse(await cluster.run('squeue', ['--json'])) as { jobs: SqueueJob[] }).jobs;
  const slurmJobOf = async (id: string): Promise<SqueueJob | undefined> => (await slurmJobs()).find((j) => j.name === `arbiter-${id}`);
  const submit = async (body: Record<string, unknown>): Promise<Job> => {
    const answer = await client.post<Job>('/v1/jobs', { team: 'default', ...body });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.body;
  };
  const job = async (id: string): Promise<Job> => (await client.get<Job>(`/v1/jobs/${id}`)).body;
  const until = (id: string, status: string, ms = 30_000): Promise<Job> =>
    waitFor(async () => {
      const j = await job(id);
      return j.status === status ? j : undefined;
    }, `job ${id} ${status}\n${server.output().slice(-2000)}`, ms, 200);
  const runningInSlurm = (id: string): Promise<SqueueJob> =>
    waitFor(async () => {
      const j = await slurmJobOf(id);
      return j?.job_state === 'RUNNING' ? j : undefined;
    }, `the Slurm job of ${id} RUNNING`, 30_000, 200);
  const slurmNode = (engineNode: string): string => `gpu${Number(/-(\d+)$/.exec(engineNode)![1]) + 1}`;

  it('runs a job in Slurm on exactly the node and GPUs Arbiter chose', async () => {
    const submitted = await submit({ gpus: 4, name: 'pinned', command: 'echo "gpus=$CUDA_VISIBLE_DEVICES"; sleep 60' });
    const running = await until(submitted.id, 'running');
    expect(running.placement).toHaveLength(1);
    expect(running.placement[0]!.gpus).toBe(4);
    const slurm = await runningInSlurm(submitted.id);
    expect(slurm.nodes).toBe(slurmNode(running.placement[0]!.node));
    expect(slurm.gres_detail).toEqual(['gpu:a100:4(IDX:0-3)']);
    expect(slurm.comment).toMatch(new RegExp(`^arbiter/[^/]+/default/${submitted.id}/${submitted.id}-r1$`));
    const log = path.join(server.data, 'logs', `${submitted.id}.log`);
    await waitFor(() => readFileSync(log, 'utf8').includes('gpus=0,1,2,3'), 'the job output', 30_000, 200);

    // Cancel: Slurm ends the job, then Arbiter frees its GPUs.
    expect((await client.post(`/v1/jobs/${submitted.id}/cancel`)).status).toBe(200);
    expect((await job(submitted.id)).status).toBe('cancelled');
    // SIGTERM first (its grace period): the job dies of it, and Slurm shows it FAILED (or
    // CANCELLED, when the cancel came before Arbiter saw it running).
    await waitFor(async () => ['FAILED', 'CANCELLED'].includes((await slurmJobOf(submitted.id))?.job_state ?? ''), 'the Slurm job ended', 30_000, 200);
  });

  it('runs a 2 x 8 GPU gang on two whole nodes', async () => {
    const submitted = await submit({ gpus: 16, name: 'gang', command: 'sleep 60' });
    const running = await until(submitted.id, 'running');
    expect(running.placement.map((p) => p.gpus)).toEqual([8, 8]);
    const slurm = await runningInSlurm(submitted.id);
    expect(slurm.nodes).toBe(hostlist(running.placement.map((p) => slurmNode(p.node))));
    expect(slurm.gres_detail).toEqual(['gpu:a100:8(IDX:0-7)', 'gpu:a100:8(IDX:0-7)']);
    expect((await client.post(`/v1/jobs/${submitted.id}/cancel`)).status).toBe(200);
    await waitFor(async () => ['FAILED', 'CANCELLED'].includes((await slurmJobOf(submitted.id))?.job_state ?? ''), 'the gang ended', 30_000, 200);
  });

  it('ends jobs as Slurm reports them: completed, failed with the exit code', async () => {
    limited = await submit({ gpus: 1, timeLimit: 1, name: 'limited', command: 'sleep 600' });
    const ok = await submit({ gpus: 1, command: 'true' });
    const bad = await submit({ gpus: 1, command: 'exit 3' });
    expect((await until(ok.id, 'completed')).exitCode).toBe(0);
    expect((await until(bad.id, 'failed')).exitCode).toBe(3);
    expect((await slurmJobOf(bad.id))?.job_state).toBe('FAILED');
    expect((await runningInSlurm(limited.id)).job_state).toBe('RUNNING');
  });

  it('ends a job an operator cancels in Slurm (scancel) as cancelled', async () => {
    const submitted = await submit({ gpus: 2, command: 'sleep 60' });
    await until(submitted.id, 'running');
    const slurm = await runningInSlurm(submitted.id);
    await cluster.run('scancel', [String(slurm.job_id)]);
    const cancelled = await until(submitted.id, 'cancelled');
    expect(cancelled.exitCode ?? null).toBeNull();
    expect((await slurmJobOf(submitted.id))?.job_state).toBe('CANCELLED');
    // The server logs it once the job is stored cancelled, so the API can show the job cancelled
    // a moment before the line reaches the server's output: waited for, not read at once (read at
    // once, this failed about one run in four, printing the output, whose last line was the run
    // of the test before that ended FAILED with exit code 3).
    const line = new RegExp(`"job":"${submitted.id}".*"msg":"a run was cancelled outside Arbiter; the job ends cancelled"`);
    await waitFor(() => line.test(server.output()), `the log line of ${submitted.id} cancelled outside Arbiter\n${server.output().slice(-2000)}`, 10_000, 50);
  });

  it('with slurmctld down, answers submissions at once and places them once Slurm answers again; a restart of slurmctld loses no running job; a decision stored but not carried out when Arbiter is killed is carried out once', async () => {
    const before = await submit({ gpus: 1, command: 'sleep 60' });
    await until(before.id, 'running');
    await runningInSlurm(before.id);
    await cluster.stopController();
    // The loop never waits for Slurm (whose commands would wait MessageTimeout, 20 s here).
    const t0 = Date.now();
    const during = await submit({ gpus: 1, command: 'echo placed' });
    expect(Date.now() - t0).toBeLessThan(5000);
    await until(during.id, 'running');
    const degraded = await waitFor(async () => {
      const h = await client.get<Health>('/healthz');
      return h.status === 503 ? h.body : undefined;
    }, '/healthz degraded', 30_000, 200);
    expect(degraded.executor).toMatchObject({ kind: 'slurm', ok: false });
    expect(degraded.executor.cause).toMatch(/Slurm does not answer|wait to be submitted to Slurm/);
    expect(metric((await client.get('/metrics')).text, 'arbiter_executor_errors_total{operation="poll",code="slurm_unreachable"}')).toBeGreaterThan(0);
    expect(metric((await client.get('/metrics')).text, 'arbiter_executor_up')).toBe(0);
    // kill -9 now: the decision to run `during` is stored, its sbatch not done. The restarted
    // server carries it out (one Slurm job), and re-adopts `before` in place.
    server.process.kill('SIGKILL');
    await new Promise((resolve) => server.process.once('exit', resolve));
    await cluster.startController();
    server = await startServer(server.data, { args: ['--executor', 'slurm', '--slurm-partition', cluster.partition], env: { SLURM_CONF: cluster.conf }, timeoutMs: 60_000 });
    client = api(server);
    await waitFor(async () => server.output().includes(`"job":"${during.id}"`) || undefined, `the restarted server takes ${during.id} back\n${server.output()}`, 30_000, 200);
    expect(server.output()).toMatch(new RegExp(`"job":"${during.id}".*"msg":"(launched a run decided before the restart but not launched then|re-adopted a running job in place)"`));
    // Arbiter resubmits as soon as Slurm answers; Slurm itself may start the job only at its next
    // scheduling pass (sched_interval, 60 s) when it arrived before the restarted controller heard
    // from the nodes again, so the wait here is Slurm's, not Arbiter's.
    await until(during.id, 'completed', 90_000);
    expect((await slurmJobs()).filter((j) => j.name === `arbiter-${during.id}`).map((j) => j.job_state)).toEqual(['COMPLETED']);
    expect((await slurmJobs()).filter((j) => j.name === `arbiter-${before.id}`).map((j) => j.job_state)).toEqual(['RUNNING']);
    expect((await job(before.id)).status).toBe('running');
    await waitFor(async () => (await client.get('/healthz')).status === 200, '/healthz ok again', 30_000, 200);
    expect((await client.post(`/v1/jobs/${before.id}/cancel`)).status).toBe(200);
  }, 180_000);

  it("leaves a job Slurm refuses pending with Slurm's error as its reason, and places it again", async () => {
    await cluster.run('scontrol', ['update', `PartitionName=${cluster.partition}`, 'State=DRAIN']);
    try {
      const refused = await submit({ gpus: 1, command: 'echo placed' });
      const waiting = await waitFor(async () => {
        const j = await job(refused.id);
        return j.status === 'pending' && j.reason?.code === 'PlacementRefused' ? j : undefined;
      }, `job ${refused.id} refused\n${server.output().slice(-2000)}`, 30_000, 200);
      expect(waiting.reason!.message).toContain('Required partition not available (inactive or drain)');
      const health = await client.get<Health>('/healthz');
      expect(health.status).toBe(503);
      expect(health.body.executor.cause).toContain(refused.id);
      await cluster.run('scontrol', ['update', `PartitionName=${cluster.partition}`, 'State=UP']);
      expect((await until(refused.id, 'completed')).exitCode).toBe(0);
      expect(metric((await client.get('/metrics')).text, 'arbiter_placements_refused_total')).toBeGreaterThan(0);
    } finally {
      await cluster.run('scontrol', ['update', `PartitionName=${cluster.partition}`, 'State=UP']);
    }
  });

  it('ends a job that reaches its time limit (sbatch --time) as timed out', async () => {
    const ended = await until(limited.id, 'timed_out', 150_000);
    // Slurm's SIGTERM ends the shell (no exit code) or what it runs (exit code 143).
    expect([null, 143]).toContain(ended.exitCode ?? null);
    expect((await slurmJobOf(limited.id))?.job_state).toBe('TIMEOUT');
  }, 160_000);
});

describe('arbiter serve --executor slurm, nodes and jobs outside Arbiter, kill -9', () => {
  let cluster: SlurmCluster;
  let server: Server;
  let client: Api;
  const start = async (data: string, more: string[] = []): Promise<void> => {
    server = await startServer(data, { args: ['--executor', 'slurm', '--slurm-partition', cluster.partition, ...more], env: { SLURM_CONF: cluster.conf }, timeoutMs: 60_000 });
    client = api(server);
  };
  beforeAll(async () => {
    assertDistFresh();
    cluster = await startSlurmCluster();
    await start(tempDir('arbiter-slurm-'));
  }, 120_000);
  afterAll(async () => {
    await stopAllServers();
    await cluster?.stop();
  });

  const slurmJobs = async (): Promise<SqueueJob[]> => (JSON.parse(await cluster.run('squeue', ['--json'])) as { jobs: SqueueJob[] }).jobs;
  const submit = async (body: Record<string, unknown>): Promise<Job> => {
    const answer = await client.post<Job>('/v1/jobs', { team: 'default', ...body });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.body;
  };
  const job = async (id: string): Promise<Job> => (await client.get<Job>(`/v1/jobs/${id}`)).body;
  const fleet = async (): Promise<Fleet> => (await client.get<Fleet>('/v1/fleet')).body;
  const node = (f: Fleet, name: string) => f.pools.flatMap((p) => p.nodes).find((n) => n.name === name)!;
  const runningInSlurm = (id: string): Promise<SqueueJob> =>
    waitFor(async () => {
      const runs = (await slurmJobs()).filter((j) => j.name === `arbiter-${id}` && j.job_state === 'RUNNING');
      return runs.length === 1 ? runs[0] : undefined;
    }, `the Slurm job of ${id} RUNNING`, 30_000, 200);

  it('reports a job submitted behind its back and counts its GPUs held: never double-booked', async () => {
    const outside = (await cluster.run('sbatch', ['--parsable', `--partition=${cluster.partition}`, '--nodelist=gpu3', '--gres=gpu:a100:6', '--job-name=behind-the-back', '--output=/dev/null', '--wrap', 'sleep 300'])).trim();
    const seen = await waitFor(async () => {
      const f = await fleet();
      return f.outside?.some((j) => j.id === outside && j.placement.length > 0) ? f : undefined;
    }, 'the job outside Arbiter in /v1/fleet', 30_000, 200);
    expect(seen.outside!.find((j) => j.id === outside)).toMatchObject({ name: 'behind-the-back', user: 'root', state: 'RUNNING', placement: [{ node: 'a100-2', gpus: 6 }] });
    expect(node(seen, 'a100-2').free).toBe(2);
    expect(node(seen, 'a100-2').held).toEqual([{ job: `slurm:${outside}`, team: 'outside Arbiter (root)', gpus: 6 }]);
    const metrics = (await client.get('/metrics')).text;
    expect(metric(metrics, 'arbiter_outside_jobs{state="RUNNING"}')).toBe(1);
    expect(metric(metrics, 'arbiter_fleet_gpus{flavor="a100",state="unavailable"}')).toBe(6);
    expect(server.output()).toContain('a job was submitted to the fleet outside Arbiter');
    // Three whole nodes asked for: two run, the third waits for the node the outside job holds.
    const jobs = [await submit({ gpus: 8, command: 'sleep 300' }), await submit({ gpus: 8, command: 'sleep 300' }), await submit({ gpus: 8, command: 'sleep 300' })];
    await waitFor(async () => (await Promise.all(jobs.map((j) => job(j.id)))).filter((j) => j.status === 'running').length === 2, 'two of three running', 30_000, 200);
    const third = (await Promise.all(jobs.map((j) => job(j.id)))).find((j) => j.status === 'pending')!;
    for (const j of jobs.filter((j) => j.id !== third.id)) expect((await job(j.id)).placement[0]!.node).not.toBe('a100-2');
    expect(third.reason?.code).toBeDefined();
    // The outside job ends: its node is Arbiter's again.
    await cluster.run('scancel', [outside]);
    await runningInSlurm(third.id);
    expect((await job(third.id)).placement).toEqual([{ node: 'a100-2', gpus: 8 }]);
    for (const j of jobs) expect((await client.post(`/v1/jobs/${j.id}/cancel`)).status).toBe(200);
    await waitFor(async () => (await fleet()).pools[0]!.nodes.every((n) => n.free === 8), 'the fleet idle', 30_000, 200);
  });

  it('requeues a job whose node goes DOWN, as a preemption naming the node; the node leaves and comes back as capacity', async () => {
    const submitted = await submit({ gpus: 4, command: 'sleep 300' });
    const first = await runningInSlurm(submitted.id);
    const engineNode = (await job(submitted.id)).placement[0]!.node;
    await cluster.run('scontrol', ['update', `NodeName=${first.nodes}`, 'State=DOWN', 'Reason=fan broken']);
    try {
      const down = await waitFor(async () => {
        const f = await fleet();
        return node(f, engineNode).unavailable?.why.includes('is DOWN') ? f : undefined;
      }, 'the node DOWN in /v1/fleet', 30_000, 200);
      expect(node(down, engineNode).unavailable!.why).toContain(`Slurm node ${first.nodes} is DOWN`);
      expect(node(down, engineNode).unavailable!.why).toContain('fan broken');
      expect(node(down, engineNode).free).toBe(0);
      // Requeued, never lost nor left running: it runs again, elsewhere, as run 2.
      const again = await waitFor(async () => {
        const j = await job(submitted.id);
        return j.preemptions === 1 && j.status === 'running' ? j : undefined;
      }, `job ${submitted.id} requeued and running again\n${server.output().slice(-2000)}`, 30_000, 200);
      expect(again.placement[0]!.node).not.toBe(engineNode);
      expect(server.output()).toContain(`"node":"${first.nodes}"`);
      expect(server.output()).toContain('a node failed under a run; the job is requeued');
      const second = await runningInSlurm(submitted.id);
      expect(second.comment).toMatch(new RegExp(`/${submitted.id}-r2$`));
      expect((await slurmJobs()).find((j) => j.job_id === first.job_id)?.job_state).toBe('NODE_FAIL');
      const metrics = (await client.get('/metrics')).text;
      expect(metric(metrics, 'arbiter_node_failure_requeues_total')).toBe(1);
      expect(metric(metrics, 'arbiter_fleet_gpus{flavor="a100",state="unavailable"}')).toBe(8);
    } finally {
      await cluster.run('scontrol', ['update', `NodeName=${first.nodes}`, 'State=RESUME']);
    }
    await waitFor(async () => {
      const n = node(await fleet(), engineNode);
      return n.unavailable === undefined && n.free === 8;
    }, 'the node back in /v1/fleet', 30_000, 200);
    expect((await client.post(`/v1/jobs/${submitted.id}/cancel`)).status).toBe(200);
  });

  it('after kill -9 and a restart, re-adopts the running Slurm jobs in place: none started twice, none lost', async () => {
    const a = await submit({ gpus: 8, command: 'sleep 300' });
    const b = await submit({ gpus: 2, command: 'sleep 300' });
    const firstA = await runningInSlurm(a.id);
    const firstB = await runningInSlurm(b.id);
    server.process.kill('SIGKILL');
    await new Promise((resolve) => server.process.once('exit', resolve));
    await start(server.data);
    expect(server.output()).toContain('re-adopted a running job in place');
    // Same Slurm jobs, still running, still tracked; no second run submitted.
    await new Promise((resolve) => setTimeout(resolve, 2500)); // a few polls
    const after = await slurmJobs();
    for (const [id, first] of [[a.id, firstA], [b.id, firstB]] as const) {
      const runs = after.filter((j) => j.name === `arbiter-${id}`);
      expect(runs.map((j) => [j.job_id, j.job_state])).toEqual([[first.job_id, 'RUNNING']]);
      const stored = await job(id);
      expect(stored.status).toBe('running');
      expect(stored.preemptions).toBe(0);
    }
    // Adopted runs are tracked: a cancel ends them in Slurm.
    expect((await client.post(`/v1/jobs/${a.id}/cancel`)).status).toBe(200);
    await waitFor(async () => ['FAILED', 'CANCELLED'].includes((await slurmJobs()).find((j) => j.job_id === firstA.job_id)?.job_state ?? ''), 'the adopted job ended', 30_000, 200);
    expect((await client.post(`/v1/jobs/${b.id}/cancel`)).status).toBe(200);
  });

  it('an sbatch still running when Arbiter is killed (kill -9) never makes a second Slurm job of its run: the restarted server waits it out and adopts its job', async () => {
    // Slurm's commands, but an sbatch that submits only once the test says so (at most 9 s
    // later: the server kills an sbatch after 10 s), keeping its job id in a file: Arbiter is
    // killed meanwhile, and the sbatch goes on as an orphan.
    const bin = tempDir('arbiter-slow-sbatch-');
    for (const program of ['squeue', 'scontrol', 'scancel']) chmodSync(writeFile(bin, program, `#!/bin/sh\nexec ${program} "$@"\n`), 0o755);
    const slowSbatch = [
      '#!/bin/sh',
      `: > "${bin}/began"`,
      `for i in $(seq 1 90); do [ -e "${bin}/go" ] && break; sleep 0.1; done`,
      `[ -e "${bin}/go" ] || exit 1`,
      'out=$(sbatch "$@") || exit $?',
      `echo "$out" > "${bin}/submitted"`,
      'echo "$out"',
    ];
    chmodSync(writeFile(bin, 'sbatch', `${slowSbatch.join('\n')}\n`), 0o755);
    server.process.kill('SIGKILL');
    await new Promise((resolve) => server.process.once('exit', resolve));
    await start(server.data, ['--slurm-bin', bin]);
    const submitted = await submit({ gpus: 1, command: 'sleep 5' });
    await waitFor(() => existsSync(path.join(bin, 'began')), 'the slow sbatch running', 30_000, 50);
    server.process.kill('SIGKILL');
    await new Promise((resolve) => server.process.once('exit', resolve));
    await start(server.data); // Slurm's own commands again
    writeFile(bin, 'go', ''); // the orphan's job reaches Slurm after the restarted server has looked
    const orphan = await waitFor(() => existsSync(path.join(bin, 'submitted')) && readFileSync(path.join(bin, 'submitted'), 'utf8').trim(), 'the orphaned sbatch done', 30_000, 100);
    await waitFor(async () => (await job(submitted.id)).status === 'completed', `job ${submitted.id} completed\n${server.output().slice(-2000)}`, 60_000, 200);
    // One Slurm job of that run in all, the orphan's (squeue -t all keeps ended jobs MinJobAge, 600 s).
    const all = (JSON.parse(await cluster.run('squeue', ['--json', '-t', 'all'])) as { jobs: SqueueJob[] }).jobs;
    expect(all.filter((j) => j.name === `arbiter-${submitted.id}`).map((j) => [String(j.job_id), j.job_state])).toEqual([[orphan, 'COMPLETED']]);
  }, 120_000);
});

describe('arbiter serve --executor slurm, start-up checks', () => {
  let cluster: SlurmCluster;
  beforeAll(async () => {
    assertDistFresh();
    cluster = await startSlurmCluster({ nodes: 2 });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('refuses a cluster.yaml that does not match the partition, naming the mismatch', async () => {
    const data = tempDir('arbiter-slurm-');
    const yaml = writeFile(data, 'cluster.yaml', 'pools:\n  - { name: a100, flavor: a100, nodes: 3, gpusPerNode: 8 }\n');
    const run = await runServeExpectingExit(path.join(data, 'data'), ['--executor', 'slurm', '--cluster', yaml], 30_000, { SLURM_CONF: cluster.conf });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('the fleet does not match Slurm partition "gpu":');
    expect(run.stderr).toContain('cluster.yaml pool "a100": 3 nodes of 8 a100 GPUs, but Slurm partition "gpu" has 2 (gpu[1-2])');
    const wrong = await runServeExpectingExit(path.join(data, 'data2'), ['--executor', 'slurm', '--slurm-partition', 'nope'], 30_000, { SLURM_CONF: cluster.conf });
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain('--executor slurm: cannot read the nodes of Slurm partition "nope": Slurm partition "nope" has no nodes (partitions: gpu)');
  });
});

const RECLAIM_POLICY = `priorityClasses:
  - { name: training, priority: 500 }
defaultClass: training
preemption:
  minRuntime: 1s
  restartOverhead: 0s
  checkpointInterval: 0s
teams:
  - name: alpha
    guarantee: { a100: 8 }
  - name: beta
    guarantee: { a100: 16 }
`;

describe('arbiter serve --executor slurm, reclaim', () => {
  let cluster: SlurmCluster;
  let server: Server;
  let client: Api;
  beforeAll(async () => {
    assertDistFresh();
    cluster = await startSlurmCluster();
    const data = tempDir('arbiter-slurm-');
    const policy = writeFile(data, 'policy.yaml', RECLAIM_POLICY);
    // Each team's jobs are submitted with its own name as their Slurm account.
    server = await startServer(path.join(data, 'data'), { args: ['--executor', 'slurm', '--policy', policy, '--slurm-account', '*=team', '--slurm-grace', '3'], env: { SLURM_CONF: cluster.conf }, timeoutMs: 30_000 });
    client = api(server);
  }, 120_000);
  afterAll(async () => {
    await stopAllServers();
    await cluster?.stop();
  });

  const slurmRuns = async (id: string): Promise<SqueueJob[]> =>
    (JSON.parse(await cluster.run('squeue', ['--json'])) as { jobs: SqueueJob[] }).jobs.filter((j) => j.name === `arbiter-${id}`).sort((a, b) => a.job_id - b.job_id);
  const job = async (id: string): Promise<Job> => (await client.get<Job>(`/v1/jobs/${id}`)).body;

  it('a job inside its guarantee reclaims from a borrower: the victim signalled (SIGTERM, its grace period) in Slurm, the new job running, the victim run again later', async () => {
    // The borrower ends by itself on SIGTERM, within its grace period (--slurm-grace 3).
    const borrower = (await client.post<Job>('/v1/jobs', { team: 'alpha', gpus: 24, command: 'trap "echo got SIGTERM; exit 0" TERM; sleep 300 & wait' })).body;
    await waitFor(async () => (await slurmRuns(borrower.id))[0]?.job_state === 'RUNNING', 'the borrower RUNNING in Slurm', 30_000, 200);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // past minRuntime
    // The owner ignores SIGTERM: cancelled after its grace period, killed after Slurm's KillWait.
    const owner = (await client.post<Job>('/v1/jobs', { team: 'beta', gpus: 8, command: 'trap "" TERM; sleep 300' })).body;
    await waitFor(async () => (await slurmRuns(owner.id))[0]?.job_state === 'RUNNING', `the owner RUNNING in Slurm\n${server.output().slice(-1500)}`, 60_000, 200);
    const victim = await slurmRuns(borrower.id);
    // Ended by its own trap (exit 0), not cancelled: it was given SIGTERM and its grace period.
    expect(victim[0]!.job_state).toBe('COMPLETED');
    expect(readFileSync(path.join(server.data, 'logs', `${borrower.id}.log`), 'utf8')).toContain('got SIGTERM');
    expect([victim[0]!.account, (await slurmRuns(owner.id))[0]!.account]).toEqual(['alpha', 'beta']);
    const stored = await job(borrower.id);
    expect(stored.preemptions).toBe(1);
    expect(stored.status).toBe('pending');
    // The owner ends: the borrower runs again, as a second Slurm job, once the owner's Slurm job
    // has ended (after its 3 s grace, SIGTERM ignored, then killed).
    const cancelledAt = Date.now();
    expect((await client.post(`/v1/jobs/${owner.id}/cancel`)).status).toBe(200);
    const again = await waitFor(async () => {
      const runs = await slurmRuns(borrower.id);
      return runs.length === 2 && runs[1]!.job_state === 'RUNNING' ? runs[1] : undefined;
    }, 'the borrower RUNNING again', 60_000, 200);
    expect(Date.now() - cancelledAt).toBeGreaterThan(3000);
    expect((await slurmRuns(owner.id))[0]!.job_state).toBe('CANCELLED');
    expect(again.comment).toMatch(new RegExp(`/${borrower.id}/${borrower.id}-r2$`));
    expect((await job(borrower.id)).status).toBe('running');
  });
});
