// `arbiter demo`: what `npm start` runs until the live service exists — simulates the bundled
// example lab (examples/lab: 256 GPUs, 5 teams, two weeks of jobs) and prints its summary.
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { runSimulate } from './simulate.js';

/** The example lab shipped with the package. */
export const EXAMPLE_LAB = fileURLToPath(new URL('../../../examples/lab/', import.meta.url));

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('simulate the bundled example lab (examples/lab) and print its summary')
    .option('--out <dir>', 'folder for the simulation outputs', 'out/demo')
    .action(async (flags: { out: string }) => {
      process.stdout.write(
        `Simulating the example lab in ${EXAMPLE_LAB}: 256 GPUs (H100, A100), teams research and applied, 1,200 jobs over two weeks.\n`,
      );
      await runSimulate({
        cluster: `${EXAMPLE_LAB}cluster.yaml`,
        policy: `${EXAMPLE_LAB}policy.yaml`,
        trace: `${EXAMPLE_LAB}trace.csv`,
        out: flags.out,
      });
      process.stdout.write(`Outputs (jobs.csv, segments.csv, summary.json, report.html) are in ${flags.out}/\n`);
    });
}
