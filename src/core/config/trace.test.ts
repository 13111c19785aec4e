import { describe, expect, test } from 'vitest';
import { formatIssue, type Fleet, type Issue, type JobSpec, type Policy, type Result } from '../model.js';
import { parsePolicy } from './policy.js';
import { MAX_LISTED_PROBLEMS, parseTrace } from './trace.js';

const FLEET: Fleet = {
  pools: [
    { name: 'h100-a', flavor: 'h100', nodes: 4, gpusPerNode: 8 },
    { name: 'k80-b', flavor: 'k80', nodes: 4, gpusPerNode: 4 },
  ],
};

const POLICY: Policy = (() => {
  const result = parsePolicy(
    `teams:
  - name: research
    children: [{ name: pretraining }, { name: alignment }]
  - name: applied
    children: [{ name: serving }]
`,
    'policy.yaml',
    FLEET,
  );
  if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
  return result.value;
})();

const HEADER = 'id,submit,team,gpus,duration';
const parse = (text: string): Result<JobSpec[]> => parseTrace(text, 'trace.csv', POLICY, FLEET);
const issues = (text: string): readonly Issue[] => {
  const result = parse(text);
  return result.ok ? [] : result.issues;
};

/** A job as parsed from the required columns alone. */
const job = (id: string, submit: number, team: string, gpus: number, duration: number): JobSpec => ({
  id,
  submit,
  team,
  gpus,
  duration,
  class: 'research',
  flavor: null,
  timeLimit: null,
  checkpointInterval: null,
});

describe('parseTrace', () => {
  test('reads jobs in file order, not sorted, with the defaults filled', () => {
    expect(parse(`${HEADER}\nb,100,pretraining,8,3600\na,0.5,serving,1,1e3\n`)).toEqual({
      ok: true,
      value: [job('b', 100, 'pretraining', 8, 3600), job('a', 0.5, 'serving', 1, 1000)],
      warnings: [],
    });
  });

  test('takes the columns in any order, with the optional ones and duration@<flavor>', () => {
    const text = `duration@k80,flavor,class,gpus,id,team,time_limit,duration,submit,checkpoint_interval
400,h100,serving,4,j1,alignment,7200,100,5,60
,,,2,j2,alignment,,50,6,
`;
    expect(parse(text)).toEqual({
      ok: true,
      value: [
        {
          ...job('j1', 5, 'alignment', 4, 100),
          class: 'serving',
          flavor: 'h100',
          timeLimit: 7200,
          checkpointInterval: 60,
          durationByFlavor: { k80: 400 },
        },
        job('j2', 6, 'alignment', 2, 50),
      ],
      warnings: [],
    });
  });

  test('reads quoted fields and CRLF line ends, and ignores empty lines at the end', () => {
    const text = `${HEADER}\r\n"job, ""one""",0,"serving",1,10\r\n"x\r\ny",1,serving,1,10\r\n\r\n\r\n`;
    expect(parse(text)).toEqual({
      ok: true,
      value: [job('job, "one"', 0, 'serving', 1, 10), job('x\r\ny', 1, 'serving', 1, 10)],
      warnings: [],
    });
  });

  test('warns once about unknown columns, naming them, and ignores them', () => {
    expect(parse(`${HEADER},user,queue\nj,0,serving,1,10,ann,q1\n`)).toEqual({
      ok: true,
      value: [job('j', 0, 'serving', 1, 10)],
      warnings: [
        {
          file: 'trace.csv',
          line: 1,
          path: '',
          message:
            'unknown columns ignored: "user", "queue" (known columns: id, submit, team, gpus, duration, class, flavor, time_limit, checkpoint_interval, duration@<flavor>)',
        },
      ],
    });
  });

  test('reports missing required columns once, from the header, with the unknown ones as a hint', () => {
    expect(issues('id,team,gpu,duration\nj,serving,1,10\nk,serving,2,10\n')).toEqual([
      {
        file: 'trace.csv',
        line: 1,
        path: '',
        message:
          'missing required columns: submit, gpus (the header must name id, submit, team, gpus, duration); the header has unknown columns "gpu"',
      },
    ]);
  });

  test('checks the header: repeated columns and duration@ of a flavor the fleet lacks', () => {
    expect(issues(`${HEADER},gpus,duration@v100\n`)).toEqual([
      {
        file: 'trace.csv',
        line: 1,
        path: 'column gpus',
        message: 'appears twice in the header (fields 4 and 6); keep one',
      },
      {
        file: 'trace.csv',
        line: 1,
        path: 'column duration@v100',
        message: 'the fleet has no flavor "v100" (its flavors: h100, k80); rename or remove the column',
      },
    ]);
  });

  test('an empty file is an error; a header alone is an empty trace', () => {
    expect(issues('')).toEqual([
      {
        file: 'trace.csv',
        line: 1,
        path: '',
        message: 'the file is empty; expected a header row naming id, submit, team, gpus, duration',
      },
    ]);
    expect(parse(`${HEADER}\n`)).toEqual({ ok: true, value: [], warnings: [] });
  });

  test.each([
    ['gpus', 'abc', 'expected a positive integer, got "abc"'],
    ['gpus', '0', 'expected a positive integer, got "0"'],
    ['gpus', '1.5', 'expected a positive integer, got "1.5"'],
    ['gpus', '', 'expected a positive integer, got ""'],
    ['submit', '-1', 'expected a number of seconds >= 0, got "-1"'],
    ['submit', 'NaN', 'expected a number of seconds >= 0, got "NaN"'],
    ['submit', '', 'expected a number of seconds >= 0, got ""'],
    ['duration', 'Infinity', 'expected a number of seconds >= 0, got "Infinity"'],
    ['duration', '1h', 'expected a number of seconds >= 0, got "1h"'],
    ['id', '', 'empty; give every job a unique id'],
    ['team', 'nobody', 'unknown team "nobody"; the policy\'s leaf teams: pretraining, alignment, serving'],
    ['team', 'pretrainig', 'unknown team "pretrainig"; did you mean "pretraining"?'],
    ['class', 'trainig', 'unknown priority class "trainig"; did you mean "training"?'],
    [
      'team',
      'research',
      'team "research" has sub-teams; submit to one of its leaf teams: pretraining, alignment',
    ],
    [
      'class',
      'vip',
      'unknown priority class "vip"; the policy\'s classes: serving, training, research, opportunistic',
    ],
    ['flavor', 'v100', 'unknown flavor "v100"; the fleet\'s flavors: h100, k80'],
    ['time_limit', '0', 'expected a number of seconds > 0, or empty for none, got "0"'],
    ['checkpoint_interval', '-5', 'expected a number of seconds >= 0, or empty for the policy\'s, got "-5"'],
    ['duration@k80', 'x', 'expected a number of seconds >= 0, or empty to use duration, got "x"'],
  ])('column %s: %j is an error', (column, value, message) => {
    const values: Record<string, string> = {
      id: 'j',
      submit: '0',
      team: 'serving',
      gpus: '1',
      duration: '10',
    };
    values[column] = value;
    const columns = Object.keys(values);
    const file = `${columns.join(',')}\n${columns.map((c) => values[c]).join(',')}\n`;
    expect(issues(file)).toEqual([{ file: 'trace.csv', line: 2, path: `column ${column}`, message }]);
  });

  test('ids are unique: a repeated id names the line that had it first', () => {
    expect(issues(`${HEADER}\na,0,serving,1,10\n"b\nb",0,serving,1,10\na,1,serving,1,10\n`)).toEqual([
      {
        file: 'trace.csv',
        line: 5,
        path: 'column id',
        message: '"a" is already the id of the job on line 2; ids must be unique',
      },
    ]);
  });

  test('reports every problem of every row at once, with its line, column and value', () => {
    const text = `${HEADER}\nok,0,serving,1,10\nbad,x,research,abc,10\nshort,1\n\n"broken"!,1,serving,1,1\nlast,1,serving,1,-2\n`;
    expect(issues(text).map(formatIssue)).toEqual([
      'trace.csv:3: column submit: expected a number of seconds >= 0, got "x"',
      'trace.csv:3: column team: team "research" has sub-teams; submit to one of its leaf teams: pretraining, alignment',
      'trace.csv:3: column gpus: expected a positive integer, got "abc"',
      'trace.csv:4: expected 5 fields as in the header, got 2',
      'trace.csv:5: empty line; remove it',
      'trace.csv:6: field 1: text after the closing quote; put the whole field inside the quotes',
      'trace.csv:7: column duration: expected a number of seconds >= 0, got "-2"',
    ]);
  });

  test(`lists at most ${MAX_LISTED_PROBLEMS} problems, then counts the rest`, () => {
    const rows = Array.from({ length: 80 }, (_, i) => `j${i},0,serving,0,10`);
    const listed = issues(`${HEADER}\n${rows.join('\n')}\n`);
    expect(listed.length).toBe(MAX_LISTED_PROBLEMS + 1);
    expect(listed[0]).toEqual({
      file: 'trace.csv',
      line: 2,
      path: 'column gpus',
      message: 'expected a positive integer, got "0"',
    });
    expect(listed[MAX_LISTED_PROBLEMS]).toEqual({
      file: 'trace.csv',
      path: '',
      message: '... and 30 more problems',
    });
  });

  test('reads a 100,000-job trace', () => {
    const rows = Array.from(
      { length: 100_000 },
      (_, i) => `j${i},${i},${i % 2 ? 'serving' : 'alignment'},${1 + (i % 8)},${i % 500}`,
    );
    const result = parse(`${HEADER}\n${rows.join('\n')}\n`);
    expect(result.ok && result.value.length).toBe(100_000);
    expect(result.ok && result.value[99_999]).toEqual(job('j99999', 99_999, 'serving', 8, 499));
  });
});
