// `arbiter check` through the real, built CLI (bin/arbiter.js -> dist/), as users run it: from
// the folder holding their files, named as they type them. Needs `npx tsc -p tsconfig.build.json`
// first (`npm test` builds before it runs vitest); the test does not build itself, because other
// test files run the same dist/ in parallel.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { assertDistFresh, runArbiter, type CliRun } from './cli-harness.js';


// The sources this command is built from; dist/ must be at least as new as each.
const SOURCES = [
  'cli/main.ts',
  'cli/errors.ts',
  'cli/inputs.ts',
  'cli/commands/check.ts',
  'core/config/cluster.ts',
  'core/config/policy.ts',
  'core/config/trace.ts',
  'core/config/csv.ts',
  'core/config/yaml.ts',
  'core/config/duration.ts',
  'core/model.ts',
];

const CLUSTER = `pools:
  - { name: h100-a, flavor: h100, nodes: 64, gpusPerNode: 8, rackSize: 16 }
  - { name: a100-b, flavor: a100, nodes: 32, gpusPerNode: 8 }
`;

const POLICY = `teams:
  - name: research
    guarantee: { h100: 256 }
    limit: { h100: 512 }
    lendable: { h100: 128 }
    children:
      - name: pretraining
        guarantee: { h100: 192 }
      - name: alignment
        guarantee: { h100: 64 }
  - name: applied
    guarantee: { h100: 256 }
    children:
      - name: serving
        guarantee: { h100: 256 }
`;

const TRACE = `id,submit,team,gpus,duration,class
j1,0,pretraining,8,3600,training
j2,10,serving,1,60,serving
j3,86400,alignment,16,100,
j4,43200,alignment,3,100,
`;

let dir: string;

function write(files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
}

function arbiter(...args: string[]): CliRun {
  return runArbiter(args, dir);
}

const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '');

beforeAll(() => assertDistFresh(SOURCES));

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'arbiter-check-'));
  write({ 'cluster.yaml': CLUSTER, 'policy.yaml': POLICY, 'trace.csv': TRACE });
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('arbiter check', () => {
  test('describes the fleet, the team tree, the classes and the trace, and exits 0', () => {
    const run = arbiter(
      'check',
      '--cluster',
      'cluster.yaml',
      '--policy',
      'policy.yaml',
      '--trace',
      'trace.csv',
    );
    expect(run).toEqual({
      status: 0,
      stderr: '',
      stdout: [
        'fleet (cluster.yaml): 768 GPUs of 2 flavors, 2 pools, 96 nodes',
        '  h100: 512 GPUs (h100-a 64x8)',
        '  a100: 256 GPUs (a100-b 32x8)',
        'policy (policy.yaml): 5 teams, 3 of them leaves',
        '  research       guarantee h100:256  limit h100:512  lendable h100:128',
        '    pretraining  guarantee h100:192',
        '    alignment    guarantee h100:64',
        '  applied        guarantee h100:256',
        '    serving      guarantee h100:256',
        '  not guaranteed to any team (free pool): h100:0 a100:256',
        '  priority classes: serving 1000 (not preemptible), training 500, research 100 (default), opportunistic 0',
        '  within a team: fifo; fair-share half-life 7d; preemption: minRuntime 10m, restartOverhead 0s, checkpointInterval 0s, withinTeam true, borrowing lowerPriority, fairShare false',
        'trace (trace.csv): 4 jobs, submitted from 0 s to 86400 s (1.0 days)',
        '  GPUs per job: 1: 1, 3-4: 1, 5-8: 1, 9-16: 1',
        '  jobs per top-level team: research 3, applied 1',
        '',
      ].join('\n'),
    });
  });

  test('works without a trace and accepts JSON', () => {
    write({
      'cluster.json': JSON.stringify({ pools: [{ name: 'p', flavor: 'k80', nodes: 2, gpusPerNode: 4 }] }),
    });
    write({ 'policy.json': JSON.stringify({ teams: [{ name: 'solo', guarantee: { k80: 8 } }] }) });
    const run = arbiter('check', '--cluster', 'cluster.json', '--policy', 'policy.json');
    expect(run.status).toBe(0);
    expect(lines(run.stdout).slice(0, 5)).toEqual([
      'fleet (cluster.json): 8 GPUs of 1 flavor, 1 pool, 2 nodes',
      '  k80: 8 GPUs (p 2x4)',
      'policy (policy.json): 1 team, 1 of them leaves',
      '  solo  guarantee k80:8',
      '  not guaranteed to any team (free pool): k80:0',
    ]);
  });

  test('prints warnings to stderr and still exits 0', () => {
    write({ 'trace.csv': 'id,submit,team,gpus,duration,user\nj1,0,serving,1,10,ann\n' });
    const run = arbiter(
      'check',
      '--cluster',
      'cluster.yaml',
      '--policy',
      'policy.yaml',
      '--trace',
      'trace.csv',
    );
    expect(run.status).toBe(0);
    expect(lines(run.stderr)).toEqual([
      'warning: trace.csv:1: unknown columns ignored: "user" (known columns: id, submit, team, gpus, duration, class, flavor, time_limit, checkpoint_interval, duration@<flavor>)',
    ]);
  });

  test('exits 2 with every problem of the policy on stderr, one per line, and nothing on stdout', () => {
    write({
      'policy.yaml': POLICY.replace('guarantee: { h100: 64 }', 'guarantee: { h100: 108 }').replace(
        'limit: { h100: 512 }',
        'limit: { h100: 100 }',
      ),
    });
    const run = arbiter(
      'check',
      '--cluster',
      'cluster.yaml',
      '--policy',
      'policy.yaml',
      '--trace',
      'trace.csv',
    );
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(lines(run.stderr)).toEqual([
      'policy.yaml:4: teams[0].limit.h100: team "research" is limited to 100 h100, less than its guarantee of 256; raise the limit to at least 256 or lower the guarantee',
      'policy.yaml:10: teams[0].children[1].guarantee.h100: children of team "research" are guaranteed 300 h100, more than its 256; lower the children\'s guarantees or raise the guarantee of "research"',
      'trace.csv: not checked until policy.yaml is valid',
    ]);
  });

  test('exits 2 with every problem of the trace, naming line, column and value', () => {
    write({ 'trace.csv': `${TRACE}j5,1,research,abc,10,\nj1,2,serving,1,10,vip\n` });
    const run = arbiter(
      'check',
      '--cluster',
      'cluster.yaml',
      '--policy',
      'policy.yaml',
      '--trace',
      'trace.csv',
    );
    expect(run.status).toBe(2);
    expect(lines(run.stderr)).toEqual([
      'trace.csv:6: column team: team "research" has sub-teams; submit to one of its leaf teams: pretraining, alignment',
      'trace.csv:6: column gpus: expected a positive integer, got "abc"',
      'trace.csv:7: column class: unknown priority class "vip"; the policy\'s classes: serving, training, research, opportunistic',
      'trace.csv:7: column id: "j1" is already the id of the job on line 2; ids must be unique',
    ]);
  });

  test('an invalid cluster leaves the files that depend on it unchecked, and says so', () => {
    write({ 'cluster.yaml': 'pools:\n  - { name: a, flavor: h100, nodes: 0, gpusPerNode: 8 }\n' });
    const run = arbiter(
      'check',
      '--cluster',
      'cluster.yaml',
      '--policy',
      'policy.yaml',
      '--trace',
      'trace.csv',
    );
    expect(run.status).toBe(2);
    expect(lines(run.stderr)).toEqual([
      'cluster.yaml:2: pools[0].nodes: expected a positive integer, got 0',
      'policy.yaml: not checked until cluster.yaml is valid',
      'trace.csv: not checked until cluster.yaml is valid',
    ]);
  });

  test('names every file that cannot be read, as the user typed it', () => {
    const run = arbiter(
      'check',
      '--cluster',
      'nope/cluster.yaml',
      '--policy',
      'missing.yaml',
      '--trace',
      '.',
    );
    expect(run.status).toBe(2);
    expect(lines(run.stderr)).toEqual([
      'nope/cluster.yaml: no such file (given as --cluster)',
      'missing.yaml: no such file (given as --policy)',
      '.: is a folder, not a file (given as --trace)',
    ]);
  });

  test('exits 2 when --cluster or --policy is missing or the trace format is unknown', () => {
    const run = arbiter('check', '--trace-format', 'nonsense');
    expect(run.status).toBe(2);
    expect(lines(run.stderr)).toEqual([
      '--cluster FILE is required: the fleet description (cluster.yaml)',
      '--policy FILE is required: the allocation policy (policy.yaml)',
      expect.stringMatching(/^--trace-format: unknown trace format "nonsense"; known formats: canonical, /),
      '--trace-format nonsense needs --trace FILE',
    ]);
  });

  test('--trace-format converts the trace with an importer, then checks it against the policy', () => {
    write({
      'policy.yaml': 'teams:\n  - name: vc11cb48\n',
      'philly.csv':
        'timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,66.0,1,66.0,11cb48\n2017-10-09 06:13:03,2951.0,1,2951.0,6214e9\n',
    });
    const run = arbiter(
      'check',
      '--cluster',
      'cluster.yaml',
      '--policy',
      'policy.yaml',
      '--trace',
      'philly.csv',
      '--trace-format',
      'philly',
    );
    expect(run.status).toBe(2);
    // Line numbers count lines of the converted CSV, sorted by submit (`arbiter trace import` writes the same).
    expect(lines(run.stderr)).toEqual([
      'philly.csv (as canonical CSV):2: column team: unknown team "vc6214e9"; the policy\'s leaf teams: vc11cb48',
    ]);
  });

  test('exits 2 on an unknown option', () => {
    expect(arbiter('check', '--cluster', 'cluster.yaml', '--policy', 'policy.yaml', '--colour').status).toBe(
      2,
    );
  });

  test('--help states the default of every option', () => {
    const run = arbiter('check', '--help');
    expect(run.status).toBe(0);
    const help = run.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('--cluster <file> the fleet, cluster.yaml (required, no default)');
    expect(help).toContain('--policy <file> the allocation policy, policy.yaml (required, no default)');
    expect(help).toContain('--trace <file> a workload trace to check against them (default: none)');
    expect(help).toMatch(
      /--trace-format <format> format of --trace: canonical or [a-z, -]+ \(default: "canonical"\)/,
    );
  });
});
