// Benchmark: the whole Philly summary trace (82,247 jobs) with the 11 Helios virtual clusters
// as teams, guarantees at a quarter (704 GPUs), full default policy (bench/philly/*.yaml).
// Measures, side by side in one process: the engine simulation, a bare event-driven FIFO loop
// over the same jobs (the floor any simulator pays), and the whole `arbiter simulate` command
// (process start, parse, simulate, write outputs). Prints a markdown table; writes JSON to
// bench/results/philly.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseCluster } from '../../src/core/config/cluster.js';
import { parsePolicy } from '../../src/core/config/policy.js';
import { parseTrace } from '../../src/core/config/trace.js';
import type { JobSpec, Result } from '../../src/core/model.js';
import { summarize } from '../../src/sim/metrics.js';
import { simulate } from '../../src/sim/simulator.js';
import { importPhilly } from '../../src/traces/philly.js';
import { MissingTraceError, PUBLIC_TRACES, requireTraceFile, tracesDir } from '../../src/traces/public-traces.js';

// Run from the repository root (see BENCHMARKS.md): node dist-bench/bench/philly/run.js [runs]
// [--traces DIR]. The full trace is read from DIR/philly/philly_jobs_82k.csv; DIR defaults to
// $ARBITER_TRACES, else ../shared/traces beside the repository (docs/traces.md).
const repo = process.cwd();
let phillyCsv: string;
let runs: number;
try {
  const traces = tracesDir(process.argv.slice(2), process.env, resolve(repo, '../shared/traces'));
  phillyCsv = requireTraceFile(traces, PUBLIC_TRACES.philly);
  runs = Number(traces.rest[0] ?? 5);
} catch (error) {
  if (!(error instanceof MissingTraceError)) throw error;
  console.error(error.message);
  process.exit(2);
}

function value<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(result.issues.map((i) => i.message).join('\n'));
  return result.value;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One shared FIFO queue over a GPU count: no teams, no placement, no preemption. */
function bareFifo(jobs: readonly JobSpec[], capacity: number): number {
  const order = jobs.map((_, i) => i).sort((a, b) => jobs[a]!.submit - jobs[b]!.submit || a - b);
  const endTime: number[] = [];
  const endGpus: number[] = [];
  const push = (t: number, g: number): void => {
    let i = endTime.length;
    endTime.push(t);
    endGpus.push(g);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (endTime[p]! <= t) break;
      endTime[i] = endTime[p]!;
      endGpus[i] = endGpus[p]!;
      i = p;
    }
    endTime[i] = t;
    endGpus[i] = g;
  };
  const pop = (): number => {
    const g = endGpus[0]!;
    const lastT = endTime.pop()!;
    const lastG = endGpus.pop()!;
    const n = endTime.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && endTime[c + 1]! < endTime[c]!) c++;
        if (endTime[c]! >= lastT) break;
        endTime[i] = endTime[c]!;
        endGpus[i] = endGpus[c]!;
        i = c;
      }
      endTime[i] = lastT;
      endGpus[i] = lastG;
    }
    return g;
  };
  let free = capacity;
  let next = 0;
  let head = 0;
  const queue: number[] = [];
  let makespan = 0;
  while (next < order.length || endTime.length > 0) {
    const t = Math.min(next < order.length ? jobs[order[next]!]!.submit : Infinity, endTime.length > 0 ? endTime[0]! : Infinity);
    while (endTime.length > 0 && endTime[0] === t) free += pop();
    while (next < order.length && jobs[order[next]!]!.submit === t) {
      const j = order[next++]!;
      if (jobs[j]!.gpus <= capacity) queue.push(j);
    }
    while (head < queue.length && jobs[queue[head]!]!.gpus <= free) {
      const j = jobs[queue[head++]!]!;
      free -= j.gpus;
      push(t + j.duration, j.gpus);
      makespan = Math.max(makespan, t + j.duration);
    }
  }
  return makespan;
}

const cli = resolve(repo, 'bin/arbiter.js');
const clusterPath = resolve(repo, 'bench/philly/cluster.yaml');
const policyPath = resolve(repo, 'bench/philly/policy.yaml');
const work = mkdtempSync(join(tmpdir(), 'arbiter-bench-'));
const tracePath = join(work, 'philly.csv');
const imported = importPhilly(readFileSync(phillyCsv, 'utf8'), 'philly_jobs_82k.csv');
writeFileSync(tracePath, imported.csv);
const fleet = value(parseCluster(readFileSync(clusterPath, 'utf8'), 'cluster.yaml'));
const policy = value(parsePolicy(readFileSync(policyPath, 'utf8'), 'policy.yaml', fleet));
const parseStart = performance.now();
const jobs = value(parseTrace(imported.csv, 'philly.csv', policy, fleet));
const parseMs = performance.now() - parseStart;
const capacity = fleet.pools.reduce((n, p) => n + p.nodes * p.gpusPerNode, 0);

const engineMs: number[] = [];
const fifoMs: number[] = [];
const cliMs: number[] = [];
let summary: ReturnType<typeof summarize> | null = null;
let passes = 0;
for (let i = 0; i < runs; i++) {
  let t0 = performance.now();
  const result = simulate(fleet, policy, jobs);
  engineMs.push(performance.now() - t0);
  passes = result.passes;
  summary = summarize(result);
  t0 = performance.now();
  bareFifo(jobs, capacity);
  fifoMs.push(performance.now() - t0);
  t0 = performance.now();
  const out = spawnSync(process.execPath, [cli, 'simulate', '--cluster', clusterPath, '--policy', policyPath, '--trace', tracePath, '--out', join(work, 'out')], {
    encoding: 'utf8',
  });
  cliMs.push(performance.now() - t0);
  if (out.status !== 0) throw new Error(`arbiter simulate failed: ${out.stderr}`);
}
rmSync(work, { recursive: true, force: true });

const n = jobs.length;
const rows = [
  ['engine simulation (in process)', median(engineMs), n / (median(engineMs) / 1000)],
  ['bare FIFO loop, same jobs (in process)', median(fifoMs), n / (median(fifoMs) / 1000)],
  ['`arbiter simulate` command, wall', median(cliMs), n / (median(cliMs) / 1000)],
] as const;
const lines = [
  `Philly: ${n} jobs, ${capacity} GPUs, ${policy.teams.length} teams, ${passes} passes; median of ${runs} runs; trace parse ${parseMs.toFixed(0)} ms`,
  '',
  '| what | median ms | jobs/s |',
  '|---|---:|---:|',
  ...rows.map(([what, ms, rate]) => `| ${what} | ${ms.toFixed(0)} | ${Math.round(rate).toLocaleString('en-US')} |`),
  '',
  `engine / bare FIFO time ratio: ${(median(engineMs) / median(fifoMs)).toFixed(1)}x`,
  `summary: avg JCT ${summary!.avgJct} s, avg wait ${summary!.avgWait} s, utilization ${summary!.utilization}, preemptions ${summary!.preemptions}`,
];
process.stdout.write(lines.join('\n') + '\n');
mkdirSync(resolve(repo, 'bench/results'), { recursive: true });
writeFileSync(
  resolve(repo, 'bench/results/philly.json'),
  JSON.stringify({ jobs: n, gpus: capacity, passes, runs, parseMs, engineMs, fifoMs, cliMs, summary }, null, 2),
);
