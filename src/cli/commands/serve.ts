// `arbiter serve` and `arbiter token create|list|revoke`: the commands that work on a
// data directory (docs/api.md, "Start-up").
import { join } from 'node:path';
import Table from 'cli-table3';
import type { Command } from 'commander';
import { parseCluster } from '../../core/config/cluster.js';
import { allTeams, parsePolicy } from '../../core/config/policy.js';
import { formatIssue } from '../../core/model.js';
import { didYouMean } from '../../core/suggest.js';
import { newToken, ROLES } from '../../server/auth.js';
import { DEFAULT_LIMITS, parseRateLimit, parseTimeouts, parseTrustProxy } from '../../server/limits.js';
import type { Limits } from '../../server/limits.js';
import { isPostgresUrl } from '../../storage/open.js';
import type { Role } from '../../storage/port.js';
import { StorageError } from '../../storage/port.js';
import { CheckFailed, Failure, UsageError } from '../errors.js';
import { positiveIntegerFlag } from '../flags.js';
import { TABLE_STYLE } from './client.js';
import { EXAMPLE_LAB } from './demo.js';

interface ServeFlags {
  cluster?: string;
  policy?: string;
  data: string;
  database?: string;
  port: string;
  host: string;
  executor: string;
  speed: string;
  gpus?: string;
  auditKey?: string;
  auditWitness?: string;
  auditWitnessUrl?: string;
  webhooks?: string;
  allowUnsignedTail: boolean;
  runAs?: string;
  runAsTeam: string[];
  demoSetup: boolean;
  slurmPartition: string;
  slurmBin?: string;
  slurmAccount: string[];
  slurmPace?: string;
  slurmGrace: string;
  rateLimit?: string;
  trustProxy?: string;
  timeouts?: string;
  proposalBodyLimit?: string;
  maxTraceJobs: string;
}

const number = (value: string, option: string, check: (n: number) => boolean, expected: string, problems: string[]): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || !check(n)) problems.push(`${option}: expected ${expected}, got "${value}"`);
  return n;
};

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the live service: HTTP API, scheduling loop and executor, on an embedded SQLite database (or PostgreSQL with --database)')
    .option('--cluster <file>', 'fleet for the first start (default: the built-in demo lab)')
    .option('--policy <file>', 'policy for the first start (default: the built-in demo lab)')
    .option('--data <dir>', 'data directory (SQLite database, admin token, audit key, logs)', './arbiter-data')
    .option('--database <url>', 'store in this PostgreSQL database (postgres://user@host:port/db) instead of SQLite in --data')
    .option('--port <n>', 'TCP port', '7420')
    .option('--host <h>', 'address to listen on', '127.0.0.1')
    .option('--executor <kind>', 'simulated (jobs run for duration/speed seconds), local (this host\'s GPUs) or slurm (a Slurm partition; docs/slurm.md)', 'simulated')
    .option('--slurm-partition <name>', 'slurm executor: the partition Arbiter schedules', 'gpu')
    .option('--slurm-bin <dir>', "slurm executor: folder of Slurm's commands (default: found on PATH)")
    .option('--slurm-account <team=account>', "slurm executor: submit the jobs of this team and its subteams with sbatch --account (repeatable; \"*=team\": every team's own name)", (value: string, all: string[]) => [...all, value], [] as string[])
    .option('--slurm-pace <spec>', 'slurm executor: "poll=MS,fast-poll=MS,sbatch=N,end-hints=0|1": poll Slurm every MS ms, every fast-poll MS while jobs wait for GPUs, at most N sbatch at once, end hints of the batch scripts on or off (each part optional) (default: poll=1000,fast-poll=200,sbatch=4,end-hints=1)')
    .option('--slurm-grace <seconds>', 'slurm executor: a preempted or cancelled job gets SIGTERM and this long to end before it is cancelled (0: cancelled at once, Slurm\'s KillWait alone)', '10')
    .option('--speed <x>', 'simulated executor: seconds of work per second of wall time', '1')
    .option('--gpus <n>', 'local executor: GPUs of this host when nvidia-smi is not available (default: found with nvidia-smi)')
    .option('--audit-key <file>', "the audit log's Ed25519 signing key (PEM), made there at the first start; keep it where jobs cannot read it (default: DATA/audit-key.pem)")
    .option('--audit-witness <file>', 'append every signed checkpoint to this file and verify the log against its last one at start (default: none)')
    .option('--audit-witness-url <url>', 'POST every signed checkpoint (JSON) to this URL, retried in the background (default: none)')
    .option('--webhooks <file>', 'YAML file of webhooks to notify (preemptions, waits inside a guarantee, proposals, votes due), per team or for all: docs/webhooks.md (default: none)')
    .option('--allow-unsigned-tail', 'sign entries found after the last checkpoint at start, once you have checked them (arbiter audit verify --allow-unsigned-tail lists them)', false)
    .option('--run-as <user>', 'local executor: run jobs as this unprivileged user (the server must start as root; required as root)')
    .option('--run-as-team <team=user>', 'local executor: run the jobs of this team and its subteams as this user (repeatable)', (value: string, all: string[]) => [...all, value], [] as string[])
    .option('--no-demo-setup', 'first start of the built-in demo lab: only the admin token, no demo tokens (DATA/tokens/) and no demo jobs')
    .option('--rate-limit <spec>', 'requests per second: "token=RATE/BURST,address=RATE/BURST,auth-failure=COST" (each part optional, "off" for none) (default: token=2000/4000,address=5000/10000,auth-failure=25)')
    .option('--trust-proxy <addresses>', 'comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client (rate limits per address, logs) (default: none, the header is ignored)')
    .option('--timeouts <spec>', 'seconds: "headers=S,request=S,idle=S" for slow headers, slow bodies and idle keep-alive connections (default: headers=10,request=120,idle=30)')
    .option('--proposal-body-limit <MiB>', 'largest body of a proposal, amendment or emergency change (a policy and an attached trace); other routes take 128 KiB (default: 64)')
    .option('--max-trace-jobs <n>', 'the most jobs a trace attached to a proposal may have (its impact analysis replays them twice)', '100000')
    .action(async (flags: ServeFlags) => {
      const problems: string[] = [];
      const rate = flags.rateLimit === undefined ? DEFAULT_LIMITS.rate : parseRateLimit(flags.rateLimit, problems);
      const timeouts = flags.timeouts === undefined ? DEFAULT_LIMITS.timeouts : parseTimeouts(flags.timeouts, problems);
      const proposalMiB = flags.proposalBodyLimit === undefined ? DEFAULT_LIMITS.body.proposal / (1 << 20) : number(flags.proposalBodyLimit, '--proposal-body-limit', (n) => n > 0 && n <= 1024, 'MiB, more than 0 and at most 1024', problems);
      const trustProxy = flags.trustProxy === undefined ? [] : parseTrustProxy(flags.trustProxy, problems);
      const limits: Limits = { rate, timeouts, body: { ...DEFAULT_LIMITS.body, proposal: Math.round(proposalMiB * (1 << 20)) }, trustProxy };
      const port = number(flags.port, '--port', (n) => Number.isInteger(n) && n >= 0 && n < 65536, 'a port number 0..65535', problems);
      const speed = number(flags.speed, '--speed', (n) => n > 0, 'a number > 0', problems);
      const gpus = positiveIntegerFlag(flags.gpus, '--gpus', problems);
      const maxTraceJobs = number(flags.maxTraceJobs, '--max-trace-jobs', (n) => Number.isInteger(n) && n > 0, 'a positive integer', problems);
      if (flags.executor !== 'simulated' && flags.executor !== 'local' && flags.executor !== 'slurm') problems.push(`--executor: expected simulated, local or slurm, got "${flags.executor}"`);
      checkDatabase(flags.database, problems);
      const runAsTeams: Record<string, string> = {};
      for (const pair of flags.runAsTeam) {
        const match = /^([^=\s]+)=([^=\s]+)$/.exec(pair);
        if (!match) problems.push(`--run-as-team: expected TEAM=USER, got "${pair}"`);
        else if (Object.hasOwn(runAsTeams, match[1]!)) problems.push(`--run-as-team: team "${match[1]!}" is given twice`);
        else runAsTeams[match[1]!] = match[2]!;
      }
      const slurmAccounts: Record<string, string> = {};
      for (const pair of flags.slurmAccount) {
        const match = /^([^=\s]+)=([^=\s]+)$/.exec(pair);
        if (!match) problems.push(`--slurm-account: expected TEAM=ACCOUNT, got "${pair}"`);
        else if (Object.hasOwn(slurmAccounts, match[1]!)) problems.push(`--slurm-account: team "${match[1]!}" is given twice`);
        else if (match[1] === '*' && match[2] !== 'team') problems.push(`--slurm-account: "*" takes only "team" (each team's own name as its account), got "${pair}"`);
        else slurmAccounts[match[1]!] = match[2]!;
      }
      if (flags.slurmAccount.length > 0 && flags.executor !== 'slurm') problems.push('--slurm-account applies to --executor slurm only');
      const slurmPace = flags.slurmPace === undefined ? {} : parseSlurmPace(flags.slurmPace, problems);
      const slurmGrace = number(flags.slurmGrace, '--slurm-grace', (n) => n >= 0 && n <= 3600, 'seconds from 0 to 3600', problems);
      if (flags.slurmPace !== undefined && flags.executor !== 'slurm') problems.push('--slurm-pace applies to --executor slurm only');
      if (flags.auditWitnessUrl !== undefined && !/^https?:\/\//.test(flags.auditWitnessUrl)) problems.push(`--audit-witness-url: expected an http:// or https:// URL, got "${flags.auditWitnessUrl.slice(0, 100)}"`);
      if (problems.length > 0) throw new UsageError(problems);
      // Loaded here, not at the top: the server, fastify and SQLite are not needed by other commands.
      const { startServer, StartupError, StartupFailure, AuditRefusal, StoppedAsStandby } = await import('../../server/serve.js');
      // Signals that arrive during start-up stop the server as soon as it is up (a standby at once).
      const stopping = stopSignals();
      let listenOn = port;
      for (;;) {
        let server;
        try {
          server = await startServer({
            cluster: flags.cluster,
            policy: flags.policy,
            data: flags.data,
            database: flags.database,
            port: listenOn,
            host: flags.host,
            executor: flags.executor as 'simulated' | 'local' | 'slurm',
            slurmPartition: flags.slurmPartition,
            slurmBin: flags.slurmBin,
            slurmAccounts,
            slurmPace: { ...slurmPace, graceSeconds: slurmGrace },
            speed,
            gpus,
            runAs: flags.runAs,
            runAsTeams,
            limits,
            maxTraceJobs,
            demoCluster: join(EXAMPLE_LAB, 'cluster.yaml'),
            demoPolicy: join(EXAMPLE_LAB, 'policy.yaml'),
            demoJobs: join(EXAMPLE_LAB, 'demo-jobs.csv'),
            demoSetup: flags.demoSetup,
            auditKey: flags.auditKey,
            auditWitness: flags.auditWitness,
            auditWitnessUrl: flags.auditWitnessUrl,
            webhooks: flags.webhooks,
            allowUnsignedTail: flags.allowUnsignedTail,
            stop: stopping.received,
          });
        } catch (error) {
          stopping.dispose();
          if (error instanceof StoppedAsStandby) {
            process.stdout.write(`Arbiter stopped (${String(error.why)}): it was a standby and never led\n`);
            return;
          }
          if (error instanceof StartupError) throw new UsageError(error.lines);
          if (error instanceof AuditRefusal) throw new CheckFailed([`arbiter serve: refusing to start: ${error.lines[0] ?? ''}`, ...error.lines.slice(1)]);
          if (error instanceof StartupFailure) throw new Failure(error.lines);
          if (error instanceof StorageError) {
            const hint = error.code === 'connection' ? ' (is the database server running, and reachable at that address?)' : '';
            throw new Failure([`cannot start: ${error.message}${hint}`]);
          }
          throw error;
        }
        // Graceful shutdown on SIGTERM, SIGINT (Ctrl-C) or SIGHUP: stop accepting, finish
        // in-flight requests, stop the scheduling loop and the executor, close the database, give
        // the locks up. A leader deposed on PostgreSQL (another server led while it had lost its
        // lock) closes too, and starts again as a standby on the same port: its memory is stale.
        const why = await Promise.race([stopping.received, server.lost]);
        await server.close();
        if (why instanceof Error) {
          process.stdout.write(`${why.message}: stopped leading; starting again as a standby\n`);
          listenOn = Number(new URL(server.url).port);
          continue;
        }
        stopping.dispose();
        process.stdout.write(`Arbiter stopped (${why}): no longer serving on ${server.url}; the data stays in ${flags.data}${flags.database !== undefined ? ' and the database' : ''}\n`);
        return;
      }
    });

  const token = program.command('token').description('manage API tokens');
  token
    .command('create')
    .description('create a token; its last word on stdout is the token (shown only once)')
    .requiredOption('--user <name>', 'who the token is for')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--team <team>', 'the team of a member or lead (required for them)')
    .option('--data <dir>', 'data directory of the server', './arbiter-data')
    .option('--database <url>', 'the PostgreSQL database of the server, if it was started with --database')
    .option('--audit-key <file>', "the audit log's signing key, to sign the token's entry (default: DATA/audit-key.pem)")
    .action(async (flags: { user: string; role: string; team?: string; data: string; database?: string; auditKey?: string }) => {
      const problems: string[] = [];
      if (!ROLES.includes(flags.role as Role)) problems.push(`--role: expected one of ${ROLES.join(', ')}, got "${flags.role}"`);
      if ((flags.role === 'member' || flags.role === 'lead') && flags.team === undefined) problems.push(`--team is required for role ${flags.role}`);
      if (flags.user.trim() === '' || flags.user.length > 200) problems.push('--user: expected a name of 1 to 200 characters');
      checkDatabase(flags.database, problems);
      if (problems.length > 0) throw new UsageError(problems);
      const store = await openStoreOf(flags.data, flags.database);
      try {
        const policy = await storedPolicy(store, flags.data);
        if (flags.team !== undefined && !allTeams(policy).has(flags.team)) {
          const teams = [...allTeams(policy).keys()];
          throw new UsageError([`--team: unknown team "${flags.team}"${didYouMean(flags.team, teams, `; teams: ${teams.join(', ')}`)}`]);
        }
        const { secret, token: stored } = newToken(flags.user, flags.role as Role, flags.team ?? null, Date.now() / 1000);
        try {
          // The token's entry is signed in the same transaction: a stopped server finds no unsigned tail at its next start.
          await signedChange(store, flags.data, flags.auditKey, 'token create', (tx) => tx.insertToken(stored, process.env['USER'] ?? 'cli', `arbiter token create --user ${flags.user} --role ${flags.role}`));
        } catch (error) {
          // A user name already taken: bad input, nothing stored.
          if (error instanceof StorageError && error.code === 'constraint') throw new UsageError([`--user: ${error.message}`]);
          throw error;
        }
        process.stdout.write(`token ${stored.id} for ${flags.user} (${flags.role}${flags.team ? ` of ${flags.team}` : ''}): ${secret}\n`);
      } finally {
        await store.close();
      }
    });
  token
    .command('list')
    .description('list the tokens: id, user, role, team, created, revoked (never a secret: only hashes are stored)')
    .option('--data <dir>', 'data directory of the server', './arbiter-data')
    .option('--database <url>', 'the PostgreSQL database of the server, if it was started with --database')
    .option('--json', 'print JSON instead of a table', false)
    .action(async (flags: { data: string; database?: string; json: boolean }) => {
      const problems: string[] = [];
      checkDatabase(flags.database, problems);
      if (problems.length > 0) throw new UsageError(problems);
      const store = await openStoreOf(flags.data, flags.database);
      try {
        await storedPolicy(store, flags.data);
        const iso = (t: number | null): string | null => (t === null ? null : new Date(t * 1000).toISOString());
        const tokens = (await store.listTokens()).map((t) => ({ id: t.id, user: t.user, role: t.role, team: t.team, createdAt: iso(t.createdAt)!, revokedAt: iso(t.revokedAt) }));
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ tokens }, null, 2)}\n`);
          return;
        }
        const table = new Table({ head: ['id', 'user', 'role', 'team', 'created', 'revoked'], ...TABLE_STYLE });
        for (const t of tokens) table.push([t.id, t.user, t.role, t.team ?? '', t.createdAt, t.revokedAt ?? '']);
        process.stdout.write(`${table.toString()}\n`);
      } finally {
        await store.close();
      }
    });
  token
    .command('revoke')
    .description('revoke a token: it answers 401 on every route within a second, also on a running server (logged as token.revoke)')
    .argument('<id>', 'the token id (t-..., see `arbiter token list`)')
    .option('--reason <text>', 'why (kept in the audit log)')
    .option('--data <dir>', 'data directory of the server', './arbiter-data')
    .option('--database <url>', 'the PostgreSQL database of the server, if it was started with --database')
    .option('--audit-key <file>', "the audit log's signing key, to sign the revocation's entry (default: DATA/audit-key.pem)")
    .action(async (id: string, flags: { reason?: string; data: string; database?: string; auditKey?: string }) => {
      const problems: string[] = [];
      if (flags.reason !== undefined && (flags.reason.trim() === '' || flags.reason.length > 2000)) problems.push('--reason: expected 1 to 2000 characters');
      checkDatabase(flags.database, problems);
      if (problems.length > 0) throw new UsageError(problems);
      const store = await openStoreOf(flags.data, flags.database);
      try {
        await storedPolicy(store, flags.data);
        const token = (await store.listTokens()).find((t) => t.id === id);
        if (!token) throw new UsageError([`${id}: no such token; \`arbiter token list --data ${flags.data}\` shows them`]);
        if (token.revokedAt !== null) {
          process.stdout.write(`token ${id} (${token.user}) was already revoked at ${new Date(token.revokedAt * 1000).toISOString()}\n`);
          return;
        }
        const actor = process.env['USER'] ?? 'cli';
        await signedChange(store, flags.data, flags.auditKey, 'token revoke', (tx) => tx.revokeToken(id, Date.now() / 1000, actor, flags.reason ?? `arbiter token revoke ${id}`));
        process.stdout.write(`token ${id} (${token.user}, ${token.role}${token.team ? ` of ${token.team}` : ''}) revoked\n`);
      } finally {
        await store.close();
      }
    });
}

/**
 * Runs a change of the database that appends entries and signs them in the same transaction
 * (server/audit.ts, appendSigned), with the key of --audit-key FILE or DATA/audit-key.pem. A log
 * that does not verify is refused (exit 1) and nothing is written.
 */
async function signedChange(store: Awaited<ReturnType<typeof openStoreOf>>, data: string, auditKey: string | undefined, command: string, fn: Parameters<typeof import('../../server/audit.js').appendSigned>[3]): Promise<void> {
  const { appendSigned, AuditRefusal, auditKeyFile, readAuditKey } = await import('../../server/audit.js');
  let key;
  try {
    key = readAuditKey(auditKeyFile(data, auditKey));
  } catch (error) {
    throw new UsageError([error instanceof Error ? error.message : String(error)]);
  }
  try {
    await appendSigned(store, key, () => Date.now() / 1000, fn);
  } catch (error) {
    if (error instanceof AuditRefusal) throw new CheckFailed([`arbiter ${command}: refusing to change the database: ${error.lines[0] ?? ''}`, ...error.lines.slice(1)]);
    throw error;
  }
}

/** --database takes a PostgreSQL URL only (SQLite is the default, in --data). */
function checkDatabase(database: string | undefined, problems: string[]): void {
  if (database !== undefined && !isPostgresUrl(database))
    problems.push('--database: expected a PostgreSQL URL, postgres://user@host:port/database');
}

async function openStoreOf(data: string, database: string | undefined) {
  const { openStore } = await import('../../storage/open.js');
  const store = await openStore({ data, database });
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return store;
}

async function storedPolicy(store: Awaited<ReturnType<typeof openStoreOf>>, data: string) {
  const fleetVersion = await store.currentFleet();
  const policyVersion = await store.currentPolicy();
  if (!fleetVersion || !policyVersion) throw new UsageError([`${data}: no server data here yet; run \`arbiter serve --data ${data}\` once first (with --database too, if the server uses PostgreSQL)`]);
  const fleet = parseCluster(fleetVersion.text, 'stored fleet');
  if (!fleet.ok) throw new UsageError(fleet.issues.map(formatIssue));
  const policy = parsePolicy(policyVersion.text, 'stored policy', fleet.value);
  if (!policy.ok) throw new UsageError(policy.issues.map(formatIssue));
  return policy.value;
}

const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * Listens for the signals that stop a server. The first one resolves `received`; later ones are
 * absorbed until dispose(), since one Ctrl-C under `npm start` arrives twice (from the terminal
 * and forwarded by npm), and must not kill the process in the middle of its shutdown.
 */
function stopSignals(): { received: Promise<NodeJS.Signals>; dispose(): void } {
  let resolve: (signal: NodeJS.Signals) => void = () => undefined;
  const received = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const handler = (signal: NodeJS.Signals): void => resolve(signal);
  for (const signal of STOP_SIGNALS) process.on(signal, handler);
  return {
    received,
    dispose: () => {
      for (const signal of STOP_SIGNALS) process.off(signal, handler);
    },
  };
}

/** --slurm-pace "poll=MS,fast-poll=MS,sbatch=N,end-hints=0|1" (each part optional). */
export function parseSlurmPace(spec: string, problems: string[]): { pollMs?: number; fastPollMs?: number; submitsAtOnce?: number; endHints?: boolean } {
  const pace: { pollMs?: number; fastPollMs?: number; submitsAtOnce?: number; endHints?: boolean } = {};
  const keys = { poll: 'pollMs', 'fast-poll': 'fastPollMs', sbatch: 'submitsAtOnce', 'end-hints': 'endHints' } as const;
  for (const part of spec.split(',')) {
    const m = /^\s*([a-z-]+)=(\d+)\s*$/.exec(part);
    const key = m ? keys[m[1] as keyof typeof keys] : undefined;
    if (!m || key === undefined) {
      problems.push(`--slurm-pace: expected "poll=MS,fast-poll=MS,sbatch=N,end-hints=0|1" (each part optional), got "${part.trim()}" in "${spec}"`);
      continue;
    }
    const n = Number(m[2]);
    if (key === 'endHints') {
      if (n > 1) problems.push(`--slurm-pace: end-hints must be 0 or 1, got ${n}`);
      else pace.endHints = n === 1;
      continue;
    }
    if (key === 'submitsAtOnce' ? n < 1 || n > 64 : n < 50 || n > 60_000) {
      problems.push(`--slurm-pace: ${m[1]!} must be ${key === 'submitsAtOnce' ? 'from 1 to 64' : 'from 50 to 60000 ms'}, got ${n}`);
      continue;
    }
    pace[key] = n;
  }
  return pace;
}
