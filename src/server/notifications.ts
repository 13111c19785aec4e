// What the lab hears of by webhook (docs/webhooks.md): the live server's and governance's
// happenings turned into WebhookEvents. Every function here only builds an event and hands it
// to WebhookNotifier.notify, which queues it and returns.
import type { Proposal } from '../governance/lifecycle.js';
import type { StoredJob } from '../storage/port.js';
import type { TeamSpec } from '../core/model.js';
import type { LiveScheduler, PreemptionCause } from './live.js';
import type { WebhookNotifier } from './webhooks.js';

const CAUSE: Record<PreemptionCause, string> = {
  reclaim: 'its team borrowed these GPUs and the other team took back its guarantee',
  withinTeam: 'a job of a higher class of the same team needed the GPUs',
  priority: 'its team borrowed these GPUs and a job of a higher class (or with a better fair share) needed them',
};

const iso = (t: number | null): string | null => (t === null ? null : new Date(t * 1000).toISOString());
const jobName = (job: StoredJob): string => (job.name ? `${job.id} (${job.name})` : job.id);

/** Whether `team` is `ancestor` or in its subtree, in `teams`. */
export function withinTree(teams: readonly TeamSpec[], team: string, ancestor: string): boolean {
  const find = (nodes: readonly TeamSpec[]): TeamSpec | undefined => {
    for (const n of nodes) {
      if (n.name === ancestor) return n;
      const below = find(n.children);
      if (below) return below;
    }
    return undefined;
  };
  const top = find(teams);
  if (!top) return team === ancestor;
  const has = (n: TeamSpec): boolean => n.name === team || n.children.some(has);
  return has(top);
}

export function notifyPreempted(notifier: WebhookNotifier, victim: StoredJob, by: StoredJob, cause: PreemptionCause, at: number): void {
  notifier.notify({
    type: 'job.preempted',
    teams: [victim.team],
    text: `Job ${jobName(victim)} of team ${victim.team} was preempted by job ${by.id} of team ${by.team} (class ${by.class}): ${CAUSE[cause]}. It waits to run again, keeping its last checkpoint.`,
    data: {
      job: { id: victim.id, name: victim.name, team: victim.team, class: victim.class, gpus: victim.gpus, preemptions: victim.preemptions },
      by: { id: by.id, name: by.name, team: by.team, class: by.class, gpus: by.gpus, submittedBy: by.submittedBy },
      cause,
      at: iso(at),
    },
  });
}

/**
 * Watches for pending jobs that wait inside their team's guarantee longer than minRuntime plus
 * `grace` seconds (the condition of the ArbiterTeamWaitingInsideGuarantee alert) and notifies
 * each once per wait. Returns a function that stops the watch.
 */
export function watchGuaranteedWaits(notifier: WebhookNotifier, live: () => LiveScheduler | null, clock: () => number, grace: number, everyMs = 2000): () => void {
  const told = new Set<string>();
  const check = (): void => {
    const l = live();
    if (!l) return;
    const now = clock();
    const limit = l.policy.policy.preemption.minRuntime + grace;
    const waiting = l.waitingInsideGuarantee(now);
    const still = new Set(waiting.map((w) => w.job.id));
    for (const id of told) if (!still.has(id)) told.delete(id); // started, cancelled or outside again: a later wait is news
    for (const { job, waited } of waiting) {
      if (waited <= limit || told.has(job.id)) continue;
      told.add(job.id);
      const reason = l.reasonOf(job);
      notifier.notify({
        type: 'job.waiting',
        teams: [job.team],
        text: `Job ${jobName(job)} of team ${job.team} fits the team's guarantee but has waited ${Math.round(waited)} s, longer than minRuntime (${l.policy.policy.preemption.minRuntime} s).${reason ? ` ${reason.message}` : ''} \`arbiter explain ${job.id}\` says more.`,
        data: { job: { id: job.id, name: job.name, team: job.team, class: job.class, gpus: job.gpus, flavor: job.flavor }, waitedSeconds: Math.round(waited), minRuntimeSeconds: l.policy.policy.preemption.minRuntime, reasonCode: reason?.code ?? null, reason: reason?.message ?? null },
      });
    }
  };
  const timer = setInterval(check, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * A proposal stored: a new one tells the teams it affects; one that enters
 * voting tells everyone a vote is due; one scheduled, when it takes effect; an emergency, when it
 * must be ratified.
 */
export function notifyProposal(notifier: WebhookNotifier, p: Proposal, previous: Proposal['status'] | null): void {
  const affected = [...p.report.affected];
  const proposal = { id: p.id, title: p.title, author: p.author, status: p.status, class: p.report.class, affected, emergency: p.emergency, revision: p.revision };
  const closes = iso(p.deadlines.votingCloses);
  if (previous === null && affected.length > 0) {
    notifier.notify({
      type: 'proposal.affects_team',
      teams: affected,
      text: `Proposal ${p.id} "${p.title}" by ${p.author} affects ${affected.join(', ')} (${p.report.class} change).${closes ? ` Leads of the affected teams respond before ${closes}: \`arbiter proposal show ${p.id}\`.` : ''}`,
      data: { proposal, deadline: closes },
    });
  }
  if (previous === p.status) return;
  if (p.status === 'voting')
    notifier.notify({
      type: 'governance.due',
      teams: affected,
      text: `Proposal ${p.id} "${p.title}" is open for the council's vote${closes ? ` until ${closes}` : ''}: \`arbiter vote ${p.id}\`.`,
      data: { proposal, due: 'vote', deadline: closes },
    });
  else if (p.status === 'scheduled' || p.status === 'approved')
    notifier.notify({
      type: 'governance.due',
      teams: affected,
      text: `Proposal ${p.id} "${p.title}" was approved; it takes effect at ${iso(p.deadlines.enforceAt) ?? 'the end of its timelock'}.`,
      data: { proposal, due: 'enforcement', deadline: iso(p.deadlines.enforceAt) },
    });
  else if (p.emergency && p.deadlines.ratifyBy !== null && previous === null)
    notifier.notify({
      type: 'governance.due',
      teams: affected,
      text: `Emergency change ${p.id} "${p.title}" is in force; it reverts at ${iso(p.deadlines.ratifyBy)} unless the council ratifies it.`,
      data: { proposal, due: 'ratification', deadline: iso(p.deadlines.ratifyBy) },
    });
}
