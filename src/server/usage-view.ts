// The answer of GET /v1/usage (docs/api.md "Usage"), apart from the other schemas because the
// dashboard and `arbiter usage` read their type from it: it needs zod and nothing of Node.
import { z } from 'zod';

const UsageHours = z.object({ gpuHours: z.number(), guaranteeHours: z.number() });

export const UsageView = z.object({
  from: z.string(),
  to: z.string(),
  by: z.enum(['day', 'week']),
  buckets: z.array(z.object({ start: z.string(), end: z.string() })).describe('the period cut into UTC days or weeks, clipped to it'),
  fleetGpus: z.int(),
  capacityGpuHours: z.number().describe('fleet GPUs x hours of the period'),
  busyGpuHours: z.number().describe('GPU-hours held by runs, clipped to the period: the top-level teams add up to it, and so do the leaves'),
  policyVersion: z.int().describe('the policy whose guarantees and team tree are used'),
  teams: z.array(
    z.object({
      team: z.string(),
      parent: z.string().nullable(),
      depth: z.int(),
      leaf: z.boolean(),
      guarantee: z.number().describe('GPUs guaranteed, all flavors'),
      gpuHours: z.number(),
      guaranteeHours: z.number(),
      buckets: z.array(UsageHours).describe('one per bucket, in order'),
      wait: z.object({ jobs: z.int(), p50: z.number().nullable(), p95: z.number().nullable() }).describe('seconds from submission to first start, of the jobs first started in the period'),
      preemptions: z.int().describe('runs preempted in the period'),
      reclaims: z
        .object({ runs: z.int(), p50: z.number().nullable(), p95: z.number().nullable(), max: z.number().nullable() })
        .describe('runs started in the period by reclaiming borrowed GPUs (a run of another team preempted for them), with how long their jobs had waited, seconds'),
    }),
  ),
});
