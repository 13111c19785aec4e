// Shared helpers for the tests that run the real, built service (`node bin/arbiter.js serve`,
// bin/arbiter.js -> dist/) as a child process and talk to it over HTTP and through the CLI, as
// users do: start and stop servers, create tokens, a fetch wrapper, raw HTTP for bodies that fetch
// cannot send, and waitFor (polling with a timeout).
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest); the tests
// do not build, because other test files run the same dist/ in parallel. assertDistFresh() says so.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const above = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The checkout (also when compiled into dist-bench/test/ for a benchmark). */
export const repoRoot = existsSync(path.join(above, 'bin', 'arbiter.js')) ? above : path.resolve(above, '..');

// ------------------------------------------------------------------ dist/ must be fresh

/** The sources of `arbiter serve` and the client commands (not the tests). */
function serverSources(): string[] {
  const dirs = ['server', 'storage', 'executors', 'core', 'core/config', 'governance', 'sim'];
  const files = ['cli/main.ts', 'cli/errors.ts', 'cli/commands/serve.ts', 'cli/commands/client.ts'];
  for (const dir of dirs) {
    const full = path.join(repoRoot, 'src', dir);
    if (!existsSync(full)) continue;
    for (const name of readdirSync(full))
      if (name.endsWith('.ts') && !name.endsWith('.test.ts')) files.push(`${dir}/${name}`);
  }
  return files;
}

/** Throws when dist/ is missing or older than one of the sources it is built from. */
export function assertDistFresh(): void {
  const stale = serverSources().filter((source) => {
    const built = path.join(repoRoot, 'dist', source.replace(/\.ts$/, '.js'));
    return (
      !existsSync(built) || statSync(built).mtimeMs < statSync(path.join(repoRoot, 'src', source)).mtimeMs
    );
  });
  if (stale.length > 0) {
    throw new Error(
      `dist/ is missing or older than src/${stale.join(', src/')}: run \`npx tsc -p tsconfig.build.json\` first (npm test does)`,
    );
  }
}

// ------------------------------------------------------------------ temp dirs and files

const tempDirs: string[] = [];

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `arbiter-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

export function writeFile(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** A small simulated fleet: one pool of `nodes` nodes with `gpusPerNode` h100 each. */
export function smallCluster(nodes: number, gpusPerNode: number): string {
  return `pools:\n  - name: p\n    flavor: h100\n    nodes: ${nodes}\n    gpusPerNode: ${gpusPerNode}\n`;
}

/**
 * A policy of two teams, alpha and beta, each guaranteed `guarantee` h100; class training (and
 * urgent above it when asked); minRuntime, restart overhead and checkpoints 0, so a reclaim is at once.
 */
export function twoTeamsPolicy(guarantee: number, { urgent = false }: { urgent?: boolean } = {}): string {
  const classes = ['  - { name: training, priority: 500 }', ...(urgent ? ['  - { name: urgent, priority: 900 }'] : [])];
  return [
    'priorityClasses:', ...classes, 'defaultClass: training',
    'preemption:', '  minRuntime: 0s', '  restartOverhead: 0s', '  checkpointInterval: 0s',
    'teams:', '  - name: alpha', `    guarantee: { h100: ${guarantee} }`, '  - name: beta', `    guarantee: { h100: ${guarantee} }`, '',
  ].join('\n');
}

// ------------------------------------------------------------------ the user jobs run as

/** The unprivileged user the local-executor tests run jobs as (`serve --run-as`). */
export const JOB_USER = 'arbiter-job';

export interface JobUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

function passwdEntry(name: string): JobUser | null {
  try {
    const fields = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
    return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
  } catch {
    return null;
  }
}

/**
 * JOB_USER, created (`useradd --system --no-create-home`) when missing. The tests run as root,
 * as CI does (the server must be root to switch users); without the user and without root to
 * create it, this throws: the isolation tests fail, they never skip.
 */
export function jobUser(): JobUser {
  const found = passwdEntry(JOB_USER);
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new Error(`user ${JOB_USER} does not exist and these tests are not root, so they cannot create it: run them as root (as CI does) or create it with \`useradd --system --no-create-home --shell /usr/sbin/nologin ${JOB_USER}\``);
  }
  let failure = '';
  // Test files run in parallel: another may be creating it (useradd then fails on its lock).
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', JOB_USER], { stdio: 'pipe' });
    } catch (error) {
      failure = String((error as { stderr?: unknown }).stderr ?? error);
    }
    const made = passwdEntry(JOB_USER);
    if (made) return made;
    execFileSync('sleep', ['0.2']);
  }
  throw new Error(`cannot create user ${JOB_USER} with useradd: ${failure}`);
}

/** Lets jobs (running as JOB_USER) write into `dir` (sticky, world-writable, like /tmp). */
export function openToJobs(dir: string): string {
  chmodSync(dir, 0o1777);
  return dir;
}

/** The ARBITER_INSTANCE marker of a local-executor server's runs (`DATA/instance-id`). */
export function instanceOf(data: string): string {
  return readFileSync(path.join(data, 'instance-id'), 'utf8').trim();
}

// ------------------------------------------------------------------ the CLI

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node bin/arbiter.js ...args` without blocking the test's event loop. */
export function cli(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 20_000,
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['bin/arbiter.js', ...args],
      {
        cwd: repoRoot,
        env: { ...process.env, ...env },
        timeout: timeoutMs,
        maxBuffer: 16 << 20,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = error
          ? typeof (error as { code?: unknown }).code === 'number'
            ? (error as { code: number }).code
            : null
          : 0;
        resolve({ status: code ?? child.exitCode, stdout, stderr });
      },
    );
  });
}

/** `arbiter token create`; returns the token (the last word of stdout). */
export async function createToken(data: string, user: string, role: string, team?: string): Promise<string> {
  const run = await cli([
    'token',
    'create',
    '--data',
    data,
    '--user',
    user,
    '--role',
    role,
    ...(team !== undefined ? ['--team', team] : []),
  ]);
  if (run.status !== 0) throw new Error(`token create failed (${run.status}): ${run.stderr}`);
  const token = run.stdout.trim().split(/\s+/).pop();
  if (!token) throw new Error(`token create printed nothing: ${run.stdout}`);
  return token;
}

// ------------------------------------------------------------------ servers

export interface Server {
  readonly url: string;
  readonly data: string;
  readonly adminToken: string;
  readonly process: ChildProcess;
  /** The first line(s) printed at start-up. */
  readonly startupOutput: string;
  /** The last 256 KiB of what the server printed (stdout and stderr), for diagnosis. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited after 10 s. Resolves with its exit code. */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  /** Extra arguments after `serve --data DIR --port 0`. */
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
  /** Start as `npm start` does: the demo lab's first start writes demo tokens and submits its jobs. */
  readonly demoSetup?: boolean;
  /** What the server prints once it is up, the URL captured (default: "Arbiter is serving on URL"). */
  readonly ready?: RegExp;
}

/** What a PostgreSQL standby prints once it answers (as a standby) on its URL. */
export const STANDBY_READY = /Arbiter is a standby on (http:\/\/[\d.]+:\d+)/;

const servers = new Set<Server>();

/** The result of a start that is expected to fail: exit code and output. */
export function runServeExpectingExit(
  data: string,
  args: readonly string[],
  timeoutMs = 15_000,
  env: Record<string, string | undefined> = {},
): Promise<CliResult> {
  return cli(['serve', '--data', data, '--port', '0', ...args], env, timeoutMs);
}

/** Starts `arbiter serve --data DATA --port 0 ...args`; resolves once it prints its URL. */
export function startServer(data: string, options: StartOptions = {}): Promise<Server> {
  const child = spawn(
    process.execPath,
    // --no-demo-setup: the demo lab's first start stays bare (no demo jobs or tokens) unless a
    // test asks for what `npm start` does (test/readme-walkthrough.test.ts).
    ['bin/arbiter.js', 'serve', '--data', data, '--port', '0', ...(options.demoSetup ? [] : ['--no-demo-setup']), ...(options.args ?? [])],
    {
      cwd: repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const keep = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > 1 << 18) out = out.slice(-(1 << 18));
  };
  // Always drained: the server logs every request on stdout and must never block on a full pipe.
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));

  return new Promise<Server>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`arbiter serve did not start within ${options.timeoutMs ?? 30_000} ms:\n${out}`));
    }, options.timeoutMs ?? 30_000);
    const onData = (): void => {
      const match = (options.ready ?? /Arbiter is serving on (http:\/\/\S+)/).exec(out);
      if (!match) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      const adminTokenFile = path.join(data, 'admin-token');
      const adminToken = existsSync(adminTokenFile) ? readFileSync(adminTokenFile, 'utf8').trim() : '';
      const server: Server = {
        url: match[1]!,
        data,
        adminToken,
        process: child,
        startupOutput: out,
        output: () => out,
        stop: async () => {
          servers.delete(server);
          if (exitCode !== undefined) return exitCode;
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          const code = await exited;
          clearTimeout(killer);
          return code;
        },
      };
      servers.add(server);
      resolve(server);
    };
    child.stdout.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`arbiter serve exited with ${code} before it served:\n${out}`));
    });
  });
}

/** Stops every server still running (SIGTERM) and removes the temp dirs. For afterAll. */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...servers].map((s) => s.stop()));
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

// ------------------------------------------------------------------ HTTP

export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The parsed JSON body, or undefined when it is not JSON. */
  readonly body: T;
}

export interface RequestOptions {
  /** Sent as JSON (with content-type application/json) unless `raw` is given. */
  readonly json?: unknown;
  /** Sent as is; headers as given (no content-type added). */
  readonly raw?: string;
  readonly headers?: Record<string, string>;
  /** Bearer token; null sends no Authorization header. */
  readonly token?: string | null;
  /** An event stream (GET /v1/events): a 200 text/event-stream is read up to its first event, then closed. */
  readonly stream?: boolean;
}

export interface Api {
  request<T = unknown>(method: string, route: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  get<T = unknown>(route: string, token?: string | null): Promise<ApiResponse<T>>;
  post<T = unknown>(
    route: string,
    json?: unknown,
    token?: string | null,
    headers?: Record<string, string>,
  ): Promise<ApiResponse<T>>;
}

/** A fetch wrapper bound to a server, with the admin token by default. */
export function api(server: Pick<Server, 'url' | 'adminToken'>): Api {
  const request = async <T>(
    method: string,
    route: string,
    options: RequestOptions = {},
  ): Promise<ApiResponse<T>> => {
    const token = options.token === undefined ? server.adminToken : options.token;
    const headers: Record<string, string> = {
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
    };
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    }
    Object.assign(headers, options.headers);
    const response = await fetch(`${server.url}${route}`, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    let text: string;
    if (options.stream && response.status === 200 && response.headers.get('content-type')?.startsWith('text/event-stream')) {
      const reader = response.body!.getReader();
      const first = await reader.read();
      text = new TextDecoder().decode(first.value as Uint8Array | undefined);
      await reader.cancel();
    } else text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, text, body: parsed as T };
  };
  return {
    request,
    get: (route, token) => request('GET', route, token === undefined ? {} : { token }),
    post: (route, json, token, headers) =>
      request('POST', route, {
        ...(json !== undefined ? { json } : {}),
        ...(token !== undefined ? { token } : {}),
        ...(headers ? { headers } : {}),
      }),
  };
}

/**
 * One raw HTTP/1.1 request over a socket: for bodies that fetch cannot send to a server that
 * answers before reading them all (a 10 MB body). The body goes in 64 KiB pieces and stops as
 * soon as an answer arrives (so that the server's close does not reset it away); write errors
 * after the answer are ignored.
 */
export function rawHttp(
  url: string,
  head: string,
  body: Buffer,
): Promise<{ status: number; text: string; body: unknown }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(u.port), u.hostname);
    let data = '';
    let closed = false;
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
    socket.on('error', () => {
      /* EPIPE/ECONNRESET once the server has answered and closed */
    });
    socket.on('close', () => {
      closed = true;
      const match = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (!match) return reject(new Error(`no HTTP answer: ${JSON.stringify(data.slice(0, 200))}`));
      const text = data.slice(data.indexOf('\r\n\r\n') + 4);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      resolve({ status: Number(match[1]), text, body: parsed });
    });
    socket.once('connect', () => {
      void (async () => {
        const write = (chunk: Buffer | string): Promise<void> =>
          new Promise((done) => socket.write(chunk, () => done()));
        await write(
          `${head.replace(/\r?\n/g, '\r\n').replace(/(\r\n)*$/, '')}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`,
        );
        // A server may answer on the headers alone (content-length over its limit): give it a moment.
        for (let waited = 0; waited < 1000 && data === '' && !closed; waited += 20) await sleep(20);
        for (let at = 0; at < body.length && data === '' && !closed; at += 1 << 16) {
          await write(body.subarray(at, at + (1 << 16)));
          await new Promise((r) => setImmediate(r));
        }
        if (!closed) socket.end();
      })();
    });
  });
}

/**
 * Sends raw HTTP/1.1 requests all at once: every socket is connected first, then all are written
 * in one tick, so that the server reads them together (concurrency tests). Resolves with the
 * status and JSON body of each answer, in order.
 */
export async function burst(
  url: string,
  requests: readonly string[],
): Promise<{ status: number; body: unknown }[]> {
  const u = new URL(url);
  const sockets = await Promise.all(
    requests.map(
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect(Number(u.port), u.hostname, () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
  const answers = sockets.map(
    (socket) =>
      new Promise<string>((resolve) => {
        let data = '';
        socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
        socket.on('close', () => resolve(data));
      }),
  );
  sockets.forEach((socket, i) => socket.end(requests[i]!.replace(/\r?\n/g, '\r\n')));
  return (await Promise.all(answers)).map((data) => {
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
    let body: unknown;
    try {
      body = JSON.parse(data.slice(data.indexOf('\r\n\r\n') + 4));
    } catch {
      body = undefined;
    }
    return { status, body };
  });
}

/** A raw POST /v1/jobs request for burst(). */
export function rawJobPost(token: string, json: unknown, headers: Record<string, string> = {}): string {
  const body = JSON.stringify(json);
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `POST /v1/jobs HTTP/1.1\r\nhost: arbiter\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\n${extra}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

// ------------------------------------------------------------------ waiting

/** Polls `probe` until it returns a value other than undefined/false/null; throws after the timeout. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ API shapes

export interface Job {
  id: string;
  name: string | null;
  team: string;
  class: string;
  flavor: string | null;
  gpus: number;
  status: string;
  submittedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  placement: { node: string; gpus: number }[];
  preemptions: number;
  reason: { code: string; message: string } | null;
  expectedStart: string | null;
  exitCode?: number | null;
  submittedBy?: string;
}

export interface JobPage {
  jobs: Job[];
  nextCursor: string | null;
}

export interface ErrorBody {
  code: string;
  message: string;
  issues: { path: string; message: string }[];
}

export interface FlavorState {
  guarantee: number;
  limit: number | null;
  usage: number;
  borrowed: number;
  pending: number;
}

export interface TeamNode {
  name: string;
  flavors: Record<string, FlavorState>;
  children: TeamNode[];
}

export interface FleetBody {
  pools: {
    name: string;
    flavor: string;
    gpusPerNode: number;
    nodes: {
      name: string;
      gpus: number;
      free: number;
      held: { job: string; team: string; gpus: number }[];
      /** A node that takes no job now (Slurm: down or drained). */
      unavailable?: { state: string | null; why: string };
    }[];
  }[];
  /** Jobs outside Arbiter (Slurm). */
  outside?: { id: string; name: string; user: string; state: string; placement: { node: string; gpus: number }[] }[];
}

/** The team of that name anywhere in the tree. */
export function findTeam(teams: TeamNode[], name: string): TeamNode | undefined {
  for (const t of teams) {
    if (t.name === name) return t;
    const below = findTeam(t.children, name);
    if (below) return below;
  }
  return undefined;
}

/** ISO 8601 UTC, as the API writes times. */
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/**
 * A copy of a stopped server's data directory, `into/tampered-NAME`, with `sql` run on its
 * SQLite database: what an attacker who can write the file does.
 */
export function tamperedCopy(pristine: string, into: string, name: string, sql: string): string {
  const copy = path.join(into, `tampered-${name}`);
  cpSync(pristine, copy, { recursive: true });
  const db = new Database(path.join(copy, 'arbiter.db'));
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
  return copy;
}

/** Tokens by name, and `tok(name)`, which throws for an unknown name (undefined would mean "the admin token" to api()). */
export function tokenBook(): { tokens: Record<string, string>; tok: (name: string) => string } {
  const tokens: Record<string, string> = {};
  const tok = (name: string): string => {
    const token = tokens[name];
    if (token === undefined) throw new Error(`no token ${name}`);
    return token;
  };
  return { tokens, tok };
}
