// `arbiter serve --database postgres://...` end to end: the real, built service (dist/) on a
// throwaway PostgreSQL cluster (test/pg-harness.ts). A job submitted is read back, also after a
// restart; `arbiter token create --database` writes to the same database; the data directory
// holds the admin token but no SQLite file. Fails (never skips) without PostgreSQL's binaries.
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  api,
  cli,
  STANDBY_READY,
  startServer,
  tempDir,
  waitFor,
  type Job,
} from './server-harness.js';
import { pgClusterForServers, query } from './pg-servers.js';

const pgCluster = pgClusterForServers();

describe('arbiter serve --database', () => {
  it('keeps jobs and tokens in PostgreSQL across a restart', async () => {
    const database = await pgCluster().createDatabase();
    const data = tempDir('serve-pg');
    const args = ['--database', database, '--speed', '1'];

    const first = await startServer(data, { args });
    expect(first.startupOutput).toContain('First start');
    expect(first.startupOutput).toContain(`database ${database}`);
    expect(first.adminToken).toMatch(/\S/);
    // The data directory keeps the admin token (and the audit key), not a database.
    expect(existsSync(path.join(data, 'admin-token'))).toBe(true);
    expect(existsSync(path.join(data, 'arbiter.db'))).toBe(false);

    const created = await cli([
      'token',
      'create',
      '--data',
      data,
      '--database',
      database,
      '--user',
      'ada',
      '--role',
      'viewer',
    ]);
    expect(created.status, created.stderr).toBe(0);
    const viewer = created.stdout.trim().split(/\s+/).pop()!;

    const submitted = await api(first).post<Job>('/v1/jobs', {
      team: 'pretraining',
      gpus: 8,
      flavor: 'h100',
      duration: 1e8,
      name: 'pg-job',
    });
    expect(submitted.status, submitted.text).toBe(201);
    const id = submitted.body.id;
    expect((await api(first).get<Job>(`/v1/jobs/${id}`)).body.name).toBe('pg-job');
    expect(await first.stop()).toBe(0);

    const second = await startServer(data, { args });
    expect(second.startupOutput).not.toContain('First start');
    const again = await api(second).get<Job>(`/v1/jobs/${id}`);
    expect(again.status, again.text).toBe(200);
    expect([again.body.id, again.body.name, again.body.team, again.body.gpus]).toEqual([
      id,
      'pg-job',
      'pretraining',
      8,
    ]);
    // The token made by the CLI works against the restarted server.
    expect((await api(second).get<Job>(`/v1/jobs/${id}`, viewer)).status).toBe(200);
    // One token per user name; `token revoke --database` while the server runs: 401 within a second or so.
    const twice = await cli(['token', 'create', '--data', data, '--database', database, '--user', 'ada', '--role', 'admin']);
    expect([twice.status, twice.stderr]).toEqual([2, expect.stringMatching(/user name "ada" is taken/)]);
    const listed = await cli(['token', 'list', '--data', data, '--database', database, '--json']);
    const ada = (JSON.parse(listed.stdout) as { tokens: { id: string; user: string }[] }).tokens.find((t) => t.user === 'ada')!;
    const revoked = await cli(['token', 'revoke', ada.id, '--data', data, '--database', database]);
    expect(revoked.status, revoked.stderr).toBe(0);
    await waitFor(async () => (await api(second).get(`/v1/jobs/${id}`, viewer)).status === 401, 'the revoked token to be refused', 5000);
    expect(await second.stop()).toBe(0);
    // The audit log (token and policy events) verifies from the database and the data directory's key.
    const verified = await cli(['audit', 'verify', '--data', data, '--database', database]);
    expect(verified.status, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^ok: \d+ entries/);
  });

  it('a second server on the same database stands by, naming the leader, and takes over once it stopped', async () => {
    const database = await pgCluster().createDatabase();
    const firstData = tempDir('serve-pg-lock-a');
    const first = await startServer(firstData, { args: ['--database', database] });
    // Another data directory, the same database, the installation's one signing key: a standby.
    const key = ['--audit-key', path.join(firstData, 'audit-key.pem')];
    const second = await startServer(tempDir('serve-pg-lock-b'), { args: ['--database', database, ...key], ready: STANDBY_READY });
    const [line] = second.startupOutput.split('\n');
    expect(line).toMatch(/^Arbiter is a standby on http:\/\/127\.0\.0\.1:\d+: \S+ is led by pid (\d+) on \S+, serving on http:\/\/\S+, epoch 1; it takes over when the leader's lock is free$/);
    expect(line).toContain(`led by pid ${first.process.pid} on `);
    expect(line).toContain(`serving on ${first.url}, `);
    // A clean stop of the leader ends its session: the standby takes over, with what it stored.
    expect(await first.stop()).toBe(0);
    await waitFor(() => /Arbiter is serving on/.test(second.output()), 'the standby to take over', 10_000);
    expect(second.output()).not.toContain('First start');
    const health = await api({ url: second.url, adminToken: first.adminToken }).get<{ role: string }>('/healthz', null);
    expect([health.status, health.body.role]).toEqual([200, 'leader']);
    expect(await second.stop()).toBe(0);
  });

  it('stores concurrent submissions in one batch, all but the one the database refuses; a repeated key creates one job', async () => {
    const database = await pgCluster().createDatabase();
    const server = await startServer(tempDir('serve-pg-batch'), { args: ['--database', database, '--speed', '1'] });
    // A rule of the database's own that the API does not check: a job named "poison" is refused
    // by the INSERT, so the multi-row statement of the batch it is in fails as a whole.
    await query(database, `ALTER TABLE jobs ADD CONSTRAINT test_refuses_poison CHECK (name IS DISTINCT FROM 'poison')`);
    const body = (name: string, gpus = 1): Record<string, unknown> => ({ team: 'pretraining', gpus, flavor: 'h100', duration: 1e8, name });
    const client = api(server);
    const post = (json: Record<string, unknown>, key?: string): ReturnType<typeof client.post<Job>> =>
      client.post<Job>('/v1/jobs', json, undefined, key === undefined ? undefined : { 'idempotency-key': key });
    // Sent at once: the server's loop takes what came in meanwhile as one batch (one INSERT).
    for (let round = 0; round < 3; round++) {
      const plain = Array.from({ length: 12 }, (_, i) => post(body(`r${round}-ok-${i}`)));
      const poison = post(body('poison'));
      const keyed = [post(body(`r${round}-keyed`), `k${round}`), post(body(`r${round}-keyed`), `k${round}`), post(body(`r${round}-keyed`, 2), `k${round}`)];
      const more = Array.from({ length: 12 }, (_, i) => post(body(`r${round}-more-${i}`)));
      const [ok, refused, repeats, later] = await Promise.all([Promise.all(plain), poison, Promise.all(keyed), Promise.all(more)]);
      for (const r of [...ok, ...later]) expect(r.status, r.text).toBe(201);
      // The refused row fails alone, with the server's error (the database's rule is not the client's fault).
      expect([refused.status, refused.body]).toEqual([500, expect.objectContaining({ code: 'internal' })]);
      // One job for the key: whichever came first is created (201); a repeat with its body answers
      // it (200), one with the other body is refused (409 naming it).
      const created = repeats.filter((r) => r.status === 201);
      expect(created.map((r) => r.text)).toHaveLength(1);
      const first = created[0]!;
      const firstBody = repeats.indexOf(first) < 2 ? 'same' : 'other';
      for (const [i, r] of repeats.entries()) {
        if ((i < 2 ? 'same' : 'other') === firstBody) expect([[200, 201].includes(r.status), r.body.id]).toEqual([true, first.body.id]);
        else expect([r.status, r.text.includes(first.body.id)]).toEqual([409, true]);
      }
      // Every job acknowledged is stored, once, under the id it was given; nothing else is.
      const acknowledged = [...ok, ...later, first].map((r) => [r.body.id, r.body.name]);
      const stored = await query<{ id: string; name: string }>(database, `SELECT id, name FROM jobs WHERE name LIKE 'r${round}-%' ORDER BY seq`);
      expect(stored.map((row) => [row.id, row.name]).sort()).toEqual(acknowledged.sort());
      expect(await query(database, `SELECT id FROM jobs WHERE name = 'poison'`)).toEqual([]);
    }
    // Numbered without gaps: the refused rows took no number.
    const seqs = (await query<{ seq: string }>(database, 'SELECT seq FROM jobs ORDER BY seq')).map((row) => Number(row.seq));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(seqs.length).toBe(3 * 25);
    // The refusals were logged as such, and the server goes on.
    expect(server.output()).toContain('the store refused a batch of submissions; storing them one by one');
    expect((await post(body('after'))).status).toBe(201);
    expect(await server.stop()).toBe(0);
  });

  it('refuses a --database that is not a PostgreSQL URL, and a server that does not answer', async () => {
    const data = tempDir('serve-pg-bad');
    const notUrl = await cli(['serve', '--data', data, '--port', '0', '--database', 'mysql://x@y/z']);
    expect(notUrl.status).toBe(2);
    expect(notUrl.stderr).toContain('--database: expected a PostgreSQL URL');
    const down = await cli(
      ['serve', '--data', data, '--port', '0', '--database', 'postgres://ada:hunter2@127.0.0.1:1/arbiter'],
      {},
      30_000,
    );
    expect(down.status).toBe(1);
    expect(down.stderr).not.toContain('hunter2');
    // One line naming the database (password hidden) and what to check; no stack trace.
    expect(down.stderr).toMatch(/^cannot start: connecting to postgres:\/\/ada:\*\*\*@127\.0\.0\.1:1\/arbiter: .*ECONNREFUSED.*\(is the database server running, and reachable at that address\?\)\n$/);
  });
});
