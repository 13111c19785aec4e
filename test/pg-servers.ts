// The set-up shared by the test files that run the built `arbiter serve` on a throwaway
// PostgreSQL cluster (test/pg-harness.ts): one cluster per file, stopped with every server after.
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { startPgCluster, type PgCluster } from './pg-harness.js';
import { assertDistFresh, stopAllServers } from './server-harness.js';

/**
 * Registers the file's beforeAll (the built code is checked, a cluster started) and afterAll
 * (every server stopped, then the cluster). Returns the cluster's getter, which throws in a test
 * when beforeAll failed, so the test names the cause instead of failing on undefined.
 */
export function pgClusterForServers(): () => PgCluster {
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    assertDistFresh();
    cluster = await startPgCluster();
  }, 120_000);
  afterAll(async () => {
    await stopAllServers();
    await cluster?.stop();
  });
  return () => {
    if (cluster === undefined) throw new Error('no PostgreSQL test cluster (see the error of beforeAll)');
    return cluster;
  };
}

/** The rows of one statement on `url`, on a connection of its own (closed after). */
export async function query<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}
