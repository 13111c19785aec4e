// The Slurm test cluster itself (scripts/slurm-test-cluster.sh): three nodes of 8 GPUs, a job
// pinned to a node with --nodelist and --gres sees the GPUs Slurm binds, and stop leaves nothing.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlurmCluster, type SlurmCluster } from './slurm-harness.js';

describe('the Slurm test cluster', () => {
  let cluster: SlurmCluster;
  beforeAll(async () => {
    cluster = await startSlurmCluster();
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('has three idle nodes of 8 GPUs in its partition', async () => {
    const out = await cluster.run('sinfo', ['-h', '-N', '-p', cluster.partition, '-o', '%N %t %G']);
    expect(out.trim().split('\n').sort()).toEqual(['gpu1 idle gpu:a100:8', 'gpu2 idle gpu:a100:8', 'gpu3 idle gpu:a100:8']);
  });

  it('runs a job pinned to a node with the GPUs it asked for', async () => {
    const id = (
      await cluster.run('sbatch', ['--parsable', '-p', cluster.partition, '--nodelist=gpu2', '-N1', '--gres=gpu:a100:3', '-o', `${cluster.dir}/jobs/%j.out`, '--wrap', 'echo "gpus=$CUDA_VISIBLE_DEVICES"'])
    ).trim();
    let state = '';
    for (let i = 0; i < 300 && state !== 'COMPLETED'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      state = (await cluster.run('squeue', ['-h', '-t', 'all', '-j', id, '-o', '%T %N'])).trim();
      if (state.startsWith('COMPLETED')) {
        expect(state).toBe('COMPLETED gpu2');
        state = 'COMPLETED';
      }
    }
    expect(state).toBe('COMPLETED');
    expect(readFileSync(`${cluster.dir}/jobs/${id}.out`, 'utf8').trim()).toBe('gpus=0,1,2');
  }, 60_000);
});
