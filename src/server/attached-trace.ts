// The workload of a proposal's attached trace (an installation with no history): the trace is
// read from the request's bytes where the impact analysis runs (a worker thread, see
// impact-runner.ts), so that a trace of thousands of jobs is never parsed, validated or copied
// on the event loop.
import { parseTrace } from '../core/config/trace.js';
import type { Fleet, Issue, Policy } from '../core/model.js';
import type { WorkloadJob } from '../governance/impact.js';
import type { TraceJob } from './governance-schemas.js';
import type { BodyProblem, ProposalBodyKind, Read } from './request-body.js';
import { readProposal } from './request-body.js';

/** A request body, already read and found valid (readProposalBody), whose `trace` is the workload. */
export interface AttachedTrace {
  readonly body: Uint8Array;
  readonly kind: ProposalBodyKind;
}

/** A problem of a CSV trace, under `trace` (its field in the body), with its line. */
export const issueOf =
  (prefix: string) =>
  (issue: Issue): { path: string; message: string } => ({ path: issue.path ? `${prefix}.${issue.path}` : prefix, message: issue.line ? `line ${issue.line}: ${issue.message}` : issue.message });

/**
 * The attached trace's jobs as a workload whose submit times count from `from` (the window's
 * start). JSON jobs without a class take the policy's default; a CSV trace is checked against
 * the policy in force and the fleet (a 400 naming the lines when it is not valid). Teams,
 * classes and flavors a policy does not know are left out of its replay (and counted) later.
 */
export function workloadOfTrace(trace: string | readonly TraceJob[], policy: Policy, fleet: Fleet, from: number): Read<WorkloadJob[]> {
  if (typeof trace !== 'string') {
    return {
      ok: true,
      value: trace.map((j, i) => ({
        id: String(j.id ?? `t-${i + 1}`),
        submittedAt: from + j.submit,
        team: j.team,
        class: j.class ?? policy.defaultClass,
        flavor: j.flavor ?? null,
        gpus: j.gpus,
        duration: j.duration,
        timeLimit: j.timeLimit ?? null,
      })),
    };
  }
  const result = parseTrace(trace, 'trace', policy, fleet);
  if (!result.ok) {
    const problem: BodyProblem = { message: `the attached trace is not valid: ${result.issues.length} problem(s)`, issues: result.issues.map(issueOf('trace')) };
    return { ok: false, problem };
  }
  return { ok: true, value: result.value.map((j) => ({ id: j.id, submittedAt: from + j.submit, team: j.team, class: j.class, flavor: j.flavor, gpus: j.gpus, duration: j.duration, timeLimit: j.timeLimit })) };
}

/** workloadOfTrace of an attached trace, read again from its body (which was found valid). */
export function workloadOfAttached(attached: AttachedTrace, policy: Policy, fleet: Fleet, from: number): Read<WorkloadJob[]> {
  const read = readProposal(attached.body, attached.kind, Number.POSITIVE_INFINITY);
  if (!read.ok) return read;
  const trace = read.value.trace;
  return trace === undefined ? { ok: true, value: [] } : workloadOfTrace(trace, policy, fleet, from);
}
