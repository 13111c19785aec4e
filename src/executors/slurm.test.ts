// The Slurm executor's pure parts: the sbatch arguments of a run (pinned nodes, GPUs per node,
// name, comment, time limit), the run comment, and squeue --json.
import { describe, expect, it } from 'vitest';
import { ExecutorError, type RunRequest } from './port.js';
import { accountOf, gpusPerNode, parseRunComment, parseSqueueJson, runComment, sbatchArgs, slurmTime } from './slurm.js';
import { expandHostlist } from './slurm-fleet.js';

const nodes = new Map([
  ['a100-0', { node: 'gpu1', gresType: 'a100', gpus: 8 }],
  ['a100-1', { node: 'gpu2', gresType: 'a100', gpus: 8 }],
  ['h100-0', { node: 'gpu3', gresType: 'h100', gpus: 8 }],
]);
const options = { partition: 'gpu', nodes, outputDir: '/data/logs', instance: 'i1' };
const run = (over: Partial<RunRequest>): RunRequest => ({
  jobId: 'j-1',
  runId: 'j-1-r1',
  gpus: 4,
  flavor: 'a100',
  placement: [{ node: 'a100-1', gpus: 4 }],
  remainingWork: null,
  command: 'python train.py',
  timeLimit: 90,
  teams: ['vision', 'research'],
  ...over,
});

describe('sbatch arguments', () => {
  it('pin the run to the Slurm nodes and GPUs the engine chose', () => {
    expect(sbatchArgs(run({}), options)).toEqual([
      '--parsable',
      '--partition=gpu',
      '--nodes=1',
      '--nodelist=gpu2',
      '--ntasks-per-node=1',
      '--gres=gpu:a100:4',
      '--job-name=arbiter-j-1',
      '--comment=arbiter/i1/vision/j-1/j-1-r1',
      '--no-requeue',
      '--output=/data/logs/j-1.log',
      '--open-mode=append',
      '--time=1:30',
      '--wrap',
      'python train.py',
    ]);
  });

  it('make a gang one job over several nodes, without a time limit when there is none', () => {
    const args = sbatchArgs(run({ gpus: 16, placement: [{ node: 'a100-0', gpus: 8 }, { node: 'a100-1', gpus: 8 }], timeLimit: null }), options);
    expect(args).toContain('--nodes=2');
    expect(args).toContain('--nodelist=gpu1,gpu2');
    expect(args).toContain('--gres=gpu:a100:8');
    expect(args.some((a) => a.startsWith('--time'))).toBe(false);
  });

  it('refuse a node Slurm does not have and uneven gangs', () => {
    expect(() => sbatchArgs(run({ placement: [{ node: 'b-0', gpus: 4 }] }), options)).toThrow(ExecutorError);
    expect(() => sbatchArgs(run({ placement: [{ node: 'a100-0', gpus: 8 }, { node: 'a100-1', gpus: 4 }] }), options)).toThrow('the same GPUs of one type on every node');
    expect(() => sbatchArgs(run({ placement: [{ node: 'a100-0', gpus: 8 }, { node: 'h100-0', gpus: 8 }] }), options)).toThrow('the same GPUs of one type on every node');
  });

  it('write time limits as minutes:seconds, at least one second', () => {
    expect(slurmTime(0)).toBe('0:01');
    expect(slurmTime(59.2)).toBe('1:00');
    expect(slurmTime(3600)).toBe('60:00');
  });
});

describe('run comments and squeue --json', () => {
  it('round-trip the comment and refuse others', () => {
    expect(parseRunComment(runComment('i1', 'ml', 'j-7', 'j-7-r2'))).toEqual({ instance: 'i1', team: 'ml', jobId: 'j-7', runId: 'j-7-r2' });
    expect(parseRunComment('someone else')).toBeNull();
    expect(parseRunComment('arbiter/a/b')).toBeNull();
  });

  it('read jobs and refuse what is not squeue --json', () => {
    expect(parseSqueueJson('{"meta":{},"jobs":[{"job_id":4,"job_state":"RUNNING"}]}').map((j) => j.job_id)).toEqual([4]);
    expect(() => parseSqueueJson('squeue: error: Unable to contact slurm controller')).toThrow('not JSON');
    expect(() => parseSqueueJson('{"errors":[]}')).toThrow('no "jobs" list');
  });
});

describe('accounts, hostlists and GPUs per node', () => {
  it('give a run its team account, else its nearest ancestor account', () => {
    const accounts = new Map([['research', 'acct-research'], ['ops', 'acct-ops']]);
    expect(accountOf(['vision', 'research'], accounts)).toBe('acct-research');
    expect(accountOf(['ops'], accounts)).toBe('acct-ops');
    expect(accountOf(['other'], accounts)).toBeNull();
    expect(accountOf(['vision'], undefined)).toBeNull();
    expect(sbatchArgs(run({}), { ...options, accounts })).toContain('--account=acct-research');
    expect(sbatchArgs(run({}), options).some((a) => a.startsWith('--account'))).toBe(false);
  });

  it('expand Slurm hostlists', () => {
    expect(expandHostlist('gpu[1-3,7],cpu1')).toEqual(['gpu1', 'gpu2', 'gpu3', 'gpu7', 'cpu1']);
    expect(expandHostlist('n[08-10]')).toEqual(['n08', 'n09', 'n10']);
    expect(expandHostlist('gpu2')).toEqual(['gpu2']);
    expect(expandHostlist('')).toEqual([]);
  });

  it('read the GPUs a job holds on each node from gres_detail', () => {
    expect(gpusPerNode({ nodes: 'gpu[1-2]', gres_detail: ['gpu:a100:8(IDX:0-7)', 'gpu:a100:2(IDX:0,3)'] })).toEqual([
      { node: 'gpu1', gpus: 8 },
      { node: 'gpu2', gpus: 2 },
    ]);
    expect(gpusPerNode({ nodes: 'gpu3', gres_detail: ['gpu:4(IDX:0-3)'] })).toEqual([{ node: 'gpu3', gpus: 4 }]);
    expect(gpusPerNode({ nodes: 'gpu3', gres_detail: [] })).toEqual([{ node: 'gpu3', gpus: 0 }]);
  });
});
