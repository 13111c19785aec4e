// A throwaway PostgreSQL cluster for tests: initdb in a temporary folder, a server on a free
// port of 127.0.0.1 (and a socket in that folder), a fresh database per test, all removed at
// stop. Started as the `postgres` user when the tests run as root (PostgreSQL refuses root).
//
// The server binaries are looked up in $ARBITER_PG_BIN, then /usr/lib/postgresql/<newest>/bin
// (Debian), then `pg_config --bindir`, then PATH. When none has them, startPgCluster throws a
// clear error: the PostgreSQL tests fail, never skip (CI installs the `postgresql` package).
//
// fsync is off (unless `durable`, for benchmarks): a test cluster holds nothing worth keeping, and CREATE DATABASE per test gets
// much faster. What the store writes still goes through the same SQL and transactions.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import pg from 'pg';

const run = promisify(execFile);

export interface PgCluster {
  readonly port: number;
  /** The folder that holds the cluster's data, socket and log. */
  readonly dir: string;
  /** The URL of database `db` (superuser "postgres", no password: trust on 127.0.0.1). */
  url(db?: string): string;
  /** Creates a new, empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /** The server's log so far (for diagnosis). */
  log(): string;
  /** kill -9 of the postmaster (an outage: its backends end as soon as they notice). */
  crash(): void;
  /** Starts the server again on the same port and data (after crash()); resolves once it accepts connections. */
  restart(): Promise<void>;
  /** Stops the server (immediate) and removes the folder. */
  stop(): Promise<void>;
}

const NEEDED = ['initdb', 'pg_ctl', 'postgres'];

const hasAll = (dir: string): boolean => NEEDED.every((b) => existsSync(path.join(dir, b)));

/** The folder of the PostgreSQL server binaries, or a message saying where none was found. */
export function findPgBin(): { dir: string } | { missing: string } {
  const tried: string[] = [];
  const env = process.env['ARBITER_PG_BIN'];
  if (env !== undefined && env !== '') {
    if (hasAll(env)) return { dir: env };
    tried.push(`$ARBITER_PG_BIN (${env})`);
  }
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions)
      if (hasAll(path.join(debian, v, 'bin'))) return { dir: path.join(debian, v, 'bin') };
  }
  tried.push(`${debian}/<version>/bin`);
  const config = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (config.status === 0 && hasAll(config.stdout.trim())) return { dir: config.stdout.trim() };
  tried.push('pg_config --bindir');
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter))
    if (dir !== '' && hasAll(dir)) return { dir };
  tried.push('PATH');
  return {
    missing:
      `PostgreSQL server binaries (${NEEDED.join(', ')}) not found in ${tried.join(', ')}: ` +
      'install them (Debian: apt-get install postgresql) or set ARBITER_PG_BIN to their folder. ' +
      'The PostgreSQL tests need a real server and do not skip without one.',
  };
}

/** A TCP port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** The command that runs `bin` as the postgres user when we are root, else as ourselves. */
function asPostgres(bin: string, args: readonly string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, [...args]];
}

let databases = 0;

/**
 * `durable`: fsync on (for benchmarks set beside SQLite's synchronous=FULL); tests leave it off.
 */
export async function startPgCluster(options: { durable?: boolean } = {}): Promise<PgCluster> {
  const found = findPgBin();
  if ('missing' in found) throw new Error(found.missing);
  const bin = (name: string): string => path.join(found.dir, name);
  // As root, in /tmp: the postgres user must reach the folder, and $TMPDIR may be under /root.
  const dir = mkdtempSync(path.join(isRoot() ? '/tmp' : tmpdir(), 'arbiter-pg-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  if (isRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const pgCtl = async (args: readonly string[]): Promise<void> => {
    const [command, argv] = asPostgres(bin('pg_ctl'), args);
    await run(command, argv, { timeout: 60_000 });
  };
  let port = 0;
  let stopped = false;
  const pgStart = (): Promise<void> =>
    pgCtl([
      '-D',
      data,
      '-l',
      logFile,
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=${options.durable === true ? 'on' : 'off'} -c max_connections=200`,
      'start',
    ]);
  const stopNow = (): void => {
    if (stopped) return;
    stopped = true;
    const [command, argv] = asPostgres(bin('pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
    spawnSync(command, argv, { stdio: 'ignore', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
  };
  // A test process that ends without afterAll (a crash, a timeout) leaves no server behind.
  process.once('exit', stopNow);
  try {
    const [initCommand, initArgs] = asPostgres(bin('initdb'), [
      '-D',
      data,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    await run(initCommand, initArgs, { timeout: 120_000 });
    // The port is free when picked, but another process may take it first: try a few.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await pgStart();
        break;
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  } catch (error) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    stopNow();
    process.off('exit', stopNow);
    throw new Error(`could not start a PostgreSQL test cluster: ${String(error)}\n${log}`, { cause: error });
  }
  const url = (db = 'postgres'): string => `postgres://postgres@127.0.0.1:${port}/${db}`;
  return {
    port,
    dir,
    url,
    async createDatabase() {
      const name = `arbiter_test_${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    crash() {
      // The first line of postmaster.pid is the postmaster's pid.
      const pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGKILL');
    },
    async restart() {
      // pg_ctl start refuses while the old postmaster.pid names a live process: its backends
      // exit on their own once the postmaster is gone (a few ms).
      for (let attempt = 1; ; attempt++) {
        try {
          await pgStart();
          return;
        } catch (error) {
          if (attempt >= 20) throw error;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
    },
    async stop() {
      if (stopped) return;
      process.off('exit', stopNow);
      try {
        await pgCtl(['-D', data, '-m', 'immediate', 'stop']);
      } catch {
        // already stopped: nothing to do but remove the folder
      }
      stopped = true;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
