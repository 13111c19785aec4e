// report.html in a real browser: Debian's Chromium (/usr/bin/chromium) driven by playwright-core,
// never a downloaded browser. The page is generated for examples/lab (simulated in-process) and
// for a two-variant comparison, opened from a file:// URL, and must render every chart without a
// console error, a page error or any network request other than the file itself. Screenshots go
// to a temp folder (printed) for a human to look at.
// Chromium missing is a failure, not a skip: CI (.ci/run) installs the `chromium` package.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseCluster } from '../src/core/config/cluster.js';
import { parsePolicy } from '../src/core/config/policy.js';
import { parseTrace } from '../src/core/config/trace.js';
import type { Fleet, JobSpec, Policy, Result } from '../src/core/model.js';
import { summarize } from '../src/sim/metrics.js';
import { renderReport, type ReportVariant } from '../src/sim/report/html.js';
import { writeReport } from '../src/sim/report/index.js';
import { simulate } from '../src/sim/simulator.js';

const CHROMIUM = '/usr/bin/chromium';
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const labDir = path.join(repoRoot, 'examples', 'lab');

function unwrap<T>(result: Result<T>, what: string): T {
  if (!result.ok) throw new Error(`${what}: ${JSON.stringify(result.issues)}`);
  return result.value;
}

function labInputs(): { fleet: Fleet; policy: Policy; jobs: JobSpec[] } {
  const read = (name: string): string => readFileSync(path.join(labDir, name), 'utf8');
  const fleet = unwrap(parseCluster(read('cluster.yaml'), 'cluster.yaml'), 'cluster.yaml');
  const policy = unwrap(parsePolicy(read('policy.yaml'), 'policy.yaml', fleet), 'policy.yaml');
  const jobs = unwrap(parseTrace(read('trace.csv'), 'trace.csv', policy, fleet), 'trace.csv');
  return { fleet, policy, jobs };
}

function variant(name: string, fleet: Fleet, policy: Policy, jobs: readonly JobSpec[]): ReportVariant {
  const result = simulate(fleet, policy, jobs);
  return { name, result, summary: summarize(result) };
}

interface Opened {
  readonly page: Page;
  /** Requests other than the page's own file (each one is a failure of the page). */
  readonly foreign: string[];
  /** Console errors and uncaught exceptions. */
  readonly errors: string[];
}

let context: BrowserContext;
let dir: string;
let screenshots: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: the report's browser test needs Debian's chromium package ` +
        '(apt-get install -y --no-install-recommends chromium; .ci/run installs it). It is not skipped on purpose.',
    );
  }
  dir = mkdtempSync(path.join(tmpdir(), 'arbiter-report-test-'));
  screenshots = mkdtempSync(path.join(tmpdir(), 'arbiter-report-screenshots-'));
  context = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await context?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** Opens `file` with every request other than the file itself aborted and recorded. */
async function open(file: string): Promise<Opened> {
  const url = pathToFileURL(file).href;
  const page = await context.newPage();
  const foreign: string[] = [];
  const errors: string[] = [];
  const note = (u: string): void => {
    if (u !== url && !foreign.includes(u)) foreign.push(u);
  };
  await page.route('**/*', async (route) => {
    const u = route.request().url();
    if (u === url) return route.continue();
    note(u);
    return route.abort();
  });
  page.on('request', (r) => note(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  await page.goto(url, { waitUntil: 'load' });
  return { page, foreign, errors };
}

/** Every chart slot in page order: its kind, the size of its <svg> and how many paths were drawn. */
async function chartSizes(page: Page): Promise<{ chart: string; width: number; height: number; paths: number }[]> {
  const figures = page.locator('figure[data-chart]');
  const out: { chart: string; width: number; height: number; paths: number }[] = [];
  for (let i = 0; i < (await figures.count()); i++) {
    const fig = figures.nth(i);
    const box = await fig.locator('svg').boundingBox();
    out.push({
      chart: (await fig.getAttribute('data-chart')) ?? '',
      width: box?.width ?? 0,
      height: box?.height ?? 0,
      paths: await fig.locator('svg path').count(),
    });
  }
  return out;
}

/** Scrolls the element into view and moves the mouse to the given fraction of its box. */
async function hoverAt(page: Page, selector: string, fx: number, fy: number): Promise<void> {
  const target = page.locator(selector);
  await target.scrollIntoViewIfNeeded();
  const box = await target.boundingBox();
  if (box === null) throw new Error(`${selector} has no box`);
  await page.mouse.move(box.x + box.width * fx, box.y + box.height * fy);
}

describe('report.html in headless Chromium', () => {
  test('the network guard sees a request the page makes (so it can fail)', async () => {
    const file = path.join(dir, 'leaky.html');
    writeFileSync(file, '<!doctype html><title>leak</title><img src="https://example.com/pixel.png">');
    const { page, foreign } = await open(file);
    await page.close();
    expect(foreign).toContain('https://example.com/pixel.png');
  });

  test('examples/lab (one variant, as `arbiter simulate` writes it) renders every chart', async () => {
    const { fleet, policy, jobs } = labInputs();
    const lab = variant('policy.yaml', fleet, policy, jobs);
    const out = path.join(dir, 'lab');
    const file = await writeReport(out, [lab], { title: 'Arbiter simulation: examples/lab' });
    expect(file).toBe(path.join(out, 'report.html'));

    const { page, foreign, errors } = await open(file);
    await page.waitForSelector('html[data-rendered="true"]');
    expect(await page.title()).toBe('Arbiter simulation: examples/lab');

    const charts = await chartSizes(page);
    expect(charts.map((c) => c.chart)).toEqual(['cdf', 'held', 'queue', 'util', 'waits']);
    for (const c of charts) {
      expect(c.width, c.chart).toBeGreaterThan(300);
      expect(c.height, c.chart).toBeGreaterThan(150);
      expect(c.paths, c.chart).toBeGreaterThan(0);
    }
    // One stacked band and one dashed guarantee per top-level team; both teams in the legend.
    const held = page.locator('figure[data-chart="held"]');
    expect(await held.locator('path.band').count()).toBe(2);
    expect(await held.locator('path.guarantee').count()).toBe(2);
    // The guarantees are stacked flat within the fleet's line (SVG y grows downwards): research's
    // at 144, applied's at 144 + 72, both below the fleet; none can be read as more than the fleet.
    const ysOf = async (d: string | null): Promise<number[]> => [...new Set((d ?? '').match(/,[\d.]+/g)!.map((m) => Number(m.slice(1))))];
    const fleetY = Number(await held.locator('line.fleet').first().getAttribute('y1'));
    const guaranteeYs = [await ysOf(await held.locator('path.guarantee[data-team="research"]').getAttribute('d')), await ysOf(await held.locator('path.guarantee[data-team="applied"]').getAttribute('d'))];
    expect(guaranteeYs.map((ys) => ys.length)).toEqual([1, 1]);
    expect(guaranteeYs[0]![0]!).toBeGreaterThan(guaranteeYs[1]![0]!);
    expect(guaranteeYs[1]![0]!).toBeGreaterThanOrEqual(fleetY);
    const legend = (await held.locator('.legend').textContent()) ?? '';
    expect(legend).toContain('research');
    expect(legend).toContain('applied');
    expect(await page.locator('figure[data-chart="cdf"] path.line').count()).toBe(1);
    // "all teams" + research + applied.
    expect(await page.locator('figure[data-chart="waits"] g.box').count()).toBe(3);
    expect(await page.locator('table.summary tbody tr').count()).toBe(1);
    // Leaf teams too, each under its parent with its own guarantee.
    const leafRows = page.locator('table.leaves tbody tr');
    const leaves: string[][] = [];
    for (let i = 0; i < (await leafRows.count()); i++) leaves.push((await leafRows.nth(i).locator('th, td').allTextContents()).map((c) => c.trim()));
    expect(leaves.map((r) => [r[0], r[1], r[4]])).toEqual([
      ['pretraining', 'research', '80'],
      ['alignment', 'research', '48'],
      ['interp', 'research', '16'],
      ['serving', 'applied', '32'],
      ['evals', 'applied', '40'],
    ]);

    // Hovering the stacked chart shows every team's GPUs against its guarantee.
    await hoverAt(page, 'figure[data-chart="held"] svg', 0.4, 0.5);
    await expect.poll(() => page.locator('#tip').isVisible()).toBe(true);
    const tip = (await page.locator('#tip').textContent()) ?? '';
    expect(tip).toMatch(/research: [\d.,]+ GPUs of 144 guaranteed/);
    expect(tip).toMatch(/applied: [\d.,]+ GPUs of 72 guaranteed/);
    await page.mouse.move(0, 0);

    await page.screenshot({ path: path.join(screenshots, 'lab.png'), fullPage: true });
    // The scale switch redraws without errors.
    await page.locator('figure[data-chart="cdf"] button[data-mode="linear"]').click();
    await page.locator('figure[data-chart="waits"] button[data-mode="linear"]').click();
    expect(await page.locator('figure[data-chart="cdf"] button[data-mode="linear"]').getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('figure[data-chart="cdf"] path.line').count()).toBe(1);
    // "per team": one line per team against a flat guarantee line each.
    await held.locator('button[data-mode="lines"]').click();
    expect(await held.locator('path.line').count()).toBe(2);
    expect(await held.locator('line.guarantee').count()).toBe(2);
    await page.screenshot({ path: path.join(screenshots, 'lab-per-team.png'), fullPage: true });

    expect(errors).toEqual([]);
    expect(foreign).toEqual([]);
    await page.close();
    console.log(`report screenshots: ${screenshots}`);
  });

  test('a two-variant comparison renders one line per variant and keeps hostile names as text', async () => {
    const { fleet, policy, jobs } = labInputs();
    const noBorrowing: Policy = { ...policy, preemption: { ...policy.preemption, borrowing: 'never' } };
    const hostile = 'borrowing: never </script><img src=x onerror="document.title=1">';
    const variants = [variant('lab policy', fleet, policy, jobs), variant(hostile, fleet, noBorrowing, jobs)];
    const file = path.join(dir, 'compare.html');
    writeFileSync(file, renderReport(variants, { title: 'Compare <lab>', measureNote: 'all 1,200 jobs measured' }));

    const { page, foreign, errors } = await open(file);
    await page.waitForSelector('html[data-rendered="true"]');
    expect(await page.title()).toBe('Compare <lab>');
    expect(await page.locator('img').count()).toBe(0);

    const charts = await chartSizes(page);
    expect(charts.map((c) => c.chart)).toEqual(['cdf', 'held', 'held', 'queue', 'util', 'waits']);
    for (const c of charts) {
      expect(c.width, c.chart).toBeGreaterThan(300);
      expect(c.height, c.chart).toBeGreaterThan(150);
    }
    expect(await page.locator('figure[data-chart="cdf"] path.line').count()).toBe(2);
    expect(await page.locator('figure[data-chart="queue"] path.line').count()).toBe(2);
    expect(await page.locator('figure[data-chart="util"] path.line').count()).toBe(2);
    expect(await page.locator('figure[data-chart="waits"] g.box').count()).toBe(6);
    const cdfLegend = (await page.locator('figure[data-chart="cdf"] .legend').textContent()) ?? '';
    expect(cdfLegend).toContain('lab policy');
    expect(cdfLegend).toContain(hostile);
    expect(await page.locator('table.summary tbody tr').count()).toBe(2);
    expect(await page.locator('table.summary tbody th').nth(1).textContent()).toBe(hostile);

    // The CDF tooltip reads both variants at one time.
    await hoverAt(page, 'figure[data-chart="cdf"] svg', 0.6, 0.5);
    await expect.poll(() => page.locator('#tip').isVisible()).toBe(true);
    const tip = (await page.locator('#tip').textContent()) ?? '';
    expect(tip).toContain('lab policy: ');
    expect(tip).toContain(`${hostile}: `);
    await page.mouse.move(0, 0);

    await page.screenshot({ path: path.join(screenshots, 'compare.png'), fullPage: true });
    expect(errors).toEqual([]);
    expect(foreign).toEqual([]);
    await page.close();
  });
});
