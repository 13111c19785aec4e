import { describe, expect, it } from 'vitest';
import {
  csvField,
  formatNumber,
  MAX_ISSUES,
  summarize,
  TraceImportError,
  writeCanonicalCsv,
  type CanonicalJob,
} from './canonical-csv.js';

const HEADER = 'id,submit,team,gpus,duration,class,flavor,time_limit,checkpoint_interval';
const job = (id: string, over: Partial<CanonicalJob> = {}): CanonicalJob => ({
  id,
  submit: 0,
  team: 'A',
  gpus: 1,
  duration: 60,
  ...over,
});

describe('formatNumber', () => {
  it('writes integers without a decimal point', () => {
    expect([0, 8, 2240194, 9408690].map(formatNumber)).toEqual(['0', '8', '2240194', '9408690']);
  });

  it('keeps at most 3 decimals and drops trailing zeros', () => {
    expect([1.5, 0.25, 1.125, 2.1234, 0.1 + 0.2, 1.9999, 0.0004].map(formatNumber)).toEqual([
      '1.5',
      '0.25',
      '1.125',
      '2.123',
      '0.3',
      '2',
      '0',
    ]);
  });

  it('never writes an exponent or a negative zero', () => {
    expect(formatNumber(1e20)).toBe('100000000000000000000');
    expect(formatNumber(1e-7)).toBe('0');
    expect(formatNumber(-0)).toBe('0');
    expect(formatNumber(-0.0001)).toBe('0');
    expect(formatNumber(-2.5)).toBe('-2.5');
  });

  it('refuses values it cannot write', () => {
    for (const value of [NaN, Infinity, -Infinity, 1e21])
      expect(() => formatNumber(value)).toThrow(RangeError);
  });
});

describe('csvField', () => {
  it('leaves plain text alone', () => {
    expect(['philly-0', 'vc6214e9', '', 'a b', 'x@y'].map(csvField)).toEqual([
      'philly-0',
      'vc6214e9',
      '',
      'a b',
      'x@y',
    ]);
  });

  it('quotes commas, quotes, line breaks and edge blanks, doubling inner quotes', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\r')).toBe('"cr\r"');
    expect(csvField(' padded')).toBe('" padded"');
    expect(csvField('padded ')).toBe('"padded "');
  });
});

describe('writeCanonicalCsv', () => {
  it('writes the fixed header and empty optional cells when no job has them', () => {
    const csv = writeCanonicalCsv([job('j1', { submit: 12.5, team: 'vc1', gpus: 8, duration: 3600 })]);
    expect(csv).toBe(`${HEADER}\nj1,12.5,vc1,8,3600,,,,\n`);
  });

  it('writes an empty trace as the header alone', () => {
    expect(writeCanonicalCsv([])).toBe(`${HEADER}\n`);
  });

  it('writes class, flavor, time limit and checkpoint interval when given', () => {
    const csv = writeCanonicalCsv([
      job('j1', { class: 'training', flavor: 'h100', timeLimit: 7200, checkpointInterval: 1800.25 }),
    ]);
    expect(csv).toBe(`${HEADER}\nj1,0,A,1,60,training,h100,7200,1800.25\n`);
  });

  it('quotes ids and teams only when needed', () => {
    const csv = writeCanonicalCsv([job('a,1', { team: 'say "x"' })]);
    expect(csv).toBe(`${HEADER}\n"a,1",0,"say ""x""",1,60,,,,\n`);
  });

  it('adds duration@<flavor> columns at the end, sorted, only when some job has one', () => {
    const csv = writeCanonicalCsv([
      job('j1', { durationByFlavor: { v100: 100, k80: 300.5 } }),
      job('j2'),
      job('j3', { durationByFlavor: { p100: 200 } }),
    ]);
    expect(csv.split('\n')).toEqual([
      `${HEADER},duration@k80,duration@p100,duration@v100`,
      'j1,0,A,1,60,,,,,300.5,,100',
      'j2,0,A,1,60,,,,,,,',
      'j3,0,A,1,60,,,,,,200,',
      '',
    ]);
  });

  it('keeps the order it is given', () => {
    const csv = writeCanonicalCsv([job('late', { submit: 9 }), job('early', { submit: 1 })]);
    expect(csv.split('\n').map((line) => line.split(',')[0])).toEqual(['id', 'late', 'early', '']);
  });

  it('refuses a flavor name that breaks the flavor pattern', () => {
    expect(() => writeCanonicalCsv([job('j1', { durationByFlavor: { 'V100,x': 1 } })])).toThrow(
      'bad flavor name "V100,x" in duration@<flavor>',
    );
  });
});

describe('summarize', () => {
  it('counts jobs, sorts distinct teams and measures the submit span', () => {
    const jobs = [
      job('a', { team: 'B', submit: 5 }),
      job('b', { team: 'A', submit: 2 }),
      job('c', { team: 'B', submit: 30 }),
    ];
    expect(summarize('csv', jobs)).toEqual({ csv: 'csv', jobs: 3, teams: ['A', 'B'], span: 28 });
    expect(summarize('csv', [])).toEqual({ csv: 'csv', jobs: 0, teams: [], span: 0 });
  });
});

describe('TraceImportError', () => {
  it('renders every issue, one per line', () => {
    const error = new TraceImportError([
      { file: 't.csv', line: 3, path: 'column gpus', message: 'expected a positive integer, got "x"' },
      { file: 't.csv', line: 1, path: 'header', message: 'missing column id' },
    ]);
    expect(error.message).toBe(
      't.csv:3: column gpus: expected a positive integer, got "x"\nt.csv:1: header: missing column id',
    );
    expect(error.issues).toHaveLength(2);
  });

  it(`keeps the first ${MAX_ISSUES} issues and counts the rest`, () => {
    const issues = Array.from({ length: 120 }, (_, i) => ({
      file: 't.csv',
      line: i + 2,
      path: 'column gpus',
      message: 'bad',
    }));
    const error = new TraceImportError(issues);
    expect(error.issues).toHaveLength(MAX_ISSUES + 1);
    expect(error.issues[MAX_ISSUES - 1]).toEqual(issues[MAX_ISSUES - 1]);
    expect(error.issues[MAX_ISSUES]).toEqual({ file: 't.csv', path: '', message: '... and 70 more' });
    expect(error.message.split('\n').at(-1)).toBe('t.csv: ... and 70 more');
  });
});
