// What a standby serves (docs/api.md, "Leader and standbys"): it holds no state of its own to
// answer from, so every route but /healthz answers 503 `standby` naming the leader's URL (in
// the body's `leader` and the X-Arbiter-Leader header), with Retry-After: 1. Clients given
// several servers (`--server A,B` or ARBITER_SERVER=A,B) go to the leader. /healthz answers 503
// with `role: "standby"`: a load balancer never sends traffic to a standby.
import Fastify, { type FastifyInstance } from 'fastify';

import type { LeaderInfo } from '../storage/leadership.js';

export interface StandbyView {
  /** The leader as last seen (null: nobody leads, this server may take over at any moment). */
  leader(): LeaderInfo | null;
  /** "standby", or "taking over" once this server holds the lock and recovers. */
  state(): 'standby' | 'taking over';
}

export function buildStandbyApp(view: StandbyView): FastifyInstance {
  const app = Fastify({ logger: false });
  const answer = (): { leader: string | null; message: string } => {
    const leader = view.leader();
    if (view.state() === 'taking over')
      return { leader: null, message: 'this server is taking over as the leader (recovering what the last one stored); retry in a second' };
    return {
      leader: leader?.url ?? null,
      message: leader === null
        ? 'this server is a standby and no server leads right now (one takes over within seconds); retry in a second'
        : leader.url !== null
          ? `this server is a standby; the leader is ${leader.url}: send requests there (arbiter clients given several --server addresses find it)`
          : `this server is a standby; the leader (${leader.description}) has not said where it serves yet; retry in a second`,
    };
  };
  app.get('/healthz', async (_request, reply) => {
    const { leader, message } = answer();
    if (leader !== null) void reply.header('x-arbiter-leader', leader);
    void reply.code(503);
    return { status: view.state() === 'taking over' ? 'starting' : 'standby', role: 'standby', leader, cause: message };
  });
  app.all('/*', async (_request, reply) => {
    const { leader, message } = answer();
    if (leader !== null) void reply.header('x-arbiter-leader', leader);
    void reply.code(503).header('retry-after', '1');
    return { code: 'standby', message, issues: [], leader };
  });
  return app;
}
