// The dashboard at scale (BENCHMARKS.md, "Dashboard"): a real `arbiter serve` with 12,500 nodes of
// 8 GPUs (100,000 GPUs) all busy and 100,000 jobs pending, then
//   1. the first load of the queue page in Chromium (Debian's, through playwright-core): from
//      navigation to the table filled, cold (first visit) and warm (assets cached), and the
//      GET /v1/queue and GET /v1/fleet answers alone;
//   2. the server's cost of 100 open live pages: 100 clients each holding GET /v1/events and, on
//      every change event, reading what an open queue page reads (GET /v1/queue?mine=first&limit=50),
//      while jobs are submitted at a steady rate; the server's CPU (from /proc) with 0 and with
//      100 pages, side by side in one run, and how long a change takes to reach the pages.
//
//   npx tsc --outDir dist-bench --rootDir . --module NodeNext --moduleResolution NodeNext \
//     --target ES2022 --strict --skipLibCheck --types node bench/server/dashboard.ts
//   node dist-bench/bench/server/dashboard.js [--nodes 12500] [--pending 100000] [--pages 100]
//                                             [--rate 5] [--seconds 20] [--loads 5]
// (from the repository root, after `npm install`, which builds dist/ and web/dist).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const NODES = arg('nodes', 12_500);
const PENDING = arg('pending', 100_000);
const PAGES = arg('pages', 100);
const RATE = arg('rate', 5);
const SECONDS = arg('seconds', 20);
const LOADS = arg('loads', 5);
const TEAMS = ['t0', 't1', 't2', 't3', 't4', 't5', 't6', 't7'];

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function request(base: string, token: string, method: string, route: string, body?: unknown): Promise<{ status: number; text: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(`${base}${route}`, { method, agent, headers: { authorization: `Bearer ${token}`, ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, ms: performance.now() - t0 }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** utime + stime of a process, in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

async function submitMany(base: string, token: string, count: number, body: (i: number) => unknown, label: string): Promise<void> {
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const r = await request(base, token, 'POST', '/v1/jobs', body(i));
      if (r.status !== 201) throw new Error(`submission ${i}: ${r.status} ${r.text}`);
      if (++done % 10_000 === 0) process.stderr.write(`  ${label}: ${done}/${count} (${Math.round(done / ((performance.now() - t0) / 1000))}/s)\n`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'arbiter-bench-dashboard-'));
  const perTeam = Math.floor((NODES * 8) / TEAMS.length);
  const cluster = `pools:\n  - name: gpu\n    flavor: h100\n    nodes: ${NODES}\n    gpusPerNode: 8\n    rackSize: 32\n`;
  const policy = [
    'priorityClasses:',
    '  - { name: training, priority: 500 }',
    'defaultClass: training',
    'teams:',
    ...TEAMS.map((t) => `  - { name: ${t}, guarantee: { h100: ${perTeam} } }`),
  ].join('\n');
  writeFileSync(path.join(dir, 'cluster.yaml'), cluster);
  writeFileSync(path.join(dir, 'policy.yaml'), `${policy}\n`);
  const server = spawn(
    process.execPath,
    ['bin/arbiter.js', 'serve', '--data', path.join(dir, 'data'), '--port', '0', '--no-demo-setup', '--cluster', path.join(dir, 'cluster.yaml'), '--policy', path.join(dir, 'policy.yaml'), '--rate-limit', 'off'],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  server.stdout.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-100_000)));
  server.stderr.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-100_000)));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start:\n${out}`)), 60_000);
    const look = (): void => {
      const m = /Arbiter is serving on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    server.stdout.on('data', look);
  });
  const token = readFileSync(path.join(dir, 'data', 'admin-token'), 'utf8').trim();
  const pid = server.pid!;
  try {
    process.stderr.write(`server ${base} (pid ${pid}); filling ${NODES} nodes, then ${PENDING} pending jobs\n`);
    const t0 = performance.now();
    await submitMany(base, token, NODES, (i) => ({ team: TEAMS[i % TEAMS.length], gpus: 8, duration: 1e9, name: `fill-${i}` }), 'fill');
    await submitMany(base, token, PENDING, (i) => ({ team: TEAMS[i % TEAMS.length], gpus: 1 + (i % 8), duration: 3600, timeLimit: 7200, name: `wait-${i}` }), 'pending');
    const seeded = (performance.now() - t0) / 1000;
    const page1 = JSON.parse((await request(base, token, 'GET', '/v1/queue?limit=1')).text) as { pending: number };
    process.stderr.write(`seeded in ${seeded.toFixed(0)} s: ${page1.pending} pending\n`);

    // 1. API answers alone.
    const queueMs: number[] = [];
    const fleetMs: number[] = [];
    let fleetBytes = 0;
    for (let i = 0; i < 10; i++) {
      queueMs.push((await request(base, token, 'GET', '/v1/queue?mine=first&limit=50')).ms);
      await new Promise((r) => setTimeout(r, 1100)); // past the 1 s freshness of reasons: each read refreshes them
    }
    for (let i = 0; i < 3; i++) {
      const r = await request(base, token, 'GET', '/v1/fleet');
      fleetMs.push(r.ms);
      fleetBytes = r.text.length;
    }

    // 2. First load of the queue page in Chromium.
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(`sessionStorage.setItem('arbiter.token', ${JSON.stringify(token)})`);
    const loads: number[] = [];
    const walls: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      const page = await context.newPage();
      const start = performance.now();
      await page.goto(`${base}/ui/queue`, { waitUntil: 'commit' });
      // The page's own clock: from the start of its navigation to the first frame with the table filled.
      // (A function, not a string: the page's CSP forbids eval.)
      const filled = await page.waitForFunction(
        () => ((globalThis as unknown as { document: { querySelector(s: string): unknown } }).document.querySelector('tr[data-job]') ? performance.now() : false),
        undefined,
        { polling: 'raf', timeout: 30_000 },
      );
      loads.push((await filled.jsonValue()) as number);
      walls.push(performance.now() - start);
      const summary = await page.locator('[data-testid="queue-summary"]').textContent();
      if (i === 0) process.stderr.write(`  page: ${summary ?? ''}\n`);
      await page.close();
      await new Promise((r) => setTimeout(r, 1100));
    }
    await browser.close();

    // 3. The cost of open live pages: the same submission rate with 0 and with PAGES pages.
    const live = async (pages: number): Promise<{ cpu: number; reads: number; events: number; lagMs: number[] }> => {
      const controllers: AbortController[] = [];
      let reads = 0;
      let events = 0;
      const lagMs: number[] = [];
      let lastSubmitAt = 0;
      await Promise.all(
        Array.from({ length: pages }, async () => {
          const controller = new AbortController();
          controllers.push(controller);
          const response = await fetch(`${base}/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
          const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
          void (async () => {
            try {
              for (;;) {
                const { value, done } = await reader.read();
                if (done) return;
                if (!value.includes('event: change')) continue;
                events++;
                lagMs.push(performance.now() - lastSubmitAt);
                const r = await request(base, token, 'GET', '/v1/queue?mine=first&limit=50');
                if (r.status === 200) reads++;
              }
            } catch {
              // aborted at the end
            }
          })();
        }),
      );
      const cpu0 = cpuSeconds(pid);
      const until = performance.now() + SECONDS * 1000;
      let n = 0;
      while (performance.now() < until) {
        lastSubmitAt = performance.now();
        await request(base, token, 'POST', '/v1/jobs', { team: TEAMS[n++ % TEAMS.length], gpus: 1, duration: 3600, name: `live-${n}` });
        await new Promise((r) => setTimeout(r, 1000 / RATE));
      }
      await new Promise((r) => setTimeout(r, 1000));
      const cpu = (cpuSeconds(pid) - cpu0) / (SECONDS + 1);
      controllers.forEach((c) => c.abort());
      return { cpu, reads, events, lagMs };
    };
    const idle = await live(0);
    const busy = await live(PAGES);

    const row = (xs: number[]): string => `${median(xs).toFixed(0)} | ${pct(xs, 0.9).toFixed(0)} | ${Math.max(...xs).toFixed(0)}`;
    console.log(`\n${NODES.toLocaleString('en-US')} nodes (${(NODES * 8).toLocaleString('en-US')} GPUs, all busy), ${page1.pending.toLocaleString('en-US')} pending jobs; seeded through the API in ${seeded.toFixed(0)} s\n`);
    console.log('| measurement | median ms | p90 ms | max ms |\n|---|---:|---:|---:|');
    console.log(`| queue page, navigation start to table filled, page clock (Chromium, ${LOADS} loads; first is cold) | ${row(loads)} |`);
    console.log(`| the same, cold (first visit: assets not cached) | ${loads[0]!.toFixed(0)} | | |`);
    console.log(`| the same, wall clock of the driver (includes opening the tab) | ${row(walls)} |`);
    console.log(`| GET /v1/queue?mine=first&limit=50 (reasons refreshed each time) | ${row(queueMs)} |`);
    console.log(`| GET /v1/fleet (${(fleetBytes / 1e6).toFixed(1)} MB) | ${row(fleetMs)} |`);
    console.log(`\nLive pages, ${RATE} submissions/s for ${SECONDS} s:\n`);
    console.log('| open pages | server CPU (cores) | change events per page | queue reads | change to page, median ms | p90 ms |\n|---:|---:|---:|---:|---:|---:|');
    for (const [pages, r] of [
      [0, idle],
      [PAGES, busy],
    ] as const) {
      console.log(`| ${pages} | ${r.cpu.toFixed(3)} | ${pages ? (r.events / pages).toFixed(0) : '—'} | ${r.reads} | ${pages ? median(r.lagMs).toFixed(0) : '—'} | ${pages ? pct(r.lagMs, 0.9).toFixed(0) : '—'} |`);
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
