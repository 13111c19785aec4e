// Request schemas of the governance routes (spec/governance.md): validation, types and the
// OpenAPI description from one zod schema each. Unknown fields are refused.
import { z } from 'zod';

const text = (max: number) => z.string().trim().min(1).max(max);
const POLICY_MAX = 1_000_000;

export const ProposalBody = z
  .strictObject({
    title: text(200).describe('one line'),
    rationale: text(20_000).describe('why (required)'),
    policy: text(POLICY_MAX).describe('the whole new policy, as policy.yaml text'),
    alternatives: z.string().max(20_000).optional().describe('alternatives considered'),
    risks: z.string().max(20_000).optional(),
    rollback: z.string().max(20_000).optional().describe('the rollback plan'),
    trace: z.string().max(50_000_000).optional().describe('canonical trace CSV: the workload of an installation with no history'),
  })
  .describe('A policy proposal');

export const AmendBody = z
  .strictObject({
    policy: text(POLICY_MAX),
    rationale: text(20_000),
    trace: z.string().max(50_000_000).optional(),
  })
  .describe('An amendment: a new impact report; earlier ballots and responses become stale');

export const ResponseBody = z
  .strictObject({
    stance: z.enum(['consent', 'object', 'abstain']),
    reason: text(20_000),
    metric: text(100).optional().describe('the metric an objection disputes (required with object)'),
    team: text(200).optional().describe('the affected team responded for (default: your team)'),
  })
  .refine((b) => b.stance !== 'object' || b.metric !== undefined, { message: 'an objection names the metric it disputes', path: ['metric'] })
  .describe("An affected team lead's response");

export const VoteBody = z
  .strictObject({
    vote: z.enum(['approve', 'reject', 'abstain']),
    reason: text(20_000),
    reportHash: z.string().regex(/^[0-9a-f]{64}$/, 'the SHA-256 (64 hex digits) of the impact report voted on'),
  })
  .describe("A council member's ballot, bound to the impact report it was cast on");

export const OverruleBody = z.strictObject({ rationale: text(20_000) }).describe("A council member's vote to overrule the open objections");
export const RollbackBody = z.strictObject({ rationale: text(20_000).optional() }).transform((b) => ({ rationale: b.rationale ?? 'rolled back by the council' }));

const count = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const AuditQuery = z.strictObject({ from: count.default(0), limit: z.coerce.number().int().min(1).max(1000).default(100) });
export const InclusionQuery = z.strictObject({ index: count, size: count.optional() });
export const ConsistencyQuery = z.strictObject({ from: count, to: count });
