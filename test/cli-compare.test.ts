// `arbiter compare` through the real, built CLI (bin/arbiter.js -> dist/), as users run it: the
// variants run in worker threads (dist/sim/compare-worker.js). Needs
// `npx tsc -p tsconfig.build.json` first (`npm test` builds before vitest); the test does not
// build itself, because other test files run the same dist/ in parallel.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { assertDistFresh, runArbiter, type CliRun } from './cli-harness.js';


// The sources this command is built from; dist/ must be at least as new as each.
const SOURCES = [
  'cli/main.ts',
  'cli/inputs.ts',
  'cli/commands/compare.ts',
  'sim/compare.ts',
  'sim/compare-worker.ts',
  'sim/compare-output.ts',
  'sim/compare-progress.ts',
  'sim/baselines/index.ts',
  'sim/baselines/policies.ts',
  'sim/baselines/priority-loop.ts',
  'sim/job-progress.ts',
  'sim/simulator.ts',
  'sim/metrics.ts',
  'core/engine.ts',
];

const CSV_HEADER =
  'variant,kind,jobs,completed,rejected,avg_jct,p50_jct,p95_jct,p99_jct,avg_wait,p50_wait,p95_wait,p99_wait,' +
  'makespan,utilization,preemptions,lost_gpu_hours,fairness,worst_team,worst_team_p99_wait,' +
  'in_guarantee_jobs,in_guarantee_p99_wait,in_guarantee_max_wait';

function arbiter(...args: string[]): CliRun {
  return runArbiter(args);
}

let dir: string;

beforeAll(() => assertDistFresh(SOURCES));

const CLUSTER = 'pools:\n  - { name: a, flavor: h100, nodes: 2, gpusPerNode: 8 }\n';
const POLICY = `preemption: { minRuntime: 0, restartOverhead: 10, checkpointInterval: 60 }
teams:
  - name: research
    guarantee: { h100: 8 }
  - name: applied
    guarantee: { h100: 4 }
`;
const FAIR = POLICY.replace('restartOverhead: 10', 'restartOverhead: 0');
const TRACE = `id,submit,team,gpus,duration
r1,0,research,8,300
r2,0,research,8,300
a1,50,applied,4,100
a2,60,applied,8,100
r3,70,research,2,50
`;

let cluster: string;
let policyFile: string;
let fairFile: string;
let traceFile: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'arbiter-compare-'));
  cluster = path.join(dir, 'cluster.yaml');
  policyFile = path.join(dir, 'policy.yaml');
  fairFile = path.join(dir, 'fair.yml');
  traceFile = path.join(dir, 'trace.csv');
  writeFileSync(cluster, CLUSTER);
  writeFileSync(policyFile, POLICY);
  writeFileSync(fairFile, FAIR);
  writeFileSync(traceFile, TRACE);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('arbiter compare', () => {
  it('runs two policies and every baseline, writes each one\'s outputs and compare.csv, prints the table', () => {
    const out = path.join(dir, 'out');
    const run = arbiter('compare', '--cluster', cluster, '--policy', policyFile, '--policy', fairFile, '--trace', traceFile, '--out', out);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const names = ['policy', 'fair', 'fifo', 'static', 'las', 'srtf'];
    expect(readdirSync(out).sort()).toEqual([...names, 'compare.csv', 'report.html'].sort());
    for (const name of names) {
      const files = readdirSync(path.join(out, name)).sort();
      expect(files.filter((f) => f !== 'rejected.log'), name).toEqual(['jobs.csv', 'segments.csv', 'summary.json']);
      expect(readFileSync(path.join(out, name, 'jobs.csv'), 'utf8').split('\n')[0]).toBe(
        'id,team,class,flavor,gpus,submit,start,end,duration,wait,jct,preemptions,status',
      );
      const summary = JSON.parse(readFileSync(path.join(out, name, 'summary.json'), 'utf8')) as Record<string, unknown>;
      expect(summary.jobs).toBe(5);
      expect(Object.keys(summary)).toContain('fairness');
    }
    // a2 (8 GPUs) is more than applied's guarantee of 4: static rejects it, and says why.
    expect(readFileSync(path.join(out, 'static', 'rejected.log'), 'utf8')).toBe(
      'rejected job a2 (team applied, 8 GPUs): 8 h100 is more than the 4 h100 limit of team "applied"; team applied may hold at most 4 h100 GPUs (its limit), and the largest gang the fleet can place is 2 nodes x 8 h100 (a job above 8 GPUs asks for a multiple of a node size)\n',
    );
    const csv = readFileSync(path.join(out, 'compare.csv'), 'utf8').split('\n');
    expect(csv[0]).toBe(CSV_HEADER);
    expect(csv.slice(1, -1).map((line) => line.split(',').slice(0, 5).join(','))).toEqual([
      'policy,policy,5,5,0',
      'fair,policy,5,5,0',
      'fifo,baseline,5,5,0',
      'static,baseline,5,4,1',
      'las,baseline,5,5,0',
      'srtf,baseline,5,5,0',
    ]);
    expect(csv[csv.length - 1]).toBe('');
    for (const name of names) expect(run.stdout).toMatch(new RegExp(`│ ${name} +│`));
    expect(run.stdout).toContain('Fairness');
  });

  it('gives the same outputs as `arbiter simulate` for a policy variant', () => {
    const out = path.join(dir, 'out');
    const sim = path.join(dir, 'sim');
    expect(arbiter('compare', '--cluster', cluster, '--policy', policyFile, '--trace', traceFile, '--baselines', 'none', '--out', out).status).toBe(0);
    expect(arbiter('simulate', '--cluster', cluster, '--policy', policyFile, '--trace', traceFile, '--out', sim).status).toBe(0);
    for (const file of ['jobs.csv', 'segments.csv'])
      expect(readFileSync(path.join(out, 'policy', file), 'utf8'), file).toBe(readFileSync(path.join(sim, file), 'utf8'));
  });

  it('restricts the metrics to --measure-jobs, and runs las in rounds with --las-round', () => {
    const out = path.join(dir, 'out');
    const run = arbiter('compare', '--cluster', cluster, '--policy', policyFile, '--trace', traceFile, '--baselines', 'las', '--las-round', '1m', '--measure-jobs', '1-2', '--out', out);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Metrics over the jobs at trace positions 1 to 2 (2 jobs).');
    const rows = readFileSync(path.join(out, 'compare.csv'), 'utf8').split('\n').slice(1, 3);
    expect(rows.map((r) => r.split(',').slice(0, 3).join(','))).toEqual(['policy,policy,2', 'las,baseline,2']);
    // Rounds of 60 s: every las run starts at a multiple of 60.
    const starts = readFileSync(path.join(out, 'las', 'segments.csv'), 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[1]));
    expect(starts.every((t) => t % 60 === 0)).toBe(true);
  });

  it('runs the engine variants (policy, fifo, static) in rounds with --round', () => {
    const out = path.join(dir, 'out');
    const run = arbiter('compare', '--cluster', cluster, '--policy', policyFile, '--trace', traceFile, '--baselines', 'fifo,static,las', '--round', '7', '--out', out);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const startsOf = (variant: string): number[] =>
      readFileSync(path.join(out, variant, 'segments.csv'), 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[1]));
    for (const variant of ['policy', 'fifo', 'static']) {
      const starts = startsOf(variant);
      expect(starts.length, variant).toBeGreaterThan(0);
      expect(starts.every((t) => t % 7 === 0), variant).toBe(true);
    }
    // las keeps its own rounds (--las-round): without it, it decides at every event.
    expect(startsOf('las').some((t) => t % 7 !== 0)).toBe(true);
    const bad = arbiter('compare', '--cluster', cluster, '--policy', policyFile, '--trace', traceFile, '--round', '0', '--out', path.join(dir, 'bad'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('--round: a round lasts more than 0 seconds, got "0"\n');
  });

  it('exits 2 when two policies share a base name, and writes nothing', () => {
    mkdirSync(path.join(dir, 'other'));
    const twin = path.join(dir, 'other', 'policy.yml');
    writeFileSync(twin, POLICY);
    const out = path.join(dir, 'out');
    const run = arbiter('compare', '--cluster', cluster, '--policy', policyFile, '--policy', twin, '--trace', traceFile, '--out', out);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      `--policy ${policyFile} and --policy ${twin} are both named "policy" (their outputs would share policy/): copy or rename one of the files\n`,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('exits 2 on bad options, listing every problem, and writes nothing', () => {
    const out = path.join(dir, 'out');
    const run = arbiter('compare', '--cluster', cluster, '--policy', policyFile, '--trace', traceFile, '--baselines', 'fifo,lottery', '--las-round', 'soon', '--measure-jobs', '9-3', '--out', out);
    expect(run.status).toBe(2);
    expect(run.stderr.split('\n')).toEqual([
      '--baselines: unknown baseline "lottery"; known baselines: fifo, static, las, srtf (or none)',
      '--las-round: expected a duration in seconds (600, 0.5) or with a unit (90s, 10m, 1.5h, 7d), got "soon"',
      '--las-round applies to the las baseline, which --baselines leaves out',
      '--measure-jobs: the range 9-3 is empty; write the smaller position first',
      '',
    ]);
    expect(existsSync(out)).toBe(false);
  });

  it('exits 2 on bad input files or a --measure-jobs range past the trace, and writes nothing', () => {
    const out = path.join(dir, 'out');
    writeFileSync(traceFile, `${TRACE}r4,80,nobody,1,10\n`);
    const bad = arbiter('compare', '--cluster', cluster, '--policy', policyFile, '--trace', traceFile, '--out', out);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(`${traceFile}:7: column team:`);
    const missing = arbiter('compare', '--cluster', cluster, '--policy', path.join(dir, 'nope.yaml'), '--trace', traceFile, '--out', out);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('nope.yaml: no such file (given as --policy)');
    writeFileSync(traceFile, TRACE);
    const past = arbiter('compare', '--cluster', cluster, '--policy', policyFile, '--trace', traceFile, '--measure-jobs', '5-9', '--out', out);
    expect(past.status).toBe(2);
    expect(past.stderr).toBe('--measure-jobs 5-9: the trace has 5 jobs, at positions 0 to 4\n');
    expect(arbiter('compare', '--cluster', cluster, '--trace', traceFile, '--out', out).status).toBe(2);
    expect(existsSync(out)).toBe(false);
  });

  it('describes every option and its default in --help', () => {
    const run = arbiter('compare', '--help');
    expect(run.status).toBe(0);
    for (const option of ['--cluster', '--policy', '--trace', '--trace-format', '--baselines', '--las-round', '--round', '--measure-jobs', '--out'])
      expect(run.stdout).toContain(option);
    expect(run.stdout).toContain('(default: "fifo,static,las,srtf")');
  });
});
