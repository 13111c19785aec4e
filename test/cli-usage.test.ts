// The first hour of a new user with the command line, through the real, built command
// (bin/arbiter.js -> dist/) as a child process: --version, `arbiter` alone, required options
// marked in every --help, durations read the same way by every option, one line and no stack
// trace for a server that cannot be reached, --gpus 0 in the words of the other validation
// errors, a YAML syntax error in plain words at its line and column, "did you mean" for a
// misspelled team in a trace, and what `explain` prints.
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { assertDistFresh, repoRoot, runArbiter } from './cli-harness.js';
import { buildProgram } from '../src/cli/main.js';
import type { Command } from 'commander';

const lab = path.join(repoRoot, 'examples/lab');
let dir: string;

beforeAll(() => {
  assertDistFresh(['cli/main.ts', 'cli/flags.ts', 'cli/commands/client.ts', 'cli/commands/simulate.ts', 'core/config/yaml.ts', 'core/config/trace.ts', 'core/suggest.ts']);
  dir = mkdtempSync(path.join(tmpdir(), 'arbiter-cli-usage-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A JavaScript stack trace line ("    at fn (file:...)"). */
const STACK = /^\s+at /m;

/** Every command of the tree, with its full name ("proposal show"). */
function commands(command: Command, prefix = ''): { name: string; command: Command }[] {
  return command.commands.flatMap((c) => {
    const name = `${prefix}${c.name()}`;
    return [{ name, command: c }, ...commands(c, `${name} `)];
  });
}

describe('arbiter', () => {
  it('prints its version with --version and -V', () => {
    const { version } = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      expect(runArbiter([flag])).toEqual({ status: 0, stdout: `arbiter ${version}\n`, stderr: '' });
    }
  });

  it('alone prints its help and exits 0', () => {
    const run = runArbiter([]);
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(runArbiter(['--help']).stdout);
    expect(run.stdout).toMatch(/^Usage: arbiter \[options\] \[command\]/);
    expect(run.stdout).toContain('-V, --version');
  });

  it('marks every required option as required in every --help', () => {
    // The help of each command as --help prints it (helpInformation, in process: one child
    // process per command would be slow); `submit --help` is also run for real below.
    const all = commands(buildProgram());
    expect(all.length).toBeGreaterThan(20);
    let required = 0;
    for (const { name, command } of all) {
      const help = command.helpInformation();
      for (const option of command.options.filter((o) => o.mandatory)) {
        required++;
        // The option's help text (wrapped over lines) mentions "required".
        const text = help.slice(help.indexOf(option.flags)).split(/\n {2}-/)[0]!;
        expect(text, `${name} ${option.flags}`).toMatch(/\brequired\b/);
      }
    }
    expect(required).toBeGreaterThanOrEqual(15);
    const submit = runArbiter(['submit', '--help']).stdout;
    expect(submit).toMatch(/--team <team> +the leaf team it belongs to \(required\)/);
    expect(submit).toMatch(/--gpus <n> +GPUs it needs, all at once \(required\)/);
    // And commander refuses a missing one with exit 2, naming it.
    const missing = runArbiter(['submit', '--gpus', '8']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("error: required option '--team <team>' not specified");
  });
});

describe('durations', () => {
  it('are read the same way by --until, --from and --round (1d, 36h, 600)', () => {
    const out = path.join(dir, 'until');
    const run = runArbiter([
      'simulate',
      ...['--cluster', `${lab}/cluster.yaml`, '--policy', `${lab}/policy.yaml`, '--trace', `${lab}/trace.csv`],
      ...['--until', '1d', '--round', '10m', '--out', out, '--no-report'],
    ]);
    expect(run.stderr).not.toMatch(/--until|--round/);
    expect(run.status, run.stderr).toBe(0);
    // The clock stopped at one day: no segment ends later.
    const segments = readFileSync(path.join(out, 'segments.csv'), 'utf8').trim().split('\n');
    const header = segments[0]!.split(',');
    const end = header.indexOf('end');
    expect(end).toBeGreaterThanOrEqual(0);
    const ends = segments.slice(1).map((row) => Number(row.split(',')[end]));
    expect(ends.length).toBeGreaterThan(0);
    expect(Math.max(...ends)).toBeLessThanOrEqual(86_400);
  });

  it('are refused in the same words by every option', () => {
    const simulate = runArbiter([
      'simulate',
      ...['--cluster', `${lab}/cluster.yaml`, '--policy', `${lab}/policy.yaml`, '--trace', `${lab}/trace.csv`, '--out', path.join(dir, 'x')],
      ...['--until', 'tomorrow', '--explain', path.join(dir, 'why.jsonl'), '--explain-at', '1h,soon'],
    ]);
    const expected = (option: string, value: string): string =>
      `${option}: expected a duration in seconds (600, 0.5) or with a unit (90s, 10m, 1.5h, 7d), got "${value}"`;
    expect(simulate.status).toBe(2);
    expect(simulate.stderr).toBe(`${expected('--until', 'tomorrow')}\n${expected('--explain-at', 'soon')}\n`);
    const submit = runArbiter(['submit', '--team', 'pretraining', '--gpus', '8', '--duration', 'long', '--time-limit', '0', '--token', 't']);
    expect(submit.status).toBe(2);
    expect(submit.stderr).toBe(`${expected('--duration', 'long')}\n--time-limit: a time limit lasts more than 0 seconds, got "0"\n`);
  });
});

describe('client commands', () => {
  it('answer a server that cannot be reached with one line naming it and what to do, exit 1, no stack trace', () => {
    const run = runArbiter(['jobs', '--server', 'http://127.0.0.1:9', '--token', 't']);
    expect(run.status).toBe(1);
    expect(run.stderr).not.toMatch(STACK);
    expect(run.stderr.split('\n')).toHaveLength(2);
    expect(run.stderr).toMatch(
      /^cannot reach the Arbiter server at http:\/\/127\.0\.0\.1:9: .+; start it with `arbiter serve` \(or `npm start`\), or name the running one with --server URL or ARBITER_SERVER\n$/,
    );
    const notUrl = runArbiter(['teams', '--server', 'localhost:7420', '--token', 't']);
    expect(notUrl).toMatchObject({ status: 2, stderr: '--server: expected a URL such as http://127.0.0.1:7420 (or several, comma-separated), got "localhost:7420"\n' });
  });

  it('answer --gpus 0 in the words of the other validation errors, before asking the server', () => {
    const answers = ['0', '-1', '1.5', 'abc'].map((gpus) => runArbiter(['submit', '--team', 'pretraining', '--gpus', gpus, '--server', 'http://127.0.0.1:9', '--token', 't']));
    expect(answers).toEqual(
      ['0', '-1', '1.5', 'abc'].map((gpus) => ({ status: 2, stdout: '', stderr: `--gpus: expected a positive integer, got "${gpus}"\n` })),
    );
    // `serve --gpus` says the same.
    expect(runArbiter(['serve', '--executor', 'local', '--gpus', '0', '--data', path.join(dir, 'never')]).stderr).toBe('--gpus: expected a positive integer, got "0"\n');
  });

  it('explain --help says what explain prints', () => {
    const help = runArbiter(['explain', '--help']).stdout;
    for (const part of ['pending', 'the reason it waits', 'expected start', 'running', 'ended', 'GuaranteeExhausted', '--json'])
      expect(help).toContain(part);
  });
});

describe('input files', () => {
  it('explain a YAML syntax error in plain words with its file, line and column', () => {
    const policy = readFileSync(`${lab}/policy.yaml`, 'utf8').split('\n');
    // Line 5 indented by a tab.
    policy[4] = `\t${policy[4]!.trimStart()}`;
    const file = path.join(dir, 'policy.yaml');
    writeFileSync(file, policy.join('\n'));
    const run = runArbiter(['check', '--cluster', `${lab}/cluster.yaml`, '--policy', file]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:1: YAML syntax error: a tab indents this line; YAML indents with spaces only`));
    expect(run.stderr).not.toMatch(STACK);
  });

  it('suggest the team a misspelled team in a trace was meant to be', () => {
    const rows = readFileSync(`${lab}/trace.csv`, 'utf8').split('\n');
    const header = rows[0]!.split(',');
    const team = header.indexOf('team');
    const cells = rows[16]!.split(',');
    const meant = cells[team]!;
    cells[team] = meant.slice(0, -1); // "pretraining" -> "pretrainin"
    rows[16] = cells.join(',');
    const file = path.join(dir, 'trace.csv');
    writeFileSync(file, rows.join('\n'));
    const run = runArbiter(['check', '--cluster', `${lab}/cluster.yaml`, '--policy', `${lab}/policy.yaml`, '--trace', file]);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(`${file}:17: column team: unknown team "${cells[team]}"; did you mean "${meant}"?\n`);
  });
});
