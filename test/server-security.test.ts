// Security of the live service (docs/api.md, "Auth" and "Errors"), through a real `arbiter serve`
// process (bin/arbiter.js -> dist/): every route but /healthz needs a known bearer token (401);
// each role may do what its row of the table says and no more (403 with a message naming the
// rule); malformed and hostile bodies are refused with 400 invalid_input listing every problem;
// and a rejected request changes nothing.
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest); the
// test does not build itself, because other test files run the same dist/ in parallel.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  assertDistFresh,
  createToken,
  rawHttp,
  startServer,
  stopAllServers,
  tempDir,
  waitFor,
  type Api,
  type ApiResponse,
  type ErrorBody,
  type Job,
  type JobPage,
  type Server,
  tokenBook,
} from './server-harness.js';

let server: Server;
let a: Api;
/** Tokens by name: viewer, council, admin, alice and alice2 (members of pretraining), sam (member of serving), rlead (lead of research), alead (lead of applied). */
const { tokens, tok } = tokenBook();

beforeAll(async () => {
  assertDistFresh();
  const data = tempDir('security');
  server = await startServer(data);
  a = api(server);
  tokens['admin'] = server.adminToken;
  const wanted: [string, string, string?][] = [
    ['viewer', 'viewer'],
    ['council', 'council'],
    ['alice', 'member', 'pretraining'],
    ['alice2', 'member', 'pretraining'],
    ['sam', 'member', 'serving'],
    ['rlead', 'lead', 'research'],
    ['alead', 'lead', 'applied'],
  ];
  const created = await Promise.all(wanted.map(([user, role, team]) => createToken(data, user, role, team)));
  wanted.forEach(([user], i) => (tokens[user] = created[i]!));
});

afterAll(async () => {
  await stopAllServers();
});

/** A job body valid for the simulated demo lab: long, so that it keeps its state. */
const job = (team: string, extra: Record<string, unknown> = {}) => ({
  team,
  gpus: 1,
  flavor: 'h100',
  duration: 1e9,
  ...extra,
});

const submitAs = async (who: string, body: Record<string, unknown>): Promise<Job> => {
  const r = await a.post<Job>('/v1/jobs', body, tok(who));
  expect(r.status, `${who} submits to ${String(body['team'])}: ${r.text}`).toBe(201);
  return r.body;
};

/** What GET /v1/jobs shows, minus what changes by itself (reasons are refreshed every second). */
async function snapshot(): Promise<unknown[]> {
  const r = await a.get<JobPage>('/v1/jobs?limit=1000');
  expect(r.status).toBe(200);
  return r.body.jobs.map((j) => ({
    id: j.id,
    name: j.name,
    team: j.team,
    class: j.class,
    flavor: j.flavor,
    gpus: j.gpus,
    status: j.status,
    submittedAt: j.submittedAt,
    startedAt: j.startedAt,
    endedAt: j.endedAt,
    placement: j.placement,
    preemptions: j.preemptions,
    submittedBy: j.submittedBy,
  }));
}

/** The error body of docs/api.md; 401 and 403 codes are not fixed by the spec (any word). */
function expectErrorBody(r: ApiResponse<unknown>, status: number, code: string | RegExp): ErrorBody {
  expect(r.status, r.text.slice(0, 500)).toBe(status);
  expect(r.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  const body = r.body as ErrorBody;
  expect(body).toEqual({
    code: expect.any(String) as string,
    message: expect.any(String) as string,
    issues: expect.any(Array) as unknown[],
  });
  expect(body.code).toMatch(typeof code === 'string' ? new RegExp(`^${code}$`) : code);
  expect(body.message.length).toBeGreaterThan(0);
  for (const issue of body.issues)
    expect(issue).toEqual({ path: expect.any(String) as string, message: expect.any(String) as string });
  return body;
}

const ANY_CODE = /^[a-z_]+$/;
const FORBIDDEN = ANY_CODE;

// Jobs every test can point at, all running (the demo lab has room), by their owners.
let aliceJob: Job;
let alice2Job: Job;
let samJob: Job;
let adminInterpJob: Job;
let adminEvalsJob: Job;

beforeAll(async () => {
  aliceJob = await submitAs('alice', job('pretraining', { name: 'alice-1' }));
  alice2Job = await submitAs('alice2', job('pretraining', { name: 'alice2-1' }));
  samJob = await submitAs('sam', job('serving', { name: 'sam-1' }));
  adminInterpJob = await submitAs('admin', job('interp', { name: 'admin-interp' }));
  adminEvalsJob = await submitAs('admin', job('evals', { name: 'admin-evals' }));
  const ids = [aliceJob, alice2Job, samJob, adminInterpJob, adminEvalsJob].map((j) => j.id);
  await waitFor(async () => {
    const jobs = (await a.get<JobPage>('/v1/jobs?limit=1000')).body.jobs;
    return ids.every((id) => jobs.find((j) => j.id === id)?.status === 'running');
  }, 'the setup jobs to run');
});

// ====================================================================== authentication

describe('authentication', () => {
  const routes = (): [string, string][] => [
    ['GET', '/v1/jobs'],
    ['GET', `/v1/jobs/${aliceJob.id}`],
    ['POST', '/v1/jobs'],
    ['POST', `/v1/jobs/${aliceJob.id}/cancel`],
    ['GET', '/v1/teams'],
    ['GET', '/v1/fleet'],
    ['GET', '/v1/policy'],
    ['GET', '/metrics'],
    ['GET', '/openapi.json'],
    ['GET', '/v1/proposals'],
    ['POST', '/v1/proposals'],
    ['GET', '/v1/proposals/p-1'],
    ['POST', '/v1/proposals/p-1/amend'],
    ['POST', '/v1/proposals/p-1/withdraw'],
    ['POST', '/v1/proposals/p-1/responses'],
    ['POST', '/v1/proposals/p-1/votes'],
    ['POST', '/v1/proposals/p-1/overrule'],
    ['POST', '/v1/proposals/p-1/petition'],
    ['POST', '/v1/proposals/p-1/rollback'],
    ['POST', '/v1/emergency'],
    ['GET', '/v1/policy/versions'],
    ['GET', '/v1/audit'],
    ['GET', '/v1/audit/checkpoint'],
    ['GET', '/v1/audit/proof/inclusion/0'],
    ['GET', '/v1/audit/proof/consistency?from=0&to=1'],
  ];
  const badAuthorizations = (): [string, Record<string, string>][] => [
    ['no Authorization header', {}],
    ['an unknown token', { authorization: 'Bearer arb_not-a-real-token' }],
    [
      'the admin token with one character changed',
      {
        authorization: `Bearer ${server.adminToken.slice(0, -1)}${server.adminToken.endsWith('x') ? 'y' : 'x'}`,
      },
    ],
    ['the admin token with a suffix', { authorization: `Bearer ${server.adminToken}x` }],
    ['the admin token without "Bearer"', { authorization: server.adminToken }],
    ['the admin token as Basic', { authorization: `Basic ${server.adminToken}` }],
    ['"Bearer" alone', { authorization: 'Bearer ' }],
    ['the token hash-like empty string', { authorization: 'Bearer ""' }],
  ];

  it('every route but /healthz answers 401 {code, message, issues} without a known token, and changes nothing', async () => {
    const before = await snapshot();
    for (const [method, route] of routes()) {
      for (const [what, headers] of badAuthorizations()) {
        const r = await a.request(method, route, {
          token: null,
          headers,
          ...(method === 'POST' && route === '/v1/jobs' ? { json: job('pretraining') } : {}),
        });
        expect(r.status, `${method} ${route} with ${what}`).toBe(401);
        expectErrorBody(r, 401, ANY_CODE);
      }
    }
    expect(await snapshot()).toEqual(before);
  });

  it('/healthz needs no token (and a bad one does not matter)', async () => {
    for (const token of [null, 'bad-token']) {
      const r = await a.get('/healthz', token);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ status: 'ok', store: { ok: true }, scheduler: { ok: true }, executor: { ok: true } });
    }
  });

  it('an unknown route without a token is 401 or 404, never 5xx, with the error body', async () => {
    const r = await a.get('/v1/nothing-here', null);
    expect([401, 404]).toContain(r.status);
    expectErrorBody(r, r.status, r.status === 401 ? ANY_CODE : 'not_found');
  });
});

// ====================================================================== roles

describe('roles', () => {
  const readRoutes = (): string[] => [
    '/v1/jobs',
    `/v1/jobs/${samJob.id}`,
    '/v1/teams',
    '/v1/fleet',
    '/v1/policy',
    '/metrics',
    '/openapi.json',
  ];

  it('every role can read every route', async () => {
    for (const who of ['viewer', 'council', 'alice', 'sam', 'rlead', 'alead', 'admin']) {
      for (const route of readRoutes()) {
        const r = await a.get(route, tok(who));
        expect(r.status, `${who} GET ${route}`).toBe(200);
      }
    }
  });

  it('viewer and council may read but not submit or cancel: 403 naming the rule, nothing changed', async () => {
    for (const who of ['viewer', 'council']) {
      const before = await snapshot();
      const s = await a.post('/v1/jobs', job('pretraining'), tok(who));
      const sb = expectErrorBody(s, 403, FORBIDDEN);
      expect(sb.message).toMatch(new RegExp(who));
      expect(sb.message).toMatch(/submit/);
      const c = await a.post(`/v1/jobs/${aliceJob.id}/cancel`, undefined, tok(who));
      const cb = expectErrorBody(c, 403, FORBIDDEN);
      expect(cb.message).toMatch(new RegExp(who));
      expect(cb.message).toMatch(/cancel/);
      expect(await snapshot()).toEqual(before);
    }
  });

  it('a member submits only to its own team: 403 naming the rule elsewhere', async () => {
    for (const team of ['alignment', 'interp', 'serving', 'evals', 'research']) {
      const before = await snapshot();
      const r = await a.post('/v1/jobs', job(team), tok('alice'));
      if (team === 'research') {
        // Not a leaf team: invalid for everyone (400) or forbidden (403); never accepted.
        expect([400, 403]).toContain(r.status);
      } else {
        const body = expectErrorBody(r, 403, FORBIDDEN);
        expect(body.message).toMatch(/member/);
        expect(body.message).toMatch(/pretraining/);
      }
      expect(await snapshot()).toEqual(before);
    }
    const own = await submitAs('alice', job('pretraining', { name: 'alice-own' }));
    expect(own).toMatchObject({ team: 'pretraining' });
    expect((await a.post<Job>(`/v1/jobs/${own.id}/cancel`, undefined, tok('alice'))).status).toBe(200);
  });

  it("a member cancels its own jobs, not a teammate's nor another team's (403, nothing changed)", async () => {
    for (const [victim, owner] of [
      [alice2Job, 'a teammate'],
      [samJob, 'another team'],
      [adminInterpJob, 'another team (admin)'],
    ] as const) {
      const before = await snapshot();
      const r = await a.post(`/v1/jobs/${victim.id}/cancel`, undefined, tok('alice'));
      const body = expectErrorBody(r, 403, FORBIDDEN);
      expect(body.message, owner).toMatch(/member/);
      expect(body.message).toMatch(/own/);
      expect(await snapshot()).toEqual(before);
    }
    // sam cannot cancel alice's job either.
    expectErrorBody(await a.post(`/v1/jobs/${aliceJob.id}/cancel`, undefined, tok('sam')), 403, FORBIDDEN);
    // Her own, pending or running: yes.
    const mine = await submitAs('alice', job('pretraining', { name: 'alice-cancel' }));
    const r = await a.post<Job>(`/v1/jobs/${mine.id}/cancel`, undefined, tok('alice'));
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('cancelled');
  });

  it("a lead cancels any job of its team and subteams, not another division's", async () => {
    const p1 = await submitAs('alice', job('pretraining', { name: 'lead-target-1' }));
    const p2 = await submitAs('alice2', job('pretraining', { name: 'lead-target-2' }));
    const i1 = await submitAs('admin', job('interp', { name: 'lead-target-3' }));
    const s1 = await submitAs('sam', job('serving', { name: 'lead-target-4' }));
    const e1 = await submitAs('admin', job('evals', { name: 'lead-target-5' }));

    // research's lead: pretraining and interp jobs, whoever submitted them.
    for (const target of [p1, p2, i1]) {
      const r = await a.post<Job>(`/v1/jobs/${target.id}/cancel`, undefined, tok('rlead'));
      expect(r.status, `rlead cancels ${target.team} job ${target.id}`).toBe(200);
      expect(r.body.status).toBe('cancelled');
    }
    // ...but not applied's.
    for (const target of [s1, e1]) {
      const before = await snapshot();
      const body = expectErrorBody(
        await a.post(`/v1/jobs/${target.id}/cancel`, undefined, tok('rlead')),
        403,
        FORBIDDEN,
      );
      expect(body.message).toMatch(/lead/);
      expect(body.message).toMatch(/research/);
      expect(await snapshot()).toEqual(before);
    }
    // applied's lead: the other way round.
    const before = await snapshot();
    expectErrorBody(await a.post(`/v1/jobs/${aliceJob.id}/cancel`, undefined, tok('alead')), 403, FORBIDDEN);
    expect(await snapshot()).toEqual(before);
    for (const target of [s1, e1]) {
      const r = await a.post<Job>(`/v1/jobs/${target.id}/cancel`, undefined, tok('alead'));
      expect(r.status, `alead cancels ${target.team} job`).toBe(200);
    }
    // A lead does not submit to another division.
    const before2 = await snapshot();
    expectErrorBody(await a.post('/v1/jobs', job('pretraining'), tok('alead')), 403, FORBIDDEN);
    expect(await snapshot()).toEqual(before2);
  });

  it('admin may cancel any job', async () => {
    const j = await submitAs('sam', job('serving', { name: 'admin-target' }));
    const r = await a.post<Job>(`/v1/jobs/${j.id}/cancel`, undefined, tok('admin'));
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('cancelled');
  });

  it("Idempotency-Keys are per user: another user's repeat of a key is a new job", async () => {
    const key = { 'Idempotency-Key': 'shared-key' };
    const mine = await a.post<Job>('/v1/jobs', job('pretraining'), tok('alice'), key);
    const theirs = await a.post<Job>('/v1/jobs', job('pretraining'), tok('alice2'), key);
    expect(mine.status).toBe(201);
    expect(theirs.status).toBe(201);
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect(theirs.body.submittedBy).toBe('alice2');
    // sam's repeat of alice's key in his own team: his own job, not alice's.
    const sams = await a.post<Job>('/v1/jobs', job('serving'), tok('sam'), key);
    expect(sams.status).toBe(201);
    expect(sams.body.team).toBe('serving');
    for (const [r, who] of [
      [mine, 'alice'],
      [theirs, 'alice2'],
      [sams, 'sam'],
    ] as const)
      await a.post(`/v1/jobs/${r.body.id}/cancel`, undefined, tok(who));
  });
});

// ====================================================================== malformed and hostile input

describe('malformed and hostile bodies: 400 invalid_input listing every problem, nothing changed', () => {
  const ok = job('pretraining');
  const bomb = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  const cases: {
    what: string;
    raw?: string;
    json?: unknown;
    headers?: Record<string, string>;
    paths?: string[];
  }[] = [
    {
      what: 'wrong types',
      json: {
        team: 5,
        gpus: '8',
        class: true,
        flavor: [],
        name: {},
        duration: 'long',
        timeLimit: null,
        command: 7,
      },
      paths: ['team', 'gpus', 'class', 'flavor', 'name', 'duration', 'timeLimit', 'command'],
    },
    { what: 'gpus 1e300', json: { ...ok, gpus: 1e300 }, paths: ['gpus'] },
    { what: 'gpus 2**53', json: { ...ok, gpus: 2 ** 53 }, paths: ['gpus'] },
    {
      what: 'gpus 2**53 + 1 as a literal',
      raw: '{"team":"pretraining","gpus":9007199254740993,"flavor":"h100","duration":1}',
      paths: ['gpus'],
    },
    {
      what: 'gpus 1e400 (Infinity)',
      raw: '{"team":"pretraining","gpus":1e400,"flavor":"h100","duration":1}',
    },
    { what: 'negative gpus', json: { ...ok, gpus: -8 }, paths: ['gpus'] },
    { what: 'zero gpus', json: { ...ok, gpus: 0 }, paths: ['gpus'] },
    { what: 'fractional gpus', json: { ...ok, gpus: 1.5 }, paths: ['gpus'] },
    {
      what: 'negative duration and a zero time limit',
      json: { ...ok, duration: -1, timeLimit: 0 },
      paths: ['duration', 'timeLimit'],
    },
    { what: 'a huge duration', json: { ...ok, duration: 1e300 }, paths: ['duration'] },
    { what: 'a 100 kB name', json: { ...ok, name: 'n'.repeat(100_000) }, paths: ['name'] },
    { what: 'a 100 kB team', json: { ...ok, team: 't'.repeat(100_000) }, paths: ['team'] },
    { what: 'a 100 kB command', json: { ...ok, command: 'c'.repeat(100_000) }, paths: ['command'] },
    { what: 'an unknown field', json: { ...ok, priority: 9 } },
    {
      what: 'unknown fields and a bad team together',
      json: { ...ok, team: 'nope', admin: true, gpus: -1 },
      paths: ['team', 'gpus'],
    },
    { what: 'broken JSON', raw: '{"team": "pretraining", "gpus": 8,' },
    { what: 'a trailing comma', raw: '{"team": "pretraining", "gpus": 8, "duration": 1,}' },
    { what: 'NaN', raw: '{"team": "pretraining", "gpus": NaN, "duration": 1}' },
    { what: 'single quotes', raw: "{'team': 'pretraining', 'gpus': 8}" },
    { what: 'no content-type', raw: JSON.stringify(ok), headers: {} },
    { what: 'text/plain', raw: JSON.stringify(ok), headers: { 'content-type': 'text/plain' } },
    {
      what: 'form-encoded',
      raw: 'team=pretraining&gpus=8&duration=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    },
    { what: 'an empty body', raw: '' },
    { what: 'an array body', json: [ok] },
    { what: 'null', raw: 'null' },
    { what: 'a string', raw: '"pretraining"' },
    { what: 'a number', raw: '8' },
    { what: 'an empty object', json: {}, paths: ['team', 'gpus'] },
    {
      what: 'nested garbage',
      json: {
        team: { a: { b: [1, { c: null }] } },
        gpus: [[[]]],
        duration: { $gt: 0 },
        flavor: { toString: 'x' },
      },
      paths: ['team', 'gpus', 'duration', 'flavor'],
    },
    { what: 'deeply nested objects', raw: `{"team":${bomb(50_000)},"gpus":1,"duration":1}` },
    { what: 'deeply nested arrays', raw: `${'['.repeat(100_000)}${']'.repeat(100_000)}` },
    { what: 'an emoji team', json: { ...ok, team: '🚀' }, paths: ['team'] },
    { what: 'a CJK team', json: { ...ok, team: '研究' }, paths: ['team'] },
    { what: 'a full-width team', json: { ...ok, team: 'ｐｒｅｔｒａｉｎｉｎｇ' }, paths: ['team'] },
    { what: 'a team with a combining accent', json: { ...ok, team: 'pretraining\u0301' }, paths: ['team'] },
    { what: 'a team with a NUL', json: { ...ok, team: 'pretraining\u0000' }, paths: ['team'] },
    {
      what: 'a team with a right-to-left override',
      json: { ...ok, team: '\u202egniniarterp' },
      paths: ['team'],
    },
    { what: 'a team with a trailing space', json: { ...ok, team: 'pretraining ' }, paths: ['team'] },
    { what: 'a team of different case', json: { ...ok, team: 'Pretraining' }, paths: ['team'] },
    {
      what: 'a lone surrogate team',
      raw: '{"team":"\\ud800","gpus":1,"flavor":"h100","duration":1}',
      paths: ['team'],
    },
    {
      what: 'emoji in class and flavor',
      json: { ...ok, class: '🔥', flavor: '💥' },
      paths: ['class', 'flavor'],
    },
    {
      what: '__proto__ at the top',
      raw: '{"__proto__": {"admin": true}, "team": "pretraining", "gpus": 1, "flavor": "h100", "duration": 1}',
    },
    {
      what: '__proto__ overriding gpus',
      raw: '{"team": "pretraining", "gpus": 1, "flavor": "h100", "duration": 1, "__proto__": {"gpus": -1}}',
    },
    {
      what: 'constructor.prototype',
      raw: '{"team": "pretraining", "gpus": 1, "flavor": "h100", "duration": 1, "constructor": {"prototype": {"polluted": 1}}}',
    },
    {
      what: '__proto__ nested',
      raw: '{"team": {"__proto__": {"x": 1}}, "gpus": 1, "flavor": "h100", "duration": 1}',
    },
    {
      what: 'a 201-character Idempotency-Key',
      json: ok,
      headers: { 'content-type': 'application/json', 'Idempotency-Key': 'k'.repeat(201) },
    },
    {
      what: 'an empty Idempotency-Key',
      json: ok,
      headers: { 'content-type': 'application/json', 'Idempotency-Key': '' },
    },
  ];

  for (const c of cases) {
    it(c.what, async () => {
      const before = await snapshot();
      const headers = c.headers ?? (c.raw !== undefined ? { 'content-type': 'application/json' } : undefined);
      const r = await a.request('POST', '/v1/jobs', {
        ...(c.raw !== undefined ? { raw: c.raw } : { json: c.json }),
        ...(headers ? { headers } : {}),
      });
      const body = expectErrorBody(r, 400, 'invalid_input');
      expect(body.issues.length, 'at least one issue').toBeGreaterThan(0);
      const paths = body.issues.map((i) => i.path);
      for (const p of c.paths ?? [])
        expect(paths, `issues name ${p}: ${JSON.stringify(body.issues).slice(0, 1000)}`).toContain(p);
      expect(r.text.length, 'the answer does not echo a huge input').toBeLessThan(20_000);
      expect(await snapshot()).toEqual(before);
    });
  }

  // Bodies over the 128 KiB limit of a job are answered before they are read to the end, and
  // the connection is closed: sent over a raw socket, whose answer is read even when the rest of
  // the body can no longer be written (fetch fails with EPIPE there).
  it.each([
    ['a 500 kB name', 500_000],
    ['a 1 MB name', 1 << 20],
    ['a 10 MB body', 10 << 20],
  ])('%s (body over the limit)', async (_what, size) => {
    const before = await snapshot();
    const body = Buffer.from(JSON.stringify({ ...ok, name: 'x'.repeat(size) }));
    const r = await rawHttp(
      server.url,
      `POST /v1/jobs HTTP/1.1\nhost: arbiter\nauthorization: Bearer ${server.adminToken}\ncontent-type: application/json`,
      body,
    );
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({
      code: 'invalid_input',
      message: expect.any(String) as string,
      issues: expect.any(Array) as unknown[],
    });
    expect(await snapshot()).toEqual(before);
  });

  it('two problems in one body are both listed (and unknown fields too)', async () => {
    const r = await a.post('/v1/jobs', { team: 'no-such-team', gpus: -3, duration: 1, colour: 'red' });
    const body = expectErrorBody(r, 400, 'invalid_input');
    const paths = body.issues.map((i) => i.path);
    expect(paths).toContain('team');
    expect(paths).toContain('gpus');
    expect(JSON.stringify(body.issues)).toMatch(/colour/);
    expect(body.issues.length).toBeGreaterThanOrEqual(3);
  });

  it('an invalid body from a role that may not submit is still refused with nothing changed', async () => {
    const before = await snapshot();
    const r = await a.post('/v1/jobs', { team: 5 }, tok('viewer'));
    expect([400, 403]).toContain(r.status);
    expect(await snapshot()).toEqual(before);
  });

  it('the server is still healthy and accepts a valid job afterwards; no prototype was polluted', async () => {
    expect((await a.get('/healthz', null)).status).toBe(200);
    const r = await a.post<Job & { polluted?: unknown; admin?: unknown }>(
      '/v1/jobs',
      job('pretraining', { name: 'after-the-storm' }),
    );
    expect(r.status).toBe(201);
    expect(r.body.polluted).toBeUndefined();
    expect(r.body.admin).toBeUndefined();
    expect(r.body).toMatchObject({ team: 'pretraining', gpus: 1, name: 'after-the-storm' });
    await a.post(`/v1/jobs/${r.body.id}/cancel`);
  });

  it('bad job ids: 404 not_found with the error body, never 5xx', async () => {
    for (const id of [
      'j-0',
      'nope',
      '..%2F..%2Fetc%2Fpasswd',
      '%00',
      '🚀',
      "j-1' OR '1'='1",
      'x'.repeat(101),
      'x'.repeat(5000),
    ]) {
      const encoded = id.includes('%') ? id : encodeURIComponent(id);
      const g = await a.get(`/v1/jobs/${encoded}`);
      expectErrorBody(g, 404, 'not_found');
      expect(g.text.length, 'the answer does not echo a huge input').toBeLessThan(2000);
      expectErrorBody(await a.post(`/v1/jobs/${encoded}/cancel`), 404, 'not_found');
    }
  });

  it('a broken percent-encoding in a job id: 400 or 404 with the error body', async () => {
    const r = await a.get('/v1/jobs/%E0%A4%A');
    expect([400, 404]).toContain(r.status);
    expectErrorBody(r, r.status, r.status === 400 ? 'invalid_input' : 'not_found');
  });

  it('without a token, odd job URLs are 401 like any other', async () => {
    for (const route of [`/v1/jobs/${'x'.repeat(5000)}`, '/v1/jobs/%E0%A4%A']) {
      const r = await a.get(route, null);
      expectErrorBody(r, 401, ANY_CODE);
    }
  });

  it('bad list queries: 400 invalid_input, never 5xx', async () => {
    for (const query of [
      'cursor=%00',
      `cursor=${'z'.repeat(5000)}`,
      "team=x' OR 1=1 --",
      'limit=1e300',
      'limit=-1',
      'limit=2.5',
      'status=running&status=pending',
      'unknown=1',
    ]) {
      const r = await a.get(`/v1/jobs?${query}`);
      expectErrorBody(r, 400, 'invalid_input');
    }
  });
});
