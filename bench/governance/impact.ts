// Impact analysis of a proposal with an attached congested trace, and the live service's job
// reads while one runs. Two builds side by side in one run: the code under test (this repository's
// dist/) and an older build (--old ROOT, a worktree of an earlier commit with its dist/ built).
//
//   npx tsc --outDir dist-bench --rootDir . --module NodeNext --moduleResolution NodeNext \
//     --target ES2022 --strict --skipLibCheck --types node bench/governance/impact.ts
//   node dist-bench/bench/governance/impact.js --old /tmp/impact-old [--jobs 1000,5000,50000] [--timeout 120]
//
// 1. Analysis time: the impact analysis as the server runs it (`analyzeImpactOffThread`: off the
//    event loop, the two replays on two threads where the build does so; `--sequential` times
//    `analyzeImpact` inline instead, one replay after the other), two replays (the policy in
//    force and the proposal) of the
//    example lab (examples/lab: 256 GPUs, five leaf teams, four classes) on a trace of N jobs
//    submitted 30 s apart, far more than the fleet runs: thousands wait at once, teams under
//    their guarantee reclaim, higher classes wait behind lower-class runs. The proposal halves
//    pretraining's guarantee. Each measurement is a child process, killed after --timeout
//    seconds (reported as "> T s").
// 2. GET /v1/jobs while an analysis runs with a governance deadline due: a real `arbiter serve`
//    of each build (simulated executor, the lab), a minor proposal approved so that its comment
//    period ends 1 s later, then two proposals with attached congested traces (--serve-jobs);
//    from the moment the deadline is due until the first proposal is answered, one client sends
//    GET /v1/jobs back to back. Printed: requests, p50, p99, max.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

/** The congested trace: N jobs of the lab's kinds, 30 s apart (deterministic). */
function congested(n: number): { id: string; submit: number; team: string; gpus: number; duration: number; class: string; flavor: string | null; timeLimit: number | null }[] {
  let seed = 7;
  const random = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const kinds: [string, string, number[], string | null][] = [
    ['pretraining', 'training', [8, 16], 'h100'],
    ['pretraining', 'research', [1, 2, 4, 8], null],
    ['alignment', 'research', [1, 2, 4], null],
    ['interp', 'research', [1, 2, 4, 8], 'a100'],
    ['evals', 'research', [1, 2, 4, 8], null],
    ['serving', 'serving', [4, 8], 'h100'],
  ];
  return Array.from({ length: n }, (_, i) => {
    const [team, cls, sizes, flavor] = pick(kinds);
    const duration = 600 + Math.round(random() * 4 * 3600);
    return { id: `j${i + 1}`, submit: (i + 1) * 30, team, gpus: pick(sizes), duration, class: cls, flavor, timeLimit: random() < 0.5 ? duration * 2 : null };
  });
}

const labCluster = (): string => readFileSync(path.join(repo, 'examples/lab/cluster.yaml'), 'utf8');
const labPolicy = (): string => readFileSync(path.join(repo, 'examples/lab/policy.yaml'), 'utf8');
const halved = (policy: string): string => policy.replace('guarantee: { h100: 80 }', 'guarantee: { h100: 40 }');

// ------------------------------------------------------------------ 1. one analysis (child mode)

async function analyseOnce(root: string, n: number): Promise<void> {
  const load = async <T>(file: string): Promise<T> => (await import(pathToFileURL(path.join(root, 'dist', file)).href)) as T;
  const { parseCluster } = await load<typeof import('../../src/core/config/cluster.js')>('core/config/cluster.js');
  const { parsePolicy } = await load<typeof import('../../src/core/config/policy.js')>('core/config/policy.js');
  const { analyzeImpact } = await load<typeof import('../../src/governance/impact.js')>('governance/impact.js');
  const { analyzeImpactOffThread } = await load<typeof import('../../src/server/impact-runner.js')>('server/impact-runner.js');
  const fleet = parseCluster(labCluster(), 'cluster.yaml');
  if (!fleet.ok) throw new Error('cluster');
  const current = parsePolicy(labPolicy(), 'policy.yaml', fleet.value);
  const proposed = parsePolicy(halved(labPolicy()), 'policy.yaml', fleet.value);
  if (!current.ok || !proposed.ok) throw new Error('policy');
  const from = 1_700_000_000;
  const workload = congested(n).map((j) => ({ id: j.id, submittedAt: from + j.submit, team: j.team, class: j.class, flavor: j.flavor, gpus: j.gpus, duration: j.duration, timeLimit: j.timeLimit }));
  const input = {
    fleet: fleet.value,
    current: { policy: current.value, version: 1, hash: 'current' },
    proposed: { policy: proposed.value, hash: 'proposed' },
    workload,
    window: { from, to: from + 366 * 86400 },
    materialThreshold: 0.05,
    engineVersion: 'bench',
  };
  const t0 = performance.now();
  let report;
  if (process.argv.includes('--sequential')) report = analyzeImpact(input);
  else {
    const read = await analyzeImpactOffThread(input);
    if (!read.ok) throw new Error(read.problem.message);
    report = read.value;
  }
  process.stdout.write(JSON.stringify({ ms: performance.now() - t0, class: report.class, affected: report.affected.length }) + '\n');
}

function timeChild(root: string, n: number, timeoutS: number): Promise<{ ms: number | null; detail: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', root, '--jobs', String(n), ...(process.argv.includes('--sequential') ? ['--sequential'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('exit', () => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (!line.startsWith('{')) return resolve({ ms: null, detail: `> ${timeoutS} s` });
      const r = JSON.parse(line) as { ms: number; class: string; affected: number };
      resolve({ ms: r.ms, detail: `${(r.ms / 1000).toFixed(2)} s (${r.class}, ${r.affected} affected)` });
    });
  });
}

// ------------------------------------------------------------------ 2. GET /v1/jobs during an analysis

async function readsDuringAnalysis(root: string, jobs: number): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'arbiter-bench-impact-'));
  const policy = labPolicy().replace(/^governance:[\s\S]*?(?=^\S)/m, '') + '\ngovernance:\n  impactWindow: 366d\n  commentPeriod: { minor: 1s, material: 60s }\n  timelock: 0s\n  ramp: { steps: 1, over: 0s }\n';
  writeFileSync(path.join(dir, 'policy.yaml'), policy);
  const bin = path.join(root, 'bin/arbiter.js');
  const data = path.join(dir, 'data');
  const server = spawn(process.execPath, [bin, 'serve', '--data', data, '--port', '0', '--cluster', path.join(repo, 'examples/lab/cluster.yaml'), '--policy', path.join(dir, 'policy.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout.on('data', (d: Buffer) => (out += d.toString()));
  server.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const t = setInterval(() => {
        const m = /serving on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearInterval(t);
          resolve(m[1]!);
        }
      }, 50);
      server.once('exit', () => reject(new Error(out)));
    });
    const admin = readFileSync(path.join(data, 'admin-token'), 'utf8').trim();
    const token = (user: string, role: string, team?: string): string =>
      execFileSync(process.execPath, [bin, 'token', 'create', '--data', data, '--user', user, '--role', role, ...(team ? ['--team', team] : [])], { encoding: 'utf8' }).trim().split(/\s+/).pop()!;
    const council = token('c', 'council');
    const lead = token('l', 'lead', 'pretraining');
    const call = async (method: string, route: string, who: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
      const r = await fetch(url + route, { method, headers: { authorization: `Bearer ${who}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return { status: r.status, json: (await r.json()) as Record<string, unknown> };
    };
    const minor = (await call('POST', '/v1/proposals', lead, { title: 'tidy', rationale: 'r', policy: policy.replace('weight: 2', 'weight: 3') })).json;
    const hash = (minor['impact'] as { hash: string }).hash;
    await call('POST', `/v1/proposals/${String(minor['id'])}/votes`, council, { vote: 'approve', reason: 'r', reportHash: hash });
    const due = Date.parse((minor['deadlines'] as { votingCloses: string }).votingCloses);
    const trace = congested(jobs).map(({ flavor, timeLimit, ...j }) => ({ ...j, ...(flavor ? { flavor } : {}), ...(timeLimit ? { timeLimit } : {}) }));
    let done = false;
    const t0 = Date.now();
    const first = call('POST', '/v1/proposals', lead, { title: 'big', rationale: 'r', policy: halved(policy), trace }).then((r) => ((done = true), r));
    const second = call('POST', '/v1/proposals', lead, { title: 'big 2', rationale: 'r', policy: halved(policy), trace });
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now()) + 100));
    const latencies: number[] = [];
    while (!done) {
      const s = performance.now();
      const r = await call('GET', '/v1/jobs', admin);
      if (r.status !== 200) throw new Error(`GET /v1/jobs: ${r.status}`);
      latencies.push(performance.now() - s);
    }
    const answered = (Date.now() - t0) / 1000;
    await Promise.all([first, second]);
    latencies.sort((x, y) => x - y);
    const q = (p: number): string => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1) : '-');
    return `| ${latencies.length} | ${q(50)} | ${q(99)} | ${latencies.length ? latencies.at(-1)!.toFixed(1) : '-'} | ${answered.toFixed(1)} |`;
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  if (process.argv.includes('--child')) return analyseOnce(arg('child', repo), Number(arg('jobs', '1000')));
  const old = arg('old', '');
  const sizes = arg('jobs', '1000,5000,50000').split(',').map(Number);
  const timeoutS = Number(arg('timeout', '120'));
  const builds: [string, string][] = [['now', repo], ...(old ? ([['before', path.resolve(old)]] as [string, string][]) : [])];
  console.log(`load average at start: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; ${os.cpus().length} CPUs`);
  console.log('\n| jobs | ' + builds.map(([name]) => name).join(' | ') + ' |\n|---:|' + builds.map(() => '---:|').join(''));
  for (const n of sizes) {
    const cells: string[] = [];
    for (const [, root] of builds) cells.push((await timeChild(root, n, timeoutS)).detail);
    console.log(`| ${n} | ${cells.join(' | ')} |`);
  }
  const serveJobs = Number(arg('serve-jobs', '2000'));
  if (serveJobs > 0) {
    console.log(`\nGET /v1/jobs back to back while two analyses of ${serveJobs} attached jobs run, a deadline due (ms):\n`);
    console.log('| build | requests | p50 | p99 | max | first proposal answered after (s) |\n|---|---:|---:|---:|---:|---:|');
    for (const [name, root] of builds) console.log(`| ${name} ${await readsDuringAnalysis(root, serveJobs)}`);
  }
  console.log(`\nload average at end: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

await main();
