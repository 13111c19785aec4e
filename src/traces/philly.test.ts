import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatIssue } from '../core/model.js';
import { TraceImportError } from './canonical-csv.js';
import { importPhilly } from './philly.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Source lines 49002-52001 of philly_jobs_82k.csv with its header (test/fixtures/traces/README.md):
// line L of the excerpt is line L + 49000 of the full file, and job philly-N is at excerpt line N + 2.
const PHILLY = path.resolve(repoRoot, 'test/fixtures/traces/philly/philly_jobs_82k.excerpt.csv');
const HEADER = 'id,submit,team,gpus,duration,class,flavor,time_limit,checkpoint_interval';
const SOURCE_HEADER = 'timestamp,duration,num_gpus,gpu_time,cluster';

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

const tiny = (...rows: string[]): string => [SOURCE_HEADER, ...rows].join('\n') + '\n';

describe('importPhilly on 3,000 rows of the real trace', () => {
  let result: ReturnType<typeof importPhilly>;
  let rows: string[];
  let byId: Map<string, string>;

  beforeAll(() => {
    result = importPhilly(readFileSync(PHILLY, 'utf8'), PHILLY);
    const lines = result.csv.split('\n');
    expect(lines[0]).toBe(HEADER);
    expect(lines.at(-1)).toBe(''); // the text ends with a line break
    rows = lines.slice(1, -1);
    byId = new Map(rows.map((row) => [row.split(',')[0] ?? '', row]));
  });

  it('imports every job into one team per virtual cluster', () => {
    expect(result.jobs).toBe(3000);
    expect(rows).toHaveLength(3000);
    // The 11 VCs of these rows (`cut -d, -f5 | sort -u`).
    // prettier-ignore
    expect(result.teams).toEqual([
      'vc0e4a51', 'vc103959', 'vc11cb48', 'vc2869ce', 'vc6214e9', 'vc6c71a0', 'vc7f04ca', 'vcb436b2',
      'vce13805', 'vced69ec', 'vcee9e8c',
    ]);
    // 2017-10-08 01:22:44 to 2017-10-20 08:51:56 (`cut -d, -f1 | sort`): 12 days 07:29:12.
    expect(result.span).toBe(1_063_752);
  });

  it('starts with the earliest job of the file, which is at line 2837 of the excerpt', () => {
    // Excerpt line 2837: 2017-10-08 01:22:44,942695.0,2,1885390.0,0e4a51 -> row 2835.
    expect(rows[0]).toBe('philly-2835,0,vc0e4a51,2,942695,,,,');
  });

  it('ends with the latest job of the file', () => {
    // Excerpt line 29: 2017-10-20 08:51:56,75.0,1,75.0,11cb48; 1063752 s after the first.
    expect(rows.at(-1)).toBe('philly-27,1063752,vc11cb48,1,75,,,,');
  });

  it('names each job by its row in the source and counts seconds from the earliest timestamp', () => {
    // Excerpt line 2: 2017-10-20 06:34:19,1543.0,1,1543.0,b436b2; 12 days 05:11:35 after the first = 1055495 s.
    expect(byId.get('philly-0')).toBe('philly-0,1055495,vcb436b2,1,1543,,,,');
    // Excerpt line 1529: 2017-10-18 10:43:03,98970.0,16,1583520.0,ee9e8c; 10 days 09:20:19 = 897619 s.
    expect(byId.get('philly-1527')).toBe('philly-1527,897619,vcee9e8c,16,98970,,,,');
    // Excerpt line 1000: 2017-10-20 03:54:55,848.0,1,848.0,6c71a0; 12 days 02:32:11 = 1045931 s.
    expect(byId.get('philly-998')).toBe('philly-998,1045931,vc6c71a0,1,848,,,,');
    // Every source row appears once: philly-0 .. philly-2999.
    expect(byId.size).toBe(3000);
    expect(Array.from({ length: 3000 }, (_, n) => `philly-${n}`).filter((id) => !byId.has(id))).toEqual([]);
  });

  it('sorts by submit time', () => {
    const submits = rows.map((row) => Number(row.split(',')[1]));
    expect(submits.filter((submit, i) => i > 0 && submit < (submits[i - 1] ?? 0))).toEqual([]);
  });

  it('keeps jobs submitted at the same second in file order', () => {
    // The busiest second, 2017-10-20 02:59:25 (1042601 s), has 19 jobs at these excerpt lines
    // (the busiest second of the whole 82k-job file too, at its lines 50258 .. 50455).
    const lines = [
      1258, 1283, 1288, 1290, 1291, 1299, 1302, 1356, 1365, 1366, 1370, 1376, 1377, 1415, 1418, 1425, 1436,
      1438, 1455,
    ];
    const atThatSecond = rows
      .filter((row) => row.split(',')[1] === '1042601')
      .map((row) => row.split(',')[0]);
    expect(atThatSecond).toEqual(lines.map((line) => `philly-${line - 2}`));
    const first = rows.findIndex((row) => row.startsWith('philly-1256,'));
    expect(rows.slice(first, first + 19).map((row) => row.split(',')[0])).toEqual(atThatSecond);
  });
});

describe('importPhilly on small inputs', () => {
  it('sorts by time, keeps ties in file order and counts from the earliest row', () => {
    const { csv, jobs, teams, span } = importPhilly(
      tiny(
        '2017-10-01 00:01:00,10.0,1,10.0,bbb',
        '2017-10-01 00:00:00,20.0,2,40.0,aaa',
        '2017-10-01 00:01:00,30.0,4,120.0,aaa',
        '2017-10-01 00:00:30,40.0,1,40.0,bbb',
      ),
      't.csv',
    );
    expect(csv).toBe(
      `${HEADER}\nphilly-1,0,vcaaa,2,20,,,,\nphilly-3,30,vcbbb,1,40,,,,\nphilly-0,60,vcbbb,1,10,,,,\nphilly-2,60,vcaaa,4,30,,,,\n`,
    );
    expect({ jobs, teams, span }).toEqual({ jobs: 4, teams: ['vcaaa', 'vcbbb'], span: 60 });
  });

  it('reads timestamps as UTC, across a daylight-saving change and a year end', () => {
    // US and EU clocks changed on 2017-11-05 and 2017-10-29; UTC days are all 86400 s.
    const { csv } = importPhilly(
      tiny('2017-10-28 12:00:00,1,1,1,a', '2017-11-06 12:00:00,1,1,1,a', '2018-01-01 00:00:00,1,1,1,a'),
      't.csv',
    );
    // 9 days = 777600 s; 2017-10-28 12:00 to 2018-01-01 00:00 = 64.5 days = 5572800 s.
    expect(
      csv
        .split('\n')
        .slice(1, -1)
        .map((row) => row.split(',')[1]),
    ).toEqual(['0', '777600', '5572800']);
  });

  it('keeps zero and fractional durations as they are', () => {
    const { csv } = importPhilly(
      tiny(
        '2017-10-01 00:00:00,0,1,0,a',
        '2017-10-01 00:00:01,0.5,1,0.5,a',
        '2017-10-01 00:00:02,1.0e3,8.0,8000,a',
      ),
      't.csv',
    );
    expect(csv).toBe(
      `${HEADER}\nphilly-0,0,vca,1,0,,,,\nphilly-1,1,vca,1,0.5,,,,\nphilly-2,2,vca,8,1000,,,,\n`,
    );
  });

  it('accepts CRLF line ends, a byte-order mark, trailing blank lines and quoted fields', () => {
    const text = `\uFEFF${SOURCE_HEADER}\r\n"2017-10-01 00:00:00",5.0,1,5.0,"abc"\r\n\r\n\r\n`;
    expect(importPhilly(text, 't.csv').csv).toBe(`${HEADER}\nphilly-0,0,vcabc,1,5,,,,\n`);
  });

  it('finds columns by name, whatever their order', () => {
    const text = 'cluster,num_gpus,timestamp,gpu_time,duration\nabc,2,2017-10-01 00:00:00,10,5\n';
    expect(importPhilly(text, 't.csv').csv).toBe(`${HEADER}\nphilly-0,0,vcabc,2,5,,,,\n`);
  });

  it('imports a file with a header only as an empty trace', () => {
    expect(importPhilly(`${SOURCE_HEADER}\n`, 't.csv')).toEqual({
      csv: `${HEADER}\n`,
      jobs: 0,
      teams: [],
      span: 0,
    });
  });
});

describe('importPhilly errors', () => {
  it('reports a bad timestamp, negative GPUs and a missing column, each with file, line and column', () => {
    const text = tiny(
      '2017-10-09 07:01:55,66.0,1,66.0,11cb48',
      '2017-13-09 07:01:55,66.0,1,66.0,11cb48',
      '2017-10-09 07:01:55,66.0,-2,-132.0,11cb48',
      '2017-10-09 07:01:55,66.0,1,66.0',
    );
    expect(problems(() => importPhilly(text, 'philly.csv'))).toEqual([
      'philly.csv:3: column timestamp: expected a time "YYYY-MM-DD HH:MM:SS", got "2017-13-09 07:01:55"',
      'philly.csv:4: column num_gpus: expected a positive integer, got "-2"',
      'philly.csv:5: column cluster: missing (the row has 4 of 5 columns)',
    ]);
  });

  it('reports every bad value of a row and every kind of bad row', () => {
    const text = tiny(
      '2017-02-30 00:00:00,-5,0,0,',
      '2017-10-09 7:01:55,1e,1.5,1,a b',
      '',
      '2017-10-09 07:01:55,1,1,1,a,extra',
      '"2017-10-09 07:01:55,1,1,1,a',
    );
    expect(problems(() => importPhilly(text, 'p.csv'))).toEqual([
      'p.csv:2: column timestamp: expected a time "YYYY-MM-DD HH:MM:SS", got "2017-02-30 00:00:00"',
      'p.csv:2: column duration: expected a number of seconds >= 0, got "-5"',
      'p.csv:2: column num_gpus: expected a positive integer, got "0"',
      'p.csv:2: column cluster: expected a virtual-cluster id (letters, digits, - or _), got ""',
      'p.csv:3: column timestamp: expected a time "YYYY-MM-DD HH:MM:SS", got "2017-10-09 7:01:55"',
      'p.csv:3: column duration: expected a number of seconds >= 0, got "1e"',
      'p.csv:3: column num_gpus: expected a positive integer, got "1.5"',
      'p.csv:3: column cluster: expected a virtual-cluster id (letters, digits, - or _), got "a b"',
      'p.csv:4: empty row; remove it',
      'p.csv:5: expected 5 columns, got 6',
      'p.csv:6: unbalanced quotes',
    ]);
  });

  it('reports missing header columns at line 1', () => {
    expect(
      problems(() => importPhilly('timestamp,duration,gpus,cluster\n2017-10-09 07:01:55,1,1,a\n', 'p.csv')),
    ).toEqual([
      'p.csv:1: header: missing column num_gpus; expected timestamp,duration,num_gpus,gpu_time,cluster',
    ]);
    expect(problems(() => importPhilly('', 'p.csv'))).toEqual([
      'p.csv:1: header: missing columns timestamp, duration, num_gpus, cluster; expected timestamp,duration,num_gpus,gpu_time,cluster',
    ]);
  });

  it('lists the first 50 problems and counts the others', () => {
    const text = tiny(...Array.from({ length: 80 }, () => 'yesterday,1,1,1,a'));
    const lines = problems(() => importPhilly(text, 'p.csv'));
    expect(lines).toHaveLength(51);
    expect(lines[0]).toBe(
      'p.csv:2: column timestamp: expected a time "YYYY-MM-DD HH:MM:SS", got "yesterday"',
    );
    expect(lines[49]).toBe(
      'p.csv:51: column timestamp: expected a time "YYYY-MM-DD HH:MM:SS", got "yesterday"',
    );
    expect(lines[50]).toBe('p.csv: ... and 30 more');
  });
});
