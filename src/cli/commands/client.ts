// Client commands talking to a running server over its HTTP API: submit, jobs, explain,
// cancel, teams, fleet. Human tables by default, --json for scripts. The server and token come
// from --server/--token or ARBITER_SERVER/ARBITER_TOKEN.
import Table from 'cli-table3';
import type { Command } from 'commander';
import { humanDuration } from '../../sim/summary-table.js';
import { UsageError } from '../errors.js';
import { registerFleetImport } from './fleet-import.js';
import { forHumans, visible } from '../visible.js';

export interface Connection {
  server?: string;
  token?: string;
  json?: boolean;
}

interface ApiErrorBody {
  code?: string;
  message?: string;
  issues?: { path: string; message: string }[];
}

/**
 * A request to the server, its answer for people: unless --json, every string in it is made
 * visible (no control character or terminal escape reaches the terminal; see visible.ts). A
 * request the server refused (4xx) is printed like bad input, exit 2.
 */
export async function call(conn: Connection, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const payload = await request(conn, method, path, body, headers);
  return conn.json ? payload : forHumans(payload);
}

/** A request to the server, its answer as sent (for what is checked, such as audit entries, or printed as JSON). */
export async function request(conn: Connection, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const server = (conn.server || process.env['ARBITER_SERVER'] || 'http://127.0.0.1:7420').replace(/\/$/, '');
  const token = conn.token || process.env['ARBITER_TOKEN'];
  if (!token) throw new UsageError(['no token: pass --token or set ARBITER_TOKEN (an admin token is in <data>/admin-token; more with `arbiter token create`)']);
  let response: Response;
  try {
    response = await fetch(`${server}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (error) {
    throw new Error(`cannot reach ${server}: ${error instanceof Error ? error.message : String(error)} (is \`arbiter serve\` running? see --server)`, { cause: error });
  }
  const payload: unknown = await response.json().catch(() => null);
  if (response.status >= 400 && response.status < 500) {
    const err = (payload ?? {}) as ApiErrorBody;
    throw new UsageError([
      visible(`${response.status} ${err.code ?? ''}: ${err.message ?? response.statusText}`),
      ...(err.issues ?? []).map((i) => `  ${visible(String(i.path))}: ${visible(String(i.message))}`),
    ]);
  }
  if (!response.ok) throw new Error(`${server}${path}: ${response.status} ${JSON.stringify(payload)}`);
  return payload;
}

export const withConnection = (command: Command): Command =>
  command
    .option('--server <url>', 'server URL (default: $ARBITER_SERVER or http://127.0.0.1:7420)')
    .option('--token <token>', 'API token (default: $ARBITER_TOKEN)')
    .option('--json', 'print JSON instead of a table', false);

interface Job {
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
  expectedStartBasis?: 'timeLimits' | 'minRuntime' | 'history' | null;
  rejectReason?: string | null;
}

const BASIS: Record<NonNullable<Job['expectedStartBasis']>, string> = {
  timeLimits: 'from time limits',
  minRuntime: 'when the minRuntime protection of the runs it may reclaim ends',
  history: 'estimated from history',
};

/** "~14:20" (local time; with the date when not today), "(in ~2h)", and where it comes from. */
export function expectedStartText(job: Pick<Job, 'expectedStart' | 'expectedStartBasis'>, now = new Date()): string {
  if (job.expectedStart === null) {
    return 'unknown (a start is predicted only for the job nodes are reserved for, from the time limits of the runs on them or their team\'s run history)';
  }
  const at = new Date(job.expectedStart);
  const hhmm = `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
  const sameDay = at.toDateString() === now.toDateString();
  const day = sameDay ? '' : `${at.getFullYear()}-${String(at.getMonth() + 1).padStart(2, '0')}-${String(at.getDate()).padStart(2, '0')} `;
  const wait = Math.max(0, (at.getTime() - now.getTime()) / 1000);
  const basis = job.expectedStartBasis ? `, ${BASIS[job.expectedStartBasis]}` : '';
  return `~${day}${hhmm} (in ~${humanDuration(wait)})${basis}`;
}

/** Tables without a line between rows: borders around, one line per row. */
export const TABLE_STYLE = {
  style: { head: [], border: [] },
  chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
};

export const out = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};

const since = (iso: string | null): string => (iso === null ? '' : `${humanDuration(Math.max(0, (Date.now() - Date.parse(iso)) / 1000))} ago`);

/** A long cell cut to `max` characters; `arbiter explain` prints it whole. */
const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}… (see explain)`);

function jobsTable(jobs: Job[]): string {
  const table = new Table({ head: ['id', 'name', 'team', 'class', 'gpus', 'status', 'submitted', 'placement / reason'], ...TABLE_STYLE });
  for (const j of jobs) {
    const detail =
      j.status === 'running' ? j.placement.map((p) => `${p.node}:${p.gpus}`).join(';') : j.status === 'rejected' ? clip(`can never run: ${j.rejectReason ?? ''}`, 70) : (j.reason?.code ?? '');
    table.push([j.id, j.name ?? '', j.team, j.class, `${j.gpus}${j.flavor ? ` ${j.flavor}` : ''}`, j.status, since(j.submittedAt), detail]);
  }
  return table.toString();
}

export function number(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError([`${option}: expected a number, got "${value}"`]);
  return n;
}

export function registerClient(program: Command): void {
  withConnection(program.command('submit').description('submit a job'))
    .requiredOption('--team <team>', 'leaf team')
    .requiredOption('--gpus <n>', 'GPUs, all at once')
    .option('--class <class>', "priority class (default: the policy's defaultClass)")
    .option('--flavor <flavor>', 'GPU flavor (default: any)')
    .option('--name <name>', 'a name for people (default: none)')
    .option('--duration <seconds>', 'seconds of work, for the simulated executor')
    .option('--time-limit <seconds>', 'most seconds one run may last (default: none)')
    .option('--command <cmd>', 'shell command, for the local executor')
    .option('--idempotency-key <key>', 'a repeat with the same key returns the same job (default: none)')
    .action(async (flags: Connection & Record<string, string | undefined>) => {
      const body = {
        team: flags['team'],
        gpus: number(flags['gpus'], '--gpus'),
        ...(flags['class'] !== undefined ? { class: flags['class'] } : {}),
        ...(flags['flavor'] !== undefined ? { flavor: flags['flavor'] } : {}),
        ...(flags['name'] !== undefined ? { name: flags['name'] } : {}),
        ...(flags['duration'] !== undefined ? { duration: number(flags['duration'], '--duration') } : {}),
        ...(flags['timeLimit'] !== undefined ? { timeLimit: number(flags['timeLimit'], '--time-limit') } : {}),
        ...(flags['command'] !== undefined ? { command: flags['command'] } : {}),
      };
      const headers: Record<string, string> = flags['idempotencyKey'] !== undefined ? { 'idempotency-key': flags['idempotencyKey'] } : {};
      const job = (await call(flags, 'POST', '/v1/jobs', body, headers)) as Job;
      out(flags.json ? JSON.stringify(job, null, 2) : `submitted ${job.id} (${job.status}${job.reason ? `: ${job.reason.message}` : ''})`);
    });

  withConnection(program.command('jobs').description('list jobs, newest first'))
    .option('--team <team>', 'only this team and the teams below it (default: all)')
    .option('--status <status>', 'only this status (default: all)')
    .option('--limit <n>', 'jobs per page', '50')
    .option('--cursor <cursor>', 'the next page, as printed after a full page')
    .action(async (flags: Connection & { team?: string; status?: string; limit: string; cursor?: string }) => {
      const query = new URLSearchParams({ limit: flags.limit });
      if (flags.team) query.set('team', flags.team);
      if (flags.status) query.set('status', flags.status);
      if (flags.cursor) query.set('cursor', flags.cursor);
      const page = (await call(flags, 'GET', `/v1/jobs?${query.toString()}`)) as { jobs: Job[]; nextCursor: string | null };
      if (flags.json) return out(JSON.stringify(page, null, 2));
      out(jobsTable(page.jobs));
      if (page.nextCursor) out(`more: --cursor ${page.nextCursor}`);
    });

  withConnection(program.command('explain').description('why a job waits, with numbers, and when it is expected to start').argument('<job>', 'job id'))
    .action(async (id: string, flags: Connection) => {
      const job = (await call(flags, 'GET', `/v1/jobs/${encodeURIComponent(id)}`)) as Job;
      if (flags.json) return out(JSON.stringify(job, null, 2));
      const lines = [`${job.id}${job.name ? ` (${job.name})` : ''}: ${job.status}, ${job.gpus} GPUs${job.flavor ? ` of ${job.flavor}` : ''}, team ${job.team}, class ${job.class}`];
      if (job.status === 'pending') {
        lines.push(job.reason ? `  ${job.reason.message}` : '  not yet considered by a pass');
        lines.push(`  expected start: ${expectedStartText(job)}`);
      } else if (job.status === 'running') {
        lines.push(`  running since ${job.startedAt ?? ''} on ${job.placement.map((p) => `${p.node}:${p.gpus}`).join(';')}; preempted ${job.preemptions} times`);
      } else {
        lines.push(`  ended ${job.endedAt ?? ''}`);
        if (job.status === 'rejected') lines.push(`  it can never run: ${job.rejectReason ?? 'no reason recorded'}`);
      }
      out(lines.join('\n'));
    });

  withConnection(program.command('cancel').description('cancel a pending or running job').argument('<job>', 'job id'))
    .action(async (id: string, flags: Connection) => {
      const job = (await call(flags, 'POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`)) as Job;
      out(flags.json ? JSON.stringify(job, null, 2) : `${job.id}: ${job.status}`);
    });

  withConnection(program.command('teams').description('the team tree: guarantee, usage, borrowed and pending GPUs per flavor'))
    .action(async (flags: Connection) => {
      interface T {
        name: string;
        flavors: Record<string, { guarantee: number; limit: number | null; usage: number; borrowed: number; pending: number }>;
        fairShare: { standing: number };
        children: T[];
      }
      const body = (await call(flags, 'GET', '/v1/teams')) as { teams: T[] };
      if (flags.json) return out(JSON.stringify(body, null, 2));
      const table = new Table({ head: ['team', 'flavor', 'guarantee', 'limit', 'usage', 'borrowed', 'pending'], ...TABLE_STYLE });
      const walk = (t: T, depth: number): void => {
        for (const [flavor, s] of Object.entries(t.flavors)) {
          if (s.guarantee === 0 && s.usage === 0 && s.pending === 0) continue;
          table.push([`${'  '.repeat(depth)}${t.name}`, flavor, s.guarantee, s.limit ?? '-', s.usage, s.borrowed, s.pending]);
        }
        t.children.forEach((c) => walk(c, depth + 1));
      };
      body.teams.forEach((t) => walk(t, 0));
      out(table.toString());
    });

  const fleet = withConnection(program.command('fleet').description('pools and nodes: GPUs free and held, and by whom'));
  registerFleetImport(fleet);
  fleet.action(async (flags: Connection) => {
      const body = (await call(flags, 'GET', '/v1/fleet')) as {
        pools: { name: string; flavor: string; nodes: { name: string; gpus: number; free: number; held: { job: string; team: string; gpus: number }[] }[] }[];
      };
      if (flags.json) return out(JSON.stringify(body, null, 2));
      const table = new Table({ head: ['node', 'flavor', 'free', 'held by'], ...TABLE_STYLE });
      for (const pool of body.pools) {
        for (const n of pool.nodes) table.push([n.name, pool.flavor, `${n.free}/${n.gpus}`, n.held.map((h) => `${h.job} (${h.team}) ${h.gpus}`).join(', ')]);
      }
      out(table.toString());
    });
}
