// Webhooks (docs/webhooks.md) against local receivers: signatures verify, a receiver that is
// down gets retries, a full queue drops its oldest, and on a real server a preemption reaches
// the webhooks of the victim's team while a receiver that never answers delays no pass.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { backoff, readWebhookConfig, WebhookNotifier, type WebhookConfig, type WebhookEndpoint } from '../src/server/webhooks.js';
import { notifyProposal, withinTree } from '../src/server/notifications.js';
import type { Proposal } from '../src/governance/lifecycle.js';
import { existsSync } from 'node:fs';
import { api, assertDistFresh, runServeExpectingExit, startServer, stopAllServers, tempDir, waitFor, writeFile } from './server-harness.js';

interface Received {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A receiver on loopback; `hold` keeps requests unanswered until release(). */
async function receiver(options: { port?: number; hold?: boolean; status?: number } = {}): Promise<{ url: string; port: number; got: Received[]; release: () => void; close: () => Promise<void> }> {
  const got: Received[] = [];
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      if (options.hold) held.push(res);
      else res.writeHead(options.status ?? 204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    got,
    release: () => held.splice(0).forEach((r) => r.writeHead(204).end()),
    close: () =>
      new Promise<void>((resolve) => {
        held.splice(0).forEach((r) => r.destroy());
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function freePort(): Promise<number> {
  const r = await receiver();
  await r.close();
  return r.port;
}

/** Verifies a delivery as a receiver should: HMAC-SHA256 of "<timestamp>.<body>", compared in constant time. */
function verified(secret: string, r: Received): boolean {
  const ts = String(r.headers['x-arbiter-timestamp']);
  const sig = String(r.headers['x-arbiter-signature']);
  const want = `sha256=${createHmac('sha256', secret).update(`${ts}.${r.body}`).digest('hex')}`;
  return sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want));
}

const SECRET = 'a-secret-of-at-least-16-chars';
const TEAMS = [
  { name: 'research', guarantee: {}, limit: {}, lendable: {}, weight: 1, children: [{ name: 'pretraining', guarantee: {}, limit: {}, lendable: {}, weight: 1, children: [] }] },
  { name: 'applied', guarantee: {}, limit: {}, lendable: {}, weight: 1, children: [] },
];
const endpoint = (name: string, url: string, more: Partial<WebhookEndpoint> = {}): WebhookEndpoint => ({ name, url, secret: SECRET, format: 'json', teams: null, events: null, ...more });
const config = (endpoints: WebhookEndpoint[], more: Partial<WebhookConfig> = {}): WebhookConfig => ({ endpoints, queueLimit: 100, maxAttempts: 8, timeout: 10, waitingGrace: 10, ...more });
const quiet = { warn: () => undefined };

describe('WebhookNotifier against local receivers', () => {
  const cleanup: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  const notifier = (c: WebhookConfig): WebhookNotifier => {
    const n = new WebhookNotifier({ config: c, within: (t, a) => withinTree(TEAMS, t, a), logger: quiet });
    cleanup.push(() => n.close());
    return n;
  };
  const event = (teams: string[]) => ({ type: 'job.preempted' as const, teams, text: `a job of ${teams.join(', ')} was preempted`, data: { job: { id: 'j-1' } } });

  it('signs every body (HMAC-SHA256 over timestamp and body), routes by team subtree and event, and speaks Slack', async () => {
    const all = await receiver();
    const research = await receiver();
    const slack = await receiver();
    cleanup.push(all.close, research.close, slack.close);
    const n = notifier(
      config([
        endpoint('all', all.url),
        endpoint('research', research.url, { teams: ['research'] }),
        endpoint('slack', slack.url, { format: 'slack', events: ['job.preempted'] }),
      ]),
    );
    n.notify(event(['pretraining']));
    n.notify(event(['applied']));
    n.notify({ type: 'governance.due', teams: [], text: 'vote', data: {} });
    await waitFor(() => all.got.length === 3 && research.got.length === 1 && slack.got.length === 2, 'the deliveries', 5000);
    for (const r of [...all.got, ...research.got, ...slack.got]) {
      expect(verified(SECRET, r)).toBe(true);
      expect(Number(r.headers['x-arbiter-timestamp'])).toBeGreaterThan(Date.now() / 1000 - 60);
      expect(r.headers['content-type']).toBe('application/json');
    }
    expect(verified('another-secret-of-16-chars', all.got[0]!)).toBe(false);
    // A body changed in transit no longer verifies.
    expect(verified(SECRET, { ...all.got[0]!, body: all.got[0]!.body.replace('j-1', 'j-2') })).toBe(false);
    const first = JSON.parse(all.got[0]!.body) as Record<string, unknown>;
    expect(first).toMatchObject({ type: 'job.preempted', teams: ['pretraining'], text: 'a job of pretraining was preempted', data: { job: { id: 'j-1' } } });
    expect(first.id).toBe(all.got[0]!.headers['x-arbiter-delivery']);
    expect(all.got.map((r) => r.headers['x-arbiter-event'])).toEqual(['job.preempted', 'job.preempted', 'governance.due']);
    expect((JSON.parse(research.got[0]!.body) as { teams: string[] }).teams).toEqual(['pretraining']);
    expect(slack.got.map((r) => JSON.parse(r.body) as unknown)).toEqual([{ text: 'a job of pretraining was preempted' }, { text: 'a job of applied was preempted' }]);
    await waitFor(() => n.stats().outcomes.get('all')?.delivered === 3, 'the deliveries counted', 2000);
    expect(n.stats().outcomes.get('all')).toEqual({ delivered: 3, failed: 0, dropped: 0, retried: 0 });
  });

  it('a receiver that is down gets retries with backoff until it answers; one that stays down is given up after maxAttempts', async () => {
    expect([1, 2, 3, 4, 10].map(backoff)).toEqual([1, 2, 4, 8, 300]);
    const port = await freePort();
    const n = notifier(config([endpoint('late', `http://127.0.0.1:${port}/hook`)]));
    n.notify(event(['applied']));
    await waitFor(() => (n.stats().outcomes.get('late')?.retried ?? 0) >= 1, 'a failed first attempt', 5000);
    const late = await receiver({ port });
    cleanup.push(late.close);
    await waitFor(() => late.got.length === 1, 'the retried delivery', 10_000);
    expect(Number(late.got[0]!.headers['x-arbiter-attempt'])).toBeGreaterThanOrEqual(2);
    expect(verified(SECRET, late.got[0]!)).toBe(true);
    await waitFor(() => n.stats().outcomes.get('late')?.delivered === 1, 'delivered counted', 2000);

    const failing = await receiver({ status: 503 });
    cleanup.push(failing.close);
    const m = notifier(config([endpoint('down', failing.url)], { maxAttempts: 2 }));
    m.notify(event(['applied']));
    await waitFor(() => m.stats().outcomes.get('down')?.failed === 1, 'given up after 2 attempts', 8000);
    expect(failing.got.map((r) => r.headers['x-arbiter-attempt'])).toEqual(['1', '2']);
    expect(m.stats().queued.get('down')).toBe(0);
  });

  it('a receiver that never answers holds only its own queue, which is bounded: the oldest deliveries are dropped', async () => {
    const slow = await receiver({ hold: true });
    const fast = await receiver();
    cleanup.push(slow.close, fast.close);
    const n = notifier(config([endpoint('slow', slow.url), endpoint('fast', fast.url)], { queueLimit: 3, timeout: 30 }));
    for (let i = 0; i < 10; i++) n.notify(event(['applied']));
    // Each queue keeps 3 (the one in flight and the newest two): the fast receiver gets the
    // first and the last two; the slow one holds the first, and its queue stays full.
    await waitFor(() => fast.got.length === 3 && n.stats().outcomes.get('fast')?.delivered === 3, 'the fast receiver to get three', 5000);
    expect(slow.got.length).toBe(1); // one in flight, unanswered
    let stats = n.stats();
    expect(stats.queued.get('slow')).toBe(3);
    expect(stats.outcomes.get('slow')?.dropped).toBe(7);
    expect(stats.outcomes.get('fast')).toEqual({ delivered: 3, failed: 0, dropped: 7, retried: 0 });
    // Later events still reach the fast receiver at once.
    n.notify(event(['research']));
    await waitFor(() => fast.got.length === 4 && n.stats().outcomes.get('fast')?.delivered === 4, 'a later event', 5000);
    stats = n.stats();
    expect(stats.outcomes.get('slow')?.dropped).toBe(8);
    expect(slow.got.length).toBe(1);
  });
});

describe('governance notifications', () => {
  it('a new proposal tells the teams it affects with the response deadline; entering voting tells that a vote is due', () => {
    const sent: { type: string; teams: readonly string[]; text: string }[] = [];
    const fake = { notify: (e: { type: string; teams: readonly string[]; text: string }) => sent.push(e) } as unknown as WebhookNotifier;
    const p = {
      id: 'p-1',
      title: 'More H100 for evals',
      author: 'alice',
      emergency: false,
      status: 'consultation',
      revision: 0,
      report: { hash: 'h', class: 'material', affected: ['research', 'pretraining'] },
      deadlines: { votingCloses: 1_800_000_000, quorumReachedAt: null, extended: false, approvedAt: null, enforceAt: null, ratifyBy: null },
    } as unknown as Proposal;
    notifyProposal(fake, p, null);
    notifyProposal(fake, p, 'consultation'); // a step that changes no status: nothing new
    notifyProposal(fake, { ...p, status: 'voting' }, 'consultation');
    expect(sent.map((e) => [e.type, e.teams])).toEqual([
      ['proposal.affects_team', ['research', 'pretraining']],
      ['governance.due', ['research', 'pretraining']],
    ]);
    expect(sent[0]!.text).toBe('Proposal p-1 "More H100 for evals" by alice affects research, pretraining (material change). Leads of the affected teams respond before 2027-01-15T08:00:00.000Z: `arbiter proposal show p-1`.');
    expect(sent[1]!.text).toMatch(/open for the council's vote until 2027-01-15T08:00:00.000Z/);
  });
});

describe('the configuration file', () => {
  it('names every problem with its field', () => {
    const r = readWebhookConfig(
      'webhooks:\n  - { name: a, url: ftp://x, secret: short }\n  - { name: a, url: "http://x", secret: a-secret-of-at-least-16-chars, teams: [nobody], events: [job.exploded] }\n',
      'webhooks.yaml',
      new Set(['research']),
    );
    expect('problems' in r && r.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^webhooks.yaml: webhooks.0.url: an http:\/\/ or https:\/\/ URL/),
        expect.stringMatching(/^webhooks.yaml: webhooks.0.secret: at least 16 characters/),
        expect.stringMatching(/^webhooks.yaml: webhooks.1.events.0: /),
      ]),
    );
    const teams = readWebhookConfig('webhooks:\n  - { name: a, url: "http://x", secret: a-secret-of-at-least-16-chars, teams: [nobody] }\n', 'w.yaml', new Set(['research']));
    expect('problems' in teams && teams.problems).toEqual(['w.yaml: webhooks.0.teams: unknown team "nobody"; teams: research']);
  });

  it('serve with a bad file stops before it stores anything (exit 2, every problem named)', async () => {
    assertDistFresh();
    const dir = tempDir('arbiter-webhooks-');
    const file = writeFile(dir, 'webhooks.yaml', 'webhooks:\n  - { name: a, url: ftp://x, secret: short }\n');
    const run = await runServeExpectingExit(path.join(dir, 'data'), ['--webhooks', file]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`${file}: webhooks.0.url: an http:// or https:// URL`);
    expect(run.stderr).toContain(`${file}: webhooks.0.secret: at least 16 characters`);
    expect(existsSync(path.join(dir, 'data'))).toBe(false);
  });
});

describe('a real server', () => {
  afterAll(stopAllServers);

  it('a preemption reaches the webhooks of the victim team, signed, with who and why; a receiver that never answers delays no pass', async () => {
    assertDistFresh();
    const all = await receiver();
    const alpha = await receiver();
    const beta = await receiver();
    const slow = await receiver({ hold: true });
    try {
      const dir = tempDir('arbiter-webhooks-');
      const cluster = writeFile(dir, 'cluster.yaml', 'pools:\n  - { name: p, flavor: gpu, nodes: 2, gpusPerNode: 8 }\n');
      const policy = writeFile(dir, 'policy.yaml', 'preemption: { minRuntime: 1s }\nteams:\n  - { name: alpha, guarantee: { gpu: 8 } }\n  - { name: beta, guarantee: { gpu: 8 } }\n');
      const secretFile = writeFile(dir, 'secret', `${SECRET}\n`);
      const hooks = writeFile(
        dir,
        'webhooks.yaml',
        [
          'timeout: 60',
          'webhooks:',
          `  - { name: all, url: "${all.url}", secretFile: ${JSON.stringify(secretFile)} }`,
          `  - { name: alpha, url: "${alpha.url}", secret: ${SECRET}, teams: [alpha], format: slack }`,
          `  - { name: beta, url: "${beta.url}", secret: ${SECRET}, teams: [beta] }`,
          `  - { name: slow, url: "${slow.url}", secret: ${SECRET} }`,
          '',
        ].join('\n'),
      );
      const server = await startServer(path.join(dir, 'data'), { args: ['--cluster', cluster, '--policy', policy, '--webhooks', hooks] });
      const client = api(server);
      // alpha borrows the whole fleet; beta then asks for its guarantee: reclaim after minRuntime.
      for (const name of ['a1', 'a2']) expect((await client.post('/v1/jobs', { team: 'alpha', gpus: 8, duration: 3600, name })).status).toBe(201);
      expect((await client.post('/v1/jobs', { team: 'beta', gpus: 8, duration: 3600, name: 'b1' })).status).toBe(201);
      await waitFor(() => all.got.some((r) => r.headers['x-arbiter-event'] === 'job.preempted'), 'the preemption webhook', 15_000);
      const delivery = all.got.find((r) => r.headers['x-arbiter-event'] === 'job.preempted')!;
      expect(verified(SECRET, delivery)).toBe(true);
      const body = JSON.parse(delivery.body) as { teams: string[]; text: string; data: { job: { team: string; name: string }; by: { team: string; name: string }; cause: string } };
      expect(body.teams).toEqual(['alpha']);
      expect(body.data).toMatchObject({ job: { team: 'alpha' }, by: { team: 'beta', name: 'b1' }, cause: 'reclaim' });
      expect(body.data.job.name).toMatch(/^a[12]$/);
      expect(body.text).toMatch(/was preempted by job j-3 of team beta .*took back its guarantee/);
      await waitFor(() => alpha.got.length === 1, "alpha's Slack webhook", 5000);
      expect(JSON.parse(alpha.got[0]!.body)).toEqual({ text: body.text });
      expect(verified(SECRET, alpha.got[0]!)).toBe(true);
      expect(beta.got).toEqual([]); // beta's job was not preempted
      // The slow receiver holds its first delivery (the preemption) and answers nothing; passes go on.
      expect(slow.got.length).toBe(1);
      const start = await client.post<{ status: string }>('/v1/jobs', { team: 'beta', gpus: 0 + 8, duration: 60, name: 'b2' });
      expect(start.status).toBe(201);
      const cancel = await client.post<{ status: string }>('/v1/jobs/j-3/cancel', {});
      expect(cancel.status).toBe(200);
      await waitFor(async () => ((await client.get<{ status: string }>('/v1/jobs/j-4')).body.status === 'running' ? true : null), 'b2 to start while the slow receiver holds its request', 10_000);
      expect(slow.got.length).toBe(1); // still the one request, still unanswered
      const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.adminToken}` } })).text();
      expect(metrics).toMatch(/arbiter_webhook_queue_deliveries\{webhook="slow"\} 1/);
      expect(metrics).toMatch(/arbiter_webhook_deliveries_total\{webhook="all",outcome="delivered"\} [1-9]/);
      await server.stop();
    } finally {
      for (const r of [all, alpha, beta, slow]) await r.close();
    }
  }, 60_000);

  it('a proposal made through the API that affects a team reaches that team\'s webhook, signed, with the response deadline; the other team hears nothing', async () => {
    const alpha = await receiver();
    const beta = await receiver();
    try {
      const dir = tempDir('arbiter-webhooks-');
      const cluster = writeFile(dir, 'cluster.yaml', 'pools:\n  - { name: p, flavor: gpu, nodes: 2, gpusPerNode: 8 }\n');
      const current = 'teams:\n  - { name: alpha, guarantee: { gpu: 8 } }\n  - { name: beta, guarantee: { gpu: 8 } }\n';
      const policy = writeFile(dir, 'policy.yaml', current);
      const hooks = writeFile(
        dir,
        'webhooks.yaml',
        [
          'webhooks:',
          `  - { name: alpha, url: "${alpha.url}", secret: ${SECRET}, teams: [alpha], events: [proposal.affects_team, governance.due] }`,
          `  - { name: beta, url: "${beta.url}", secret: ${SECRET}, teams: [beta], events: [proposal.affects_team, governance.due] }`,
          '',
        ].join('\n'),
      );
      const server = await startServer(path.join(dir, 'data'), { args: ['--cluster', cluster, '--policy', policy, '--webhooks', hooks] });
      // Both teams keep the 16 GPUs busy; the proposal moves 4 of beta's guarantee to alpha.
      const trace = ['id,submit,team,gpus,duration', ...Array.from({ length: 40 }, (_, i) => [`a${i},${i * 600},alpha,4,3600`, `b${i},${i * 600 + 1},beta,4,3600`]).flat(), ''].join('\n');
      const proposed = current.replace('alpha, guarantee: { gpu: 8 }', 'alpha, guarantee: { gpu: 12 }').replace('beta, guarantee: { gpu: 8 }', 'beta, guarantee: { gpu: 4 }');
      const made = await api(server).post<{ id: string; affected: string[] }>('/v1/proposals', { title: 'More for alpha', rationale: 'alpha waits', policy: proposed, trace });
      expect(made.status, made.text).toBe(201);
      expect(made.body.affected).toEqual(['beta']);
      await waitFor(() => beta.got.length >= 1, "beta's webhook", 15_000);
      const delivery = beta.got[0]!;
      expect(verified(SECRET, delivery)).toBe(true);
      const body = JSON.parse(delivery.body) as { type: string; teams: string[]; text: string; data: { proposal: { id: string; affected: string[] }; deadline: string | null } };
      expect(body).toMatchObject({ type: 'proposal.affects_team', teams: ['beta'], data: { proposal: { id: made.body.id, affected: ['beta'] } } });
      expect(body.data.deadline).toMatch(/^\d{4}-\d{2}-\d{2}T/);
      expect(body.text).toContain(`arbiter proposal show ${made.body.id}`);
      await new Promise((r) => setTimeout(r, 1000));
      expect(alpha.got).toEqual([]);
      await server.stop();
    } finally {
      await alpha.close();
      await beta.close();
    }
  }, 90_000);

  it('a job waiting inside its guarantee longer than minRuntime is told to its team once', async () => {
    const beta = await receiver();
    try {
      const dir = tempDir('arbiter-webhooks-');
      const cluster = writeFile(dir, 'cluster.yaml', 'pools:\n  - { name: p, flavor: gpu, nodes: 2, gpusPerNode: 8 }\n');
      const policy = writeFile(dir, 'policy.yaml', 'preemption: { minRuntime: 1s }\nteams:\n  - { name: alpha, guarantee: { gpu: 8 } }\n  - { name: beta, guarantee: { gpu: 8 }, limit: { gpu: 16 } }\n');
      const hooks = writeFile(dir, 'webhooks.yaml', `waitingGrace: 0\nwebhooks:\n  - { name: beta, url: "${beta.url}", secret: ${SECRET}, teams: [beta], events: [job.waiting] }\n`);
      const server = await startServer(path.join(dir, 'data'), { args: ['--cluster', cluster, '--policy', policy, '--webhooks', hooks] });
      const client = api(server);
      // beta's 16-GPU job reserves the idle node; its 4-GPU job, inside the guarantee, waits behind it.
      for (const [team, gpus] of [['alpha', 8], ['beta', 16], ['beta', 4]] as const) expect((await client.post('/v1/jobs', { team, gpus, duration: 3600 })).status).toBe(201);
      await waitFor(() => beta.got.length === 1, 'the waiting notification', 15_000);
      const body = JSON.parse(beta.got[0]!.body) as { type: string; data: { job: { id: string }; waitedSeconds: number; reasonCode: string } };
      expect(body).toMatchObject({ type: 'job.waiting', data: { job: { id: 'j-3' }, reasonCode: 'ReservedForOtherJob' } });
      expect(verified(SECRET, beta.got[0]!)).toBe(true);
      await new Promise((r) => setTimeout(r, 4500)); // two more watches: told once per wait
      expect(beta.got.length).toBe(1);
      await server.stop();
    } finally {
      await beta.close();
    }
  }, 60_000);
});
