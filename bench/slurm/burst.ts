// A burst of short jobs through Arbiter in front of Slurm, side by side in one run with the same
// jobs given to Slurm's own scheduler by `sbatch` (BENCHMARKS.md, "Slurm burst"; docs/slurm.md).
//
//   npx tsc --outDir dist-bench --rootDir . --module NodeNext --moduleResolution NodeNext \
//     --target ES2022 --strict --skipLibCheck --types node bench/slurm/burst.ts
//   node dist-bench/bench/slurm/burst.js [--jobs 1000] [--sleep 1] [--order slurm,arbiter-before,arbiter]
//   (from the repository root, as root: it starts Slurm test clusters with scripts/slurm-test-cluster.sh)
//
// Each side gets a fresh test cluster (3 nodes x 8 a100, the settings docs/slurm.md asks for) and
// the same N jobs of `sleep S` needing one GPU:
// - slurm: one `sbatch --gres=gpu:a100:1 --wrap 'sleep S'` after another (Slurm places them);
// - arbiter: `arbiter serve --executor slurm` on the cluster, the jobs POSTed to /v1/jobs (8 at
//   a time); Arbiter decides and submits each, pinned (--nodelist, --gres), at its default pace;
// - arbiter-before: the same at the pace of before (--slurm-pace poll=1000,fast-poll=1000,sbatch=4:
//   a poll every second, 4 sbatch at once);
// - arbiter=<pace>: the same at another --slurm-pace, "+" for ","; e.g. arbiter=end-hints=0 (no
//   end hints from the batch scripts).
// For the Arbiter sides, where the time goes (means over the jobs): decision -> Slurm's submit
// time (waiting for and running sbatch), submit -> start (Slurm allocating and launching),
// start -> end, end -> Arbiter's end (noticing it: the poll), Arbiter's end -> the next decision
// (the loop), each to about a second per job (Slurm's times are whole seconds; +0.5 s corrects
// the truncation of times read against millisecond ones).
// Times are read from Slurm at the end (`squeue --json` start_time and end_time, whole seconds)
// and counted from the first submission: when all jobs have started, when all have ended. For
// Arbiter also the decision-to-RUNNING latency of each job: Slurm's start_time minus the time
// the engine decided (the job's startedAt in the API, milliseconds), so it is known to a second.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = process.cwd();
const script = path.join(root, 'scripts', 'slurm-test-cluster.sh');

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const JOBS = Number(option('jobs', '1000'));
const SLEEP = Number(option('sleep', '1'));
const ORDER = option('order', 'slurm,arbiter-before,arbiter').split(',');
const OUT = option('out', path.join('bench', 'results', 'slurm-burst.json'));

interface SlurmJob {
  job_id: number;
  name: string;
  job_state: string;
  submit_time: number;
  start_time: number;
  end_time: number;
}

interface Side {
  side: string;
  jobs: number;
  submitSeconds: number;
  allStartedSeconds: number;
  allEndedSeconds: number;
  latency?: { p50: number; p99: number; max: number };
  /** Mean seconds per job of each step (Arbiter sides). */
  steps?: { toSbatch: number; slurmStart: number; run: number; noticed: number; nextDecision: number };
  /** The executor's calls to Slurm (from /metrics): count and mean seconds; the server's CPU seconds. */
  calls?: Record<string, { count: number; mean: number }>;
  serverCpu?: number;
  load: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const load = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ');

async function cluster(): Promise<{ dir: string; env: NodeJS.ProcessEnv; stop: () => Promise<void> }> {
  const dir = mkdtempSync(path.join('/tmp', 'arbiter-burst-'));
  await run(script, ['start', dir], { env: { ...process.env, SLURM_TEST_NODES: '3' }, timeout: 120_000 });
  const env = { ...process.env, SLURM_CONF: path.join(dir, 'slurm.conf') };
  return {
    dir,
    env,
    stop: async () => {
      await run(script, ['stop', dir], { timeout: 120_000 }).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function squeue(env: NodeJS.ProcessEnv): Promise<SlurmJob[]> {
  const { stdout } = await run('squeue', ['--json'], { env, maxBuffer: 1 << 28 });
  return (JSON.parse(stdout) as { jobs: SlurmJob[] }).jobs;
}

/** Waits until every job named with `prefix` has ended; their Slurm records. */
async function drained(env: NodeJS.ProcessEnv, prefix: string): Promise<SlurmJob[]> {
  for (;;) {
    await sleep(2000);
    const jobs = (await squeue(env)).filter((j) => j.name.startsWith(prefix));
    if (jobs.length >= JOBS && jobs.every((j) => j.job_state === 'COMPLETED' || j.job_state === 'FAILED' || j.job_state === 'CANCELLED')) return jobs;
    process.stderr.write(`\r${prefix}: ${jobs.filter((j) => j.job_state === 'COMPLETED').length}/${JOBS} completed   `);
  }
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function plainSlurm(): Promise<Side> {
  const c = await cluster();
  try {
    const t0 = Date.now() / 1000;
    for (let i = 0; i < JOBS; i++) {
      await run('sbatch', ['--parsable', '--partition=gpu', '--gres=gpu:a100:1', `--job-name=plain-${i}`, '--output=/dev/null', '--wrap', `sleep ${SLEEP}`], { env: c.env });
    }
    const submitted = Date.now() / 1000;
    const jobs = await drained(c.env, 'plain-');
    return {
      side: 'Slurm alone (sbatch loop)',
      jobs: jobs.length,
      submitSeconds: submitted - t0,
      allStartedSeconds: Math.max(...jobs.map((j) => j.start_time)) - t0,
      allEndedSeconds: Math.max(...jobs.map((j) => j.end_time)) - t0,
      load: load(),
    };
  } finally {
    await c.stop();
  }
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** The pace of before this bench's changes: a poll every second, 4 sbatch at once. */
const BEFORE = 'poll=1000,fast-poll=1000,sbatch=4';

/** `pace`: a --slurm-pace, or null for the server's default. */
async function throughArbiter(pace: string | null): Promise<Side> {
  const c = await cluster();
  const data = mkdtempSync(path.join('/tmp', 'arbiter-burst-data-'));
  const paceArgs = pace === null ? [] : ['--slurm-pace', pace];
  const server = spawn(process.execPath, ['bin/arbiter.js', 'serve', '--data', data, '--port', '0', '--no-demo-setup', '--executor', 'slurm', '--rate-limit', 'off', ...paceArgs], { env: c.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-100_000)));
  server.stderr.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-100_000)));
  try {
    let url = '';
    for (let i = 0; i < 600 && url === ''; i++) {
      await sleep(100);
      url = /Arbiter is serving on (http:\/\/\S+)/.exec(out)?.[1] ?? '';
    }
    if (url === '') throw new Error(`arbiter serve did not start:\n${out}`);
    const token = readFileSync(path.join(data, 'admin-token'), 'utf8').trim();
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const t0 = Date.now() / 1000;
    let next = 0;
    const ids: string[] = [];
    const worker = async (): Promise<void> => {
      while (next < JOBS) {
        const i = next++;
        const response = await fetch(`${url}/v1/jobs`, { method: 'POST', headers, body: JSON.stringify({ team: 'default', gpus: 1, name: `burst-${i}`, command: `sleep ${SLEEP}` }) });
        if (response.status !== 201) throw new Error(`POST /v1/jobs: ${response.status} ${await response.text()}`);
        ids.push(((await response.json()) as { id: string }).id);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const submitted = Date.now() / 1000;
    const jobs = await drained(c.env, 'arbiter-');
    // When the engine decided each job (startedAt, ms), against when Slurm started it (s).
    const decided = new Map<string, number>();
    const noticed = new Map<string, number>();
    let cursor: string | null = null;
    do {
      const response = await fetch(`${url}/v1/jobs?limit=500${cursor ? `&cursor=${cursor}` : ''}`, { headers });
      const page = (await response.json()) as { jobs: { id: string; startedAt: string | null; endedAt: string | null }[]; nextCursor: string | null };
      for (const j of page.jobs) if (j.startedAt) decided.set(j.id, Date.parse(j.startedAt) / 1000);
      for (const j of page.jobs) if (j.endedAt) noticed.set(j.id, Date.parse(j.endedAt) / 1000);
      cursor = page.nextCursor;
    } while (cursor);
    const idOf = (j: SlurmJob): string => j.name.slice('arbiter-'.length);
    const metrics = await (await fetch(`${url}/metrics`, { headers })).text();
    const calls: Record<string, { count: number; mean: number }> = {};
    for (const m of metrics.matchAll(/^arbiter_executor_calls_total\{call="([^"]+)"\} (\S+)$/gm)) {
      const seconds = new RegExp(`^arbiter_executor_call_seconds_total\\{call="${m[1]!}"\\} (\\S+)$`, 'm').exec(metrics);
      calls[m[1]!] = { count: Number(m[2]), mean: Number(seconds?.[1]) / Number(m[2]) };
    }
    // utime + stime of the server (clock ticks, 100 a second on Linux).
    const stat = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const serverCpu = (Number(stat[11]) + Number(stat[12])) / 100;
    const latencies = jobs.map((j) => j.start_time - decided.get(idOf(j))!).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    // The loop's share: each decision after the first (a full fleet) against the last end Arbiter noticed before it.
    const ends = [...noticed.values()].sort((a, b) => a - b);
    const gaps: number[] = [];
    for (const at of decided.values()) {
      let lo = 0;
      let hi = ends.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ends[mid]! <= at) lo = mid + 1;
        else hi = mid;
      }
      if (lo > 0) gaps.push(at - ends[lo - 1]!);
    }
    const steps = {
      toSbatch: mean(jobs.map((j) => j.submit_time + 0.5 - decided.get(idOf(j))!)),
      slurmStart: mean(jobs.map((j) => j.start_time - j.submit_time)),
      run: mean(jobs.map((j) => j.end_time - j.start_time)),
      noticed: mean(jobs.map((j) => noticed.get(idOf(j))! - (j.end_time + 0.5)).filter((x) => Number.isFinite(x))),
      nextDecision: mean(gaps),
    };
    return {
      side: pace === BEFORE ? 'Arbiter + Slurm, pace of before (poll 1 s, 4 sbatch)' : `Arbiter + Slurm (${pace ?? 'default pace'})`,
      jobs: jobs.length,
      submitSeconds: submitted - t0,
      allStartedSeconds: Math.max(...jobs.map((j) => j.start_time)) - t0,
      allEndedSeconds: Math.max(...jobs.map((j) => j.end_time)) - t0,
      latency: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies[latencies.length - 1]! },
      steps,
      calls,
      serverCpu,
      load: load(),
    };
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    await c.stop();
    rmSync(data, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const results: Side[] = [];
  for (const side of ORDER) {
    process.stderr.write(`${side}: ${JOBS} jobs of sleep ${SLEEP} (load average ${load()})\n`);
    // "arbiter=poll=500+sbatch=2": another pace (--slurm-pace, "+" for ",").
    const pace = side === 'arbiter-before' ? BEFORE : side.startsWith('arbiter=') ? side.slice('arbiter='.length).replaceAll('+', ',') : null;
    results.push(side === 'slurm' ? await plainSlurm() : await throughArbiter(pace));
    process.stderr.write('\n');
  }
  const f = (x: number): string => x.toFixed(1);
  console.log('| side | jobs | submitted after | all started after | all ended after | decision to RUNNING p50 / p99 / max | load average after |');
  console.log('|---|---:|---:|---:|---:|---:|---|');
  for (const r of results) {
    console.log(`| ${r.side} | ${r.jobs} | ${f(r.submitSeconds)} s | ${f(r.allStartedSeconds)} s | ${f(r.allEndedSeconds)} s | ${r.latency ? `${f(r.latency.p50)} / ${f(r.latency.p99)} / ${f(r.latency.max)} s` : '-'} | ${r.load} |`);
  }
  console.log('\n| side | decision -> sbatch done | submit -> start (Slurm) | start -> end | end -> Arbiter noticed | noticed -> next decision |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of results) {
    if (r.steps) console.log(`| ${r.side} | ${r.steps.toSbatch.toFixed(2)} s | ${r.steps.slurmStart.toFixed(2)} s | ${r.steps.run.toFixed(2)} s | ${r.steps.noticed.toFixed(2)} s | ${r.steps.nextDecision.toFixed(3)} s |`);
  }
  for (const r of results) {
    if (r.calls) console.log(`\n${r.side}: server CPU ${r.serverCpu?.toFixed(1)} s; ${Object.entries(r.calls).map(([name, c]) => `${name} ${c.count} x ${c.mean.toFixed(3)} s`).join(', ')}`);
  }
  const slurm = results.find((r) => r.side.startsWith('Slurm'));
  for (const arbiter of results.filter((r) => r.side.startsWith('Arbiter'))) {
    if (!slurm) break;
    console.log(`\n${arbiter.side} / Slurm alone: all started ${(arbiter.allStartedSeconds / slurm.allStartedSeconds).toFixed(2)}x, all ended ${(arbiter.allEndedSeconds / slurm.allEndedSeconds).toFixed(2)}x`);
  }
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify({ jobs: JOBS, sleep: SLEEP, results }, null, 2)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
