// The synthetic scale benchmark: a lab of 100,000 GPUs (12,500 nodes of 8), 1,000 leaf
// teams in three levels and 1,000,000 jobs; see README.md for what each number means.
//
//   npx tsc -p bench/synthetic/tsconfig.json
//   node --expose-gc --max-old-space-size=16000 dist-bench/synthetic/bench/synthetic/run.js [options]
//
// Every measurement runs in a child process of its own (same script, `--child <config>`),
// so its peak memory is its own and one slow or failed measurement does not stop the rest.
// Results: a markdown table on stdout, JSON in bench/results/.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSimulation, runState } from './measure.js';
import type { ChildConfig, LabShape, SimConfig, SimResult, StateConfig, StateResult } from './measure.js';
import { readProfile, topFunctions } from './profile.js';
import { fmt, median, table } from './stats.js';

const script = fileURLToPath(import.meta.url);
/** The repository: the first folder above the compiled script that holds package.json. */
function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}
const repoRoot = findRoot(path.dirname(script));
const NODE_FLAGS = ['--expose-gc', '--max-old-space-size=16000'];

interface Options {
  parts: Set<string>;
  axes: Set<string>;
  simJobs: number[];
  scale: number;
  repeat: number;
  repeatBudgetS: number;
  timeoutS: number;
  simLimitS: number;
  profile: boolean;
  profileState: string;
  planReps: number;
  planBudgetS: number;
  events: number;
  eventBudgetS: number;
  out: string | null;
}

const HELP = `Usage: node --expose-gc --max-old-space-size=16000 dist-bench/synthetic/bench/synthetic/run.js [options]
  --parts sim,state        what to measure (default: both)
  --axes pending,nodes,teams,target   growth axes of the saturated state, and the target
                           state itself (default: all; the base state always runs)
  --sim-jobs 62500,250000,1000000   job counts of the simulations
  --sim-limit 600          wall-clock seconds after which a simulation stops (reported as partial)
  --scale 1                multiply every size (nodes, pending, jobs) by this (0.0625 for a smoke test)
  --repeat 3               runs of each measurement (medians are reported)
  --repeat-budget 120      no further runs of a measurement once one took longer (seconds)
  --timeout 1500           seconds before a measurement is stopped
  --plan-reps 20           repeats of one plan on a state (median)
  --plan-budget 60         seconds after which plan repeats stop (at least 3 are made)
  --events 1000            events of each kind (finish+pass, submit+pass)
  --event-budget 60        seconds after which events of one kind stop (at least 20 are made)
  --profile                instead of timing: CPU profiles of one state's pass and events (at
                           most 5 plans, 200 events or 30 s of each) and of the first
                           simulation of --sim-jobs, with their top functions
  --profile-state target   the state to profile (base, pending-4x, ..., target)
  --out FILE               JSON output (default bench/results/synthetic-<time>.json)`;

function parseArgs(argv: string[]): Options | { child: string } {
  const o: Options = {
    parts: new Set(['sim', 'state']),
    axes: new Set(['pending', 'nodes', 'teams', 'target']),
    simJobs: [62500, 250000, 1000000],
    scale: 1,
    repeat: 3,
    repeatBudgetS: 120,
    timeoutS: 1500,
    simLimitS: 600,
    profile: false,
    profileState: 'target',
    planReps: 20,
    planBudgetS: 60,
    events: 1000,
    eventBudgetS: 60,
    out: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const list = (): string[] =>
      value()
        .split(',')
        .filter((s) => s.length > 0);
    switch (a) {
      case '--child':
        return { child: value() };
      case '--parts':
        o.parts = new Set(list());
        break;
      case '--axes':
        o.axes = new Set(list());
        break;
      case '--sim-jobs':
        o.simJobs = list().map(Number);
        break;
      case '--scale':
        o.scale = Number(value());
        break;
      case '--repeat':
        o.repeat = Number(value());
        break;
      case '--repeat-budget':
        o.repeatBudgetS = Number(value());
        break;
      case '--timeout':
        o.timeoutS = Number(value());
        break;
      case '--plan-reps':
        o.planReps = Number(value());
        break;
      case '--events':
        o.events = Number(value());
        break;
      case '--plan-budget':
        o.planBudgetS = Number(value());
        break;
      case '--event-budget':
        o.eventBudgetS = Number(value());
        break;
      case '--sim-limit':
        o.simLimitS = Number(value());
        break;
      case '--profile':
        o.profile = true;
        break;
      case '--profile-state':
        o.profileState = value();
        break;
      case '--out':
        o.out = value();
        break;
      case '--help':
        console.log(HELP);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a}\n${HELP}`);
    }
  }
  return o;
}

// ------------------------------------------------------------------ configurations

const TARGET_NODES = 12500;
const TARGET_PENDING = 100000;
const TEAM_SHAPES: Record<number, { divisions: number; groups: number; leaves: number }> = {
  250: { divisions: 10, groups: 5, leaves: 5 },
  1000: { divisions: 10, groups: 10, leaves: 10 },
  4000: { divisions: 10, groups: 20, leaves: 20 },
};

/**
 * The saturated states. The growth axes start from a base of 1/16 of the target on both
 * axes (782 nodes = 6,256 GPUs, 6,250 pending, 1,000 leaf teams) and grow one quantity at
 * a time by 4x and 16x, so each axis ends at the target's value; the teams axis goes
 * 250 / 1,000 / 4,000 leaves on the base. `target` is the state: 12,500 nodes
 * (100,000 GPUs), 100,000 pending, ~50,000 running, 1,000 leaf teams.
 */
function stateConfigs(o: Options): { axis: string; factor: string; config: StateConfig }[] {
  const make = (nodes: number, pending: number, leafTeams: number, label: string): StateConfig => ({
    kind: 'state',
    label,
    nodes: Math.max(32, Math.round(nodes * o.scale)),
    ...TEAM_SHAPES[leafTeams]!,
    pending: Math.max(100, Math.round(pending * o.scale)),
    seed: 42,
    planReps: o.planReps,
    planBudgetS: o.planBudgetS,
    events: o.events,
    eventBudgetS: o.eventBudgetS,
  });
  const n = Math.round(TARGET_NODES / 16);
  const p = TARGET_PENDING / 16;
  const out: { axis: string; factor: string; config: StateConfig }[] = [];
  out.push({ axis: 'base', factor: '1x', config: make(n, p, 1000, 'base') });
  if (o.axes.has('pending')) {
    out.push({ axis: 'pending', factor: '4x', config: make(n, p * 4, 1000, 'pending-4x') });
    out.push({ axis: 'pending', factor: '16x', config: make(n, p * 16, 1000, 'pending-16x') });
  }
  if (o.axes.has('nodes')) {
    out.push({ axis: 'fleet', factor: '4x', config: make(n * 4, p, 1000, 'fleet-4x') });
    out.push({ axis: 'fleet', factor: '16x', config: make(TARGET_NODES, p, 1000, 'fleet-16x') });
  }
  if (o.axes.has('teams')) {
    out.push({ axis: 'teams', factor: '1/4x', config: make(n, p, 250, 'teams-0.25x') });
    out.push({ axis: 'teams', factor: '4x', config: make(n, p, 4000, 'teams-4x') });
  }
  if (o.axes.has('target'))
    out.push({
      axis: 'target',
      factor: '16x, 16x',
      config: make(TARGET_NODES, TARGET_PENDING, 1000, 'target'),
    });
  return out;
}

function simConfigs(o: Options): SimConfig[] {
  const shape: LabShape = { nodes: Math.max(32, Math.round(TARGET_NODES * o.scale)), ...TEAM_SHAPES[1000]! };
  return o.simJobs.map((jobs) => {
    const n = Math.max(100, Math.round(jobs * o.scale));
    return { kind: 'sim', label: `sim-${n}`, ...shape, jobs: n, load: 1.1, seed: 7, wallLimitS: o.simLimitS };
  });
}

// ------------------------------------------------------------------ child processes

type ChildResult = SimResult | StateResult;

interface Outcome<R> {
  readonly runs: R[];
  readonly failures: string[];
}

function runChild(config: ChildConfig, timeoutS: number): ChildResult | string {
  const child = spawnSync(process.execPath, [...NODE_FLAGS, script, '--child', JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: timeoutS * 1000,
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  });
  if (child.error) return `${config.label}: ${child.error.message}`;
  if (child.signal) return `${config.label}: stopped by ${child.signal} (timeout ${timeoutS} s?)`;
  const line = child.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (child.status !== 0 || !line) return `${config.label}: exit ${child.status}`;
  return JSON.parse(line.slice('RESULT '.length)) as ChildResult;
}

function repeatChild<R extends ChildResult>(config: ChildConfig, o: Options): Outcome<R> {
  const runs: R[] = [];
  const failures: string[] = [];
  for (let i = 0; i < o.repeat; i++) {
    process.stderr.write(`${config.label}: run ${i + 1} of up to ${o.repeat}\n`);
    const start = Date.now();
    const r = runChild(config, o.timeoutS);
    const took = (Date.now() - start) / 1000;
    if (typeof r === 'string') {
      failures.push(r);
      process.stderr.write(`  failed: ${r}\n`);
      break;
    }
    runs.push(r as R);
    if (took > o.repeatBudgetS) break;
  }
  return { runs, failures };
}

/** Field by field median of repeated results (numbers only; the rest from the first run). */
function medianOf<T>(runs: readonly T[]): T {
  const first = runs[0]!;
  if (runs.length === 1) return first;
  const merge = (values: unknown[]): unknown => {
    const v0 = values[0];
    if (typeof v0 === 'number') return median(values as number[]);
    if (v0 !== null && typeof v0 === 'object' && !Array.isArray(v0)) {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(v0))
        out[key] = merge(values.map((v) => (v as Record<string, unknown>)[key]));
      return out;
    }
    return v0;
  };
  return merge(runs as unknown[]) as T;
}

// ------------------------------------------------------------------ report

function simTable(results: { config: SimConfig; result: SimResult | null; reps: number }[]): string {
  const base = results.find((r) => r.result)?.result ?? null;
  const rows = results.map(({ config, result: r, reps }) => {
    if (!r) return [fmt(config.jobs), fmt(config.nodes * 8), 'failed', ...Array<string>(16).fill('-')];
    return [
      fmt(r.jobs),
      fmt(r.gpus),
      r.complete ? 'all' : `${fmt(r.jobsDone)} (stopped)`,
      fmt(reps),
      fmt(r.offeredLoad),
      r.complete ? fmt(r.simulatedDays) : `${fmt(r.simulatedDaysReached)} (reached)`,
      fmt(r.simulateS),
      base ? `${fmt(r.simulateS / base.simulateS)}x` : '-',
      fmt(r.jobsPerS),
      fmt(r.passes),
      fmt(r.step.median),
      fmt(r.step.p99),
      `${fmt(r.slowestPass.ms)} (${fmt(r.slowestPass.pending)} pending)`,
      fmt(r.maxPending),
      fmt(r.maxRunning),
      fmt(r.peakRssMiB),
      fmt(r.peakSampled.heapUsedMiB),
      fmt(r.baseline.heapUsedMiB),
      fmt(r.utilization),
    ];
  });
  return table(
    [
      'jobs',
      'GPUs',
      'jobs done',
      'runs',
      'offered load',
      'sim days',
      'wall s',
      'wall vs first',
      'jobs/s',
      'passes',
      'event+pass median ms',
      'p99 ms',
      'slowest pass ms',
      'max pending',
      'max running',
      'peak RSS MiB',
      'peak heapUsed MiB',
      'heap after trace MiB',
      'utilization',
    ],
    rows,
  );
}

function stateTable(
  results: { axis: string; factor: string; config: StateConfig; result: StateResult | null; reps: number }[],
): string {
  const base = results.find((r) => r.axis === 'base')?.result ?? null;
  const ratio = (x: number, b: number | undefined): string => (b ? `${fmt(x / b, 2)}x` : '-');
  const rows = results.map(({ axis, factor, config, result: r, reps }) => {
    const what = `${axis} ${factor}`;
    if (!r)
      return [
        what,
        fmt(config.nodes * 8),
        fmt(config.divisions * config.groups * config.leaves),
        'failed',
        ...Array<string>(12).fill('-'),
      ];
    return [
      what,
      fmt(r.gpus),
      fmt(r.leafTeams),
      `${fmt(r.pending)} / ${fmt(r.running)}`,
      fmt(reps),
      `${fmt(r.fillPass.ms)} (${fmt(r.fillPass.started)})`,
      `${fmt(r.burst.medianMs)} (${fmt(r.burst.started)}/${fmt(r.burst.preempted)})`,
      fmt(r.steady.medianMs),
      ratio(r.steady.medianMs, base?.steady.medianMs),
      `${fmt(r.steady.considered)}`,
      fmt(r.explainAll.medianMs),
      ratio(r.explainAll.medianMs, base?.explainAll.medianMs),
      `${fmt(r.finishPass.medianMs)} / ${fmt(r.finishPass.p99Ms)}`,
      ratio(r.finishPass.medianMs, base?.finishPass.medianMs),
      `${fmt(r.submitPass.medianMs)} / ${fmt(r.submitPass.p99Ms)}`,
      ratio(r.submitPass.medianMs, base?.submitPass.medianMs),
    ];
  });
  return table(
    [
      'state',
      'GPUs',
      'leaf teams',
      'pending / running',
      'runs',
      'fill pass ms (starts)',
      'burst plan ms (starts/preempts)',
      'pass ms',
      'vs base',
      'jobs visited',
      'explainAll ms',
      'vs base',
      'finish+pass median / p99 ms',
      'vs base',
      'submit+pass median / p99 ms',
      'vs base',
    ],
    rows,
  );
}

function environment(): Record<string, unknown> {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    // Not a git checkout: the commit stays unknown.
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: os.totalmem() / 2 ** 30,
    loadAverage: os.loadavg(),
    commit,
    nodeFlags: NODE_FLAGS,
  };
}

function profileReport(o: Options, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const all = stateConfigs({ ...o, axes: new Set(['pending', 'nodes', 'teams', 'target']) });
  const chosen = all.find((c) => c.config.label === o.profileState)?.config;
  if (!chosen)
    throw new Error(
      `--profile-state: no state ${o.profileState} (${all.map((c) => c.config.label).join(', ')})`,
    );
  const files: string[] = [];
  const state = runChild(
    {
      ...chosen,
      planReps: Math.min(o.planReps, 5),
      planBudgetS: 20,
      events: Math.min(o.events, 200),
      eventBudgetS: 30,
      profileDir: dir,
    },
    o.timeoutS,
  );
  if (typeof state === 'string') console.error(state);
  else files.push(...(state.profiles ?? []));
  if (o.parts.has('sim')) {
    const sim = simConfigs(o)[0]!;
    const r = runChild({ ...sim, profileDir: dir }, o.timeoutS);
    if (typeof r === 'string') console.error(r);
    else files.push(...(r.profiles ?? []));
  }
  for (const file of files) {
    const top = topFunctions(readProfile(file), 10, repoRoot);
    console.log(`\n### ${path.basename(file)}\n`);
    console.log(
      table(
        ['function', 'source', 'self ms', 'self %', 'total %'],
        top.map((t) => [t.name, t.where, fmt(t.selfMs), fmt(t.selfPct, 2), fmt(t.totalPct, 2)]),
      ),
    );
  }
}

async function main(): Promise<void> {
  const parsed = parseArgs(process.argv.slice(2));
  if ('child' in parsed) {
    const config = JSON.parse(parsed.child) as ChildConfig;
    const result = config.kind === 'sim' ? await runSimulation(config) : await runState(config);
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    return;
  }
  const o = parsed;
  const resultsDir = path.join(repoRoot, 'bench/results');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  if (o.profile) {
    profileReport(o, path.join(resultsDir, `profiles-${stamp}`));
    return;
  }
  const env = environment();
  const sims: {
    config: SimConfig;
    result: SimResult | null;
    reps: number;
    runs: SimResult[];
    failures: string[];
  }[] = [];
  const states: {
    axis: string;
    factor: string;
    config: StateConfig;
    result: StateResult | null;
    reps: number;
    runs: StateResult[];
    failures: string[];
  }[] = [];
  if (o.parts.has('state')) {
    for (const { axis, factor, config } of stateConfigs(o)) {
      const { runs, failures } = repeatChild<StateResult>(config, o);
      states.push({
        axis,
        factor,
        config,
        result: runs.length > 0 ? medianOf(runs) : null,
        reps: runs.length,
        runs,
        failures,
      });
    }
  }
  if (o.parts.has('sim')) {
    for (const config of simConfigs(o)) {
      const { runs, failures } = repeatChild<SimResult>(config, o);
      sims.push({
        config,
        result: runs.length > 0 ? medianOf(runs) : null,
        reps: runs.length,
        runs,
        failures,
      });
    }
  }
  const lines = [
    `Synthetic lab, ${env.node as string} on ${env.cpu as string} (${env.cores as number} cores), commit ${(env.commit as string).slice(0, 10)}; medians of the runs shown.`,
  ];
  if (states.length > 0)
    lines.push('', '### One pass and one event in a saturated state', '', stateTable(states));
  if (sims.length > 0) lines.push('', '### Full simulation', '', simTable(sims));
  const loads = [...states, ...sims].flatMap((s) => s.runs.map((r) => `${r.label} ${fmt(r.loadAverage[0])}`));
  if (loads.length > 0)
    lines.push(
      '',
      `Load average (1 min) at the end of each run, on ${env.cores as number} cores: ${loads.join(', ')}.`,
    );
  const failures = [...states, ...sims].flatMap((s) => s.failures);
  if (failures.length > 0) lines.push('', 'Failed:', ...failures.map((f) => `- ${f}`));
  console.log(lines.join('\n'));
  const out = o.out ?? path.join(resultsDir, `synthetic-${stamp}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        environment: env,
        options: { ...o, parts: [...o.parts], axes: [...o.axes] },
        states,
        sims,
        markdown: lines.join('\n'),
      },
      null,
      2,
    ),
  );
  console.log(`\nJSON: ${path.relative(process.cwd(), out)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
