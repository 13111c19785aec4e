// The local executor (`arbiter serve --executor local`): this host is one node, and a run is its
// job's `command`, started with /bin/sh -c as a child process that sees only the GPUs it was given
// (CUDA_VISIBLE_DEVICES). spec/api.md, Start-up.
//
// A run is a process group: the shell is started detached (its own group, pgid = its pid), so
// every signal goes to the group (process.kill(-pid)) and reaches whatever the command started.
// When the shell ends, for whatever reason, what it left behind in its group is killed too: it
// would otherwise hold GPUs that the scheduler gives to the next run. (A process that leaves the
// group on purpose, with setsid, escapes; only cgroups could follow it.)
//
// Stopping (preemption, cancellation, time limit, shutdown): SIGTERM to the group, then SIGKILL
// after the grace period (default 10 s) if the shell is still there.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, appendFile, readFile, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isFlavorName } from '../core/config/cluster.js';
import { ExecutorError, type Executor, type ExecutorNode, type RunExit, type RunRequest } from './port.js';
import { armTimer, emitExit, runKey, systemTimer } from './simulated.js';

const execFileAsync = promisify(execFile);

// ------------------------------------------------------------------ GPU discovery

export const NVIDIA_SMI_ARGS = ['--query-gpu=index,name,memory.total', '--format=csv,noheader'] as const;

export interface DetectedGpu {
  /** nvidia-smi's index, the one CUDA_VISIBLE_DEVICES uses (with CUDA_DEVICE_ORDER=PCI_BUS_ID). */
  readonly index: number;
  /** e.g. "NVIDIA H100 80GB HBM3". */
  readonly name: string;
  readonly memoryMiB: number | null;
}

export interface DetectedGpus {
  readonly count: number;
  /** The flavor of the first GPU's model, e.g. "h100" (a node has one flavor). */
  readonly flavor: string;
  readonly gpus: readonly DetectedGpu[];
}

export interface GpuDetectionOptions {
  /** The nvidia-smi program: a path, or a name looked up on env.PATH (default "nvidia-smi"). */
  readonly nvidiaSmi?: string;
  /** Environment of nvidia-smi; its PATH is where the program is looked up (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Default 10 000 ms: a hung driver must not hang the start-up. */
  readonly timeoutMs?: number;
}

const VENDOR_WORDS = new Set(['nvidia', 'tesla', 'geforce', 'quadro']);

/**
 * The flavor name of a GPU model: its first word with a digit, lower case, [a-z0-9-].
 * "NVIDIA H100 80GB HBM3" -> "h100", "NVIDIA A100-SXM4-40GB" -> "a100", "Tesla V100-SXM2-16GB"
 * -> "v100", "NVIDIA GeForce RTX 4090" -> "rtx-4090" (a bare number takes the word before it),
 * "NVIDIA TITAN Xp" -> "titan-xp" (no digit: every word), nothing usable -> "gpu".
 */
export function flavorFromGpuName(name: string): string {
  const words = name
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== '' && !VENDOR_WORDS.has(word));
  const at = words.findIndex((word) => /\d/.test(word));
  let flavor: string;
  if (at < 0) flavor = words.join('-');
  else {
    const model = words[at] ?? '';
    const before = words[at - 1];
    flavor =
      /^\d+$/.test(model) && before !== undefined && /^[a-z]+$/.test(before) ? `${before}-${model}` : model;
  }
  return isFlavorName(flavor) ? flavor : 'gpu';
}

/** A node name from a host name: lower case, runs of other characters -> "-", e.g. "GPU_Box.lab" -> "gpu-box-lab". */
export function nodeNameFromHostname(name: string): string {
  const sanitized = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  return sanitized === '' ? 'local' : sanitized;
}

/** Parses `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader`, e.g. "0, NVIDIA H100 80GB HBM3, 81559 MiB". */
function parseNvidiaSmi(text: string, program: string): DetectedGpu[] {
  const gpus: DetectedGpu[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const fields = line.split(',').map((field) => field.trim());
    const index = Number(fields[0]);
    const memory = /^(\d+(?:\.\d+)?)\s*MiB$/i.exec(fields[fields.length - 1] ?? '');
    const name = fields.slice(1, -1).join(', ');
    if (fields.length < 3 || !Number.isInteger(index) || index < 0 || name === '') {
      throw new ExecutorError(
        'gpu_detection_failed',
        `${program} printed an unexpected line ${i + 1}: "${line}" (expected "index, name, memory")`,
        false,
      );
    }
    gpus.push({ index, name, memoryMiB: memory ? Number(memory[1]) : null });
  });
  return gpus;
}

function describeFailure(error: unknown, timeoutMs: number): string {
  const e = error as {
    code?: unknown;
    killed?: boolean;
    signal?: unknown;
    stderr?: unknown;
    stdout?: unknown;
    message?: unknown;
  };
  if (e.code === 'ENOENT') return 'was not found (no NVIDIA driver on this host?)';
  if (e.code === 'EACCES') return 'cannot be run (permission denied)';
  if (e.killed === true || typeof e.signal === 'string') return `did not answer within ${timeoutMs / 1000} s`;
  const said = [e.stderr, e.stdout]
    .filter((text): text is string => typeof text === 'string')
    .map((text) => text.trim().split('\n')[0] ?? '')
    .find((text) => text !== '');
  if (typeof e.code === 'number') return `failed with exit code ${e.code}${said ? `: ${said}` : ''}`;
  return `failed: ${typeof e.message === 'string' ? e.message : String(error)}`;
}

/**
 * Finds this host's GPUs with nvidia-smi. Throws ExecutorError `gpu_detection_failed` when
 * nvidia-smi is missing, fails, hangs, prints something unexpected or lists no GPU.
 */
export async function detectLocalGpus(options: GpuDetectionOptions = {}): Promise<DetectedGpus> {
  const program = options.nvidiaSmi ?? 'nvidia-smi';
  const timeoutMs = options.timeoutMs ?? 10_000;
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(program, [...NVIDIA_SMI_ARGS], {
      env: options.env ?? process.env,
      timeout: timeoutMs,
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    }));
  } catch (error) {
    throw new ExecutorError(
      'gpu_detection_failed',
      `${program} ${describeFailure(error, timeoutMs)}`,
      false,
      {
        cause: error,
      },
    );
  }
  const gpus = parseNvidiaSmi(stdout, program);
  const first = gpus[0];
  if (!first) throw new ExecutorError('gpu_detection_failed', `${program} lists no GPU`, false);
  return { count: gpus.length, flavor: flavorFromGpuName(first.name), gpus };
}

export interface LocalNodeOptions extends GpuDetectionOptions {
  /** `--gpus N`: how many GPUs runs may use (indexes 0..N-1). Default: all that nvidia-smi lists. */
  readonly gpus?: number;
  /** Default: from nvidia-smi's model name, or "gpu" when it cannot tell. */
  readonly flavor?: string;
  /** Default os.hostname(). */
  readonly hostname?: string;
}

export interface LocalNode extends ExecutorNode {
  /** What nvidia-smi said; null when it was not asked or could not tell. */
  readonly detected: DetectedGpus | null;
}

/**
 * This host as one node of the fleet: its name (the host name, sanitized), its GPUs and their
 * flavor. Without `gpus`, nvidia-smi must find them, or this throws ExecutorError `gpus_unknown`
 * telling the user to pass --gpus N. With `gpus`, nvidia-smi only names the flavor, if it can.
 */
export async function describeLocalNode(options: LocalNodeOptions = {}): Promise<LocalNode> {
  const { gpus, flavor } = options;
  if (gpus !== undefined && (!Number.isInteger(gpus) || gpus < 1)) {
    throw new ExecutorError('invalid_config', `--gpus must be a positive whole number, got ${gpus}`, false);
  }
  if (flavor !== undefined && !isFlavorName(flavor)) {
    throw new ExecutorError(
      'invalid_config',
      `flavor "${flavor}" must match [a-z0-9][a-z0-9-]* (lower-case letters, digits and dashes)`,
      false,
    );
  }
  const name = nodeNameFromHostname(options.hostname ?? osHostname());
  if (gpus !== undefined && flavor !== undefined) return { name, gpus, flavor, detected: null };
  let detected: DetectedGpus | null = null;
  try {
    detected = await detectLocalGpus(options);
  } catch (error) {
    if (gpus === undefined) {
      const why = error instanceof Error ? error.message : String(error);
      throw new ExecutorError(
        'gpus_unknown',
        `cannot find the GPUs of this host: ${why}. Give their number with --gpus N (e.g. --gpus 4)`,
        false,
        { cause: error },
      );
    }
  }
  return {
    name,
    gpus: gpus ?? detected?.count ?? 0,
    flavor: flavor ?? detected?.flavor ?? 'gpu',
    detected,
  };
}

// ------------------------------------------------------------------ the executor

export interface LocalExecutorOptions extends LocalNodeOptions {
  /** Where `<jobId>.log` files go; created if missing. */
  readonly logDir: string;
  /** Seconds between SIGTERM and SIGKILL (default 10). */
  readonly graceSeconds?: number;
  /** Base environment of the runs (and of nvidia-smi); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Working directory of the runs (default process.cwd()). */
  readonly cwd?: string;
}

export interface LocalRunInfo {
  readonly jobId: string;
  readonly runId: string;
  /** The shell's pid, which is also the process group id. */
  readonly pid: number;
  readonly gpuIndexes: readonly number[];
}

export interface LocalExecutor extends Executor {
  readonly kind: 'local';
  /** This host as one node: build the fleet's single pool from it. */
  readonly node: LocalNode;
  /** The log file of a job: `<logDir>/<jobId>.log`. */
  logFile(jobId: string): string;
  /** Runs whose process has been started and not yet reported, in start order. */
  running(): LocalRunInfo[];
}

interface LocalRun {
  readonly jobId: string;
  readonly runId: string;
  readonly gpuIndexes: readonly number[];
  child: ChildProcess | null;
  stopped: boolean;
  timedOut: boolean;
  /** SIGTERM sent (by stop() or the time limit); SIGKILL follows after the grace period. */
  terminating: boolean;
  /** The shell has exited; its exit is being reported. */
  exited: boolean;
  cancelLimit: () => void;
  cancelGrace: () => void;
  /** Resolves with whether the process was started (false: start() threw). */
  readonly launched: Promise<boolean>;
  /** Resolves once the process is gone and its exit reported (or start() failed). */
  readonly gone: Promise<void>;
}

/** Job ids become file names: letters, digits, ".", "_" and "-", not starting with a dot. */
const SAFE_JOB_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Creates the local executor. Without `gpus`, this host's GPUs are found with nvidia-smi (see
 * describeLocalNode); the result is `executor.node`.
 *
 * GPUs: each run gets concrete indexes, the lowest free ones first (4 GPUs, runs of 2: "0,1",
 * then "2,3"; when the first ends, the next gets "0,1"). A run asking for more than are free is
 * refused (ExecutorError `gpus_busy`, retryable): the scheduler must wait for stop() to resolve
 * before it reuses a stopped run's GPUs.
 *
 * Each run's environment: the base env plus CUDA_VISIBLE_DEVICES (its indexes joined by ","),
 * CUDA_DEVICE_ORDER=PCI_BUS_ID (unless set: so CUDA numbers GPUs as nvidia-smi does),
 * ARBITER_JOB_ID and ARBITER_RUN_ID. Its stdout and stderr are appended to `<logDir>/<jobId>.log`
 * after a header line; a footer line says how it ended.
 *
 * RunExit: exitCode is the shell's exit code, or null with `signal` when a signal killed it;
 * `stopped` when stop() or close() was called; `timedOut` when the time limit (timeLimit seconds
 * after the start) sent SIGTERM.
 */
const pidFile = (logDir: string, jobId: string): string => join(logDir, `${jobId}.pid`);

/**
 * After a crash of the server: kills the process group a run of `jobId` left behind, if it is
 * still there. The group is identified by the pid file the run wrote, and only killed when its
 * leader's environment names the job (so a reused pid is never hit).
 */
export async function reapOrphanedRun(logDir: string, jobId: string): Promise<boolean> {
  const file = pidFile(logDir, jobId);
  let pid: number;
  try {
    pid = Number((await readFile(file, 'utf8')).trim());
  } catch {
    return false;
  }
  await unlink(file).catch(() => {});
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
    if (!environ.split('\0').includes(`ARBITER_JOB_ID=${jobId}`)) return false;
    process.kill(-pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

export async function createLocalExecutor(options: LocalExecutorOptions): Promise<LocalExecutor> {
  const graceSeconds = options.graceSeconds ?? 10;
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
    throw new ExecutorError(
      'invalid_config',
      `the grace period must be 0 s or more, got ${graceSeconds}`,
      false,
    );
  }
  const node = await describeLocalNode(options);
  const { logDir } = options;
  try {
    await mkdir(logDir, { recursive: true });
  } catch (error) {
    throw new ExecutorError(
      'log_unavailable',
      `cannot create the log directory ${logDir}: ${message(error)}`,
      true,
      {
        cause: error,
      },
    );
  }

  const baseEnv = options.env ?? process.env;
  const runs = new Map<string, LocalRun>();
  const listeners: ((exit: RunExit) => void)[] = [];
  /** held[i]: GPU i is given to a run whose process may still be alive. */
  const held: boolean[] = Array.from({ length: node.gpus }, () => false);
  let closed = false;

  const logFile = (jobId: string): string => join(logDir, `${jobId}.log`);
  const stamp = (): string => new Date().toISOString();

  const allocate = (run: RunRequest): number[] => {
    if (!Number.isInteger(run.gpus) || run.gpus < 0 || run.gpus > node.gpus) {
      throw new ExecutorError(
        'invalid_run',
        `run ${run.runId} of job ${run.jobId} asks for ${run.gpus} GPUs; this node has ${node.gpus}`,
        false,
      );
    }
    const free: number[] = [];
    for (let i = 0; i < held.length && free.length < run.gpus; i++) if (!held[i]) free.push(i);
    if (free.length < run.gpus) {
      throw new ExecutorError(
        'gpus_busy',
        `run ${run.runId} of job ${run.jobId} asks for ${run.gpus} GPUs but only ${free.length} are free`,
        true,
      );
    }
    for (const i of free) held[i] = true;
    return free;
  };
  const release = (indexes: readonly number[]): void => {
    for (const i of indexes) held[i] = false;
  };

  /** Sends `signal` to the run's whole process group; a group already gone is not an error. */
  const signalGroup = (run: LocalRun, signal: NodeJS.Signals): void => {
    const pid = run.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch (error) {
      // ESRCH: nothing left in the group. Anything else: at least signal the shell itself.
      if ((error as { code?: unknown }).code !== 'ESRCH') run.child?.kill(signal);
    }
  };

  /** SIGTERM now, SIGKILL after the grace period (once per run, whoever asks first). */
  const terminate = (run: LocalRun): void => {
    if (run.terminating || run.exited) return;
    run.terminating = true;
    signalGroup(run, 'SIGTERM');
    run.cancelGrace = armTimer(systemTimer, graceSeconds * 1000, () => signalGroup(run, 'SIGKILL'));
  };

  const launch = async (
    run: RunRequest,
    record: LocalRun,
    command: string,
    onExit: (code: number | null, signal: NodeJS.Signals | null) => void,
  ): Promise<void> => {
    const file = logFile(run.jobId);
    const visible = record.gpuIndexes.join(',');
    let handle: FileHandle | undefined;
    try {
      handle = await open(file, 'a');
      await handle.write(`[${stamp()}] arbiter: run ${run.runId} starts on GPUs [${visible}]: ${command}\n`);
    } catch (error) {
      await handle?.close().catch(() => {});
      throw new ExecutorError(
        'log_unavailable',
        `cannot write the log file ${file}: ${message(error)}`,
        true,
        {
          cause: error,
        },
      );
    }
    try {
      const child = spawn('/bin/sh', ['-c', command], {
        detached: true, // its own process group: signals reach everything the command starts
        stdio: ['ignore', handle.fd, handle.fd],
        cwd: options.cwd,
        env: {
          ...baseEnv,
          CUDA_VISIBLE_DEVICES: visible,
          CUDA_DEVICE_ORDER: baseEnv.CUDA_DEVICE_ORDER ?? 'PCI_BUS_ID',
          ARBITER_JOB_ID: run.jobId,
          ARBITER_RUN_ID: run.runId,
        },
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', () => {
          child.off('error', reject);
          resolve();
        });
        child.once('error', reject);
      });
      // Later errors (a failed kill) must not crash the process; exits are what counts.
      child.on('error', () => {});
      child.once('exit', onExit);
      record.child = child;
      // The process group outlives a kill -9 of the server: its id lets a restart reap it.
      await writeFile(pidFile(logDir, run.jobId), `${child.pid}\n`).catch(() => {});
    } catch (error) {
      await appendFile(
        file,
        `[${stamp()}] arbiter: run ${run.runId} could not start: ${message(error)}\n`,
      ).catch(() => {});
      throw new ExecutorError(
        'spawn_failed',
        `cannot start run ${run.runId} of job ${run.jobId}: ${message(error)}`,
        true,
        {
          cause: error,
        },
      );
    } finally {
      await handle.close().catch(() => {}); // the child holds its own copy of the descriptor
    }
  };

  const ended = async (
    record: LocalRun,
    code: number | null,
    signal: NodeJS.Signals | null,
    resolveGone: () => void,
  ): Promise<void> => {
    const at = Date.now() / 1000;
    record.exited = true;
    record.cancelLimit();
    record.cancelGrace();
    signalGroup(record, 'SIGKILL'); // whatever the command left behind in its group
    release(record.gpuIndexes);
    await unlink(pidFile(logDir, record.jobId)).catch(() => {});
    const how = [
      code !== null ? `exit code ${code}` : `killed by ${signal ?? 'a signal'}`,
      record.timedOut ? 'time limit reached' : '',
      record.stopped ? 'stopped' : '',
    ]
      .filter((part) => part !== '')
      .join(', ');
    await appendFile(
      logFile(record.jobId),
      `[${stamp()}] arbiter: run ${record.runId} ended: ${how}\n`,
    ).catch(() => {});
    runs.delete(runKey(record.jobId, record.runId));
    emitExit(listeners, {
      jobId: record.jobId,
      runId: record.runId,
      at,
      exitCode: code,
      signal,
      stopped: record.stopped,
      timedOut: record.timedOut,
    });
    resolveGone();
  };

  const stop = async (jobId: string, runId: string): Promise<void> => {
    const record = runs.get(runKey(jobId, runId));
    if (!record) return; // unknown, or already reported
    if (!record.exited) record.stopped = true;
    if (await record.launched) terminate(record);
    await record.gone;
  };

  return {
    kind: 'local',
    node,
    logFile,
    reap: (jobId: string) => reapOrphanedRun(logDir, jobId),

    async start(run: RunRequest): Promise<void> {
      if (closed) throw new ExecutorError('executor_closed', 'the executor is closed', false);
      const command = run.command?.trim() ?? '';
      if (command === '') {
        throw new ExecutorError(
          'invalid_run',
          `job ${run.jobId} has no command: the local executor runs a job's "command" with /bin/sh -c`,
          false,
        );
      }
      if (!SAFE_JOB_ID.test(run.jobId)) {
        throw new ExecutorError(
          'invalid_run',
          `job id "${run.jobId}" cannot name a log file (letters, digits, ".", "_" and "-" only)`,
          false,
        );
      }
      if (run.timeLimit !== null && Number.isNaN(run.timeLimit)) {
        throw new ExecutorError(
          'invalid_run',
          `run ${run.runId} of job ${run.jobId}: timeLimit is not a number`,
          false,
        );
      }
      const key = runKey(run.jobId, run.runId);
      if (runs.has(key)) {
        throw new ExecutorError(
          'duplicate_run',
          `run ${run.runId} of job ${run.jobId} is already running`,
          false,
        );
      }
      const gpuIndexes = allocate(run);
      let setLaunched: (ok: boolean) => void = () => {};
      let resolveGone: () => void = () => {};
      const record: LocalRun = {
        jobId: run.jobId,
        runId: run.runId,
        gpuIndexes,
        child: null,
        stopped: false,
        timedOut: false,
        terminating: false,
        exited: false,
        cancelLimit: () => {},
        cancelGrace: () => {},
        launched: new Promise<boolean>((resolve) => (setLaunched = resolve)),
        gone: new Promise<void>((resolve) => (resolveGone = resolve)),
      };
      // Registered before the first await, so a concurrent start() or stop() sees it.
      runs.set(key, record);
      try {
        await launch(run, record, command, (code, signal) => void ended(record, code, signal, resolveGone));
      } catch (error) {
        runs.delete(key);
        release(gpuIndexes);
        setLaunched(false);
        resolveGone();
        throw error;
      }
      if (run.timeLimit !== null) {
        record.cancelLimit = armTimer(systemTimer, Math.max(0, run.timeLimit) * 1000, () => {
          if (record.exited) return;
          record.timedOut = true;
          terminate(record);
        });
      }
      setLaunched(true);
    },

    stop,

    async close(): Promise<void> {
      closed = true;
      await Promise.all([...runs.values()].map((run) => stop(run.jobId, run.runId)));
    },

    onExit(listener: (exit: RunExit) => void): void {
      listeners.push(listener);
    },

    running(): LocalRunInfo[] {
      const infos: LocalRunInfo[] = [];
      for (const run of runs.values()) {
        const pid = run.child?.pid;
        if (pid !== undefined && !run.exited) {
          infos.push({ jobId: run.jobId, runId: run.runId, pid, gpuIndexes: run.gpuIndexes });
        }
      }
      return infos;
    },
  };
}
