// `arbiter serve --executor slurm` end to end, on a real Slurm cluster (test/slurm-harness.ts:
// gpu1..gpu3, 8 a100 each): the fleet comes from the partition; a job submitted through the API
// runs in Slurm on exactly the node and GPUs Arbiter chose; a 2 x 8 gang gets two whole nodes;
// completion, failure with its exit code and cancel are reconciled from Slurm; a cluster.yaml
// that does not match the partition is refused at start, naming the mismatch.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, assertDistFresh, runServeExpectingExit, startServer, stopAllServers, tempDir, waitFor, writeFile, type Api, type Job, type Server } from './server-harness.js';
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
}

describe('arbiter serve --executor slurm', () => {
  let cluster: SlurmCluster;
  let server: Server;
  let client: Api;

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
  const until = (id: string, status: string): Promise<Job> =>
    waitFor(async () => {
      const j = await job(id);
      return j.status === status ? j : undefined;
    }, `job ${id} ${status}\n${server.output().slice(-2000)}`, 30_000, 200);
  const slurmNode = (engineNode: string): string => `gpu${Number(/-(\d+)$/.exec(engineNode)![1]) + 1}`;

  it('runs a job in Slurm on exactly the node and GPUs Arbiter chose', async () => {
    const submitted = await submit({ gpus: 4, name: 'pinned', command: 'echo "gpus=$CUDA_VISIBLE_DEVICES"; sleep 60' });
    const running = await until(submitted.id, 'running');
    expect(running.placement).toHaveLength(1);
    expect(running.placement[0]!.gpus).toBe(4);
    const slurm = await waitFor(async () => {
      const j = await slurmJobOf(submitted.id);
      return j?.job_state === 'RUNNING' ? j : undefined;
    }, 'the Slurm job RUNNING', 30_000, 200);
    expect(slurm.nodes).toBe(slurmNode(running.placement[0]!.node));
    expect(slurm.gres_detail).toEqual(['gpu:a100:4(IDX:0-3)']);
    expect(slurm.comment).toMatch(new RegExp(`^arbiter/[^/]+/default/${submitted.id}/${submitted.id}-r1$`));
    const log = path.join(server.data, 'logs', `${submitted.id}.log`);
    await waitFor(() => readFileSync(log, 'utf8').includes('gpus=0,1,2,3'), 'the job output', 30_000, 200);

    // Cancel: Slurm ends the job, then Arbiter frees its GPUs.
    expect((await client.post(`/v1/jobs/${submitted.id}/cancel`)).status).toBe(200);
    expect((await job(submitted.id)).status).toBe('cancelled');
    await waitFor(async () => (await slurmJobOf(submitted.id))?.job_state === 'CANCELLED', 'the Slurm job CANCELLED', 30_000, 200);
  });

  it('runs a 2 x 8 GPU gang on two whole nodes', async () => {
    const submitted = await submit({ gpus: 16, name: 'gang', command: 'sleep 60' });
    const running = await until(submitted.id, 'running');
    expect(running.placement.map((p) => p.gpus)).toEqual([8, 8]);
    const slurm = await waitFor(async () => {
      const j = await slurmJobOf(submitted.id);
      return j?.job_state === 'RUNNING' ? j : undefined;
    }, 'the gang RUNNING in Slurm', 30_000, 200);
    expect(slurm.nodes).toBe(hostlist(running.placement.map((p) => slurmNode(p.node))));
    expect(slurm.gres_detail).toEqual(['gpu:a100:8(IDX:0-7)', 'gpu:a100:8(IDX:0-7)']);
    expect((await client.post(`/v1/jobs/${submitted.id}/cancel`)).status).toBe(200);
    await waitFor(async () => (await slurmJobOf(submitted.id))?.job_state === 'CANCELLED', 'the gang CANCELLED', 30_000, 200);
  });

  it('ends jobs as Slurm reports them: completed, failed with the exit code', async () => {
    const ok = await submit({ gpus: 1, command: 'true' });
    const bad = await submit({ gpus: 1, command: 'exit 3' });
    expect((await until(ok.id, 'completed')).exitCode).toBe(0);
    expect((await until(bad.id, 'failed')).exitCode).toBe(3);
    expect((await slurmJobOf(bad.id))?.job_state).toBe('FAILED');
  });

  it("ends a job an operator cancels in Slurm (scancel) as failed", async () => {
    const submitted = await submit({ gpus: 2, command: 'sleep 60' });
    await until(submitted.id, 'running');
    const slurm = await waitFor(async () => {
      const j = await slurmJobOf(submitted.id);
      return j?.job_state === 'RUNNING' ? j : undefined;
    }, 'the Slurm job RUNNING', 30_000, 200);
    await cluster.run('scancel', [String(slurm.job_id)]);
    // Slurm's SIGTERM ends the shell (no exit code) or what it runs (exit code 143).
    const failed = await until(submitted.id, 'failed');
    expect([null, 143]).toContain(failed.exitCode);
  });

  it('with slurmctld down, keeps the submission and places it once Slurm answers again; a restart of slurmctld loses no running job', async () => {
    const before = await submit({ gpus: 1, command: 'sleep 60' });
    await until(before.id, 'running');
    await waitFor(async () => (await slurmJobOf(before.id))?.job_state === 'RUNNING', 'the first job RUNNING', 30_000, 200);
    await cluster.stopController();
    const during = await submit({ gpus: 1, command: 'echo placed' });
    // Decided and kept while sbatch cannot reach the controller (retried with backoff).
    await until(during.id, 'running');
    await cluster.startController();
    await until(during.id, 'completed');
    expect((await slurmJobOf(before.id))?.job_state).toBe('RUNNING');
    expect((await job(before.id)).status).toBe('running');
    expect((await client.post(`/v1/jobs/${before.id}/cancel`)).status).toBe(200);
  });

  it('after kill -9 and a restart, cancels what the old server left in Slurm and runs the job again, once', async () => {
    const submitted = await submit({ gpus: 8, command: 'sleep 120' });
    await until(submitted.id, 'running');
    const first = await waitFor(async () => {
      const j = await slurmJobOf(submitted.id);
      return j?.job_state === 'RUNNING' ? j : undefined;
    }, 'the first run RUNNING', 30_000, 200);
    server.process.kill('SIGKILL');
    await new Promise((resolve) => server.process.once('exit', resolve));
    server = await startServer(server.data, { args: ['--executor', 'slurm', '--slurm-partition', cluster.partition], env: { SLURM_CONF: cluster.conf }, timeoutMs: 60_000 });
    client = api(server);
    expect((await slurmJobs()).find((j) => j.job_id === first.job_id)?.job_state).toBe('CANCELLED');
    const second = await waitFor(async () => {
      const runs = (await slurmJobs()).filter((j) => j.name === `arbiter-${submitted.id}` && j.job_state === 'RUNNING');
      return runs.length === 1 ? runs[0] : undefined;
    }, 'the second run RUNNING', 30_000, 200);
    expect(second.job_id).not.toBe(first.job_id);
    expect(second.comment).toMatch(new RegExp(`/${submitted.id}/${submitted.id}-r2$`));
    expect((await job(submitted.id)).status).toBe('running');
  });
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
    server = await startServer(path.join(data, 'data'), { args: ['--executor', 'slurm', '--policy', policy], env: { SLURM_CONF: cluster.conf }, timeoutMs: 30_000 });
    client = api(server);
  }, 120_000);
  afterAll(async () => {
    await stopAllServers();
    await cluster?.stop();
  });

  const slurmRuns = async (id: string): Promise<SqueueJob[]> =>
    (JSON.parse(await cluster.run('squeue', ['--json'])) as { jobs: SqueueJob[] }).jobs.filter((j) => j.name === `arbiter-${id}`).sort((a, b) => a.job_id - b.job_id);
  const job = async (id: string): Promise<Job> => (await client.get<Job>(`/v1/jobs/${id}`)).body;

  it('a job inside its guarantee reclaims from a borrower: the victim cancelled in Slurm, the new job running, the victim run again later', async () => {
    const borrower = (await client.post<Job>('/v1/jobs', { team: 'alpha', gpus: 24, command: 'sleep 300' })).body;
    await waitFor(async () => (await slurmRuns(borrower.id))[0]?.job_state === 'RUNNING', 'the borrower RUNNING in Slurm', 30_000, 200);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // past minRuntime
    const owner = (await client.post<Job>('/v1/jobs', { team: 'beta', gpus: 8, command: 'sleep 300' })).body;
    await waitFor(async () => (await slurmRuns(owner.id))[0]?.job_state === 'RUNNING', `the owner RUNNING in Slurm\n${server.output().slice(-1500)}`, 60_000, 200);
    const victim = await slurmRuns(borrower.id);
    expect(victim[0]!.job_state).toBe('CANCELLED');
    const stored = await job(borrower.id);
    expect(stored.preemptions).toBe(1);
    expect(stored.status).toBe('pending');
    // The owner ends: the borrower runs again, as a second Slurm job.
    expect((await client.post(`/v1/jobs/${owner.id}/cancel`)).status).toBe(200);
    const again = await waitFor(async () => {
      const runs = await slurmRuns(borrower.id);
      return runs.length === 2 && runs[1]!.job_state === 'RUNNING' ? runs[1] : undefined;
    }, 'the borrower RUNNING again', 60_000, 200);
    expect(again.comment).toMatch(new RegExp(`/${borrower.id}/${borrower.id}-r2$`));
    expect((await job(borrower.id)).status).toBe('running');
  });
});
