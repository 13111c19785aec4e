// Requests a hostile client sends (issue 9), each performed for real against a real
// `arbiter serve` process (bin/arbiter.js -> dist/) and checked in what the server stores: a reused
// Idempotency-Key with another body, invalid UTF-8 and lone surrogates, terminal escapes in names
// shown by the real CLI, hammering with bad tokens (rate limits), slow headers and slow bodies
// (timeouts), oversized comments, and comments that must not rewrite their proposal.
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest).
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  assertDistFresh,
  burst,
  cli,
  createToken,
  rawHttp,
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
let data: string;
let a: Api;
let alice: string;

beforeAll(async () => {
  assertDistFresh();
  data = tempDir('hostile');
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

/** POST /v1/jobs with these exact body bytes, over a raw socket (fetch would re-encode them). */
const rawPost = (route: string, token: string, body: Buffer) =>
  rawHttp(server.url, `POST ${route} HTTP/1.1\nhost: arbiter\nauthorization: Bearer ${token}\ncontent-type: application/json`, body);

describe('text that is not Unicode', () => {
  it('invalid UTF-8 bytes in a field: 400 naming the field, nothing stored', async () => {
    const before = await allJobs();
    const cases: [Buffer, string][] = [
      [Buffer.from([0xff, 0xfe]), 'name'], // never UTF-8
      [Buffer.from([0xed, 0xa0, 0x80]), 'name'], // an encoded surrogate (CESU-8)
      [Buffer.from([0xc0, 0xaf]), 'name'], // an overlong "/"
      [Buffer.from([0xe2, 0x82]), 'name'], // cut short
    ];
    for (const [bad, field] of cases) {
      const body = Buffer.concat([Buffer.from('{"team":"pretraining","gpus":1,"flavor":"h100","duration":1e9,"name":"ab'), bad, Buffer.from('cd"}')]);
      const r = await rawPost('/v1/jobs', alice, body);
      expect(r.status, `${bad.toString('hex')}: ${r.text}`).toBe(400);
      const error = r.body as ErrorBody;
      expect(error.code).toBe('invalid_input');
      expect(error.issues).toHaveLength(1);
      expect(error.issues[0]!.path).toBe(field);
      expect(error.issues[0]!.message).toMatch(/^byte \d+ is not UTF-8/);
    }
    // In a nested field of a governance body, the path is the nested one.
    const nested = Buffer.concat([Buffer.from('{"policy":"teams: []","title":"t","rationale":"r","trace":[{"submit":0,"team":"x'), Buffer.from([0xff]), Buffer.from('"}]}')]);
    const r = await rawPost('/v1/proposals', server.adminToken, nested);
    expect(r.status, r.text).toBe(400);
    expect((r.body as ErrorBody).issues.map((i) => i.path)).toEqual(['trace.0.team']);
    expect(await allJobs()).toEqual(before);
  });

  it('a lone surrogate (\\ud800 escape) in a value or a key: 400 naming where, nothing stored', async () => {
    const before = await allJobs();
    const value = await a.request<ErrorBody>('POST', '/v1/jobs', {
      raw: '{"team":"pretraining","gpus":1,"flavor":"h100","duration":1e9,"name":"x\\ud800y"}',
      headers: { 'content-type': 'application/json' },
      token: alice,
    });
    expect(value.status, value.text).toBe(400);
    expect(value.body.issues.map((i) => i.path)).toEqual(['name']);
    const key = await a.request<ErrorBody>('POST', '/v1/jobs', {
      raw: '{"team":"pretraining","gpus":1,"flavor":"h100","duration":1e9,"\\udc00":1}',
      headers: { 'content-type': 'application/json' },
      token: alice,
    });
    expect(key.status, key.text).toBe(400);
    expect(key.body.issues.map((i) => i.path)).toEqual(['\udc00']);
    // A well-formed pair (an emoji as an escaped pair) is text and is kept.
    const pair = await a.request<Job>('POST', '/v1/jobs', {
      raw: '{"team":"pretraining","gpus":1,"flavor":"h100","duration":1e9,"name":"ok \\ud83d\\ude00"}',
      headers: { 'content-type': 'application/json' },
      token: alice,
    });
    expect([pair.status, pair.body.name]).toEqual([201, 'ok \u{1f600}']);
    expect((await allJobs()).length).toBe(before.length + 1);
  });

  it('a query value of invalid UTF-8 percent-escapes: 400 naming the parameter', async () => {
    const r = await a.get<ErrorBody>('/v1/jobs?team=%FF%FE');
    expect(r.status, r.text).toBe(400);
    expect(r.body.issues.map((i) => i.path)).toEqual(['query.team']);
    const surrogate = await a.get<ErrorBody>('/v1/jobs?team=%ED%A0%80');
    expect(surrogate.status, surrogate.text).toBe(400);
  });

  it('control characters: refused in names (400 naming the field), tabs and line breaks allowed in free text', async () => {
    const before = await allJobs();
    for (const name of ['evil\u001b[2J', 'two\nlines', 'nul\u0000', 'c1\u009b31m']) {
      const r = await a.post<ErrorBody>('/v1/jobs', job({ name }), alice);
      expect(r.status, JSON.stringify(name)).toBe(400);
      expect(r.body.issues.map((i) => i.path)).toEqual(['name']);
    }
    const team = await a.post<ErrorBody>('/v1/jobs', job({ team: 'pre\u001btraining' }), alice);
    expect(team.status).toBe(400);
    expect(team.body.issues.map((i) => i.path)).toContain('team');
    const command = await a.post<ErrorBody>('/v1/jobs', job({ command: 'echo \u001b[31m' }), alice);
    expect(command.status).toBe(400);
    expect(command.body.issues.map((i) => i.path)).toEqual(['command']);
    expect(await allJobs()).toEqual(before);
    const multiline = await a.post<Job>('/v1/jobs', job({ command: 'set -e\n\techo ok\r\n' }), alice);
    expect(multiline.status, multiline.text).toBe(201);
  });
});

describe('what the CLI prints', () => {
  it('arbiter jobs shows an escape and a newline in a stored name as \\x1b and \\n: no forged row', async () => {
    // A name the API refuses today, as a database editor (or an older Arbiter) could have stored it.
    const dir = tempDir('hostile-cli');
    const own = await startServer(dir);
    const ownApi = api(own);
    const victim = await ownApi.post<Job>('/v1/jobs', job({ name: 'plain' }));
    expect(victim.status).toBe(201);
    await own.stop();
    const forged = 'evil\u001b[2K\r\n│ j-999 │ payroll │ pretraining │ training │ 512 h100 │ running │';
    const db = new Database(path.join(dir, 'arbiter.db'));
    db.prepare('UPDATE jobs SET name = ? WHERE id = ?').run(forged, victim.body.id);
    db.close();
    const again = await startServer(dir);
    const env = { ARBITER_SERVER: again.url, ARBITER_TOKEN: again.adminToken };
    const run = await cli(['jobs'], env);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).not.toMatch(/(?!\n)\p{Cc}/u);
    expect(run.stdout).toContain('evil\\x1b[2K\\r\\n│ j-999 │ payroll');
    // Borders, the head, its rule, one line for the one job and the bottom border: no more lines.
    expect(run.stdout.trimEnd().split('\n')).toHaveLength(4);
    expect(run.stdout).not.toMatch(/^│ j-999/m);
    // --json is for scripts: the name as stored, JSON-escaped.
    const json = await cli(['jobs', '--json'], env);
    expect((JSON.parse(json.stdout) as JobPage).jobs[0]!.name).toBe(forged);
    await again.stop();
  });
});

/** One HTTP request from a given loopback address (each address is another client to the server). */
function from(local: string, target: Server, route: string, token: string, forwardedFor?: string): Promise<{ status: number; retryAfter: string | undefined; body: ErrorBody }> {
  const u = new URL(target.url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(forwardedFor !== undefined ? { 'x-forwarded-for': forwardedFor } : {}) };
    const req = http.request(
      { host: u.hostname, port: Number(u.port), path: route, localAddress: local, agent: false, headers },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => {
          const retry = res.headers['retry-after'];
          resolve({ status: res.statusCode ?? 0, retryAfter: typeof retry === 'string' ? retry : undefined, body: (text ? JSON.parse(text) : {}) as ErrorBody });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * A client that sends `first`, then `drip` every 200 ms until the server closes the connection.
 * Resolves with what the server sent and how long the connection lasted.
 */
function slowClient(target: Server, first: string, drip: string, limitMs = 20_000): Promise<{ answer: string; lastedMs: number; closedByServer: boolean }> {
  const u = new URL(target.url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(u.port), u.hostname);
    let answer = '';
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      resolve({ answer, lastedMs: Date.now() - started, closedByServer: false });
    }, limitMs);
    socket.on('data', (c: Buffer) => (answer += c.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ answer, lastedMs: Date.now() - started, closedByServer: true });
    });
    socket.once('connect', () => {
      socket.write(first);
      if (drip !== '') timer = setInterval(() => socket.write(drip), 200);
    });
  });
}

describe('limits a hostile client meets (small limits configured for the test)', () => {
  let limited: Server;
  let bob: string;
  let carol: string;

  beforeAll(async () => {
    const data = tempDir('hostile-limits');
    limited = await startServer(data, { args: ['--rate-limit', 'token=1/20,address=50/200,auth-failure=20', '--timeouts', 'headers=1,request=2,idle=1'] });
    bob = await createToken(data, 'bob', 'member', 'pretraining');
    carol = await createToken(data, 'carol', 'member', 'pretraining');
  });

  it('hammering with a bad token: 429 with Retry-After for that address; another address is served', async () => {
    const answers: { status: number; retryAfter: string | undefined; body: ErrorBody }[] = [];
    for (let i = 0; i < 30; i++) answers.push(await from('127.0.0.2', limited, '/v1/jobs', `arb_guess${i}`));
    const statuses = answers.map((r) => r.status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    // Each failure costs 20 of the address's 200: well before 30 tries it is refused outright.
    const refused = answers.filter((r) => r.status === 429);
    expect(refused.length, statuses.join(',')).toBeGreaterThanOrEqual(15);
    for (const r of refused) {
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(r.body.code).toBe('rate_limited');
      expect(r.body.message).toContain('127.0.0.2');
    }
    // Even a good token from that address waits now; another address is not affected.
    expect((await from('127.0.0.2', limited, '/v1/jobs', bob)).status).toBe(429);
    expect((await from('127.0.0.1', limited, '/v1/jobs', bob)).status).toBe(200);
  });

  it('X-Forwarded-For is ignored unless the proxy is trusted: a client cannot rotate it to escape the limit', async () => {
    const answers: number[] = [];
    for (let i = 0; i < 20; i++) answers.push((await from('127.0.0.4', limited, '/v1/jobs', `arb_guess${i}`, `203.0.113.${i}`)).status);
    expect(answers.filter((s) => s === 429).length, answers.join(',')).toBeGreaterThanOrEqual(5);
  });

  it('behind a trusted proxy (--trust-proxy), each forwarded client has its own limit', async () => {
    const data = tempDir('hostile-proxy');
    const proxied = await startServer(data, { args: ['--rate-limit', 'address=50/200,auth-failure=20', '--trust-proxy', '127.0.0.5, 10.0.0.0/8'] });
    try {
      const guesses: { status: number; body: ErrorBody }[] = [];
      for (let i = 0; i < 20; i++) guesses.push(await from('127.0.0.5', proxied, '/v1/jobs', `arb_guess${i}`, '203.0.113.7'));
      const refused = guesses.filter((r) => r.status === 429);
      expect(refused.length, guesses.map((r) => r.status).join(',')).toBeGreaterThanOrEqual(5);
      expect(refused[0]!.body.message).toContain('203.0.113.7');
      // Another client behind the same proxy is served.
      expect((await from('127.0.0.5', proxied, '/v1/jobs', proxied.adminToken, '203.0.113.8')).status).toBe(200);
    } finally {
      await proxied.stop();
    }
    const bad = await cli(['serve', '--data', tempDir('hostile-proxy-bad'), '--trust-proxy', '10.0.0.0/33,proxy.example']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--trust-proxy: "10.0.0.0/33" is not an IP address or CIDR range');
    expect(bad.stderr).toContain('--trust-proxy: "proxy.example" is not an IP address or CIDR range');
  });

  it("one token's burst: 429 with Retry-After for that token; another token from the same address is served", async () => {
    const answers = await Promise.all(Array.from({ length: 40 }, () => from('127.0.0.3', limited, '/v1/teams', carol)));
    const refused = answers.filter((r) => r.status === 429);
    expect(refused.length, answers.map((r) => r.status).join(',')).toBeGreaterThanOrEqual(10);
    expect(answers.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(20);
    for (const r of refused) {
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(r.body.message).toContain('user carol');
    }
    expect((await from('127.0.0.3', limited, '/v1/teams', limited.adminToken)).status).toBe(200);
  });

  it('slow headers are cut (408, connection closed) after the headers timeout', async () => {
    const r = await slowClient(limited, 'GET /healthz HTTP/1.1\r\nhost: arbiter\r\n', 'x-slow: 1\r\n');
    expect(r.closedByServer, 'the server closed the connection while headers still trickled in').toBe(true);
    expect(r.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(r.lastedMs).toBeLessThan(10_000);
  });

  it('a slow body is cut (408, connection closed) after the request timeout, and nothing is stored', async () => {
    const before = (await api(limited).get<JobPage>('/v1/jobs?limit=1000')).body.jobs.length;
    const head = `POST /v1/jobs HTTP/1.1\r\nhost: arbiter\r\nauthorization: Bearer ${limited.adminToken}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"team":"pretraining","gpus":1,"duration":1,"name":"`;
    const r = await slowClient(limited, head, 'x');
    expect(r.closedByServer, 'the server closed the connection while the body still trickled in').toBe(true);
    expect(r.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(r.lastedMs).toBeLessThan(10_000);
    expect((await api(limited).get<JobPage>('/v1/jobs?limit=1000')).body.jobs.length).toBe(before);
  });

  it('an idle keep-alive connection is closed after the idle timeout', async () => {
    const r = await slowClient(limited, 'GET /healthz HTTP/1.1\r\nhost: arbiter\r\nconnection: keep-alive\r\n\r\n', '');
    expect(r.answer).toMatch(/^HTTP\/1\.1 200/);
    expect(r.closedByServer, 'the server closed the idle connection').toBe(true);
    expect(r.lastedMs).toBeLessThan(10_000);
  });

  it('a body over the route\'s limit is a 400 naming the limit, and nothing is stored', async () => {
    const before = (await api(limited).get<JobPage>('/v1/jobs?limit=1000')).body.jobs.length;
    const big = Buffer.from(JSON.stringify(job({ command: 'x'.repeat(200_000) })));
    const r = await rawHttp(limited.url, `POST /v1/jobs HTTP/1.1\nhost: arbiter\nauthorization: Bearer ${limited.adminToken}\ncontent-type: application/json`, big);
    expect(r.status, r.text).toBe(400);
    expect((r.body as ErrorBody).message).toContain(`${128 << 10} bytes`);
    expect((await api(limited).get<JobPage>('/v1/jobs?limit=1000')).body.jobs.length).toBe(before);
  });
});

/** A proposal's row as the SQLite file holds it (read while the server runs: WAL). */
function proposalRow(id: string): { status: string; doc: string; updated_at: number } {
  const db = new Database(path.join(data, 'arbiter.db'), { readonly: true });
  try {
    return db.prepare('SELECT status, doc, updated_at FROM proposals WHERE id = ?').get(id) as { status: string; doc: string; updated_at: number };
  } finally {
    db.close();
  }
}

describe('proposals and their comments', () => {
  it('GET /v1/proposals pages with limit and cursor and leaves comments out (their count instead)', async () => {
    const policy = (await a.get<{ text: string }>('/v1/policy')).body.text;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await a.post<{ id: string }>('/v1/proposals', { title: `variant ${i}`, rationale: 'paging', policy: `${policy}\n# variant ${i}\n` });
      expect(r.status, r.text).toBe(201);
      ids.push(r.body.id);
    }
    for (const text of ['first', 'second']) expect((await a.post(`/v1/proposals/${ids[2]}/comments`, { text })).status).toBe(200);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { proposals: { id: string; comments?: unknown; commentCount: number }[]; nextCursor: string | null } } = await a.get(`/v1/proposals?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.proposals).toHaveLength(1);
      const [p] = page.body.proposals;
      expect(p!.comments).toBeUndefined();
      if (p!.id === ids[2]) expect(p!.commentCount).toBe(2);
      seen.push(p!.id);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual([...ids].reverse());
    const bad = await a.get<ErrorBody>('/v1/proposals?cursor=p-nope');
    expect(bad.status).toBe(400);
    expect(bad.body.issues.map((i) => i.path)).toEqual(['cursor']);
    // The comments are on the proposal itself.
    const one = await a.get<{ comments: { text: string }[] }>(`/v1/proposals/${ids[2]}`);
    expect(one.body.comments.map((c) => c.text)).toEqual(['first', 'second']);
    // The CLI lists every page.
    const run = await cli(['proposals', '--json'], { ARBITER_SERVER: server.url, ARBITER_TOKEN: server.adminToken });
    expect((JSON.parse(run.stdout) as { proposals: { id: string }[] }).proposals.map((p) => p.id)).toEqual([...ids].reverse());
  });

  it('a proposal embeds only its first 50 comments; GET /v1/proposals/{id}/comments pages the rest, oldest first', async () => {
    const [first] = (await a.get<{ proposals: { id: string }[] }>('/v1/proposals')).body.proposals;
    const id = first!.id;
    const before = (await a.get<{ commentCount: number }>(`/v1/proposals/${id}`)).body.commentCount;
    const row = proposalRow(id);
    expect(row.doc).not.toContain('"comments"');
    for (let i = 1; i <= 55; i++) expect((await a.post(`/v1/proposals/${id}/comments`, { text: `note ${i}` })).status).toBe(200);
    const texts = Array.from({ length: 55 }, (_, i) => `note ${i + 1}`);
    // Each comment was a row of its own: the proposal's stored record was not rewritten.
    expect(proposalRow(id)).toEqual(row);
    const one = await a.get<{ comments: { n: number; text: string }[]; commentCount: number; commentsNextCursor: string | null }>(`/v1/proposals/${id}`);
    expect(one.body.commentCount).toBe(before + 55);
    expect(one.body.comments).toHaveLength(50);
    expect(one.body.comments[0]!.n).toBe(1);
    expect(one.body.commentsNextCursor).toBe('50');
    const all: { n: number; text: string }[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { comments: { n: number; text: string }[]; nextCursor: string | null } } = await a.get(`/v1/proposals/${id}/comments?limit=20${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.comments.length).toBeLessThanOrEqual(20);
      all.push(...page.body.comments);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    expect(all.map((c) => c.n)).toEqual(Array.from({ length: before + 55 }, (_, i) => i + 1));
    expect(all.slice(before).map((c) => c.text)).toEqual(texts);
    // The rest of the first page's comments, from its cursor.
    const rest = await a.get<{ comments: { n: number }[]; nextCursor: string | null }>(`/v1/proposals/${id}/comments?cursor=${one.body.commentsNextCursor}`);
    expect(rest.body.comments.map((c) => c.n)).toEqual(Array.from({ length: before + 5 }, (_, i) => i + 51));
    expect(rest.body.nextCursor).toBeNull();
    for (const bad of ['0', 'x', String(before + 56)]) {
      const r = await a.get<ErrorBody>(`/v1/proposals/${id}/comments?cursor=${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.issues.map((i) => i.path)).toEqual(['cursor']);
    }
    expect((await a.get(`/v1/proposals/${id}/comments?limit=501`)).status).toBe(400);
    expect((await a.get(`/v1/proposals/p-nope/comments`)).status).toBe(404);
    // The CLI reads every page.
    const run = await cli(['proposal', 'show', id, '--json'], { ARBITER_SERVER: server.url, ARBITER_TOKEN: server.adminToken });
    expect((JSON.parse(run.stdout) as { comments: { text: string }[] }).comments.slice(before).map((c) => c.text)).toEqual(texts);
  });

  it('an oversized comment is refused (400) and the proposal is unchanged', async () => {
    const [first] = (await a.get<{ proposals: { id: string }[] }>('/v1/proposals')).body.proposals;
    const before = (await a.get(`/v1/proposals/${first!.id}`)).text;
    const r = await a.post<ErrorBody>(`/v1/proposals/${first!.id}/comments`, { text: 'c'.repeat(30_000) });
    expect(r.status, r.text).toBe(400);
    expect(r.body.issues.map((i) => i.path)).toEqual(['text']);
    const huge = await rawHttp(server.url, `POST /v1/proposals/${first!.id}/comments HTTP/1.1\nhost: arbiter\nauthorization: Bearer ${server.adminToken}\ncontent-type: application/json`, Buffer.from(JSON.stringify({ text: 'c'.repeat(1 << 20) })));
    expect(huge.status).toBe(400);
    expect((await a.get(`/v1/proposals/${first!.id}`)).text).toBe(before);
  });
});
