// One data directory, one server (docs/architecture.md, "One server per data directory"), and
// how a server stops, through the real, built command (bin/arbiter.js -> dist/):
// - a second `arbiter serve` on the same data directory is refused at once, exit 1, naming the
//   first one's pid, and changes nothing (the first one's running job stays where it was);
// - after kill -9 the left-over lock does not block a restart;
// - a port in use is one line and exit 1, before the data directory is even created;
// - `npm start` stops cleanly on SIGTERM and SIGINT sent to npm: no server left behind, the port
//   closed, and the log says it stopped.
//
// Needs `npx tsc -p tsconfig.build.json` first (`npm test` builds before it runs vitest).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  api,
  assertDistFresh,
  cli,
  repoRoot,
  startServer,
  stopAllServers,
  tempDir,
  waitFor,
  type Job,
} from './server-harness.js';

beforeAll(() => assertDistFresh());

// Start-up may be slow on a loaded machine (several test files run at once).
const SLOW = { timeoutMs: 60_000 };
afterAll(() => stopAllServers());

/** Whether a process of that pid exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A JavaScript stack trace line ("    at fn (file:...)"). */
const STACK = /^\s+at /m;

describe('one data directory, one server', () => {
  it('refuses a second server on the same data directory at once, naming the first one, and changes nothing', { timeout: 120_000 }, async () => {
    const data = tempDir('lock');
    const first = await startServer(data, SLOW);
    const submitted = await api(first).post<Job>('/v1/jobs', { team: 'pretraining', gpus: 8, duration: 1e8, name: 'long' });
    expect(submitted.status, submitted.text).toBe(201);
    const job = await waitFor(async () => {
      const seen = (await api(first).get<Job>(`/v1/jobs/${submitted.body.id}`)).body;
      return seen.status === 'running' ? seen : undefined;
    }, 'the job to run', 30_000);
    const files = readdirSync(data).sort();

    const second = await cli(['serve', '--data', data, '--port', '0'], {}, 60_000);
    expect(second.status, second.stderr).toBe(1);
    const pid = first.process.pid!;
    const holder = JSON.parse(readFileSync(path.join(data, 'server.json'), 'utf8')) as { pid: number; host: string; since: string };
    expect(holder.pid).toBe(pid);
    expect(second.stderr).toBe(
      `${data}: in use by another Arbiter server (pid ${pid} on host ${holder.host}, serving on ${first.url}, since ${holder.since}); ` +
        `stop it first (kill ${pid}), or give this server another --data\n`,
    );
    expect(second.stdout).toBe('');
    // Nothing was touched: no new file, the first server still runs the same job where it was.
    expect(readdirSync(data).sort()).toEqual(files);
    const after = (await api(first).get<Job>(`/v1/jobs/${job.id}`)).body;
    expect([after.status, after.startedAt, after.placement]).toEqual(['running', job.startedAt, job.placement]);
    expect(await first.stop()).toBe(0);
    // A clean stop leaves no holder behind; the lock file itself may stay (it holds nothing).
    expect(existsSync(path.join(data, 'server.json'))).toBe(false);
  });

  it('starts again after the holder was killed with kill -9, and says the previous server did not stop cleanly', { timeout: 120_000 }, async () => {
    const data = tempDir('lock-kill');
    const first = await startServer(data, SLOW);
    const submitted = await api(first).post<Job>('/v1/jobs', { team: 'pretraining', gpus: 8, duration: 1e8 });
    expect(submitted.status, submitted.text).toBe(201);
    await waitFor(async () => (await api(first).get<Job>(`/v1/jobs/${submitted.body.id}`)).body.status === 'running', 'the job to run', 30_000);
    const pid = first.process.pid!;
    const exited = new Promise((resolve) => first.process.once('exit', resolve));
    first.process.kill('SIGKILL');
    await exited;

    const second = await startServer(data, SLOW);
    expect(second.startupOutput).toContain(`The previous server on ${data} (pid ${pid}) did not stop cleanly`);
    // The killed server's running job is re-adopted by the new one (simulated executor).
    const job = (await api(second).get<Job>(`/v1/jobs/${submitted.body.id}`)).body;
    expect(job.status).toBe('running');
    expect(await second.stop()).toBe(0);
  });

  it('answers a port in use with one line and exit 1, before it creates the data directory', { timeout: 120_000 }, async () => {
    const holder = await startServer(tempDir('port-holder'), SLOW);
    const port = new URL(holder.url).port;
    const data = path.join(tempDir('port'), 'data');
    const run = await cli(['serve', '--data', data, '--port', port], {}, 60_000);
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toBe(
      `port ${port} on 127.0.0.1 is already in use (another Arbiter server, or another program); stop it, or give another --port\n`,
    );
    expect(run.stderr).not.toMatch(STACK);
    expect(existsSync(data)).toBe(false);
    expect(await holder.stop()).toBe(0);
  });
});

describe('npm start', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops the server cleanly on ${signal} sent to npm, and logs that it stopped`, { timeout: 120_000 }, async () => {
      const data = tempDir('npm-start');
      const npm = spawn('npm', ['start', '--', '--data', data, '--port', '0'], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      npm.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      npm.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      const npmExit = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
      try {
        const url = await waitFor(() => /Arbiter is serving on (http:\/\/\S+)/.exec(out)?.[1], 'the server to start', 90_000);
        const serverPid = (JSON.parse(readFileSync(path.join(data, 'server.json'), 'utf8')) as { pid: number }).pid;
        expect(serverPid).not.toBe(npm.pid);
        expect(alive(serverPid)).toBe(true);

        npm.kill(signal);
        await npmExit;
        await waitFor(() => !alive(serverPid), `server pid ${serverPid} to exit`, 15_000);
        await expect(fetch(`${url}/v1/fleet`)).rejects.toThrow();
        expect(out).toContain(`Arbiter stopped (${signal}): no longer serving on ${url}`);
        expect(existsSync(path.join(data, 'server.json'))).toBe(false);
      } finally {
        if (npm.exitCode === null) npm.kill('SIGKILL');
      }
    });
  }
});
