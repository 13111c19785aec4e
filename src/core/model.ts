// The vocabulary of Arbiter (see docs/architecture.md and docs/scheduling.md).
// Plain data, validated once at the edge (src/core/config), trusted everywhere after.
// All times are seconds (from the start of a trace in the simulator, from the epoch live).

/** A GPU type, e.g. "h100". Matches [a-z0-9][a-z0-9-]*. */
export type Flavor = string;

/** GPUs per flavor. A flavor that is missing means 0 (guarantee) or "no limit" (limit). */
export type Quota = Readonly<Record<Flavor, number>>;

export interface Pool {
  readonly name: string;
  readonly flavor: Flavor;
  readonly nodes: number;
  readonly gpusPerNode: number;
  /** Nodes per rack; consecutive nodes of the pool form a rack. Absent: the pool is one rack. */
  readonly rackSize?: number;
}

export interface Fleet {
  readonly pools: readonly Pool[];
}

export interface PriorityClass {
  readonly name: string;
  /** Higher is more important. */
  readonly priority: number;
  /** False: never preempted, and may only run inside its leaf team's guarantee (M4). */
  readonly preemptible: boolean;
  /**
   * Seconds: the time limit of a job of this class that declares none (as a Slurm partition's
   * DefaultTime). A real limit: a run that reaches it ends the job `timed_out`. Absent: none.
   */
  readonly defaultTimeLimit?: number;
}

export interface TeamSpec {
  readonly name: string;
  readonly guarantee: Quota;
  /** Flavors absent here have no limit. */
  readonly limit: Quota;
  /** Flavors absent here are fully lendable (lendable = guarantee). */
  readonly lendable: Quota;
  readonly weight: number;
  readonly children: readonly TeamSpec[];
}

export type WithinTeamOrder = 'fifo' | 'las';
export type BorrowingPreemption = 'lowerPriority' | 'never';

export interface Policy {
  readonly priorityClasses: readonly PriorityClass[];
  readonly defaultClass: string;
  readonly scheduling: { readonly withinTeam: WithinTeamOrder };
  readonly fairShare: { readonly halfLife: number };
  readonly preemption: {
    readonly minRuntime: number;
    readonly restartOverhead: number;
    readonly checkpointInterval: number;
    readonly withinTeam: boolean;
    readonly borrowing: BorrowingPreemption;
    readonly fairShare: boolean;
  };
  readonly teams: readonly TeamSpec[];
  /** Governance rules (docs/governance.md), when the file has the section; ignored by the engine. */
  readonly governance?: GovernanceRules;
}

/** The rules of the policy-change process (docs/governance.md); durations in seconds. */
export interface GovernanceRules {
  readonly impactWindow: number;
  readonly materialThreshold: number;
  readonly commentPeriod: { readonly minor: number; readonly material: number };
  readonly quorum: number;
  readonly approval: number;
  readonly overrule: number;
  readonly lateQuorumExtension: number;
  readonly timelock: number;
  readonly ramp: { readonly steps: number; readonly over: number };
  readonly petitionThreshold: number;
  readonly emergencyRatification: number;
}

/** One job of a workload, as submitted. */
export interface JobSpec {
  readonly id: string;
  /** Submit time in seconds. */
  readonly submit: number;
  /** A leaf team of the policy. */
  readonly team: string;
  readonly gpus: number;
  /** Seconds of work on flavors not named in durationByFlavor. */
  readonly duration: number;
  /** Priority class name (already defaulted to the policy's defaultClass). */
  readonly class: string;
  /** The flavor it needs, or null for any flavor. */
  readonly flavor: Flavor | null;
  /** Upper bound on one run, in seconds, or null when not declared. */
  readonly timeLimit: number | null;
  /** Overrides the policy's checkpointInterval, or null. */
  readonly checkpointInterval: number | null;
  /** Seconds of work on specific flavors (`duration@<flavor>` columns). */
  readonly durationByFlavor?: Readonly<Record<Flavor, number>>;
  /** Shell command for the local executor (live service only). */
  readonly command?: string;
  /** Human name (live service only). */
  readonly name?: string;
}

/**
 * The time limit a job runs under: its own, else its class's `defaultTimeLimit`, else none.
 * The one rule for the engine (reservations, backfill), the simulator's time-outs and the
 * live executors.
 */
export function timeLimitOf(policy: Pick<Policy, 'priorityClasses'>, spec: Pick<JobSpec, 'class' | 'timeLimit'>): number | null {
  if (spec.timeLimit !== null) return spec.timeLimit;
  return policy.priorityClasses.find((c) => c.name === spec.class)?.defaultTimeLimit ?? null;
}

/** A problem found in user input, with where it is and what to do. */
export interface Issue {
  /** File name, or "request body" in the API. */
  readonly file: string;
  /** Line number (1-based) for CSV/YAML, when known. */
  readonly line?: number;
  /** Column (1-based) on that line, where it helps (YAML syntax errors). */
  readonly column?: number;
  /** Path to the field, e.g. "teams[0].children[1].guarantee.h100" or "column gpus". */
  readonly path: string;
  readonly message: string;
}

export type Result<T> = { readonly ok: true; readonly value: T; readonly warnings: readonly Issue[] } | { readonly ok: false; readonly issues: readonly Issue[] };

/** Renders an issue the way the CLI prints it (docs/cli.md). */
export function formatIssue(issue: Issue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}${issue.column !== undefined ? `:${issue.column}` : ''}`;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

/** A bug inside the core: a broken invariant. Crash loudly. */
export class InvariantViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantViolation';
  }
}
