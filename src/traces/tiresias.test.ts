import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../core/model.js';
import { TraceImportError } from './canonical-csv.js';
import { importTrace, type TraceOptions } from './index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Both files whole, as published (test/fixtures/traces/README.md).
const TIRESIAS = path.resolve(repoRoot, 'test/fixtures/traces/tiresias_nsdi19/60_job.csv');
const TF_JOB = path.resolve(repoRoot, 'test/fixtures/traces/tiresias_nsdi19/tf_job.csv');
const HEADER = 'id,submit,team,gpus,duration,class,flavor,time_limit,checkpoint_interval';
const SOURCE_HEADER = 'job_id,num_gpu,submit_time,iterations,model_name,duration,interval';

const tiresias = (text: string, file = 't.csv', options?: TraceOptions): ReturnType<typeof importTrace> =>
  importTrace('tiresias', text, file, options);
const rowsOf = (csv: string): string[] => csv.split('\n').slice(1, -1);
const tiny = (...rows: string[]): string => [SOURCE_HEADER, ...rows].join('\n') + '\n';

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

describe('tiresias importer on the real 60-job trace', () => {
  const text = readFileSync(TIRESIAS, 'utf8');

  it('imports all 60 jobs into one team, with submit times and durations in seconds as given', () => {
    const result = tiresias(text, TIRESIAS);
    expect(result.jobs).toBe(60);
    expect(result.teams).toEqual(['tiresias']);
    expect(result.span).toBe(1779); // submit_time of the last row (job 59); the first is 0
    expect(result.warnings).toEqual([]);
    expect(result.notes).toEqual([]);
    const lines = result.csv.split('\n');
    expect(lines[0]).toBe(HEADER);
    const rows = lines.slice(1, -1);
    expect(rows).toHaveLength(60);
    // Source lines 2, 3 and 61 (the file has CRLF line ends):
    //   0,1,0,606,vgg19,164,30   1,8,30,133,vgg11,147,23   59,1,1779,525,inception3,122,33
    expect(rows[0]).toBe('tiresias-0,0,tiresias,1,164,,,,');
    expect(rows[1]).toBe('tiresias-1,30,tiresias,8,147,,,,');
    expect(rows[59]).toBe('tiresias-59,1779,tiresias,1,122,,,,');
    // Line 51: 49,1,1471,4861,resnet152,1800,28 (the longest job).
    expect(rows[49]).toBe('tiresias-49,1471,tiresias,1,1800,,,,');
  });

  it('has the GPU mix the README gives: 1 GPU x30, 2 x10, 4 x10, 8 x10', () => {
    const gpus = rowsOf(tiresias(text).csv).map((row) => row.split(',')[3]);
    const count = (n: string): number => gpus.filter((g) => g === n).length;
    expect([count('1'), count('2'), count('4'), count('8')]).toEqual([30, 10, 10, 10]);
  });

  it('makes one team per model with --team-by model_name: 10 models of 6 jobs', () => {
    const result = tiresias(text, TIRESIAS, { teamBy: 'model_name' });
    // prettier-ignore
    expect(result.teams).toEqual([
      'alexnet', 'googlenet', 'inception3', 'inception4', 'resnet101', 'resnet152', 'resnet50', 'vgg11', 'vgg16', 'vgg19',
    ]);
    const teams = rowsOf(result.csv).map((row) => row.split(',')[2]);
    expect(teams.filter((team) => team === 'vgg19')).toHaveLength(6);
    expect(rowsOf(result.csv)[0]).toBe('tiresias-0,0,vgg19,1,164,,,,');
  });

  it('keeps the window [from, to) of submit times, from included and to excluded', () => {
    // Job 21 is submitted at 611 s and job 40 at 1194 s: [611, 1194) holds jobs 21..39.
    const result = tiresias(text, TIRESIAS, { from: 611, to: 1194 });
    const rows = rowsOf(result.csv);
    expect(rows.map((row) => row.split(',')[0])).toEqual(
      Array.from({ length: 19 }, (_, i) => `tiresias-${21 + i}`),
    );
    expect(rows[0]).toBe('tiresias-21,611,tiresias,2,126,,,,');
    expect(result.notes).toEqual(['window [611, 1194) of submit times kept 19 of 60 jobs']);
    // With --rebase the window starts at 0: 611 -> 0, 1165 (job 39) -> 554.
    const rebased = rowsOf(tiresias(text, TIRESIAS, { from: 611, to: 1194, rebase: true }).csv);
    expect([rebased[0], rebased.at(-1)]).toEqual([
      'tiresias-21,0,tiresias,2,126,,,,',
      'tiresias-39,554,tiresias,1,121,,,,',
    ]);
  });

  it('renames models onto teams with --team-map, * taking the rest', () => {
    const result = tiresias(text, TIRESIAS, {
      teamBy: 'model_name',
      teamMap: new Map([
        ['vgg19', 'vision'],
        ['vgg16', 'vision'],
        ['*', 'others'],
      ]),
    });
    expect(result.teams).toEqual(['others', 'vision']);
    expect(rowsOf(result.csv).filter((row) => row.split(',')[2] === 'vision')).toHaveLength(12);
  });

  it('reports the repeated job of tf_job.csv (another Tiresias format, one job written twice)', () => {
    expect(problems(() => tiresias(readFileSync(TF_JOB, 'utf8'), 'tf_job.csv'))).toEqual([
      'tf_job.csv:3: column job_id: "10" is already used at line 2; ids must be unique',
    ]);
  });
});

describe('tiresias importer on small inputs', () => {
  it('sorts by submit time, ties in file order, and keeps decimals', () => {
    const { csv } = tiresias(tiny('a,1,20,5,vgg16,10.5,0', 'b,2,10,5,vgg16,7,0', 'c,4,10,5,vgg16,8,0'));
    expect(csv).toBe(
      `${HEADER}\ntiresias-b,10,tiresias,2,7,,,,\ntiresias-c,10,tiresias,4,8,,,,\ntiresias-a,20,tiresias,1,10.5,,,,\n`,
    );
  });

  it('needs only job_id, num_gpu, submit_time, model_name and duration, in any order', () => {
    const { csv } = tiresias('duration,model_name,submit_time,num_gpu,job_id\n60,alexnet,5,2,7\n');
    expect(csv).toBe(`${HEADER}\ntiresias-7,5,tiresias,2,60,,,,\n`);
  });
});

describe('tiresias importer errors', () => {
  it('reports every bad cell with file, line and column', () => {
    const text = tiny(
      '0,0,0,1,vgg19,164,30',
      '1,2,-5,1,vgg 19,1h,30',
      '2,1,0,1,vgg19,164',
      '',
      '3,1,0,1,a,1,1',
    );
    expect(problems(() => tiresias(text, '60_job.csv'))).toEqual([
      '60_job.csv:2: column num_gpu: expected a positive integer, got "0"',
      '60_job.csv:3: column submit_time: expected a number of seconds >= 0, got "-5"',
      '60_job.csv:3: column model_name: expected a model name (letters, digits, _ . or -), got "vgg 19"',
      '60_job.csv:3: column duration: expected a number of seconds >= 0, got "1h"',
      '60_job.csv:4: expected 7 columns, got 6',
      '60_job.csv:5: empty row; remove it',
    ]);
  });

  it('reports a header without the columns it needs at line 1', () => {
    expect(problems(() => tiresias('job_id,gpus,submit_time,model_name\n0,1,0,vgg19\n', 'j.csv'))).toEqual([
      `j.csv:1: header: missing columns num_gpu, duration; expected ${SOURCE_HEADER}`,
    ]);
  });
});
