// A real Slurm cluster for a test file: scripts/slurm-test-cluster.sh in a temporary folder (one
// slurmctld and three slurmd on 127.0.0.1, 8 GPUs each), stopped and removed at stop(). Without
// Slurm's packages (or without root) the start throws with the script's message: the Slurm tests
// fail, never skip (CI installs slurmctld, slurmd and slurm-client).
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const SLURM_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'slurm-test-cluster.sh');

export interface SlurmClusterOptions {
  /** Number of nodes gpu1..gpuN (default 3). */
  readonly nodes?: number;
  /** GPU type per node, e.g. ['a100', 'a100', 'h100'] (default a100 for all). */
  readonly types?: readonly string[];
  readonly partition?: string;
}

export interface SlurmCluster {
  readonly dir: string;
  /** Path of its slurm.conf. */
  readonly conf: string;
  readonly partition: string;
  /** The environment a Slurm command (or the server) needs to reach this cluster. */
  readonly env: NodeJS.ProcessEnv;
  /** Runs a Slurm client command (squeue, scontrol, ...) against this cluster; its stdout. */
  run(program: string, args: readonly string[]): Promise<string>;
  /** Stops slurmctld alone (slurmd and the jobs go on). */
  stopController(): Promise<void>;
  /** Starts slurmctld again, from its saved state; resolves once it answers. */
  startController(): Promise<void>;
  /** Its daemons' logs (for diagnosis). */
  logs(): string;
  stop(): Promise<void>;
}

export async function startSlurmCluster(options: SlurmClusterOptions = {}): Promise<SlurmCluster> {
  const dir = mkdtempSync(path.join('/tmp', 'arbiter-slurm-'));
  const partition = options.partition ?? 'gpu';
  const scriptEnv = {
    ...process.env,
    SLURM_TEST_NODES: String(options.nodes ?? 3),
    SLURM_TEST_TYPES: (options.types ?? []).join(','),
    SLURM_TEST_PARTITION: partition,
  };
  let stopped = false;
  const stopNow = (): void => {
    if (stopped) return;
    stopped = true;
    spawnSync(SLURM_SCRIPT, ['stop', dir], { stdio: 'ignore', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
  };
  // A test process that ends without afterAll leaves no daemon behind.
  process.once('exit', stopNow);
  try {
    await execFileAsync(SLURM_SCRIPT, ['start', dir], { env: scriptEnv, timeout: 90_000 });
  } catch (error) {
    const e = error as { stderr?: string; code?: unknown };
    stopNow();
    process.off('exit', stopNow);
    throw new Error(
      `could not start a Slurm test cluster with ${SLURM_SCRIPT}: ${e.stderr?.trim() || String(error)}` +
        (e.code === 'ENOENT' ? ' (script not found)' : ''),
      { cause: error },
    );
  }
  const conf = path.join(dir, 'slurm.conf');
  const env = { ...process.env, SLURM_CONF: conf };
  return {
    dir,
    conf,
    partition,
    env,
    async run(program, args) {
      const { stdout } = await execFileAsync(program, [...args], { env, timeout: 30_000, encoding: 'utf8' });
      return stdout;
    },
    async stopController() {
      await execFileAsync(SLURM_SCRIPT, ['stop-controller', dir], { timeout: 30_000 });
    },
    async startController() {
      await execFileAsync(SLURM_SCRIPT, ['start-controller', dir], { timeout: 60_000 });
    },
    logs() {
      const read = (name: string): string => {
        try {
          return readFileSync(path.join(dir, 'log', name), 'utf8');
        } catch {
          return '';
        }
      };
      return ['slurmctld.log', 'slurmd-gpu1.log'].map((name) => `--- ${name}\n${read(name)}`).join('\n');
    },
    async stop() {
      if (stopped) return;
      process.off('exit', stopNow);
      stopped = true;
      await execFileAsync(SLURM_SCRIPT, ['stop', dir], { timeout: 60_000 }).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
