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
import { pgClusterForServers } from './pg-servers.js';

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
