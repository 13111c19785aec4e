import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatIssue } from '../core/model.js';
import { TraceImportError } from './canonical-csv.js';
import { importTrace, TEAM_BY_FIELDS, TRACE_FORMATS, traceOptionProblems } from './index.js';
import {
  applyTraceOptions,
  slug,
  windowAndTeamProblems,
  type SourceJob,
  type TraceFormat,
  type TraceOptions,
} from './options.js';
import { importPhilly } from './philly.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// 3,000 rows of the Philly trace (test/fixtures/traces/README.md); job philly-N is at excerpt line N + 2.
const PHILLY = path.resolve(repoRoot, 'test/fixtures/traces/philly/philly_jobs_82k.excerpt.csv');

/** A format with one team field, `lab`, whose team names are `lab-<value>`. */
const FORMAT: TraceFormat = {
  name: 'test',
  singleTeam: 'everyone',
  defaultTeamBy: 'lab',
  teamFields: { lab: (value) => `lab-${value}` },
  takes: [],
  read: () => ({ jobs: [], warnings: [], notes: [] }),
};

const job = (id: string, submit: number, lab: string): SourceJob => ({
  id,
  submit,
  gpus: 1,
  duration: 10,
  groups: { lab },
});
const JOBS: readonly SourceJob[] = [
  job('a', 0, 'x'),
  job('b', 50, 'y'),
  job('c', 100, 'x'),
  job('d', 150, 'z'),
];
const summary = (options: TraceOptions): string[] =>
  applyTraceOptions(FORMAT, JOBS, options).jobs.map((j) => `${j.id}@${j.submit}:${j.team}`);

/** The rendered issues of the TraceImportError that `run` throws. */
function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof TraceImportError) return error.issues.map(formatIssue);
    throw error;
  }
  throw new Error('expected a TraceImportError');
}

describe('applyTraceOptions', () => {
  it('names teams by the default field and keeps every job without options', () => {
    expect(summary({})).toEqual(['a@0:lab-x', 'b@50:lab-y', 'c@100:lab-x', 'd@150:lab-z']);
    expect(applyTraceOptions(FORMAT, JOBS, {}).notes).toEqual([]);
  });

  it('puts every job into the single team with --team-by none', () => {
    expect(summary({ teamBy: 'none' })).toEqual([
      'a@0:everyone',
      'b@50:everyone',
      'c@100:everyone',
      'd@150:everyone',
    ]);
  });

  it('keeps [from, to): from included, to excluded, and says how many it kept', () => {
    const applied = applyTraceOptions(FORMAT, JOBS, { from: 50, to: 150 });
    expect(applied.jobs.map((j) => `${j.id}@${j.submit}`)).toEqual(['b@50', 'c@100']);
    expect(applied.notes).toEqual(['window [50, 150) of submit times kept 2 of 4 jobs']);
    expect(summary({ from: 100 })).toEqual(['c@100:lab-x', 'd@150:lab-z']);
    expect(applyTraceOptions(FORMAT, JOBS, { from: 100 }).notes).toEqual([
      'window [100, end) of submit times kept 2 of 4 jobs',
    ]);
    expect(summary({ to: 50 })).toEqual(['a@0:lab-x']);
  });

  it('counts submit times from --from with --rebase', () => {
    const applied = applyTraceOptions(FORMAT, JOBS, { from: 40, rebase: true });
    expect(applied.jobs.map((j) => `${j.id}@${j.submit}`)).toEqual(['b@10', 'c@60', 'd@110']);
    expect(applied.notes).toEqual([
      'window [40, end) of submit times kept 3 of 4 jobs; submit times count from 40',
    ]);
  });

  it('renames by source value or by team name, * taking every other value', () => {
    expect(summary({ teamMap: new Map([['x', 'research']]) })).toEqual([
      'a@0:research',
      'b@50:lab-y',
      'c@100:research',
      'd@150:lab-z',
    ]);
    expect(
      summary({
        teamMap: new Map([
          ['lab-y', 'product'],
          ['*', 'others'],
        ]),
      }),
    ).toEqual(['a@0:others', 'b@50:product', 'c@100:others', 'd@150:others']);
  });

  it('checks team-map keys against every job, also those outside the window', () => {
    const applied = applyTraceOptions(FORMAT, JOBS, {
      to: 10,
      teamMap: new Map([
        ['z', 'kept'],
        ['w', 'typo'],
      ]),
    });
    expect(applied.problems).toEqual([
      '--team-map: no job has lab "w"; the lab values of this trace: x, y, z',
    ]);
    expect(
      applyTraceOptions(FORMAT, JOBS, { teamBy: 'none', teamMap: new Map([['lab-x', 't']]) }).problems,
    ).toEqual(['--team-map: no job has team "lab-x"; the team values of this trace: everyone']);
  });

  it('does not change the jobs it is given', () => {
    const before = JSON.stringify(JOBS);
    applyTraceOptions(FORMAT, JOBS, { from: 10, rebase: true, teamMap: new Map([['x', 'q']]) });
    expect(JSON.stringify(JOBS)).toBe(before);
  });
});

describe('option checks', () => {
  it('rejects a bad window, --rebase without --from and an unknown team field', () => {
    expect(windowAndTeamProblems(FORMAT, { from: 100, to: 100, rebase: false })).toEqual([
      '--to (100) must be later than --from (100): the window would be empty',
    ]);
    expect(windowAndTeamProblems(FORMAT, { to: 5, rebase: true, teamBy: 'user' })).toEqual([
      '--rebase counts submit times from --from; give --from too',
      '--team-by: the test format has no field "user"; use one of: lab, none',
    ]);
  });

  it('knows the formats, their team fields and which take which option', () => {
    expect(TRACE_FORMATS).toEqual(['alibaba-openb', 'gavel', 'philly', 'tiresias']);
    expect(TEAM_BY_FIELDS).toEqual({
      'alibaba-openb': ['qos', 'none'],
      gavel: ['none', 'job_type'],
      philly: ['cluster', 'none'],
      tiresias: ['none', 'model_name'],
    });
    expect(traceOptionProblems('philly', { jobsPerHour: 1, classMap: new Map() })).toEqual([
      '--jobs-per-hour applies only to --format gavel',
      '--class-map applies only to --format alibaba-openb',
    ]);
    expect(traceOptionProblems('gavel', { jobsPerHour: 2, teamBy: 'qos' })).toEqual([
      '--team-by: the gavel format has no field "qos"; use one of: job_type, none',
    ]);
    expect(traceOptionProblems('slurm')).toEqual([
      'unknown trace format "slurm"; known formats: alibaba-openb, gavel, philly, tiresias',
    ]);
  });

  it('makes names of source values with slug', () => {
    expect(slug('ResNet-50 (batch size 128)')).toBe('resnet-50-batch-size-128');
    expect(slug('V100M16')).toBe('v100m16');
    expect(slug('()')).toBe('');
  });
});

describe('importTrace with options on rows of the real Philly trace', () => {
  let text: string;

  beforeAll(() => {
    text = readFileSync(PHILLY, 'utf8');
  });

  it('gives exactly what importPhilly writes when there are no options', () => {
    const result = importTrace('philly', text, PHILLY);
    expect(result.csv).toBe(importPhilly(text, PHILLY).csv);
    expect(result.notes).toEqual([]);
    // With options that change nothing, the jobs are read back and written again: same text.
    expect(importTrace('philly', text, PHILLY, { from: 0 }).csv).toBe(result.csv);
  });

  it('keeps day 11 of the excerpt, rebased, with VCs mapped onto three teams', () => {
    // Submits in [950400, 1036800): 2017-10-19 01:22:44 to 2017-10-20 01:22:44 UTC, 1,203 jobs
    // (6c71a0 385, b436b2 382, 11cb48 191, 0e4a51 147, 6214e9 42, 7f04ca 17, ee9e8c 13, ed69ec 12,
    // 103959 10, e13805 4).
    const result = importTrace('philly', text, PHILLY, {
      from: 11 * 86_400,
      to: 12 * 86_400,
      rebase: true,
      teamMap: new Map([
        ['6c71a0', 'research'],
        ['vc11cb48', 'product'],
        ['*', 'others'],
      ]),
    });
    expect(result.jobs).toBe(1203);
    expect(result.teams).toEqual(['others', 'product', 'research']);
    expect(result.notes).toEqual([
      'window [950400, 1036800) of submit times kept 1203 of 3000 jobs; submit times count from 950400',
    ]);
    const rows = result.csv.split('\n').slice(1, -1);
    // Excerpt line 1506: 2017-10-19 01:23:10,91468.0,4,365872.0,7f04ca (26 s into the window).
    expect(rows[0]).toBe('philly-1504,26,others,4,91468,,,,');
    // Excerpt line 1574: 2017-10-20 01:22:11,70.0,1,70.0,11cb48 (86367 s into the window).
    expect(rows.at(-1)).toBe('philly-1572,86367,product,1,70,,,,');
    const teamCount = (team: string): number => rows.filter((row) => row.split(',')[2] === team).length;
    expect([teamCount('research'), teamCount('product'), teamCount('others')]).toEqual([385, 191, 627]);
  });

  it('puts every job into team philly with --team-by none', () => {
    expect(importTrace('philly', text, PHILLY, { teamBy: 'none' }).teams).toEqual(['philly']);
  });

  it('refuses a team-map key that names no virtual cluster', () => {
    expect(
      problems(() => importTrace('philly', text, 'philly.csv', { teamMap: new Map([['6214e8', 'x']]) })),
    ).toEqual([
      'philly.csv: --team-map: no job has cluster "6214e8"; the cluster values of this trace: 0e4a51, 103959, 11cb48, 2869ce, 6214e9, 6c71a0, 7f04ca, b436b2, e13805, ed69ec, ... (1 more)',
    ]);
  });
});
