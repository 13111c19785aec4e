import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatIssue } from '../core/model.js';
import { TraceImportError } from './canonical-csv.js';
import { importTrace, type ImportResult, type TraceOptions } from './index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Excerpts of the generated Gavel traces (test/fixtures/traces/README.md): continuous-single seed 0
// holds jobs 4000-4999 (where Gavel measures), seeds 1 and 2 jobs 7900-7999; continuous-multiple
// seed 0 holds jobs 0-999, seeds 1 and 2 jobs 0-499. Job N is at line N + 2 of the full file.
const gavelFile = (name: string): string =>
  path.resolve(repoRoot, 'test/fixtures/traces/gavel_osdi20', name.replace(/\.csv$/, '.excerpt.csv'));
const SINGLE0 = gavelFile('gavel_continuous_single_seed0.csv');
const MULTI0 = gavelFile('gavel_continuous_multi_seed0.csv');
const HEADER =
  'id,submit,team,gpus,duration,class,flavor,time_limit,checkpoint_interval,duration@k80,duration@p100,duration@v100';
const SOURCE_HEADER =
  'job_id,job_type,scale_factor,duration_v100_s,total_steps,arrival_units,runtime_v100_s,runtime_p100_s,runtime_k80_s';
const AT_04: TraceOptions = { jobsPerHour: 0.4 };

const gavel = (text: string, options: TraceOptions = AT_04, file = 'g.csv'): ImportResult =>
  importTrace('gavel', text, file, options);
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

describe('gavel importer on jobs 4000-4999 of continuous-single, seed 0, at 0.4 jobs/h', () => {
  let result: ImportResult;
  let rows: string[];

  beforeAll(() => {
    result = gavel(readFileSync(SINGLE0, 'utf8'), AT_04, SINGLE0);
    rows = rowsOf(result.csv);
  });

  it('imports 1,000 one-GPU jobs into team gavel, with a duration@ column per GPU type', () => {
    expect(result.csv.split('\n')[0]).toBe(HEADER);
    expect(result.jobs).toBe(1000);
    expect(rows).toHaveLength(1000);
    expect(result.teams).toEqual(['gavel']);
    expect(rows.every((row) => row.split(',')[3] === '1')).toBe(true);
    // Every job can run on every type: no flavor, no note.
    expect(rows.every((row) => row.split(',')[6] === '')).toBe(true);
    expect(result.notes).toEqual([]);
    expect(result.warnings).toEqual([]);
  });

  it('turns arrival units into seconds at the given rate and keeps the run times', () => {
    // Line 4002: 4000,Recommendation (batch size 2048),1,7991.43,59693,3973.556116,7991.43,3596.694,5717.056
    // 3973.556116 x 3600 / 0.4 = 35762005.044 s: times count from the trace's own start, not the excerpt's.
    expect(rows[0]).toBe('gavel-4000,35762005.044,gavel,1,7991.43,,,,,5717.056,3596.694,7991.43');
    // Line 5001: 4999,Recommendation (batch size 1024),1,13879.572,184356,4947.419131,13879.572,5996.414,9194.854;
    // 4947.419131 x 9000 = 44526772.179.
    expect(rows[999]).toBe('gavel-4999,44526772.179,gavel,1,13879.572,,,,,9194.854,5996.414,13879.572');
    // The span runs from the first submit to the last: 44526772.179 - 35762005.044.
    expect(result.span).toBeCloseTo(8_764_767.135, 3);
  });

  it('keeps file order, which is job_id order, so jobs 4000-4999 stay where Gavel measures them', () => {
    expect(rows.map((row) => row.split(',')[0])).toEqual(
      Array.from({ length: 1000 }, (_, i) => `gavel-${4000 + i}`),
    );
  });

  it('matches the README check: jobs 4000-4999 average 17.41 h on a V100', () => {
    const measured = rows.map((row) => Number(row.split(',')[4]));
    expect(measured).toHaveLength(1000);
    const hours = measured.reduce((sum, seconds) => sum + seconds, 0) / measured.length / 3600;
    expect(hours).toBeCloseTo(17.41, 2);
  });

  it('makes one team per job type with --team-by job_type: the 26 templates of Gavel', () => {
    const byType = gavel(readFileSync(SINGLE0, 'utf8'), { ...AT_04, teamBy: 'job_type' });
    expect(byType.teams).toHaveLength(26);
    expect(byType.teams.slice(0, 3)).toEqual(['a3c', 'cyclegan', 'lm-batch-size-10']);
    expect(rowsOf(byType.csv)[0]).toBe(
      'gavel-4000,35762005.044,recommendation-batch-size-2048,1,7991.43,,,,,5717.056,3596.694,7991.43',
    );
  });

  it('imports seeds 1 and 2 too: jobs 7900-7999, last arrivals 8016.703608 and 8064.822883 units', () => {
    for (const [seed, last] of [
      [1, '72150332.472'],
      [2, '72583405.947'],
    ] as const) {
      const other = gavel(readFileSync(gavelFile(`gavel_continuous_single_seed${seed}.csv`), 'utf8'));
      expect(other.jobs).toBe(100);
      expect(other.notes).toEqual([]);
      expect(rowsOf(other.csv)[99]?.split(',').slice(0, 2)).toEqual(['gavel-7999', last]); // units x 9000
    }
  });

  it('scales submit times with the rate: twice the rate, half the times', () => {
    const fast = rowsOf(gavel(readFileSync(SINGLE0, 'utf8'), { jobsPerHour: 0.8 }).csv);
    expect(fast[0]?.split(',').slice(0, 2)).toEqual(['gavel-4000', '17881002.522']);
  });
});

describe('gavel importer on the first jobs of continuous-multiple', () => {
  it('imports jobs of 1 to 8 GPUs and restricts the jobs without a K80 run time to v100', () => {
    // Rows with an empty runtime_k80_s (all multi-GPU "ResNet-50 (batch size 128)"): 24, 8, 8;
    // sums of scale_factor (`awk -F, 'NR>1{s+=$3} END{print s}'`): 1953, 907, 917.
    const expected: [string, number, number, number][] = [
      ['gavel_continuous_multi_seed0.csv', 1000, 24, 1953],
      ['gavel_continuous_multi_seed1.csv', 500, 8, 907],
      ['gavel_continuous_multi_seed2.csv', 500, 8, 917],
    ];
    for (const [name, jobs, restricted, totalGpus] of expected) {
      const result = gavel(readFileSync(gavelFile(name), 'utf8'), AT_04, name);
      const rows = rowsOf(result.csv);
      expect(result.jobs).toBe(jobs);
      expect(rows.filter((row) => row.split(',')[6] === 'v100')).toHaveLength(restricted);
      expect(rows.filter((row) => row.split(',')[6] !== '')).toHaveLength(restricted);
      expect(rows.reduce((sum, row) => sum + Number(row.split(',')[3]), 0)).toBe(totalGpus);
      expect(result.notes).toEqual([
        `${restricted} jobs with no k80 run time (empty runtime_k80_s): restricted to flavor v100, the fastest type they can run on`,
      ]);
    }
  });

  it('writes a restricted job with its flavor and an empty duration@k80', () => {
    const rows = rowsOf(gavel(readFileSync(MULTI0, 'utf8')).csv);
    // Line 2: 0,ResNet-18 (batch size 64),8,68344.35,17484476,0.0,68344.35,145659.069,410009.226
    expect(rows[0]).toBe('gavel-0,0,gavel,8,68344.35,,,,,410009.226,145659.069,68344.35');
    // Line 19: 17,ResNet-50 (batch size 128),4,451697.229,3175112,16.612737,451697.229,611639.846,
    // 16.612737 x 9000 = 149514.633 s.
    expect(rows[17]).toBe('gavel-17,149514.633,gavel,4,451697.229,,v100,,,,611639.846,451697.229');
  });
});

describe('gavel importer on small inputs', () => {
  it('restricts a job to the faster of the two types it can run on', () => {
    const { csv, notes } = gavel(tiny('a,X,2,9,1,0.5,100,50,', 'b,X,1,9,1,1,,,30'));
    expect(csv).toBe(
      `${HEADER}\ngavel-a,4500,gavel,2,100,,p100,,,,50,100\ngavel-b,9000,gavel,1,30,,k80,,,30,,\n`,
    );
    expect(notes).toEqual([
      '1 job with no k80 run time (empty runtime_k80_s): restricted to flavor p100, the fastest type it can run on',
      '1 job with no v100 or p100 run time (empty runtime_v100_s, runtime_p100_s): restricted to flavor k80, the fastest type it can run on',
    ]);
  });

  it('needs only the columns it reads, in any order', () => {
    const text =
      'runtime_k80_s,runtime_p100_s,runtime_v100_s,arrival_units,scale_factor,job_type,job_id\n3,2,1,0.1,1,A3C,7\n';
    expect(gavel(text, { jobsPerHour: 1 }).csv).toBe(`${HEADER}\ngavel-7,360,gavel,1,1,,,,,3,2,1\n`);
  });
});

describe('gavel importer errors', () => {
  it('needs --jobs-per-hour', () => {
    expect(problems(() => gavel(tiny('0,X,1,1,1,0,1,1,1'), {}, 'g.csv'))).toEqual([
      'g.csv: --jobs-per-hour N is required with --format gavel: the arrival rate that turns arrival_units into seconds (submit = arrival_units x 3600 / N)',
    ]);
    expect(problems(() => gavel(tiny('0,X,1,1,1,0,1,1,1'), { jobsPerHour: 0 }, 'g.csv'))).toEqual([
      'g.csv: --jobs-per-hour: expected a number of jobs per hour > 0, got 0',
    ]);
  });

  it('reports every bad cell with file, line and column', () => {
    const text = tiny(
      '0,X,0,1,1,-1,1,1,1',
      '1,X,1,1,1,2,fast,1,1',
      '2,X,1,1,1,3,,,',
      '2,X,1,1,1,4,1,1,1',
      '3,(),1.5,1,1,5,1,1,1',
    );
    expect(problems(() => gavel(text, AT_04, 'g.csv'))).toEqual([
      'g.csv:2: column scale_factor: expected a positive integer, got "0"',
      'g.csv:2: column arrival_units: expected a number >= 0, got "-1"',
      'g.csv:3: column runtime_v100_s: expected a number of seconds >= 0, or empty if the job cannot run there, got "fast"',
      'g.csv:4: columns runtime_v100_s, runtime_p100_s, runtime_k80_s: all empty: the job can run on no GPU type; give at least one run time',
      'g.csv:5: column job_id: "2" is already used at line 4; ids must be unique',
      'g.csv:6: column job_type: expected a job type with a letter or digit, got "()"',
      'g.csv:6: column scale_factor: expected a positive integer, got "1.5"',
    ]);
  });

  it('reports a header without the columns it needs at line 1', () => {
    expect(problems(() => gavel('job_id,job_type,scale_factor\n0,X,1\n', AT_04, 'g.csv'))).toEqual([
      `g.csv:1: header: missing columns arrival_units, runtime_v100_s, runtime_p100_s, runtime_k80_s; expected ${SOURCE_HEADER}`,
    ]);
  });
});
