// Crash safety of the live service (docs/api.md, "Durability"), through real `arbiter serve`
// processes (bin/arbiter.js -> dist/): a 201 means the job is on disk; after kill -9 at any moment
// and a restart on the same data directory, every acknowledged job is there with the fields it
// was acknowledged with, each job that was running is re-adopted (simulated executor: same
// placement, same start) or requeued (local executor: a new process), none is lost, finished ones
// stay finished, and the server goes on scheduling until everything has completed.
//
// What was on disk at the kill is read from a copy of the database files (the WAL included, as
// SQLite's crash recovery reads it), so "acknowledged => on disk" is checked apart from what the
// restarted server makes of it.
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest); the
// test does not build itself, because other test files run the same dist/ in parallel.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { instanceOf, jobUser } from './server-harness.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// ------------------------------------------------------------------ dist/ must be fresh

/** Every source of `arbiter serve` (not the tests): dist/ must be at least as new as each. */
function serveSources(): string[] {
  const dirs = ['server', 'storage', 'executors', 'core', 'core/config'];
  const files = ['cli/main.ts', 'cli/errors.ts', 'cli/commands/serve.ts'];
  for (const dir of dirs) {
    const full = path.join(repoRoot, 'src', dir);
    if (!existsSync(full)) continue;
    for (const name of readdirSync(full))
      if (name.endsWith('.ts') && !name.endsWith('.test.ts')) files.push(`${dir}/${name}`);
  }
  return files;
}

beforeAll(() => {
  const stale = serveSources().filter((source) => {
    const built = path.join(repoRoot, 'dist', source.replace(/\.ts$/, '.js'));
    return (
      !existsSync(built) || statSync(built).mtimeMs < statSync(path.join(repoRoot, 'src', source)).mtimeMs
    );
  });
  if (stale.length > 0)
    throw new Error(
      `dist/ is missing or older than src/${stale.join(', src/')}: run \`npx tsc -p tsconfig.build.json\` first (npm test does)`,
    );
});

// ------------------------------------------------------------------ servers

interface Server {
  readonly child: ChildProcess;
  readonly url: string;
  readonly token: string;
  readonly logFile: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const servers = new Set<Server>();
const dirs: string[] = [];
let starts = 0;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts `arbiter serve --data dir --port 0 ...args`; its stdout and stderr go to a log file of its own. */
async function startServer(
  dir: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Server> {
  const logFile = path.join(dir, `server-${++starts}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['bin/arbiter.js', 'serve', '--data', dir, '--port', '0', '--no-demo-setup', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', fd, fd],
    env,
  });
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = readFileSync(logFile, 'utf8');
    const url = /Arbiter is serving on (http:\/\/[\d.]+:\d+)/.exec(text)?.[1];
    if (url !== undefined) {
      const server: Server = {
        child,
        url,
        token: readFileSync(path.join(dir, 'admin-token'), 'utf8').trim(),
        logFile,
        exited,
      };
      servers.add(server);
      void exited.then(() => servers.delete(server));
      return server;
    }
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`arbiter serve exited before serving:\n${text}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`arbiter serve did not start within 30 s:\n${text}`);
    }
    await sleep(20);
  }
}

async function crash(server: Server): Promise<void> {
  server.child.kill('SIGKILL');
  expect((await server.exited).signal).toBe('SIGKILL');
}

/** The `job` of each JSON line of a server's log with msg `msg`. */
function logged(server: Server, msg: string): (string | undefined)[] {
  return readFileSync(server.logFile, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg?: string; job?: string })
    .filter((entry) => entry.msg === msg)
    .map((entry) => entry.job);
}

/**
 * The lines with msg `msg` once there are `count` of them (or what there is after 5 s): the server
 * logs asynchronously (pino), so a line may reach the file after "Arbiter is serving".
 */
async function loggedAtLeast(server: Server, msgs: readonly string[], count: number): Promise<(string | undefined)[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const lines = msgs.flatMap((msg) => logged(server, msg));
    if (lines.length >= count || Date.now() > deadline) return lines;
    await sleep(50);
  }
}

const markers: string[] = [];

afterAll(async () => {
  for (const server of [...servers]) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
  // Runs of the local executor that outlived their server (see the known bug below): each is the
  // process group of a shell this test file's servers started.
  for (const marker of markers)
    for (const group of runProcesses(marker)?.values() ?? []) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

// ------------------------------------------------------------------ HTTP

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

interface Reply {
  readonly status: number;
  readonly body: unknown;
}

function call(
  server: Server,
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<Reply>((resolve, reject) => {
    const request = http.request(
      `${server.url}${route}`,
      {
        method,
        agent,
        timeout: 20_000,
        headers: {
          authorization: `Bearer ${server.token}`,
          ...(data === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) }),
          ...headers,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          try {
            const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            resolve({ status: response.statusCode ?? 0, body: parsed });
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      },
    );
    request.on('error', reject);
    request.on('timeout', () => request.destroy(new Error(`${method} ${route}: no answer within 20 s`)));
    request.end(data);
  });
}

async function ok<T>(server: Server, method: string, route: string, body?: unknown): Promise<T> {
  const reply = await call(server, method, route, body);
  if (reply.status !== 200)
    throw new Error(`${method} ${route}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body as T;
}

interface JobBody {
  team: string;
  gpus: number;
  class?: string;
  flavor?: string;
  name: string;
  duration?: number;
  timeLimit?: number;
  command?: string;
}

interface JobView {
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
  duration: number | null;
  timeLimit: number | null;
  command: string | null;
  submittedBy: string;
}

interface FleetView {
  pools: {
    name: string;
    gpusPerNode: number;
    nodes: { name: string; gpus: number; free: number; held: { job: string; gpus: number }[] }[];
  }[];
}

/** Every job the server has, by id (GET /v1/jobs, all pages). */
async function allJobs(server: Server): Promise<Map<string, JobView>> {
  const jobs = new Map<string, JobView>();
  let cursor: string | null = null;
  do {
    const page: { jobs: JobView[]; nextCursor: string | null } = await ok(
      server,
      'GET',
      `/v1/jobs?limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    for (const job of page.jobs) jobs.set(job.id, job);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return jobs;
}

// ------------------------------------------------------------------ what is on disk

interface DiskJob {
  id: string;
  name: string | null;
  team: string;
  class: string;
  flavor: string | null;
  gpus: number;
  duration: number | null;
  timeLimit: number | null;
  command: string | null;
  submittedBy: string;
  submittedAt: number;
  status: string;
  startedAt: number | null;
  endedAt: number | null;
  placement: string | null;
  preemptions: number;
}

/** The jobs in the database of a dead server, read from a copy of its files (SQLite recovers the WAL). */
function onDisk(dir: string): Map<string, DiskJob> {
  const copy = mkdtempSync(path.join(tmpdir(), 'arbiter-crash-copy-'));
  try {
    for (const file of ['arbiter.db', 'arbiter.db-wal'])
      if (existsSync(path.join(dir, file))) copyFileSync(path.join(dir, file), path.join(copy, file));
    const db = new Database(path.join(copy, 'arbiter.db'));
    try {
      const rows = db
        .prepare(
          `SELECT id, name, team, class, flavor, gpus, duration, time_limit AS timeLimit, command, submitted_by AS submittedBy,
             submitted_at AS submittedAt, status, started_at AS startedAt, ended_at AS endedAt, placement, preemptions FROM jobs`,
        )
        .all() as DiskJob[];
      return new Map(rows.map((row) => [row.id, row]));
    } finally {
      db.close();
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t * 1000).toISOString());

/** The fields a job was submitted with, as the API shows them (flavor only when one was asked for). */
function submitted(job: JobView): Record<string, unknown> {
  const { id, name, team, gpus, submittedAt, submittedBy, duration, timeLimit, command } = job;
  return { id, name, team, class: job.class, gpus, submittedAt, submittedBy, duration, timeLimit, command };
}

function submittedOnDisk(job: DiskJob): Record<string, unknown> {
  const { id, name, team, gpus, submittedBy, duration, timeLimit, command } = job;
  return {
    id,
    name,
    team,
    class: job.class,
    gpus,
    submittedAt: iso(job.submittedAt),
    submittedBy,
    duration,
    timeLimit,
    command,
  };
}

// ------------------------------------------------------------------ the stream of submissions

/** mulberry32: a small seeded generator, so that a failing mix can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(rng: () => number, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;

// The demo lab (examples/lab): 192 H100 and 64 A100 on 8-GPU nodes. At --speed 100, a short job
// lasts 0.1-0.4 s of wall time, a medium one 1-3 s, a long one 3-5 s; all are shorter than the
// policy's minRuntime (10 min = 6 s), so preemption stays rare and the run ends soon after.
const SPEED = 100;
const TEAMS: readonly { team: string; flavors: readonly (string | undefined)[] }[] = [
  { team: 'pretraining', flavors: [undefined, 'h100'] },
  { team: 'alignment', flavors: [undefined, 'h100', 'a100'] },
  { team: 'interp', flavors: ['a100'] },
  { team: 'serving', flavors: [undefined, 'h100'] },
  { team: 'evals', flavors: [undefined, 'h100', 'a100'] },
];

function jobMix(seed: number, count: number, prefix: string): JobBody[] {
  const rng = random(seed);
  return Array.from({ length: count }, (_, i) => {
    const { team, flavors } = pick(rng, TEAMS);
    const flavor = pick(rng, flavors);
    const kind = rng();
    const duration = Math.round(
      kind < 0.4 ? 10 + rng() * 30 : kind < 0.8 ? 100 + rng() * 200 : 300 + rng() * 200,
    );
    const body: JobBody = {
      team,
      gpus: pick(rng, [1, 2, 4, 8, 8, 16]),
      class: pick(rng, ['training', 'research']),
      name: `${prefix}-${i}`,
      duration,
    };
    if (flavor !== undefined) body.flavor = flavor;
    if (rng() < 0.3) body.timeLimit = duration * 3 + 60;
    return body;
  });
}

interface Ack {
  readonly body: JobBody;
  readonly job: JobView;
}

interface StreamResult {
  readonly acks: Ack[];
  /** Sent, but no answer came (in flight at the kill): maybe stored, maybe not. */
  readonly unanswered: JobBody[];
  /** Not sent, because the server was killed first. */
  readonly unsent: JobBody[];
}

/**
 * Submits `jobs` from `clients` concurrent clients, each one request after the other with a short
 * random pause, every job with its name as Idempotency-Key. `killWhen(acks, inFlight)` is asked
 * after every acknowledgement; when it says yes the server is killed at once (with requests in flight),
 * and the clients stop.
 */
async function stream(
  server: Server,
  jobs: readonly JobBody[],
  options: {
    clients: number;
    pauseMs: number;
    seed: number;
    killWhen?: (acks: number, inFlight: number) => boolean;
  },
): Promise<StreamResult> {
  const rng = random(options.seed);
  const acks: Ack[] = [];
  const unanswered: JobBody[] = [];
  let next = 0;
  let inFlight = 0;
  let killed = false;
  const client = async (): Promise<void> => {
    while (!killed && next < jobs.length) {
      const body = jobs[next++]!;
      inFlight++;
      let reply: Reply;
      try {
        reply = await call(server, 'POST', '/v1/jobs', body, { 'idempotency-key': body.name });
      } catch {
        inFlight--;
        if (!killed) throw new Error(`POST /v1/jobs ${body.name} failed while the server was up`);
        unanswered.push(body);
        continue;
      }
      inFlight--;
      if (reply.status !== 201)
        throw new Error(`POST /v1/jobs ${body.name}: ${reply.status} ${JSON.stringify(reply.body)}`);
      acks.push({ body, job: reply.body as JobView });
      if (!killed && options.killWhen?.(acks.length, inFlight)) {
        killed = true;
        server.child.kill('SIGKILL');
      }
      if (!killed && options.pauseMs > 0) await sleep(rng() * options.pauseMs);
    }
  };
  await Promise.all(Array.from({ length: options.clients }, client));
  return { acks, unanswered, unsent: jobs.slice(next) };
}

/** Waits until no job is pending or running (or throws after `ms`). */
async function settled(server: Server, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const pending: { jobs: JobView[] } = await ok(server, 'GET', '/v1/jobs?status=pending&limit=1');
    const running: { jobs: JobView[] } = await ok(server, 'GET', '/v1/jobs?status=running&limit=1');
    if (pending.jobs.length === 0 && running.jobs.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `jobs still unfinished after ${ms / 1000} s: ${JSON.stringify([...pending.jobs, ...running.jobs].map((j) => [j.id, j.status]))}`,
      );
    await sleep(200);
  }
}

/** No node has more GPUs held than it has, and the fleet view agrees with the running jobs' placements. */
async function expectConsistentFleet(server: Server, jobs: Map<string, JobView>): Promise<void> {
  const fleet: FleetView = await ok(server, 'GET', '/v1/fleet');
  const held = new Map<string, number>();
  for (const job of jobs.values())
    if (job.status === 'running')
      for (const p of job.placement) held.set(p.node, (held.get(p.node) ?? 0) + p.gpus);
  for (const pool of fleet.pools)
    for (const node of pool.nodes) {
      expect(node.free, `free GPUs of ${node.name}`).toBeGreaterThanOrEqual(0);
      expect(node.held.reduce((sum, h) => sum + h.gpus, 0) + node.free, `GPUs of ${node.name}`).toBe(
        node.gpus,
      );
      // The listing and the fleet view are two requests: a job may start or end in between.
      expect(
        held.get(node.name) ?? 0,
        `GPUs of ${node.name} in running jobs' placements`,
      ).toBeLessThanOrEqual(node.gpus);
    }
}

// ------------------------------------------------------------------ the checks after a restart

interface Ledger {
  /** Every job acknowledged with 201 (or 200 to a retry), by id. */
  readonly acked: Map<string, Ack>;
}

/** Every acknowledged job is in the database of the dead server, as it was acknowledged. */
function expectAckedOnDisk(ledger: Ledger, disk: Map<string, DiskJob>): void {
  const missing = [...ledger.acked.keys()].filter((id) => !disk.has(id));
  expect(missing, 'acknowledged jobs missing on disk after kill -9').toEqual([]);
  for (const [id, { body, job }] of ledger.acked) {
    const stored = disk.get(id)!;
    expect(submittedOnDisk(stored), `job ${id} on disk`).toEqual(submitted(job));
    expect(stored.flavor, `job ${id} on disk: flavor asked for`).toBe(body.flavor ?? null);
  }
}

/**
 * After the restart: every acknowledged job is served as acknowledged; each job that was running at
 * the kill was re-adopted (same placement and start; it may have completed since) and none was
 * requeued (simulated nodes go on running); finished jobs stay as they were; pending ones are
 * pending, or started since.
 */
async function expectRecovered(
  server: Server,
  ledger: Ledger,
  disk: Map<string, DiskJob>,
): Promise<Map<string, JobView>> {
  const jobs = await allJobs(server);
  const missing = [...ledger.acked.keys()].filter((id) => !jobs.has(id));
  expect(missing, 'acknowledged jobs missing after the restart').toEqual([]);
  for (const [id, { body, job }] of ledger.acked) {
    const now = jobs.get(id)!;
    expect(submitted(now), `job ${id} after the restart`).toEqual(submitted(job));
    // The view shows the flavor a job runs (ran) on, else the one asked for.
    if (body.flavor !== undefined) expect(now.flavor, `job ${id}: flavor`).toBe(body.flavor);
  }
  // Jobs stored but never acknowledged (in flight at the kill) may be there, but nothing that was not on disk.
  expect(
    [...jobs.keys()].filter((id) => !disk.has(id)),
    'jobs after the restart that were not on disk',
  ).toEqual([]);

  const running = [...disk.values()].filter((j) => j.status === 'running').length;
  // Each run is re-adopted, or finished by recovery when it ended while the server was down.
  const readopted = new Set(await loggedAtLeast(server, ['re-adopted running job', 'a run ended while the server was down'], running));
  expect(
    logged(server, 'requeued a job that was running before the restart'),
    'simulated runs are re-adopted, not requeued',
  ).toEqual([]);
  for (const [id, stored] of disk) {
    const now = jobs.get(id);
    expect(now, `job ${id}, on disk at the kill, after the restart`).toBeDefined();
    if (!now) continue;
    const what = `job ${id} (${stored.status} at the kill, ${now.status} after the restart)`;
    switch (stored.status) {
      case 'running':
        expect(readopted.has(id), `${what}: re-adopted`).toBe(true);
        expect(now.startedAt, what).toBe(iso(stored.startedAt));
        if (now.status === 'running')
          expect(now.placement, `${what}: placement`).toEqual(
            JSON.parse(stored.placement ?? 'null') as unknown,
          );
        else if (now.status === 'pending')
          expect(now.preemptions, `${what}: preempted since`).toBeGreaterThan(stored.preemptions);
        else expect(now.status, what).toBe('completed');
        break;
      case 'pending':
        expect(['pending', 'running', 'completed'], what).toContain(now.status);
        break;
      default:
        expect(now.status, what).toBe(stored.status);
        expect(now.startedAt, what).toBe(iso(stored.startedAt));
        expect(now.endedAt, what).toBe(iso(stored.endedAt));
    }
  }
  expect(readopted.size, 're-adopted jobs').toBe(running);
  await expectConsistentFleet(server, jobs);
  return jobs;
}

/** Sends again what got no answer (same Idempotency-Key: 200 if it was stored, 201 if not) and what was not sent. */
async function resend(
  server: Server,
  ledger: Ledger,
  result: StreamResult,
): Promise<{ repeats: number; created: number }> {
  let repeats = 0;
  let created = 0;
  for (const body of [...result.unanswered, ...result.unsent]) {
    const reply = await call(server, 'POST', '/v1/jobs', body, { 'idempotency-key': body.name });
    expect([200, 201], `resending ${body.name}: ${JSON.stringify(reply.body)}`).toContain(reply.status);
    const job = reply.body as JobView;
    expect(job.name).toBe(body.name);
    if (reply.status === 200) repeats++;
    else created++;
    ledger.acked.set(job.id, { body, job });
  }
  return { repeats, created };
}

// ------------------------------------------------------------------ the tests

describe('kill -9 of a live server (docs/api.md, Durability)', () => {
  it('simulated executor: acknowledged jobs survive three kills mid-stream, running ones are re-adopted, all complete', async () => {
    const dir = tempDir('arbiter-crash-sim-');
    const args = ['--speed', String(SPEED)];
    const ledger: Ledger = { acked: new Map() };
    let server = await startServer(dir, args);
    const atKill = { running: 0, pending: 0, completed: 0, unanswered: 0, repeats: 0 };
    const perKill: string[] = [];

    // Three rounds, each a new mix (seed) killed at another moment: early in a stream that keeps
    // the fleet full; a few acknowledgements after a restart (re-adopted runs still going); late.
    const rounds = [
      { seed: 11, jobs: 100, killAfter: 40 },
      { seed: 22, jobs: 100, killAfter: 5 },
      { seed: 33, jobs: 100, killAfter: 75 },
    ];
    for (const [r, round] of rounds.entries()) {
      const jobs = jobMix(round.seed, round.jobs, `r${r}`);
      const result = await stream(server, jobs, {
        clients: 8,
        pauseMs: 40,
        seed: round.seed,
        killWhen: (acks, inFlight) => acks >= round.killAfter && inFlight > 0,
      });
      expect((await server.exited).signal).toBe('SIGKILL');
      for (const ack of result.acks) ledger.acked.set(ack.job.id, ack);
      expect(result.acks.length).toBeGreaterThanOrEqual(round.killAfter);
      // Requests were in flight at the kill (killWhen); those the server had answered before it
      // died still arrive, the others get no answer (unanswered): maybe stored, maybe not.
      // The answer shows the job as it is when it is sent: a pass may have started it already.
      expect(
        result.acks.map((a) => a.job.status).filter((s) => s !== 'pending' && s !== 'running'),
        'acknowledged as pending or running',
      ).toEqual([]);

      const disk = onDisk(dir);
      expectAckedOnDisk(ledger, disk);
      const statuses = [...disk.values()].map((j) => j.status);
      atKill.running += statuses.filter((s) => s === 'running').length;
      atKill.pending += statuses.filter((s) => s === 'pending').length;
      atKill.completed += statuses.filter((s) => s === 'completed').length;
      atKill.unanswered += result.unanswered.length;
      expect(statuses, `round ${r}: jobs running at the kill`).toContain('running');

      server = await startServer(dir, args);
      await expectRecovered(server, ledger, disk);
      const { repeats } = await resend(server, ledger, result);
      atKill.repeats += repeats;
      const n = (status: string): number => statuses.filter((s) => s === status).length;
      perKill.push(
        `kill ${r + 1}: ${n('running')} running, ${n('pending')} pending, ${n('completed')} completed on disk, ${result.unanswered.length} unanswered (${repeats} of them stored)`,
      );
    }
    // Over the three kills, the moments covered: some jobs had completed, some ran, some waited.
    expect(atKill.completed, 'jobs completed at a kill').toBeGreaterThan(0);
    expect(atKill.pending, 'jobs waiting at a kill').toBeGreaterThan(0);

    // The restarted server goes on scheduling: everything completes, and the fleet is free again.
    await settled(server, 90_000);
    const jobs = await allJobs(server);
    const names = [...jobs.values()].map((j) => j.name);
    expect(new Set(names).size, 'one job per Idempotency-Key (no duplicate from resending)').toBe(
      names.length,
    );
    expect(jobs.size).toBe(rounds.reduce((sum, r) => sum + r.jobs, 0));
    for (const [id, { job }] of ledger.acked) {
      const now = jobs.get(id)!;
      expect(now.status, `job ${id}`).toBe('completed');
      expect(submitted(now)).toEqual(submitted(job));
    }
    const fleet: FleetView = await ok(server, 'GET', '/v1/fleet');
    for (const pool of fleet.pools)
      for (const node of pool.nodes) expect(node.free, `${node.name} free at the end`).toBe(node.gpus);

    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    console.log(`simulated: ${ledger.acked.size} acknowledged; ${perKill.join('; ')}`);
  }, 240_000);

  // KNOWN BUG (reported; remove `.fails` once fixed): a re-adopted run is started again with its
  // whole time limit (LiveScheduler.recover -> runRequest passes job.timeLimit, not what is left
  // of it since runStart), so across a restart one run may last longer than timeLimit.
  it(
    'simulated executor: a re-adopted run keeps its time limit, counted from its start',
    async () => {
      const dir = tempDir('arbiter-crash-limit-');
      const args = ['--speed', '10'];
      let server = await startServer(dir, args);
      // 1000 s of work, a limit of 40 s: 4 s of wall time at speed 10.
      const reply = await call(server, 'POST', '/v1/jobs', {
        team: 'pretraining',
        gpus: 8,
        duration: 1000,
        timeLimit: 40,
      });
      const id = (reply.body as JobView).id;
      await until(server, (jobs) => jobs.get(id)?.status === 'running');
      await sleep(2_000);
      await crash(server);
      server = await startServer(dir, args);
      const jobs = await until(server, (all) => all.get(id)?.status === 'timed_out', 30_000);
      const job = jobs.get(id)!;
      const lasted = (Date.parse(job.endedAt!) - Date.parse(job.startedAt!)) / 1000;
      expect(lasted, 'wall seconds of the run (limit: 4)').toBeLessThan(5);
    },
    60_000,
  );

  it('local executor: running jobs are requeued and started again as new processes after kill -9', async () => {
    const dir = tempDir('arbiter-crash-local-');
    const args = ['--executor', 'local', '--gpus', '2', '--run-as', jobUser().name];
    let server = await startServer(dir, args);
    const marker = marked(dir);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const reply = await call(server, 'POST', '/v1/jobs', {
        team: 'default',
        gpus: 1,
        name: `sleeper-${i}`,
        command: 'sleep 30',
      });
      expect(reply.status, JSON.stringify(reply.body)).toBe(201);
      ids.push((reply.body as JobView).id);
    }
    const [first, second, third] = ids as [string, string, string];
    const before = await until(
      server,
      (jobs) => jobs.get(first)?.status === 'running' && jobs.get(second)?.status === 'running',
    );
    expect(before.get(third)!.status).toBe('pending');
    // The runs are stored before their processes start (persist, then act): wait for the processes.
    const oldRuns = await processes(marker, [`${first}-r1`, `${second}-r1`]);
    if (oldRuns !== null) expect([...oldRuns.keys()].sort()).toEqual([`${first}-r1`, `${second}-r1`]);

    await crash(server);
    const disk = onDisk(dir);
    expect([first, second, third].map((id) => disk.get(id)?.status)).toEqual([
      'running',
      'running',
      'pending',
    ]);

    server = await startServer(dir, args);
    const requeued = await loggedAtLeast(server, ['requeued a job that was running before the restart'], 2);
    expect(requeued.sort()).toEqual([first, second].sort());
    // Requeued (pending), then started again by the first pass: FIFO, so the same two run.
    const after = await until(
      server,
      (jobs) => jobs.get(first)?.status === 'running' && jobs.get(second)?.status === 'running',
    );
    expect(after.get(third)!.status).toBe('pending');
    for (const id of [first, second]) {
      expect(after.get(id)!.startedAt, `${id}: started at its first run`).toBe(before.get(id)!.startedAt);
      expect(after.get(id)!.placement).toEqual(before.get(id)!.placement);
      // The run is stored (and shown running) before its process starts and logs: wait for it.
      const logFile = path.join(dir, 'logs', `${id}.log`);
      const deadline = Date.now() + 10_000;
      let log = '';
      while (Date.now() < deadline && !(log = readFileSync(logFile, 'utf8')).includes(`run ${id}-r2 starts`)) await new Promise((r) => setTimeout(r, 50));
      expect(log).toContain(`run ${id}-r1 starts`);
      expect(log).toContain(`run ${id}-r2 starts`);
    }
    // Stored as running before the processes start (persist, then act): wait for them.
    const newRuns = await processes(marker, [`${first}-r2`, `${second}-r2`]);
    if (newRuns !== null && oldRuns !== null) {
      for (const id of [first, second]) {
        const group = newRuns.get(`${id}-r2`);
        expect(group, `a process for the new run of ${id}`).toBeDefined();
        expect(group).not.toBe(oldRuns.get(`${id}-r1`));
      }
    }

    // Cancel what is left and stop the server.
    for (const id of ids) expect((await call(server, 'POST', `/v1/jobs/${id}/cancel`)).status).toBe(200);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  }, 120_000);

  // KNOWN BUG (reported; remove `.fails` once fixed): a run's process group outlives a kill -9 of
  // the server (runs are detached), and the restarted server neither adopts nor stops it: the
  // requeued job runs twice at once, both runs on the same GPUs (CUDA_VISIBLE_DEVICES).
  it(
    'local executor: after kill -9 and a restart, a job that runs again has one process, not two',
    async () => {
      const dir = tempDir('arbiter-crash-orphan-');
      const args = ['--executor', 'local', '--gpus', '1', '--run-as', jobUser().name];
      let server = await startServer(dir, args);
      const marker = marked(dir);
      const reply = await call(server, 'POST', '/v1/jobs', { team: 'default', gpus: 1, command: 'sleep 30' });
      const id = (reply.body as JobView).id;
      await until(server, (jobs) => jobs.get(id)?.status === 'running');
      // The run is stored before its process starts (persist, then act): wait for the process.
      await processes(marker, [`${id}-r1`]);
      await crash(server);
      server = await startServer(dir, args);
      await until(server, (jobs) => jobs.get(id)?.status === 'running');
      expect(runProcesses(marker), 'needs /proc').not.toBeNull();
      // One run process: the old one re-adopted, or (as now) a new one and the old one stopped.
      const deadline = Date.now() + 5_000;
      let live = [...(runProcesses(marker)?.keys() ?? [])];
      while (live.length !== 1 && Date.now() < deadline) {
        await sleep(100);
        live = [...(runProcesses(marker)?.keys() ?? [])];
      }
      expect(live, 'run processes of the job').toHaveLength(1);
    },
    60_000,
  );
});

/** The marker of a local server's runs (ARBITER_INSTANCE, every process of a run inherits it): it finds them in /proc. */
function marked(dir: string): string {
  const marker = instanceOf(dir);
  markers.push(marker);
  return marker;
}

/** Waits until each of these runs has a process (or 10 s); all live runs, or null where /proc is not there. */
async function processes(marker: string, runs: readonly string[]): Promise<Map<string, number> | null> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = runProcesses(marker);
    if (found === null || runs.every((run) => found.has(run))) return found;
    if (Date.now() > deadline)
      throw new Error(
        `run processes ${JSON.stringify([...found.keys()])}, expected ${JSON.stringify(runs)} among them`,
      );
    await sleep(50);
  }
}

/** Polls the job list until `done` holds (or throws after `ms`). */
async function until(
  server: Server,
  done: (jobs: Map<string, JobView>) => boolean,
  ms = 20_000,
): Promise<Map<string, JobView>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const jobs = await allJobs(server);
    if (done(jobs)) return jobs;
    if (Date.now() > deadline)
      throw new Error(
        `not reached within ${ms / 1000} s: ${JSON.stringify([...jobs.values()].map((j) => [j.id, j.status]))}`,
      );
    await sleep(100);
  }
}

/**
 * The live run processes carrying `marker` in their environment, as ARBITER_RUN_ID -> process
 * group (the local executor starts each run's shell as the leader of a group of its own), or null
 * where /proc is not there to read.
 */
function runProcesses(marker: string): Map<string, number> | null {
  if (!existsSync('/proc/self/environ')) return null;
  const runs = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string;
    let stat: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone, or not ours
    }
    const vars = environ.split('\0');
    if (!vars.includes(`ARBITER_INSTANCE=${marker}`)) continue;
    // After the command name: state, ppid, pgrp, ...
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state === 'Z') continue;
    const run = vars.find((v) => v.startsWith('ARBITER_RUN_ID='))?.slice('ARBITER_RUN_ID='.length);
    if (run === undefined) continue; // the server itself
    runs.set(run, Number(pgrp));
  }
  return runs;
}
