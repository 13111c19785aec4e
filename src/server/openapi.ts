// GET /openapi.json: the OpenAPI 3 description of every route, generated from the same zod
// schemas that validate requests, so the description cannot drift from the behaviour.
import { z } from 'zod';
import { ErrorBody, FleetView, Health, JobList, JobListQuery, JobSubmission, JobView, PolicyView, TeamsView } from './schemas.js';

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
    info: { title: 'Arbiter', version: '1', description: 'Fair, visible and governed sharing of a GPU fleet (spec/api.md).' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: components },
    security: [{ bearer: [] }],
    paths,
  };
}

function buildPaths(queryParams: object[]): object {
  return {
      '/healthz': { get: { summary: 'liveness', security: [], responses: { '200': json(Health, 'ok') } } },
      '/openapi.json': { get: { summary: 'this document', responses: { '200': { description: 'OpenAPI 3' }, ...errors } } },
      '/metrics': { get: { summary: 'Prometheus metrics (names start with arbiter_)', responses: { '200': { description: 'text format' }, ...errors } } },
      '/v1/jobs': {
        post: {
          summary: 'submit a job; with an Idempotency-Key header a repeat returns the same job (200)',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 200 } }],
          requestBody: { required: true, content: { 'application/json': { schema: schema(JobSubmission) } } },
          responses: { '201': json(JobView, 'stored (on disk)'), '200': json(JobView, 'a repeat of an earlier submission'), ...errors },
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
      '/v1/teams': { get: { summary: 'the team tree with guarantee, limit, usage, borrowed and pending GPUs per flavor, and fair-share standing', responses: { '200': json(TeamsView, 'teams', 'Team'), ...errors } } },
      '/v1/fleet': { get: { summary: 'pools and nodes, GPUs free and held, and by whom', responses: { '200': json(FleetView, 'the fleet'), ...errors } } },
      '/v1/policy': { get: { summary: 'the policy in force and its version', responses: { '200': json(PolicyView, 'the policy'), ...errors } } },
  };
}
