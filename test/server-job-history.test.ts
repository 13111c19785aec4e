// A job's history survives a restart of the server (docs/api.md, "Jobs"): who took a preempted
// run's GPUs and why (stored with the run), and the history of a waiting job's reasons (each
// change of its reason code, with the sentence then). Through the real, built server, on
// SQLite and on a throwaway PostgreSQL cluster (test/pg-harness.ts).
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest).
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { api, smallCluster, startServer, tempDir, twoTeamsPolicy, waitFor, writeFile, type Api, type Job } from './server-harness.js';
import { pgClusterForServers } from './pg-servers.js';

// One node of 4 GPUs; alpha and beta are each guaranteed 2. minRuntime 0: a reclaim is at once.
const POLICY = twoTeamsPolicy(2);

interface Runs {
  runs: { outcome: string | null; preemptedBy: { job: string; team: string; class: string; cause: string } | null }[];
}
interface Reasons {
  reasons: { at: string; code: string; message: string }[];
}

const pgCluster = pgClusterForServers();

const submit = async (a: Api, body: Record<string, unknown>): Promise<Job> => {
  const r = await a.post<Job>('/v1/jobs', body);
  expect(r.status, r.text).toBe(201);
  return r.body;
};

describe.each(['sqlite', 'postgres'])('on %s, after a restart', (store) => {
  it('a preempted run still names the job that took its GPUs and why, and a waiting job keeps the history of its reasons', async () => {
    const dir = tempDir(`job-history-${store}`);
    const args = ['--cluster', writeFile(dir, 'cluster.yaml', smallCluster(1, 4)), '--policy', writeFile(dir, 'policy.yaml', POLICY)];
    if (store === 'postgres') args.push('--database', await pgCluster().createDatabase());
    const data = path.join(dir, 'data');
    const first = await startServer(data, { args });
    let a = api(first);

    // alpha borrows the whole node; beta asks for its guarantee and takes it back.
    const a1 = await submit(a, { team: 'alpha', gpus: 4, duration: 1e6, name: 'a1' });
    await waitFor(async () => (await a.get<Job>(`/v1/jobs/${a1.id}`)).body.status === 'running', 'a1 to run');
    const waiting = await submit(a, { team: 'alpha', gpus: 4, duration: 1e6, name: 'a2' });
    const b1 = await submit(a, { team: 'beta', gpus: 2, duration: 1e6, name: 'b1' });
    await waitFor(async () => (await a.get<Job>(`/v1/jobs/${b1.id}`)).body.status === 'running', 'b1 to run');

    const taken = { job: b1.id, team: 'beta', class: 'training', cause: 'reclaim' };
    const runsBefore = (await a.get<Runs>(`/v1/jobs/${a1.id}/runs`)).body.runs;
    expect(runsBefore).toEqual([{ ...runsBefore[0], outcome: 'preempted', preemptedBy: taken }]);

    // Reasons are recorded after the pass that gave them: each a change of code, the last the current one.
    const history = async (id: string): Promise<Reasons['reasons']> => {
      const job = (await a.get<Job>(`/v1/jobs/${id}`)).body;
      const { reasons } = (await a.get<Reasons>(`/v1/jobs/${id}/reasons`)).body;
      return reasons.length > 0 && reasons.at(-1)!.code === job.reason?.code ? reasons : [];
    };
    const before = await waitFor(async () => {
      const [x, y] = [await history(a1.id), await history(waiting.id)];
      return x.length > 0 && y.length > 0 ? { [a1.id]: x, [waiting.id]: y } : undefined;
    }, 'the reasons of a1 and a2 to be recorded');
    for (const reasons of Object.values(before)) {
      reasons.forEach((r, i) => {
        expect(r.message.length).toBeGreaterThan(10);
        if (i > 0) expect(r.code).not.toBe(reasons[i - 1]!.code);
      });
    }
    // a1 waited only since its preemption: its first reason is not older than b1's start.
    expect(Date.parse(before[a1.id]![0]!.at)).toBeGreaterThanOrEqual(Date.parse((await a.get<Job>(`/v1/jobs/${b1.id}`)).body.startedAt!) - 1);
    const unknown = await a.get(`/v1/jobs/j-999999/reasons`);
    expect(unknown.status).toBe(404);
    expect(await first.stop()).toBe(0);

    const second = await startServer(data, { args });
    a = api({ url: second.url, adminToken: first.adminToken });
    expect((await a.get<Runs>(`/v1/jobs/${a1.id}/runs`)).body.runs[0]).toEqual(runsBefore[0]);
    // The history is still there, and the same reason after the restart is not recorded twice.
    await waitFor(async () => (await a.get<Job>(`/v1/jobs/${waiting.id}`)).body.reason !== null, 'a2 explained again');
    for (const [id, reasons] of Object.entries(before)) {
      const after = (await a.get<Reasons>(`/v1/jobs/${id}/reasons`)).body.reasons;
      expect(after.slice(0, reasons.length)).toEqual(reasons);
      after.forEach((r, i) => i > 0 && expect(r.code).not.toBe(after[i - 1]!.code));
    }
    expect(await second.stop()).toBe(0);
  }, 120_000);
});
