// Real child processes (/bin/sh), no GPU: the executor is told it has 4 GPUs, and nvidia-smi,
// where it is asked, is a small fake script put first on PATH.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createLocalExecutor,
  describeLocalNode,
  detectLocalGpus,
  flavorFromGpuName,
  nodeNameFromHostname,
  reapOrphanedRuns,
  runEnvironment,
  type LocalExecutor,
  type LocalExecutorOptions,
} from './local.js';
import { ExecutorError, type RunExit, type RunRequest } from './port.js';

let dir: string;
let executors: LocalExecutor[];
let strays: number[]; // pids the tests learned of, killed at the end whatever happens

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'arbiter-local-'));
  executors = [];
  strays = [];
});

afterEach(async () => {
  await Promise.all(executors.map((executor) => executor.close()));
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** A local executor with 4 GPUs (`--gpus 4`) logging to the test's directory, and every exit it reports. */
async function executor(options: Partial<LocalExecutorOptions> = {}) {
  const created = await createLocalExecutor({
    gpus: 4,
    flavor: 'gpu',
    logDir: join(dir, 'logs'),
    graceSeconds: 5,
    ...options,
  });
  executors.push(created);
  const exits: RunExit[] = [];
  const waiting = new Map<string, (exit: RunExit) => void>();
  created.onExit((exit) => {
    exits.push(exit);
    waiting.get(exit.runId)?.(exit);
  });
  /** The exit of a run: at once if it was reported, else when it is. */
  const exitOf = (runId: string): Promise<RunExit> => {
    const seen = exits.find((exit) => exit.runId === runId);
    return seen ? Promise.resolve(seen) : new Promise((resolve) => waiting.set(runId, resolve));
  };
  return { executor: created, exits, exitOf };
}

let runSeq = 0;
function run(jobId: string, command: string | null, overrides: Partial<RunRequest> = {}): RunRequest {
  runSeq++;
  return {
    jobId,
    runId: `${jobId}-r${runSeq}`,
    gpus: 1,
    flavor: 'gpu',
    placement: [{ node: 'local', gpus: 1 }],
    remainingWork: null,
    command,
    timeLimit: null,
    ...overrides,
  };
}

/** Polls `check` every 10 ms until it holds; fails after `ms`. */
async function waitFor(what: string, check: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const logOf = (executor: LocalExecutor, jobId: string): string =>
  existsSync(executor.logFile(jobId)) ? readFileSync(executor.logFile(jobId), 'utf8') : '';

/** The value of `name=...` that a command printed to its log. */
async function printed(executor: LocalExecutor, jobId: string, name: string): Promise<string> {
  const pattern = new RegExp(`^${name}=(.*)$`, 'm');
  await waitFor(`${name}= in the log of ${jobId}`, () => pattern.test(logOf(executor, jobId)));
  return pattern.exec(logOf(executor, jobId))?.[1] ?? '';
}

/**
 * Whether a process still runs. An orphan that died stays a zombie until init reaps it, and some
 * containers' init never does: a zombie runs nothing, so it counts as dead.
 */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (!existsSync('/proc/self/stat')) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A fake nvidia-smi, first on PATH, that records its arguments and prints `output` (then exits with `exitCode`). */
function fakeNvidiaSmi(output: string, exitCode = 0): NodeJS.ProcessEnv {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(dir, 'smi-output.txt'), output);
  const script = join(bin, 'nvidia-smi');
  writeFileSync(
    script,
    `#!/bin/sh\necho "$@" > '${join(dir, 'smi-args.txt')}'\ncat '${join(dir, 'smi-output.txt')}'\nexit ${exitCode}\n`,
  );
  chmodSync(script, 0o755);
  return { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
}

describe('createLocalExecutor: GPUs and environment', () => {
  it('gives each run the lowest free GPUs in CUDA_VISIBLE_DEVICES, and frees them when it ends', async () => {
    const { executor: local, exitOf } = await executor();
    const show =
      'echo "gpus=$CUDA_VISIBLE_DEVICES"; echo "ids=$ARBITER_JOB_ID $ARBITER_RUN_ID"; exec sleep 30';
    const a = run('a', show, { gpus: 2 });
    const b = run('b', show, { gpus: 2 });
    await local.start(a);
    await local.start(b);
    expect(await printed(local, 'a', 'gpus')).toBe('0,1');
    expect(await printed(local, 'b', 'gpus')).toBe('2,3');
    expect(await printed(local, 'a', 'ids')).toBe(`a ${a.runId}`);
    expect(local.running().map((r) => [r.jobId, r.gpuIndexes])).toEqual([
      ['a', [0, 1]],
      ['b', [2, 3]],
    ]);

    // All 4 are held: one more is refused, and may be tried again later.
    const busy: unknown = await local.start(run('c', show, { gpus: 1 })).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(ExecutorError);
    expect(busy).toMatchObject({ code: 'gpus_busy', retryable: true });

    await local.stop('a', a.runId);
    expect((await exitOf(a.runId)).stopped).toBe(true);
    await local.start(run('c', show, { gpus: 2 }));
    expect(await printed(local, 'c', 'gpus')).toBe('0,1');
  });

  it('refuses a run without a command, or whose job id cannot name a log file, and keeps its GPUs free', async () => {
    const { executor: local } = await executor();
    for (const command of [null, '', '   ']) {
      const error: unknown = await local.start(run('a', command, { gpus: 4 })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ExecutorError);
      expect(error).toMatchObject({ code: 'invalid_run', retryable: false });
      expect((error as Error).message).toMatch(/no command/);
    }
    await expect(local.start(run('../evil', 'true'))).rejects.toMatchObject({ code: 'invalid_run' });
    await expect(local.start(run('a', 'true', { gpus: 5 }))).rejects.toMatchObject({ code: 'invalid_run' });
    await local.start(run('a', 'exec sleep 30', { gpus: 4 })); // all 4 still free
    expect(local.running()).toHaveLength(1);
  });
});

describe('createLocalExecutor: how runs end', () => {
  it('records exit codes 0 and 3', async () => {
    const { executor: local, exitOf } = await executor();
    const ok = run('ok', 'exit 0');
    const bad = run('bad', 'echo failing; exit 3');
    await local.start(ok);
    await local.start(bad);
    expect(await exitOf(ok.runId)).toMatchObject({
      jobId: 'ok',
      exitCode: 0,
      signal: null,
      stopped: false,
      timedOut: false,
    });
    expect(await exitOf(bad.runId)).toMatchObject({
      jobId: 'bad',
      exitCode: 3,
      signal: null,
      stopped: false,
      timedOut: false,
    });
    expect(local.running()).toEqual([]);
  });

  it('reports a command killed by a signal with no exit code and the signal', async () => {
    const { executor: local, exitOf } = await executor();
    const crash = run('crash', 'kill -KILL $$');
    await local.start(crash);
    expect(await exitOf(crash.runId)).toMatchObject({
      exitCode: null,
      signal: 'SIGKILL',
      stopped: false,
      timedOut: false,
    });
    expect(logOf(local, 'crash')).toMatch(/ended: killed by SIGKILL\n$/);
  });

  it('stop() sends SIGTERM: a command that handles it exits 0 within the grace period, reported as stopped', async () => {
    const { executor: local, exits } = await executor({ graceSeconds: 30 });
    const polite = run(
      'polite',
      `trap 'echo "got TERM"; exit 0' TERM; echo ready=1; while :; do sleep 0.05; done`,
    );
    await local.start(polite);
    await printed(local, 'polite', 'ready');
    await local.stop('polite', polite.runId); // resolves once the process is gone and reported
    // Exit code 0, not a kill: the trap ran (with a 30 s grace, a SIGKILL would have taken 30 s).
    expect(exits).toMatchObject([
      { runId: polite.runId, exitCode: 0, signal: null, stopped: true, timedOut: false },
    ]);
    expect(logOf(local, 'polite')).toContain('got TERM\n');
    expect(local.running()).toEqual([]);
  });

  it('stop() sends SIGKILL to the whole process group after the grace period when TERM is ignored', async () => {
    const { executor: local, exits } = await executor({ graceSeconds: 0.5 });
    // The shell and its background sleep both ignore TERM (the trap is inherited).
    const stubborn = run('stubborn', `trap '' TERM; sleep 30 & echo "child=$!"; echo "shell=$$"; wait`);
    await local.start(stubborn);
    const child = Number(await printed(local, 'stubborn', 'child'));
    const shell = Number(await printed(local, 'stubborn', 'shell'));
    strays.push(child, shell);
    expect(isAlive(child)).toBe(true);
    await local.stop('stubborn', stubborn.runId);
    expect(exits).toMatchObject([
      { runId: stubborn.runId, exitCode: null, signal: 'SIGKILL', stopped: true, timedOut: false },
    ]);
    expect(isAlive(shell)).toBe(false);
    await waitFor('the child sleep to die', () => !isAlive(child));
  });

  it('kills what a command left running in its group when it exits', async () => {
    const { executor: local, exitOf } = await executor();
    const leaver = run('leaver', 'sleep 30 & echo "child=$!"; exit 0');
    await local.start(leaver);
    const child = Number(await printed(local, 'leaver', 'child'));
    strays.push(child);
    expect(await exitOf(leaver.runId)).toMatchObject({ exitCode: 0, stopped: false });
    await waitFor('the child sleep to die', () => !isAlive(child));
  });

  it('stops a run at its time limit with SIGTERM and reports it timed out', async () => {
    const { executor: local, exitOf } = await executor();
    const slow = run('slow', 'echo started=1; sleep 30', { timeLimit: 0.3 });
    await local.start(slow);
    expect(await exitOf(slow.runId)).toMatchObject({
      exitCode: null,
      signal: 'SIGTERM',
      stopped: false,
      timedOut: true,
    });
    expect(logOf(local, 'slow')).toMatch(/ended: killed by SIGTERM, time limit reached\n$/);
  });

  it('close() stops every run and refuses new ones', async () => {
    const { executor: local, exits } = await executor();
    await local.start(run('a', 'exec sleep 30'));
    await local.start(run('b', 'exec sleep 30'));
    await local.close();
    expect(exits.map((e) => [e.jobId, e.stopped, e.signal])).toEqual(
      expect.arrayContaining([
        ['a', true, 'SIGTERM'],
        ['b', true, 'SIGTERM'],
      ]),
    );
    await expect(local.start(run('c', 'true'))).rejects.toMatchObject({ code: 'executor_closed' });
  });
});

describe('createLocalExecutor: log files', () => {
  it('appends every run of a job, stdout and stderr, after a header line with the time and run id', async () => {
    const { executor: local, exitOf } = await executor();
    const first = run('j-7', 'echo "to stdout"; echo "to stderr" >&2; exit 3', { gpus: 2 });
    await local.start(first);
    await exitOf(first.runId);
    const second = run('j-7', 'echo again');
    await local.start(second);
    await exitOf(second.runId);

    expect(local.logFile('j-7')).toBe(join(dir, 'logs', 'j-7.log'));
    const time = String.raw`\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\]`;
    const line = (pattern: string): unknown =>
      expect.stringMatching(new RegExp(`^${time} arbiter: run ${pattern}$`));
    expect(logOf(local, 'j-7').split('\n')).toEqual([
      line(`${first.runId} starts on GPUs \\[0,1\\]: echo "to stdout"; echo "to stderr" >&2; exit 3`),
      'to stdout',
      'to stderr',
      line(`${first.runId} ended: exit code 3`),
      line(`${second.runId} starts on GPUs \\[0\\]: echo again`),
      'again',
      line(`${second.runId} ended: exit code 0`),
      '',
    ]);
  });
});

describe('GPU discovery', () => {
  it('finds the GPUs and their flavor with nvidia-smi', async () => {
    const env = fakeNvidiaSmi('0, NVIDIA H100 80GB HBM3, 81559 MiB\n1, NVIDIA H100 80GB HBM3, 81559 MiB\n');
    const found = await detectLocalGpus({ env });
    expect(found).toEqual({
      count: 2,
      flavor: 'h100',
      gpus: [
        { index: 0, name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 },
        { index: 1, name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 },
      ],
    });
    expect(readFileSync(join(dir, 'smi-args.txt'), 'utf8')).toBe(
      '--query-gpu=index,name,memory.total --format=csv,noheader\n',
    );

    const node = await describeLocalNode({ env, hostname: 'GPU_Box.lab' });
    expect(node).toMatchObject({ name: 'gpu-box-lab', gpus: 2, flavor: 'h100' });
    const local = await createLocalExecutor({ env, logDir: join(dir, 'logs') });
    executors.push(local);
    expect(local.node).toMatchObject({ gpus: 2, flavor: 'h100' });
    // --gpus N wins over the count; nvidia-smi still names the flavor.
    expect(await describeLocalNode({ env, gpus: 1 })).toMatchObject({ gpus: 1, flavor: 'h100' });
  });

  it('asks for --gpus when nvidia-smi is missing', async () => {
    const env = { ...process.env, PATH: join(dir, 'empty') };
    await expect(detectLocalGpus({ env })).rejects.toMatchObject({
      code: 'gpu_detection_failed',
      message: /nvidia-smi was not found/,
    });
    const error: unknown = await describeLocalNode({ env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutorError);
    expect(error).toMatchObject({ code: 'gpus_unknown', retryable: false });
    expect((error as Error).message).toMatch(/--gpus N/);
    // With --gpus there is nothing to ask: the flavor falls back to "gpu".
    expect(await describeLocalNode({ env, gpus: 4, hostname: 'box' })).toEqual({
      name: 'box',
      gpus: 4,
      flavor: 'gpu',
      detected: null,
    });
  });

  it('asks for --gpus when nvidia-smi fails, quoting what it said', async () => {
    const env = fakeNvidiaSmi(
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
      9,
    );
    await expect(describeLocalNode({ env })).rejects.toThrow(
      /nvidia-smi failed with exit code 9: NVIDIA-SMI has failed because it couldn't communicate.*--gpus N/,
    );
    const empty = fakeNvidiaSmi('');
    await expect(detectLocalGpus({ env: empty })).rejects.toThrow(/lists no GPU/);
    await expect(describeLocalNode({ gpus: 0 })).rejects.toThrow(/--gpus must be a positive whole number/);
  });

  it('names flavors after the GPU model', () => {
    const names: [string, string][] = [
      ['NVIDIA H100 80GB HBM3', 'h100'],
      ['NVIDIA H200', 'h200'],
      ['NVIDIA A100-SXM4-40GB', 'a100'],
      ['Tesla V100-SXM2-16GB', 'v100'],
      ['NVIDIA A10G', 'a10g'],
      ['NVIDIA GeForce RTX 4090', 'rtx-4090'],
      ['NVIDIA RTX A6000', 'a6000'],
      ['NVIDIA TITAN Xp', 'titan-xp'],
      ['NVIDIA', 'gpu'],
      ['', 'gpu'],
    ];
    expect(names.map(([name]) => [name, flavorFromGpuName(name)])).toEqual(names);
    expect(nodeNameFromHostname('Node_07.Cluster.example')).toBe('node-07-cluster-example');
    expect(nodeNameFromHostname('__')).toBe('local');
  });
});

describe('a run\'s environment', () => {
  it('holds PATH and the locale of the server, who the run is, its GPUs and its marker: nothing else', () => {
    const server = { PATH: '/opt/bin:/usr/bin', LANG: 'C.UTF-8', HOME: '/root', USER: 'root', ARBITER_TOKEN: 'secret', DATABASE_URL: 'postgres://u:pw@h/db', AWS_SECRET_ACCESS_KEY: 'x' };
    const user = { name: 'arbiter-job', uid: 999, gid: 995, home: '/home/arbiter-job' };
    expect(runEnvironment(server, user, { jobId: 'j-1', runId: 'j-1-r2' }, '0,1', 'inst')).toEqual({
      PATH: '/opt/bin:/usr/bin',
      LANG: 'C.UTF-8',
      HOME: '/home/arbiter-job',
      USER: 'arbiter-job',
      LOGNAME: 'arbiter-job',
      SHELL: '/bin/sh',
      CUDA_VISIBLE_DEVICES: '0,1',
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
      ARBITER_INSTANCE: 'inst',
      ARBITER_JOB_ID: 'j-1',
      ARBITER_RUN_ID: 'j-1-r2',
    });
  });

  it('reaches a real run: the server\'s secrets do not', async () => {
    const { executor: local } = await executor({ env: { ...process.env, ARBITER_TOKEN: 'arb_secret', DATABASE_URL: 'postgres://u:pw@h/db' } });
    await local.start(run('e', 'echo "token=$ARBITER_TOKEN"; echo "db=$DATABASE_URL"; echo "instance=$ARBITER_INSTANCE"'));
    expect(await printed(local, 'e', 'token')).toBe('');
    expect(await printed(local, 'e', 'db')).toBe('');
    expect(await printed(local, 'e', 'instance')).toBe(local.instance);
  });
});

describe('reapOrphanedRuns (after a crash of the server)', () => {
  it('kills what a run left behind, marked or in its session, and spares a process whose pid a stale pid file names', async () => {
    const logs = join(dir, 'logs');
    mkdirSync(logs, { recursive: true });
    // A run whose shell ends, leaving a marked process and one with a scrubbed environment in its session.
    const shell = spawn('/bin/sh', ['-c', 'sleep 60 & echo $!; env -i sleep 61 & echo $!; sleep 0.3'], {
      detached: true,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ARBITER_INSTANCE: 'inst-1', ARBITER_JOB_ID: 'j-1', ARBITER_RUN_ID: 'j-1-r1' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const stat = readFileSync(`/proc/${shell.pid}/stat`, 'utf8');
    writeFileSync(join(logs, 'j-1.pid'), `${shell.pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}\n`);
    let said = '';
    shell.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
    await new Promise((resolve) => shell.once('exit', resolve));
    const left = said.trim().split('\n').map(Number);
    strays.push(...left);
    expect(left.map(isAlive)).toEqual([true, true]);
    // Another program in a session of its own, whose pid an old pid file names with another start time.
    const other = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    strays.push(other.pid!);
    writeFileSync(join(logs, 'j-2.pid'), `${other.pid} 1\n`);

    expect(await reapOrphanedRuns(logs, 'inst-1', 1)).toEqual({ jobs: ['j-1'], processes: 2 });
    await waitFor('the orphans to die', () => left.every((pid) => !isAlive(pid)));
    expect(isAlive(other.pid!)).toBe(true);
    expect(existsSync(join(logs, 'j-1.pid')) || existsSync(join(logs, 'j-2.pid'))).toBe(false);
    expect(await reapOrphanedRuns(logs, 'inst-1', 1)).toEqual({ jobs: [], processes: 0 });
  });
});
