// Sustained durable submissions per second of the live service, on loopback: a closed-loop load
// generator (node:http, keep-alive) against a real `arbiter serve` process.
//
//   npx tsc --outDir dist-bench --rootDir . --module NodeNext --moduleResolution NodeNext \
//     --target ES2022 --strict --skipLibCheck --types node bench/server/submit.ts
//   node dist-bench/bench/server/submit.js [options]          (from the repository root)
//
// Each configuration starts a fresh server (a new data directory, the demo lab of examples/lab,
// the simulated executor), then N connections each send POST /v1/jobs back to back for D seconds
// (the next request leaves when the previous answer is in: a closed loop). Every job asks for a
// billion seconds of work, so the first few fill the fleet and the rest wait: the pending queue
// grows by every submission, to tens of thousands. A 201 is counted only when it came (durable:
// the server answers after the group commit, WAL with synchronous=FULL).
//
// Printed: one markdown table of the configurations, then per configuration the latency over
// time as the queue grows; JSON goes to bench/results/server-submit.json (--out). With
// --cpu-prof the server runs under `node --cpu-prof` and its top functions are printed.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { SourceMap } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startPgCluster, type PgCluster } from '../../test/pg-harness.js';

/**
 * One token sends thousands of submissions a second here, above the server's default limit for a
 * token (2,000/s, for people and scripts, see docs/api.md "Limits"): the benchmark raises the
 * limits so that they are never reached, while the buckets still run (their cost is measured).
 * A --server-arg --rate-limit given later overrides it.
 */
const BENCH_RATE_LIMIT = ['--rate-limit', 'token=1000000/1000000,address=1000000/1000000'];

interface Options {
  connections: number[];
  durationS: number;
  warmupS: number;
  windowS: number;
  cpuProf: boolean;
  keep: boolean;
  serverArgs: string[];
  nodeArgs: string[];
  classes: string[];
  stores: ('sqlite' | 'postgres')[];
  out: string;
}

const HELP = `Usage: node dist-bench/bench/server/submit.js [options]   (from the repository root)
  --connections 8,64,256   concurrent keep-alive connections; one fresh server per value (default 64)
  --duration 30            seconds of load per configuration
  --warmup 2               first seconds left out of the totals (still in the time series)
  --window 5               seconds per row of the latency-over-time table
  --cpu-prof               run the server under node --cpu-prof and print its top functions
  --classes training,research   priority classes of the jobs, in turn (default: both; the demo
                           policy preempts research for training, after minRuntime)
  --stores sqlite,postgres the stores to measure, side by side at each connection count (default sqlite);
                           postgres: a throwaway cluster (test/pg-harness.ts, fsync on), a fresh database per row
  --server-arg ARG         one more argument for \`arbiter serve\` (repeatable)
  --node-arg ARG           one more flag for the server's node, e.g. --max-semi-space-size=64 (repeatable)
  --keep                   keep the data directories (and profiles) instead of removing them
  --out FILE               JSON output (default bench/results/server-submit.json)`;

function parseArgs(args: string[]): Options {
  // --option=value is --option value.
  const argv = args.flatMap((arg) => {
    const eq = arg.indexOf('=');
    return arg.startsWith('--') && eq > 2 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg];
  });
  const o: Options = {
    connections: [64],
    durationS: 30,
    warmupS: 2,
    windowS: 5,
    cpuProf: false,
    keep: false,
    serverArgs: [],
    nodeArgs: [],
    classes: ['training', 'research'],
    stores: ['sqlite'],
    out: 'bench/results/server-submit.json',
  };
  const value = (i: number): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${argv[i]} needs a value\n${HELP}`);
    return v;
  };
  const positive = (text: string, what: string): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${what}: expected a number above 0, got "${text}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    switch (arg) {
      case '--connections':
        o.connections = value(i)
          .split(',')
          .map((c) => Math.round(positive(c, '--connections')));
        i++;
        break;
      case '--duration':
        o.durationS = positive(value(i), '--duration');
        i++;
        break;
      case '--warmup':
        o.warmupS = Number(value(i));
        i++;
        break;
      case '--window':
        o.windowS = positive(value(i), '--window');
        i++;
        break;
      case '--cpu-prof':
        o.cpuProf = true;
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--server-arg':
        o.serverArgs.push(value(i));
        i++;
        break;
      case '--node-arg':
        o.nodeArgs.push(value(i));
        i++;
        break;
      case '--classes':
        o.classes = value(i)
          .split(',')
          .filter((c) => c !== '');
        i++;
        break;
      case '--stores':
        o.stores = value(i)
          .split(',')
          .map((s) => {
            if (s !== 'sqlite' && s !== 'postgres') throw new Error(`--stores: expected sqlite and/or postgres, got "${s}"`);
            return s;
          });
        i++;
        break;
      case '--out':
        o.out = value(i);
        i++;
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${HELP}\n`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg}\n${HELP}`);
    }
  }
  if (!(o.warmupS >= 0 && o.warmupS < o.durationS))
    throw new Error('--warmup: expected 0 <= warmup < duration');
  return o;
}

// ------------------------------------------------------------------ the server

interface Server {
  readonly child: ChildProcess;
  readonly url: string;
  readonly token: string;
  readonly dir: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function startServer(
  dir: string,
  nodeFlags: readonly string[],
  serverArgs: readonly string[],
): Promise<Server> {
  const logFile = path.join(dir, 'server.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [...nodeFlags, 'bin/arbiter.js', 'serve', '--data', dir, '--port', '0', '--no-demo-setup', ...BENCH_RATE_LIMIT, ...serverArgs],
    {
      stdio: ['ignore', fd, fd],
    },
  );
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = readFileSync(logFile, 'utf8');
    const url = /Arbiter is serving on (http:\/\/[\d.]+:\d+)/.exec(text)?.[1];
    if (url !== undefined)
      return { child, url, token: readFileSync(path.join(dir, 'admin-token'), 'utf8').trim(), dir, exited };
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`arbiter serve exited:\n${text}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`arbiter serve did not start within 30 s:\n${text}`);
    }
    await sleep(20);
  }
}

/** SIGTERM (a graceful stop, which also writes the --cpu-prof profile), SIGKILL after 30 s. */
async function stopServer(server: Server): Promise<void> {
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 30_000);
  await server.exited;
  clearTimeout(timer);
}

// ------------------------------------------------------------------ HTTP

interface Answer {
  readonly status: number;
  readonly body: string;
}

function send(
  agent: http.Agent,
  server: Server,
  method: string,
  route: string,
  body?: Buffer,
): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const request = http.request(
      `${server.url}${route}`,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${server.token}`,
          ...(body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': String(body.length) }),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

// The demo lab's leaf teams and what they may ask for; every job is valid and never rejected.
const TEAMS = ['pretraining', 'alignment', 'interp', 'serving', 'evals'] as const;
const FLAVORS: Record<(typeof TEAMS)[number], readonly (string | undefined)[]> = {
  pretraining: ['h100', undefined],
  alignment: ['h100', 'a100', undefined],
  interp: ['a100'],
  serving: ['h100', undefined],
  evals: ['h100', 'a100', undefined],
};

/** A rotating set of job bodies (JSON, built once): mixed teams, sizes, classes and flavors. */
function bodies(count: number, classes: readonly string[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const team = TEAMS[i % TEAMS.length]!;
    const flavors = FLAVORS[team];
    const flavor = flavors[Math.floor(i / TEAMS.length) % flavors.length];
    const job = {
      team,
      gpus: [1, 2, 4, 8][i % 4]!,
      class: classes[i % classes.length],
      name: `bench-${i}`,
      duration: 1e9,
      ...(flavor === undefined ? {} : { flavor }),
    };
    out.push(Buffer.from(JSON.stringify(job)));
  }
  return out;
}

// ------------------------------------------------------------------ the load

interface Sample {
  /** ms since the load started, when the request was sent. */
  readonly at: number;
  readonly ms: number;
  readonly status: number;
}

/** N connections (one keep-alive agent each, one socket), each request after the other, for durationS. */
async function load(
  server: Server,
  connections: number,
  durationS: number,
  classes: readonly string[],
): Promise<{ samples: Sample[]; failures: string[] }> {
  const payloads = bodies(997, classes);
  const samples: Sample[] = [];
  const failures: string[] = [];
  const t0 = performance.now();
  const end = t0 + durationS * 1000;
  let next = 0;
  const client = async (): Promise<void> => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      while (performance.now() < end) {
        const body = payloads[next++ % payloads.length]!;
        const start = performance.now();
        let status = 0;
        try {
          const answer = await send(agent, server, 'POST', '/v1/jobs', body);
          status = answer.status;
          if (status !== 201 && failures.length < 10) failures.push(`${status} ${answer.body.slice(0, 300)}`);
        } catch (error) {
          if (failures.length < 10) failures.push(error instanceof Error ? error.message : String(error));
        }
        samples.push({ at: start - t0, ms: performance.now() - start, status });
      }
    } finally {
      agent.destroy();
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  return { samples, failures };
}

const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

interface Stats {
  readonly submissions: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

function stats(samples: readonly Sample[], seconds: number): Stats {
  const ok = samples.filter((s) => s.status === 201);
  const sorted = ok.map((s) => s.ms).sort((a, b) => a - b);
  return {
    submissions: ok.length,
    perSecond: ok.length / seconds,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    p999Ms: percentile(sorted, 99.9),
    maxMs: sorted[sorted.length - 1] ?? NaN,
  };
}

interface Window extends Stats {
  readonly fromS: number;
  readonly toS: number;
  /** Jobs submitted (201) by the end of the window: the pending queue is this minus the ~100 that run. */
  readonly submittedByEnd: number;
}

/** Latency over time, windowS per row: the queue grows by every submission. */
function windows(samples: readonly Sample[], durationS: number, windowS: number): Window[] {
  const rows: Window[] = [];
  let total = 0;
  for (let from = 0; from < durationS - 1e-9; from += windowS) {
    const to = Math.min(durationS, from + windowS);
    const inside = samples.filter((s) => s.at >= from * 1000 && s.at < to * 1000);
    const row = stats(inside, to - from);
    total += row.submissions;
    rows.push({ fromS: from, toS: to, submittedByEnd: total, ...row });
  }
  return rows;
}

// ------------------------------------------------------------------ what the server says

/** Sum of the values of one metric's series in Prometheus text (optionally those with a label). */
function metric(text: string, name: string, label?: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (label !== undefined && !rest.includes(label)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

interface ServerSide {
  readonly pending: number;
  readonly running: number;
  readonly passes: number;
  readonly passSecondsSum: number;
  readonly passSecondsMean: number;
  readonly newestJob: string | null;
  readonly rssMiB: number;
  /** CPU seconds the server process used since it started. */
  readonly cpuSeconds: number;
}

async function serverSide(server: Server): Promise<ServerSide> {
  const agent = new http.Agent({ keepAlive: false });
  const text = (await send(agent, server, 'GET', '/metrics')).body;
  const newest = JSON.parse((await send(agent, server, 'GET', '/v1/jobs?limit=1')).body) as {
    jobs: { id: string }[];
  };
  const passes = metric(text, 'arbiter_pass_duration_seconds_count');
  const passSecondsSum = metric(text, 'arbiter_pass_duration_seconds_sum');
  return {
    pending: metric(text, 'arbiter_jobs', 'status="pending"'),
    running: metric(text, 'arbiter_jobs', 'status="running"'),
    passes,
    passSecondsSum,
    passSecondsMean: passes > 0 ? passSecondsSum / passes : NaN,
    newestJob: newest.jobs[0]?.id ?? null,
    rssMiB: metric(text, 'arbiter_process_process_resident_memory_bytes') / 2 ** 20,
    cpuSeconds: metric(text, 'arbiter_process_process_cpu_seconds_total'),
  };
}

/**
 * CPU seconds a PostgreSQL cluster has used so far: its postmaster (with the children it reaped)
 * and every live process it started (backends, WAL writer, checkpointer), from /proc (Linux).
 */
function clusterCpuSeconds(pg: PgCluster): number {
  const postmaster = Number(readFileSync(path.join(pg.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const CLOCK_TICKS = 100; // USER_HZ, what /proc counts in: 100 on Linux
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // After the command's ")": state, ppid, ..., utime, stime, cutime, cstime (fields 3, 4, 14 to 17).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    if (Number(entry) === postmaster) ticks += f[11]! + f[12]! + f[13]! + f[14]!;
    else if (f[1] === postmaster) ticks += f[11]! + f[12]!;
  }
  return ticks / CLOCK_TICKS;
}

// ------------------------------------------------------------------ CPU profiles

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: CallFrame;
    readonly children?: readonly number[];
  }[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

interface TopFunction {
  readonly name: string;
  readonly where: string;
  readonly selfPct: number;
  readonly totalPct: number;
}

const sourceMaps = new Map<string, SourceMap | null>();

/** file:line of a frame, in the TypeScript source when the compiled file has a source map. */
function where(frame: CallFrame, root: string): string {
  if (!frame.url) return '(native)';
  if (!frame.url.startsWith('file://')) return `${frame.url}:${frame.lineNumber + 1}`;
  const file = fileURLToPath(frame.url);
  let map = sourceMaps.get(file);
  if (map === undefined) {
    try {
      map = existsSync(`${file}.map`)
        ? new SourceMap(
            JSON.parse(readFileSync(`${file}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0],
          )
        : null;
    } catch {
      map = null;
    }
    sourceMaps.set(file, map);
  }
  // findEntry gives {} where the map has nothing for the position.
  const entry: { originalSource?: string; originalLine?: number } | undefined = map?.findEntry(
    frame.lineNumber,
    frame.columnNumber,
  );
  if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
    const source = entry.originalSource.startsWith('file://')
      ? fileURLToPath(entry.originalSource)
      : path.resolve(path.dirname(file), entry.originalSource);
    return `${path.relative(root, source)}:${entry.originalLine + 1}`;
  }
  return `${path.relative(root, file)}:${frame.lineNumber + 1}`;
}

/** The functions with the most self time, with the share of samples that have them on the stack. */
function topFunctions(
  profile: CpuProfile,
  n: number,
  root: string,
): { top: TopFunction[]; idlePct: number; gcPct: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const key = (f: CallFrame): string =>
    `${f.functionName || '(anonymous)'}\u0000${f.url}\u0000${f.lineNumber}\u0000${f.columnNumber}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const frames = new Map<string, CallFrame>();
  let all = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt =
      profile.timeDeltas[i + 1] ??
      (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length);
    const leaf = byId.get(profile.samples[i]!);
    if (!leaf) continue;
    all += dt;
    const k = key(leaf.callFrame);
    frames.set(k, leaf.callFrame);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id)!;
      const nk = key(node.callFrame);
      if (seen.has(nk)) continue;
      seen.add(nk);
      frames.set(nk, node.callFrame);
      total.set(nk, (total.get(nk) ?? 0) + dt);
    }
  }
  const pctOf = (name: string): number =>
    (100 *
      [...self.entries()].filter(([k]) => k.startsWith(`${name}\u0000`)).reduce((s, [, v]) => s + v, 0)) /
    all;
  const top = [...self.entries()]
    .filter(([k]) => !k.startsWith('(idle)\u0000'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, ms]) => {
      const frame = frames.get(k)!;
      return {
        name: frame.functionName || '(anonymous)',
        where: where(frame, root),
        selfPct: (100 * ms) / all,
        totalPct: (100 * (total.get(k) ?? ms)) / all,
      };
    });
  return { top, idlePct: pctOf('(idle)'), gcPct: pctOf('(garbage collector)') };
}

/** The functions (not only leaves) with the most time on the stack: where the time goes, by caller. */
function topInclusive(profile: CpuProfile, n: number, root: string): TopFunction[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const total = new Map<string, { frame: CallFrame; ms: number }>();
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const leaf = byId.get(profile.samples[i]!);
    if (!leaf || leaf.callFrame.functionName === '(idle)') continue;
    busy += dt;
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (!f.url.includes('/dist/')) continue; // Arbiter's own functions
      const k = `${f.functionName}\u0000${f.url}\u0000${f.lineNumber}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const entry = total.get(k) ?? { frame: f, ms: 0 };
      entry.ms += dt;
      total.set(k, entry);
    }
  }
  return [...total.values()]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, n)
    .map(({ frame, ms }) => ({
      name: frame.functionName || '(anonymous)',
      where: where(frame, root),
      selfPct: NaN,
      totalPct: (100 * ms) / busy,
    }));
}

// ------------------------------------------------------------------ main

interface Result {
  readonly store: 'sqlite' | 'postgres';
  readonly connections: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly total: Stats;
  readonly windows: Window[];
  readonly failures: number;
  readonly failureSamples: string[];
  /** The slowest requests: when they were sent (s since the load began) and how long they took. */
  readonly slowest: { atS: number; ms: number }[];
  readonly server: ServerSide;
  /** CPU seconds of the load generator (this process) during the load. */
  readonly loadCpuSeconds: number;
  /** CPU seconds of the PostgreSQL cluster during the load (NaN for SQLite, in the server's process). */
  readonly databaseCpuSeconds: number;
  readonly profile?: {
    file: string;
    idlePct: number;
    gcPct: number;
    self: TopFunction[];
    inclusive: TopFunction[];
  };
}

const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '-');
const f0 = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');

async function measure(o: Options, connections: number, root: string, store: 'sqlite' | 'postgres', pg: PgCluster | null): Promise<Result> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'arbiter-bench-submit-'));
  const profDir = path.join(dir, 'profile');
  const server = await startServer(
    dir,
    [...o.nodeArgs, ...(o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [])],
    [...(store === 'postgres' && pg ? ['--database', await pg.createDatabase()] : []), ...o.serverArgs],
  );
  try {
    const cpu0 = process.cpuUsage();
    const db0 = store === 'postgres' && pg ? clusterCpuSeconds(pg) : NaN;
    const { samples, failures } = await load(server, connections, o.durationS, o.classes);
    const cpu = process.cpuUsage(cpu0);
    const databaseCpuSeconds = store === 'postgres' && pg ? clusterCpuSeconds(pg) - db0 : NaN;
    const measured = samples.filter((s) => s.at >= o.warmupS * 1000);
    const side = await serverSide(server);
    await stopServer(server);
    let profile: Result['profile'];
    if (o.cpuProf) {
      const file = readdirSync(profDir).find((name) => name.endsWith('.cpuprofile'));
      if (file !== undefined) {
        const data = JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as CpuProfile;
        const { top, idlePct, gcPct } = topFunctions(data, 25, root);
        const kept = path.join(path.dirname(path.resolve(o.out)), `server-submit-c${connections}.cpuprofile`);
        mkdirSync(path.dirname(kept), { recursive: true });
        writeFileSync(kept, JSON.stringify(data));
        profile = {
          file: path.relative(root, kept),
          idlePct,
          gcPct,
          self: top,
          inclusive: topInclusive(data, 25, root),
        };
      }
    }
    return {
      store,
      connections,
      durationS: o.durationS,
      warmupS: o.warmupS,
      total: stats(measured, o.durationS - o.warmupS),
      windows: windows(samples, o.durationS, o.windowS),
      failures: samples.filter((s) => s.status !== 201).length,
      failureSamples: failures,
      slowest: [...samples]
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 5)
        .map((x) => ({ atS: Math.round(x.at) / 1000, ms: Math.round(x.ms * 10) / 10 })),
      server: side,
      loadCpuSeconds: (cpu.user + cpu.system) / 1e6,
      databaseCpuSeconds,
      ...(profile ? { profile } : {}),
    };
  } finally {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`kept ${dir}\n`);
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const root = process.cwd();
  if (!existsSync(path.join(root, 'bin/arbiter.js')) || !existsSync(path.join(root, 'dist/cli/main.js')))
    throw new Error('run from the repository root, after `npx tsc -p tsconfig.build.json`');
  const results: Result[] = [];
  const pg = o.stores.includes('postgres') ? await startPgCluster({ durable: true }) : null;
  try {
    // Side by side: at each connection count, each store in turn.
    for (const connections of o.connections)
      for (const store of o.stores) {
        process.stderr.write(`${store}, ${connections} connections, ${o.durationS} s ...\n`);
        results.push(await measure(o, connections, root, store, pg));
      }
  } finally {
    await pg?.stop();
  }

  const lines: string[] = [];
  lines.push(
    `POST /v1/jobs on loopback, closed loop (node:http keep-alive, one socket per connection), ${o.durationS} s per row, first ${o.warmupS} s left out; ` +
      `jobs of classes ${o.classes.join(', ')} in turn${o.nodeArgs.length > 0 ? `; server node flags ${o.nodeArgs.join(' ')}` : ''}${o.serverArgs.length > 0 ? `; serve ${o.serverArgs.join(' ')}` : ''}; ` +
      `${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}; load generator and server on the same host.`,
    '',
    '| store | connections | durable submissions/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | non-201 | pending at end | passes | mean pass ms | server CPU s | database CPU s | load-gen CPU s | server RSS MiB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of results) {
    const t = r.total;
    lines.push(
      `| ${r.store} | ${r.connections} | ${f0(t.perSecond)} | ${f1(t.p50Ms)} | ${f1(t.p90Ms)} | ${f1(t.p99Ms)} | ${f1(t.p999Ms)} | ${f1(t.maxMs)} | ${r.failures} | ${f0(r.server.pending)} | ${f0(r.server.passes)} | ${f1(r.server.passSecondsMean * 1000)} | ${f1(r.server.cpuSeconds)} | ${f1(r.databaseCpuSeconds)} | ${f1(r.loadCpuSeconds)} | ${f0(r.server.rssMiB)} |`,
    );
  }
  if (o.stores.length === 2)
    for (const connections of o.connections) {
      const [a, b] = o.stores.map((s) => results.find((r) => r.store === s && r.connections === connections)?.total.perSecond ?? NaN);
      lines.push('', `${connections} connections: ${o.stores[1]} / ${o.stores[0]} throughput = ${f1((b! / a!) * 100)} %`);
    }
  for (const r of results) {
    lines.push(
      '',
      `Latency as the queue grows (${r.store}, ${r.connections} connections):`,
      '',
      '| seconds | submitted by then | submissions/s | p50 ms | p99 ms | max ms |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const w of r.windows)
      lines.push(
        `| ${f0(w.fromS)}-${f0(w.toS)} | ${f0(w.submittedByEnd)} | ${f0(w.perSecond)} | ${f1(w.p50Ms)} | ${f1(w.p99Ms)} | ${f1(w.maxMs)} |`,
      );
    lines.push(
      '',
      `Slowest requests (sent at s: ms): ${r.slowest.map((x) => `${x.atS}: ${x.ms}`).join(', ')}`,
    );
    if (r.failureSamples.length > 0)
      lines.push('', `Non-201 answers (first ${r.failureSamples.length}): ${r.failureSamples.join(' | ')}`);
    if (r.profile) {
      lines.push(
        '',
        `Server CPU profile (${r.connections} connections, ${r.profile.file}): idle ${f1(r.profile.idlePct)} %, GC ${f1(r.profile.gcPct)} %. Top self time:`,
        '',
        '| self % | on stack % | function | where |',
        '|---:|---:|---|---|',
      );
      for (const fn of r.profile.self)
        lines.push(`| ${f1(fn.selfPct)} | ${f1(fn.totalPct)} | ${fn.name} | ${fn.where} |`);
      lines.push(
        '',
        "Arbiter's functions by share of busy (non-idle) samples with them on the stack:",
        '',
        '| on stack % | function | where |',
        '|---:|---|---|',
      );
      for (const fn of r.profile.inclusive) lines.push(`| ${f1(fn.totalPct)} | ${fn.name} | ${fn.where} |`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);

  mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  writeFileSync(
    o.out,
    `${JSON.stringify(
      {
        benchmark: 'server-submit',
        date: new Date().toISOString(),
        tool: 'bench/server/submit.ts: closed-loop load generator, node:http keep-alive agents, one socket per connection',
        host: {
          cpus: os.cpus().length,
          model: os.cpus()[0]?.model.trim() ?? null,
          node: process.version,
          platform: `${os.platform()} ${os.release()}`,
        },
        options: o,
        results,
      },
      null,
      2,
    )}\n`,
  );
  process.stderr.write(`wrote ${o.out}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
