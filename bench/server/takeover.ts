// How long a standby takes to lead after the leader is killed (docs/architecture.md, "One leader,
// hot standbys"): two real `arbiter serve` on one database of a throwaway PostgreSQL cluster
// (test/pg-harness.ts, fsync on), the leader holding a fleet of running jobs and a queue.
//
//   npx tsc --outDir dist-bench --rootDir . --module NodeNext --moduleResolution NodeNext \
//     --target ES2022 --strict --skipLibCheck --types node bench/server/takeover.ts
//   node dist-bench/bench/server/takeover.js [--rounds 10] [--jobs 500]   (from the repository root)
//
// Each round: kill -9 of the leader, then the time until the standby answers /healthz 200 as the
// leader (it took the lock, moved the epoch on, recovered every job and listens); the killed one
// comes back as the next standby. Printed: every round, the median and the worst.
import path from 'node:path';

import { startPgCluster } from '../../test/pg-harness.js';
import { api, smallCluster, STANDBY_READY, startServer, stopAllServers, tempDir, writeFile, type Server } from '../../test/server-harness.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const n = i < 0 ? fallback : Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}: expected a positive integer`);
  return n;
}

async function main(): Promise<void> {
  const rounds = option('--rounds', 10);
  const jobs = option('--jobs', 500);
  const cluster = await startPgCluster({ durable: true });
  try {
    const dir = tempDir('bench-takeover');
    const args = [
      '--database', await cluster.createDatabase(),
      '--cluster', writeFile(dir, 'cluster.yaml', smallCluster(16, 8)),
      '--policy', writeFile(dir, 'policy.yaml', 'teams:\n  - name: alpha\n    guarantee: { h100: 64 }\n  - name: beta\n    guarantee: { h100: 64 }\n'),
      '--audit-key', path.join(dir, 'audit-key.pem'),
    ];
    const data = (n: number): string => path.join(dir, `data-${n}`);
    let leader: Server = await startServer(data(1), { args });
    const token = leader.adminToken;
    let standby: Server = await startServer(data(2), { args, ready: STANDBY_READY });
    const dataOf = new Map<Server, number>([[leader, 1], [standby, 2]]);
    const a = api(leader);
    for (let i = 0; i < jobs; i++) {
      const r = await a.post('/v1/jobs', { team: i % 2 ? 'alpha' : 'beta', gpus: 1 + (i % 8), duration: 1e6 });
      if (r.status !== 201) throw new Error(`submission ${i}: ${r.status} ${r.text}`);
    }
    const times: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const killedAt = performance.now();
      leader.process.kill('SIGKILL');
      const next = standby;
      for (;;) {
        const r = await api({ url: next.url, adminToken: token }).get<{ role?: string }>('/healthz', null).catch(() => null);
        if (r?.status === 200 && r.body.role === 'leader') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const ms = performance.now() - killedAt;
      times.push(ms);
      process.stdout.write(`round ${round}: ${Math.round(ms)} ms\n`);
      const n = dataOf.get(leader)!;
      standby = await startServer(data(n), { args, ready: STANDBY_READY });
      dataOf.set(standby, n);
      leader = next;
    }
    const sorted = [...times].sort((x, y) => x - y);
    const median = (sorted[(sorted.length - 1) >> 1]! + sorted[sorted.length >> 1]!) / 2;
    process.stdout.write(`takeover after kill -9 of the leader (${jobs} jobs stored, ${rounds} rounds): median ${Math.round(median)} ms, worst ${Math.round(sorted.at(-1)!)} ms\n`);
  } finally {
    await stopAllServers();
    await cluster.stop();
  }
}

await main();
