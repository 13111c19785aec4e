// The dashboard (docs/dashboard.md) in a real browser: Debian's Chromium (/usr/bin/chromium)
// driven by playwright-core, against a real `arbiter serve` (the built command, the demo lab's
// fleet with a policy whose minRuntime is 0, so a reclaim happens at once) fed by the first rows
// of the lab's trace replayed through the API. Each view must show the numbers the API gives,
// each role only its actions (and the server refuses the others), a job submitted through the
// API must reach an open queue page within a second, and no page may log a console error,
// request another host, or have a serious accessibility violation (axe-core). The screenshots
// in docs/dashboard/ are taken here, only with ARBITER_SCREENSHOTS=1 (so that a test run leaves
// the tree clean; the browser still renders every view).
// Chromium missing is a failure, not a skip: CI (.ci/run) installs the `chromium` package.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, assertDistFresh, createToken, repoRoot, startServer, stopAllServers, tempDir, tokenBook, waitFor, writeFile } from './server-harness.js';
import type { Api, Server } from './server-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(repoRoot, 'docs', 'dashboard');
/** Rewrite docs/dashboard/*.png: only when asked, never on an ordinary test run. */
const SCREENSHOTS = process.env['ARBITER_SCREENSHOTS'] === '1';
const AXE = readFileSync(path.join(repoRoot, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
/** Rows of examples/lab/trace.csv replayed (all at once: the queue fills past one page). */
const REPLAYED = 160;

interface Job {
  id: string;
  team: string;
  status: string;
  submittedBy: string;
  preemptions: number;
  reason: { code: string; message: string } | null;
}
interface QueuePage {
  jobs: Job[];
  total: number;
  pending: number;
}
interface FlavorState {
  guarantee: number;
  limit: number | null;
  usage: number;
  borrowed: number;
  pending: number;
}
interface Team {
  name: string;
  flavors: Record<string, FlavorState>;
  fairShare: { standing: number };
  children: Team[];
}

let server: Server;
let a: Api;
let context: BrowserContext;
const { tokens, tok } = tokenBook();
/** The borrower preempted by `reclaimer` (a pretraining job within its guarantee). */
let victim: string;
let reclaimer: string;

const as = (who: string): Api => api({ url: server.url, adminToken: tok(who) });

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: the dashboard's browser test needs Debian's chromium package (apt-get install -y --no-install-recommends chromium; .ci/run installs it). It is not skipped on purpose.`);
  }
  assertDistFresh();
  if (!existsSync(path.join(repoRoot, 'web', 'dist', 'index.html'))) throw new Error('web/dist is not built: run `npm run build:web` (npm install and npm test do)');
  const dir = tempDir('dashboard');
  const lab = path.join(repoRoot, 'examples', 'lab');
  // The lab's policy with runs unprotected (minRuntime 0): a reclaim preempts at once.
  const policy = readFileSync(path.join(lab, 'policy.yaml'), 'utf8').replace('minRuntime: 10m', 'minRuntime: 0');
  const data = path.join(dir, 'data');
  server = await startServer(data, { args: ['--cluster', path.join(lab, 'cluster.yaml'), '--policy', writeFile(dir, 'policy.yaml', policy)], timeoutMs: 30_000 });
  tokens['admin'] = server.adminToken;
  a = api(server);
  for (const [user, role, team] of [
    ['vera', 'viewer', undefined],
    ['eve', 'member', 'evals'],
    ['pat', 'member', 'pretraining'],
    ['lena', 'lead', 'research'],
    ['cora', 'council', undefined],
  ] as const) {
    tokens[user] = await createToken(data, user, role, team);
  }
  // Evals borrows every H100 (8 at a time, opportunistic), eve's jobs among them ...
  for (let i = 0; i < 24; i++) {
    const r = await as(i < 3 ? 'eve' : 'admin').post<Job>('/v1/jobs', { team: 'evals', gpus: 8, class: 'opportunistic', flavor: 'h100', duration: 86_400, name: `borrow-${i}` });
    expect(r.status, r.text).toBe(201);
  }
  // ... then pretraining asks for 8 within its guarantee: a borrower is preempted for it.
  reclaimer = (await as('pat').post<Job>('/v1/jobs', { team: 'pretraining', gpus: 8, class: 'training', flavor: 'h100', duration: 86_400, name: 'reclaim' })).body.id;
  await waitFor(async () => (await a.get<Job>(`/v1/jobs/${reclaimer}`)).body.status === 'running', 'the reclaim to start');
  const preempted = await waitFor(async () => (await a.get<{ jobs: Job[] }>('/v1/jobs?team=evals&limit=100')).body.jobs.find((j) => j.preemptions > 0 && j.submittedBy === 'admin'), 'a preempted borrower');
  victim = preempted.id;
  // The replay: the first rows of the lab's trace, submitted through the API.
  const rows = readFileSync(path.join(lab, 'trace.csv'), 'utf8').trim().split('\n').slice(1, REPLAYED + 1);
  for (const line of rows) {
    const [id, , team, gpus, duration, cls, flavor, limit] = line.split(',');
    const r = await a.post('/v1/jobs', { team, gpus: Number(gpus), duration: Number(duration), name: id, ...(cls ? { class: cls } : {}), ...(flavor ? { flavor } : {}), ...(limit ? { timeLimit: Number(limit) } : {}) });
    expect([201, 400]).toContain(r.status);
  }
  if (SCREENSHOTS) mkdirSync(SHOTS, { recursive: true });
  context = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  await stopAllServers();
});

interface Opened {
  readonly page: Page;
  /** Requests to any other origin than the server's (each one is a failure). */
  readonly foreign: string[];
  /** Console errors and uncaught exceptions. */
  readonly errors: string[];
}

/** Opens `route` signed in as `who` (the token in sessionStorage, as the sign-in form leaves it). */
async function open(route: string, who: string | null): Promise<Opened> {
  const page = await context.newPage();
  const origin = new URL(server.url).origin;
  const foreign: string[] = [];
  const errors: string[] = [];
  await page.route('**/*', async (r) => {
    if (new URL(r.request().url()).origin === origin) return r.continue();
    foreign.push(r.request().url());
    return r.abort();
  });
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  if (who !== null) await page.addInitScript(`sessionStorage.setItem('arbiter.token', ${JSON.stringify(tok(who))})`);
  await page.goto(`${server.url}${route}`);
  return { page, foreign, errors };
}

/** axe-core's serious and critical violations (run through the devtools protocol: the page's CSP allows no inline script). */
async function accessibility(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const found = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (o: object) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const result = await axe.run({ resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, where: v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)) }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.where.join(' ')}`);
}

/** What every view must hold to: nothing foreign, no error, no serious violation; then its screenshot (ARBITER_SCREENSHOTS=1). */
async function clean(opened: Opened, shot: string): Promise<void> {
  expect(await accessibility(opened.page)).toEqual([]);
  expect(opened.foreign).toEqual([]);
  expect(opened.errors).toEqual([]);
  // Without ARBITER_SCREENSHOTS=1 the page is still rendered to an image (a broken render fails
  // here too), but nothing is written.
  await opened.page.screenshot(SCREENSHOTS ? { path: path.join(SHOTS, `${shot}.png`) } : {});
}

/** data-col -> text of each cell. */
async function cellsOf(cells: Locator): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (let i = 0; i < (await cells.count()); i++) out[(await cells.nth(i).getAttribute('data-col')) ?? '?'] = ((await cells.nth(i).textContent()) ?? '').trim();
  return out;
}

/** The job ids of the queue table, in order. */
async function jobIds(page: Page): Promise<string[]> {
  const rows = page.locator('tr[data-job]');
  const ids: string[] = [];
  for (let i = 0; i < (await rows.count()); i++) ids.push((await rows.nth(i).getAttribute('data-job')) ?? '?');
  return ids;
}

function flat(teams: Team[], out: Team[] = []): Team[] {
  for (const t of teams) {
    out.push(t);
    flat(t.children, out);
  }
  return out;
}

describe('the dashboard in headless Chromium', () => {
  it('serves the app at / and every /ui/ path (index.html), with a CSP that allows this server only', async () => {
    for (const route of ['/', '/ui/queue', '/ui/jobs/j-1']) {
      const r = await fetch(`${server.url}${route}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/text\/html/);
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
      expect(await r.text()).toMatch(/<div id="app">/);
    }
    expect((await fetch(`${server.url}/assets/nope.js`)).status).toBe(404);
  });

  it('signs in with a pasted token (a wrong one is refused) and shows the teams as the API gives them', async () => {
    const opened = await open('/', null);
    const { page } = opened;
    await page.getByLabel('Token').fill('arb_not_a_token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/unknown or revoked/);
    // Chromium logs the refused requests themselves (who am I, and the team tree read with it); those 401s are the point of this step.
    expect(opened.errors.length).toBeGreaterThan(0);
    expect(new Set(opened.errors)).toEqual(new Set(['console: Failed to load resource: the server responded with a status of 401 (Unauthorized)']));
    opened.errors.length = 0;
    await page.getByLabel('Token').fill(tok('vera'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Teams' }).waitFor();
    expect(await page.evaluate("sessionStorage.getItem('arbiter.token')")).toBe(tok('vera'));
    await expect.poll(() => page.locator('header .who').textContent()).toMatch(/vera · viewer/);
    const teams = flat((await a.get<{ teams: Team[] }>('/v1/teams')).body.teams);
    for (const flavor of ['h100', 'a100']) {
      for (const team of teams) {
        const row = page.locator(`table[data-flavor="${flavor}"] tr[data-team="${team.name}"]`);
        const f = team.flavors[flavor]!;
        const cells = await cellsOf(row.locator('td[data-col]'));
        expect({ team: team.name, flavor, ...cells }).toMatchObject({
          team: team.name,
          flavor,
          guarantee: f.guarantee.toLocaleString('en-US'),
          usage: f.usage.toLocaleString('en-US'),
          borrowed: f.borrowed.toLocaleString('en-US'),
          pending: f.pending.toLocaleString('en-US'),
          limit: f.limit === null ? '—' : f.limit.toLocaleString('en-US'),
        });
        // The standing decays continuously: read a moment apart, it differs a little.
        expect(Number(cells['standing']?.replace(/,/g, ''))).toBeCloseTo(team.fairShare.standing, -Math.ceil(Math.log10(Math.max(1, team.fairShare.standing * 1e-4))));
      }
    }
    // Who is over its guarantee, and who waits inside it, in words.
    const over = teams.filter((t) => t.flavors['h100']!.borrowed > 0);
    expect(over.length).toBeGreaterThan(0);
    for (const t of over) expect(await page.locator(`table[data-flavor="h100"] tr[data-team="${t.name}"] td[data-col="status"]`).textContent()).toBe(`over its guarantee by ${t.flavors['h100']!.borrowed}`);
    await clean(opened, 'teams');
    await page.close();
  });

  it('queue: the page the API gives, filters and pages on the server, my jobs first, and a job submitted through the API appears within 1 s', async () => {
    const opened = await open('/ui/queue', 'eve');
    const { page } = opened;
    const api1 = (await as('eve').get<QueuePage>('/v1/queue?mine=first&limit=50')).body;
    expect(api1.total).toBeGreaterThan(50);
    await page.locator('tr[data-job]').first().waitFor();
    expect(await jobIds(page)).toEqual(api1.jobs.map((j) => j.id));
    expect(await page.locator('tr[data-job] [data-col="reason"]').allTextContents()).toEqual(api1.jobs.map((j) => j.reason?.message ?? 'not explained yet'));
    // Eve's own jobs come first (her preempted borrowers wait, if any; else the first rows are others').
    const eveFirst = api1.jobs.findIndex((j) => j.submittedBy !== 'eve');
    expect(api1.jobs.slice(0, Math.max(0, eveFirst)).every((j) => j.submittedBy === 'eve')).toBe(true);
    await expect.poll(() => page.getByTestId('queue-summary').textContent()).toContain(`of ${api1.total.toLocaleString('en-US')} matching`);
    await clean(opened, 'queue');

    // The next page is the server's offset 50.
    await page.getByRole('button', { name: 'Next →' }).click();
    const api2 = (await as('eve').get<QueuePage>('/v1/queue?mine=first&limit=50&offset=50')).body;
    await expect.poll(() => page.locator('tr[data-job]').first().getAttribute('data-job')).toBe(api2.jobs[0]!.id);

    // A filter by team is the server's filter (the URL shows it).
    await page.getByLabel('Team').selectOption('interp');
    const interp = (await as('eve').get<QueuePage>('/v1/queue?team=interp&mine=first&limit=50')).body;
    await expect.poll(async () => (await jobIds(page)).join(',')).toBe(interp.jobs.map((j) => j.id).join(','));
    expect(page.url()).toContain('team=interp');

    // Live: eve submits through the API; her job is first on the open page (her only one pending).
    await page.getByLabel('Team').selectOption('evals');
    await page.getByLabel('My jobs').selectOption('only');
    await expect.poll(() => page.getByTestId('queue-summary').textContent()).toMatch(/matching|No pending job/);
    const submitted = await as('eve').post<Job>('/v1/jobs', { team: 'evals', gpus: 8, flavor: 'h100', class: 'opportunistic', duration: 600, name: 'live-one' });
    expect(submitted.status).toBe(201);
    const t0 = Date.now();
    await page.locator(`tr[data-job="${submitted.body.id}"]`).waitFor({ timeout: 1000 });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(opened.errors).toEqual([]);
    await page.close();
  });

  it('job: its runs, the preemption with the job that took its GPUs, and cancel only where the role allows (the server refuses the others)', async () => {
    const opened = await open(`/ui/jobs/${victim}`, 'vera');
    const { page } = opened;
    await page.getByRole('heading', { name: new RegExp(`Job ${victim}`) }).waitFor();
    const runs = (await a.get<{ runs: { outcome: string | null; preemptedBy: { job: string } | null }[] }>(`/v1/jobs/${victim}/runs`)).body.runs;
    expect(runs[0]).toMatchObject({ outcome: 'preempted', preemptedBy: { job: reclaimer, team: 'pretraining', cause: 'reclaim' } });
    await expect.poll(() => page.locator('table.runs tbody tr').count()).toBe(runs.length);
    await expect.poll(() => page.locator('table.runs').textContent()).toContain(`preempted by ${reclaimer} of pretraining: pretraining reclaimed GPUs of its guarantee that evals had borrowed`);
    // The history of its reasons since (stored: GET /v1/jobs/{id}/reasons), the last one the current.
    const reasons = await waitFor(async () => {
      const { reasons: r } = (await a.get<{ reasons: { code: string; message: string }[] }>(`/v1/jobs/${victim}/reasons`)).body;
      return r.length > 0 ? r : undefined;
    }, 'the victim\'s reasons to be recorded');
    expect(reasons.at(-1)!.code).toBe((await a.get<Job>(`/v1/jobs/${victim}`)).body.reason?.code);
    await expect.poll(() => page.getByTestId('reason-history').locator('tbody tr').count()).toBe(reasons.length);
    expect(await page.getByTestId('reason-history').locator('tbody tr').last().textContent()).toContain(reasons.at(-1)!.code);
    // The viewer: no cancel, and why; the server refuses it too.
    await expect.poll(() => page.getByTestId('cancel-refused').textContent()).toMatch(/a viewer may not cancel a job/);
    expect((await as('vera').post(`/v1/jobs/${victim}/cancel`)).status).toBe(403);
    await clean(opened, 'job');
    await page.close();

    // Pat (member of pretraining) may not cancel evals' job either; eve may not cancel the admin's.
    for (const who of ['pat', 'eve']) {
      const other = await open(`/ui/jobs/${victim}`, who);
      await expect.poll(() => other.page.getByTestId('cancel-refused').textContent()).toMatch(/only for the jobs it submitted to its own team/);
      expect((await as(who).post(`/v1/jobs/${victim}/cancel`)).status).toBe(403);
      await other.page.close();
    }
    // The admin may: the button cancels it, and the page says so.
    const admin = await open(`/ui/jobs/${victim}`, 'admin');
    await admin.page.getByRole('button', { name: `Cancel ${victim}` }).click();
    await expect.poll(() => admin.page.getByRole('status').filter({ hasText: 'cancelled' }).count()).toBe(1);
    expect((await a.get<Job>(`/v1/jobs/${victim}`)).body.status).toBe('cancelled');
    expect(admin.errors).toEqual([]);
    await admin.page.close();
  });

  it('fleet: every node by pool and rack, each GPU coloured by the team that holds it, the job on hover', async () => {
    const opened = await open('/ui/fleet', 'vera');
    const { page } = opened;
    const fleet = (await a.get<{ pools: { name: string; nodes: { name: string; free: number; gpus: number; held: { job: string; team: string; gpus: number }[] }[] }[] }>('/v1/fleet')).body;
    const nodes = fleet.pools.flatMap((p) => p.nodes);
    await expect.poll(() => page.locator('[data-node]').count()).toBe(nodes.length);
    const total = nodes.reduce((s, n) => s + n.gpus, 0);
    const free = nodes.reduce((s, n) => s + n.free, 0);
    await expect.poll(() => page.getByTestId('fleet-summary').textContent()).toContain(`${total} GPUs, ${total - free} in use, ${free} free`);
    const busy = nodes.find((n) => n.held.length > 0)!;
    expect(await page.locator(`[data-node="${busy.name}"]`).getAttribute('title')).toContain(busy.held[0]!.job);
    await page.locator(`[data-node="${busy.name}"]`).hover();
    await expect.poll(() => page.locator('.hovered').textContent()).toContain(`${busy.held[0]!.job} (${busy.held[0]!.team}`);
    const reserved = nodes.filter((n) => (n as { reservedFor?: string | null }).reservedFor).length;
    expect(await page.getByTestId('legend-reserved').textContent()).toContain(`reserved: ${reserved} node`);
    expect(await page.locator('.node.reserved').count()).toBe(reserved);
    await clean(opened, 'fleet');
    await page.close();

    // Draining and down nodes, as the Slurm executor reports them (GET /v1/fleet's `unavailable`;
    // the simulated executor of this server has no node conditions): the same answer with two
    // nodes marked, as a drained and a down node would be.
    const marked = await open('/ui/fleet', 'vera');
    const [drained, down] = [nodes[0]!.name, nodes[1]!.name];
    await marked.page.route('**/v1/fleet', async (r) => {
      const body = (await (await r.fetch()).json()) as { pools: { nodes: { name: string; unavailable?: unknown }[] }[] };
      for (const n of body.pools.flatMap((p) => p.nodes)) {
        if (n.name === drained) n.unavailable = { state: 'MIXED+DRAIN', why: 'Slurm node state MIXED+DRAIN: fan replacement' };
        if (n.name === down) n.unavailable = { state: 'DOWN+NOT_RESPONDING', why: 'Slurm node state DOWN+NOT_RESPONDING' };
      }
      await r.fulfill({ json: body });
    });
    await marked.page.reload();
    await expect.poll(() => marked.page.locator('.node.draining').count()).toBe(1);
    expect(await marked.page.locator(`[data-node="${drained}"]`).getAttribute('class')).toContain('draining');
    expect(await marked.page.locator(`[data-node="${drained}"]`).getAttribute('title')).toContain('draining (MIXED+DRAIN): Slurm node state MIXED+DRAIN: fan replacement');
    expect(await marked.page.locator(`[data-node="${down}"]`).getAttribute('class')).toContain('down');
    expect(await marked.page.getByTestId('legend-draining').textContent()).toContain('draining: 1 node');
    expect(await marked.page.getByTestId('legend-down').textContent()).toContain('down: 1 node');
    await clean(marked, 'fleet-conditions');
    await marked.page.close();
  });

  it('usage: GPU-hours per team against guarantee-hours as the API gives them (GET /v1/usage), leaves under their parents, in a uPlot chart', async () => {
    const openedAt = Date.now();
    const opened = await open('/ui/usage', 'vera');
    const { page } = opened;
    await page.locator('tr[data-team]').first().waitFor();
    const query = (await page.locator('section[data-query]').getAttribute('data-query'))!;
    expect(query).toMatch(/^from=.*&to=.*&by=day$/);
    const rows = page.locator('tr[data-team]');
    const shown: { team: string; cells: Record<string, string> }[] = [];
    for (let i = 0; i < (await rows.count()); i++) shown.push({ team: (await rows.nth(i).getAttribute('data-team'))!, cells: await cellsOf(rows.nth(i).locator('td')) });
    type Usage = { fleetGpus: number; busyGpuHours: number; teams: { team: string; parent: string | null; guarantee: number; gpuHours: number; guaranteeHours: number; preemptions: number }[] };
    const usage = (await a.get<Usage>(`/v1/usage?${query}`)).body;
    // Preemptions go on while the page loads: the page counts at least those before it was opened.
    const beforeOpen = (await a.get<Usage>(`/v1/usage?${query.replace(/to=[^&]*/, `to=${encodeURIComponent(new Date(openedAt).toISOString())}`)}`)).body;
    // Every team of the tree, leaves included, in the API's order.
    expect(shown.map((r) => r.team)).toEqual(usage.teams.map((t) => t.team));
    expect(usage.teams.some((t) => t.parent !== null)).toBe(true);
    expect(usage.busyGpuHours).toBeGreaterThan(0);
    // Runs still going grow between the page's read and this one: at most all GPUs for the time between.
    const drift = (usage.fleetGpus * ((Date.now() - openedAt) / 1000 + 5)) / 3600;
    for (const t of usage.teams) {
      const cells = shown.find((r) => r.team === t.team)!.cells;
      expect(cells['guarantee'], t.team).toBe(String(t.guarantee));
      expect(Number(cells['guaranteeHours']!.replace(/,/g, '')), t.team).toBeCloseTo(t.guaranteeHours, 0);
      expect(Math.abs(Number(cells['gpuHours']!.replace(/,/g, '')) - t.gpuHours), t.team).toBeLessThanOrEqual(drift + 0.5);
      const preemptions = Number(cells['preemptions']);
      expect(preemptions, t.team).toBeGreaterThanOrEqual(beforeOpen.teams.find((b) => b.team === t.team)!.preemptions);
      expect(preemptions, t.team).toBeLessThanOrEqual(t.preemptions);
    }
    // The victim's team was preempted in the period (the reclaim of the set-up).
    expect(usage.teams.reduce((n, t) => n + (t.parent === null ? t.preemptions : 0), 0)).toBeGreaterThan(0);
    // The chart: uPlot drew it, a series and a dashed guarantee per top-level team.
    const top = usage.teams.filter((t) => t.parent === null);
    await page.getByTestId('usage-chart').locator('canvas').waitFor();
    const legend = await page.getByTestId('usage-chart').locator('.u-legend .u-label').allTextContents();
    expect(legend).toEqual(['Time', ...top.flatMap((t) => [`${t.team} GPU-h`, `${t.team} guarantee`])]);
    expect(await page.getByTestId('usage-chart').getAttribute('aria-label')).toContain(`${top[0]!.team} `);
    await clean(opened, 'usage');
    await page.close();
  });

  it('governance: a proposal with its impact, the actions each role may take (the server refuses the others), and an audit entry proven in the browser', async () => {
    const proposalText = readFileSync(path.join(repoRoot, 'examples', 'lab', 'proposals', 'more-h100-for-evals.yaml'), 'utf8').replace('minRuntime: 10m', 'minRuntime: 0');
    const created = await as('lena').post<{ id: string; affected: string[]; impact: { hash: string } }>('/v1/proposals', { title: 'More H100 for evals', rationale: 'the backlog waits', policy: proposalText });
    expect(created.status, created.text).toBe(201);
    const id = created.body.id;
    // The council votes; the viewer sees every action disabled, with why.
    const council = await open(`/ui/governance/${id}`, 'cora');
    await council.page.getByRole('heading', { name: new RegExp(`${id}: More H100 for evals`) }).waitFor();
    await expect.poll(() => council.page.locator('form[data-action="Vote"]').count()).toBe(1);
    await expect.poll(() => council.page.locator('.refused[data-action="Respond"]').count()).toBe(1);
    await council.page.locator('form[data-action="Vote"] textarea[name="reason"]').fill('read the report');
    await council.page.locator('form[data-action="Vote"] button[type="submit"]').click();
    await expect.poll(async () => (await a.get<{ votes: { actor: string }[] }>(`/v1/proposals/${id}`)).body.votes.map((v) => v.actor)).toContain('cora');
    // The impact charts: one bar per team of the report.
    const impactTeams = Object.keys((await a.get<{ impact: { teams: Record<string, unknown> } }>(`/v1/proposals/${id}`)).body.impact.teams);
    await expect.poll(() => council.page.locator('figure.deltas').first().locator('tr').count()).toBe(impactTeams.length);
    expect(council.errors).toEqual([]);
    await council.page.close();

    const viewer = await open(`/ui/governance/${id}`, 'vera');
    const { page } = viewer;
    await page.getByRole('heading', { name: new RegExp(`${id}:`) }).waitFor();
    for (const action of ['Respond', 'Vote', 'Sign the petition']) await expect.poll(() => page.locator(`.refused[data-action="${action}"]`).count()).toBe(1);
    expect(await page.locator('form[data-action="Comment"]').count()).toBe(1);
    expect((await as('vera').post(`/v1/proposals/${id}/votes`, { vote: 'approve', reason: 'r', reportHash: created.body.impact.hash })).status).toBe(403);
    expect((await as('vera').post(`/v1/proposals/${id}/responses`, { stance: 'consent', reason: 'r', team: 'research' })).status).toBe(403);
    // An audit entry's inclusion proof, checked here against the signed checkpoint.
    await page.getByRole('button', { name: 'Check entry 0' }).click();
    await expect.poll(() => page.locator('tr[data-entry="0"]').textContent()).toMatch(/included: its proof leads to the signed root of \d+ entries/);
    // An emergency change makes version 2: the open page shows the diff from version 1.
    const emergency = await a.post('/v1/emergency', { title: 'More H100 for evals now', rationale: 'launch', policy: proposalText });
    expect(emergency.status, emergency.text).toBe(201);
    await expect.poll(() => page.getByTestId('diff-summary').textContent()).toMatch(/From version 1 to 2: \d+ lines added, \d+ removed/);
    expect(await page.locator('.diff .added').allTextContents()).toContain('+         guarantee: { h100: 32, a100: 24 }\n');
    expect(await page.locator('.diff .removed').allTextContents()).toContain('-         guarantee: { h100: 16, a100: 24 }\n');
    await clean(viewer, 'governance');
    await page.close();
  });
});
