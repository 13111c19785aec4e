// The Slurm executor's pace and stops, against stand-in Slurm commands (shell scripts that log
// each call and print what a file holds): polls of the runs' jobs come every fastPollMs only
// while the loop says jobs wait for GPUs; a running job that is stopped gets SIGTERM
// (`scancel --signal=TERM --full`), then `scancel` once its grace period is over, and its exit
// is reported only once Slurm shows it ended; a batch script's end hint has its job asked for at
// once, and again while Slurm shows it ending. The real cluster: test/slurm-e2e.test.ts.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunExit } from './port.js';
import { createSlurmExecutor, type SlurmRunExecutor } from './slurm.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits until `test` holds (checked every 50 ms), at most `ms`. */
async function until(test: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !test(); await sleep(50)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

/** A folder of stand-in Slurm commands: each logs "<program> <args>" and prints DIR/<program>.out. */
function fakeSlurm(): { dir: string; calls: () => string[]; set: (program: string, text: string) => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'arbiter-fake-slurm-'));
  for (const program of ['squeue', 'scontrol', 'sbatch', 'scancel']) {
    const file = path.join(dir, program);
    writeFileSync(file, `#!/bin/sh\necho "${program} $*" >> "${dir}/calls"\ncat "${dir}/${program}.out" 2>/dev/null\nexit 0\n`);
    chmodSync(file, 0o755);
  }
  writeFileSync(path.join(dir, 'scontrol.out'), 'NodeName=gpu1 State=MIXED Gres=gpu:a100:8 Partitions=gpu\n');
  writeFileSync(path.join(dir, 'sbatch.out'), '41\n');
  writeFileSync(path.join(dir, 'calls'), '');
  return {
    dir,
    calls: () => readFileSync(path.join(dir, 'calls'), 'utf8').split('\n').filter((l) => l !== ''),
    set: (program, text) => writeFileSync(path.join(dir, `${program}.out`), text),
  };
}

/** A line of `squeue -O` (SQUEUE_FORMAT) for Slurm job 41. */
const job41 = (state: string, comment: string): string => `41|0:0|${state}|gpu1|gres/gpu:a100:1|N/A|root|gpu|None|${comment}|arbiter-j-1\n`;

describe('Slurm executor pace and stops (stand-in Slurm commands)', () => {
  let executor: SlurmRunExecutor | null = null;
  let slurm: ReturnType<typeof fakeSlurm> | null = null;
  afterEach(async () => {
    await executor?.close();
    await sleep(300); // a stand-in command still running writes its log
    if (slurm) rmSync(slurm.dir, { recursive: true, force: true, maxRetries: 5 });
  });

  const start = async (graceSeconds: number): Promise<{ exits: RunExit[]; comment: string }> => {
    slurm = fakeSlurm();
    executor = await createSlurmExecutor({
      partition: 'gpu',
      commands: { bin: slurm.dir },
      nodes: new Map([['a100-0', { node: 'gpu1', gresType: 'a100', gpus: 8 }]]),
      outputDir: path.join(slurm.dir, 'logs'),
      instance: 'i1',
      pollMs: 2000,
      fastPollMs: 100,
      graceSeconds,
    });
    const exits: RunExit[] = [];
    executor.onExit((exit) => exits.push(exit));
    const comment = 'arbiter/i1/default/j-1/j-1-r1';
    slurm.set('squeue', job41('RUNNING', comment));
    await executor.start({ jobId: 'j-1', runId: 'j-1-r1', gpus: 1, flavor: 'a100', placement: [{ node: 'a100-0', gpus: 1 }], remainingWork: null, command: 'sleep 60', timeLimit: null, teams: ['default'] });
    // Submitted, then seen RUNNING by a poll (one that asked for job 41 after it was bound).
    await until(() => byId(slurm!.calls()) >= 2, 'two polls of job 41');
    return { exits, comment };
  };
  const byId = (calls: string[]): number => calls.filter((c) => c.startsWith('squeue -h -t all -j 41 ')).length;
  const scancels = (): string[] => slurm!.calls().filter((c) => c.startsWith('scancel'));

  it('polls the runs\' jobs every fastPollMs only while jobs wait for GPUs', async () => {
    await start(0);
    const before = byId(slurm!.calls());
    await sleep(3000);
    const slow = byId(slurm!.calls()) - before;
    const lists = slurm!.calls().filter((c) => c.startsWith('scontrol show nodes')).length;
    executor!.demand!(true);
    const from = byId(slurm!.calls());
    await sleep(3000);
    const fast = byId(slurm!.calls()) - from;
    // One every 2 s, against one every 100 ms or the poll's own time (a stand-in command takes a
    // few tens of ms, more on a loaded machine).
    expect(slow).toBeLessThanOrEqual(2);
    expect(fast).toBeGreaterThanOrEqual(Math.max(4, 2 * slow));
    // Node states (and the list of every job not ended) stay at one every pollMs.
    expect(slurm!.calls().filter((c) => c.startsWith('scontrol show nodes')).length - lists).toBeLessThanOrEqual(2);
  });

  it('stops a running job with SIGTERM, then scancel after its grace period; the exit only once Slurm shows it ended', async () => {
    const { exits, comment } = await start(1);
    const stopped = executor!.stop('j-1', 'j-1-r1');
    await until(() => scancels().length > 0, 'the SIGTERM');
    const signalled = Date.now();
    expect(scancels()).toEqual(['scancel --signal=TERM --full 41']);
    await until(() => scancels().length > 1, 'the scancel');
    // Not before its grace period (1 s) is over (less the time the signal's command took).
    expect(Date.now() - signalled).toBeGreaterThan(700);
    expect(scancels()).toEqual(['scancel --signal=TERM --full 41', 'scancel 41']);
    await sleep(500);
    expect(exits).toEqual([]); // Slurm still shows it running: its GPUs are not free
    slurm!.set('squeue', job41('CANCELLED', comment));
    await stopped;
    expect(exits).toHaveLength(1);
    expect(exits[0]).toMatchObject({ jobId: 'j-1', runId: 'j-1-r1', stopped: true, cancelled: false });
  });

  it('cancels at once with no grace period', async () => {
    const { comment } = await start(0);
    void executor!.stop('j-1', 'j-1-r1');
    await until(() => scancels().length > 0, 'the scancel');
    await sleep(300);
    expect(scancels()).toEqual(['scancel 41']);
    slurm!.set('squeue', job41('CANCELLED', comment));
  });

  it('polls at once when a batch script leaves its end hint, and at the fast pace while Slurm shows the job ending; ends the run as Slurm says', async () => {
    slurm = fakeSlurm();
    // No poll is due for a minute: what brings one is the hint.
    executor = await createSlurmExecutor({ partition: 'gpu', commands: { bin: slurm.dir }, nodes: new Map([['a100-0', { node: 'gpu1', gresType: 'a100', gpus: 8 }]]), outputDir: path.join(slurm.dir, 'logs'), instance: 'i1', pollMs: 60_000 });
    const exits: RunExit[] = [];
    executor.onExit((exit) => exits.push(exit));
    const comment = 'arbiter/i1/default/j-1/j-1-r1';
    await executor.start({ jobId: 'j-1', runId: 'j-1-r1', gpus: 1, flavor: 'a100', placement: [{ node: 'a100-0', gpus: 1 }], remainingWork: null, command: 'sleep 1', timeLimit: null, teams: ['default'] });
    await until(() => executor!.running()[0]?.slurmId === '41', 'the run bound to Slurm job 41');
    expect(slurm.calls().find((c) => c.startsWith('sbatch'))).toContain(`--wrap trap 'true 2>/dev/null >'\\''${path.join(slurm.dir, 'logs', '.ends')}/'\\''"$SLURM_JOB_ID"' EXIT`);
    slurm.set('squeue', job41('COMPLETING', comment));
    const hint = path.join(slurm.dir, 'logs', '.ends', '41');
    writeFileSync(hint, '');
    await until(() => byId(slurm!.calls()) >= 2, 'the job asked for, and again while COMPLETING', 3000);
    expect(exits).toEqual([]); // still holding its GPUs
    expect(existsSync(hint)).toBe(false);
    slurm.set('squeue', job41('COMPLETED', comment));
    await until(() => exits.length === 1, 'the exit', 3000);
    expect(exits[0]).toMatchObject({ jobId: 'j-1', runId: 'j-1-r1', exitCode: 0, stopped: false, cancelled: false });
  });
});
