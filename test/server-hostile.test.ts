// Requests a hostile client sends (issue 9), each performed for real against a real
// `arbiter serve` process (bin/arbiter.js -> dist/) and checked in what the server stores: a reused
// Idempotency-Key with another body, invalid UTF-8 and lone surrogates, terminal escapes in names
// shown by the real CLI, hammering with bad tokens (rate limits), slow headers and slow bodies
// (timeouts), oversized comments, and comments that must not rewrite their proposal.
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  assertDistFresh,
  burst,
  createToken,
  rawJobPost,
  startServer,
  stopAllServers,
  tempDir,
  type Api,
  type ErrorBody,
  type Job,
  type JobPage,
  type Server,
} from './server-harness.js';

let server: Server;
let a: Api;
let alice: string;

beforeAll(async () => {
  assertDistFresh();
  const data = tempDir('hostile');
  server = await startServer(data);
  a = api(server);
  alice = await createToken(data, 'alice', 'member', 'pretraining');
});

afterAll(async () => {
  await stopAllServers();
});

const job = (extra: Record<string, unknown> = {}) => ({ team: 'pretraining', gpus: 1, flavor: 'h100', duration: 1e9, ...extra });

async function allJobs(): Promise<Job[]> {
  const r = await a.get<JobPage>('/v1/jobs?limit=1000');
  expect(r.status).toBe(200);
  return r.body.jobs;
}

describe('Idempotency-Key', () => {
  it('the same key with another body is a 409 naming the key, and stores nothing', async () => {
    const key = { 'Idempotency-Key': 'nightly-7' };
    const first = await a.post<Job>('/v1/jobs', job({ name: 'nightly' }), alice, key);
    expect(first.status, first.text).toBe(201);
    const before = await allJobs();
    const other = await a.post<ErrorBody>('/v1/jobs', job({ name: 'nightly', gpus: 2 }), alice, key);
    expect(other.status, other.text).toBe(409);
    expect(other.body.code).toBe('conflict');
    expect(other.body.message).toContain('"nightly-7"');
    expect(other.body.message).toContain(first.body.id);
    expect(other.body.issues).toEqual([{ path: 'Idempotency-Key', message: other.body.message }]);
    expect(await allJobs()).toHaveLength(before.length);
    // The same body (its keys in another order) still replays the first answer.
    const again = await a.request<Job>('POST', '/v1/jobs', {
      raw: '{"duration":1e9,"flavor":"h100","gpus":1,"name":"nightly","team":"pretraining"}',
      headers: { 'content-type': 'application/json', ...key },
      token: alice,
    });
    expect([again.status, again.body.id]).toEqual([200, first.body.id]);
    // Another user's key of the same name is another job.
    const admins = await a.post<Job>('/v1/jobs', job({ gpus: 2 }), undefined, key);
    expect(admins.status).toBe(201);
    expect((await allJobs()).length).toBe(before.length + 1);
  });

  it('concurrent requests with one key and different bodies: one job, the others 200 or 409', async () => {
    const before = (await allJobs()).length;
    const answers = await burst(
      server.url,
      Array.from({ length: 12 }, (_, i) => rawJobPost(alice, job({ name: `race-${i % 2}` }), { 'Idempotency-Key': 'race' })),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    const winner = answers.find((r) => r.status === 201)!.body as Job;
    answers.forEach((r, i) => {
      const same = `race-${i % 2}` === winner.name;
      expect(r.status, `request ${i}: ${JSON.stringify(r.body)}`).toBe(r === answers.find((x) => x.status === 201) ? 201 : same ? 200 : 409);
    });
    expect((await allJobs()).length).toBe(before + 1);
  });
});
