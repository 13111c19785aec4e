// The fifo and static baselines are the real engine run on a transformed policy (and, for fifo,
// a transformed trace): pure functions from the user's policy. Everything physical is kept
// (fleet, shapes, flavors, time limits, restartOverhead and checkpointInterval: progress M6);
// only the team rules change. The simulator reports the ORIGINAL trace and policy
// (SimulateOptions.reportAs), so jobs.csv shows each job's own team and class.
import type { Flavor, JobSpec, Policy, TeamSpec } from '../../core/model.js';

/** The one team and the one class of the fifo baseline. */
export const FIFO_TEAM = 'fifo';
export const FIFO_CLASS = 'fifo';

/** No preemption of any kind: no reclaim is possible either, as no team ever borrows under these baselines. */
const NO_PREEMPTION = { withinTeam: false, borrowing: 'never', fairShare: false } as const;

/**
 * fifo: one shared queue, no teams. Every job belongs to one team with no guarantee and no
 * limit and to one preemptible class, so the pass orders jobs by submit time, then trace
 * position (P1, P2 d-e), and nothing is ever preempted. The engine still reserves nodes for the
 * first job that cannot start (P4), so a large job at the head is not starved by small ones,
 * and jobs behind it may start where it does not fit (and backfill with a time limit).
 */
export function fifoPolicy(policy: Policy): Policy {
  return {
    priorityClasses: [{ name: FIFO_CLASS, priority: 0, preemptible: true }],
    defaultClass: FIFO_CLASS,
    scheduling: { withinTeam: 'fifo' },
    fairShare: policy.fairShare,
    preemption: { ...policy.preemption, ...NO_PREEMPTION },
    teams: [{ name: FIFO_TEAM, guarantee: {}, limit: {}, lendable: {}, weight: 1, children: [] }],
  };
}

/** The fifo baseline's trace: the same jobs in the same order, all in the one team and class. */
export function fifoTrace(trace: readonly JobSpec[]): JobSpec[] {
  return trace.map((job) => ({ ...job, team: FIFO_TEAM, class: FIFO_CLASS }));
}

/**
 * static: today's static partitions. The policy's own tree and classes, with limit = guarantee
 * at every level and on every flavor of the fleet (a flavor a team is not guaranteed gets limit
 * 0), and no preemption. No team ever borrows, so the unguaranteed free pool stays idle, and a
 * job larger than its team's guarantee on every flavor it may use is rejected at submission:
 * that is the truth of static partitions.
 */
export function staticPolicy(policy: Policy, flavors: readonly Flavor[]): Policy {
  const cap = (team: TeamSpec): TeamSpec => ({
    ...team,
    limit: Object.fromEntries(flavors.map((f) => [f, team.guarantee[f] ?? 0])),
    children: team.children.map(cap),
  });
  return {
    priorityClasses: policy.priorityClasses,
    defaultClass: policy.defaultClass,
    scheduling: policy.scheduling,
    fairShare: policy.fairShare,
    preemption: { ...policy.preemption, ...NO_PREEMPTION },
    teams: policy.teams.map(cap),
  };
}
