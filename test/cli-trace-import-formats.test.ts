// `arbiter trace import` for each format and the shared options, through the real, built CLI
// (bin/arbiter.js -> dist/), on real trace data kept in test/fixtures/traces, as users run it. Needs
// `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest); the test does
// not build itself, because other test files run the same dist/ in parallel.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { assertDistFresh, runArbiter, type CliRun } from './cli-harness.js';

// Relative to repoRoot, as a user would type them. The whole Tiresias trace; excerpts of the others
// (test/fixtures/traces/README.md): Gavel jobs 0-999, the first 2,500 and 1,000 openb pods, 3,000
// Philly rows.
const FIXTURES = 'test/fixtures/traces';
const TIRESIAS = `${FIXTURES}/tiresias_nsdi19/60_job.csv`;
const GAVEL_MULTI0 = `${FIXTURES}/gavel_osdi20/gavel_continuous_multi_seed0.excerpt.csv`;
const OPENB_DEFAULT = `${FIXTURES}/alibaba_gpu_v2023/openb_pod_list_default.excerpt.csv`;
const OPENB_GPUSPEC33 = `${FIXTURES}/alibaba_gpu_v2023/openb_pod_list_gpuspec33.excerpt.csv`;
const PHILLY = `${FIXTURES}/philly/philly_jobs_82k.excerpt.csv`;
const HEADER = 'id,submit,team,gpus,duration,class,flavor,time_limit,checkpoint_interval';

// The sources these commands are built from; dist/ must be at least as new as each.
const SOURCES = [
  'cli/main.ts',
  'cli/errors.ts',
  'cli/inputs.ts',
  'cli/commands/check.ts',
  'cli/commands/trace-import.ts',
  'traces/index.ts',
  'traces/options.ts',
  'traces/tiresias.ts',
  'traces/gavel.ts',
  'traces/alibaba.ts',
  'traces/philly.ts',
  'traces/canonical-csv.ts',
  'core/config/csv.ts',
  'core/config/duration.ts',
  'core/config/trace.ts',
  'core/model.ts',
];

function arbiter(...args: string[]): CliRun {
  return runArbiter(args);
}

let dir: string;

beforeAll(() => assertDistFresh(SOURCES));

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'arbiter-trace-formats-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const rowsOf = (file: string): string[] => readFileSync(file, 'utf8').split('\n').slice(1, -1);

describe('arbiter trace import --format tiresias', () => {
  it('converts the 60-job trace into one team', () => {
    const out = path.join(dir, 'tiresias.csv');
    const run = arbiter('trace', 'import', '--format', 'tiresias', TIRESIAS, '--out', out);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`${out}: 60 jobs, 1 teams, submits span 1779 s (0.0 days)\n`);
    const lines = readFileSync(out, 'utf8').split('\n');
    expect(lines.slice(0, 3)).toEqual([
      HEADER,
      'tiresias-0,0,tiresias,1,164,,,,',
      'tiresias-1,30,tiresias,8,147,,,,',
    ]);
    expect(lines).toHaveLength(62);
    expect(readdirSync(dir)).toEqual(['tiresias.csv']);
  });

  it('makes teams of models and keeps a window of submit times', () => {
    const out = path.join(dir, 'tiresias.csv');
    const run = arbiter(
      ...['trace', 'import', '--format', 'tiresias', TIRESIAS, '--out', out],
      ...['--team-by', 'model_name', '--from', '10m', '--to', '20m', '--rebase'],
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // [600, 1200) holds jobs 21 (611 s) to 40 (1194 s), 9 of the 10 models (no vgg11).
    expect(run.stdout).toBe(
      `${out}: 20 jobs, 9 teams, submits span 583 s (0.0 days)\n` +
        '  note: window [600, 1200) of submit times kept 20 of 60 jobs; submit times count from 600\n',
    );
    expect(rowsOf(out)[0]).toBe('tiresias-21,11,alexnet,2,126,,,,');
  });

  it('exits 2 naming the file, line and column of a bad row, and writes nothing', () => {
    const input = path.join(dir, 'jobs.csv');
    const out = path.join(dir, 'out.csv');
    writeFileSync(
      input,
      'job_id,num_gpu,submit_time,iterations,model_name,duration,interval\n0,1,0,1,vgg19,164,30\n1,two,30,1,vgg11,147,23\n',
    );
    const run = arbiter('trace', 'import', '--format', 'tiresias', input, '--out', out);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(`${input}:3: column num_gpu: expected a positive integer, got "two"\n`);
    expect(existsSync(out)).toBe(false);
  });
});

describe('arbiter trace import --format gavel', () => {
  it('converts a continuous-multiple trace at 0.4 jobs/h and says how many jobs it restricted to v100', () => {
    const out = path.join(dir, 'gavel.csv');
    const run = arbiter(
      ...['trace', 'import', '--format', 'gavel', GAVEL_MULTI0, '--out', out],
      ...['--jobs-per-hour', '0.4', '--team-by', 'job_type'],
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // The last arrival (job 999) is at 986.640951 units x 9000 s = 8879768.559 s = 102.78 days.
    expect(run.stdout).toBe(
      `${out}: 1000 jobs, 26 teams, submits span 8879768.559 s (102.8 days)\n` +
        '  note: 24 jobs with no k80 run time (empty runtime_k80_s): restricted to flavor v100, the fastest type they can run on\n',
    );
    const lines = readFileSync(out, 'utf8').split('\n');
    expect(lines[0]).toBe(`${HEADER},duration@k80,duration@p100,duration@v100`);
    expect(lines[1]).toBe('gavel-0,0,resnet-18-batch-size-64,8,68344.35,,,,,410009.226,145659.069,68344.35');
    expect(lines[18]).toBe(
      'gavel-17,149514.633,resnet-50-batch-size-128,4,451697.229,,v100,,,,611639.846,451697.229',
    );
  });

  it('writes a trace that arbiter check accepts on a V100/P100/K80 fleet', () => {
    const out = path.join(dir, 'gavel.csv');
    expect(
      arbiter('trace', 'import', '--format', 'gavel', GAVEL_MULTI0, '--out', out, '--jobs-per-hour', '0.4')
        .status,
    ).toBe(0);
    writeFileSync(
      path.join(dir, 'cluster.yaml'),
      'pools:\n' +
        '  - { name: v100, flavor: v100, nodes: 9, gpusPerNode: 4 }\n' +
        '  - { name: p100, flavor: p100, nodes: 9, gpusPerNode: 4 }\n' +
        '  - { name: k80, flavor: k80, nodes: 9, gpusPerNode: 4 }\n',
    );
    writeFileSync(path.join(dir, 'policy.yaml'), 'teams:\n  - name: gavel\n');
    const check = arbiter(
      ...['check', '--cluster', path.join(dir, 'cluster.yaml'), '--policy', path.join(dir, 'policy.yaml')],
      ...['--trace', out],
    );
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    expect(check.stdout).toContain('1000 jobs, submitted from 0 s to 8879768.559 s (102.8 days)');
  });

  it('exits 2 without --jobs-per-hour, and writes nothing', () => {
    const out = path.join(dir, 'gavel.csv');
    const run = arbiter('trace', 'import', '--format', 'gavel', GAVEL_MULTI0, '--out', out);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      '--jobs-per-hour N is required with --format gavel: the arrival rate that turns arrival_units into seconds (submit = arrival_units x 3600 / N)\n',
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe('arbiter trace import --format alibaba-openb', () => {
  it('converts pods of the default list, warning about the pods it leaves out', () => {
    const out = path.join(dir, 'openb.csv');
    const run = arbiter('trace', 'import', '--format', 'alibaba-openb', OPENB_DEFAULT, '--out', out);
    expect(run.status).toBe(0);
    expect(run.stderr).toBe(
      `warning: ${OPENB_DEFAULT}: 390 pods skipped: num_gpu is 0 (CPU-only pods are not GPU jobs)\n` +
        `warning: ${OPENB_DEFAULT}: 183 GPU pods skipped: never scheduled (empty scheduled_time: deleted while pending, so they never ran)\n`,
    );
    // Created from 0 to 10934159 s (openb-pod-2499) = 126.55 days.
    expect(run.stdout).toBe(
      `${out}: 1927 jobs, 4 teams, submits span 10934159 s (126.6 days)\n` +
        '  note: 744 GPU-sharing pods (gpu_milli < 1000, a fraction of one GPU) written as whole GPUs\n',
    );
    const rows = rowsOf(out);
    expect(rows).toHaveLength(1927);
    expect(rows[0]).toBe('openb-pod-0000,0,ls,1,12537496,serving,,,');
  });

  it('maps QoS onto teams and classes as asked, and keeps single GPU types as flavors', () => {
    const out = path.join(dir, 'openb.csv');
    const run = arbiter(
      ...['trace', 'import', '--format', 'alibaba-openb', OPENB_GPUSPEC33, '--out', out],
      ...['--team-map', 'LS=product,*=research', '--class-map', 'BE=training,Burstable='],
    );
    expect(run.status).toBe(0);
    // The first 1,000 pods: created from 0 to 10382067 s = 120.16 days.
    expect(run.stdout).toBe(
      `${out}: 805 jobs, 2 teams, submits span 10382067 s (120.2 days)\n` +
        '  note: 284 GPU-sharing pods (gpu_milli < 1000, a fraction of one GPU) written as whole GPUs\n' +
        '  note: 47 pods allow several GPU types (gpu_spec "A|B"): written with an empty flavor (any type)\n',
    );
    const byId = new Map(rowsOf(out).map((row) => [row.split(',')[0], row]));
    // Source line 24: openb-pod-0022,4000,15258,1,220,T4,BE,Running,9679175,9973826,9679175.
    expect(byId.get('openb-pod-0022')).toBe('openb-pod-0022,9679175,research,1,294651,training,t4,,');
    // Source line 19: openb-pod-0017,88000,327680,8,1000,G2,Burstable,Succeeded,9437497,10769854,9437497.
    expect(byId.get('openb-pod-0017')).toBe('openb-pod-0017,9437497,research,8,1332357,,g2,,');
  });

  it('exits 2 on a team-map key that no pod has, naming the values there are', () => {
    const out = path.join(dir, 'openb.csv');
    const run = arbiter(
      ...['trace', 'import', '--format', 'alibaba-openb', OPENB_DEFAULT, '--out', out],
      ...['--team-map', 'LC=product'],
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      `${OPENB_DEFAULT}: --team-map: no job has qos "LC"; the qos values of this trace: BE, Burstable, Guaranteed, LS\n`,
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe('arbiter trace import --format philly with the shared options', () => {
  it('keeps one day, rebased, with virtual clusters mapped onto teams', () => {
    // Day 11 of the rows: 2017-10-19 01:22:44 to 2017-10-20 01:22:44 UTC (src/traces/options.test.ts).
    const out = path.join(dir, 'philly.csv');
    const run = arbiter(
      ...['trace', 'import', '--format', 'philly', PHILLY, '--out', out],
      ...[
        '--from',
        '11d',
        '--to',
        '12d',
        '--rebase',
        '--team-map',
        '6c71a0=research,vc11cb48=product,*=others',
      ],
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // First job 26 s in, last 86367 s in.
    expect(run.stdout).toBe(
      `${out}: 1203 jobs, 3 teams, submits span 86341 s (1.0 days)\n` +
        '  note: window [950400, 1036800) of submit times kept 1203 of 3000 jobs; submit times count from 950400\n',
    );
    expect(rowsOf(out)[0]).toBe('philly-1504,26,others,4,91468,,,,');
  });
});

describe('arbiter trace import option errors', () => {
  it('reports every bad option at once, exit 2, before reading the trace', () => {
    const out = path.join(dir, 'out.csv');
    const run = arbiter(
      ...['trace', 'import', '--format', 'tiresias', 'no/such/file.csv', '--out', out],
      ...[
        '--from',
        'soon',
        '--to',
        '-5',
        '--team-map',
        'vgg19',
        '--jobs-per-hour',
        'many',
        '--class-map',
        'LS=a,LS=b',
      ],
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      [
        '--from: expected a duration in seconds (600, 0.5) or with a unit (90s, 10m, 1.5h, 7d), got "soon"',
        '--to: a duration cannot be negative, got "-5"',
        '--jobs-per-hour: expected a number of jobs per hour > 0, got "many"',
        '--team-map: expected SOURCE=TEAM, got "vgg19"',
        '--class-map: "LS" is mapped twice',
        '',
      ].join('\n'),
    );
    expect(existsSync(out)).toBe(false);
  });

  it('refuses options that do not apply to the format, a team field it lacks, and an empty window', () => {
    const out = path.join(dir, 'out.csv');
    const run = arbiter(
      ...['trace', 'import', '--format', 'tiresias', TIRESIAS, '--out', out],
      ...[
        '--team-by',
        'user',
        '--jobs-per-hour',
        '1',
        '--class-map',
        'LS=serving',
        '--from',
        '1h',
        '--to',
        '1h',
      ],
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      [
        '--to (3600) must be later than --from (3600): the window would be empty',
        '--team-by: the tiresias format has no field "user"; use one of: model_name, none',
        '--jobs-per-hour applies only to --format gavel',
        '--class-map applies only to --format alibaba-openb',
        '',
      ].join('\n'),
    );
    const rebase = arbiter('trace', 'import', '--format', 'tiresias', TIRESIAS, '--out', out, '--rebase');
    expect(rebase.status).toBe(2);
    expect(rebase.stderr).toBe('--rebase counts submit times from --from; give --from too\n');
    expect(existsSync(out)).toBe(false);
  });

  it('describes every option and its default in --help', () => {
    const run = arbiter('trace', 'import', '--help');
    expect(run.status).toBe(0);
    const help = run.stdout.replace(/\s+/g, ' ');
    expect(help).toContain(
      '--format <name> format of IN: alibaba-openb, gavel, philly, tiresias (required, no default)',
    );
    expect(help).toContain('(default: 0, the trace start)');
    expect(help).toContain('--to <time> keep jobs submitted before this time, as --from (default: no end)');
    expect(help).toContain('(default: off, times stay relative to the trace start)');
    expect(help).toContain(
      'alibaba-openb qos|none, gavel none|job_type, philly cluster|none, tiresias none|model_name (default: the first one named for the format)',
    );
    expect(help).toContain('(default: none, teams keep their names)');
    expect(help).toContain(
      '--jobs-per-hour <n> gavel only, required: arrival rate; submit = arrival_units x 3600 / N (no default)',
    );
    expect(help).toContain('(default: LS=serving,BE=opportunistic,Burstable=research,Guaranteed=research)');
  });
});
