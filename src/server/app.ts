// The HTTP API (docs/api.md): routes, auth, validation, errors, OpenAPI and metrics.
// Errors are mapped to HTTP in one place (the error handler); a rejected request changes
// nothing, because validation and permission checks run before any command reaches the loop.
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import type { Logger } from 'pino';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Fleet, Policy } from '../core/model.js';
import type { StoredJob, Store } from '../storage/port.js';
import { StorageError } from '../storage/port.js';
import { hashToken, subtree } from './auth.js';
import type { Principal } from './auth.js';
import { actionOf, authorize, roleRefusal, RULES } from './authorization.js';
import type { Action } from './authorization.js';
import type { LiveScheduler } from './live.js';
import { ConflictError, InfeasibleJobError } from './live.js';
import { IdempotencyConflict, sameSubmission, submissionHash } from './idempotency.js';
import type { Metrics } from './metrics.js';
import { buildOpenApi } from './openapi.js';
import { AuditTailError, type AuditLog } from './audit.js';
import type { Governance } from './governance.js';
import { GovernanceError } from './governance.js';
import { registerGovernanceRoutes } from './governance-routes.js';
import { JobListQuery, JobSubmission, QueueQuery, TokenRevokeQuery, UsageQuery } from './schemas.js';
import { usageReport, type UsageTeam } from './usage.js';
import { Changes } from './changes.js';
import type { Topic } from './changes.js';
import { QueueIndex } from './queue-index.js';
import { registerWeb } from './web.js';
import { Buckets, DEFAULT_LIMITS } from './limits.js';
import type { Limits } from './limits.js';
import { urlProblems } from './text-checks.js';
import { readJson, validate, zodIssues } from './request-body.js';
import type { JobViewType, TeamNode } from './schemas.js';

export interface AppContext {
  readonly live: LiveScheduler;
  readonly store: Store;
  readonly fleet: Fleet;
  readonly executorKind: 'simulated' | 'local' | 'slurm';
  readonly storeKind: 'sqlite' | 'postgres';
  readonly metrics: Metrics;
  readonly governance: Governance;
  readonly audit: AuditLog;
  readonly clock: () => number;
  /** JSON logs with request ids. */
  readonly logger: Logger;
  /** Rates, timeouts and body sizes (default: DEFAULT_LIMITS). */
  readonly limits?: Limits;
  /** Live updates of GET /v1/events; the scheduling loop's passes notify it too (serve.ts). */
  readonly changes?: Changes;
  /** The built dashboard (default: web/dist of this checkout). */
  readonly webDir?: string;
  /** PostgreSQL: this server's hold on the leader's lock (false while it is lost and retaken). */
  readonly leadership?: { readonly held: boolean; readonly epoch: number };
}

/** An HTTP error with the body of docs/api.md. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const invalid = (message: string, issues: { path: string; message: string }[]): ApiError => new ApiError(400, 'invalid_input', message, issues);

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const result = validate(schema, value, what);
  if (!result.ok) throw invalid(result.problem.message, result.problem.issues);
  return result.value;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t * 1000).toISOString());

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The JSON body comes to the handler as bytes, unread (see the content type parser). */
    rawJson?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
    startedAt: number;
  }
}

/**
 * How long a token found in the store is trusted without reading it again: a revocation through
 * the API empties the cache at once, and one made by `arbiter token revoke` on the data directory
 * (another process) is seen within this time.
 */
export const TOKEN_CACHE_SECONDS = 1;

/** A long queue's reasons on GET /v1/queue are at most about this old (LiveScheduler.readReasons). */
export const QUEUE_REASONS_MAX_AGE = 30;

export async function buildApp(ctx: AppContext) {
  const limits = ctx.limits ?? DEFAULT_LIMITS;
  const { timeouts } = limits;
  const app = Fastify({
    loggerInstance: ctx.logger,
    // Every route takes a small body; the proposal routes say how large theirs may be.
    bodyLimit: limits.body.small,
    // Slow headers, slow bodies and idle keep-alive connections are cut (408, then closed): a
    // client cannot hold a connection open by sending a byte now and then.
    // (No socket inactivity timeout: a long answer, such as a proposal's impact analysis, is not cut.)
    requestTimeout: Math.round(timeouts.request * 1000),
    keepAliveTimeout: Math.round(timeouts.idle * 1000),
    http: { headersTimeout: Math.round(timeouts.headers * 1000), connectionsCheckingInterval: Math.round(Math.min(1000, (timeouts.headers * 1000) / 4)) },
    routerOptions: { maxParamLength: 200 },
    // request.ip is X-Forwarded-For's client only behind the proxies named here (--trust-proxy).
    ...(limits.trustProxy !== undefined && limits.trustProxy.length > 0 ? { trustProxy: [...limits.trustProxy] } : {}),
    // Malformed URLs never reach the routes: answer them in the API's error shape too.
    frameworkErrors: (error, request, rawReply) => {
      const reply = rawReply as unknown as FastifyReply;
      const auth = request.headers.authorization;
      if (typeof auth !== 'string' || auth.trim() === '') {
        void reply.status(401).send({ code: 'unauthorized', message: 'missing bearer token', issues: [] });
        return;
      }
      if ((error as { code?: string }).code === 'FST_ERR_MAX_PARAM_LENGTH') {
        // Job ids are short: a longer one names no job (and is not echoed back).
        void reply.status(404).send({ code: 'not_found', message: 'no such job', issues: [] });
        return;
      }
      void reply.status(400).send({ code: 'invalid_input', message: 'malformed URL (bad percent-encoding?)', issues: [{ path: '(url)', message: 'malformed URL' }] });
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
    },
  });
  const { live, store, metrics } = ctx;
  const changes = ctx.changes ?? new Changes();
  // Open event streams are ended before the server waits for its connections to finish.
  app.addHook('preClose', async () => changes.close());
  /** Names of the policy in force, rebuilt when a new version is in force. */
  let catalog: { version: number; policy: Policy; leaves: Set<string>; allTeams: Set<string>; classes: Set<string> } | null = null;
  const names = () => {
    const { policy, version } = live.policy;
    if (catalog?.version === version) return catalog;
    const leaves = new Set<string>();
    const allTeams = new Set<string>();
    const visit = (t: Policy['teams'][number]): void => {
      allTeams.add(t.name);
      if (t.children.length === 0) leaves.add(t.name);
      t.children.forEach(visit);
    };
    policy.teams.forEach(visit);
    return (catalog = { version, policy, leaves, allTeams, classes: new Set(policy.priorityClasses.map((c) => c.name)) });
  };
  const flavors = new Set(ctx.fleet.pools.map((p) => p.flavor));
  /** Token hash -> principal, until a time (performance.now() ms); see TOKEN_CACHE_SECONDS. */
  const tokenCache = new Map<string, { principal: Principal; until: number }>();

  // Every route needs a row in the authorization table (authorization.ts): a route without one
  // is a programming error, refused when it is registered rather than served unchecked.
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      if (actionOf(method, route.url) === undefined) throw new Error(`route ${method} ${route.url} has no row in the authorization table (src/server/authorization.ts)`);
    }
  });

  // JSON bodies are checked as bytes before they are decoded (request-body.ts): invalid UTF-8 is
  // a 400 naming the field it sits in (the default parser would store U+FFFD), and so is a lone
  // surrogate. A route marked rawJson (those that may attach a large trace) gets the bytes and
  // reads them itself, off the event loop (governance-routes.ts).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, raw, done) => {
    const bytes = raw as Buffer;
    if (request.routeOptions.config.rawJson === true) return done(null, bytes);
    const read = readJson(bytes);
    if (!read.ok) return done(invalid(read.problem.message, read.problem.issues), undefined);
    done(null, read.value);
  });

  app.decorateRequest('principal', null);
  app.decorateRequest('startedAt', 0);
  // Rate limits: every request costs its client address one, before authentication (a failed
  // authentication costs it authFailureCost more, once answered); then its token's user one.
  const byAddress = limits.rate.perAddress ? new Buckets(limits.rate.perAddress) : null;
  const byUser = limits.rate.perToken ? new Buckets(limits.rate.perToken) : null;
  const tooMany = (reply: FastifyReply, wait: number, who: string): ApiError => {
    const seconds = Math.max(1, Math.ceil(wait));
    void reply.header('retry-after', String(seconds));
    return new ApiError(429, 'rate_limited', `too many requests from ${who}; retry after ${seconds} s (see Retry-After)`);
  };
  if (byAddress) {
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (request.routeOptions.url === '/healthz') return;
      request.startedAt = performance.now();
      const wait = byAddress.take(request.ip, 1, performance.now() / 1000);
      if (wait > 0) throw tooMany(reply, wait, `this address (${request.ip})`);
    });
    app.addHook('onResponse', async (request, reply) => {
      if (reply.statusCode === 401) byAddress.charge(request.ip, limits.rate.authFailureCost, performance.now() / 1000);
    });
  }
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    request.startedAt = performance.now();
    void reply.header('x-request-id', request.id);
    const route = request.routeOptions.url;
    // HEAD is answered by the GET route of the same path.
    const action = route === undefined ? undefined : actionOf(request.method === 'HEAD' ? 'GET' : request.method, route);
    if (action === 'public') return;
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) throw new ApiError(401, 'unauthorized', 'missing bearer token: send "Authorization: Bearer <token>" (see `arbiter token create`)');
    const hash = hashToken(match[1]!);
    const now = performance.now();
    let cached = tokenCache.get(hash);
    if (!cached || cached.until <= now) {
      const token = await store.tokenByHash(hash);
      if (!token || token.revokedAt !== null) {
        tokenCache.delete(hash);
        throw new ApiError(401, 'unauthorized', 'unknown or revoked token');
      }
      // A row the signed log does not vouch for (added or edited in the database) is no token.
      const refusal = await ctx.audit.tokenRefusal(token);
      if (refusal !== null) {
        tokenCache.delete(hash);
        request.log.error({ token: token.id }, `token refused: ${refusal}`);
        throw new ApiError(401, 'unauthorized', 'unknown or revoked token');
      }
      if (tokenCache.size >= 10_000) tokenCache.clear();
      cached = { principal: { user: token.user, role: token.role, team: token.team }, until: now + TOKEN_CACHE_SECONDS * 1000 };
      tokenCache.set(hash, cached);
    }
    const principal = cached.principal;
    request.principal = principal;
    // A role without any grant for the route's action is refused before anything is read or parsed.
    if (action !== undefined) {
      const refused = roleRefusal(action, principal);
      if (refused) throw new ApiError(403, 'forbidden', refused);
    }
    // Deadlines of governance are applied once one has passed (no timer needed), off the request
    // path: no job, fleet or team request waits for a governance step (an analysis takes seconds).
    ctx.governance.onRequest();
  });
  if (byUser) {
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const principal = request.principal;
      if (!principal) return;
      const wait = byUser.take(principal.user, 1, performance.now() / 1000);
      if (wait > 0) throw tooMany(reply, wait, `user ${principal.user}`);
    });
  }
  // The URL's percent-escapes must be UTF-8 too (a query value or an id of invalid bytes).
  app.addHook('preHandler', async (request: FastifyRequest) => {
    const problems = urlProblems(request.url);
    if (problems.length > 0) throw invalid('the URL is not valid UTF-8', problems);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    // A write that succeeded changed something an open page may show (GET /v1/events).
    if (request.method !== 'GET' && request.method !== 'HEAD' && reply.statusCode < 300) {
      const topic: Topic = route.startsWith('/v1/jobs') ? 'jobs' : 'governance';
      changes.notify(topic);
    }
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ route, method: request.method }, (performance.now() - request.startedAt) / 1000);
  });

  app.setErrorHandler((error: unknown, request, reply) => {
    if (error instanceof ApiError) {
      return reply.status(error.status).send({ code: error.code, message: error.message, issues: error.issues });
    }
    if (error instanceof GovernanceError) {
      const code = { 400: 'invalid_input', 403: 'forbidden', 404: 'not_found', 409: 'conflict' }[error.status];
      return reply.status(error.status).send({ code, message: error.message, issues: error.issues });
    }
    if (error instanceof IdempotencyConflict) {
      return reply.status(409).send({ code: 'conflict', message: error.message, issues: [{ path: 'Idempotency-Key', message: error.message }] });
    }
    if (error instanceof AuditTailError) {
      request.log.error({ err: error }, 'audit log written behind the server');
      return reply.status(503).send({ code: 'audit_unverified', message: error.message, issues: [] });
    }
    if (error instanceof ConflictError) return reply.status(409).send({ code: 'conflict', message: error.message, issues: [] });
    if (error instanceof InfeasibleJobError) return reply.status(400).send({ code: 'invalid_input', message: error.message, issues: [{ path: 'gpus', message: error.reason }] });
    if (error instanceof StorageError && error.code === 'invalid_cursor') {
      return reply.status(400).send({ code: 'invalid_input', message: error.message, issues: [{ path: 'cursor', message: error.message }] });
    }
    const fastifyError = error as { statusCode?: number; code?: string; message?: string };
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const limit = request.routeOptions.bodyLimit ?? limits.body.small;
      const message = `the body is larger than the ${limit} bytes this route takes`;
      return reply.status(400).send({ code: 'invalid_input', message, issues: [{ path: '(body)', message }] });
    }
    if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
      // Broken JSON, wrong content type, body too large: the client's input is bad.
      const message = fastifyError.message ?? 'bad request';
      return reply.status(400).send({ code: 'invalid_input', message, issues: [{ path: '(body)', message }] });
    }
    request.log.error({ err: error }, 'request failed');
    const retryable = error instanceof StorageError ? error.retryable : false;
    return reply.status(retryable ? 503 : 500).send({ code: 'internal', message: 'the server could not complete the request; see its log', issues: [] });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ code: 'not_found', message: `no route ${request.method} ${request.url}`, issues: [] }),
  );

  const principalOf = (request: FastifyRequest): Principal => request.principal!;
  /** The authorization table's verdict on a job route (authorization.ts); 403 naming the rule. */
  const allow = (action: Action, request: FastifyRequest, subject: { team?: string; job?: StoredJob }): void => {
    const { job, team } = subject;
    const refused = authorize(action, principalOf(request), {
      trees: [live.policy.policy],
      ...(team !== undefined ? { team } : {}),
      ...(job ? { job: { id: job.id, team: job.team, submittedBy: job.submittedBy } } : {}),
    });
    if (refused) throw new ApiError(403, 'forbidden', refused);
  };

  const view = (job: StoredJob): JobViewType => {
    const j = job.status === 'pending' ? live.withReason(job) : job;
    const basis = j.status === 'pending' && j.expectedStart !== null ? (live.reasonOf(j)?.expectedStartBasis ?? null) : null;
    return {
      id: j.id,
      name: j.name,
      team: j.team,
      class: j.class,
      flavor: j.runFlavor ?? j.flavor,
      gpus: j.gpus,
      status: j.status,
      submittedAt: iso(j.submittedAt)!,
      startedAt: iso(j.startedAt),
      endedAt: iso(j.endedAt),
      placement: j.placement ?? [],
      preemptions: j.preemptions,
      reason: j.status === 'pending' && j.reasonCode ? { code: j.reasonCode, message: j.reasonMessage ?? '' } : null,
      expectedStart: j.status === 'pending' ? iso(j.expectedStart) : null,
      expectedStartBasis: basis,
      duration: j.duration,
      timeLimit: live.timeLimitOf(j),
      command: j.command,
      submittedBy: j.submittedBy,
      exitCode: j.exitCode,
      rejectReason: j.rejectReason,
    };
  };

  const findJob = async (id: string): Promise<StoredJob> => {
    if (id.length > 100) throw new ApiError(404, 'not_found', 'no such job');
    const job = live.activeJob(id) ?? (await store.getJob(id));
    if (!job) throw new ApiError(404, 'not_found', `no job ${id}`);
    return job;
  };

  // Readiness (docs/api.md): 503 while the database does not answer, the loop has events it
  // could not store, or the executor failed to start a run lately; each part says why.
  app.get('/healthz', async (_request, reply) => {
    const storeCheck = await storeHealth(store);
    const loop = live.loopHealth();
    const executor = live.executorHealth();
    const leading = ctx.leadership === undefined || ctx.leadership.held;
    const ok = storeCheck.ok && loop.ok && executor.ok && leading;
    void reply.code(ok ? 200 : 503);
    return {
      status: ok ? 'ok' : 'degraded',
      role: 'leader',
      ...(ctx.leadership === undefined
        ? {}
        : { leader: leading ? { ok: true, epoch: ctx.leadership.epoch } : { ok: false, epoch: ctx.leadership.epoch, cause: 'the connection holding the leader lock is lost: writes are refused until it is taken again (or another server takes over)' } }),
      store: { kind: ctx.storeKind, ...storeCheck },
      scheduler: loop,
      executor: { kind: ctx.executorKind, ...executor },
    };
  });
  app.get('/openapi.json', async () => buildOpenApi());
  app.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  /** Checks against the policy and the executor, on whatever fields have the right type. */
  const semanticProblems = (body: Record<string, unknown>): { path: string; message: string }[] => {
    const problems: { path: string; message: string }[] = [];
    const { policy, leaves, allTeams, classes } = names();
    const team = body['team'];
    if (typeof team === 'string' && !leaves.has(team)) {
      problems.push({
        path: 'team',
        message: allTeams.has(team)
          ? `team "${team}" has subteams; submit to one of its leaf teams: ${[...subtree(policy, team)].filter((t) => leaves.has(t)).join(', ')}`
          : `unknown team "${team.slice(0, 200)}"; teams that take jobs: ${[...leaves].join(', ')}`,
      });
    }
    const cls = body['class'];
    if (typeof cls === 'string' && !classes.has(cls)) problems.push({ path: 'class', message: `unknown class "${cls.slice(0, 100)}"; classes: ${[...classes].join(', ')}` });
    const flavor = body['flavor'];
    if (typeof flavor === 'string' && !flavors.has(flavor)) problems.push({ path: 'flavor', message: `unknown flavor "${flavor.slice(0, 100)}"; flavors: ${[...flavors].join(', ')}` });
    if (ctx.executorKind === 'simulated' && body['duration'] === undefined) problems.push({ path: 'duration', message: 'required with the simulated executor: seconds of work' });
    if (ctx.executorKind === 'local' && body['command'] === undefined) problems.push({ path: 'command', message: 'required with the local executor: the shell command to run' });
    if (ctx.executorKind === 'slurm' && body['command'] === undefined) problems.push({ path: 'command', message: 'required with the Slurm executor: the shell command of its batch script' });
    return problems;
  };

  app.post('/v1/jobs', async (request, reply) => {
    const raw = request.body;
    const shaped = JobSubmission.safeParse(raw);
    const problems = [
      ...(shaped.success ? [] : zodIssues(shaped.error, JobSubmission)),
      ...(raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? semanticProblems(raw as Record<string, unknown>) : []),
    ];
    if (problems.length > 0 || !shaped.success) throw invalid(`the job is not valid: ${problems.length} problem(s)`, problems);
    const body = shaped.data;
    const principal = principalOf(request);
    allow('jobs.submit', request, { team: body.team });
    const keyHeader = request.headers['idempotency-key'];
    const key = typeof keyHeader === 'string' ? keyHeader : null;
    if (key !== null && (key.length === 0 || key.length > 200)) throw invalid('bad Idempotency-Key', [{ path: 'Idempotency-Key', message: 'must be 1 to 200 characters' }]);
    // A repeat answers the first job; the same key with another body is a 409 and stores nothing.
    const repeat = async (): Promise<FastifyReply | null> => {
      const existing = await store.getJobByIdempotencyKey(principal.user, key!);
      if (!existing) return null;
      if (!sameSubmission(existing, body, submissionHash(body))) throw new IdempotencyConflict(key!, existing.id);
      return reply.status(200).send(view(live.activeJob(existing.id) ?? existing));
    };
    if (key !== null) {
      const answered = await repeat();
      if (answered) return answered;
    }
    // A job that can never run is refused now, by the engine's own admission rule; nothing is stored.
    const never = live.rejectionOf(body);
    if (never !== null) throw new InfeasibleJobError(never);
    try {
      const { job, created } = await live.submit(body, principal.user, key);
      return await reply.status(created ? 201 : 200).send(view(live.activeJob(job.id) ?? job));
    } catch (error) {
      // Two concurrent requests with one key: the second loses the unique index; answer like a repeat.
      if (key !== null && error instanceof StorageError && error.code === 'constraint') {
        const answered = await repeat();
        if (answered) return answered;
      }
      throw error;
    }
  });

  // Who the token is and what its role may do (the dashboard hides what it may not, with why).
  app.get('/v1/me', async (request) => {
    const { user, role, team } = principalOf(request);
    const rules = Object.fromEntries(Object.entries(RULES).map(([action, rule]) => [action, { what: rule.what, scope: rule.grants[role] ?? null, source: rule.source }]));
    return { user, role, team, rules };
  });

  // The pending jobs, oldest first, filtered and paged here: they are all in the loop's memory;
  // each filter's order is computed once per change of the pending jobs and shared by every
  // reader until the next (queue-index.ts), and reasons are read for the page only.
  const queueIndex = new QueueIndex(() => live.pendingInOrder());
  app.get('/v1/queue', async (request) => {
    const query = parse(QueueQuery, request.query, 'the query');
    const { policy, allTeams, classes } = names();
    const problems: { path: string; message: string }[] = [];
    if (query.team !== undefined && !allTeams.has(query.team)) problems.push({ path: 'team', message: `unknown team "${query.team}"; teams: ${[...allTeams].join(', ')}` });
    if (query.class !== undefined && !classes.has(query.class)) problems.push({ path: 'class', message: `unknown class "${query.class}"; classes: ${[...classes].join(', ')}` });
    if (query.flavor !== undefined && query.flavor !== 'any' && !flavors.has(query.flavor)) {
      problems.push({ path: 'flavor', message: `unknown flavor "${query.flavor}"; flavors: ${[...flavors].join(', ')}, or any` });
    }
    if (problems.length > 0) throw invalid(`the query is not valid: ${problems.length} problem(s)`, problems);
    const { ordered, mine, pending } = queueIndex.order({
      teams: query.team === undefined ? null : subtree(policy, query.team),
      class: query.class,
      flavor: query.flavor === 'any' ? null : query.flavor,
      user: query.user,
      mine: query.mine,
      me: principalOf(request).user,
    });
    const page = ordered.slice(query.offset, query.offset + query.limit);
    if (page.length > 0) await live.readReasons(QUEUE_REASONS_MAX_AGE);
    return {
      jobs: page.map((j) => view(live.activeJob(j.id) ?? j)),
      total: ordered.length,
      mine,
      pending,
      offset: query.offset,
      limit: query.limit,
      reasonsAt: iso(live.reasonsRefreshedAt),
    };
  });

  // Server-sent events: "something changed" (changes.ts); the page reads again what it shows.
  app.get('/v1/events', (request, reply) => {
    reply.hijack();
    changes.attach(reply.raw, request.id);
  });

  app.get('/v1/jobs/:id/runs', async (request) => {
    const job = await findJob((request.params as { id: string }).id);
    const runs = await store.runsOf(job.id);
    return {
      runs: runs.map((run) => ({
        start: iso(run.start)!,
        end: iso(run.end),
        flavor: run.flavor,
        placement: [...run.placement],
        outcome: run.outcome,
        preemptedBy: run.preemptedBy ?? null,
      })),
    };
  });

  // The history of a job's reasons: each change of its reason code while it waited, with the sentence then.
  app.get('/v1/jobs/:id/reasons', async (request) => {
    const job = await findJob((request.params as { id: string }).id);
    return { reasons: (await store.reasonsOf(job.id)).map((r) => ({ at: iso(r.at)!, code: r.code, message: r.message })) };
  });

  registerWeb(app, ctx.webDir);

  app.get('/v1/jobs/:id', async (request) => {
    const job = await findJob((request.params as { id: string }).id);
    if (job.status === 'pending') await live.freshReasons();
    return view(live.activeJob(job.id) ?? job);
  });

  app.get('/v1/jobs', async (request) => {
    const query = parse(JobListQuery, request.query, 'the query');
    const { policy, allTeams } = names();
    if (query.team !== undefined && !allTeams.has(query.team)) throw invalid('unknown team', [{ path: 'team', message: `unknown team "${query.team}"` }]);
    const teams = query.team === undefined ? undefined : [...subtree(policy, query.team)];
    const page = await store.listJobs({
      limit: query.limit,
      ...(teams ? { team: teams } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...(query.cursor ? { cursor: query.cursor } : {}),
    });
    if (page.jobs.some((j) => j.status === 'pending')) await live.freshReasons();
    return { jobs: page.jobs.map((j) => view(live.activeJob(j.id) ?? j)), nextCursor: page.nextCursor };
  });

  app.post('/v1/jobs/:id/cancel', async (request) => {
    const job = await findJob((request.params as { id: string }).id);
    allow('jobs.cancel', request, { job });
    if (job.status !== 'pending' && job.status !== 'running') throw new ApiError(409, 'conflict', `job ${job.id} is already ${job.status}`);
    return view(await live.cancel(job.id));
  });

  registerGovernanceRoutes(app, { governance: ctx.governance, audit: ctx.audit, store, parse, proposalBodyLimit: limits.body.proposal });

  // Tokens (admins, by the table): listed without their secrets or hashes, revoked at once.
  const tokenView = (t: { id: string; user: string; role: string; team: string | null; createdAt: number; revokedAt: number | null }) => ({
    id: t.id,
    user: t.user,
    role: t.role,
    team: t.team,
    createdAt: iso(t.createdAt)!,
    revokedAt: iso(t.revokedAt),
  });
  app.get('/v1/tokens', async () => ({ tokens: (await store.listTokens()).map(tokenView) }));
  app.delete('/v1/tokens/:id', async (request) => {
    const id = (request.params as { id: string }).id;
    const { reason } = parse(TokenRevokeQuery, request.query, 'the query');
    const token = (await store.listTokens()).find((t) => t.id === id);
    if (!token) throw new ApiError(404, 'not_found', `no token ${id.slice(0, 100)}; \`arbiter token list\` shows them`);
    await ctx.audit.signingStore.revokeToken(id, ctx.clock(), principalOf(request).user, reason ?? `revoked by ${principalOf(request).user} through the API`);
    // Every cached principal is read again: the revoked token answers 401 from the next request on.
    tokenCache.clear();
    const revoked = (await store.listTokens()).find((t) => t.id === id)!;
    return tokenView(revoked);
  });

  app.get('/v1/teams', async () => ({ teams: teamsView(live, live.policy.policy, ctx.clock()) }));

  // The usage report of a period (usage.ts): runs overlapping it, clipped, per team and bucket.
  app.get('/v1/usage', async (request) => {
    const query = parse(UsageQuery, request.query, 'the query');
    const from = Date.parse(query.from) / 1000;
    const to = Date.parse(query.to) / 1000;
    const { policy, allTeams } = names();
    const problems: { path: string; message: string }[] = [];
    if (to <= from) problems.push({ path: 'to', message: `the period ends (${query.to}) at or before it starts (${query.from}); give a later "to"` });
    else if (to - from > MAX_USAGE_DAYS * 86_400) problems.push({ path: 'to', message: `the period lasts more than ${MAX_USAGE_DAYS} days; ask for a shorter one` });
    if (query.team !== undefined && !allTeams.has(query.team)) problems.push({ path: 'team', message: `unknown team "${query.team}"; teams: ${[...allTeams].join(', ')}` });
    if (problems.length > 0) throw invalid(`the query is not valid: ${problems.length} problem(s)`, problems);
    const { teams, fleet } = live.engine;
    const tree = (spec: Policy['teams'][number]): UsageTeam => {
      const t = teams.byName.get(spec.name)!;
      let guarantee = 0;
      for (const info of fleet.flavors) guarantee += teams.guaranteed(t, info.index);
      return { name: spec.name, guarantee, children: spec.children.map(tree) };
    };
    const report = usageReport({
      from,
      to,
      by: query.by,
      now: ctx.clock(),
      teams: policy.teams.map(tree),
      fleetGpus: ctx.fleet.pools.reduce((n, p) => n + p.nodes * p.gpusPerNode, 0),
      runs: await store.runsOverlapping(from, to),
    });
    const shown = query.team === undefined ? null : subtree(policy, query.team);
    return {
      ...report,
      from: iso(from)!,
      to: iso(to)!,
      buckets: report.buckets.map((b) => ({ start: iso(b.start)!, end: iso(b.end)! })),
      policyVersion: live.policy.version,
      teams: shown === null ? report.teams : report.teams.filter((t) => shown.has(t.team)),
    };
  });
  app.get('/v1/fleet', async () => fleetView(live, ctx.fleet));
  app.get('/v1/policy', async () => ({ version: live.policy.version, policy: live.policy.policy, text: live.policy.text }));

  return app;
}

/** The longest period GET /v1/usage reports on (a year and a day: 367 daily buckets at most). */
const MAX_USAGE_DAYS = 367;

function teamsView(live: LiveScheduler, policy: Policy, now: number): TeamNode[] {
  const { teams, fleet } = live.engine;
  const pendingGpus = new Map<string, number>();
  for (const job of live.engine.pendingJobs()) {
    const key = `${job.spec.team}\u0000${job.spec.flavor ?? '*'}`;
    pendingGpus.set(key, (pendingGpus.get(key) ?? 0) + job.gpus);
  }
  const build = (spec: Policy['teams'][number]): TeamNode => {
    const t = teams.byName.get(spec.name)!;
    const leavesBelow = [...subtree(policy, spec.name)];
    const flavors: TeamNode['flavors'] = {};
    for (const info of fleet.flavors) {
      const limit = teams.limitOf(t, info.index);
      // Jobs that take any flavor are counted under the first flavor in pool order.
      let pending = 0;
      for (const leaf of leavesBelow) pending += (pendingGpus.get(`${leaf}\u0000${info.name}`) ?? 0) + (info.index === 0 ? (pendingGpus.get(`${leaf}\u0000*`) ?? 0) : 0);
      flavors[info.name] = {
        guarantee: teams.guaranteed(t, info.index),
        limit: Number.isFinite(limit) ? limit : null,
        usage: teams.used(t, info.index),
        borrowed: Math.max(0, teams.used(t, info.index) - teams.guaranteed(t, info.index)),
        pending,
      };
    }
    return {
      name: spec.name,
      weight: spec.weight,
      flavors,
      fairShare: { decayedUsage: teams.decayedUsage(t, now), standing: teams.standing(t, now) },
      children: spec.children.map(build),
    };
  };
  return policy.teams.map(build);
}

function fleetView(live: LiveScheduler, fleet: Fleet) {
  const held = new Map<string, { job: string; team: string; gpus: number }[]>();
  for (const job of live.activeJobs()) {
    for (const p of job.placement ?? []) {
      let list = held.get(p.node);
      if (!list) held.set(p.node, (list = []));
      list.push({ job: job.id, team: job.team, gpus: p.gpus });
    }
  }
  // Jobs outside Arbiter (Slurm) hold GPUs too: listed with the node, as held by "outside".
  for (const job of live.foreignJobs) {
    for (const p of job.placement) {
      let list = held.get(p.node);
      if (!list) held.set(p.node, (list = []));
      list.push({ job: `slurm:${job.id}`, team: `outside Arbiter (${job.user || 'unknown user'})`, gpus: p.gpus });
    }
  }
  const unavailable = new Map(live.conditions.filter((c) => c.state !== null).map((c) => [c.node, c]));
  const index = live.engine.fleet;
  const reserved = new Map<number, string>();
  const reservation = live.engine.lastPassReservation;
  if (reservation) for (const n of reservation.nodes) reserved.set(n, live.engine.jobs[reservation.job]!.spec.id);
  let node = 0;
  return {
    ...(live.foreignJobs.length > 0 ? { outside: live.foreignJobs } : {}),
    pools: fleet.pools.map((pool) => ({
      name: pool.name,
      flavor: pool.flavor,
      gpusPerNode: pool.gpusPerNode,
      rackSize: pool.rackSize ?? pool.nodes,
      nodes: Array.from({ length: pool.nodes }, (_, i) => {
        const name = index.nodeNames[node]!;
        const free = index.free[node]!;
        const reservedFor = reserved.get(node) ?? null;
        node++;
        const down = unavailable.get(name);
        return { name, gpus: pool.gpusPerNode, free, rack: Math.floor(i / (pool.rackSize ?? pool.nodes)), reservedFor, held: held.get(name) ?? [], ...(down ? { unavailable: { state: down.state, why: down.why } } : {}) };
      }),
    })),
  };
}

/** A store that does not answer within this long is reported down (a hung connection too). */
const HEALTH_TIMEOUT_MS = 2000;

async function storeHealth(store: Store): Promise<{ ok: boolean; cause?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`the database did not answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
  });
  try {
    await Promise.race([store.ping(), late]);
    return { ok: true };
  } catch (error) {
    return { ok: false, cause: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}
