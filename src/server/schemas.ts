// Request and response schemas of the HTTP API (docs/api.md), in zod: one schema gives the
// validation, the TypeScript type and the OpenAPI description (/openapi.json).
import { z } from 'zod';
import { CONTROL, CONTROL_IN_TEXT } from './text-checks.js';

/** A name (team, class, flavor, job name): no control characters, so that no one forges table rows. */
export const nameText = (min: number, max: number) =>
  z.string().min(min).max(max).refine((t) => !CONTROL.test(t), 'holds a control character (a newline, tab, escape...): names are one line of printable text');
/** Free text (reasons, comments, commands) may hold tabs and line breaks, but no other control character. */
export const freeText = (min: number, max: number) =>
  z.string().min(min).max(max).refine((t) => !CONTROL_IN_TEXT.test(t), 'holds a control character other than tab or line break (an escape, NUL...)');
const text = (max: number) => nameText(1, max);

/** POST /v1/jobs. Unknown fields are refused (a typo must not be silently ignored). */
export const JobSubmission = z
  .strictObject({
    team: text(200).describe('leaf team the job belongs to'),
    gpus: z.int().min(1).max(100_000).describe('GPUs it needs, all at once'),
    class: text(100).optional().describe("priority class (default: the policy's defaultClass)"),
    flavor: text(100).optional().describe('GPU flavor it needs (default: any)'),
    name: nameText(0, 200).optional().describe('a name for people'),
    duration: z.number().min(0).max(1e9).optional().describe('seconds of work (simulated executor)'),
    timeLimit: z.number().gt(0).max(1e9).optional().describe('most seconds one run may last'),
    command: freeText(1, 10_000).optional().describe('shell command (local executor)'),
  })
  .describe('A job to submit');
export type JobSubmission = z.infer<typeof JobSubmission>;

export const Placement = z.object({ node: z.string(), gpus: z.int() });

export const JobView = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    team: z.string(),
    class: z.string(),
    flavor: z.string().nullable(),
    gpus: z.int(),
    status: z.enum(['pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out', 'rejected']),
    submittedAt: z.string().describe('ISO 8601 UTC'),
    startedAt: z.string().nullable(),
    endedAt: z.string().nullable(),
    placement: z.array(Placement),
    preemptions: z.int(),
    reason: z.object({ code: z.string(), message: z.string() }).nullable().describe('why it waits (pending only)'),
    expectedStart: z.string().nullable().describe('when it is expected to start (pending only; null when it cannot be predicted)'),
    expectedStartBasis: z
      .enum(['timeLimits', 'minRuntime', 'history'])
      .nullable()
      .describe('where expectedStart comes from: the time limits of the runs it waits for, the end of their minRuntime protection, or an estimate from the run history of their team and class'),
    duration: z.number().nullable(),
    timeLimit: z.number().nullable().describe("most seconds one run may last: its own, or its class's defaultTimeLimit"),
    command: z.string().nullable(),
    submittedBy: z.string(),
    exitCode: z.int().nullable(),
    rejectReason: z.string().nullable().describe('why it can never run (status rejected: a policy version put in force after its submission refuses it)'),
  })
  .describe('A job');

export type JobViewType = z.infer<typeof JobView>;

export const JobList = z.object({ jobs: z.array(JobView), nextCursor: z.string().nullable() });

export const JobListQuery = z.strictObject({
  team: text(200).optional(),
  status: z.enum(['pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out', 'rejected']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  cursor: z.string().max(200).optional(),
});

export const ErrorBody = z
  .object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })),
  })
  .describe('An error');

const FlavorState = z.object({
  guarantee: z.number(),
  limit: z.number().nullable(),
  usage: z.number(),
  borrowed: z.number(),
  pending: z.number().describe('GPUs asked by pending jobs'),
});

export type TeamNode = {
  name: string;
  weight: number;
  flavors: Record<string, z.infer<typeof FlavorState>>;
  fairShare: { decayedUsage: number; standing: number };
  children: TeamNode[];
};

export const TeamView: z.ZodType<TeamNode> = z.lazy(() =>
  z.object({
    name: z.string(),
    weight: z.number(),
    flavors: z.record(z.string(), FlavorState),
    fairShare: z.object({ decayedUsage: z.number(), standing: z.number().describe('lower goes first among borrowers') }),
    children: z.array(TeamView),
  }),
);

export const TeamsView = z.object({ teams: z.array(TeamView) });

export const FleetView = z.object({
  /** Jobs found on the fleet that Arbiter did not start (Slurm: submitted behind its back); absent when none. */
  outside: z
    .array(
      z.object({
        id: z.string(),
        name: z.string(),
        user: z.string(),
        state: z.string(),
        placement: z.array(z.object({ node: z.string(), gpus: z.int() })),
      }),
    )
    .optional(),
  pools: z.array(
    z.object({
      name: z.string(),
      flavor: z.string(),
      gpusPerNode: z.int(),
      rackSize: z.int().describe('nodes per rack: consecutive nodes of the pool form a rack'),
      nodes: z.array(
        z.object({
          name: z.string(),
          gpus: z.int(),
          free: z.int(),
          rack: z.int().describe('the rack of the node in its pool, from 0'),
          reservedFor: z.string().nullable().describe('the pending job the last pass reserved this node for (backfill keeps it), if any'),
          held: z.array(z.object({ job: z.string(), team: z.string(), gpus: z.int() })),
          /** A node that takes no job now (Slurm: down, drained), with Slurm's state and reason. */
          unavailable: z.object({ state: z.string().nullable(), why: z.string() }).optional(),
        }),
      ),
    }),
  ),
});

/** GET /v1/queue: the pending jobs, filtered, one page at a time (docs/api.md "The queue"). */
export const QueueQuery = z.strictObject({
  team: text(200).optional().describe('a team: its jobs and those of the teams below it'),
  class: text(100).optional(),
  flavor: text(100).optional().describe('the flavor asked for ("any": jobs that take any flavor)'),
  user: text(200).optional().describe('who submitted them'),
  mine: z.enum(['first', 'only']).optional().describe("the caller's own jobs first, or only them"),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
});

export const QueueView = z.object({
  jobs: z.array(JobView),
  total: z.int().describe('pending jobs that match the filters'),
  mine: z.int().describe("of them, the caller's own"),
  pending: z.int().describe('pending jobs in all'),
  offset: z.int(),
  limit: z.int(),
  reasonsAt: z.string().nullable().describe('when every pending job was last explained: up to 2,000 pending, by every pass; beyond, at most about 30 s before the read'),
});

/** A moment in a query: a UTC date (its midnight) or an ISO 8601 date-time with Z or an offset. */
const moment = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/, 'a UTC date (2026-11-30) or an ISO 8601 date-time with Z or an offset (2026-11-30T08:00:00Z)')
  .refine((v) => Number.isFinite(Date.parse(v)), 'not a real date');

/** GET /v1/usage: the usage report of a period (docs/api.md "Usage"). */
export const UsageQuery = z.strictObject({
  from: moment.describe('start of the period (included)'),
  to: moment.describe('end of the period (excluded)'),
  by: z.enum(['day', 'week']).default('day').describe('buckets: UTC days, or weeks from Monday 00:00 UTC'),
  team: text(200).optional().describe('only this team and the teams below it (the fleet figures stay whole)'),
});

export { UsageView } from './usage-view.js';

export const MeView = z.object({
  user: z.string(),
  role: z.enum(['viewer', 'member', 'lead', 'council', 'admin']),
  team: z.string().nullable(),
  rules: z
    .record(z.string(), z.object({ what: z.string(), scope: z.string().nullable().describe('the condition of the grant for this role; null: not granted'), source: z.string() }))
    .describe('per action, what it is and whether (and on what condition) this role may take it (docs/security.md)'),
});

export const RunsView = z.object({
  runs: z.array(
    z.object({
      start: z.string(),
      end: z.string().nullable(),
      flavor: z.string(),
      placement: z.array(Placement),
      outcome: z.enum(['completed', 'preempted', 'timed_out', 'failed', 'cancelled', 'requeued']).nullable(),
      preemptedBy: z
        .object({ job: z.string(), team: z.string(), class: z.string(), cause: z.enum(['reclaim', 'withinTeam', 'priority']) })
        .nullable()
        .describe('for a preempted run: the job its GPUs went to, its team and class, and why (reclaim of a guarantee, a job of the same team, or a class of higher priority)'),
    }),
  ),
});

export const ReasonsView = z.object({
  reasons: z.array(z.object({ at: z.string(), code: z.string(), message: z.string() })).describe('oldest first; a change of reason code while the job waited, with the sentence then (the last 50)'),
});

export const PolicyView = z.object({ version: z.int(), policy: z.unknown(), text: z.string() });

export const PolicyUpdate = z.strictObject({
  policy: text(1_000_000).describe('the whole new policy, YAML or JSON text'),
  reason: text(2000).describe('why (kept in the event log)'),
});

const Check = z.object({ ok: z.boolean(), cause: z.string().optional().describe('why not ok') });
export const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  role: z.literal('leader').describe('a standby answers 503 {status: "standby", role: "standby", leader: URL} instead (docs/api.md)'),
  leader: Check.extend({ epoch: z.int() }).optional().describe('PostgreSQL: whether this server holds the leader lock now'),
  store: Check.extend({ kind: z.enum(['sqlite', 'postgres']) }),
  scheduler: Check.extend({ exitsWaiting: z.int().describe('run exits not yet stored') }),
  executor: Check.extend({ kind: z.enum(['simulated', 'local', 'slurm']) }),
});

/** A token as GET /v1/tokens lists it: never its secret, nor its hash. */
export const TokenView = z.object({
  id: z.string(),
  user: z.string(),
  role: z.enum(['viewer', 'member', 'lead', 'council', 'admin']),
  team: z.string().nullable(),
  createdAt: z.string(),
  revokedAt: z.string().nullable().describe('set once revoked: the token answers 401 from then on'),
});
export const TokenList = z.object({ tokens: z.array(TokenView) });

/** DELETE /v1/tokens/{id}?reason=: why, for the audit log (default: who revoked it). */
export const TokenRevokeQuery = z.strictObject({ reason: text(2000).optional() });
