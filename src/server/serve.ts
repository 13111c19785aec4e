// `arbiter serve` start-up (docs/api.md): the data directory, the first start (fleet and
// policy become version 1, an admin token is written to DIR/admin-token and printed once),
// later starts (what is stored is reused; a different --policy or --cluster is refused),
// the executor, the live loop, the HTTP server, and a graceful shutdown.
import { randomUUID } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { parseCluster } from '../core/config/cluster.js';
import { parsePolicy } from '../core/config/policy.js';
import { parseTrace } from '../core/config/trace.js';
import type { Fleet, Policy, Result } from '../core/model.js';
import { formatIssue } from '../core/model.js';
import type { Executor } from '../executors/port.js';
import { createLocalExecutor, describeLocalNode, lookupRunUser, type RunAs, type RunUser } from '../executors/local.js';
import { ExecutorError } from '../executors/port.js';
import { allTeams } from '../core/config/policy.js';
import { createSimulatedExecutor } from '../executors/simulated.js';
import { createSlurmExecutor } from '../executors/slurm.js';
import { fleetYaml, matchFleet, readSlurmPools, type SlurmPool } from '../executors/slurm-fleet.js';
import type { Role, Store, StoredJob } from '../storage/port.js';
import { describeStore, openStore } from '../storage/open.js';
import { DataInUse, lockDataDirectory } from '../storage/lock.js';
import type { LeaderInfo, Leadership } from '../storage/leadership.js';
import type { PostgresStore } from '../storage/postgres.js';
import { buildStandbyApp } from './standby.js';
import { hostname } from 'node:os';
import { pino } from 'pino';
import { buildApp } from './app.js';
import { Changes } from './changes.js';
import { newToken } from './auth.js';
import { LiveScheduler, type PreemptionCause } from './live.js';
import { notifyPreempted, notifyProposal, watchGuaranteedWaits, withinTree } from './notifications.js';
import { readWebhookConfig, WebhookNotifier } from './webhooks.js';
import type { Proposal } from '../governance/lifecycle.js';
import { AuditLog, auditKeyFile, checkInstallationKey } from './audit.js';
export { AuditRefusal } from './audit.js';
import type { AuditOptions } from './audit.js';
import { canonicalJson } from '../governance/canonical-json.js';
import { Governance } from './governance.js';
import { createMetrics } from './metrics.js';
import type { Limits } from './limits.js';

export interface ServeOptions {
  readonly cluster?: string | undefined;
  readonly policy?: string | undefined;
  /** Admin token, audit key, logs; and the SQLite database unless `database` is given. */
  readonly data: string;
  /** A postgres:// URL: the store is that PostgreSQL database instead of DATA/arbiter.db. */
  readonly database?: string | undefined;
  readonly port: number;
  readonly host: string;
  readonly executor: 'simulated' | 'local' | 'slurm';
  /** Slurm executor: the partition Arbiter schedules (default "gpu"). */
  readonly slurmPartition?: string | undefined;
  /** Slurm executor: folder of Slurm's commands (default: found on PATH). */
  readonly slurmBin?: string | undefined;
  /** Slurm executor: team -> Slurm account (`*` -> `team`: every team's own name). */
  readonly slurmAccounts?: Readonly<Record<string, string>>;
  /** Slurm executor: poll intervals, sbatch at once (--slurm-pace), grace period (--slurm-grace); defaults in the executor. */
  readonly slurmPace?: { readonly pollMs?: number; readonly fastPollMs?: number; readonly submitsAtOnce?: number; readonly graceSeconds?: number; readonly endHints?: boolean };
  readonly speed: number;
  readonly gpus?: number | undefined;
  /** Local executor: the unprivileged user jobs run as (required when the server runs as root). */
  readonly runAs?: string | undefined;
  /** Local executor: team -> user, for a team and its subteams (needs runAs for the others). */
  readonly runAsTeams?: Readonly<Record<string, string>> | undefined;
  /** The most jobs an attached trace of a proposal may have (default 100,000). */
  readonly maxTraceJobs?: number | undefined;
  /** The built-in demo lab (used when --cluster/--policy are not given). */
  readonly demoCluster: string;
  readonly demoPolicy: string;
  /** The demo lab's workload (canonical CSV), submitted at its first start. */
  readonly demoJobs?: string | undefined;
  /**
   * First start of the demo lab (simulated executor, no --cluster/--policy): also write tokens
   * for a council member, a lead of every team and a member of every leaf team to
   * DATA/tokens/<user>.token, and submit the demo workload. Default true.
   */
  readonly demoSetup?: boolean;
  readonly log?: boolean;
  /** Rate limits, timeouts and body sizes of the HTTP API (default: DEFAULT_LIMITS). */
  readonly limits?: Limits | undefined;
  /** The audit log's private key (PEM), kept outside the data directory (default DATA/audit-key.pem). */
  readonly auditKey?: string | undefined;
  /** Every checkpoint is appended to this file; the start verifies the log against its last one. */
  readonly auditWitness?: string | undefined;
  /** Every checkpoint is POSTed (JSON) to this URL, in the background. */
  readonly auditWitnessUrl?: string | undefined;
  /** Resolves when the server is asked to stop (a signal): a standby waiting for the lock stops then. */
  readonly stop?: Promise<unknown> | undefined;
  /** The webhook configuration file (docs/webhooks.md). */
  readonly webhooks?: string | undefined;
  /** The operator accepts entries after the last checkpoint (checked by hand) and lets the server sign them. */
  readonly allowUnsignedTail?: boolean | undefined;
  /** Where start-up messages go (stdout by default). */
  readonly print?: (line: string) => void;
}

/** Start-up refused because of the environment: the port or the data is taken (exit 1). */
export class StartupFailure extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'StartupFailure';
  }
}

/** Start-up refused because of what the user gave (exit 2). */
export class StartupError extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'StartupError';
  }
}

export interface RunningServer {
  readonly url: string;
  readonly live: LiveScheduler;
  /** Stops serving and releases everything, the locks last (idempotent). */
  close(): Promise<void>;
  /**
   * PostgreSQL: resolves if this server is deposed (it lost the leader lock and another server
   * led meanwhile): it must close, and may start again as a standby. Never for SQLite.
   */
  readonly lost: Promise<Error>;
}

/** A standby was asked to stop before it ever led (a signal): nothing to report but that. */
export class StoppedAsStandby extends Error {
  constructor(readonly why: unknown) {
    super(`stopped while a standby (${String(why)})`);
    this.name = 'StoppedAsStandby';
  }
}

const clock = (): number => Date.now() / 1000;

/** Named in every impact report, so a report says which engine made it. */
const ENGINE_VERSION = `arbiter-${(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version}`;

function valid<T>(result: Result<T>): T {
  if (!result.ok) throw new StartupError(result.issues.map(formatIssue));
  return result.value;
}

function readInput(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new StartupError([`${path}: cannot read this file (given as ${option})`]);
  }
}


/** The fleet of the local executor: this host as one node. */
async function localFleetText(gpus: number | undefined): Promise<{ text: string; flavor: string; gpus: number }> {
  const node = await describeLocalNode(gpus === undefined ? {} : { gpus });
  return {
    text: `# This host, found at first start.\npools:\n  - name: ${node.name}\n    flavor: ${node.flavor}\n    nodes: 1\n    gpusPerNode: ${node.gpus}\n`,
    flavor: node.flavor,
    gpus: node.gpus,
  };
}

/**
 * The data directory is the server's alone: 0700, and what is directly in it 0600 (files) or
 * 0700 (directories), whatever modes an older version or an operator left there. With umask 077
 * (set before), everything created later in it is too: the database, its WAL and SHM, tokens,
 * the audit key, logs and pid files.
 */
function secureDataDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    for (const name of readdirSync(dir)) {
      const file = join(dir, name);
      const info = lstatSync(file);
      if (info.isDirectory()) chmodSync(file, 0o700);
      else if (info.isFile()) chmodSync(file, 0o600);
    }
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new StartupError([`${dir}: cannot make the data directory private to this user (0700, files 0600): ${why}; it must belong to the user the server runs as`]);
  }
}

/** Marks the runs of this data directory's server (ARBITER_INSTANCE): a restart finds what they left. */
function instanceId(dir: string): string {
  const file = join(dir, 'instance-id');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const id = randomUUID();
    writeFileSync(file, `${id}\n`, { mode: 0o600 });
    return id;
  }
}

/**
 * `--run-as` and `--run-as-team` (docs/architecture.md, "Job isolation"). Root must name a user:
 * a job run as root could read the admin token and the audit key and become admin. Switching
 * user needs root (setuid/setgid), so a server that is not root refuses them.
 */
export async function resolveRunAs(
  options: Pick<ServeOptions, 'executor' | 'runAs' | 'runAsTeams'>,
  uid: number | undefined = process.getuid?.(),
): Promise<RunAs | null> {
  const teams = Object.entries(options.runAsTeams ?? {});
  if (options.executor !== 'local') {
    if (options.runAs !== undefined || teams.length > 0) throw new StartupError(['--run-as and --run-as-team apply to --executor local only']);
    return null;
  }
  if (uid !== 0) {
    if (options.runAs !== undefined || teams.length > 0) {
      throw new StartupError([
        `--run-as: switching to another user needs the server to start as root (it uses setuid/setgid when it starts a job; this server runs as uid ${uid ?? '?'}). Start it as root with --run-as USER, or without --run-as to run jobs as this user`,
      ]);
    }
    return null;
  }
  if (options.runAs === undefined) {
    throw new StartupError([
      '--executor local as root needs --run-as USER: a job run as root could read the admin token and the audit key in the data directory and become admin. Name an unprivileged user for jobs (e.g. create one with `useradd --system --no-create-home --shell /usr/sbin/nologin arbiter-job` and pass --run-as arbiter-job)',
    ]);
  }
  const problems: string[] = [];
  const lookup = async (name: string, option: string): Promise<RunUser | null> => {
    try {
      return await lookupRunUser(name, option);
    } catch (error) {
      if (error instanceof ExecutorError) {
        problems.push(error.message);
        return null;
      }
      throw error;
    }
  };
  const fallback = await lookup(options.runAs, '--run-as');
  const byTeam = new Map<string, RunUser>();
  for (const [team, name] of teams) {
    const user = await lookup(name, `--run-as-team ${team}=${name}`);
    if (user) byTeam.set(team, user);
  }
  if (problems.length > 0 || !fallback) throw new StartupError(problems);
  return { default: fallback, teams: byTeam };
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const logger = pino({ level: 'info', enabled: options.log !== false });
  // Before any file is made: the server's files are readable by its own user only.
  process.umask(0o077);
  const runAs = await resolveRunAs(options);
  if (options.executor === 'local' && runAs === null) {
    print(`Warning: jobs run as this server's user (uid ${process.getuid?.() ?? '?'}) and can read the data directory, its admin token and audit key; start as root with --run-as USER to keep them apart (docs/architecture.md, "Job isolation")`);
  }
  // Undone in reverse order when start-up fails part way, and by close().
  const undo: (() => Promise<void> | void)[] = [];
  const unwind = async (): Promise<void> => {
    for (const step of undo.splice(0).reverse()) await Promise.resolve(step()).catch(() => undefined);
  };
  try {
    // Before anything is opened: a port that is taken ends the start here (checked again by
    // listen, since another process may take it in between), and so does a data directory or
    // database that another server holds (storage/lock.ts). Nothing is read or written before.
    await assertPortFree(options.port, options.host);
    const webhooksText = options.webhooks === undefined ? undefined : readInput(options.webhooks, '--webhooks');
    if (webhooksText !== undefined && options.webhooks !== undefined) {
      const early = readWebhookConfig(webhooksText, options.webhooks, null);
      if ('problems' in early) throw new StartupError(early.problems);
    }
    mkdirSync(options.data, { recursive: true, mode: 0o700 });
    const dataLock = await lockOrRefuse(() => lockDataDirectory(options.data));
    undo.push(() => dataLock.release());
    secureDataDirectory(options.data);
    if (dataLock.previous?.pid !== undefined)
      print(`The previous server on ${options.data} (pid ${dataLock.previous.pid}) did not stop cleanly (killed or crashed); starting from what it stored.`);
    const keyFile = auditKeyFile(options.data, options.auditKey);
    // PostgreSQL: the leader lock, or standing by until it is free (storage/leadership.ts).
    let leadership: Leadership | null = null;
    let standby: Standby | null = null;
    if (options.database !== undefined) {
      // Loaded here: a SQLite user never loads pg.
      const { openLeadership } = await import('../storage/leadership.js');
      const held = await openLeadership(options.database, (line) => logger.warn({}, line));
      leadership = held;
      undo.push(() => held.release());
      if (!(await held.tryAcquire())) {
        standby = await standBy(held, options, keyFile, print);
        undo.push(() => standby?.close());
      }
    }

    const store = await openStore({ data: options.data, database: options.database });
    undo.push(() => store.close());
    await store.migrate();
    if (leadership) {
      // The epoch moves on (waiting for the last leader's open write transactions), and every
      // write of this server is fenced with it from now on.
      await leadership.lead(standby?.url ?? null, instanceId(options.data));
      (store as PostgresStore).fence(leadership);
    }
    // One installation, one signing key: a server given another key is refused here, in words.
    const stored = await store.checkpoints();
    checkInstallationKey(keyFile, stored.at(-1)?.publicKey ?? null, describeStore(options));
    // The log is verified before anything stored is used (the policy in force, tokens,
    // proposals): a database edited behind the log's back is refused, never signed.
    const firstStart = (await store.currentPolicy()) === null && (await store.currentFleet()) === null;
    const auditOptions: AuditOptions = {
      keyFile,
      witnessFile: options.auditWitness,
      witnessUrl: options.auditWitnessUrl,
      allowUnsignedTail: options.allowUnsignedTail,
      firstStart,
      logger,
    };
    // A log that does not verify: AuditRefusal (the CLI exits 1 with its lines).
    const openAudit = (): Promise<AuditLog> => AuditLog.open(store, clock, auditOptions);
    const earlyAudit = firstStart ? null : await openAudit();
    if (earlyAudit) undo.push(() => earlyAudit.close());
    const partition = options.slurmPartition ?? 'gpu';
    const slurmPools = options.executor === 'slurm' ? await readPools(options, partition) : null;
    const { fleet, policy, policyVersion, policyText, demo } = await loadOrInitialize(store, options, print, slurmPools);
    // The fleet Arbiter schedules must be the partition's, node for node (docs/slurm.md).
    const slurmNodes = slurmPools ? matchFleet(fleet, slurmPools, partition) : null;
    if (slurmNodes && slurmNodes.problems.length > 0) throw new StartupError([`the fleet does not match Slurm partition "${partition}":`, ...slurmNodes.problems.map((p) => `  ${p}`)]);
    const audit = earlyAudit ?? (await openAudit());
    if (!earlyAudit) undo.push(() => audit.close());
    if (runAs) {
      const known = allTeams(policy);
      const unknown = [...runAs.teams.keys()].filter((team) => !known.has(team));
      if (unknown.length > 0) throw new StartupError(unknown.map((team) => `--run-as-team: unknown team "${team}"; teams: ${[...known.keys()].join(', ')}`));
    }
    // Webhooks (docs/webhooks.md): read and checked before anything runs; delivered in the background.
    let liveRef: LiveScheduler | null = null;
    let notifier: WebhookNotifier | null = null;
    if (options.webhooks !== undefined && webhooksText !== undefined) {
      const read = readWebhookConfig(webhooksText, options.webhooks, new Set(allTeams(policy).keys()));
      if ('problems' in read) throw new StartupError(read.problems);
      notifier = new WebhookNotifier({ config: read.config, within: (team, ancestor) => withinTree(liveRef?.policy.policy.teams ?? policy.teams, team, ancestor), logger, clock });
      const n = notifier;
      undo.push(() => n.close());
    }
    const executor: Executor =
      slurmNodes
        ? await createSlurmExecutor({
            partition,
            commands: { bin: options.slurmBin },
            nodes: slurmNodes.nodes,
            ...(options.slurmAccounts && Object.keys(options.slurmAccounts).length > 0 ? { accounts: slurmAccountMap(options.slurmAccounts, policy) } : {}),
            outputDir: join(options.data, 'logs'),
            instance: leadership?.installation ?? instanceId(options.data),
            ...options.slurmPace,
            ...(options.slurmPace?.endHints === false ? { endDir: null } : {}),
          })
        : options.executor === 'local'
        ? await createLocalExecutor({
            ...(options.gpus !== undefined ? { gpus: options.gpus } : {}),
            logDir: join(options.data, 'logs'),
            instance: leadership?.installation ?? instanceId(options.data),
            ...(runAs ? { runAs } : {}),
          })
        : createSimulatedExecutor({ speed: options.speed });
    undo.push(() => executor.close());
    let governanceRef: Governance | null = null;
    let auditRef: AuditLog | null = null;
    const metrics = createMetrics(
      () => liveRef,
      () => {
        if (!governanceRef || !auditRef) return null;
        const latest = auditRef.latestCheckpoint();
        return { proposals: governanceRef.countByStatus(), auditEntries: auditRef.size, lastCheckpoint: latest ? Date.parse(latest.time) / 1000 : null };
      },
      clock,
      () => notifier?.stats() ?? null,
    );
    const changes = new Changes();
    const live = await LiveScheduler.start({
      store,
      executor,
      fleet,
      policy,
      policyVersion,
      policyText,
      clock,
      speed: options.executor === 'simulated' ? options.speed : 1,
      logger,
      hooks: {
        onPass: (_result, seconds) => metrics.passSeconds.observe(seconds),
        onStart: (_job, waited, inside) => {
          if (inside) metrics.guaranteedStartWait.observe(waited);
        },
        onReclaim: (seconds) => metrics.reclaimSeconds.observe(seconds),
        ...(notifier ? { onPreempt: (victim: StoredJob, by: StoredJob, cause: PreemptionCause) => notifyPreempted(notifier, victim, by, cause, clock()) } : {}),
        onChange: () => changes.notify('jobs'),
      },
    });
    undo.push(() => live.close());
    liveRef = live;
    if (notifier) {
      const stopWatch = watchGuaranteedWaits(notifier, () => liveRef, clock, notifier.config.waitingGrace);
      undo.push(stopWatch);
    }
    if (demo && options.demoJobs !== undefined) await submitDemoJobs(live, options.demoJobs, fleet, policy, print);
    // Governance writes through the signing store: each write signs its entries in its own transaction.
    const governance = await Governance.open({ store: audit.signingStore, live, fleet, clock, logger, engineVersion: ENGINE_VERSION, ...(notifier ? { onProposal: (p: Proposal, previous: Proposal['status'] | null) => notifyProposal(notifier, p, previous) } : {}), ...(options.maxTraceJobs !== undefined ? { maxTraceJobs: options.maxTraceJobs } : {}) });
    undo.push(() => governance.close());
    governanceRef = governance;
    auditRef = audit;
    const app = await buildApp({ live, store, fleet, governance, audit, executorKind: options.executor, storeKind: options.database !== undefined ? 'postgres' : 'sqlite', metrics, clock, logger, changes, ...(options.limits ? { limits: options.limits } : {}), ...(leadership ? { leadership } : {}) });
    undo.push(() => app.close()); // stop accepting; in-flight requests finish
    let address: string;
    // A standby that took over serves on the port it stood by on.
    const port = standby?.port ?? options.port;
    await standby?.close();
    try {
      address = await app.listen({ port, host: options.host });
    } catch (error) {
      throw listenFailure(error, { port, host: options.host }) ?? error;
    }
    const url = address.replace('0.0.0.0', '127.0.0.1');
    dataLock.serving(url);
    await leadership?.serving(advertised(url, options.host));
    print(`Arbiter is serving on ${url} (policy version ${policyVersion}, ${options.executor} executor, data in ${options.data}${options.database !== undefined ? `, database ${describeStore(options)}` : ''})`);
    let closing: Promise<void> | null = null;
    const close = (): Promise<void> => (closing ??= unwind());
    const lost = leadership ? leadership.deposed : new Promise<Error>(() => undefined);
    return { url, live, close, lost };
  } catch (error) {
    await unwind();
    throw error;
  }
}

/**
 * Team -> Slurm account, from --slurm-account: each named team (a subteam takes its nearest
 * ancestor's, see accountOf); `*=team` gives every team of the policy its own name. An unknown
 * team is refused.
 */
function slurmAccountMap(given: Readonly<Record<string, string>>, policy: Policy): Map<string, string> {
  const known = allTeams(policy);
  const unknown = Object.keys(given).filter((team) => team !== '*' && !known.has(team));
  if (unknown.length > 0) throw new StartupError(unknown.map((team) => `--slurm-account: unknown team "${team}"; teams: ${[...known.keys()].join(', ')}`));
  const accounts = new Map<string, string>();
  if (given['*'] === 'team') for (const team of known.keys()) accounts.set(team, team);
  for (const [team, account] of Object.entries(given)) if (team !== '*') accounts.set(team, account);
  return accounts;
}

/** The partition's pools, or a StartupError quoting why Slurm could not tell. */
async function readPools(options: ServeOptions, partition: string): Promise<SlurmPool[]> {
  try {
    return await readSlurmPools({ bin: options.slurmBin }, partition);
  } catch (error) {
    if (error instanceof ExecutorError) throw new StartupError([`--executor slurm: cannot read the nodes of Slurm partition "${partition}": ${error.message}`]);
    throw error;
  }
}

/** Where the leader tells standbys and clients it serves: the host's name for a wildcard address. */
function advertised(url: string, host: string): string {
  return host === '0.0.0.0' || host === '::' ? url.replace(/\/\/[^/]+:(\d+)/, `//${hostname()}:$1`) : url;
}

interface Standby {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves as a standby (server/standby.ts) until this server holds the leader lock: tries it
 * every second and follows who leads. Returns with the lock held and the standby still
 * answering ("taking over") until the real server listens on its port. A stop signal
 * (options.stop) ends it with StoppedAsStandby.
 */
async function standBy(leadership: Leadership, options: ServeOptions, keyFile: string, print: (line: string) => void): Promise<Standby> {
  const database = describeStore(options);
  // Refused now, not at the takeover: a standby that could not sign for the installation.
  checkInstallationKey(keyFile, await leadership.storedAuditKey(), database);
  let leader: LeaderInfo | null = await leadership.leader();
  let state: 'standby' | 'taking over' = 'standby';
  const app = buildStandbyApp({ leader: () => leader, state: () => state });
  let address: string;
  try {
    address = await app.listen({ port: options.port, host: options.host });
  } catch (error) {
    throw listenFailure(error, options) ?? error;
  }
  const url = address.replace('0.0.0.0', '127.0.0.1');
  const port = Number(new URL(url).port);
  print(`Arbiter is a standby on ${url}: ${database} is led by ${leader?.description ?? 'nobody right now'}; it takes over when the leader's lock is free`);
  let stopped: { why: unknown } | null = null;
  void options.stop?.then((why) => (stopped = { why }));
  let unreachable = false;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, leadership.pollMs));
    if (stopped !== null) {
      await app.close();
      throw new StoppedAsStandby((stopped as { why: unknown }).why);
    }
    try {
      if (await leadership.tryAcquire()) break;
      const next = await leadership.leader();
      if (next?.description !== leader?.description && next !== null) print(`Standby: ${database} is now led by ${next.description}`);
      leader = next;
      if (unreachable) print(`Standby: ${database} answers again`);
      unreachable = false;
    } catch (error) {
      if (!unreachable) print(`Standby: cannot reach ${database} (${error instanceof Error ? error.message : String(error)}); trying every second`);
      unreachable = true;
    }
  }
  state = 'taking over';
  print(`Taking over: the leader lock of ${database} was free; recovering what the last leader stored`);
  let closed = false;
  return {
    url: advertised(url, options.host),
    port,
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}

/** Runs a lock attempt; a lock held by another server becomes a StartupFailure (exit 1). */
async function lockOrRefuse<T>(lock: () => Promise<T>): Promise<T> {
  try {
    return await lock();
  } catch (error) {
    if (error instanceof DataInUse) throw new StartupFailure([error.message]);
    throw error;
  }
}

const PORT_PROBLEMS: Readonly<Record<string, (port: number, host: string) => string>> = {
  EADDRINUSE: (port, host) => `port ${port} on ${host} is already in use (another Arbiter server, or another program); stop it, or give another --port`,
  EACCES: (port, host) => `port ${port} on ${host}: permission denied (ports below 1024 need privileges); give another --port`,
  EADDRNOTAVAIL: (_port, host) => `--host ${host}: not an address of this machine; give one of its addresses, or 0.0.0.0 for all`,
};

/** A listen error the user can fix (port taken, no permission, no such address), as one line; else null. */
function listenFailure(error: unknown, options: { port: number; host: string }): StartupFailure | null {
  const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : '';
  const problem = PORT_PROBLEMS[code];
  return problem ? new StartupFailure([problem(options.port, options.host)]) : null;
}

/** Binds the port for a moment (port 0 picks a free one: nothing to check). */
async function assertPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  const probe = createNetServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (error) => reject(listenFailure(error, { port, host }) ?? error));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

async function loadOrInitialize(
  store: Store,
  options: ServeOptions,
  print: (line: string) => void,
  slurmPools: SlurmPool[] | null,
): Promise<{ fleet: Fleet; policy: Policy; policyVersion: number; policyText: string; demo: boolean }> {
  const now = clock();
  const storedFleet = await store.currentFleet();
  const storedPolicy = await store.currentPolicy();
  if (storedFleet && storedPolicy) {
    const fleet = valid(parseCluster(storedFleet.text, 'stored fleet'));
    const policy = valid(parsePolicy(storedPolicy.text, 'stored policy', fleet));
    const refusals: string[] = [];
    if (options.cluster !== undefined) {
      const given = valid(parseCluster(readInput(options.cluster, '--cluster'), options.cluster));
      if (canonicalJson(given) !== canonicalJson(fleet)) refusals.push(`${options.cluster}: differs from the fleet stored in ${options.data} (version ${storedFleet.version}); start without --cluster to use it`);
    }
    if (options.policy !== undefined) {
      const given = valid(parsePolicy(readInput(options.policy, '--policy'), options.policy, fleet));
      if (canonicalJson(given) !== canonicalJson(policy)) {
        refusals.push(
          `${options.policy}: differs from the policy in force in ${options.data} (version ${storedPolicy.version}); the policy changes only through governance: start without --policy and run \`arbiter propose --policy ${options.policy} --title "..." --rationale "..."\` (an admin may declare an emergency with \`arbiter emergency\`)`,
        );
      }
    }
    if (refusals.length > 0) throw new StartupError(refusals);
    return { fleet, policy, policyVersion: storedPolicy.version, policyText: storedPolicy.text, demo: false };
  }

  // First start: the given (or demo) fleet and policy become version 1.
  let fleetText: string;
  let policyText: string;
  let fleetName: string;
  let policyName: string;
  if (options.executor === 'local') {
    if (options.cluster !== undefined) throw new StartupError(['--cluster cannot be used with --executor local: the fleet is this host (see --gpus)']);
    const local = await localFleetText(options.gpus);
    fleetText = local.text;
    fleetName = 'local host';
    policyText = options.policy !== undefined ? readInput(options.policy, '--policy') : `# One team holding this host's GPUs.\nteams:\n  - name: default\n    guarantee: { ${local.flavor}: ${local.gpus} }\n`;
    policyName = options.policy ?? 'built-in local policy';
  } else if (slurmPools) {
    const partition = options.slurmPartition ?? 'gpu';
    fleetText = options.cluster !== undefined ? readInput(options.cluster, '--cluster') : fleetYaml(slurmPools, partition);
    fleetName = options.cluster ?? `Slurm partition ${partition}`;
    const capacity = new Map<string, number>();
    for (const pool of slurmPools) capacity.set(pool.flavor, (capacity.get(pool.flavor) ?? 0) + pool.gpusPerNode * pool.nodes.length);
    policyText = options.policy !== undefined ? readInput(options.policy, '--policy') : `# One team holding the partition's GPUs.\nteams:\n  - name: default\n    guarantee: { ${[...capacity].map(([f, n]) => `${f}: ${n}`).join(', ')} }\n`;
    policyName = options.policy ?? 'built-in Slurm policy';
  } else {
    fleetName = options.cluster ?? options.demoCluster;
    policyName = options.policy ?? options.demoPolicy;
    fleetText = readInput(fleetName, '--cluster');
    policyText = readInput(policyName, '--policy');
  }
  const fleet = valid(parseCluster(fleetText, fleetName));
  const policy = valid(parsePolicy(policyText, policyName, fleet));
  const demo = options.executor === 'simulated' && options.cluster === undefined && options.policy === undefined && options.demoSetup !== false;
  const { secret, token } = newToken('admin', 'admin', null, now);
  const people = demo ? demoPeople(policy).map((p) => ({ ...p, ...newToken(p.user, p.role, p.team, now) })) : [];
  let version = 0;
  await store.transaction(async (tx) => {
    await tx.putFleet(fleetText, 'system', `first start from ${fleetName}`, now);
    version = (await tx.putPolicy(policyText, 'system', `first start from ${policyName}`, now)).version;
    await tx.insertToken(token, 'system', 'first start: the admin token');
    for (const p of people) await tx.insertToken(p.token, 'system', `first start of the demo lab: a token for ${p.user}`);
  });
  const tokenFile = join(options.data, 'admin-token');
  writeFileSync(tokenFile, `${secret}\n`, { mode: 0o600 });
  print(`First start: fleet and policy stored as version 1; admin token (also in ${tokenFile}, shown only once):`);
  print(`  ${secret}`);
  if (people.length > 0) {
    const dir = join(options.data, 'tokens');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const p of people) writeFileSync(join(dir, `${p.user}.token`), `${p.secret}\n`, { mode: 0o600 });
    print(`Demo lab: tokens for the governance walkthrough are in ${dir}/ (one file per person, mode 0600):`);
    print(`  ${people.map((p) => `${p.user}.token`).join(', ')}`);
  }
  return { fleet, policy, policyVersion: version, policyText, demo };
}

/** The people of the demo lab: one council member, a lead of every team, a member of every leaf team. */
function demoPeople(policy: Policy): { user: string; role: Role; team: string | null }[] {
  const people: { user: string; role: Role; team: string | null }[] = [{ user: 'council', role: 'council', team: null }];
  const visit = (team: Policy['teams'][number]): void => {
    people.push({ user: `lead-${team.name}`, role: 'lead', team: team.name });
    if (team.children.length === 0) people.push({ user: `member-${team.name}`, role: 'member', team: team.name });
    team.children.forEach(visit);
  };
  policy.teams.forEach(visit);
  return people;
}

/**
 * Submits the demo workload through the live loop, one job after the other (each decided by
 * its own pass, as if typed in order), so the demo starts with a full fleet and a waiting queue.
 */
async function submitDemoJobs(live: LiveScheduler, file: string, fleet: Fleet, policy: Policy, print: (line: string) => void): Promise<void> {
  const jobs = valid(parseTrace(readInput(file, 'the demo workload'), file, policy, fleet));
  for (const job of jobs) {
    await live.submit(
      {
        team: job.team,
        gpus: job.gpus,
        class: job.class,
        flavor: job.flavor ?? undefined,
        name: job.id,
        duration: job.duration,
        timeLimit: job.timeLimit ?? undefined,
      },
      'demo',
      null,
    );
  }
  print(`Demo lab: submitted ${jobs.length} jobs from ${file}; \`arbiter jobs\` lists them, \`arbiter explain\` says why one waits`);
}
