// The shapes of the API answers the dashboard reads (docs/api.md; /openapi.json is authoritative).
// Where the server declares an answer with a schema, the type is read from it (type-only: no
// server code reaches the bundle).
import type { z } from 'zod';
import type { UsageView } from '../../src/server/usage-view';

/** GET /v1/usage. */
export type Usage = z.infer<typeof UsageView>;
export type Role = 'viewer' | 'member' | 'lead' | 'council' | 'admin';

export interface Me {
  user: string;
  role: Role;
  team: string | null;
  rules: Record<string, { what: string; scope: string | null; source: string }>;
}

export interface FlavorState {
  guarantee: number;
  limit: number | null;
  usage: number;
  borrowed: number;
  pending: number;
}

export interface Team {
  name: string;
  weight: number;
  flavors: Record<string, FlavorState>;
  fairShare: { decayedUsage: number; standing: number };
  children: Team[];
}

export interface Job {
  id: string;
  name: string | null;
  team: string;
  class: string;
  flavor: string | null;
  gpus: number;
  status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' | 'timed_out' | 'rejected';
  submittedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  placement: { node: string; gpus: number }[];
  preemptions: number;
  reason: { code: string; message: string } | null;
  expectedStart: string | null;
  expectedStartBasis: 'timeLimits' | 'minRuntime' | 'history' | null;
  duration: number | null;
  timeLimit: number | null;
  command: string | null;
  submittedBy: string;
  exitCode: number | null;
  rejectReason: string | null;
}

export interface QueuePage {
  jobs: Job[];
  total: number;
  mine: number;
  pending: number;
  offset: number;
  limit: number;
  reasonsAt: string | null;
}

export interface Run {
  start: string;
  end: string | null;
  flavor: string;
  placement: { node: string; gpus: number }[];
  outcome: 'completed' | 'preempted' | 'timed_out' | 'failed' | 'cancelled' | 'requeued' | null;
  preemptedBy: { job: string; team: string; class: string; cause: 'reclaim' | 'withinTeam' | 'priority' } | null;
}

/** A change of a job's reason while it waited (GET /v1/jobs/{id}/reasons). */
export interface ReasonChange {
  at: string;
  code: string;
  message: string;
}

export interface FleetNode {
  name: string;
  gpus: number;
  free: number;
  rack: number;
  reservedFor: string | null;
  held: { job: string; team: string; gpus: number }[];
  /** Set when the executor says the node takes no new job (Slurm: drained, down...). */
  unavailable?: { state: string | null; why: string };
}

export interface Fleet {
  pools: { name: string; flavor: string; gpusPerNode: number; rackSize: number; nodes: FleetNode[] }[];
}

export interface PolicyInForce {
  version: number;
  policy: {
    priorityClasses: { name: string; priority: number; preemptible?: boolean }[];
    defaultClass?: string;
  };
  text: string;
}
