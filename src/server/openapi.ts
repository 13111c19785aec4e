// GET /openapi.json: the OpenAPI 3 description of every route, generated from the same zod
// schemas that validate requests, so the description cannot drift from the behaviour.
import { z } from 'zod';
import { ErrorBody, FleetView, Health, JobList, JobListQuery, JobSubmission, JobView, PolicyView, TeamsView } from './schemas.js';

const schema = (s: z.ZodType): object => z.toJSONSchema(s, { target: 'openapi-3.0', unrepresentable: 'any' });

const json = (s: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema: schema(s) } } });

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
  return {
    openapi: '3.0.3',
    info: { title: 'Arbiter', version: '1', description: 'Fair, visible and governed sharing of a GPU fleet (spec/api.md).' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths: {
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
      '/v1/teams': { get: { summary: 'the team tree with guarantee, limit, usage, borrowed and pending GPUs per flavor, and fair-share standing', responses: { '200': json(TeamsView, 'teams'), ...errors } } },
      '/v1/fleet': { get: { summary: 'pools and nodes, GPUs free and held, and by whom', responses: { '200': json(FleetView, 'the fleet'), ...errors } } },
      '/v1/policy': { get: { summary: 'the policy in force and its version', responses: { '200': json(PolicyView, 'the policy'), ...errors } } },
    },
  };
}
