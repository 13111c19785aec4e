// Request schemas of the governance routes (docs/governance.md): validation, types and the
// OpenAPI description from one zod schema each. Unknown fields are refused.
import { z } from 'zod';
import { CONTROL, CONTROL_IN_TEXT } from './text-checks.js';

/** Free text: tabs and line breaks, but no other control character (no terminal escapes). */
const text = (max: number) =>
  z.string().trim().min(1).max(max).refine((t) => !CONTROL_IN_TEXT.test(t), 'holds a control character other than tab or line break (an escape, NUL...)');
/** One line (a title, a team, a metric): no control character at all. */
const line = (max: number) =>
  z.string().trim().min(1).max(max).refine((t) => !CONTROL.test(t), 'holds a control character (a newline, escape...): one line of printable text');
const POLICY_MAX = 1_000_000;
/** A policy document, kept byte for byte (it is hashed and becomes a version as given). */
const policyDocument = z.string().max(POLICY_MAX).refine((t) => t.trim().length > 0, 'the policy document is empty');

/** One job of an attached workload given as JSON (the canonical CSV's columns). */
export const TraceJob = z.strictObject({
  id: z.union([z.string().min(1).max(200), z.int()]).optional(),
  submit: z.number().min(0).max(1e9).describe('seconds from the start of the workload'),
  team: text(200),
  gpus: z.int().min(1).max(100_000),
  duration: z.number().min(0).max(1e9).describe('seconds of work'),
  class: text(100).optional(),
  flavor: text(100).optional(),
  timeLimit: z.number().gt(0).max(1e9).optional(),
});
export type TraceJob = z.infer<typeof TraceJob>;
const Trace = z
  .union([z.string().max(50_000_000), z.array(TraceJob).max(1_000_000)])
  .optional()
  .describe('the workload of an installation with no history: canonical trace CSV text, or a list of jobs');

export const ProposalBody = z
  .strictObject({
    title: line(200).describe('one line'),
    rationale: text(20_000).describe('why (required)'),
    policy: policyDocument.describe('the whole new policy, as policy.yaml text'),
    alternatives: z.string().max(20_000).optional().describe('alternatives considered'),
    risks: z.string().max(20_000).optional(),
    rollback: z.string().max(20_000).optional().describe('the rollback plan'),
    trace: Trace,
  })
  .describe('A policy proposal');

export const AmendBody = z
  .strictObject({
    policy: policyDocument,
    rationale: text(20_000),
    trace: Trace,
  })
  .describe('An amendment: a new impact report; earlier ballots and responses become stale');

export const ResponseBody = z
  .strictObject({
    stance: z.enum(['consent', 'object', 'abstain']),
    reason: text(20_000),
    metric: line(100).optional().describe('the metric an objection disputes (required with object)'),
    team: line(200).optional().describe('the affected team responded for (default: your team)'),
  })
  .refine((b) => b.stance !== 'object' || b.metric !== undefined, { message: 'an objection names the metric it disputes', path: ['metric'] })
  .describe("An affected team lead's response");

export const VoteBody = z
  .strictObject({
    vote: z.enum(['approve', 'reject', 'abstain']),
    reason: text(20_000),
    reportHash: text(200).describe('the hash of the impact report voted on (409 when it is not the current report)'),
  })
  .describe("A council member's ballot, bound to the impact report it was cast on");

export const OverruleBody = z.strictObject({ rationale: text(20_000) }).describe("A council member's vote to overrule the open objections");
export const CommentBody = z.strictObject({ text: text(20_000) }).describe('A comment (anyone may comment)');
/** The rollback's reason: `rationale` (or `reason`), optional. */
export const RollbackBody = z
  .strictObject({ rationale: text(20_000).optional(), reason: text(20_000).optional() })
  .transform((b) => ({ rationale: b.rationale ?? b.reason ?? 'rolled back by the council' }));

const count = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const ProposalListQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(50), cursor: z.string().max(200).optional() });
export const CommentListQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(100), cursor: z.string().max(200).optional() });
export const AuditQuery = z.strictObject({ from: count.default(0), limit: z.coerce.number().int().min(1).max(1000).default(100) });
export const InclusionQuery = z.strictObject({ index: count, size: count.optional() });
export const ConsistencyQuery = z.strictObject({ from: count, to: count });

// ---------------------------------------------------------------- responses (documentation)

const iso = z.string().describe('ISO 8601 UTC');
const figures = z.object({
  jobs: z.int(),
  gpuHours: z.number(),
  gpuHoursDelta: z.number(),
  avgWait: z.number().describe('seconds'),
  avgWaitDelta: z.number(),
  p95Wait: z.number(),
  p95WaitDelta: z.number(),
  preemptions: z.int(),
  preemptionsDelta: z.int(),
  inGuaranteeWait: z.number(),
  inGuaranteeWaitDelta: z.number(),
});
export const ImpactView = z
  .object({
    hash: z.string().describe('SHA-256 of the canonical JSON of the report (without this field): what ballots name'),
    window: z.object({ from: iso, to: iso, seconds: z.number() }),
    class: z.enum(['minor', 'material']),
    affected: z.array(z.string()),
    teams: z.record(z.string(), figures).describe('per team under the proposal, with deltas against the policy in force'),
    current: z.record(z.string(), z.object({}).passthrough()).describe('per team under the policy in force'),
    workload: z.object({ jobs: z.int(), hash: z.string() }).passthrough(),
    inputs: z.object({ currentPolicyVersion: z.int(), currentPolicyHash: z.string(), proposedPolicyHash: z.string(), workloadHash: z.string(), engineVersion: z.string() }).passthrough(),
  })
  .passthrough();
const receipt = z
  .object({ entry: z.int(), checkpoint: z.object({ size: z.int(), root: z.string(), time: iso }), proof: z.array(z.string()) })
  .nullable()
  .describe("the audit-log entry of this request and its inclusion proof in the latest checkpoint (a voter's receipt)");
const CommentView = z.object({ n: z.int().describe('its position, 1 for the first'), actor: z.string(), text: z.string(), at: iso, current: z.boolean().describe('made on the current revision') });
export const ProposalView = z
  .object({
    id: z.string(),
    title: z.string(),
    status: z.enum(['draft', 'consultation', 'voting', 'approved', 'scheduled', 'ramping', 'active', 'rejected', 'withdrawn', 'rolled_back']),
    class: z.enum(['minor', 'material', 'emergency']),
    author: z.string(),
    impact: ImpactView,
    affected: z.array(z.string()),
    awaitingResponses: z.array(z.string()).describe('affected teams whose lead has not responded to the current report'),
    responses: z.array(z.object({ team: z.string(), actor: z.string(), stance: z.string(), reason: z.string(), metric: z.string().nullable(), at: iso, current: z.boolean() }).passthrough()),
    votes: z.array(z.object({ actor: z.string(), vote: z.string(), reason: z.string(), reportHash: z.string(), at: iso, current: z.boolean() })),
    tally: z.object({ approve: z.int(), reject: z.int(), abstain: z.int(), cast: z.int(), quorumMet: z.boolean(), approvalMet: z.boolean(), councilSize: z.int() }).passthrough(),
    objections: z.array(z.object({ team: z.string(), metric: z.string().nullable(), open: z.boolean(), overruled: z.boolean() }).passthrough()),
    petition: z.object({ signatures: z.array(z.object({ actor: z.string(), team: z.string(), at: iso })), members: z.int(), needed: z.int(), reopened: z.boolean() }).passthrough(),
    blockers: z.array(z.string()).describe('why it cannot be approved yet'),
    timeline: z.array(z.object({ at: iso, event: z.string(), actor: z.string(), detail: z.string() })),
    deadlines: z
      .object({ votingCloses: iso.nullable(), approvedAt: iso.nullable(), enforceAt: iso.nullable(), ratifyBy: iso.nullable(), steps: z.array(z.object({ step: z.int(), at: iso, version: z.int().nullable() })) })
      .passthrough(),
    comments: z.array(CommentView).describe('the first 50 comments, oldest first (on GET /v1/proposals/{id} and after a step; not in lists)').optional(),
    commentCount: z.int().describe('how many comments it has'),
    commentsNextCursor: z.string().nullable().describe('cursor of GET /v1/proposals/{id}/comments for the comments after the first page; null when there are none').optional(),
    review: z.unknown().describe('after activation, on GET /v1/proposals/{id}: predicted and realized per-team figures (null elsewhere)'),
    receipt: receipt.optional(),
  })
  .passthrough()
  .describe('A policy proposal');
export const ProposalList = z.object({
  proposals: z.array(ProposalView).describe('newest first; without their comments (commentCount instead)'),
  nextCursor: z.string().nullable().describe('give it as cursor for the next page; null on the last'),
});
export const CommentList = z.object({
  comments: z.array(CommentView).describe('oldest first'),
  nextCursor: z.string().nullable().describe('give it as cursor for the next page; null on the last'),
});
export const VersionList = z.object({
  versions: z.array(z.object({ version: z.int(), createdAt: iso, actor: z.string(), reason: z.string(), sha256: z.string(), inForce: z.boolean(), proposal: z.string().nullable(), step: z.int().nullable(), rollback: z.boolean() })),
});
export const CheckpointView = z.object({ size: z.int(), root: z.string().describe('hex'), time: iso, signature: z.string().describe('base64 Ed25519 over {"root","size","time"} as canonical JSON'), publicKey: z.string().describe('base64 raw Ed25519 key') });
export const AuditEntries = z.object({
  entries: z.array(z.object({ index: z.int(), entry: z.string().describe('the canonical JSON that is hashed as the leaf'), seq: z.int(), at: z.number(), actor: z.string(), kind: z.string(), subject: z.string(), reason: z.string(), data: z.unknown() })),
  size: z.int(),
  next: z.int().nullable(),
});
export const ProofView = z.object({ proof: z.array(z.string().describe('hex')) }).passthrough();
