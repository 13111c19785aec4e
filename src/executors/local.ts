// The local executor (`arbiter serve --executor local`): this host is one node, and a run is its
// job's `command`, started with /bin/sh -c as a child process that sees only the GPUs it was given
// (CUDA_VISIBLE_DEVICES). docs/api.md, Start-up.
//
// A run is a process group: the shell is started detached (its own group, pgid = its pid), so
// every signal goes to the group (process.kill(-pid)) and reaches whatever the command started.
// When the shell ends, for whatever reason, what it left behind in its group is killed too: it
// would otherwise hold GPUs that the scheduler gives to the next run. (A process that leaves the
// group on purpose, with setsid, escapes; only cgroups could follow it.)
//
// Stopping (preemption, cancellation, time limit, shutdown): SIGTERM to the group, then SIGKILL
// after the grace period (default 10 s) if the shell is still there.
//
// Isolation (docs/architecture.md, "Job isolation"): a run may be started as another, unprivileged
// user (`runAs`: setuid/setgid through spawn's uid/gid, supplementary groups cleared), with an
// explicit minimal environment (never the server's: its tokens and database URLs stay out), and
// marked: its own session and process group (the shell's pid, recorded in `<logDir>/<jobId>.pid`
// with the process's start time) plus ARBITER_INSTANCE/ARBITER_JOB_ID/ARBITER_RUN_ID in its
// environment, which every process it starts inherits. After a crash, reapOrphans() kills every
// process carrying this instance's marker or sitting in a recorded session or group, whether the
// shell that started it is still there or not. A process that both leaves the session (setsid)
// and scrubs its environment escapes this search; only cgroups could follow it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, open, appendFile, readFile, readdir, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
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
  /**
   * Environment of nvidia-smi, and where a run's PATH, LANG, LC_ALL, LC_CTYPE and TZ come from
   * (nothing else of it reaches a run); default process.env.
   */
  readonly env?: NodeJS.ProcessEnv;
  /** Working directory of runs that keep the server's user (default process.cwd()). */
  readonly cwd?: string;
  /** Which user a run becomes; default: none (runs keep the server's user). */
  readonly runAs?: RunAs;
  /**
   * Marks this server's runs (ARBITER_INSTANCE in their environment): a restart with the same
   * value finds what the runs of a crashed server left behind. Default: a fresh random one.
   */
  readonly instance?: string;
}

/** A user runs are started as (from the passwd database). */
export interface RunUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** `--run-as USER` and `--run-as-team TEAM=USER`. */
export interface RunAs {
  /** Runs of teams without a mapping. */
  readonly default: RunUser;
  /** By team name: a run takes the user of its team, else of the nearest ancestor mapped. */
  readonly teams: ReadonlyMap<string, RunUser>;
}

/** The user a run of a job with these teams (its own first, then its ancestors) is started as. */
export function runUserFor(runAs: RunAs, teams: readonly string[]): RunUser {
  for (const team of teams) {
    const user = runAs.teams.get(team);
    if (user) return user;
  }
  return runAs.default;
}

/**
 * Looks a user up in the passwd database (`getent passwd NAME`, so LDAP and friends count), by
 * name or numeric uid. Throws ExecutorError `invalid_config` naming what to do when there is no
 * such user or it is root.
 */
export async function lookupRunUser(name: string, option = '--run-as'): Promise<RunUser> {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(name)) {
    throw new ExecutorError('invalid_config', `${option}: "${name}" is not a user name`, false);
  }
  let line: string;
  try {
    ({ stdout: line } = await execFileAsync('getent', ['passwd', name], { encoding: 'utf8', timeout: 10_000 }));
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why = code === 2 ? 'no such user' : `getent passwd failed: ${message(error)}`;
    throw new ExecutorError(
      'invalid_config',
      `${option}: cannot find user "${name}" (${why}); create an unprivileged user for jobs, e.g. \`useradd --system --no-create-home --shell /usr/sbin/nologin arbiter-job\``,
      false,
      { cause: error },
    );
  }
  const fields = line.trim().split('\n')[0]?.split(':') ?? [];
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (fields.length < 7 || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new ExecutorError('invalid_config', `${option}: unexpected passwd entry for "${name}": ${line.trim()}`, false);
  }
  if (uid === 0 || gid === 0) {
    throw new ExecutorError(
      'invalid_config',
      `${option}: "${name}" is root (uid ${uid}, gid ${gid}); jobs must run as an unprivileged user`,
      false,
    );
  }
  return { name: fields[0]!, uid, gid, home: fields[5] ?? '/' };
}

/** The only variables of the server's environment a run gets (none of them holds a secret). */
export const PASSED_ENV = ['PATH', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ'] as const;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * A run's whole environment: PASSED_ENV from `base`, who it is (HOME, USER, LOGNAME, SHELL),
 * its GPUs and its marker. Nothing else: not ARBITER_TOKEN, not a database URL.
 */
export function runEnvironment(
  base: NodeJS.ProcessEnv,
  user: RunUser | null,
  run: { readonly jobId: string; readonly runId: string },
  visible: string,
  instance: string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED_ENV) {
    const value = base[name];
    if (value !== undefined) env[name] = value;
  }
  env['PATH'] ??= DEFAULT_PATH;
  const home = user ? user.home : base['HOME'];
  const name = user ? user.name : (base['USER'] ?? base['LOGNAME']);
  if (home !== undefined) env['HOME'] = home;
  if (name !== undefined) {
    env['USER'] = name;
    env['LOGNAME'] = name;
  }
  env['SHELL'] = '/bin/sh';
  env['CUDA_VISIBLE_DEVICES'] = visible;
  env['CUDA_DEVICE_ORDER'] = base['CUDA_DEVICE_ORDER'] ?? 'PCI_BUS_ID';
  env['ARBITER_INSTANCE'] = instance;
  env['ARBITER_JOB_ID'] = run.jobId;
  env['ARBITER_RUN_ID'] = run.runId;
  return env;
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
  /** The ARBITER_INSTANCE every run carries. */
  readonly instance: string;
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

/** A run as another user starts in that user's home when it has one, else in /. */
async function workingDirectory(user: RunUser): Promise<string> {
  try {
    const info = await stat(user.home);
    if (info.isDirectory() && info.uid === user.uid) return user.home;
  } catch {
    // no home (useradd --no-create-home)
  }
  return '/';
}

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

/** What /proc says about a process: the fields of its stat line that name its group and session. */
interface ProcEntry {
  readonly pid: number;
  readonly pgrp: number;
  readonly session: number;
  /** Clock ticks after boot: with the pid, names one process (pids are reused). */
  readonly startTime: string;
  readonly zombie: boolean;
}

async function procEntry(pid: number): Promise<ProcEntry | null> {
  try {
    const line = await readFile(`/proc/${pid}/stat`, 'utf8');
    // After the command name (which may hold spaces and parentheses): state, ppid, pgrp, session, ...
    const fields = line.slice(line.lastIndexOf(')') + 2).split(' ');
    return {
      pid,
      pgrp: Number(fields[2]),
      session: Number(fields[3]),
      startTime: fields[19] ?? '',
      zombie: fields[0] === 'Z' || fields[0] === 'X',
    };
  } catch {
    return null; // gone
  }
}

async function environOf(pid: number): Promise<string[] | null> {
  try {
    return (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
  } catch {
    return null; // gone, or not ours to read
  }
}

/** What marks the processes of runs: a session or group a run's shell led, or the environment. */
interface RunMarks {
  /** Session and process group ids (a run's shell leads both). */
  readonly leaders: ReadonlySet<number>;
  /** Every one of these `NAME=value` must be in a process's environment. */
  readonly environ: readonly string[];
}

/**
 * The live processes (zombies left out) that carry the marks: in one of the sessions or groups,
 * or with every marker variable in their environment. Never this process.
 */
async function findMarked(marks: RunMarks): Promise<number[]> {
  // Bounded: a read of /proc that hangs must not hang a run's end or the start-up.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<number[]>((resolve) => (timer = setTimeout(() => resolve([]), 10_000)));
  try {
    return await Promise.race([scanMarked(marks), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function scanMarked(marks: RunMarks): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return []; // no /proc: only the process groups (signalled elsewhere) can be found
  }
  const found: number[] = [];
  await Promise.all(
    names.map(async (name) => {
      if (!/^\d+$/.test(name)) return;
      const pid = Number(name);
      if (pid === process.pid) return;
      const entry = await procEntry(pid);
      if (!entry || entry.zombie) return;
      if (marks.leaders.has(entry.session) || marks.leaders.has(entry.pgrp)) {
        found.push(pid);
        return;
      }
      const environ = await environOf(pid);
      if (environ && marks.environ.every((variable) => environ.includes(variable))) found.push(pid);
    }),
  );
  return found.sort((a, b) => a - b);
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function signalPids(pids: Iterable<number>, signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * Kills every marked process: SIGTERM, up to `graceMs` for them to end (processes they start
 * meanwhile get it too), then SIGKILL until none is left. Returns every pid it signalled.
 */
async function killMarked(marks: RunMarks, graceMs: number): Promise<number[]> {
  const signalled = new Set<number>();
  let pids = await findMarked(marks);
  if (pids.length === 0) return [];
  const deadline = Date.now() + graceMs;
  while (pids.length > 0 && Date.now() < deadline) {
    signalPids(
      pids.filter((pid) => !signalled.has(pid)),
      'SIGTERM',
    );
    for (const pid of pids) signalled.add(pid);
    await pause(Math.min(100, Math.max(0, deadline - Date.now())));
    pids = await findMarked(marks);
  }
  // A fork loop may outrun one round: go on until nothing is left (bounded, so start-up never hangs).
  const giveUp = Date.now() + 10_000;
  for (let round = 0; round < 100 && pids.length > 0 && Date.now() < giveUp; round++) {
    for (const pid of pids) signalled.add(pid);
    signalPids(pids, 'SIGKILL');
    for (const leader of marks.leaders) signalPids([-leader], 'SIGKILL');
    await pause(20);
    pids = await findMarked(marks);
  }
  return [...signalled].sort((a, b) => a - b);
}

/** The pid file of a run: the shell's pid (its session and group id) and its start time. */
async function recordedLeader(file: string, jobId: string): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  const [pidText, startTime] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 1) return null;
  const now = await procEntry(pid);
  if (startTime !== undefined) {
    // The leader is gone: its session id cannot be taken while a process of the session lives, so
    // whatever sits in it is the run's. The leader is there with another start time: the pid was
    // reused, and the session is someone else's.
    return now === null || now.startTime === startTime ? pid : null;
  }
  // A pid file without a start time (older servers): trusted only while the leader names the job.
  const environ = await environOf(pid);
  return environ?.includes(`ARBITER_JOB_ID=${jobId}`) ? pid : null;
}

export interface ReapedRuns {
  /** The jobs whose processes were found (from their environment or pid file), sorted. */
  readonly jobs: string[];
  /** How many processes were killed. */
  readonly processes: number;
}

/**
 * After a crash of the server: kills every process the runs of this instance left behind, found
 * by the marker in their environment (ARBITER_INSTANCE) or the sessions and groups recorded in the
 * pid files of `logDir`, whether the run's shell is still there or not. SIGTERM first, SIGKILL
 * after `graceSeconds`. The pid files are removed. The local executor re-adopts no run: a run
 * whose shell is gone ended while nobody watched (its outcome is unknown), one whose shell lives
 * cannot be waited for (it is not our child), so every one is stopped and its job queued again.
 */
export async function reapOrphanedRuns(logDir: string, instance: string, graceSeconds = 10): Promise<ReapedRuns> {
  const leaders = new Map<number, string>();
  let names: string[] = [];
  try {
    names = await readdir(logDir);
  } catch {
    // no log directory: no run ever started here
  }
  for (const name of names) {
    if (!name.endsWith('.pid')) continue;
    const jobId = name.slice(0, -'.pid'.length);
    const file = join(logDir, name);
    const leader = await recordedLeader(file, jobId);
    if (leader !== null) leaders.set(leader, jobId);
    await unlink(file).catch(() => {});
  }
  const marks: RunMarks = { leaders: new Set(leaders.keys()), environ: [`ARBITER_INSTANCE=${instance}`] };
  // Which jobs they belonged to, for the log: read before they are killed.
  const jobs = new Set<string>();
  for (const pid of await findMarked(marks)) {
    const entry = await procEntry(pid);
    const job = (await environOf(pid))?.find((v) => v.startsWith('ARBITER_JOB_ID='))?.slice('ARBITER_JOB_ID='.length);
    const byLeader = entry ? (leaders.get(entry.session) ?? leaders.get(entry.pgrp)) : undefined;
    const id = job ?? byLeader;
    if (id !== undefined) jobs.add(id);
  }
  const killed = await killMarked(marks, graceSeconds * 1000);
  return { jobs: [...jobs].sort(), processes: killed.length };
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
  const instance = options.instance ?? randomUUID();
  const runAs = options.runAs ?? null;
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
      const user = runAs ? runUserFor(runAs, run.teams ?? []) : null;
      // The server runs with umask 077 (its files are its own); a run gets the usual 022. The
      // outer shell execs the command's, so the run's pid stays the shell's.
      const child = spawn('/bin/sh', ['-c', 'umask 022 && exec /bin/sh -c "$1"', 'arbiter-run', command], {
        detached: true, // setsid: its own session and process group, so signals reach everything it starts
        stdio: ['ignore', handle.fd, handle.fd],
        cwd: user ? await workingDirectory(user) : options.cwd,
        // setuid/setgid; libuv clears the supplementary groups (setgroups(0)) when it switches.
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
        env: runEnvironment(baseEnv, user, run, visible, instance),
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
      // The session outlives a kill -9 of the server: its id (and the start time that tells it
      // from a reused pid) lets a restart reap it.
      const leader = child.pid === undefined ? null : await procEntry(child.pid);
      await writeFile(pidFile(logDir, run.jobId), `${child.pid}${leader ? ` ${leader.startTime}` : ''}\n`).catch(() => {});
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
    try {
      signalGroup(record, 'SIGKILL'); // whatever the command left behind in its group
      // ... and in its session, or marked as this run's even after leaving both.
      const leader = record.child?.pid;
      await killMarked(
        {
          leaders: new Set(leader === undefined ? [] : [leader]),
          environ: [`ARBITER_INSTANCE=${instance}`, `ARBITER_RUN_ID=${record.runId}`],
        },
        0,
      );
    } catch {
      // reported below all the same: the exit must never go unreported
    }
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
    instance,
    reapOrphans: () => reapOrphanedRuns(logDir, instance, graceSeconds),

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
