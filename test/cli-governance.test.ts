// The governance and audit commands of the CLI (docs/governance.md), run as users run them: the
// built `arbiter` (bin/arbiter.js -> dist/) as a child process against one real `arbiter serve`.
// A proposal goes through propose, proposals, proposal show, respond, vote (on the report hash
// fetched automatically), petition and withdraw; an emergency change is rolled back; the audit
// log is proven entry by entry, verified live, exported and verified offline. Then, with the
// server stopped, copies of its data directory are tampered with in SQL (an entry edited, one
// deleted, two swapped, the tail cut off, a checkpoint's signature changed) and so is an export:
// `arbiter audit verify` must exit 1 naming the first bad entry.
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest).
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertDistFresh as assertCliFresh } from './cli-harness.js';
import { api, assertDistFresh, cli, createToken, smallCluster, startServer, stopAllServers, tamperedCopy, tempDir, writeFile, type Server } from './server-harness.js';

const POLICY = `teams:
  - name: research
    guarantee: { h100: 8 }
  - name: applied
    guarantee: { h100: 8 }
`;
/** Moves guarantee from applied to research: applied waits longer in the replay (material). */
const PROPOSED = `teams:
  - name: research
    guarantee: { h100: 12 }
  - name: applied
    guarantee: { h100: 4 }
`;
const EMERGENCY = POLICY.replace(/h100: 8/g, 'h100: 6');
/** Both teams keep the 16 GPUs busy for a while: the workload of the impact analysis. */
const TRACE = ['id,submit,team,gpus,duration', ...Array.from({ length: 40 }, (_, i) => [`r${i},${i * 600},research,4,3600`, `a${i},${i * 600 + 1},applied,4,3600`]).flat()].join('\n');

let server: Server;
let dir: string;
const tokens: Record<string, string> = {};
let policyFile: string;

/** `arbiter ...args --server URL --token <token of user>`. */
const as = (user: string, ...args: string[]) => cli([...args, '--server', server.url, '--token', tokens[user]!]);

interface ProposalBody {
  id: string;
  status: string;
  impact: { hash: string };
  affected: string[];
}

beforeAll(async () => {
  assertDistFresh();
  assertCliFresh(['cli/commands/governance.ts', 'cli/commands/audit.ts', 'governance/audit-log.ts', 'governance/merkle.ts']);
  dir = tempDir('cli-governance');
  const cluster = writeFile(dir, 'cluster.yaml', smallCluster(2, 8));
  policyFile = writeFile(dir, 'policy.yaml', POLICY);
  writeFile(dir, 'proposed.yaml', PROPOSED);
  writeFile(dir, 'emergency.yaml', EMERGENCY);
  writeFile(dir, 'trace.csv', `${TRACE}\n`);
  const data = path.join(dir, 'data');
  server = await startServer(data, { args: ['--cluster', cluster, '--policy', policyFile] });
  tokens['admin'] = server.adminToken;
  const people: [string, string, string?][] = [
    ['alice', 'lead', 'research'],
    ['bob', 'lead', 'applied'],
    ['carol', 'council'],
    ['dave', 'council'],
    ['mia', 'member', 'applied'],
  ];
  for (const [user, role, team] of people) tokens[user] = await createToken(data, user, role, team);
}, 60_000);

afterAll(async () => {
  await stopAllServers();
});

describe('governance commands', () => {
  it('describe every option with its default in --help', async () => {
    const help = async (...args: string[]): Promise<string> => {
      const run = await cli([...args, '--help']);
      expect(run.status, args.join(' ')).toBe(0);
      return run.stdout.replace(/\s+/g, ' '); // help text wraps at the terminal width
    };
    const propose = await help('propose');
    for (const option of ['--policy <file>', '--title', '--rationale', '--alternatives', '--risks', '--rollback', '--trace', '--server', '--token', '--json']) expect(propose).toContain(option);
    expect(propose).toMatch(/--trace[\s\S]*default: the recorded workload/);
    expect(await help('vote')).toMatch(/--report[\s\S]*default: the current report/);
    expect(await help('proposal')).toMatch(/show[\s\S]*amend[\s\S]*withdraw[\s\S]*overrule[\s\S]*rollback/);
    expect(await help('audit', 'verify')).toMatch(/--public-key[\s\S]*default/);
    expect(await help('audit', 'proof')).toMatch(/--size[\s\S]*default: the latest checkpoint/);
  });

  it('refuse a missing policy file with exit 2, naming it', async () => {
    const missing = path.join(dir, 'nope.yaml');
    const run = await as('alice', 'propose', '--policy', missing, '--title', 't', '--rationale', 'r');
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr).toContain(`${missing}: no such file (given as --policy)`);
  });

  it('propose: prints the id, status, class, the impact per team, who must respond and the deadlines', async () => {
    const run = await as('alice', 'propose', '--policy', path.join(dir, 'proposed.yaml'), '--title', 'More for research', '--rationale', 'research waits too long', '--risks', 'applied waits more', '--trace', path.join(dir, 'trace.csv'));
    expect(run.stderr).toBe('');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('proposed p-1: More for research');
    expect(run.stdout).toMatch(/status: consultation\s+class: material/);
    expect(run.stdout).toMatch(/GPU-hours[\s\S]*avg wait[\s\S]*p95 wait[\s\S]*preemptions/);
    expect(run.stdout).toMatch(/before\s*│\s*after\s*│\s*delta/);
    expect(run.stdout).toMatch(/│ applied .*AFFECTED/);
    expect(run.stdout).toMatch(/│ research (?!.*AFFECTED)/);
    expect(run.stdout).toContain('the leads of applied must still respond');
    expect(run.stdout).toMatch(/voting closes: \S+Z \(in 7d\)/);
  });

  it('proposals: a table with id, title, status, class, author, affected and voting closes; --status filters', async () => {
    const run = await as('carol', 'proposals');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/id\s*│ title\s*│ status\s*│ class\s*│ author\s*│ affected\s*│ voting closes/);
    expect(run.stdout).toMatch(/p-1\s*│ More for research\s*│ consultation\s*│ material\s*│ alice\s*│ applied\s*│ \S+Z \(in 7d\)/);
    const voting = await as('carol', 'proposals', '--status', 'voting');
    expect(voting.stdout.trim()).toBe('no proposals with status voting');
    const json = JSON.parse((await as('carol', 'proposals', '--json')).stdout) as { proposals: ProposalBody[] };
    expect(json.proposals.map((p) => p.id)).toEqual(['p-1']);
  });

  it('respond: an objection names its metric; the receipt is checked against the signed checkpoint', async () => {
    const noMetric = await as('bob', 'respond', 'p-1', '--stance', 'object', '--reason', 'we wait');
    expect(noMetric.status, noMetric.stderr).toBe(2);
    expect(noMetric.stderr).toContain('--metric');
    const bad = await as('bob', 'respond', 'p-1', '--stance', 'maybe', '--reason', 'x');
    expect(bad.status, bad.stderr).toBe(2);
    expect(bad.stderr).toContain('--stance: expected consent, object, abstain, got "maybe"');
    const run = await as('bob', 'respond', 'p-1', '--stance', 'object', '--reason', 'our p95 wait rises', '--metric', 'p95Wait');
    expect(run.stderr).toBe('');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('response (object) recorded: p-1 is consultation');
    expect(run.stdout).toMatch(/receipt: audit entry \d+, in the checkpoint of size \d+ signed at \S+Z\n {2}root [0-9a-f]{64}\n {2}inclusion proof: \d+ hashes/);
    expect(run.stdout).toContain("checked here: the checkpoint is signed by the log's key");
  });

  it('vote: the ballot names the current report hash, fetched automatically; a stale hash is refused', async () => {
    const current = (await api(server).get<ProposalBody>('/v1/proposals/p-1')).body.impact.hash;
    expect(current).toMatch(/^[0-9a-f]{64}$/);
    const run = await as('carol', 'vote', 'p-1', '--vote', 'approve', '--reason', 'research needs it');
    expect(run.stderr).toBe('');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`ballot on impact report ${current} (the current report of p-1, revision 0)`);
    expect(run.stdout).toContain('vote (approve) recorded; 1 of 2 council members voted (1 approve, 0 reject, 0 abstain)');
    expect(run.stdout).toMatch(/receipt: audit entry (\d+), in the checkpoint of size (\d+)/);
    const stale = await as('dave', 'vote', 'p-1', '--vote', 'reject', '--reason', 'no', '--report', 'a'.repeat(64));
    expect(stale.status, stale.stderr).toBe(2);
    expect(stale.stderr).toMatch(/^409 conflict: the ballot names impact report a{64}, but the current report is [0-9a-f]{64}/);
    const json = JSON.parse((await as('dave', 'vote', 'p-1', '--vote', 'abstain', '--reason', 'unsure', '--json')).stdout) as ProposalBody & { receipt: { entry: number; proof: string[] } };
    expect(json.receipt.entry).toBeGreaterThan(0);
    expect(json.receipt.proof.every((h) => /^[0-9a-f]{64}$/.test(h))).toBe(true);
  });

  it('petition: a member of an affected team signs', async () => {
    const run = await as('mia', 'petition', 'p-1');
    expect(run.stderr).toBe('');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/signed \(signatures: 1, 1 needed; consultation reopened\)/);
  });

  it('proposal show: header, impact table, responses, objections, votes with tally, petition, blockers, timeline, deadlines', async () => {
    const run = await as('carol', 'proposal', 'show', 'p-1');
    expect(run.status, run.stderr).toBe(0);
    const text = run.stdout;
    expect(text).toContain('p-1: More for research');
    expect(text).toMatch(/status: consultation\s+class: material\s+author: alice/);
    expect(text).toContain('rationale: research waits too long');
    expect(text).toContain('risks: applied waits more');
    expect(text).toMatch(/impact report [0-9a-f]{64}, replaying 80 jobs of/);
    expect(text).toMatch(/Impact per team[\s\S]*before\s*│\s*after\s*│\s*delta[\s\S]*│ applied .*AFFECTED/);
    // waits shown humanly, with a sign on the deltas
    expect(text).toMatch(/│ applied\s*│[^\n]*\d+h[^\n]*│ \+\S/);
    expect(text).toContain('every affected team responded (applied)');
    expect(text).toMatch(/Responses[\s\S]*applied\s*│ object\s*│ bob\s*│ p95Wait\s*│ our p95 wait rises/);
    expect(text).toMatch(/Objections[\s\S]*applied\s*│ p95Wait\s*│ bob\s*│ our p95 wait rises\s*│ OPEN/);
    expect(text).toMatch(/Votes[\s\S]*carol\s*│ approve\s*│ research needs it/);
    expect(text).toContain('2 of 2 council members voted, quorum 66% = 2: met');
    expect(text).toContain('1 approve / 0 reject / 1 abstain; approvals must be more than 50% of votes cast: not met');
    expect(text).toMatch(/Petition\n {2}signatures: 1, 1 needed to reopen consultation \(25% of 2 members of affected teams\); it reopened consultation: mia \(applied\)/);
    expect(text).toMatch(/Blocking approval\n {2}- the comment period ends at/);
    expect(text).toContain('open objection(s) from: applied (p95Wait)');
    expect(text).toMatch(/Deadlines\n {2}voting closes: \S+Z \(in 7d\)/);
    expect(text).toMatch(/Timeline[\s\S]*proposed\s*│ alice[\s\S]*response\.object\s*│ bob[\s\S]*vote\.approve\s*│ carol[\s\S]*petition\.sign\s*│ mia/);
    const missing = await as('carol', 'proposal', 'show', 'p-99');
    expect(missing.status, missing.stderr).toBe(2);
    expect(missing.stderr).toContain('404 not_found: no proposal p-99');
  });

  it('proposal withdraw: the author withdraws, with a receipt', async () => {
    const notAuthor = await as('bob', 'proposal', 'withdraw', 'p-1');
    expect(notAuthor.status, notAuthor.stderr).toBe(2);
    expect(notAuthor.stderr).toContain('403');
    const run = await as('alice', 'proposal', 'withdraw', 'p-1');
    expect(run.stderr).toBe('');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('withdrawn: p-1 is withdrawn');
    expect(run.stdout).toMatch(/receipt: audit entry \d+/);
  });

  it('emergency, policy versions and proposal rollback', async () => {
    const notAdmin = await as('carol', 'emergency', '--policy', path.join(dir, 'emergency.yaml'), '--title', 't', '--rationale', 'r');
    expect(notAdmin.status, notAdmin.stderr).toBe(2);
    expect(notAdmin.stderr).toMatch(/role council may not declare an emergency change \(allowed: admin/);
    const run = await as('admin', 'emergency', '--policy', path.join(dir, 'emergency.yaml'), '--title', 'Shrink guarantees', '--rationale', 'a node is down');
    expect(run.stderr).toBe('');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('emergency change in force: p-2: Shrink guarantees');
    expect(run.stdout).toMatch(/class: emergency/);
    expect(run.stdout).toMatch(/ratify by: {5}\S+Z \(in 7d\)/);
    expect(run.stdout).toMatch(/ramp step\s*│ at\s*│ policy version[\s\S]*1 of 1\s*│ \S+Z \(.*ago\)\s*│ 2/);

    const versions = await as('carol', 'policy', 'versions');
    expect(versions.status, versions.stderr).toBe(0);
    expect(versions.stdout).toMatch(/│ 1\s*│\s*│[^\n]*│ system\s*│ -/);
    expect(versions.stdout).toMatch(/│ 2\s*│ yes\s*│[^\n]*│ admin\s*│ p-2 step 1/);

    const rollback = await as('carol', 'proposal', 'rollback', 'p-2', '--rationale', 'the node is back');
    expect(rollback.stderr).toBe('');
    expect(rollback.status, rollback.stderr).toBe(0);
    expect(rollback.stdout).toContain('rolled back (policy version 3 is in force): p-2 is rolled_back');
    const after = await as('carol', 'policy', 'versions', '--json');
    const body = JSON.parse(after.stdout) as { versions: { version: number; inForce: boolean; proposal: string | null; rollback: boolean }[] };
    expect(body.versions.map((v) => [v.version, v.inForce, v.proposal, v.rollback])).toEqual([
      [1, false, null, false],
      [2, false, 'p-2', false],
      [3, true, 'p-2', true],
    ]);
  });
});

describe('audit commands on a live server', () => {
  it('audit proof: an entry is included in the latest checkpoint and in an earlier one', async () => {
    const run = await as('carol', 'audit', 'proof', '2');
    expect(run.stderr).toBe('');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^entry 2 is included in the checkpoint of size (\d+) \(root [0-9a-f]{64}\)/);
    expect(run.stdout).toContain('"kind":"token.create"');
    const { body } = await api(server).get<{ checkpoints: { size: number }[] }>('/v1/audit/checkpoints');
    const earlier = body.checkpoints.find((c) => c.size > 2)!.size;
    const atSize = await as('carol', 'audit', 'proof', '2', '--size', String(earlier));
    expect(atSize.status, atSize.stderr).toBe(0);
    expect(atSize.stdout).toContain(`entry 2 is included in the checkpoint of size ${earlier}`);
    const wrongKey = await as('carol', 'audit', 'proof', '2', '--public-key', Buffer.alloc(32, 7).toString('base64'));
    expect(wrongKey.status, wrongKey.stderr).toBe(1);
    expect(wrongKey.stderr).toContain('does not carry a valid signature');
    const beyond = await as('carol', 'audit', 'proof', '100000');
    expect(beyond.status, beyond.stderr).not.toBe(0);
  });

  it('audit verify --data works while the server runs', async () => {
    const run = await cli(['audit', 'verify', '--data', server.data]);
    expect(run.stderr).toBe('');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ok: \d+ entries, \d+ checkpoints, root [0-9a-f]{64}\n/);
  });

  it('audit export writes a folder that audit verify --export checks offline; a tampered line is named', async () => {
    const out = path.join(dir, 'export');
    const run = await as('carol', 'audit', 'export', out);
    expect(run.stderr).toBe('');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^exported (\d+) entries and (\d+) checkpoints from http/);
    expect(readdirSync(out).sort()).toEqual(['README.txt', 'checkpoints.json', 'entries.jsonl', 'leaf-hashes.txt', 'public-key.txt']);
    expect(readFileSync(path.join(out, 'README.txt'), 'utf8')).toContain('arbiter audit verify --export');
    const lines = readFileSync(path.join(out, 'entries.jsonl'), 'utf8').trimEnd().split('\n');
    lines.forEach((line, i) => expect((JSON.parse(line) as { seq: number }).seq).toBe(i + 1));

    const verified = await cli(['audit', 'verify', '--export', out]);
    expect(verified.stderr).toBe('');
    expect(verified.status, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(new RegExp(`^ok: ${lines.length} entries`));

    // Pinned out of band: the right key passes, another one fails.
    const key = readFileSync(path.join(out, 'public-key.txt'), 'utf8').trim();
    expect((await cli(['audit', 'verify', '--export', out, '--public-key', key])).status).toBe(0);
    const other = await cli(['audit', 'verify', '--export', out, '--public-key', Buffer.alloc(32, 9).toString('base64')]);
    expect(other.status, other.stderr).toBe(1);
    expect(other.stderr).toContain('was signed by another key');

    // Refuses to write into a folder that is not empty.
    const again = await as('carol', 'audit', 'export', out);
    expect(again.status, again.stderr).toBe(2);
    expect(again.stderr).toContain('exists and is not empty');

    // One line edited in a copy.
    const tampered = path.join(dir, 'export-tampered');
    cpSync(out, tampered, { recursive: true });
    const edited = lines.map((line, i) => (i === 4 ? line.replace(/"reason":"[^"]*"/, '"reason":"nothing happened"') : line));
    expect(edited[4]).not.toBe(lines[4]);
    writeFileSync(path.join(tampered, 'entries.jsonl'), `${edited.join('\n')}\n`);
    const bad = await cli(['audit', 'verify', '--export', tampered]);
    expect(bad.status, bad.stderr).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^FAILED: the audit log in export \S+ does not verify \(\d+ problems?\); first bad entry: 4\n/);
    expect(bad.stderr).toContain('Entry 4 was edited');

    // Without leaf-hashes.txt (optional) the checkpoints still catch it.
    const bare = path.join(dir, 'export-bare');
    mkdirSync(bare);
    for (const name of ['entries.jsonl', 'checkpoints.json', 'public-key.txt']) cpSync(path.join(tampered, name), path.join(bare, name));
    const bareRun = await cli(['audit', 'verify', '--export', bare]);
    expect(bareRun.status, bareRun.stderr).toBe(1);
    expect(bareRun.stderr).toMatch(/first bad entry: \d+/);
  });
});

describe('audit verify --data on a stopped server, tampered with in SQL', () => {
  let pristine: string;
  let entries: number;
  let sizes: number[];

  /** A copy of the data directory with `sql` applied to its database. */
  const tampered = (name: string, sql: string): string => tamperedCopy(pristine, dir, name, sql);

  const verify = (data: string) => cli(['audit', 'verify', '--data', data]);

  beforeAll(async () => {
    await server.stop();
    pristine = server.data;
    const db = new Database(path.join(pristine, 'arbiter.db'), { readonly: true });
    try {
      entries = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
      sizes = (db.prepare('SELECT size FROM audit_checkpoints ORDER BY id').all() as { size: number }[]).map((r) => r.size);
    } finally {
      db.close();
    }
    expect(entries).toBeGreaterThan(10);
  });

  it('verifies the untouched log, and exports it from the data directory', async () => {
    const run = await verify(pristine);
    expect(run.stderr).toBe('');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`ok: ${entries} entries, ${sizes.length} checkpoints, root `);
    const out = path.join(dir, 'export-from-data');
    const exported = await cli(['audit', 'export', out, '--data', pristine]);
    expect(exported.status, exported.stderr).toBe(0);
    expect((await cli(['audit', 'verify', '--export', out])).stdout).toContain(`ok: ${entries} entries`);
  });

  it('exits 2 for a missing data directory or database', async () => {
    const none = await verify(path.join(dir, 'no-such-dir'));
    expect(none.status, none.stderr).toBe(2);
    expect(none.stderr).toContain('no-such-dir: no such folder (given as --data)');
    const empty = path.join(dir, 'empty-data');
    mkdirSync(empty);
    const noDb = await verify(empty);
    expect(noDb.status, noDb.stderr).toBe(2);
    expect(noDb.stderr).toContain(`${path.join(empty, 'arbiter.db')}: no such file`);
    expect(existsSync(path.join(empty, 'arbiter.db'))).toBe(false);
    const neither = await cli(['audit', 'verify']);
    expect(neither.status, neither.stderr).toBe(2);
  });

  it('names an entry edited in SQL', async () => {
    const run = await verify(tampered('edited', "DROP TRIGGER events_no_update; UPDATE events SET reason = 'x' WHERE seq = 3"));
    expect(run.status, run.stderr).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^FAILED: .* first bad entry: 2\n/);
    expect(run.stderr).toContain('Entry 2 was edited');
  });

  it('names an entry deleted in SQL', async () => {
    // The first entry after a checkpoint: every entry before it is proven by that checkpoint.
    const index = sizes.find((s) => s > 2 && s < entries - 2)!;
    const run = await verify(tampered('deleted', `DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = ${index + 1}`));
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^FAILED: .* first bad entry: ${index}\\n`));
    expect(run.stderr).toContain(`Entry ${index} is missing (deleted?)`);
  });

  it('names the first of two swapped entries', async () => {
    const run = await verify(
      tampered(
        'swapped',
        `DROP TRIGGER events_no_update;
         CREATE TEMP TABLE s AS SELECT * FROM events WHERE seq IN (5, 7);
         UPDATE events SET at = (SELECT at FROM s WHERE seq = 7), actor = (SELECT actor FROM s WHERE seq = 7), kind = (SELECT kind FROM s WHERE seq = 7), subject = (SELECT subject FROM s WHERE seq = 7), reason = (SELECT reason FROM s WHERE seq = 7), data = (SELECT data FROM s WHERE seq = 7) WHERE seq = 5;
         UPDATE events SET at = (SELECT at FROM s WHERE seq = 5), actor = (SELECT actor FROM s WHERE seq = 5), kind = (SELECT kind FROM s WHERE seq = 5), subject = (SELECT subject FROM s WHERE seq = 5), reason = (SELECT reason FROM s WHERE seq = 5), data = (SELECT data FROM s WHERE seq = 5) WHERE seq = 7;`,
      ),
    );
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/^FAILED: .* first bad entry: 4\n/);
    expect(run.stderr).toContain('Entry 4 was edited');
    expect(run.stderr).toContain('Entry 6 was edited');
  });

  it('names the first entry cut off the tail', async () => {
    const run = await verify(tampered('truncated', `DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq > ${entries - 2}`));
    expect(run.status, run.stderr).toBe(1);
    // The rows the cut entries vouched for no longer match what is left, so an earlier entry may come first.
    expect(run.stderr).toMatch(/^FAILED: .* first bad entry: \d+\n/);
    expect(run.stderr).toContain(`entry ${entries - 2}: The log was truncated`);
    expect(run.stderr).toContain(`only ${entries - 2} are stored`);
  });

  it('names a checkpoint whose signature was changed', async () => {
    const run = await verify(
      tampered('signature', "DROP TRIGGER audit_checkpoints_no_update; UPDATE audit_checkpoints SET signature = 'AAAA' || substr(signature, 5) WHERE id = 2"),
    );
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/^FAILED: .* first bad checkpoint: 1\n/);
    expect(run.stderr).toContain('Checkpoint 1 (size');
    expect(run.stderr).toContain('has an invalid signature');
  });
});
