// --slurm-pace of `arbiter serve`: each part optional, unknown parts and values out of range refused with what to write.
import { describe, expect, it } from 'vitest';
import { parseSlurmPace } from './serve.js';

describe('--slurm-pace', () => {
  it('reads poll, fast-poll and sbatch, each optional', () => {
    const problems: string[] = [];
    expect(parseSlurmPace('poll=2000,fast-poll=250,sbatch=2', problems)).toEqual({ pollMs: 2000, fastPollMs: 250, submitsAtOnce: 2 });
    expect(parseSlurmPace('sbatch=8', problems)).toEqual({ submitsAtOnce: 8 });
    expect(parseSlurmPace('end-hints=0', problems)).toEqual({ endHints: false });
    expect(parseSlurmPace('end-hints=1', problems)).toEqual({ endHints: true });
    expect(problems).toEqual([]);
  });

  it('refuses unknown parts and values out of range, saying what it expects', () => {
    const problems: string[] = [];
    expect(parseSlurmPace('poll=10,sbatch=0,speed=3,fast-poll=x,end-hints=2', problems)).toEqual({});
    expect(problems).toEqual([
      '--slurm-pace: poll must be from 50 to 60000 ms, got 10',
      '--slurm-pace: sbatch must be from 1 to 64, got 0',
      '--slurm-pace: expected "poll=MS,fast-poll=MS,sbatch=N,end-hints=0|1" (each part optional), got "speed=3" in "poll=10,sbatch=0,speed=3,fast-poll=x,end-hints=2"',
      '--slurm-pace: expected "poll=MS,fast-poll=MS,sbatch=N,end-hints=0|1" (each part optional), got "fast-poll=x" in "poll=10,sbatch=0,speed=3,fast-poll=x,end-hints=2"',
      '--slurm-pace: end-hints must be 0 or 1, got 2',
    ]);
  });
});
