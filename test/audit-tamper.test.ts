// The audit log against someone who can edit the database (docs/security.md): each attack is
// performed for real on a copy of a stopped server's data directory (the SQLite file edited in
// SQL, triggers dropped first as an attacker with the file would), then `arbiter audit verify`
// must exit 1 naming what is wrong and `arbiter serve` must refuse to start (exit 1) instead of
// signing the forged log. Checkpoints kept outside the database (--audit-witness FILE,
// --checkpoint FILE) catch a tail cut off together with its checkpoints; --audit-witness-url
// receives every checkpoint. PostgreSQL: a token's role raised with the triggers dropped.
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCheckpointSignature } from '../src/governance/audit-log.js';
import { hashToken } from '../src/server/auth.js';
import { tokenEventData } from '../src/storage/token-event.js';
import type { Checkpoint } from '../src/governance/audit-log.js';
import { startPgCluster, type PgCluster } from './pg-harness.js';
import { api, assertDistFresh, cli, createToken, smallCluster, startServer, stopAllServers, tamperedCopy, tempDir, writeFile, type Server } from './server-harness.js';

const POLICY = 'teams:\n  - name: research\n    guarantee: { h100: 8 }\n  - name: applied\n    guarantee: { h100: 8 }\n';
const PROPOSED = POLICY.replace('h100: 8 }\n  - name: applied\n    guarantee: { h100: 8 }', 'h100: 12 }\n  - name: applied\n    guarantee: { h100: 4 }');
/** Both teams keep the 16 GPUs busy: applied is affected by the proposal (a lead must respond). */
const TRACE = ['id,submit,team,gpus,duration', ...Array.from({ length: 40 }, (_, i) => [`r${i},${i * 600},research,4,3600`, `a${i},${i * 600 + 1},applied,4,3600`]).flat(), ''].join('\n');

let dir: string;
let pristine: string;
let witness: string;
let clusterFile: string;
let entries: number;

/** A copy of the stopped server's data directory with `sql` run on its database. */
const tampered = (name: string, sql: string): string => tamperedCopy(pristine, dir, name, sql);

const verify = (data: string, ...args: string[]) => cli(['audit', 'verify', '--data', data, ...args]);
/** `arbiter serve` on a copy: must exit by itself (refusing), long before the timeout. */
const serve = (data: string, ...args: string[]) => cli(['serve', '--data', data, '--port', '0', ...args], {}, 30_000);

async function expectRefused(data: string, pattern: RegExp, ...serveArgs: string[]): Promise<void> {
  const checked = await verify(data);
  expect(checked.status, checked.stderr).toBe(1);
  expect(checked.stderr).toMatch(/^FAILED: /);
  expect(checked.stderr).toMatch(pattern);
  const started = await serve(data, ...serveArgs);
  expect(started.status, started.stdout + started.stderr).toBe(1);
  expect(started.stderr).toContain('arbiter serve: refusing to start: the audit log does not verify');
  expect(started.stderr).toMatch(pattern);
  expect(started.stderr).toContain('What to do:');
}

beforeAll(async () => {
  assertDistFresh();
  dir = tempDir('audit-tamper');
  clusterFile = writeFile(dir, 'cluster.yaml', smallCluster(2, 8));
  const policyFile = writeFile(dir, 'policy.yaml', POLICY);
  witness = path.join(dir, 'witness.jsonl');
  const data = path.join(dir, 'data');
  const server = await startServer(data, { args: ['--cluster', clusterFile, '--policy', policyFile, '--audit-witness', witness] });
  const lead = await createToken(data, 'bob', 'lead', 'applied');
  const council = await createToken(data, 'carol', 'council');
  await createToken(data, 'mia', 'member', 'applied');
  const a = api(server);
  const created = await a.post<{ id: string; impact: { hash: string }; affected: string[] }>('/v1/proposals', { title: 'More for research', rationale: 'research waits', policy: PROPOSED, trace: TRACE });
  expect(created.status, created.text).toBe(201);
  expect(created.body.affected).toContain('applied');
  const id = created.body.id;
  const responded = await a.post(`/v1/proposals/${id}/responses`, { stance: 'object', reason: 'we would wait longer', metric: 'p95Wait' }, lead);
  expect(responded.status, responded.text).toBeLessThan(300);
  const voted = await a.post(`/v1/proposals/${id}/votes`, { vote: 'approve', reason: 'read the report', reportHash: created.body.impact.hash }, council);
  expect(voted.status, voted.text).toBeLessThan(300);
  for (const [text, token] of [['what about the night shift?', undefined], ['we can live with it', lead]] as const) {
    const commented = await a.post(`/v1/proposals/${id}/comments`, { text }, token);
    expect(commented.status, commented.text).toBe(200);
  }
  expect(await server.stop()).toBe(0);
  pristine = data;
  const db = new Database(path.join(pristine, 'arbiter.db'), { readonly: true });
  try {
    entries = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  } finally {
    db.close();
  }
}, 120_000);

afterAll(async () => {
  await stopAllServers();
});

describe('audit verify and serve on a database edited behind the log', () => {
  it('the untouched log verifies without any note, against the witness too, and the server starts', async () => {
    const run = await verify(pristine, '--checkpoint', witness);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`ok: ${entries} entries`);
    expect(run.stdout).toContain('consistent with');
    expect(run.stdout).not.toContain('unsigned');
    const copy = tampered('none', 'SELECT 1');
    const server = await startServer(copy, { args: ['--audit-witness', path.join(copy, 'witness-copy.jsonl')] });
    expect((await api(server).get('/v1/audit/checkpoint')).status).toBe(200);
    expect(await server.stop()).toBe(0);
  });

  it('no checkpoint at all', async () => {
    const data = tampered('no-checkpoint', 'DROP TRIGGER audit_checkpoints_no_delete; DELETE FROM audit_checkpoints');
    await expectRefused(data, /The log has no signed checkpoint/);
  });

  it('the last checkpoints deleted (and with them the tail they signed)', async () => {
    const data = tampered(
      'deleted-checkpoints',
      'DROP TRIGGER audit_checkpoints_no_delete; DELETE FROM audit_checkpoints WHERE id > (SELECT min(id) FROM audit_checkpoints)',
    );
    await expectRefused(data, /Checkpoints were deleted: leaf hashes are stored for \d+ entries/);
  });

  it('an unsigned tail fails without --allow-unsigned-tail and passes, listed, with it', async () => {
    // Entries appended after the last checkpoint, with their leaves and checkpoint gone, as a
    // server killed between a commit and its checkpoint would leave them (or a forger).
    const data = tampered(
      'tail',
      `DROP TRIGGER audit_checkpoints_no_delete; DROP TRIGGER audit_leaves_no_delete;
       DELETE FROM audit_leaves WHERE seq > ${entries - 2};
       DELETE FROM audit_checkpoints WHERE size > ${entries - 2};`,
    );
    const refused = await verify(data);
    expect(refused.status, refused.stderr).toBe(1);
    expect(refused.stderr).toContain(`Entries ${entries - 2}..${entries - 1} are not covered by any signed checkpoint`);
    const accepted = await verify(data, '--allow-unsigned-tail');
    expect(accepted.status, accepted.stderr).toBe(0);
    expect(accepted.stdout).toContain('accepted (--allow-unsigned-tail): 2 entries after the last checkpoint');
    expect(accepted.stdout).toContain(`entry ${entries - 1}: {`);
    const started = await serve(data);
    expect(started.status).toBe(1);
    expect(started.stderr).toContain('not covered by any signed checkpoint');
    const server = await startServer(data, { args: ['--allow-unsigned-tail'] });
    expect(await server.stop()).toBe(0);
    // The operator accepted it: the server signed it, so it verifies without the flag now.
    expect((await verify(data)).status).toBe(0);
  });

  it("a policy version's text edited", async () => {
    const data = tampered('policy', "DROP TRIGGER policy_versions_no_update; UPDATE policy_versions SET text = replace(text, 'h100: 8', 'h100: 15') WHERE version = 1");
    await expectRefused(data, /Policy version 1: its stored text \(SHA-256 [0-9a-f]{64}\) is not the text entry \d+ vouches for/);
  });

  it("a token's role raised from member to admin", async () => {
    const data = tampered('role', "UPDATE tokens SET role = 'admin', team = NULL WHERE user = 'mia'");
    await expectRefused(data, /Token t-\S+: its stored role admin \(entry \d+: member\), team none \(entry \d+: applied\) differs/);
  });

  it("a token's secret hash swapped for one the attacker knows", async () => {
    const data = tampered('token-hash', "UPDATE tokens SET hash = 'ab' || substr(hash, 3) WHERE user = 'admin'");
    await expectRefused(data, /Token t-\S+: its stored row \(secret hash or creation time\) is not the one entry \d+ vouches for/);
  });

  it('a token added in SQL', async () => {
    const data = tampered('token-added', "INSERT INTO tokens (id, hash, user, role, team, created_at, revoked_at) VALUES ('t-evil', 'cd' || substr((SELECT hash FROM tokens LIMIT 1), 3), 'eve', 'admin', NULL, 0, NULL)");
    await expectRefused(data, /Token t-evil \(user "eve", role admin\) is in the tokens table but no entry of the log created it/);
  });

  it("a lead's response edited (objection turned into consent)", async () => {
    const data = tampered('response', `UPDATE proposals SET doc = replace(doc, '"stance":"object"', '"stance":"consent"')`);
    await expectRefused(data, /Proposal p-1: its stored record \(ballots, responses, objections, petition, status\) is not the one entry \d+ vouches for/);
  });

  it("a council member's ballot deleted", async () => {
    const data = tampered('ballot', `UPDATE proposals SET doc = json_remove(doc, '$.votes[0]')`);
    await expectRefused(data, /Proposal p-1: its stored record .* is not the one entry \d+ vouches for/);
  });

  it("a comment's text edited, a comment added in SQL, a comment deleted", async () => {
    const edited = tampered('comment-edit', `DROP TRIGGER proposal_comments_no_update; UPDATE proposal_comments SET text = 'approve it now' WHERE n = 2`);
    await expectRefused(edited, /Comment 2 of proposal p-1: its stored row \(author, text, time or revision\) is not the one entry \d+ vouches for/);
    const added = tampered('comment-add', `INSERT INTO proposal_comments (proposal, n, actor, text, at, revision, legacy) VALUES ('p-1', 3, 'carol', 'forged', 1, 0, 0)`);
    await expectRefused(added, /Comment 3 of proposal p-1 \(by "carol"\) is stored but no entry of the log made it/);
    // Passed off as a comment from before the migration: its proposal's digest does not include it.
    const legacy = tampered('comment-legacy', `INSERT INTO proposal_comments (proposal, n, actor, text, at, revision, legacy) VALUES ('p-1', 3, 'carol', 'forged', 1, 0, 1)`);
    await expectRefused(legacy, /Comment 3 of proposal p-1 \(by "carol"\) is marked as migrated from its document, but no entry of the log made it/);
    const deleted = tampered('comment-delete', `DROP TRIGGER proposal_comments_no_delete; DELETE FROM proposal_comments WHERE n = 1`);
    await expectRefused(deleted, /Comment 1 of proposal p-1, made by entry \d+, is missing from the comments table/);
  });

  it('the tail cut off together with its leaves and checkpoints: caught by the witness file and --checkpoint FILE', async () => {
    const db = new Database(path.join(pristine, 'arbiter.db'), { readonly: true });
    let cut: number;
    try {
      cut = (db.prepare('SELECT max(seq) AS seq FROM events').get() as { seq: number }).seq;
    } finally {
      db.close();
    }
    // The last entry, its leaf and every checkpoint covering it removed: the checkpoints left in
    // the database prove a shorter log; only a checkpoint kept elsewhere shows the cut.
    const data = tampered(
      'truncated',
      `DROP TRIGGER events_no_delete; DROP TRIGGER audit_leaves_no_delete; DROP TRIGGER audit_checkpoints_no_delete;
       DELETE FROM events WHERE seq >= ${cut}; DELETE FROM audit_leaves WHERE seq >= ${cut}; DELETE FROM audit_checkpoints WHERE size >= ${cut};`,
    );
    const plain = await verify(data);
    expect(plain.stderr).not.toContain('The log was truncated');
    const withCopy = await verify(data, '--checkpoint', witness);
    expect(withCopy.status, withCopy.stderr).toBe(1);
    expect(withCopy.stderr).toMatch(new RegExp(`The log was truncated: The checkpoint kept in ${witness.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(#\\d+\\) \\(size ${entries}`));
    const started = await serve(data, '--audit-witness', witness);
    expect(started.status, started.stderr).toBe(1);
    expect(started.stderr).toContain(`The log was truncated: The checkpoint kept in the witness file ${witness} (size ${entries}`);
  });
});

describe('the database of a running server', () => {
  it('kill -9 in the middle of governance writes leaves no unsigned tail: the restart needs no flag and the log verifies', async () => {
    const data = tampered('killed', 'SELECT 1');
    for (let round = 0; round < 3; round++) {
      const server = await startServer(data);
      const a = api(server);
      let stop = false;
      let written = 0;
      const writer = async (): Promise<void> => {
        while (!stop) {
          const res = await a.post('/v1/proposals/p-1/comments', { text: `round ${round}, comment ${written}` }).catch(() => null);
          if (res?.status === 200) written++;
        }
      };
      const writers = [writer(), writer(), writer()];
      // Killed while comments (each an entry and its checkpoint) are being committed.
      await new Promise((resolve) => setTimeout(resolve, 800 + round * 300));
      server.process.kill('SIGKILL');
      await new Promise((resolve) => server.process.once('exit', resolve));
      stop = true;
      await Promise.all(writers);
      expect(written, 'comments written before the kill').toBeGreaterThan(0);
      const checked = await verify(data);
      expect(checked.status, checked.stdout + checked.stderr).toBe(0);
      expect(checked.stdout).not.toContain('unsigned');
    }
    const restarted = await startServer(data);
    expect(await restarted.stop()).toBe(0);
  }, 120_000);

  it('a token added, a role raised and an entry forged in the database while the server runs: refused at once, and never signed', async () => {
    const data = tampered('live-edits', 'SELECT 1');
    const server = await startServer(data);
    const a = api(server);
    // Made by `arbiter token create` while the server runs (it signs its own entry): accepted.
    const mia = await createToken(data, 'mia2', 'member', 'applied');
    expect((await a.get('/v1/jobs', mia)).status).toBe(200);
    expect((await a.get('/v1/tokens', mia)).status).toBe(403);
    const db = new Database(path.join(data, 'arbiter.db'));
    try {
      db.pragma('busy_timeout = 10000');
      // The attacker raises mia2 to admin in the tokens table...
      db.prepare("UPDATE tokens SET role = 'admin', team = NULL WHERE user = 'mia2'").run();
      // ... and adds an admin token whose secret they know, with a token.create entry that matches it.
      const secret = 'arb_attacker-knows-this-secret';
      const eve = { id: 't-eve', hash: hashToken(secret), user: 'eve', role: 'admin' as const, team: null, createdAt: 1_700_000_000, revokedAt: null };
      db.prepare('INSERT INTO tokens (id, hash, user, role, team, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(eve.id, eve.hash, eve.user, eve.role, eve.team, eve.createdAt, eve.revokedAt);
      db.prepare('INSERT INTO events (at, actor, kind, subject, reason, data) VALUES (?, ?, ?, ?, ?, ?)').run(eve.createdAt, 'system', 'token.create', eve.id, 'first start', JSON.stringify(tokenEventData(eve)));
      // The token cache holds a principal for at most a second.
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      const raised = await a.get('/v1/tokens', mia);
      expect(raised.status, raised.text).toBe(401);
      const forged = await a.get('/v1/tokens', secret);
      expect(forged.status, forged.text).toBe(401);
      // The forged entry is after the last checkpoint: the next audited write refuses to sign it.
      const comment = await a.post<{ code: string; message: string }>('/v1/proposals/p-1/comments', { text: 'signed along with the forgery?' });
      expect(comment.status, comment.text).toBe(503);
      expect(comment.body.code).toBe('audit_unverified');
      expect(comment.body.message).toContain('that no checkpoint covers and that this server did not write');
      // The honest tokens keep working.
      expect((await a.get('/v1/jobs')).status).toBe(200);
    } finally {
      db.close();
    }
    expect(await server.stop()).toBe(0);
    // Not even the graceful stop signed it: verify names the unsigned entry and the edited rows.
    const checked = await verify(data);
    expect(checked.status).toBe(1);
    expect(checked.stderr).toMatch(/not covered by any signed checkpoint/);
    expect(checked.stderr).not.toContain('signed along with the forgery?');
  }, 120_000);
});

describe('witnesses', () => {
  it('the witness file holds every checkpoint the server signed, each validly signed', () => {
    const lines = readFileSync(witness, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Checkpoint);
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.at(-1)!.size).toBe(entries);
    expect(lines.every((c) => verifyCheckpointSignature(c, lines[0]!.publicKey))).toBe(true);
  });

  it('--audit-witness-url receives the checkpoints', async () => {
    const received: Checkpoint[] = [];
    let failFirst = true;
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        // The first POST fails: the server retries.
        if (failFirst) {
          failFirst = false;
          res.writeHead(503).end();
          return;
        }
        received.push(JSON.parse(body) as Checkpoint);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/checkpoints`;
    let server: Server | null = null;
    try {
      const data = path.join(dir, 'data-url');
      server = await startServer(data, { args: ['--cluster', clusterFile, '--policy', path.join(dir, 'policy.yaml'), '--audit-witness-url', url] });
      await createToken(data, 'zoe', 'viewer');
      const latest = await api(server).get<Checkpoint>('/v1/audit/checkpoint');
      expect(latest.status).toBe(200);
      const deadline = Date.now() + 15_000;
      while (!received.some((c) => c.size === latest.body.size) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(received.map((c) => c.size)).toContain(latest.body.size);
      expect(received.every((c) => verifyCheckpointSignature(c, latest.body.publicKey))).toBe(true);
    } finally {
      await server?.stop();
      receiver.close();
    }
  });
});

describe('PostgreSQL with the triggers dropped', () => {
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    cluster = await startPgCluster();
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("a token's role raised from member to admin: verify fails naming it, serve refuses", async () => {
    if (cluster === undefined) throw new Error('no PostgreSQL test cluster (see the error of beforeAll)');
    const database = await cluster.createDatabase();
    const data = tempDir('audit-tamper-pg');
    const server = await startServer(data, { args: ['--database', database, '--cluster', clusterFile, '--policy', path.join(dir, 'policy.yaml')] });
    const created = await cli(['token', 'create', '--data', data, '--database', database, '--user', 'mia', '--role', 'member', '--team', 'applied']);
    expect(created.status, created.stderr).toBe(0);
    expect(await server.stop()).toBe(0);
    expect((await cli(['audit', 'verify', '--data', data, '--database', database])).status).toBe(0);

    const client = new pg.Client({ connectionString: database });
    await client.connect();
    try {
      const triggers = await client.query<{ tgname: string; table: string }>("SELECT tgname, tgrelid::regclass::text AS table FROM pg_trigger WHERE NOT tgisinternal");
      for (const t of triggers.rows) await client.query(`DROP TRIGGER ${t.tgname} ON ${t.table}`);
      await client.query(`UPDATE tokens SET role = 'admin', team = NULL WHERE "user" = 'mia'`);
      await client.query(`UPDATE policy_versions SET text = text || E'\\n# edited' WHERE version = 1`);
    } finally {
      await client.end();
    }
    const run = await cli(['audit', 'verify', '--data', data, '--database', database]);
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/Token t-\S+: its stored role admin \(entry \d+: member\)/);
    expect(run.stderr).toMatch(/Policy version 1: its stored text .* is not the text entry \d+ vouches for/);
    const started = await cli(['serve', '--data', data, '--database', database, '--port', '0'], {}, 30_000);
    expect(started.status, started.stderr).toBe(1);
    expect(started.stderr).toContain('refusing to start');
    expect(started.stderr).toMatch(/Token t-\S+: its stored role admin/);
  });
});
