// Jobs must not become the server (docs/architecture.md, "Job isolation"): the real server with
// `--executor local` (GPUs given with --gpus, no nvidia-smi needed), real jobs run as the
// unprivileged JOB_USER, attacks performed by the jobs themselves. Runs as root, as CI does.
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  assertDistFresh,
  instanceOf,
  jobUser,
  openToJobs,
  runServeExpectingExit,
  startServer,
  stopAllServers,
  tempDir,
  waitFor,
  type Api,
  type Job,
  type JobUser,
} from './server-harness.js';

let user: JobUser;

beforeAll(() => {
  assertDistFresh();
  user = jobUser();
});

afterAll(async () => {
  await stopAllServers();
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}, 30_000); // a server's stop may take its 10 s grace period before SIGKILL

/** Pids the tests learned of, killed at the end whatever happens. */
const strays: number[] = [];

/** Whether a process runs (a zombie, which an init that never reaps may leave, runs nothing). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** The live processes whose environment holds every one of `vars`. */
function marked(...vars: string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (vars.every((v) => environ.includes(v)) && alive(Number(entry))) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

async function submit(a: Api, body: Record<string, unknown>): Promise<Job> {
  const reply = await a.post<Job>('/v1/jobs', body);
  expect(reply.status, reply.text).toBe(201);
  return reply.body;
}

const statusOf = async (a: Api, id: string): Promise<string> => (await a.get<Job>(`/v1/jobs/${id}`)).body.status;

/** Every file and directory under `dir`, with its permission bits. */
function modes(dir: string): Map<string, number> {
  const found = new Map<string, number>([['.', statSync(dir).mode & 0o777]]);
  const walk = (sub: string): void => {
    for (const name of readdirSync(path.join(dir, sub))) {
      const rel = path.join(sub, name);
      const info = statSync(path.join(dir, rel));
      found.set(rel, info.mode & 0o777);
      if (info.isDirectory()) walk(rel);
    }
  };
  walk('');
  return found;
}

// The job's attack: find the data directory from its parent's command line (the server's), then
// try to read the secrets in it and the server's own environment; report what it could read.
const PROBE = `report="$OUT/$ARBITER_JOB_ID.report"
{
  echo "uid $(id -u)"
  echo "gid $(id -g)"
  echo "groups $(grep '^Groups:' /proc/self/status | cut -f2 | tr -d ' ')"
  data=$(tr '\\0' '\\n' < /proc/$PPID/cmdline | sed -n '/^--data$/{n;p;}')
  echo "datadir $data"
  for f in admin-token audit-key.pem arbiter.db arbiter.db-wal arbiter.db-shm instance-id; do
    if cat "$data/$f" > /dev/null 2>&1; then echo "read $f"; else echo "denied $f"; fi
  done
  if ls "$data" > /dev/null 2>&1; then echo "read listing"; else echo "denied listing"; fi
  if cat /proc/$PPID/environ > /dev/null 2>&1; then echo "read server-environ"; else echo "denied server-environ"; fi
} > "$report.tmp"
env > "$OUT/$ARBITER_JOB_ID.env"
mv "$report.tmp" "$report"
`;

describe('job isolation: a job runs as --run-as and cannot read what the server keeps', () => {
  it('a job that hunts for the admin token, the audit key, the database and the server environment finds nothing; the data directory is 0700 and its files 0600', async () => {
    const dir = tempDir('isolation');
    chmodSync(dir, 0o755); // the way to the data directory is open: only its own mode protects it
    const out = path.join(dir, 'out');
    mkdirSync(out);
    openToJobs(out);
    writeFileSync(path.join(out, 'probe.sh'), PROBE);
    chmodSync(path.join(out, 'probe.sh'), 0o644);
    // A data directory that already exists, open to all, with a file left in it.
    const data = path.join(dir, 'data');
    mkdirSync(data);
    chmodSync(data, 0o755);
    writeFileSync(path.join(data, 'notes.txt'), 'left by an operator\n');
    chmodSync(path.join(data, 'notes.txt'), 0o644);

    const nonce = randomUUID();
    const secrets = {
      ARBITER_TOKEN: `leaked-token-${nonce}`,
      DATABASE_URL: `postgres://arbiter:leaked-password-${nonce}@db.internal/arbiter`,
      PGPASSWORD: `leaked-pgpassword-${nonce}`,
    };
    // research (and so its subteam vision) runs as nobody, the rest as the --run-as user.
    const policy = path.join(dir, 'policy.yaml');
    writeFileSync(policy, 'teams:\n  - name: research\n    children:\n      - name: vision\n  - name: ops\n');
    const server = await startServer(data, {
      args: ['--executor', 'local', '--gpus', '2', '--policy', policy, '--run-as', user.name, '--run-as-team', 'research=nobody'],
      env: secrets,
    });
    const a = api(server);
    // Sourced, so that its $PPID is the server, as the job's shell's is.
    const job = await submit(a, { team: 'ops', gpus: 1, command: `OUT=${out}; . ${out}/probe.sh; exec sleep 60` });
    const mapped = await submit(a, { team: 'vision', gpus: 1, command: `id -u > ${out}/$ARBITER_JOB_ID.tmp && mv ${out}/$ARBITER_JOB_ID.tmp ${out}/$ARBITER_JOB_ID.uid` });
    const mappedUid = path.join(out, `${mapped.id}.uid`);
    await waitFor(() => existsSync(mappedUid), 'the job of vision to say who it is', 15_000);
    expect(readFileSync(mappedUid, 'utf8').trim(), 'vision runs as the user of its parent research').toBe('65534');
    const reportFile = path.join(out, `${job.id}.report`);
    await waitFor(() => existsSync(reportFile), 'the job to write what it could read', 15_000);
    const report = readFileSync(reportFile, 'utf8').trim().split('\n');
    const field = (name: string): string | undefined =>
      report.find((line) => line.startsWith(`${name} `))?.slice(name.length + 1);

    expect(field('uid'), 'the job runs as the --run-as user').toBe(String(user.uid));
    expect(field('gid')).toBe(String(user.gid));
    expect(field('groups') ?? '', "root's supplementary groups are dropped").toBe('');
    expect(field('datadir'), 'the attack finds the data directory').toBe(data);
    expect(report.filter((line) => line.startsWith('read ')), 'what the job could read').toEqual([]);
    expect(report.filter((line) => line.startsWith('denied ')).length).toBe(8);

    const env = readFileSync(path.join(out, `${job.id}.env`), 'utf8');
    for (const [name, value] of Object.entries(secrets)) {
      expect(env, `${name} of the server reaches the job`).not.toContain(value);
      expect(env).not.toMatch(new RegExp(`^${name}=`, 'm'));
    }
    expect(env).toMatch(new RegExp(`^USER=${user.name}$`, 'm'));
    expect(env).toMatch(new RegExp(`^ARBITER_JOB_ID=${job.id}$`, 'm'));
    expect(env).toMatch(/^CUDA_VISIBLE_DEVICES=0$/m);

    // While the server runs (database open: WAL and SHM exist; the job's log and pid file too).
    const found = modes(data);
    for (const name of ['arbiter.db', 'arbiter.db-wal', 'arbiter.db-shm', 'admin-token', 'audit-key.pem', 'instance-id', 'notes.txt', `logs/${job.id}.log`, `logs/${job.id}.pid`])
      expect(found.get(name), `${name} exists with mode 0600`).toBe(0o600);
    for (const [name, mode] of found) {
      const isDir = statSync(path.join(data, name)).isDirectory();
      expect(mode.toString(8), `${name}`).toBe(isDir ? '700' : '600');
    }
    expect(found.get('.')).toBe(0o700);
    expect(found.get('logs')).toBe(0o700);

    expect((await a.post<Job>(`/v1/jobs/${job.id}/cancel`)).status).toBe(200);
    expect(await server.stop()).toBe(0);
  }, 60_000);

  it('refuses --executor local as root without --run-as, a user that does not exist, and root as the user (exit 2, nothing created)', async () => {
    const dir = tempDir('isolation-refusals');
    const data = path.join(dir, 'data');
    const without = await runServeExpectingExit(data, ['--executor', 'local', '--gpus', '1']);
    expect(without.status).toBe(2);
    expect(without.stderr).toMatch(/--executor local as root needs --run-as USER/);
    expect(without.stderr).toMatch(/admin token/);
    expect(existsSync(data), 'a refused start creates nothing').toBe(false);

    const unknown = await runServeExpectingExit(data, ['--executor', 'local', '--gpus', '1', '--run-as', 'no-such-user-here']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/--run-as: cannot find user "no-such-user-here".*useradd/);

    const asRoot = await runServeExpectingExit(data, ['--executor', 'local', '--gpus', '1', '--run-as', user.name, '--run-as-team', 'default=root']);
    expect(asRoot.status).toBe(2);
    expect(asRoot.stderr).toMatch(/"root" is root/);

    const simulated = await runServeExpectingExit(data, ['--run-as', user.name]);
    expect(simulated.status).toBe(2);
    expect(simulated.stderr).toMatch(/--executor local only/);
    expect(existsSync(data)).toBe(false);
  }, 60_000);
});

describe('job isolation: every process a job started is reaped after a crash', () => {
  it('(sleep 600 &); sleep 2 with the server killed -9: the stragglers (detached, new session, scrubbed environment) are gone after the restart and the job never runs twice at once', async () => {
    const dir = tempDir('isolation-orphans');
    chmodSync(dir, 0o755);
    const out = path.join(dir, 'out');
    mkdirSync(out);
    openToJobs(out);
    const data = path.join(dir, 'data');
    const args = ['--executor', 'local', '--gpus', '1', '--run-as', user.name];
    let server = await startServer(data, { args });
    const instance = instanceOf(data);
    const a = api(server);
    // Three stragglers: one in its group and session, one in a session of its own (found by its
    // environment), one without the environment (found by its session); then the shell ends.
    const at = `${out}/$ARBITER_RUN_ID`;
    const command = `(sleep 600 & echo $! > ${at}.sub); setsid sleep 601 & echo $! > ${at}.setsid; env -i sleep 602 & echo $! > ${at}.bare; echo $$ > ${at}.shell; sleep 2`;
    const job = await submit(a, { team: 'default', gpus: 1, command });
    const r1 = `${job.id}-r1`;
    const pidOf = (file: string): number => Number(readFileSync(path.join(out, file), 'utf8').trim());
    const written = (run: string): boolean => ['sub', 'setsid', 'bare', 'shell'].every((x) => existsSync(path.join(out, `${run}.${x}`)));
    await waitFor(() => written(r1), 'the run to start its stragglers', 10_000);
    const shell = pidOf(`${r1}.shell`);
    const stragglers = ['sub', 'setsid', 'bare'].map((x) => pidOf(`${r1}.${x}`));
    strays.push(...stragglers, shell);
    // The marker in the environment names the first two (the third scrubbed its environment).
    expect(marked(`ARBITER_INSTANCE=${instance}`, `ARBITER_RUN_ID=${r1}`)).toEqual(expect.arrayContaining([stragglers[0], stragglers[1]]));
    expect(marked(`ARBITER_INSTANCE=${instance}`)).not.toContain(stragglers[2]);

    server.process.kill('SIGKILL');
    await waitFor(() => !alive(shell), "the job's shell to end while the server is down", 10_000);
    for (const pid of stragglers) expect(alive(pid), `straggler ${pid} outlives its shell`).toBe(true);

    server = await startServer(data, { args });
    // Reaped before the server serves, so before any new run starts.
    for (const pid of stragglers) expect(alive(pid), `straggler ${pid} after the restart`).toBe(false);
    expect(marked(`ARBITER_INSTANCE=${instance}`, `ARBITER_RUN_ID=${r1}`)).toEqual([]);
    await waitFor(() => /killed processes left over from before the restart/.test(server.output()), 'the reaping to be logged');
    const line = server.output().split('\n').find((l) => l.includes('killed processes left over'))!;
    expect(JSON.parse(line)).toMatchObject({ jobs: [job.id] });

    // The job was requeued and runs again, once: its new run ends after 2 s, and what it left
    // behind (in its session, or marked) is killed with it.
    const b = api(server);
    await waitFor(async () => (await statusOf(b, job.id)) === 'completed', 'the second run to complete', 20_000);
    const r2 = `${job.id}-r2`;
    const second = ['sub', 'setsid', 'bare'].map((x) => pidOf(`${r2}.${x}`));
    strays.push(...second);
    await waitFor(() => second.every((pid) => !alive(pid)) && marked(`ARBITER_INSTANCE=${instance}`).length === 0, "the second run's stragglers to be killed at its end", 5_000);
    const log = readFileSync(path.join(data, 'logs', `${job.id}.log`), 'utf8');
    expect(log.match(/arbiter: run \S+ starts/g)).toEqual([`arbiter: run ${r1} starts`, `arbiter: run ${r2} starts`]);
    expect(await server.stop()).toBe(0);
  }, 90_000);
});
