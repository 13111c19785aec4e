// Client commands talking to a running server over its HTTP API: submit, jobs, explain,
// cancel, teams, fleet. Human tables by default, --json for scripts. The server and token come
// from --server/--token or ARBITER_SERVER/ARBITER_TOKEN.
import Table from 'cli-table3';
import type { Command } from 'commander';
import { REASON_CODES } from '../../core/reasons.js';
import { humanDuration } from '../../sim/summary-table.js';
import { Failure, UsageError } from '../errors.js';
import { DURATION_HELP, durationFlag, positiveIntegerFlag } from '../flags.js';
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

/** Why a request could not reach the server, in words, from the error fetch threw. */
function unreachable(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused: no server listens there',
    ENOTFOUND: 'no such host',
    EAI_AGAIN: 'the host name could not be resolved now',
    ETIMEDOUT: 'the connection timed out',
    ECONNRESET: 'the connection was reset',
    EHOSTUNREACH: 'the host is unreachable',
  };
  return words[code] ?? (typeof cause?.message === 'string' ? cause.message : error instanceof Error ? error.message : String(error));
}

/**
 * A request to the server, its answer for people: unless --json, every string in it is made
 * visible (no control character or terminal escape reaches the terminal; see visible.ts). A
 * request the server refused (4xx) is printed like bad input, exit 2; a server that cannot be
 * reached or fails (5xx) is one line naming it, exit 1.
 */
export async function call(conn: Connection, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const payload = await request(conn, method, path, body, headers);
  return conn.json ? payload : forHumans(payload);
}

/**
 * A request to the server, its answer as sent (for what is checked, such as audit entries, or
 * printed as JSON). --server (or ARBITER_SERVER) may name several servers, comma-separated: the
 * leader and standbys of one PostgreSQL database. They are tried in order; a standby's answer
 * (503 `standby`) names the leader, which is tried next; one that cannot be reached is skipped.
 */
export async function request(conn: Connection, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const given = conn.server || process.env['ARBITER_SERVER'] || 'http://127.0.0.1:7420';
  const from = conn.server ? '--server' : process.env['ARBITER_SERVER'] ? 'ARBITER_SERVER' : 'the default server';
  const servers = given.split(',').map((s) => s.trim().replace(/\/$/, '')).filter((s) => s !== '');
  const bad = servers.find((server) => !/^https?:\/\/[^/]/i.test(server));
  if (bad !== undefined || servers.length === 0)
    throw new UsageError([`${from === 'the default server' ? '--server' : from}: expected a URL such as http://127.0.0.1:7420 (or several, comma-separated), got "${bad ?? given}"`]);
  const token = conn.token || process.env['ARBITER_TOKEN'];
  if (!token) throw new UsageError(['no token: pass --token or set ARBITER_TOKEN (an admin token is in <data>/admin-token; more with `arbiter token create`)']);
  const queue = [...servers];
  const tried = new Set<string>();
  const missed: string[] = [];
  let standbyAnswer: { server: string; message: string } | null = null;
  let response: Response | null = null;
  let server = '';
  while (queue.length > 0 && response === null) {
    server = queue.shift()!;
    if (tried.has(server)) continue;
    tried.add(server);
    let answer: Response;
    try {
      answer = await fetch(`${server}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      missed.push(`${server}: ${unreachable(error)}`);
      continue;
    }
    if (answer.status === 503) {
      const payload = (await answer.clone().json().catch(() => null)) as (ApiErrorBody & { leader?: unknown }) | null;
      if (payload?.code === 'standby') {
        standbyAnswer = { server, message: payload.message ?? 'a standby' };
        // The leader it names goes first; the others stay in line.
        if (typeof payload.leader === 'string' && /^https?:\/\//i.test(payload.leader)) queue.unshift(payload.leader.replace(/\/$/, ''));
        continue;
      }
    }
    response = answer;
  }
  if (response === null) {
    if (standbyAnswer !== null)
      throw new Failure([visible(`no Arbiter leader answered: ${standbyAnswer.server} says: ${standbyAnswer.message}`), ...missed.map((m) => visible(`  ${m}`))]);
    const where = servers.length === 1 ? `the Arbiter server at ${server}${from === '--server' ? '' : ` (${from === 'ARBITER_SERVER' ? 'from ARBITER_SERVER' : 'the default'})`}: ${missed[0]?.slice(server.length + 2) ?? ''}` : `any of the Arbiter servers ${servers.join(', ')} (${missed.join('; ')})`;
    throw new Failure([
      `cannot reach ${where}; start it with \`arbiter serve\` (or \`npm start\`), or name the running one with --server URL or ARBITER_SERVER`,
    ]);
  }
  const payload: unknown = await response.json().catch(() => null);
  if (response.status >= 400 && response.status < 500) {
    const err = (payload ?? {}) as ApiErrorBody;
    throw new UsageError([
      visible(`${response.status} ${err.code ?? ''}: ${err.message ?? response.statusText}`),
      ...(err.issues ?? []).map((i) => `  ${visible(String(i.path))}: ${visible(String(i.message))}`),
    ]);
  }
  if (!response.ok) {
    const err = (payload ?? {}) as ApiErrorBody;
    throw new Failure([visible(`${server}${path}: the server failed (${response.status}${err.code ? ` ${err.code}` : ''}): ${err.message ?? response.statusText}; its log says more`)]);
  }
  return payload;
}

export const withConnection = (command: Command): Command =>
  command
    .option('--server <url>', 'server URL, or several comma-separated (a leader and its standbys: the leader is found) (default: $ARBITER_SERVER or http://127.0.0.1:7420)')
    .option('--token <token>', 'API token (default: $ARBITER_TOKEN)')
    .option('--json', "print the server's JSON answer instead of text, for scripts (default: text)");

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

export function registerClient(program: Command): void {
  withConnection(program.command('submit').description('submit a job; prints its id and status (pending, running) and, if it cannot start now, why'))
    .requiredOption('--team <team>', 'the leaf team it belongs to')
    .requiredOption('--gpus <n>', 'GPUs it needs, all at once')
    .option('--class <class>', "priority class (default: the policy's defaultClass)")
    .option('--flavor <flavor>', 'GPU flavor (default: any)')
    .option('--name <name>', 'a name for people (default: none)')
    .option('--duration <time>', `work it does, ${DURATION_HELP}; required by the simulated executor (default: none)`)
    .option('--time-limit <time>', `most time one run may last, ${DURATION_HELP} (default: none)`)
    .option('--command <cmd>', 'shell command, for the local executor (default: none)')
    .option('--idempotency-key <key>', 'a repeat with the same key returns the same job (default: none)')
    .action(async (flags: Connection & Record<string, string | undefined>) => {
      const problems: string[] = [];
      const gpus = positiveIntegerFlag(flags['gpus'], '--gpus', problems);
      const duration = durationFlag(flags['duration'], '--duration', problems);
      const timeLimit = durationFlag(flags['timeLimit'], '--time-limit', problems, { positive: 'a time limit lasts more than 0 seconds' });
      if (problems.length > 0) throw new UsageError(problems);
      const body = {
        team: flags['team'],
        gpus,
        ...(flags['class'] !== undefined ? { class: flags['class'] } : {}),
        ...(flags['flavor'] !== undefined ? { flavor: flags['flavor'] } : {}),
        ...(flags['name'] !== undefined ? { name: flags['name'] } : {}),
        ...(duration !== undefined ? { duration } : {}),
        ...(timeLimit !== undefined ? { timeLimit } : {}),
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

  withConnection(
    program
      .command('explain')
      .description('why a job waits, with numbers, and when it is expected to start (or where it runs)')
      .argument('<job>', 'job id, as `arbiter submit` and `arbiter jobs` print it (j-12)')
      .addHelpText(
        'after',
        `
Prints a line about the job (id, name, status, GPUs and flavor, team, class), then:
  pending   the reason it waits, in a sentence with the numbers behind it (its team's
            guarantee, usage and limit, the GPUs free against the GPUs it needs, the job
            a reservation holds them for...), and its expected start, when one is known
  running   since when, on which nodes (node:GPUs), and how often it was preempted
  ended     when it ended
The reason codes: ${REASON_CODES.join(', ')}.
With --json: the job as the API returns it (GET /v1/jobs/{id}), reason code included.`,
      ),
  )
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
        outside?: { id: string; name: string; user: string; state: string; placement: { node: string; gpus: number }[] }[];
        pools: { name: string; flavor: string; nodes: { name: string; gpus: number; free: number; held: { job: string; team: string; gpus: number }[]; unavailable?: { state: string | null; why: string } }[] }[];
      };
      if (flags.json) return out(JSON.stringify(body, null, 2));
      const table = new Table({ head: ['node', 'flavor', 'free', 'held by', 'unavailable'], ...TABLE_STYLE });
      for (const pool of body.pools) {
        for (const n of pool.nodes) table.push([n.name, pool.flavor, `${n.free}/${n.gpus}`, n.held.map((h) => `${h.job} (${h.team}) ${h.gpus}`).join(', '), n.unavailable?.why ?? '']);
      }
      out(table.toString());
      if (body.outside && body.outside.length > 0) {
        // Work Arbiter did not start: its GPUs are counted held, never given to another job.
        const outside = new Table({ head: ['outside Arbiter', 'name', 'user', 'state', 'GPUs'], ...TABLE_STYLE });
        for (const j of body.outside) outside.push([`slurm:${j.id}`, j.name, j.user, j.state, j.placement.map((p) => `${p.node}:${p.gpus}`).join(', ') || '-']);
        out(outside.toString());
      }
    });
}
