import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { summarize } from './metrics.js';
import {
  csvField,
  placementField,
  renderJobsCsv,
  renderSegmentsCsv,
  renderSummaryJson,
  runsInOutputOrder,
  writeFileAtomic,
  writeSimulationOutputs,
} from './outputs.js';
import { outcome, run, sampleResult, spec } from './test-fixtures.js';
import type { SimulationResult } from './types.js';

describe('jobs.csv', () => {
  it('writes one row per job in trace order, empty cells for what never happened', () => {
    expect(renderJobsCsv(sampleResult())).toBe(
      [
        'id,team,class,flavor,gpus,submit,start,end,duration,wait,jct,preemptions,status',
        'j1,pretraining,training,h100,4,0,10,110,100,10,110,0,completed',
        'j2,alignment,research,h100,4,5,20,280,200,15,275,1,completed',
        'j3,applied,serving,h100,4,80,80,100,500,0,20,0,timed_out',
        '"j4,""big""",applied,research,,16,90,,,60,,,0,rejected',
        'j5,pretraining,research,h100,8,100.001,,,50,,,0,pending',
        '',
      ].join('\n'),
    );
  });

  it('writes jct for a job cut by the horizon, and times with at most 3 decimals', () => {
    const job = spec('cut', { team: 'solo', submit: 0.1 + 0.2, gpus: 2, duration: 1234567.0005 });
    const result: SimulationResult = {
      ...sampleResult(),
      jobs: [outcome(job, { status: 'running', start: 1.0005, end: 100 })],
      runs: [],
    };
    expect(renderJobsCsv(result)).toBe(
      'id,team,class,flavor,gpus,submit,start,end,duration,wait,jct,preemptions,status\n' +
        'cut,solo,research,,2,0.3,1.001,100,1234567.001,0.7,99.7,0,running\n',
    );
  });

  it('is just the header for an empty trace', () => {
    expect(renderJobsCsv({ ...sampleResult(), jobs: [], runs: [] })).toBe(
      'id,team,class,flavor,gpus,submit,start,end,duration,wait,jct,preemptions,status\n',
    );
  });

  it('keeps every row across chunk boundaries', () => {
    const jobs = Array.from({ length: 20000 }, (_, i) =>
      outcome(spec(`j${i}`, { team: 't', submit: i }), { status: 'pending' }),
    );
    const lines = renderJobsCsv({ ...sampleResult(), jobs, runs: [] }).split('\n');
    expect([lines.length, lines[1], lines[8192], lines[8193], lines[20000], lines[20001]]).toEqual([
      20002,
      'j0,t,research,,1,0,,,60,,,0,pending',
      'j8191,t,research,,1,8191,,,60,,,0,pending',
      'j8192,t,research,,1,8192,,,60,,,0,pending',
      'j19999,t,research,,1,19999,,,60,,,0,pending',
      '',
    ]);
  });
});

describe('segments.csv', () => {
  it('writes one row per run, in the order given, placements sorted by node', () => {
    const result = sampleResult();
    // The simulator's contract: runs are already by start, then trace position.
    expect(runsInOutputOrder(result.runs)).toBe(result.runs);
    expect(renderSegmentsCsv(result)).toBe(
      [
        'id,start,end,placement,outcome',
        'j1,10,110,h100-a-0:4,completed',
        'j2,20,80,h100-a-1:4,preempted',
        'j3,80,100,h100-a-1:4,timed_out',
        'j2,110,280,h100-a-0:2;h100-a-1:2,completed',
        '',
      ].join('\n'),
    );
  });

  it('puts runs given out of order back by start, then trace position', () => {
    const a = run(2, 5, 9, [{ node: 'n', gpus: 1 }], 'completed');
    const b = run(0, 5, 7, [{ node: 'n', gpus: 1 }], 'completed');
    const c = run(1, 1, 3, [{ node: 'n', gpus: 1 }], 'completed');
    expect(runsInOutputOrder([a, b, c])).toEqual([c, b, a]);
  });

  it('sorts node names as plain strings: h100-a-10 before h100-a-2', () => {
    expect(
      placementField([
        { node: 'h100-a-2', gpus: 4 },
        { node: 'h100-a-10', gpus: 4 },
      ]),
    ).toBe('h100-a-10:4;h100-a-2:4');
  });

  it('refuses a run of a job that is not in the trace', () => {
    const result = sampleResult();
    expect(() => renderSegmentsCsv({ ...result, runs: [run(9, 0, 1, [], 'completed')] })).toThrow(/job #9/);
  });
});

describe('csvField', () => {
  it('quotes only fields with a comma, a quote or a line break', () => {
    expect(['plain', 'a,b', 'say "hi"', 'two\nlines', 'cr\r', ''].map(csvField)).toEqual([
      'plain',
      '"a,b"',
      '"say ""hi"""',
      '"two\nlines"',
      '"cr\r"',
      '',
    ]);
  });
});

describe('summary.json', () => {
  it('is the summary, 2-space indented, documented keys first', () => {
    const summary = summarize(sampleResult());
    const text = renderSummaryJson(summary);
    expect(JSON.parse(text)).toEqual(summary);
    expect(text.startsWith('{\n  "jobs": 5,\n  "completed": 2,\n  "rejected": 1,\n  "avgJct": 135,\n')).toBe(
      true,
    );
    expect(text.endsWith('}\n')).toBe(true);
  });
});

describe('writeSimulationOutputs', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'arbiter-outputs-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates the directory and writes the three files, leaving no temp file', async () => {
    const result = sampleResult();
    const summary = summarize(result);
    const dir = join(root, 'runs', 'first');
    await writeSimulationOutputs(dir, result, summary);
    expect((await readdir(dir)).sort()).toEqual(['jobs.csv', 'segments.csv', 'summary.json']);
    expect(await readFile(join(dir, 'jobs.csv'), 'utf8')).toBe(renderJobsCsv(result));
    expect(await readFile(join(dir, 'segments.csv'), 'utf8')).toBe(renderSegmentsCsv(result));
    expect(await readFile(join(dir, 'summary.json'), 'utf8')).toBe(renderSummaryJson(summary));
  });

  it('replaces files from an earlier run', async () => {
    await writeFile(join(root, 'jobs.csv'), 'old\n');
    const result = sampleResult();
    await writeSimulationOutputs(root, result, summarize(result));
    expect(await readFile(join(root, 'jobs.csv'), 'utf8')).toBe(renderJobsCsv(result));
  });

  it('leaves the old file and no temp file when writing fails half-way', async () => {
    const target = join(root, 'jobs.csv');
    await writeFile(target, 'old\n');
    function* failing(): Generator<string> {
      yield 'id,team\n';
      throw new Error('disk on fire');
    }
    await expect(writeFileAtomic(target, failing())).rejects.toThrow('disk on fire');
    expect(await readdir(root)).toEqual(['jobs.csv']);
    expect(await readFile(target, 'utf8')).toBe('old\n');
  });

  it('writes into a pipe or a device in place, never replacing it with a plain file (--explain /dev/null)', async () => {
    // A FIFO stands for /dev/null and /dev/stdout: a rename over it would destroy it.
    const fifo = join(root, 'explain.fifo');
    execFileSync('mkfifo', [fifo]);
    const read = new Promise<string>((resolve, reject) => {
      let text = '';
      createReadStream(fifo, 'utf8')
        .on('data', (d) => (text += String(d)))
        .on('end', () => resolve(text))
        .on('error', reject);
    });
    await writeFileAtomic(fifo, ['{"job":"j1"}\n', '{"job":"j2"}\n']);
    expect(await read).toBe('{"job":"j1"}\n{"job":"j2"}\n');
    expect((await stat(fifo)).isFIFO()).toBe(true);
    expect(await readdir(root)).toEqual(['explain.fifo']);
  });
});
