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
//                                             [--baseline DIR] [--profile DIR]
// (from the repository root, after `npm install`, which builds dist/ and web/dist).
// --baseline DIR: also measures the server built in DIR (another checkout, or a copy of its bin/,
// dist/, web/dist, package.json and node_modules), first, then this one: before and after in one
// run, under the same load. --profile DIR: the servers write V8 CPU profiles there (--cpu-prof)
// and the bench prints where the time of the measured phase went (seeding left out).
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
const textArg = (name: string): string | null => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : null;
};
const BASELINE = textArg('baseline');
const PROFILE = textArg('profile');
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

interface Measured {
  readonly label: string;
  readonly seeded: number;
  readonly pending: number;
  readonly loads: number[];
  readonly walls: number[];
  readonly requestsBeforeFilled: string[];
  /** Per load, on the page's clock: when the HTML, the script and the queue's answer had arrived, and the first API request left. */
  readonly phases: { html: number; script: number; firstApi: number; queue: number; filled: number }[];
  readonly queueMs: number[];
  readonly fleetMs: number[];
  readonly fleetBytes: number;
  readonly idle: Live;
  readonly busy: Live;
  readonly loadavg: string;
  readonly profile: string | null;
}

interface Live {
  readonly cpu: number;
  readonly reads: number;
  readonly events: number;
  readonly lagMs: number[];
}

/** Self time per function in the last `ms` of a V8 CPU profile (the measured phase, not the seeding). */
function profileTail(file: string, ms: number): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
    endTime: number;
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let t = profile.endTime;
  let total = 0;
  for (let i = profile.samples.length - 1; i >= 0 && profile.endTime - t < ms * 1000; i--) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    t -= profile.timeDeltas[i]!;
    const f = byId.get(profile.samples[i]!)!.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
  return top.map(([k, us]) => `  ${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`).join('\n');
}

async function measure(root: string, label: string): Promise<Measured> {
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
  const profileDir = PROFILE === null ? null : path.resolve(PROFILE, label);
  const server = spawn(
    process.execPath,
    [
      ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []),
      'bin/arbiter.js',
      'serve',
      '--data',
      path.join(dir, 'data'),
      '--port',
      '0',
      '--no-demo-setup',
      '--cluster',
      path.join(dir, 'cluster.yaml'),
      '--policy',
      path.join(dir, 'policy.yaml'),
      '--rate-limit',
      'off',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
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
  let measuredFrom = 0;
  try {
    process.stderr.write(`${label}: server ${base} (pid ${pid}, ${root}); filling ${NODES} nodes, then ${PENDING} pending jobs\n`);
    const t0 = performance.now();
    await submitMany(base, token, NODES, (i) => ({ team: TEAMS[i % TEAMS.length], gpus: 8, duration: 1e9, name: `fill-${i}` }), 'fill');
    await submitMany(base, token, PENDING, (i) => ({ team: TEAMS[i % TEAMS.length], gpus: 1 + (i % 8), duration: 3600, timeLimit: 7200, name: `wait-${i}` }), 'pending');
    const seeded = (performance.now() - t0) / 1000;
    const page1 = JSON.parse((await request(base, token, 'GET', '/v1/queue?limit=1')).text) as { pending: number };
    process.stderr.write(`${label}: seeded in ${seeded.toFixed(0)} s: ${page1.pending} pending\n`);
    // Let the passes the seeding asked for settle: every server is measured from the same state.
    await new Promise((r) => setTimeout(r, 5000));
    measuredFrom = performance.now();
    const loadavg = os.loadavg().map((x) => x.toFixed(1)).join(' ');

    // 1. First load of the queue page in Chromium (before the API reads: the first is the cold one).
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(`sessionStorage.setItem('arbiter.token', ${JSON.stringify(token)})`);
    const loads: number[] = [];
    const walls: number[] = [];
    let requestsBeforeFilled: string[] = [];
    const phases: Measured['phases'] = [];
    for (let i = 0; i < LOADS; i++) {
      const page = await context.newPage();
      const requests: { url: string; at: number }[] = [];
      page.on('request', (r) => requests.push({ url: r.url().replace(base, ''), at: performance.now() }));
      const start = performance.now();
      await page.goto(`${base}/ui/queue`, { waitUntil: 'commit' });
      // The page's own clock: from the start of its navigation to the first frame with the table filled.
      // (A function, not a string: the page's CSP forbids eval.)
      const filled = await page.waitForFunction(
        () => ((globalThis as unknown as { document: { querySelector(s: string): unknown } }).document.querySelector('tr[data-job]') ? performance.now() : false),
        undefined,
        { polling: 'raf', timeout: 60_000 },
      );
      loads.push((await filled.jsonValue()) as number);
      // Where the time went (Resource Timing, the page's clock).
      phases.push(
        await page.evaluate(() => {
          // (The page's Resource Timing entries; this file is typed for Node, without the DOM's types.)
          type Timing = { name: string; startTime: number; responseEnd: number };
          const p = globalThis.performance as unknown as { getEntriesByType(type: string): Timing[] };
          const nav = p.getEntriesByType('navigation')[0]!;
          const res = p.getEntriesByType('resource');
          const script = res.find((r) => /\/assets\/index-.*\.js$/.test(r.name));
          const apis = res.filter((r) => r.name.includes('/v1/'));
          const queue = apis.find((r) => r.name.includes('/v1/queue'));
          return { html: nav.responseEnd, script: script?.responseEnd ?? NaN, firstApi: Math.min(...apis.map((r) => r.startTime)), queue: queue?.responseEnd ?? NaN, filled: NaN };
        }),
      );
      phases[phases.length - 1]!.filled = loads[loads.length - 1]!;
      const filledAt = performance.now();
      walls.push(filledAt - start);
      if (i === 0) requestsBeforeFilled = requests.filter((r) => r.at <= filledAt).map((r) => r.url);
      const summary = await page.locator('[data-testid="queue-summary"]').textContent();
      if (i === 0) process.stderr.write(`  page: ${summary ?? ''}\n`);
      await page.close();
      await new Promise((r) => setTimeout(r, 1100));
    }
    await browser.close();

    // 2. API answers alone.
    const queueMs: number[] = [];
    const fleetMs: number[] = [];
    let fleetBytes = 0;
    for (let i = 0; i < 10; i++) {
      queueMs.push((await request(base, token, 'GET', '/v1/queue?mine=first&limit=50')).ms);
      await new Promise((r) => setTimeout(r, 1100));
    }
    for (let i = 0; i < 3; i++) {
      const r = await request(base, token, 'GET', '/v1/fleet');
      fleetMs.push(r.ms);
      fleetBytes = r.text.length;
    }

    // 3. The cost of open live pages: the same submission rate with 0 and with PAGES pages.
    const live = async (pages: number): Promise<Live> => {
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
    return { label, seeded, pending: page1.pending, loads, walls, requestsBeforeFilled, phases, queueMs, fleetMs, fleetBytes, idle, busy, loadavg, profile: null };
  } finally {
    const measuredMs = performance.now() - measuredFrom;
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
    if (profileDir && measuredFrom > 0) {
      const { readdirSync } = await import('node:fs');
      const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
      if (file) process.stderr.write(`${label}: where the server's time went after seeding (${(measuredMs / 1000).toFixed(0)} s), self time:\n${profileTail(path.join(profileDir, file), measuredMs)}\n`);
    }
  }
}

async function main(): Promise<void> {
  const runs: Measured[] = [];
  if (BASELINE !== null) runs.push(await measure(path.resolve(BASELINE), 'before'));
  runs.push(await measure(repoRoot, BASELINE !== null ? 'after' : 'this'));
  agent.destroy();
  const row = (xs: number[]): string => `${median(xs).toFixed(0)} | ${pct(xs, 0.9).toFixed(0)} | ${Math.max(...xs).toFixed(0)}`;
  const first = runs[0]!;
  console.log(`\n${NODES.toLocaleString('en-US')} nodes (${(NODES * 8).toLocaleString('en-US')} GPUs, all busy), ${first.pending.toLocaleString('en-US')} pending jobs; seeded through the API in ${runs.map((r) => `${r.seeded.toFixed(0)} s`).join(' and ')}; load average (1, 5, 15 min) when measured: ${runs.map((r) => `${r.label} ${r.loadavg}`).join('; ')}\n`);
  console.log('| server | measurement | median ms | p90 ms | max ms |\n|---|---|---:|---:|---:|');
  for (const r of runs) {
    console.log(`| ${r.label} | queue page, navigation start to table filled, page clock (Chromium, ${LOADS} loads; first is cold) | ${row(r.loads)} |`);
    console.log(`| ${r.label} | the same, cold (first visit: assets not cached) | ${r.loads[0]!.toFixed(0)} | | |`);
    console.log(`| ${r.label} | the same, wall clock of the driver (includes opening the tab) | ${row(r.walls)} |`);
    console.log(`| ${r.label} | GET /v1/queue?mine=first&limit=50, 10 reads 1.1 s apart | ${row(r.queueMs)} |`);
    console.log(`| ${r.label} | GET /v1/fleet (${(r.fleetBytes / 1e6).toFixed(1)} MB) | ${row(r.fleetMs)} |`);
  }
  for (const r of runs) console.log(`\n${r.label}: requests of the first (cold) load before the table filled: ${r.requestsBeforeFilled.join(', ')}`);
  console.log('\nWhere a load\'s time goes, page clock in ms (Resource Timing): the HTML in, the script in, the first API request out, the queue\'s answer in, the table filled\n');
  console.log('| server | load | HTML | script | first API request | queue answer | table filled |\n|---|---:|---:|---:|---:|---:|---:|');
  for (const r of runs) r.phases.forEach((p, i) => console.log(`| ${r.label} | ${i + 1}${i === 0 ? ' (cold)' : ''} | ${p.html.toFixed(0)} | ${p.script.toFixed(0)} | ${p.firstApi.toFixed(0)} | ${p.queue.toFixed(0)} | ${p.filled.toFixed(0)} |`));
  console.log(`\nLive pages, ${RATE} submissions/s for ${SECONDS} s:\n`);
  console.log('| server | open pages | server CPU (cores) | change events per page | queue reads | change to page, median ms | p90 ms |\n|---|---:|---:|---:|---:|---:|---:|');
  for (const r of runs) {
    for (const [pages, l] of [
      [0, r.idle],
      [PAGES, r.busy],
    ] as const) {
      console.log(`| ${r.label} | ${pages} | ${l.cpu.toFixed(3)} | ${pages ? (l.events / pages).toFixed(0) : '—'} | ${l.reads} | ${pages ? median(l.lagMs).toFixed(0) : '—'} | ${pages ? pct(l.lagMs, 0.9).toFixed(0) : '—'} |`);
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
