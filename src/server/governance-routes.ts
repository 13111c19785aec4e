// The governance routes (docs/governance.md, "Routes"): /v1/proposals, /v1/emergency,
// /v1/policy/versions and /v1/audit. Bodies are validated by the zod schemas of
// governance-schemas.ts (the same ones that describe them in /openapi.json); refusals come from
// the lifecycle as GovernanceError and are answered in api.md's error shape by the app.
import type { FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { AuditLog } from './audit.js';
import type { Principal } from './auth.js';
import type { Governance } from './governance.js';
import { GovernanceError } from './governance.js';
import { AuditQuery, CommentBody, CommentListQuery, ConsistencyQuery, InclusionQuery, OverruleBody, ProposalListQuery, ResponseBody, RollbackBody, VoteBody } from './governance-schemas.js';
import type { AmendBody, ProposalBody } from './governance-schemas.js';
import type { AttachedTrace } from './attached-trace.js';
import { readProposalOffThread } from './impact-runner.js';
import type { ProposalBodyKind } from './request-body.js';
import { PROPOSAL_BODIES } from './request-body.js';

/** The fields of a body that may attach a trace, without the trace. */
type ProposalFieldsOf<K extends ProposalBodyKind> = Omit<z.infer<K extends 'amend' ? typeof AmendBody : typeof ProposalBody>, 'trace'>;
import type { Store } from '../storage/port.js';
import { auditEntryText } from '../governance/audit-entry.js';

export interface GovernanceRouteContext {
  readonly governance: Governance;
  readonly audit: AuditLog;
  readonly store: Store;
  /** Validates a value against a schema, or throws the API's 400 with every problem. */
  readonly parse: <T extends z.ZodType>(schema: T, value: unknown, what: string) => z.infer<T>;
  /** Bytes a proposal, amendment or emergency change may take (a policy and an attached trace). */
  readonly proposalBodyLimit: number;
}

const idOf = (request: FastifyRequest): string => (request.params as { id: string }).id;

export function registerGovernanceRoutes(app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>, ctx: GovernanceRouteContext): void {
  const { governance, audit, store, parse } = ctx;
  const principal = (request: FastifyRequest): Principal => request.principal!;
  const withReceipt = async (result: { proposal: Parameters<Governance['view']>[0]; entry: number }) => {
    const view = await governance.view(result.proposal);
    const checkpoint = audit.latestCheckpoint();
    // A voter's receipt: the entry of their request and its inclusion proof in the latest checkpoint.
    const receipt =
      checkpoint && result.entry >= 0 && result.entry < checkpoint.size
        ? { entry: result.entry, checkpoint: { size: checkpoint.size, root: checkpoint.root, time: checkpoint.time }, proof: audit.inclusion(result.entry, checkpoint.size) }
        : null;
    return { ...view, receipt };
  };

  // A proposal may attach a trace (an installation with no history): a larger body than jobs'.
  // Its JSON comes as bytes (rawJson, see app.ts) and is read off the event loop when large
  // (impact-runner.ts): JSON, the trace's size bound (before its jobs are validated one by one),
  // then the schema; the trace stays in the bytes, for the analysis.
  const large = { bodyLimit: ctx.proposalBodyLimit, config: { rawJson: true } };
  const readBody = async <K extends ProposalBodyKind>(request: FastifyRequest, kind: K): Promise<ProposalFieldsOf<K> & { trace?: AttachedTrace }> => {
    const bytes = request.body;
    if (!(bytes instanceof Uint8Array)) {
      // No JSON body at all: the schema says what is missing.
      const { schema, what } = PROPOSAL_BODIES[kind];
      parse(schema, bytes, what);
      throw new GovernanceError(400, `${what} is not valid: no body`);
    }
    const read = await readProposalOffThread(bytes, kind, governance.maxTraceJobs);
    if (!read.ok) throw new GovernanceError(400, read.problem.message, read.problem.issues);
    const { fields, trace, body } = read.value;
    return { ...(fields as ProposalFieldsOf<K>), ...(trace !== null ? { trace: { body, kind } } : {}) };
  };
  app.post('/v1/proposals', large, async (request, reply) => {
    const body = await readBody(request, 'proposal');
    const proposal = await governance.propose(principal(request), body);
    return reply.status(201).send(await governance.view(proposal));
  });
  // Governance reads show every deadline that is due applied (they may wait for a step in progress).
  app.get('/v1/proposals', async (request) => {
    const query = parse(ProposalListQuery, request.query, 'the query');
    await governance.settled();
    return governance.page(query.cursor, query.limit);
  });
  app.get('/v1/proposals/:id', async (request) => {
    await governance.settled();
    return governance.view(governance.find(idOf(request)), true);
  });
  app.get('/v1/proposals/:id/comments', async (request) => {
    const query = parse(CommentListQuery, request.query, 'the query');
    await governance.settled();
    return await governance.commentPage(governance.find(idOf(request)), query.cursor, query.limit);
  });
  app.post('/v1/proposals/:id/amend', large, async (request) => {
    const body = await readBody(request, 'amend');
    return governance.view(await governance.amend(idOf(request), principal(request), body));
  });
  app.post('/v1/proposals/:id/withdraw', async (request) => withReceipt(await governance.withdraw(idOf(request), principal(request))));
  app.post('/v1/proposals/:id/responses', async (request) => {
    const body = parse(ResponseBody, request.body, 'the response');
    return withReceipt(await governance.respond(idOf(request), principal(request), body));
  });
  app.post('/v1/proposals/:id/votes', async (request) => {
    const body = parse(VoteBody, request.body, 'the ballot');
    return withReceipt(await governance.vote(idOf(request), principal(request), body));
  });
  app.post('/v1/proposals/:id/overrule', async (request) => {
    const body = parse(OverruleBody, request.body, 'the overrule');
    return withReceipt(await governance.overrule(idOf(request), principal(request), body));
  });
  app.post('/v1/proposals/:id/comments', async (request) => {
    const body = parse(CommentBody, request.body, 'the comment');
    return withReceipt(await governance.comment(idOf(request), principal(request), body));
  });
  app.post('/v1/proposals/:id/petition', async (request) => withReceipt(await governance.sign(idOf(request), principal(request))));
  app.post('/v1/proposals/:id/rollback', async (request) => {
    const body = parse(RollbackBody, request.body ?? {}, 'the rollback');
    return withReceipt(await governance.rollback(idOf(request), principal(request), body));
  });
  app.post('/v1/emergency', large, async (request, reply) => {
    const body = await readBody(request, 'emergency');
    const proposal = await governance.emergency(principal(request), body);
    return reply.status(201).send(await governance.view(proposal));
  });
  app.get('/v1/policy/versions', async () => {
    await governance.settled();
    return { versions: await governance.versions() };
  });
  // One version's text as it was given (the dashboard's diff between any two versions).
  app.get('/v1/policy/versions/:version', async (request) => {
    const raw = (request.params as { version: string }).version;
    const number = /^[1-9]\d{0,9}$/.test(raw) ? Number(raw) : NaN;
    const versions = await store.policyVersions();
    const found = versions.find((v) => v.version === number);
    if (!found) throw new GovernanceError(404, `no policy version ${raw.slice(0, 20)}; versions: 1 to ${versions.length}`);
    return { version: found.version, text: found.text, createdAt: new Date(found.createdAt * 1000).toISOString(), actor: found.actor, reason: found.reason };
  });

  // ---------------------------------------------------------------- audit log

  app.get('/v1/audit', async (request) => {
    const query = parse(AuditQuery, request.query, 'the query');
    await audit.checkpoint();
    const events = await store.events(query.from + 1, query.limit);
    const entries = events.map((e) => ({ index: e.seq - 1, entry: auditEntryText(e), ...e }));
    const last = entries.at(-1);
    return { entries, size: audit.size, next: last && last.index + 1 < audit.size ? last.index + 1 : null };
  });
  app.get('/v1/audit/checkpoint', async () => {
    const checkpoint = await audit.checkpoint();
    if (!checkpoint) throw new GovernanceError(404, 'no checkpoint has been signed yet');
    return checkpoint;
  });
  app.get('/v1/audit/checkpoints', async () => ({ checkpoints: await store.checkpoints(), publicKey: audit.publicKey }));
  app.get('/v1/audit/proof/inclusion/:index', async (request) => {
    const raw = (request.params as { index: string }).index;
    const { index, size } = parse(InclusionQuery, { ...(request.query as object), index: raw }, 'the request');
    const checkpoint = await audit.checkpoint();
    const treeSize = size ?? checkpoint?.size ?? 0;
    if (treeSize > audit.size) throw new GovernanceError(400, `size ${treeSize} is more than the ${audit.size} entries checkpointed so far`, [{ path: 'size', message: `at most ${audit.size}` }]);
    if (index >= treeSize) throw new GovernanceError(404, `no entry ${index} in a tree of ${treeSize} entries`);
    const proof = audit.inclusion(index, treeSize);
    return { index, size: treeSize, root: audit.rootAt(treeSize), leafHash: audit.leafAt(index), proof, auditPath: proof };
  });
  app.get('/v1/audit/proof/consistency', async (request) => {
    const { from, to } = parse(ConsistencyQuery, request.query, 'the query');
    await audit.checkpoint();
    const problems = [
      ...(from > to ? [{ path: 'from', message: `must be at most to (${to})` }] : []),
      ...(to > audit.size ? [{ path: 'to', message: `at most ${audit.size}, the entries checkpointed so far` }] : []),
    ];
    if (problems.length) throw new GovernanceError(400, 'the query is not valid', problems);
    return { from, to, fromRoot: audit.rootAt(from), toRoot: audit.rootAt(to), proof: audit.consistency(from, to) };
  });
}
