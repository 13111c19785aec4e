// Reproduces a published curve: Gavel's (OSDI'20) heterogeneity-agnostic FIFO on its
// continuous-single trace, seed 0, 36 V100 + 36 P100 + 36 K80, average JCT of jobs 4000-4999,
// against the input job rate. Gavel's numbers are the notebook outputs in
// gavel_osdi20/results_continuous_seed0_from_notebooks.csv of the traces folder (docs/traces.md).
//
// For every rate the notebook lists for agnostic FIFO, Arbiter's engine runs the trace twice
// (bench/gavel/cluster.yaml and policy.yaml: one team, no guarantee): event-driven (a pass after
// every event, Arbiter's default) and in Gavel's 360 s rounds (`--round 360`). It also runs the
// las baseline in 360 s rounds at 0.4 jobs/h beside Gavel's agnostic LAS.
//
// Writes docs/evaluation-gavel.svg (the curve, ours beside theirs) and
// bench/results/gavel-fifo.json, and prints a markdown table.
//
// Build and run from the repository root:
//   npx tsc --outDir dist-bench --rootDir . --module NodeNext --moduleResolution NodeNext \
//     --target ES2022 --strict --skipLibCheck --types node bench/gavel/reproduce.ts
//   node dist-bench/bench/gavel/reproduce.js [rates, comma-separated; default: the notebook's] [--traces DIR]
// The traces folder (gavel_osdi20/ inside it) is --traces DIR, else $ARBITER_TRACES, else
// ../shared/traces beside the repository.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCluster } from '../../src/core/config/cluster.js';
import { parsePolicy } from '../../src/core/config/policy.js';
import { parseTrace } from '../../src/core/config/trace.js';
import type { Fleet, JobSpec, Policy, Result } from '../../src/core/model.js';
import { runBaseline } from '../../src/sim/baselines/index.js';
import { summarize } from '../../src/sim/metrics.js';
import { simulate } from '../../src/sim/simulator.js';
import type { SimulationResult } from '../../src/sim/types.js';
import { importTrace } from '../../src/traces/index.js';
import { MissingTraceError, PUBLIC_TRACES, requireTraceFile, tracesDir } from '../../src/traces/public-traces.js';

const repo = process.cwd();
let traceCsv: string;
let resultsCsv: string;
let args: string[];
try {
  const traces = tracesDir(process.argv.slice(2), process.env, resolve(repo, '../shared/traces'));
  traceCsv = requireTraceFile(traces, PUBLIC_TRACES.gavelSingle0);
  resultsCsv = requireTraceFile(traces, PUBLIC_TRACES.gavelResults);
  args = traces.rest;
} catch (error) {
  if (!(error instanceof MissingTraceError)) throw error;
  console.error(error.message);
  process.exit(2);
}
const TRACE_FILE = PUBLIC_TRACES.gavelSingle0.file;
const ROUND = 360;
const MEASURE: readonly [number, number] = [4000, 4999];
/** Tolerances of the issue: 5% below the knee, 15% from 4.8 jobs/h on. */
const KNEE = 4.8;

function value<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(result.issues.map((i) => i.message).join('\n'));
  return result.value;
}

// Gavel's notebook outputs.
interface Published {
  readonly fifo: Map<number, number>;
  readonly las: Map<number, number>;
}
function readPublished(): Published {
  const lines = readFileSync(resultsCsv, 'utf8').trim().split(/\r?\n/);
  const header = lines[0]!.split(',');
  const col = (name: string): number => header.indexOf(name);
  const fifo = new Map<number, number>();
  const las = new Map<number, number>();
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    if (cells[col('trace')] !== 'single' || cells[col('metric')] !== 'avg_jct_hours') continue;
    const rate = Number(cells[col('input_job_rate_jobs_per_hr')]);
    const v = Number(cells[col('value')]);
    if (cells[col('policy_key')] === 'fifo') fifo.set(rate, v);
    if (cells[col('policy_key')] === 'max_min_fairness') las.set(rate, v);
  }
  return { fifo, las };
}

const fleet: Fleet = value(parseCluster(readFileSync(join(repo, 'bench/gavel/cluster.yaml'), 'utf8'), 'cluster.yaml'));
const policy: Policy = value(parsePolicy(readFileSync(join(repo, 'bench/gavel/policy.yaml'), 'utf8'), 'policy.yaml', fleet));
const source = readFileSync(traceCsv, 'utf8');

function traceAt(rate: number): JobSpec[] {
  const imported = importTrace('gavel', source, TRACE_FILE, { jobsPerHour: rate });
  return value(parseTrace(imported.csv, `${TRACE_FILE}@${rate}`, policy, fleet));
}

const hours = (result: SimulationResult): number => summarize(result, { measureJobs: MEASURE }).avgJct / 3600;
const round2 = (x: number): number => Math.round(x * 100) / 100;
const errorPct = (ours: number, theirs: number): number => Math.round(((ours - theirs) / theirs) * 1000) / 10;

interface Row {
  readonly rate: number;
  readonly gavel: number;
  readonly eventDriven: number;
  readonly rounds: number;
  readonly errorEventDriven: number;
  readonly errorRounds: number;
  readonly tolerance: number;
  readonly secondsEventDriven: number;
  readonly secondsRounds: number;
}

const published = readPublished();
const rates = args[0] !== undefined ? args[0].split(',').map(Number) : [...published.fifo.keys()].sort((a, b) => a - b);
const rows: Row[] = [];
for (const rate of rates) {
  const gavel = published.fifo.get(rate);
  if (gavel === undefined) throw new Error(`the notebook has no agnostic FIFO value at ${rate} jobs/h`);
  const trace = traceAt(rate);
  let t0 = performance.now();
  const eventDriven = hours(simulate(fleet, policy, trace));
  const secondsEventDriven = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const rounds = hours(simulate(fleet, policy, trace, { round: ROUND }));
  const secondsRounds = (performance.now() - t0) / 1000;
  const row: Row = {
    rate,
    gavel,
    eventDriven: round2(eventDriven),
    rounds: round2(rounds),
    errorEventDriven: errorPct(eventDriven, gavel),
    errorRounds: errorPct(rounds, gavel),
    tolerance: rate >= KNEE ? 15 : 5,
    secondsEventDriven: Math.round(secondsEventDriven * 10) / 10,
    secondsRounds: Math.round(secondsRounds * 10) / 10,
  };
  rows.push(row);
  process.stderr.write(`${rate} jobs/h: Gavel ${gavel} h, ours ${row.rounds} h with rounds (${row.errorRounds}%), ${row.eventDriven} h event-driven (${row.errorEventDriven}%)\n`);
}

// las at 0.4 jobs/h beside Gavel's agnostic LAS.
const lasRate = 0.4;
const lasTrace = traceAt(lasRate);
const las = {
  rate: lasRate,
  gavel: published.las.get(lasRate) ?? null,
  rounds: round2(hours(runBaseline('las', fleet, policy, lasTrace, { lasRound: ROUND }))),
  eventDriven: round2(hours(runBaseline('las', fleet, policy, lasTrace))),
};
process.stderr.write(`las at ${lasRate} jobs/h: Gavel agnostic LAS ${las.gavel} h, ours ${las.rounds} h with rounds, ${las.eventDriven} h event-driven\n`);

// The table.
const ok = (error: number, tolerance: number): string => (Math.abs(error) <= tolerance ? 'yes' : '**no**');
const table = [
  '| Jobs/h | Gavel agnostic FIFO (h) | Arbiter, 360 s rounds (h) | Error | Within tolerance | Arbiter, event-driven (h) | Error |',
  '|---:|---:|---:|---:|:---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.rate.toFixed(1)} | ${r.gavel.toFixed(2)} | ${r.rounds.toFixed(2)} | ${r.errorRounds > 0 ? '+' : ''}${r.errorRounds.toFixed(1)}% | ${ok(r.errorRounds, r.tolerance)} (±${r.tolerance}%) | ${r.eventDriven.toFixed(2)} | ${r.errorEventDriven > 0 ? '+' : ''}${r.errorEventDriven.toFixed(1)}% |`,
  ),
].join('\n');
process.stdout.write(`${table}\n\n`);
process.stdout.write(`las at ${lasRate} jobs/h: Gavel agnostic LAS ${las.gavel} h; Arbiter las ${las.rounds} h (--las-round 360), ${las.eventDriven} h (event-driven)\n`);

mkdirSync(join(repo, 'bench/results'), { recursive: true });
writeFileSync(join(repo, 'bench/results/gavel-fifo.json'), JSON.stringify({ trace: TRACE_FILE, round: ROUND, measureJobs: MEASURE, rows, las }, null, 2) + '\n');
writeFileSync(join(repo, 'docs/evaluation-gavel.svg'), chart(rows));

/** A line chart: average JCT (h) against jobs/h, Gavel's and ours (with and without rounds). */
function chart(data: readonly Row[]): string {
  const W = 720;
  const H = 420;
  const m = { left: 64, right: 24, top: 40, bottom: 56 };
  const xs = data.map((r) => r.rate);
  const xMin = 0;
  const xMax = Math.ceil(Math.max(...xs) * 2) / 2;
  const yMaxData = Math.max(...data.flatMap((r) => [r.gavel, r.rounds, r.eventDriven]));
  const yStep = yMaxData > 100 ? 25 : 10;
  const yMax = Math.ceil(yMaxData / yStep) * yStep;
  const x = (v: number): number => m.left + ((v - xMin) / (xMax - xMin)) * (W - m.left - m.right);
  const y = (v: number): number => H - m.bottom - (v / yMax) * (H - m.top - m.bottom);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">Heterogeneity-agnostic FIFO, Gavel continuous-single seed 0, 36 V100 + 36 P100 + 36 K80</text>`,
  );
  for (let v = 0; v <= yMax; v += yStep) {
    parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.left - 8}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  for (let v = 0; v <= xMax + 1e-9; v += 0.4) {
    const vv = Math.round(v * 10) / 10;
    parts.push(`<line x1="${x(vv)}" x2="${x(vv)}" y1="${H - m.bottom}" y2="${H - m.bottom + 4}" stroke="#333"/>`);
    parts.push(`<text x="${x(vv)}" y="${H - m.bottom + 18}" text-anchor="middle">${vv.toFixed(1)}</text>`);
  }
  parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${H - m.bottom}" y2="${H - m.bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${H - m.bottom}" stroke="#333"/>`);
  parts.push(`<text x="${W / 2}" y="${H - 14}" text-anchor="middle">Input job rate (jobs/hour)</text>`);
  parts.push(`<text transform="translate(18 ${(m.top + H - m.bottom) / 2}) rotate(-90)" text-anchor="middle">Average JCT, jobs 4000-4999 (hours)</text>`);
  const series: { name: string; color: string; dash: string; get: (r: Row) => number }[] = [
    { name: 'Gavel (published notebook)', color: '#111111', dash: '', get: (r) => r.gavel },
    { name: 'Arbiter, 360 s rounds (--round 360)', color: '#d62728', dash: '', get: (r) => r.rounds },
    { name: 'Arbiter, event-driven (default)', color: '#1f77b4', dash: '6 4', get: (r) => r.eventDriven },
  ];
  series.forEach((s, i) => {
    const points = data.map((r) => `${x(r.rate).toFixed(1)},${y(s.get(r)).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    for (const r of data) parts.push(`<circle cx="${x(r.rate).toFixed(1)}" cy="${y(s.get(r)).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const ly = m.top + 10 + i * 18;
    parts.push(`<line x1="${m.left + 16}" x2="${m.left + 46}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    parts.push(`<text x="${m.left + 52}" y="${ly + 4}">${s.name}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
