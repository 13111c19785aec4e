// GET /openapi.json: the OpenAPI 3 description of every route, generated from the same zod
// schemas that validate requests, so the description cannot drift from the behaviour.
import { z } from 'zod';
import { ErrorBody, FleetView, Health, JobList, JobListQuery, JobSubmission, JobView, MeView, PolicyView, QueueQuery, QueueView, ReasonsView, RunsView, TeamsView, TokenList, TokenRevokeQuery, TokenView, UsageQuery, UsageView } from './schemas.js';
import { AmendBody, AuditEntries, AuditQuery, CommentBody, CommentList, CommentListQuery, CheckpointView, ConsistencyQuery, OverruleBody, ProofView, ProposalBody, ProposalList, ProposalListQuery, ProposalView, ResponseBody, VersionList, VoteBody } from './governance-schemas.js';

/** Shared definitions (recursive schemas such as the team tree) go to components.schemas. */
const components: Record<string, unknown> = {};

/** Rewrites JSON-schema references to their place in the OpenAPI document. */
function rehome(value: unknown, names: Map<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => rehome(v, names));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string') {
      const name = names.get(v.replace(/^#\/(definitions|\$defs)\//, ''));
      out[k] = name ? `#/components/schemas/${name}` : v;
    } else if (k !== 'definitions' && k !== '$defs' && k !== '$schema') {
      out[k] = rehome(v, names);
    }
  }
  return out;
}

const schema = (s: z.ZodType, name = 'Schema'): object => {
  const raw = z.toJSONSchema(s, { target: 'openapi-3.0', unrepresentable: 'any' }) as Record<string, unknown>;
  const defs = (raw['definitions'] ?? raw['$defs'] ?? {}) as Record<string, unknown>;
  const names = new Map<string, string>();
  Object.keys(defs).forEach((key, i) => names.set(key, `${name}${i === 0 ? '' : i}`));
  for (const [key, def] of Object.entries(defs)) components[names.get(key)!] = rehome(def, names);
  return rehome(raw, names) as object;
};

const json = (s: z.ZodType, description: string, name?: string) => ({ description, content: { 'application/json': { schema: schema(s, name) } } });

const errors = {
  '400': json(ErrorBody, 'invalid input: every problem listed in issues; nothing changed'),
  '401': json(ErrorBody, 'missing or unknown token'),
  '403': json(ErrorBody, 'understood but not allowed; the message names the rule'),
};

const idParam = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }];

export function buildOpenApi(): object {
  const queryParams = Object.entries((schema(JobListQuery) as { properties: Record<string, object> }).properties).map(([name, s]) => ({
    name,
    in: 'query',
    required: false,
    schema: s,
  }));
  const paths = buildPaths(queryParams);
  return {
    openapi: '3.0.3',
    info: { title: 'Arbiter', version: '1', description: 'Fair, visible and governed sharing of a GPU fleet (docs/api.md).' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: components },
    security: [{ bearer: [] }],
    paths,
  };
}

function buildPaths(queryParams: object[]): object {
  return {
      '/healthz': { get: { summary: 'readiness: the store, the scheduling loop and the executor', security: [], responses: { '200': json(Health, 'ok'), '503': json(Health, 'degraded: a part is not ok, with its cause') } } },
      '/openapi.json': { get: { summary: 'this document', responses: { '200': { description: 'OpenAPI 3' }, ...errors } } },
      '/metrics': { get: { summary: 'Prometheus metrics (names start with arbiter_)', responses: { '200': { description: 'text format' }, ...errors } } },
      '/v1/jobs': {
        post: {
          summary: 'submit a job; with an Idempotency-Key header a repeat with the same body returns the same job (200), with another body a 409',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 200 } }],
          requestBody: { required: true, content: { 'application/json': { schema: schema(JobSubmission) } } },
          responses: { '201': json(JobView, 'stored (on disk)'), '200': json(JobView, 'a repeat of an earlier submission'), '409': json(ErrorBody, 'the Idempotency-Key was used with another body'), ...errors },
        },
        get: { summary: 'list jobs, newest first, paginated', parameters: queryParams, responses: { '200': json(JobList, 'a page'), ...errors } },
      },
      '/v1/jobs/{id}': { get: { summary: 'one job', parameters: idParam, responses: { '200': json(JobView, 'the job'), '404': json(ErrorBody, 'no such job'), ...errors } } },
      '/v1/jobs/{id}/cancel': {
        post: {
          summary: 'cancel a pending or running job',
          parameters: idParam,
          responses: { '200': json(JobView, 'cancelled'), '404': json(ErrorBody, 'no such job'), '409': json(ErrorBody, 'already finished'), ...errors },
        },
      },
      '/v1/jobs/{id}/runs': {
        get: { summary: "a job's runs, oldest first; a preempted run names the job its GPUs went to", parameters: idParam, responses: { '200': json(RunsView, 'the runs'), '404': json(ErrorBody, 'no such job'), ...errors } },
      },
      '/v1/jobs/{id}/reasons': {
        get: { summary: "the history of a job's reasons: each change of its reason code while it waited, oldest first", parameters: idParam, responses: { '200': json(ReasonsView, 'the reasons'), '404': json(ErrorBody, 'no such job'), ...errors } },
      },
      '/v1/queue': {
        get: {
          summary: 'pending jobs, oldest first, filtered by team (with its subtree), class, flavor and user, the caller’s own first or only; paged by offset',
          parameters: queryOf(QueueQuery),
          responses: { '200': json(QueueView, 'a page of the queue'), ...errors },
        },
      },
      '/v1/me': { get: { summary: 'the caller: user, role, team, and what the role may do', responses: { '200': json(MeView, 'the caller'), ...errors } } },
      '/v1/events': {
        get: {
          summary: 'server-sent events: `change` (with seq and topics: jobs, governance) whenever something changed, at most every 250 ms; no data beyond that',
          responses: { '200': { description: 'text/event-stream' }, ...errors },
        },
      },
      '/v1/teams': { get: { summary: 'the team tree with guarantee, limit, usage, borrowed and pending GPUs per flavor, and fair-share standing', responses: { '200': json(TeamsView, 'teams', 'Team'), ...errors } } },
      '/v1/usage': {
        get: {
          summary: 'usage report of a period: GPU-hours per team (leaves and parents) and per day or week against guarantee-hours, wait percentiles and preemptions; runs clipped to the period',
          parameters: queryOf(UsageQuery, ['from', 'to']),
          responses: { '200': json(UsageView, 'the report'), ...errors },
        },
      },
      '/v1/fleet': { get: { summary: 'pools and nodes, GPUs free and held, and by whom', responses: { '200': json(FleetView, 'the fleet'), ...errors } } },
      '/v1/policy': { get: { summary: 'the policy in force and its version', responses: { '200': json(PolicyView, 'the policy'), ...errors } } },
      '/v1/tokens': { get: { summary: 'admin: every token with its user, role and team (never the secret)', responses: { '200': json(TokenList, 'tokens'), ...errors } } },
      '/v1/tokens/{id}': {
        delete: {
          summary: 'admin: revoke a token; it answers 401 on every route from the next request on (recorded in the audit log as token.revoke)',
          parameters: [...idParam, ...queryOf(TokenRevokeQuery)],
          responses: { '200': json(TokenView, 'the token, revoked'), '404': json(ErrorBody, 'no such token'), ...errors },
        },
      },
      ...governancePaths(),
  };
}

/** Query parameters of a zod object schema. */
const queryOf = (s: z.ZodType, required: readonly string[] = []): object[] =>
  Object.entries((schema(s) as { properties: Record<string, object> }).properties).map(([name, p]) => ({ name, in: 'query', required: required.includes(name), schema: p }));

/** docs/governance.md, "Routes". */
function governancePaths(): object {
  const proposal = (description: string) => json(ProposalView, description, 'Proposal');
  const conflict = { '404': json(ErrorBody, 'no such proposal'), '409': json(ErrorBody, 'not possible in the proposal’s current state (or, for a ballot, the report is no longer current)'), ...errors };
  const action = (summary: string, body?: z.ZodType) => ({
    post: {
      summary,
      parameters: idParam,
      ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: schema(body) } } } } : {}),
      responses: { '200': proposal('the proposal after the request, with the receipt of its audit-log entry'), ...conflict },
    },
  });
  return {
    '/v1/proposals': {
      post: {
        summary: 'propose a policy change (leads, council, admins): the impact analysis runs at once',
        requestBody: { required: true, content: { 'application/json': { schema: schema(ProposalBody) } } },
        responses: { '201': proposal('the proposal, in consultation, with its impact report'), ...errors },
      },
      get: { summary: 'proposals, newest first, paginated (limit 1 to 200, default 50; cursor: the nextCursor of the previous page); without their comments', parameters: queryOf(ProposalListQuery), responses: { '200': json(ProposalList, 'a page of proposals'), ...errors } },
    },
    '/v1/proposals/{id}': { get: { summary: 'one proposal with its impact report', parameters: idParam, responses: { '200': proposal('the proposal'), '404': json(ErrorBody, 'no such proposal'), ...errors } } },
    '/v1/proposals/{id}/amend': action('author: a new policy and rationale; a new impact report; earlier ballots and responses become stale', AmendBody),
    '/v1/proposals/{id}/withdraw': action('author: withdraw the proposal'),
    '/v1/proposals/{id}/responses': action('lead of an affected team: consent, object (naming the metric) or abstain, with a reason', ResponseBody),
    '/v1/proposals/{id}/votes': action('council: approve, reject or abstain on the current impact report (409 when reportHash is not current)', VoteBody),
    '/v1/proposals/{id}/overrule': action('council: a vote to overrule the open objections', OverruleBody),
    '/v1/proposals/{id}/comments': {
      ...action('anyone: a comment on the proposal', CommentBody),
      get: {
        summary: "a proposal's comments, oldest first, paginated (limit 1 to 500, default 100; cursor: the nextCursor of the previous page, or the proposal's commentsNextCursor)",
        parameters: [...idParam, ...queryOf(CommentListQuery)],
        responses: { '200': json(CommentList, 'a page of comments'), '404': json(ErrorBody, 'no such proposal'), ...errors },
      },
    },
    '/v1/proposals/{id}/petition': action('member of an affected team: sign the petition to reopen consultation'),
    '/v1/proposals/{id}/rollback': action('council: return to the policy before this proposal'),
    '/v1/emergency': {
      post: {
        summary: 'admin: an emergency change, in force at once; it reverts unless ratified in time',
        requestBody: { required: true, content: { 'application/json': { schema: schema(ProposalBody) } } },
        responses: { '201': proposal('the emergency proposal'), ...errors },
      },
    },
    '/v1/policy/versions': { get: { summary: 'every policy version with the proposal that made it', responses: { '200': json(VersionList, 'versions'), ...errors } } },
    '/v1/policy/versions/{version}': {
      get: {
        summary: 'one policy version: its text as given, when, by whom and why',
        parameters: [{ name: 'version', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } }],
        responses: { '200': { description: '{version, text, createdAt, actor, reason}' }, '404': json(ErrorBody, 'no such version'), ...errors },
      },
    },
    '/v1/audit': { get: { summary: 'audit-log entries with their index', parameters: queryOf(AuditQuery), responses: { '200': json(AuditEntries, 'entries'), ...errors } } },
    '/v1/audit/checkpoint': { get: { summary: 'the latest signed checkpoint', responses: { '200': json(CheckpointView, 'checkpoint'), ...errors } } },
    '/v1/audit/checkpoints': { get: { summary: 'every signed checkpoint and the public key', responses: { '200': { description: '{checkpoints, publicKey}' }, ...errors } } },
    '/v1/audit/proof/inclusion/{index}': {
      get: {
        summary: 'RFC 6962 audit path of an entry in the tree of `size` entries (default: the latest checkpoint)',
        parameters: [{ name: 'index', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } }, { name: 'size', in: 'query', required: false, schema: { type: 'integer', minimum: 1 } }],
        responses: { '200': json(ProofView, 'the proof'), '404': json(ErrorBody, 'no such entry'), ...errors },
      },
    },
    '/v1/audit/proof/consistency': { get: { summary: 'RFC 6962 consistency proof between two tree sizes', parameters: queryOf(ConsistencyQuery, ['from', 'to']), responses: { '200': json(ProofView, 'the proof'), ...errors } } },
  };
}
