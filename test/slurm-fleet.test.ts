// `arbiter fleet import --slurm` against a real Slurm cluster (test/slurm-harness.ts): two a100
// nodes and one h100 node become two pools; an unknown partition is refused, naming the real ones.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertDistFresh, repoRoot } from './cli-harness.js';
import { startSlurmCluster, type SlurmCluster } from './slurm-harness.js';

describe('arbiter fleet import --slurm', () => {
  let cluster: SlurmCluster;
  beforeAll(async () => {
    assertDistFresh(['cli/commands/fleet-import.ts', 'executors/slurm-fleet.ts']);
    cluster = await startSlurmCluster({ types: ['a100', 'a100', 'h100'] });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  const arbiter = (args: readonly string[]) =>
    spawnSync(process.execPath, [path.join(repoRoot, 'bin/arbiter.js'), ...args], { env: cluster.env, encoding: 'utf8' });

  it('prints the pools of the partition', () => {
    const run = arbiter(['fleet', 'import', '--slurm', '--slurm-partition', 'gpu']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(
      [
        '# From Slurm partition "gpu" (arbiter fleet import --slurm).',
        'pools:',
        '  # Slurm nodes gpu[1-2], Gres=gpu:a100:8',
        '  - name: a100',
        '    flavor: a100',
        '    nodes: 2',
        '    gpusPerNode: 8',
        '  # Slurm nodes gpu3, Gres=gpu:h100:8',
        '  - name: h100',
        '    flavor: h100',
        '    nodes: 1',
        '    gpusPerNode: 8',
        '',
      ].join('\n'),
    );
  });

  it('refuses an unknown partition and a missing source', () => {
    const wrong = arbiter(['fleet', 'import', '--slurm', '--slurm-partition', 'batch']);
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toBe('fleet import --slurm: Slurm partition "batch" has no nodes (partitions: gpu)\n');
    const none = arbiter(['fleet', 'import']);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('--slurm');
    const noBin = arbiter(['fleet', 'import', '--slurm', '--slurm-bin', '/nonexistent']);
    expect(noBin.status).toBe(2);
    expect(noBin.stderr).toContain('/nonexistent/scontrol was not found');
  });
});
