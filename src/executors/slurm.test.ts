// The Slurm executor's pure parts: the sbatch arguments of a run (pinned nodes, GPUs per node,
// name, comment, time limit), the batch script's end hint (run by sh), the run comment, and
// squeue --json.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExecutorError, type RunRequest } from './port.js';
import { accountOf, batchScript, gpusOfTres, gpusPerNode, parseRunComment, parseSqueueFormatted, parseSqueueJson, runComment, sbatchArgs, slurmTime } from './slurm.js';
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

describe('squeue -O (what a poll reads)', () => {
  // Printed by Slurm 22.05.8 (Debian 12) for SQUEUE_FORMAT: a job asking --gpus=3, one exiting 3,
  // one killed by signal 9 with "|" in its comment and name.
  const text = [
    '5|0|COMPLETED|gpu1|N/A|gres:gpu:3|root|gpu|None|(null)|wrap',
    '4|768|FAILED|gpu1|gres:gpu:a100:2|N/A|root|gpu|NonZeroExitCode|(null)|wrap',
    '6|9|FAILED|gpu1|gres:gpu:a100:1|N/A|root|gpu|JobLaunchFailure|a|b c|x|y z',
    '7|0|CANCELLED by 0|gpu[1-2]|gres:gpu:a100:8|N/A|alice|gpu|None|arbiter/i1/ml/j-3/j-3-r1|arbiter-j-3',
    '',
  ].join('\n');

  it('reads state, exit status, nodes, GPUs per node, user and comment', () => {
    const jobs = parseSqueueFormatted(text);
    expect(jobs.map((j) => [j.job_id, j.job_state, j.exit_code, j.gpus_per_node])).toEqual([
      [5, 'COMPLETED', 0, 3],
      [4, 'FAILED', 768, 2],
      [6, 'FAILED', 9, 1],
      [7, 'CANCELLED', 0, 8],
    ]);
    expect(jobs[0]!.comment).toBe('');
    expect(jobs[3]).toMatchObject({ comment: 'arbiter/i1/ml/j-3/j-3-r1', name: 'arbiter-j-3', user_name: 'alice', nodes: 'gpu[1-2]' });
    expect(gpusPerNode(jobs[3]!)).toEqual([{ node: 'gpu1', gpus: 8 }, { node: 'gpu2', gpus: 8 }]);
    // A "|" in a foreign comment shifts only the free text at the end.
    expect(jobs[2]!.comment).toBe('a');
    expect(() => parseSqueueFormatted('squeue: error: Invalid user')).toThrow('unexpected line');
  });

  it('count GPUs in TRES strings', () => {
    expect(gpusOfTres('gres:gpu:a100:6')).toBe(6);
    expect(gpusOfTres('gres/gpu:4')).toBe(4);
    expect(gpusOfTres('gres:gpu:2,gres:mps:100')).toBe(2);
    expect(gpusOfTres('N/A')).toBe(0);
  });
});

describe('the batch script end hint', () => {
  /** Runs a batch script as Slurm would (sh, SLURM_JOB_ID set). */
  const sh = (script: string): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync('/bin/sh', ['-c', script], { env: { ...process.env, SLURM_JOB_ID: '77' }, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it("leaves <endDir>/<Slurm job id> when the script exits, keeping the command's exit status and output", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "arbiter-ends it's-"));
    try {
      expect(sh(batchScript('echo hello; exit 3', dir))).toEqual({ status: 3, stdout: 'hello\n', stderr: '' });
      expect(existsSync(path.join(dir, '77'))).toBe(true);
      rmSync(path.join(dir, '77'));
      expect(sh(batchScript('trap "echo bye" EXIT; true', dir))).toMatchObject({ status: 0, stdout: 'bye\n' }); // its own trap wins: no hint
      expect(existsSync(path.join(dir, '77'))).toBe(false);
      // A folder it cannot write: the same status, nothing on stderr.
      chmodSync(dir, 0o500);
      expect(sh(batchScript('exit 5', path.join(dir, 'missing')))).toEqual({ status: 5, stdout: '', stderr: '' });
    } finally {
      chmodSync(dir, 0o700);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is left out without an end folder, and goes before the command in --wrap', () => {
    expect(batchScript('sleep 1', null)).toBe('sleep 1');
    const args = sbatchArgs(run({}), { ...options, endDir: '/data/logs/.ends' });
    expect(args.at(-1)).toBe(`trap 'true 2>/dev/null >'\\''/data/logs/.ends/'\\''"$SLURM_JOB_ID"' EXIT\npython train.py`);
  });
});
