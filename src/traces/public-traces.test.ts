import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MissingTraceError,
  PUBLIC_TRACES,
  requireTraceFile,
  tracesDir,
  TRACES_ENV,
} from './public-traces.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'arbiter-traces-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('tracesDir', () => {
  it('takes --traces first, then ARBITER_TRACES, then the fallback, and leaves the other arguments', () => {
    const env = { [TRACES_ENV]: '/from/env' };
    expect(tracesDir(['5', '--traces', '/given'], env, '/fallback')).toEqual({
      dir: '/given',
      from: '--traces',
      rest: ['5'],
    });
    expect(tracesDir(['--traces=/given', '0.4,0.8'], env, '/fallback')).toEqual({
      dir: '/given',
      from: '--traces',
      rest: ['0.4,0.8'],
    });
    expect(tracesDir(['5'], env, '/fallback')).toEqual({ dir: '/from/env', from: TRACES_ENV, rest: ['5'] });
    expect(tracesDir([], { [TRACES_ENV]: '' }, '/fallback')).toEqual({
      dir: '/fallback',
      from: 'the default folder',
      rest: [],
    });
  });

  it('resolves a relative folder against the working directory', () => {
    expect(tracesDir(['--traces', 'traces'], {}, '/fallback').dir).toBe(path.resolve('traces'));
  });

  it('refuses --traces without a folder', () => {
    expect(() => tracesDir(['--traces'], {}, '/fallback')).toThrow(
      new MissingTraceError('--traces needs a folder: --traces DIR'),
    );
  });
});

describe('requireTraceFile', () => {
  it('gives the path of a file that is there', () => {
    mkdirSync(path.join(dir, 'philly'));
    writeFileSync(
      path.join(dir, 'philly', 'philly_jobs_82k.csv'),
      'timestamp,duration,num_gpus,gpu_time,cluster\n',
    );
    expect(requireTraceFile({ dir, from: '--traces' }, PUBLIC_TRACES.philly)).toBe(
      path.join(dir, 'philly', 'philly_jobs_82k.csv'),
    );
  });

  it('names the missing file, where the folder came from, how to choose another and where to get it', () => {
    const run = (): string => requireTraceFile({ dir, from: TRACES_ENV }, PUBLIC_TRACES.philly);
    expect(run).toThrow(MissingTraceError);
    expect(run).toThrow(
      [
        `${path.join(dir, 'philly', 'philly_jobs_82k.csv')}: missing; this needs the Microsoft Philly job summary (82,247 jobs) as published by the Pollux authors.`,
        `The traces folder ${dir} comes from ARBITER_TRACES; choose another with --traces DIR or ARBITER_TRACES=DIR.`,
        'Get philly/philly_jobs_82k.csv: download https://github.com/petuum/adaptdl/blob/c793c7089bd307462686339d29707925c461f9a9/simulator/traces/philly.csv and save it under this name.',
      ].join('\n'),
    );
  });

  it('gives every benchmark input a public source', () => {
    for (const trace of Object.values(PUBLIC_TRACES)) expect(trace.source).toMatch(/https:\/\/github\.com\//);
  });
});
