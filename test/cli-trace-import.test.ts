// `arbiter trace import` through the real, built CLI (bin/arbiter.js -> dist/), as users run it.
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest); the
// test does not build itself, because other test files run the same dist/ in parallel.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { assertDistFresh, runArbiter, type CliRun } from './cli-harness.js';

// 3,000 rows of the Philly trace (test/fixtures/traces/README.md), relative to repoRoot as a user
// would type it.
const PHILLY = 'test/fixtures/traces/philly/philly_jobs_82k.excerpt.csv';
const HEADER = 'id,submit,team,gpus,duration,class,flavor,time_limit,checkpoint_interval';

// The sources this command is built from; dist/ must be at least as new as each.
const SOURCES = [
  'cli/main.ts',
  'cli/errors.ts',
  'cli/commands/trace-import.ts',
  'traces/index.ts',
  'traces/philly.ts',
  'traces/canonical-csv.ts',
  'core/model.ts',
];

function arbiter(...args: string[]): CliRun {
  return runArbiter(args);
}

let dir: string;

beforeAll(() => assertDistFresh(SOURCES));

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'arbiter-trace-import-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('arbiter trace import', () => {
  it('converts Philly rows into canonical CSV and prints a one-line summary', () => {
    const out = path.join(dir, 'philly.csv');
    const run = arbiter('trace', 'import', '--format', 'philly', PHILLY, '--out', out);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // 2017-10-08 01:22:44 to 2017-10-20 08:51:56: 1063752 s = 12.3 days, 11 virtual clusters.
    expect(run.stdout).toBe(`${out}: 3000 jobs, 11 teams, submits span 1063752 s (12.3 days)\n`);
    const lines = readFileSync(out, 'utf8').split('\n');
    // Excerpt lines 2837 and 2373: 2017-10-08 01:22:44,942695.0,2,...,0e4a51 and
    // 2017-10-14 11:04:42,437864.0,8,...,6c71a0 (6 days 09:41:58 = 553318 s later).
    expect(lines.slice(0, 3)).toEqual([
      HEADER,
      'philly-2835,0,vc0e4a51,2,942695,,,,',
      'philly-2371,553318,vc6c71a0,8,437864,,,,',
    ]);
    expect(lines).toHaveLength(1 + 3000 + 1); // header, jobs, and the empty string after the last line break
    expect(readdirSync(dir)).toEqual(['philly.csv']); // no temporary file left behind
  });

  it('replaces an existing output file', () => {
    const out = path.join(dir, 'trace.csv');
    writeFileSync(out, 'old contents\n');
    expect(arbiter('trace', 'import', '--format', 'philly', PHILLY, '--out', out).status).toBe(0);
    expect(readFileSync(out, 'utf8').startsWith(`${HEADER}\n`)).toBe(true);
  });

  it('exits 2 naming a missing input file, and writes nothing', () => {
    const out = path.join(dir, 'out.csv');
    const run = arbiter('trace', 'import', '--format', 'philly', 'no/such/trace.csv', '--out', out);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe('no/such/trace.csv: cannot read the trace (no such file)\n');
    expect(existsSync(out)).toBe(false);
  });

  it('exits 2 on an unknown format, listing the known ones', () => {
    const out = path.join(dir, 'out.csv');
    const run = arbiter('trace', 'import', '--format', 'slurm', PHILLY, '--out', out);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      '--format: unknown trace format "slurm"; known formats: alibaba-openb, gavel, philly, tiresias\n',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('exits 2 with one line per bad row, and leaves an existing output untouched', () => {
    const input = path.join(dir, 'bad.csv');
    const out = path.join(dir, 'out.csv');
    writeFileSync(
      input,
      'timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,66.0,abc,66.0,11cb48\n2017-10-09,1,1,1,a\n',
    );
    writeFileSync(out, 'previous\n');
    const run = arbiter('trace', 'import', '--format', 'philly', input, '--out', out);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      `${input}:2: column num_gpus: expected a positive integer, got "abc"\n` +
        `${input}:3: column timestamp: expected a time "YYYY-MM-DD HH:MM:SS", got "2017-10-09"\n`,
    );
    expect(readFileSync(out, 'utf8')).toBe('previous\n');
  });

  it('exits 2 when an option is missing or the output folder does not exist', () => {
    expect(arbiter('trace', 'import', '--format', 'philly', PHILLY).status).toBe(2);
    const run = arbiter(
      'trace',
      'import',
      '--format',
      'philly',
      PHILLY,
      '--out',
      path.join(dir, 'missing', 'out.csv'),
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      `--out ${path.join(dir, 'missing', 'out.csv')}: cannot write there (its folder does not exist)\n`,
    );
  });

  it('describes every option and its default in --help', () => {
    const run = arbiter('trace', 'import', '--help');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(
      /--format <name> +format of IN: alibaba-openb, gavel, philly,\s+tiresias \(required, no default\)/,
    );
    expect(run.stdout).toMatch(
      /--out <file> +canonical CSV to write, replaced atomically\s+\(required,\s+no\s+default\)/,
    );
    expect(arbiter('trace', '--help').stdout).toContain('import [options] <in>');
  });
});
