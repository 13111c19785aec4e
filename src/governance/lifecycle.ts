// The lifecycle of a policy proposal (docs/governance.md), as a pure state machine:
//   draft -> consultation -> voting -> approved -> scheduled (timelock) -> ramping -> active,
//   or rejected / withdrawn / rolled_back.
// `act` applies one request of a person (respond, vote, overrule, sign, amend, withdraw,
// rollback, ratify an emergency) and `advance` applies the deadlines up to `now`; both return
// a new proposal and never mutate their input. Neither reads a clock: the server calls
// `advance` on start and on every request, so no deadline depends on a timer that can stop.
// The policy versions themselves are made by the caller from the `effects` returned.
//
// The rules that decide (governance.md, "Voting"): a proposal is approved at the first moment
// when (1) its comment period (plus any late-quorum extension) has ended, (2) the lead of every
// affected team has responded to the current report, (3) no objection is open (or the council
// overruled it), (4) quorum is met, (5) approvals are more than `approval` of the votes cast,
// and (6) someone other than the author approved. It is rejected when (1)-(4) hold and (5) or
// (6) fails. Otherwise it waits: a late response or vote can still complete it.
import type { GovernanceRules } from '../core/model.js';

export type ProposalStatus =
  | 'draft'
  | 'consultation'
  | 'voting'
  | 'approved'
  | 'scheduled'
  | 'ramping'
  | 'active'
  | 'rejected'
  | 'withdrawn'
  | 'rolled_back';
export type ChangeClass = 'minor' | 'material';
export type Stance = 'consent' | 'object' | 'abstain';
export type VoteChoice = 'approve' | 'reject' | 'abstain';

/** What the impact analysis decided, as far as the process needs it. */
export interface ReportSummary {
  readonly hash: string;
  readonly class: ChangeClass;
  readonly affected: readonly string[];
}

export interface TeamResponse {
  readonly team: string;
  readonly actor: string;
  readonly stance: Stance;
  readonly reason: string;
  /** The metric an objection disputes (required for `object`). */
  readonly metric: string | null;
  readonly at: number;
  /** The amendment it answered (stale once the proposal is amended). */
  readonly revision: number;
  readonly reportHash: string;
}

export interface Ballot {
  readonly actor: string;
  readonly vote: VoteChoice;
  readonly reason: string;
  readonly reportHash: string;
  readonly at: number;
  readonly revision: number;
}

export interface Overrule {
  readonly actor: string;
  readonly rationale: string;
  readonly at: number;
  readonly revision: number;
}

export interface Signature {
  readonly actor: string;
  readonly team: string;
  readonly at: number;
  readonly revision: number;
}

/**
 * Anyone's comment (governance.md step 4: "Anyone may comment"). Comments are not part of the
 * proposal's document: each is stored as a row of its own (adding one rewrites nothing).
 */
export interface Comment {
  readonly actor: string;
  readonly text: string;
  readonly at: number;
  readonly revision: number;
}

/** Why a proposal takes no comment now (null: it takes one). */
export function commentRefusal(p: Proposal): Refusal | null {
  return FINAL.has(p.status) ? { status: 409, message: `proposal ${p.id} is ${p.status}: it takes no more comments` } : null;
}

export interface TimelineEntry {
  readonly at: number;
  readonly event: string;
  readonly actor: string;
  readonly detail: string;
}

/** One step of the activation: a policy version of its own (governance.md step 7). */
export interface RampStep {
  readonly step: number;
  readonly at: number;
  /** The policy document of this step. */
  readonly text: string;
  /** The policy version it became, once enforced. */
  readonly version: number | null;
}

export interface Proposal {
  readonly id: string;
  readonly title: string;
  readonly rationale: string;
  readonly alternatives: string | null;
  readonly risks: string | null;
  readonly rollbackPlan: string | null;
  readonly author: string;
  readonly createdAt: number;
  readonly emergency: boolean;
  readonly status: ProposalStatus;
  /** Amendments so far (0: as proposed). Responses, ballots and signatures belong to one. */
  readonly revision: number;
  /** The proposed policy document (YAML text). */
  readonly policyText: string;
  /** The policy version in force when the current report was made, and its text (rollback). */
  readonly baseVersion: number;
  readonly baseText: string;
  readonly report: ReportSummary;
  /** The rules of the process, from the policy in force at the last (re)analysis. */
  readonly rules: GovernanceRules;
  readonly responses: readonly TeamResponse[];
  readonly votes: readonly Ballot[];
  readonly overrules: readonly Overrule[];
  readonly signatures: readonly Signature[];
  /** Revisions for which a petition already reopened consultation (once per amendment). */
  readonly petitionReopened: readonly number[];
  /** Objections overruled: `team@revision` keys. */
  readonly overruled: readonly string[];
  readonly timeline: readonly TimelineEntry[];
  readonly deadlines: {
    /** End of the comment period; voting closes then (later with a late-quorum extension). */
    readonly votingCloses: number | null;
    readonly quorumReachedAt: number | null;
    readonly extended: boolean;
    readonly approvedAt: number | null;
    /** End of the timelock: the first enforcing step. */
    readonly enforceAt: number | null;
    /** Emergency: reverts at this time unless ratified. */
    readonly ratifyBy: number | null;
  };
  readonly ramp: readonly RampStep[];
  /** Teams told that the first step would preempt some of their jobs. */
  readonly notified: readonly string[];
  /** The policy version that rolled it back (or reverted the emergency). */
  readonly rolledBackTo: number | null;
}

/** Facts from outside the proposal that a decision needs (from the store, at request time). */
export interface ProcessContext {
  readonly now: number;
  /** Council members (distinct users holding a council token). */
  readonly councilSize: number;
  /** Distinct members and leads of the affected teams (the petition's denominator). */
  readonly affectedMembers: number;
}

/** A request refused: the HTTP status that says why (403 not allowed, 409 wrong moment). */
export interface Refusal {
  readonly status: 400 | 403 | 409;
  readonly message: string;
}

export type Outcome = { readonly ok: true; readonly proposal: Proposal } | { readonly ok: false; readonly refusal: Refusal };

/** What the caller must do after `advance` (in order): policy versions to make and notices. */
export type Effect =
  | { readonly type: 'enforce'; readonly step: number; readonly text: string }
  | { readonly type: 'revert'; readonly text: string; readonly why: string }
  | { readonly type: 'notify-before-first-step' };

export type Action =
  | { readonly type: 'respond'; readonly actor: string; readonly team: string; readonly stance: Stance; readonly reason: string; readonly metric: string | null }
  | { readonly type: 'vote'; readonly actor: string; readonly vote: VoteChoice; readonly reason: string; readonly reportHash: string }
  | { readonly type: 'overrule'; readonly actor: string; readonly rationale: string }
  | { readonly type: 'sign'; readonly actor: string; readonly team: string }
  | { readonly type: 'amend'; readonly actor: string; readonly rationale: string; readonly policyText: string; readonly report: ReportSummary; readonly baseVersion: number; readonly baseText: string; readonly rules: GovernanceRules }
  | { readonly type: 'withdraw'; readonly actor: string }
  /** The policy in force changed under an open proposal: its impact is analysed again. */
  | { readonly type: 'rebase'; readonly report: ReportSummary; readonly baseVersion: number; readonly baseText: string; readonly rules: GovernanceRules }
  | { readonly type: 'rollback'; readonly actor: string; readonly rationale: string };

/** States in which the process is still deciding (responses, votes, petitions count). */
export const OPEN: ReadonlySet<ProposalStatus> = new Set(['draft', 'consultation', 'voting']);
export const FINAL: ReadonlySet<ProposalStatus> = new Set(['rejected', 'withdrawn', 'rolled_back']);

/** What a proposal is made of when it is created (the rest starts empty). */
export type NewProposal = Pick<
  Proposal,
  'id' | 'title' | 'rationale' | 'alternatives' | 'risks' | 'rollbackPlan' | 'author' | 'policyText' | 'baseVersion' | 'baseText' | 'report' | 'rules' | 'emergency'
>;

/** A proposal with its impact report: it goes straight from draft to consultation. */
export function createProposal(input: NewProposal, now: number): Proposal {
  const draft: Proposal = {
    ...input,
    createdAt: now,
    status: 'draft',
    revision: 0,
    responses: [],
    votes: [],
    overrules: [],
    signatures: [],
    petitionReopened: [],
    overruled: [],
    timeline: [{ at: now, event: input.emergency ? 'emergency' : 'proposed', actor: input.author, detail: input.title }],
    deadlines: {
      votingCloses: null,
      quorumReachedAt: null,
      extended: false,
      approvedAt: null,
      enforceAt: null,
      ratifyBy: input.emergency ? now + input.rules.emergencyRatification : null,
    },
    ramp: [],
    notified: [],
    rolledBackTo: null,
  };
  return openConsultation(draft, now, input.author, `impact report ${input.report.hash.slice(0, 12)}: ${input.report.class}${input.report.affected.length ? `, affected: ${input.report.affected.join(', ')}` : ', no team affected'}`);
}

function openConsultation(p: Proposal, now: number, actor: string, detail: string): Proposal {
  return {
    ...p,
    status: 'consultation',
    deadlines: { ...p.deadlines, votingCloses: now + p.rules.commentPeriod[p.report.class], quorumReachedAt: null, extended: false },
    timeline: [...p.timeline, { at: now, event: 'consultation', actor, detail }],
  };
}

// ------------------------------------------------------------------ what counts now

/** The response of each affected team to the current revision (the latest one counts). */
export function currentResponses(p: Proposal): Map<string, TeamResponse> {
  const out = new Map<string, TeamResponse>();
  for (const r of p.responses) if (r.revision === p.revision) out.set(r.team, r);
  return out;
}

/** Affected teams whose lead has not responded to the current report. */
export function missingResponses(p: Proposal): string[] {
  const responses = currentResponses(p);
  return p.report.affected.filter((team) => !responses.has(team));
}

/** Objections to the current report that still block (not withdrawn by a new response, not overruled). */
export function openObjections(p: Proposal): TeamResponse[] {
  return [...currentResponses(p).values()].filter((r) => r.stance === 'object' && !p.overruled.includes(`${r.team}@${r.revision}`));
}

/** Each council member's latest ballot on the current report. */
export function currentVotes(p: Proposal): Map<string, Ballot> {
  const out = new Map<string, Ballot>();
  for (const b of p.votes) if (b.revision === p.revision && b.reportHash === p.report.hash) out.set(b.actor, b);
  return out;
}

export interface Tally {
  readonly approve: number;
  readonly reject: number;
  readonly abstain: number;
  readonly cast: number;
  readonly quorumMet: boolean;
  readonly approvalMet: boolean;
  /** Someone other than the author approved (nobody approves their own proposal alone). */
  readonly approvedByOthers: boolean;
}

export function tally(p: Proposal, councilSize: number): Tally {
  const votes = [...currentVotes(p).values()];
  const count = (v: VoteChoice): number => votes.filter((b) => b.vote === v).length;
  const approve = count('approve');
  const cast = votes.length;
  return {
    approve,
    reject: count('reject'),
    abstain: count('abstain'),
    cast,
    // quorum: the fraction of council members who voted (0.66 of 3 members: 2 votes suffice? 2/3 = 0.667 >= 0.66, yes).
    quorumMet: councilSize > 0 && cast / councilSize >= p.rules.quorum,
    // approval: approvals are MORE than this fraction of votes cast (0.5: a strict majority).
    approvalMet: cast > 0 && approve / cast > p.rules.approval,
    approvedByOthers: votes.some((b) => b.vote === 'approve' && b.actor !== p.author),
  };
}

/** Why the proposal cannot be approved yet (empty: nothing stands in the way). */
export function blockers(p: Proposal, ctx: ProcessContext): string[] {
  const out: string[] = [];
  const closes = p.deadlines.votingCloses;
  if (closes !== null && ctx.now < closes) out.push(`the comment period ends at ${new Date(closes * 1000).toISOString()}`);
  const missing = missingResponses(p);
  if (missing.length > 0) out.push(`waiting for the response of the lead of: ${missing.join(', ')}`);
  const objections = openObjections(p);
  if (objections.length > 0) out.push(`open objection(s) from: ${objections.map((o) => `${o.team} (${o.metric ?? 'no metric'})`).join(', ')}`);
  const t = tally(p, ctx.councilSize);
  if (!t.quorumMet) out.push(`quorum: ${t.cast} of ${ctx.councilSize} council members voted, ${Math.ceil(p.rules.quorum * ctx.councilSize - 1e-9)} needed`);
  return out;
}

// ------------------------------------------------------------------ requests

const refuse = (status: Refusal['status'], message: string): Outcome => ({ ok: false, refusal: { status, message } });
const note = (p: Proposal, at: number, event: string, actor: string, detail: string): TimelineEntry[] => [...p.timeline, { at, event, actor, detail }];

/** Applies one request. Deadlines are applied first (call `advance` before), so `now` is current. */
export function act(p: Proposal, action: Action, ctx: ProcessContext): Outcome {
  const now = ctx.now;
  switch (action.type) {
    case 'respond': {
      if (!OPEN.has(p.status)) return refuse(409, `proposal ${p.id} is ${p.status}: responses are taken during consultation and voting`);
      if (!p.report.affected.includes(action.team))
        return refuse(409, `team ${action.team} is not affected by the current impact report (affected: ${p.report.affected.join(', ') || 'none'}); anyone may comment, but only affected teams respond`);
      if (action.stance === 'object' && !action.metric) return refuse(400, 'an objection names the metric it disputes (metric: gpuHours, avgWait, p95Wait, preemptions, ...)');
      const response: TeamResponse = { team: action.team, actor: action.actor, stance: action.stance, reason: action.reason, metric: action.metric, at: now, revision: p.revision, reportHash: p.report.hash };
      const next: Proposal = { ...p, responses: [...p.responses, response], timeline: note(p, now, `response.${action.stance}`, action.actor, `${action.team}: ${action.reason}`) };
      return { ok: true, proposal: settleConsultation(next, now) };
    }
    case 'vote': {
      if (!OPEN.has(p.status)) return refuse(409, `proposal ${p.id} is ${p.status}: voting is closed`);
      if (action.reportHash !== p.report.hash)
        return refuse(409, `the ballot names impact report ${action.reportHash.slice(0, 64)}, but the current report is ${p.report.hash}: read the current report and vote again`);
      const ballot: Ballot = { actor: action.actor, vote: action.vote, reason: action.reason, reportHash: action.reportHash, at: now, revision: p.revision };
      let next: Proposal = { ...p, votes: [...p.votes, ballot], timeline: note(p, now, `vote.${action.vote}`, action.actor, action.reason) };
      next = noteQuorum(next, ctx);
      return { ok: true, proposal: next };
    }
    case 'overrule': {
      if (!OPEN.has(p.status)) return refuse(409, `proposal ${p.id} is ${p.status}: there is nothing to overrule`);
      const open = openObjections(p);
      if (open.length === 0) return refuse(409, `proposal ${p.id} has no open objection to overrule`);
      if (p.overrules.some((o) => o.actor === action.actor && o.revision === p.revision)) return refuse(409, `${action.actor} already voted to overrule the objections to this revision`);
      const overrules = [...p.overrules, { actor: action.actor, rationale: action.rationale, at: now, revision: p.revision }];
      let next: Proposal = { ...p, overrules, timeline: note(p, now, 'overrule.vote', action.actor, action.rationale) };
      const votes = overrules.filter((o) => o.revision === p.revision).length;
      if (ctx.councilSize > 0 && votes / ctx.councilSize >= p.rules.overrule) {
        next = {
          ...next,
          overruled: [...p.overruled, ...open.map((o) => `${o.team}@${o.revision}`)],
          timeline: note(next, now, 'overruled', 'council', `${votes} of ${ctx.councilSize} council members overruled the objection(s) of ${open.map((o) => o.team).join(', ')}`),
        };
        next = settleConsultation(next, now);
      }
      return { ok: true, proposal: next };
    }
    case 'sign': {
      if (!OPEN.has(p.status) && p.status !== 'approved' && p.status !== 'scheduled')
        return refuse(409, `proposal ${p.id} is ${p.status}: petitions are taken until the first enforcing step`);
      if (!p.report.affected.includes(action.team)) return refuse(403, `only members of affected teams (${p.report.affected.join(', ') || 'none'}) may sign; ${action.actor} is in ${action.team}`);
      if (p.signatures.some((s) => s.actor === action.actor && s.revision === p.revision)) return refuse(409, `${action.actor} already signed the petition against this revision`);
      const signatures = [...p.signatures, { actor: action.actor, team: action.team, at: now, revision: p.revision }];
      let next: Proposal = { ...p, signatures, timeline: note(p, now, 'petition.sign', action.actor, action.team) };
      const count = signatures.filter((s) => s.revision === p.revision).length;
      if (!p.petitionReopened.includes(p.revision) && ctx.affectedMembers > 0 && count / ctx.affectedMembers >= p.rules.petitionThreshold) {
        next = openConsultation(
          { ...next, petitionReopened: [...p.petitionReopened, p.revision], deadlines: { ...next.deadlines, approvedAt: null, enforceAt: null }, ramp: [] },
          now,
          'petition',
          `${count} of ${ctx.affectedMembers} members of affected teams signed: consultation reopens`,
        );
      }
      return { ok: true, proposal: next };
    }
    case 'amend': {
      if (action.actor !== p.author) return refuse(403, `only the author (${p.author}) may amend proposal ${p.id}`);
      if (!OPEN.has(p.status)) return refuse(409, `proposal ${p.id} is ${p.status}: only an open proposal can be amended`);
      const amended: Proposal = {
        ...p,
        revision: p.revision + 1,
        policyText: action.policyText,
        baseVersion: action.baseVersion,
        baseText: action.baseText,
        report: action.report,
        rules: action.rules,
        timeline: note(p, now, 'amended', action.actor, `${action.rationale} (new impact report ${action.report.hash.slice(0, 12)}: ${action.report.class}; earlier responses and ballots are stale)`),
      };
      return { ok: true, proposal: openConsultation(amended, now, action.actor, 'consultation restarts on the amended proposal') };
    }
    case 'rebase': {
      if (!OPEN.has(p.status) || p.emergency) return refuse(409, `proposal ${p.id} is ${p.status}: only an open proposal is analysed again`);
      const rebased: Proposal = { ...p, baseVersion: action.baseVersion, baseText: action.baseText, rules: action.rules };
      // The same report (the change did not alter its impact): ballots and responses stand.
      if (action.report.hash === p.report.hash) return { ok: true, proposal: rebased };
      const detail = `policy version ${action.baseVersion} is now in force: new impact report ${action.report.hash.slice(0, 12)} (${action.report.class}); earlier responses and ballots are stale`;
      const next: Proposal = { ...rebased, revision: p.revision + 1, report: action.report, timeline: note(p, now, 'reanalysed', 'system', detail) };
      return { ok: true, proposal: openConsultation(next, now, 'system', 'consultation restarts on the new report') };
    }
    case 'withdraw': {
      if (action.actor !== p.author) return refuse(403, `only the author (${p.author}) may withdraw proposal ${p.id}`);
      if (!OPEN.has(p.status) && p.status !== 'approved' && p.status !== 'scheduled') return refuse(409, `proposal ${p.id} is ${p.status}: it can no longer be withdrawn (roll it back instead)`);
      if (p.emergency) return refuse(409, `emergency ${p.id} is in force: it is reverted by a rollback or when not ratified`);
      return { ok: true, proposal: { ...p, status: 'withdrawn', ramp: [], timeline: note(p, now, 'withdrawn', action.actor, '') } };
    }
    case 'rollback': {
      const enforced = p.ramp.some((s) => s.version !== null) || (p.emergency && p.status !== 'rolled_back');
      if (!(p.status === 'scheduled' || p.status === 'ramping' || p.status === 'active' || (p.emergency && OPEN.has(p.status) && enforced)))
        return refuse(409, `proposal ${p.id} is ${p.status}: only a scheduled, ramping or active change can be rolled back`);
      return { ok: true, proposal: { ...p, status: 'rolled_back', timeline: note(p, now, 'rolled_back', action.actor, action.rationale) } };
    }
  }
}

/** Consultation is complete when every affected team responded and no objection is open. */
function settleConsultation(p: Proposal, now: number): Proposal {
  if (p.status !== 'consultation' && p.status !== 'voting') return p;
  const complete = missingResponses(p).length === 0 && openObjections(p).length === 0;
  if (complete && p.status === 'consultation') return { ...p, status: 'voting', timeline: note(p, now, 'voting', 'system', 'every affected team responded and no objection is open') };
  if (!complete && p.status === 'voting') return { ...p, status: 'consultation', timeline: note(p, now, 'consultation', 'system', 'an objection is open') };
  return p;
}

/** Records when quorum is first reached; in the last `lateQuorumExtension`, the period is extended once. */
function noteQuorum(p: Proposal, ctx: ProcessContext): Proposal {
  if (p.deadlines.quorumReachedAt !== null || !tally(p, ctx.councilSize).quorumMet) return p;
  const closes = p.deadlines.votingCloses ?? ctx.now;
  const ext = p.rules.lateQuorumExtension;
  if (ctx.now > closes - ext && ext > 0 && !p.deadlines.extended) {
    const until = Math.max(closes, ctx.now) + ext;
    return {
      ...p,
      deadlines: { ...p.deadlines, quorumReachedAt: ctx.now, votingCloses: until, extended: true },
      timeline: note(p, ctx.now, 'extended', 'system', `quorum was first reached in the last ${ext} s of the period: voting closes at ${new Date(until * 1000).toISOString()}`),
    };
  }
  return { ...p, deadlines: { ...p.deadlines, quorumReachedAt: ctx.now } };
}

// ------------------------------------------------------------------ deadlines

/** What `approve` needs to lay out the activation: the ramp's policy texts (minor: one step). */
export type RampPlanner = (p: Proposal) => readonly string[];

/**
 * Applies every deadline up to `ctx.now`: the vote's outcome, the timelock, each ramp step, an
 * emergency's reversion. Returns the effects for the caller to carry out in order.
 */
export function advance(p: Proposal, ctx: ProcessContext, planRamp: RampPlanner): { proposal: Proposal; effects: Effect[] } {
  const effects: Effect[] = [];
  let q = p;
  const now = ctx.now;
  // Emergency: not ratified in time -> reverts (whatever stage its ratification reached).
  if (q.emergency && q.deadlines.ratifyBy !== null && now >= q.deadlines.ratifyBy && q.status !== 'active' && !FINAL.has(q.status)) {
    effects.push({ type: 'revert', text: q.baseText, why: `emergency ${q.id} was not ratified by ${new Date(q.deadlines.ratifyBy * 1000).toISOString()}` });
    q = { ...q, status: 'rolled_back', timeline: note(q, q.deadlines.ratifyBy, 'reverted', 'system', 'not ratified in time: the policy before the emergency is restored') };
    return { proposal: q, effects };
  }
  if (OPEN.has(q.status) && q.deadlines.votingCloses !== null && now >= q.deadlines.votingCloses) {
    q = noteQuorum(q, ctx);
    if (now >= (q.deadlines.votingCloses ?? now)) {
      const t = tally(q, ctx.councilSize);
      const ready = missingResponses(q).length === 0 && openObjections(q).length === 0 && t.quorumMet;
      if (ready && t.approvalMet && t.approvedByOthers) {
        q = approve(q, now, t, planRamp);
        if (q.emergency) {
          q = { ...q, status: 'active', deadlines: { ...q.deadlines, ratifyBy: null }, timeline: note(q, now, 'ratified', 'council', 'the emergency change stays in force') };
        }
      } else if (ready) {
        const why = t.approvalMet ? 'only the author approved' : `${t.approve} approve of ${t.cast} votes cast, more than ${q.rules.approval * 100}% needed`;
        q = { ...q, status: 'rejected', timeline: note(q, now, 'rejected', 'council', why) };
        if (q.emergency) effects.push({ type: 'revert', text: q.baseText, why: `emergency ${q.id} was not ratified: ${why}` });
        return { proposal: q, effects };
      }
    }
  }
  if (q.status === 'approved') {
    // Before the first step, the teams whose jobs it would preempt are told (during the timelock).
    effects.push({ type: 'notify-before-first-step' });
    const enforceAt = q.deadlines.enforceAt ?? now;
    q = now >= enforceAt ? { ...q, status: 'ramping' } : { ...q, status: 'scheduled', timeline: note(q, now, 'scheduled', 'system', `timelock until ${new Date(enforceAt * 1000).toISOString()}`) };
  }
  if (q.status === 'scheduled' && q.deadlines.enforceAt !== null && now >= q.deadlines.enforceAt) q = { ...q, status: 'ramping' };
  if (q.status === 'ramping') {
    const steps = [...q.ramp];
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i]!;
      if (s.version === null && now >= s.at) {
        effects.push({ type: 'enforce', step: s.step, text: s.text });
        // The caller fills in the version it made (recordVersions); -1 marks it taken meanwhile.
        steps[i] = { ...s, version: -1 };
        q = { ...q, timeline: note(q, s.at, 'step', 'system', `step ${s.step} of ${steps.length} enforced`) };
      }
    }
    q = { ...q, ramp: steps };
    if (steps.every((s) => s.version !== null)) q = { ...q, status: 'active', timeline: note(q, now, 'active', 'system', `all ${steps.length} step(s) enforced`) };
  }
  return { proposal: q, effects };
}

function approve(p: Proposal, now: number, t: Tally, planRamp: RampPlanner): Proposal {
  const detail = `${t.approve} approve, ${t.reject} reject, ${t.abstain} abstain`;
  let q: Proposal = { ...p, status: 'approved', deadlines: { ...p.deadlines, approvedAt: now }, timeline: note(p, now, 'approved', 'council', detail) };
  if (p.emergency) return q; // already in force
  const texts = planRamp(q);
  // A minor change activates at once; a material one waits the timelock, then ramps:
  // step k of n at enforceAt + (k-1) * over / (n-1), so the steps span exactly `over`.
  const material = p.report.class === 'material';
  const enforceAt = material ? now + p.rules.timelock : now;
  const n = texts.length;
  const spacing = material && n > 1 ? p.rules.ramp.over / (n - 1) : 0;
  q = { ...q, deadlines: { ...q.deadlines, enforceAt }, ramp: texts.map((text, i) => ({ step: i + 1, at: enforceAt + i * spacing, text, version: null })) };
  return q;
}

/** Records the policy version each enforced step became (effects are applied by the caller). */
export function recordVersions(p: Proposal, versions: ReadonlyMap<number, number>): Proposal {
  return { ...p, ramp: p.ramp.map((s) => (versions.has(s.step) ? { ...s, version: versions.get(s.step)! } : s)) };
}
