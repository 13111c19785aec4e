// Prometheus metrics (GET /metrics). Gauges are read from the live state at scrape time, so
// they are never stale; counters and histograms are updated as things happen.
import client from 'prom-client';
import type { LiveScheduler } from './live.js';
import type { WebhookStats } from './webhooks.js';

export interface Metrics {
  readonly registry: client.Registry;
  readonly passSeconds: client.Histogram;
  /** Waits of jobs that started inside their team's guarantee (LiveHooks.onStart). */
  readonly guaranteedStartWait: client.Histogram;
  /** From a pass that preempted to the start of the runs it made room for (LiveHooks.onReclaim). */
  readonly reclaimSeconds: client.Histogram;
  readonly requests: client.Counter;
  readonly requestSeconds: client.Histogram;
}

/** What governance shows in the metrics: proposals per status, the audit log's size. */
export interface GovernanceFigures {
  readonly proposals: Readonly<Record<string, number>>;
  readonly auditEntries: number;
  /** When the latest checkpoint was signed (seconds since the epoch), null before the first. */
  readonly lastCheckpoint: number | null;
}

export function createMetrics(
  live: () => LiveScheduler | null,
  governance: () => GovernanceFigures | null = () => null,
  clock: () => number = () => Date.now() / 1000,
  webhooks: () => WebhookStats | null = () => null,
): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'arbiter_process_' });

  new client.Gauge({
    name: 'arbiter_jobs',
    help: 'Pending and running jobs, per team and class',
    labelNames: ['team', 'class', 'status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const job of live()?.activeJobs() ?? []) this.inc({ team: job.team, class: job.class, status: job.status });
    },
  });
  new client.Gauge({
    name: 'arbiter_job_gpus',
    help: 'GPUs asked by pending jobs and held by running jobs, per team and class',
    labelNames: ['team', 'class', 'status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const job of live()?.activeJobs() ?? []) this.inc({ team: job.team, class: job.class, status: job.status }, job.gpus);
    },
  });
  const perTeamFlavor = (name: string, help: string, read: (l: LiveScheduler, t: number, f: number) => number): void => {
    new client.Gauge({
      name,
      help,
      labelNames: ['team', 'flavor'],
      registers: [registry],
      collect() {
        this.reset();
        const l = live();
        if (!l) return;
        const { teams, fleet } = l.engine;
        for (let t = 0; t < teams.size; t++) {
          for (const info of fleet.flavors) this.set({ team: teams.names[t]!, flavor: info.name }, read(l, t, info.index));
        }
      },
    });
  };
  perTeamFlavor('arbiter_team_guarantee_gpus', 'GPUs a team is guaranteed, per flavor', (l, t, f) => l.engine.teams.guaranteed(t, f));
  perTeamFlavor('arbiter_team_usage_gpus', 'GPUs a team (with its subtree) holds, per flavor', (l, t, f) => l.engine.teams.used(t, f));
  perTeamFlavor('arbiter_team_borrowed_gpus', 'GPUs a team holds beyond its guarantee, per flavor', (l, t, f) =>
    Math.max(0, l.engine.teams.used(t, f) - l.engine.teams.guaranteed(t, f)),
  );
  new client.Gauge({
    name: 'arbiter_fleet_gpus',
    help: 'GPUs of the fleet per flavor, idle or held',
    labelNames: ['flavor', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      const l = live();
      if (!l) return;
      const withheld = l.engine.withheldByFlavor();
      for (const info of l.engine.fleet.flavors) {
        const idle = l.engine.fleet.idle[info.index]!;
        const out = withheld[info.index]!;
        this.set({ flavor: info.name, state: 'idle' }, idle);
        this.set({ flavor: info.name, state: 'held' }, info.capacity - idle - out);
        // Down or drained nodes, and GPUs held by jobs outside Arbiter (Slurm).
        this.set({ flavor: info.name, state: 'unavailable' }, out);
      }
    },
  });
  const counter = (name: string, help: string, read: (l: LiveScheduler) => number): void => {
    new client.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const l = live();
        if (!l) return;
        this.reset();
        this.inc(read(l));
      },
    });
  };
  /** A counter with labels: `rows` gives each label set's value, read again at every scrape. */
  const labelledCounter = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    rows: (l: LiveScheduler) => Iterable<readonly [Record<L, string>, number]>,
  ): void => {
    new client.Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        const l = live();
        if (!l) return;
        this.reset();
        for (const [labels, value] of rows(l)) this.inc(labels, value);
      },
    });
  };
  new client.Gauge({
    name: 'arbiter_executor_up',
    help: 'Whether the executor reaches what it drives (1) or not (0; /healthz says why)',
    registers: [registry],
    collect() {
      const l = live();
      if (!l) return;
      this.set(l.executorHealth().ok ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'arbiter_outside_jobs',
    help: 'Jobs found on the fleet that Arbiter did not start (submitted to Slurm behind its back), per Slurm state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      const l = live();
      if (!l) return;
      const by = new Map<string, number>();
      for (const job of l.foreignJobs) by.set(job.state, (by.get(job.state) ?? 0) + 1);
      for (const [state, n] of by) this.set({ state }, n);
    },
  });
  counter('arbiter_node_failure_requeues_total', 'Runs ended by a node failure and requeued', (l) => l.counters.nodeFailures);
  counter('arbiter_placements_refused_total', 'Runs the executor refused (their jobs wait again)', (l) => l.counters.refusals);
  new client.Gauge({
    name: 'arbiter_policy_version',
    help: 'The policy version in force',
    registers: [registry],
    collect() {
      const l = live();
      if (l) this.set(l.policy.version);
    },
  });
  new client.Gauge({
    name: 'arbiter_proposals',
    help: 'Policy proposals per lifecycle status',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [status, n] of Object.entries(governance()?.proposals ?? {})) this.set({ status }, n);
    },
  });
  new client.Gauge({
    name: 'arbiter_audit_entries',
    help: 'Entries in the signed audit log (checkpointed)',
    registers: [registry],
    collect() {
      const g = governance();
      if (g) this.set(g.auditEntries);
    },
  });
  new client.Gauge({
    name: 'arbiter_audit_last_checkpoint_timestamp_seconds',
    help: 'When the latest signed checkpoint of the audit log was made (at least hourly), seconds since the epoch',
    registers: [registry],
    collect() {
      const at = governance()?.lastCheckpoint;
      if (at !== null && at !== undefined) this.set(at);
    },
  });
  new client.Gauge({
    name: 'arbiter_policy_min_runtime_seconds',
    help: 'preemption.minRuntime of the policy in force: how long a reclaim may have to wait for its victims',
    registers: [registry],
    collect() {
      const l = live();
      if (l) this.set(l.policy.policy.preemption.minRuntime);
    },
  });
  /** Per leaf team: the jobs that would run inside its guarantee, and the longest wait among them. */
  const insideGuarantee = (l: LiveScheduler): Map<string, { jobs: number; longest: number }> => {
    const byTeam = new Map<string, { jobs: number; longest: number }>();
    for (const name of l.engine.teams.names) if (l.engine.teams.isLeaf[l.engine.teams.byName.get(name)!]) byTeam.set(name, { jobs: 0, longest: 0 });
    for (const { job, waited } of l.waitingInsideGuarantee(clock())) {
      const entry = byTeam.get(job.team) ?? { jobs: 0, longest: 0 };
      byTeam.set(job.team, { jobs: entry.jobs + 1, longest: Math.max(entry.longest, waited) });
    }
    return byTeam;
  };
  new client.Gauge({
    name: 'arbiter_team_guaranteed_wait_seconds',
    help: 'Per leaf team, the longest wait of a pending job that would run inside the team guarantee (0 when none waits)',
    labelNames: ['team'],
    registers: [registry],
    collect() {
      this.reset();
      const l = live();
      if (l) for (const [team, { longest }] of insideGuarantee(l)) this.set({ team }, longest);
    },
  });
  new client.Gauge({
    name: 'arbiter_team_guaranteed_pending_jobs',
    help: 'Per leaf team, the pending jobs that would run inside the team guarantee',
    labelNames: ['team'],
    registers: [registry],
    collect() {
      this.reset();
      const l = live();
      if (l) for (const [team, { jobs }] of insideGuarantee(l)) this.set({ team }, jobs);
    },
  });
  new client.Gauge({
    name: 'arbiter_scheduler_backlog_commands',
    help: 'Submissions, run exits and cancels waiting for the scheduling loop',
    registers: [registry],
    collect() {
      const l = live();
      if (l) this.set(l.backlog);
    },
  });
  counter('arbiter_storage_errors_total', 'Writes of the scheduling loop the store refused (each is retried)', (l) => l.counters.storeErrors);
  labelledCounter(
    'arbiter_executor_errors_total',
    "Executor calls that failed, by operation (start, stop; Slurm's polls: poll) and code (the loop's calls: call; Slurm: slurm_unreachable, slurm_failed, ...)",
    ['operation', 'code'],
    (l) => l.executorErrors().map(({ operation, code, count }) => [{ operation, code }, count] as const),
  );
  labelledCounter(
    'arbiter_executor_calls_total',
    "Calls of the executor to what it drives, by call (Slurm: sbatch, squeue, scontrol, scancel; poll: a whole poll; wait to submit: a run from the loop's decision to its sbatch)",
    ['call'],
    (l) => l.executorTimings().map(({ name, count }) => [{ call: name }, count] as const),
  );
  labelledCounter(
    'arbiter_executor_call_seconds_total',
    'Seconds spent in those calls, by call (divided by arbiter_executor_calls_total: the mean)',
    ['call'],
    (l) => l.executorTimings().map(({ name, seconds }) => [{ call: name }, seconds] as const),
  );
  new client.Gauge({
    name: 'arbiter_webhook_queue_deliveries',
    help: 'Webhook deliveries waiting (queued or between retries), per webhook',
    labelNames: ['webhook'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [webhook, n] of webhooks()?.queued ?? []) this.set({ webhook }, n);
    },
  });
  new client.Counter({
    name: 'arbiter_webhook_deliveries_total',
    help: 'Webhook deliveries per webhook and outcome: delivered, failed (gave up after its attempts), dropped (queue full), retried (an attempt that failed)',
    labelNames: ['webhook', 'outcome'],
    registers: [registry],
    collect() {
      const w = webhooks();
      if (!w) return;
      this.reset();
      for (const [webhook, counts] of w.outcomes) for (const [outcome, n] of Object.entries(counts)) this.inc({ webhook, outcome }, n);
    },
  });
  counter('arbiter_preemptions_total', 'Runs preempted since the server started', (l) => l.counters.preemptions);
  counter('arbiter_admissions_total', 'Runs started since the server started', (l) => l.counters.admissions);
  counter('arbiter_passes_total', 'Scheduling passes since the server started', (l) => l.counters.passes);

  const passSeconds = new client.Histogram({
    name: 'arbiter_pass_duration_seconds',
    help: 'Time of one scheduling pass, with the writes of its decisions and the executor calls',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  });
  const guaranteedStartWait = new client.Histogram({
    name: 'arbiter_guaranteed_start_wait_seconds',
    help: 'How long jobs that started inside their team guarantee had waited (since submission or their last preemption)',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
    registers: [registry],
  });
  const reclaimSeconds = new client.Histogram({
    name: 'arbiter_reclaim_duration_seconds',
    help: 'From a pass that preempted runs to the start of the runs they made room for (victims stopping, grace periods)',
    buckets: [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const requests = new client.Counter({
    name: 'arbiter_http_requests_total',
    help: 'HTTP requests by route, method and status code',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const requestSeconds = new client.Histogram({
    name: 'arbiter_http_request_duration_seconds',
    help: 'HTTP request latency by route and method',
    labelNames: ['route', 'method'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  return { registry, passSeconds, guaranteedStartWait, reclaimSeconds, requests, requestSeconds };
}
