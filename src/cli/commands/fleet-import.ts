// `arbiter fleet import --slurm`: prints the cluster.yaml of a Slurm partition (docs/slurm.md).
// Slurm's commands are found on PATH or in --slurm-bin, its configuration as they find it
// (SLURM_CONF or /etc/slurm/slurm.conf).
import type { Command } from 'commander';
import { ExecutorError } from '../../executors/port.js';
import { fleetYaml, readSlurmPools } from '../../executors/slurm-fleet.js';
import { UsageError } from '../errors.js';

interface ImportFlags {
  slurm?: boolean;
  slurmPartition?: string;
  slurmBin?: string;
}

export function registerFleetImport(fleet: Command): void {
  fleet
    .command('import')
    .description('print the cluster.yaml of the fleet a cluster manager runs (Slurm: --slurm)')
    .option('--slurm', 'read the nodes of a Slurm partition (scontrol show nodes)')
    .option('--slurm-partition <name>', 'the Slurm partition Arbiter schedules', 'gpu')
    .option('--slurm-bin <dir>', "folder of Slurm's commands (default: found on PATH)")
    .action(async (flags: ImportFlags) => {
      if (flags.slurm !== true) throw new UsageError(['fleet import: say where the fleet comes from: --slurm (the only source for now)']);
      try {
        const partition = flags.slurmPartition ?? 'gpu';
        const pools = await readSlurmPools({ bin: flags.slurmBin }, partition);
        process.stdout.write(fleetYaml(pools, partition));
      } catch (error) {
        if (error instanceof ExecutorError) throw new UsageError([`fleet import --slurm: ${error.message}`]);
        throw error;
      }
    });
}
