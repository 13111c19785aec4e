// Governance on the live service (docs/governance.md): proposals with their impact analysis,
// consultation, votes, petitions, emergencies, activation by ramp, rollback, and the audit log.
// The decisions are the pure lifecycle (governance/lifecycle.ts); this service reads the facts
// they need (council, affected members, the clock), stores every step, appends it to the
// audit log, and puts policy versions in force through the live loop.
//
// No deadline depends on a timer: `refresh` applies every due deadline, and runs on start, on
// every governance request, and is started by any API request once the next deadline has passed
// (a timer also wakes it, but is only a convenience). Other requests never wait for it: the
// governance steps run one at a time, and one may be an impact analysis of seconds.
import { governanceRules } from '../core/config/governance.js';
import { allTeams, parsePolicy } from '../core/config/policy.js';
import type { Fleet, Policy } from '../core/model.js';
import { commentRowSha256, proposalDocSha256 } from '../governance/audit-entry.js';
import { sha256Hex } from '../governance/canonical-json.js';
import type { ImpactReport, WorkloadJob } from '../governance/impact.js';
import { act, advance, blockers, commentRefusal, createProposal, currentResponses, currentVotes, FINAL, missingResponses, OPEN, openObjections, recordVersions, tally } from '../governance/lifecycle.js';
import type { Action, Effect, ProcessContext, Proposal, Stance, VoteChoice } from '../governance/lifecycle.js';
import { policyToYaml, rampPolicies } from '../governance/ramp.js';
import type { Store, StoredComment, StoredJob, StoredToken } from '../storage/port.js';
import type { AttachedTrace } from './attached-trace.js';
import { issueOf } from './attached-trace.js';
import { DEFAULT_MAX_TRACE_JOBS } from './request-body.js';
import { analyzeImpactOffThread } from './impact-runner.js';
import type { Principal } from './auth.js';
import { subtree } from './auth.js';
import { authorize } from './authorization.js';
import type { Action as Permission } from './authorization.js';
import type { LiveLogger, LiveScheduler } from './live.js';

/** A refusal with the HTTP status of api.md (the routes turn it into the error body). */
export class GovernanceError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409,
    message: string,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'GovernanceError';
  }
}

export interface GovernanceOptions {
  readonly store: Store;
  readonly live: LiveScheduler;
  readonly fleet: Fleet;
  readonly clock: () => number;
  readonly logger: LiveLogger;
  readonly engineVersion: string;
  /** The most jobs an attached trace may have (default DEFAULT_MAX_TRACE_JOBS). */
  readonly maxTraceJobs?: number;
  /** A proposal was stored (new, or a step of its process): for notifications; must not throw. */
  readonly onProposal?: (proposal: Proposal, previousStatus: Proposal['status'] | null) => void;
}

export { DEFAULT_MAX_TRACE_JOBS };

export interface ProposalInput {
  readonly title: string;
  readonly rationale: string;
  readonly policy: string;
  readonly alternatives?: string | undefined;
  readonly risks?: string | undefined;
  readonly rollback?: string | undefined;
  /**
   * The workload of an installation with no history (canonical trace CSV, or jobs as JSON): in
   * the request's bytes, already read and found valid, and read again where the analysis runs.
   */
  readonly trace?: AttachedTrace | undefined;
}

const iso = (t: number | null | undefined): string | null => (t === null || t === undefined ? null : new Date(t * 1000).toISOString());

/** Comments embedded in a proposal's view (the first page of GET /v1/proposals/{id}/comments). */
export const COMMENT_PAGE = 50;

export class Governance {
  private readonly proposals = new Map<string, Proposal>();
  /** Per proposal, the document digest the log's last entry about it vouches for (data.docSha256). */
  private readonly vouched = new Map<string, string>();
  /** Per proposal, how many comments it has (their rows are read page by page). */
  private readonly commentCounts = new Map<string, number>();
  private readonly parsedTexts = new Map<string, Policy | null>();
  private chain: Promise<unknown> = Promise.resolve();
  private nextDeadline = Infinity;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(private readonly o: GovernanceOptions) {}

  static async open(options: GovernanceOptions): Promise<Governance> {
    const g = new Governance(options);
    for (const stored of await options.store.listProposals()) {
      g.proposals.set(stored.id, stored.doc as Proposal);
      // Start-up verified the stored documents against the log (serve.ts), so this is what it vouches for.
      g.vouched.set(stored.id, proposalDocSha256(stored.doc));
    }
    for (const [id, count] of await options.store.commentCounts()) g.commentCounts.set(id, count);
    await g.serial(() => g.refreshNow());
    return g;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Governance requests run one at a time (each reads, decides and stores a proposal). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** The refresh a request started and that has not run yet (one is enough for any number of requests). */
  private queuedRefresh: Promise<void> | null = null;

  /**
   * Called on every API request: once a deadline has passed, starts applying the deadlines and
   * returns at once. The refresh waits its turn behind the governance step in progress (maybe an
   * impact analysis); the request does not wait for either.
   */
  onRequest(): void {
    if (this.o.clock() >= this.nextDeadline) void this.refreshSoon();
  }

  /**
   * Applies the due deadlines in turn; resolves when they are applied. Governance reads wait for
   * it, so what they show has every deadline that is due applied.
   */
  refreshSoon(): Promise<void> {
    this.queuedRefresh ??= this.serial(async () => {
      this.queuedRefresh = null;
      await this.refreshNow();
    }).catch((error: unknown) => this.o.logger.error({ err: error }, 'governance deadlines failed'));
    return this.queuedRefresh;
  }

  /** For governance reads: resolves once every deadline due now is applied (at once when none is). */
  async settled(): Promise<void> {
    if (this.o.clock() >= this.nextDeadline) await this.refreshSoon();
  }

  /** The most jobs an attached trace may have (checked as the request body is read, see request-body.ts). */
  get maxTraceJobs(): number {
    return this.o.maxTraceJobs ?? DEFAULT_MAX_TRACE_JOBS;
  }

  // ------------------------------------------------------------------ facts

  /** `stored`: the tokens, when the caller already read them (a list of proposals reads them once). */
  private async context(p: Proposal | null, stored?: readonly StoredToken[]): Promise<ProcessContext> {
    const tokens = (stored ?? (await this.o.store.listTokens())).filter((t) => t.revokedAt === null);
    const council = new Set(tokens.filter((t) => t.role === 'council').map((t) => t.user));
    let affectedMembers = 0;
    if (p) {
      const inside = this.affectedTeamsBelow(p);
      affectedMembers = new Set(tokens.filter((t) => (t.role === 'member' || t.role === 'lead') && t.team !== null && inside.has(t.team)).map((t) => t.user)).size;
    }
    return { now: this.o.clock(), councilSize: council.size, affectedMembers };
  }

  /** The affected teams and every team below them (in the policy in force or the proposal). */
  private affectedTeamsBelow(p: Proposal): Set<string> {
    const out = new Set<string>(p.report.affected);
    const policies = this.treesOf(p);
    for (const team of p.report.affected) for (const policy of policies) for (const t of subtree(policy, team)) out.add(t);
    return out;
  }

  /** The team trees a proposal's teams live in: the policy in force's and its own. */
  private treesOf(p: Proposal): Policy[] {
    const own = this.parsed(p.policyText);
    return own ? [this.o.live.policy.policy, own] : [this.o.live.policy.policy];
  }

  /** A policy document parsed against the fleet (null when invalid); each text is parsed once. */
  private parsed(text: string): Policy | null {
    let policy = this.parsedTexts.get(text);
    if (policy === undefined) {
      const result = parsePolicy(text, 'policy', this.o.fleet);
      policy = result.ok ? result.value : null;
      this.parsedTexts.set(text, policy);
    }
    return policy;
  }

  /** Throws the 403 of the authorization table (authorization.ts) when the principal may not act. */
  private check(action: Permission, principal: Principal, p: Proposal | null, team?: string): void {
    const refused = authorize(action, principal, {
      trees: p ? this.treesOf(p) : [this.o.live.policy.policy],
      ...(p ? { proposal: { id: p.id, author: p.author, affected: p.report.affected } } : {}),
      ...(team !== undefined ? { team } : {}),
    });
    if (refused) throw new GovernanceError(403, refused);
  }

  /**
   * The team a lead's response is for when it names none: its own team when affected, else the
   * first affected team below it (decision 0004). The authorization table then checks it.
   */
  private respondingFor(p: Proposal, principal: Principal): string {
    const own = principal.team ?? '(none)';
    if (p.report.affected.includes(own)) return own;
    const trees = this.treesOf(p);
    return p.report.affected.find((team) => trees.some((policy) => subtree(policy, own).has(team))) ?? own;
  }

  /** The affected team a petitioner signs as a member of: its own team or the nearest affected team above it. */
  private signingAs(p: Proposal, principal: Principal): string {
    const own = principal.team ?? '(none)';
    if (p.report.affected.includes(own)) return own;
    const trees = this.treesOf(p);
    return p.report.affected.find((team) => trees.some((policy) => subtree(policy, team).has(own))) ?? own;
  }

  // ------------------------------------------------------------------ impact

  private async analyze(policyText: string, trace: ProposalInput['trace']): Promise<{ report: ImpactReport; policy: Policy }> {
    const parsed = parsePolicy(policyText, 'policy', this.o.fleet);
    if (!parsed.ok) throw new GovernanceError(400, `the proposed policy is not valid: ${parsed.issues.length} problem(s)`, parsed.issues.map(issueOf('policy')));
    const inForce = this.o.live.policy;
    const rules = governanceRules(inForce.policy);
    const now = this.o.clock();
    const window = { from: now - rules.impactWindow, to: now };
    const common = {
      fleet: this.o.fleet,
      current: { policy: inForce.policy, version: inForce.version, hash: sha256Hex(inForce.text) },
      proposed: { policy: parsed.value, hash: sha256Hex(policyText) },
      window,
      materialThreshold: rules.materialThreshold,
      engineVersion: this.o.engineVersion,
    };
    // An attached trace is turned into the workload where the analysis runs (attached-trace.ts).
    const analysed = await analyzeImpactOffThread(
      trace !== undefined ? { ...common, attached: trace } : { ...common, workload: workloadOf(await this.o.store.jobsSubmittedBetween(window.from, window.to), now) },
    );
    if (!analysed.ok) throw new GovernanceError(400, analysed.problem.message, analysed.problem.issues);
    const report = analysed.value;
    await this.o.store.putReport(report.hash, report);
    return { report, policy: parsed.value };
  }

  // ------------------------------------------------------------------ requests

  propose(principal: Principal, input: ProposalInput): Promise<Proposal> {
    return this.serial(async () => {
      this.check('proposals.create', principal, null);
      await this.refreshNow();
      return this.createNew(principal, input, false);
    });
  }

  /** An admin's emergency change: in force at once, reverted unless ratified in time. */
  emergency(principal: Principal, input: ProposalInput): Promise<Proposal> {
    return this.serial(async () => {
      this.check('emergency', principal, null);
      await this.refreshNow();
      return this.createNew(principal, input, true);
    });
  }

  private async createNew(principal: Principal, input: ProposalInput, emergency: boolean): Promise<Proposal> {
    const { report } = await this.analyze(input.policy, input.trace);
    const inForce = this.o.live.policy;
    const seq = await this.o.store.nextProposalSeq();
    let p = createProposal(
      {
        id: `p-${seq}`,
        title: input.title,
        rationale: input.rationale,
        alternatives: input.alternatives ?? null,
        risks: input.risks ?? null,
        rollbackPlan: input.rollback ?? null,
        author: principal.user,
        policyText: input.policy,
        baseVersion: inForce.version,
        baseText: inForce.text,
        report: { hash: report.hash, class: report.class, affected: [...report.affected] },
        rules: governanceRules(inForce.policy),
        emergency,
      },
      this.o.clock(),
    );
    const kind = emergency ? 'proposal.emergency' : 'proposal.create';
    const data = { title: p.title, rationale: p.rationale, reportHash: report.hash, class: report.class, affected: report.affected, policySha256: sha256Hex(input.policy), baseVersion: inForce.version };
    if (emergency) {
      const withVersion = (version: number): Proposal => ({ ...p, ramp: [{ step: 1, at: p.createdAt, text: input.policy, version }] });
      const { version } = await this.enforce(p, 1, 1, input.policy, principal.user, `emergency ${p.id}: ${p.title}`, { kind, data, reason: p.rationale }, withVersion);
      p = withVersion(version);
      await this.save(p);
    } else {
      await this.save(p, { actor: principal.user, kind, reason: p.rationale, data });
    }
    this.schedule();
    return p;
  }

  /**
   * Applies a person's request to a proposal: `permission` is checked against the authorization
   * table with the proposal (and the team `build` names) before anything is stored.
   */
  request(
    id: string,
    principal: Principal,
    permission: Permission,
    build: (p: Proposal) => Action,
    event: (action: Action) => { kind: string; reason: string; data: unknown },
  ): Promise<{ proposal: Proposal; entry: number }> {
    return this.serial(async () => {
      await this.refreshNow();
      const p = this.find(id);
      const action = build(p);
      this.check(permission, principal, p, 'team' in action ? action.team : undefined);
      const ev = event(action);
      const outcome = act(p, action, await this.context(p));
      if (!outcome.ok) throw new GovernanceError(outcome.refusal.status, outcome.refusal.message);
      let next = outcome.proposal;
      let entry: number;
      if (action.type === 'rollback') {
        const enforced = next.ramp.some((s) => s.version !== null);
        if (enforced) {
          const rolledBack = next;
          const made = await this.enforce(next, 0, 0, p.baseText, principal.user, `rollback of ${p.id}: ${action.rationale}`, { kind: ev.kind, data: ev.data, reason: ev.reason }, (v) => ({ ...rolledBack, rolledBackTo: v }));
          next = { ...next, rolledBackTo: made.version };
          entry = made.entry;
          await this.save(next);
        } else {
          entry = await this.save(next, { actor: principal.user, ...ev });
        }
      } else {
        entry = await this.save(next, { actor: principal.user, ...ev });
      }
      // Deadlines may already have passed (e.g. the last vote after the period): decide now.
      next = (await this.advanceOne(next)) ?? next;
      this.schedule();
      return { proposal: next, entry };
    });
  }

  respond(id: string, principal: Principal, body: { stance: Stance; reason: string; metric?: string | undefined; team?: string | undefined }) {
    return this.request(
      id,
      principal,
      'proposals.respond',
      (p) => ({ type: 'respond', actor: principal.user, team: body.team ?? this.respondingFor(p, principal), stance: body.stance, reason: body.reason, metric: body.metric ?? null }),
      (action) => ({ kind: 'proposal.respond', reason: body.reason, data: { stance: body.stance, metric: body.metric ?? null, team: 'team' in action ? action.team : null } }),
    );
  }

  vote(id: string, principal: Principal, body: { vote: VoteChoice; reason: string; reportHash: string }) {
    return this.request(id, principal, 'proposals.vote', () => ({ type: 'vote', actor: principal.user, ...body }), () => ({ kind: 'proposal.vote', reason: body.reason, data: { vote: body.vote, reportHash: body.reportHash } }));
  }

  /** Anyone may comment (any role). */
  /**
   * Anyone may comment (any role). A comment is one row of its own and one entry of the log
   * that vouches for that row (data.commentSha256): the proposal's document is not rewritten.
   */
  comment(id: string, principal: Principal, body: { text: string }): Promise<{ proposal: Proposal; entry: number }> {
    return this.serial(async () => {
      await this.refreshNow();
      const p = this.find(id);
      this.check('proposals.comment', principal, p);
      const refusal = commentRefusal(p);
      if (refusal) throw new GovernanceError(refusal.status, refusal.message);
      const now = this.o.clock();
      const row: StoredComment = { proposal: p.id, n: (this.commentCounts.get(p.id) ?? 0) + 1, actor: principal.user, text: body.text, at: now, revision: p.revision, legacy: false };
      let seq = 0;
      await this.o.store.transaction(async (tx) => {
        seq = await tx.appendEvent({ at: now, actor: principal.user, kind: 'proposal.comment', subject: p.id, reason: body.text, data: { n: row.n, commentSha256: commentRowSha256(row) } });
        await tx.insertComment(row);
      });
      this.commentCounts.set(p.id, row.n);
      return { proposal: p, entry: seq - 1 };
    });
  }

  overrule(id: string, principal: Principal, body: { rationale: string }) {
    return this.request(id, principal, 'proposals.overrule', () => ({ type: 'overrule', actor: principal.user, rationale: body.rationale }), () => ({ kind: 'proposal.overrule', reason: body.rationale, data: {} }));
  }

  sign(id: string, principal: Principal) {
    return this.request(
      id,
      principal,
      'proposals.petition',
      (p) => ({ type: 'sign', actor: principal.user, team: this.signingAs(p, principal) }),
      () => ({ kind: 'proposal.petition', reason: 'signed the petition', data: { team: principal.team } }),
    );
  }

  withdraw(id: string, principal: Principal) {
    return this.request(id, principal, 'proposals.withdraw', () => ({ type: 'withdraw', actor: principal.user }), () => ({ kind: 'proposal.withdraw', reason: 'withdrawn by the author', data: {} }));
  }

  rollback(id: string, principal: Principal, body: { rationale: string }) {
    return this.request(id, principal, 'proposals.rollback', () => ({ type: 'rollback', actor: principal.user, rationale: body.rationale }), () => ({ kind: 'proposal.rollback', reason: body.rationale, data: {} }));
  }

  amend(id: string, principal: Principal, body: { policy: string; rationale: string; trace?: ProposalInput['trace'] }): Promise<Proposal> {
    return this.serial(async () => {
      await this.refreshNow();
      const p = this.find(id);
      this.check('proposals.amend', principal, p);
      if (!OPEN.has(p.status)) throw new GovernanceError(409, `proposal ${p.id} is ${p.status}: only an open proposal can be amended`);
      const { report } = await this.analyze(body.policy, body.trace);
      const inForce = this.o.live.policy;
      const outcome = act(
        p,
        { type: 'amend', actor: principal.user, rationale: body.rationale, policyText: body.policy, report: { hash: report.hash, class: report.class, affected: [...report.affected] }, baseVersion: inForce.version, baseText: inForce.text, rules: governanceRules(inForce.policy) },
        await this.context(p),
      );
      if (!outcome.ok) throw new GovernanceError(outcome.refusal.status, outcome.refusal.message);
      await this.save(outcome.proposal, { actor: principal.user, kind: 'proposal.amend', reason: body.rationale, data: { reportHash: report.hash, class: report.class, affected: report.affected, policySha256: sha256Hex(body.policy) } });
      this.schedule();
      return outcome.proposal;
    });
  }

  // ------------------------------------------------------------------ reads

  find(id: string): Proposal {
    const p = this.proposals.get(id);
    if (!p) throw new GovernanceError(404, `no proposal ${id.slice(0, 100)}`);
    return p;
  }

  /** Every proposal's view, newest first (the tokens are read once for all of them). */
  async views(): Promise<Record<string, unknown>[]> {
    const tokens = await this.o.store.listTokens();
    return Promise.all(this.list().map((p) => this.view(p, false, tokens)));
  }

  /**
   * A page of the list, newest first, after the proposal `cursor` names (its id): the views
   * without their comments (their count instead; GET /v1/proposals/{id} has them), so that a
   * list does not grow with every comment of every proposal.
   */
  async page(cursor: string | undefined, limit: number): Promise<{ proposals: Record<string, unknown>[]; nextCursor: string | null }> {
    const all = this.list();
    const start = cursor === undefined ? 0 : all.findIndex((p) => p.id === cursor) + 1;
    if (start === 0 && cursor !== undefined) throw new GovernanceError(400, `the cursor "${cursor.slice(0, 100)}" is not a proposal of this list; start without one`, [{ path: 'cursor', message: 'not the nextCursor of an earlier page' }]);
    const slice = all.slice(start, start + limit);
    const tokens = await this.o.store.listTokens();
    const proposals = await Promise.all(
      slice.map(async (p) => {
        const { comments: _comments, commentsNextCursor: _next, ...rest } = await this.view(p, false, tokens, false);
        return rest;
      }),
    );
    return { proposals, nextCursor: start + limit < all.length ? slice.at(-1)!.id : null };
  }

  countByStatus(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of this.proposals.values()) out[p.status] = (out[p.status] ?? 0) + 1;
    return out;
  }

  list(): Proposal[] {
    return [...this.proposals.values()].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
  }

  /**
   * A page of a proposal's comments, oldest first, after the comment `cursor` names (its
   * position, 1 for the first, as the previous page's nextCursor gave it).
   */
  async commentPage(p: Proposal, cursor: string | undefined, limit: number): Promise<{ comments: Record<string, unknown>[]; nextCursor: string | null }> {
    const count = this.commentCounts.get(p.id) ?? 0;
    let start = 0;
    if (cursor !== undefined) {
      start = /^[1-9][0-9]{0,15}$/.test(cursor) ? Number(cursor) : 0;
      if (start === 0 || start > count)
        throw new GovernanceError(400, `the cursor "${cursor.slice(0, 100)}" is not a comment of proposal ${p.id}; start without one`, [{ path: 'cursor', message: 'not the nextCursor of an earlier page' }]);
    }
    const rows = start < count ? await this.o.store.commentsOf(p.id, start, limit) : [];
    return {
      comments: rows.map((c) => ({ n: c.n, actor: c.actor, text: c.text, at: iso(c.at), current: c.revision === p.revision })),
      nextCursor: start + limit < count ? String(start + limit) : null,
    };
  }

  /** The proposal as the API returns it (governance.md, "Routes"). */
  /** `withReview`: the realized figures (a scan of the jobs since activation), for one proposal's page. */
  /** `withComments`: its first page of comments (not in a list of proposals). */
  async view(p: Proposal, withReview = false, tokens?: readonly StoredToken[], withComments = true): Promise<Record<string, unknown>> {
    const ctx = await this.context(p, tokens);
    const impact = (await this.o.store.getReport(p.report.hash)) as ImpactReport | null;
    const responses = currentResponses(p);
    const votes = currentVotes(p);
    const t = tally(p, ctx.councilSize);
    const signatures = p.signatures.filter((s) => s.revision === p.revision);
    return {
      id: p.id,
      title: p.title,
      status: p.status,
      class: p.emergency ? 'emergency' : p.report.class,
      impactClass: p.report.class,
      author: p.author,
      rationale: p.rationale,
      alternatives: p.alternatives,
      risks: p.risks,
      rollback: p.rollbackPlan,
      revision: p.revision,
      createdAt: iso(p.createdAt),
      baseVersion: p.baseVersion,
      policy: p.policyText,
      impact: impact ?? { hash: p.report.hash },
      affected: p.report.affected,
      responses: p.responses.map((r) => ({ team: r.team, actor: r.actor, stance: r.stance, reason: r.reason, metric: r.metric, at: iso(r.at), reportHash: r.reportHash, current: responses.get(r.team) === r })),
      awaitingResponses: missingResponses(p),
      votes: p.votes.map((b) => ({ actor: b.actor, vote: b.vote, reason: b.reason, reportHash: b.reportHash, at: iso(b.at), current: votes.get(b.actor) === b })),
      tally: { ...t, councilSize: ctx.councilSize, quorum: p.rules.quorum, approval: p.rules.approval },
      objections: p.responses
        .filter((r) => r.stance === 'object')
        .map((r) => ({ team: r.team, actor: r.actor, metric: r.metric, reason: r.reason, at: iso(r.at), open: openObjections(p).includes(r), overruled: p.overruled.includes(`${r.team}@${r.revision}`), current: responses.get(r.team) === r })),
      // The first page only, so that a proposal with very many comments stays cheap to read;
      // the rest come from GET /v1/proposals/{id}/comments with commentsNextCursor.
      ...(withComments ? await this.commentPage(p, undefined, COMMENT_PAGE).then((first) => ({ comments: first.comments, commentsNextCursor: first.nextCursor })) : {}),
      commentCount: this.commentCounts.get(p.id) ?? 0,
      overrules: p.overrules.map((o) => ({ actor: o.actor, rationale: o.rationale, at: iso(o.at), current: o.revision === p.revision })),
      petition: {
        signatures: signatures.map((s) => ({ actor: s.actor, team: s.team, at: iso(s.at) })),
        members: ctx.affectedMembers,
        threshold: p.rules.petitionThreshold,
        needed: Math.max(1, Math.ceil(p.rules.petitionThreshold * ctx.affectedMembers - 1e-9)),
        reopened: p.petitionReopened.includes(p.revision),
      },
      blockers: OPEN.has(p.status) ? blockers(p, ctx) : [],
      timeline: p.timeline.map((e) => ({ at: iso(e.at), event: e.event, actor: e.actor, detail: e.detail })),
      deadlines: {
        votingCloses: iso(p.deadlines.votingCloses),
        extended: p.deadlines.extended,
        approvedAt: iso(p.deadlines.approvedAt),
        enforceAt: iso(p.deadlines.enforceAt),
        ratifyBy: iso(p.deadlines.ratifyBy),
        steps: p.ramp.map((s) => ({ step: s.step, at: iso(s.at), version: s.version })),
      },
      notified: p.notified,
      rolledBackTo: p.rolledBackTo,
      review: withReview ? await this.review(p, impact) : null,
    };
  }

  /** Step 8: after activation, the realized per-team figures beside the predicted ones. */
  private async review(p: Proposal, impact: ImpactReport | null): Promise<unknown> {
    const first = p.ramp.find((s) => s.version !== null && s.version > 0);
    if (!first || !impact || p.status !== 'active') return null;
    const from = first.at;
    const jobs = await this.o.store.jobsSubmittedBetween(from, this.o.clock() + 1);
    const realized: Record<string, { jobs: number; gpuHours: number; avgWait: number; preemptions: number }> = {};
    const policy = this.o.live.policy.policy;
    const now = this.o.clock();
    for (const [team, spec] of allTeams(policy)) {
      const below = subtree(policy, spec.name);
      const mine = jobs.filter((j) => below.has(j.team));
      const waits = mine.map((j) => (j.startedAt ?? now) - j.submittedAt);
      realized[team] = {
        jobs: mine.length,
        gpuHours: round3(mine.reduce((sum, j) => sum + j.attained + (j.runStart !== null ? j.gpus * (now - j.runStart) : 0), 0) / 3600),
        avgWait: round3(waits.length ? waits.reduce((a, b) => a + b, 0) / waits.length : 0),
        preemptions: mine.reduce((sum, j) => sum + j.preemptions, 0),
      };
    }
    return { since: iso(from), predicted: impact.teams, realized };
  }

  /** Every policy version with the proposal that made it. */
  async versions(): Promise<unknown[]> {
    const makers = new Map<number, { proposal: string; step: number | null; of: number }>();
    for (const p of this.proposals.values()) {
      for (const s of p.ramp) if (s.version !== null && s.version > 0) makers.set(s.version, { proposal: p.id, step: s.step, of: p.ramp.length });
      if (p.rolledBackTo !== null) makers.set(p.rolledBackTo, { proposal: p.id, step: null, of: 0 });
    }
    return (await this.o.store.policyVersions()).map((v) => {
      const maker = makers.get(v.version);
      return {
        version: v.version,
        createdAt: iso(v.createdAt),
        actor: v.actor,
        reason: v.reason,
        sha256: sha256Hex(v.text),
        inForce: v.version === this.o.live.policy.version,
        proposal: maker?.proposal ?? null,
        step: maker?.step ?? null,
        rollback: maker !== undefined && maker.step === null,
      };
    });
  }

  // ------------------------------------------------------------------ deadlines and effects

  private async refreshNow(): Promise<void> {
    // By id, reading each proposal when its turn comes: an earlier one's activation may have
    // analysed it again (rebaseOpen).
    for (const id of [...this.proposals.keys()]) {
      const p = this.proposals.get(id)!;
      if (!FINAL.has(p.status) && p.status !== 'active') await this.advanceOne(p);
    }
    this.schedule();
  }

  /** Applies one proposal's due deadlines and carries out their effects. */
  private async advanceOne(p: Proposal): Promise<Proposal | null> {
    const ctx = await this.context(p);
    const { proposal, effects } = advance(p, ctx, (q) => this.rampTexts(q));
    if (effects.length === 0 && proposal === p) return null;
    let next = proposal;
    const made = new Map<number, number>();
    for (const effect of effects) next = await this.carryOut(next, effect, made);
    if (made.size > 0) next = recordVersions(next, made);
    const changed = next.status !== p.status;
    await this.save(next, changed ? { actor: 'system', kind: `proposal.${next.status}`, reason: next.timeline.at(-1)?.detail ?? next.status, data: { from: p.status, to: next.status } } : undefined);
    return next;
  }

  private async carryOut(p: Proposal, effect: Effect, made: Map<number, number>): Promise<Proposal> {
    switch (effect.type) {
      case 'enforce': {
        const { version } = await this.enforce(p, effect.step, p.ramp.length, effect.text, 'governance', `proposal ${p.id} "${p.title}": step ${effect.step} of ${p.ramp.length}`, undefined, (v) =>
          durable(p, new Map([...made, [effect.step, v]])),
        );
        made.set(effect.step, version);
        return p;
      }
      case 'revert': {
        const { version } = await this.enforce(p, 0, 0, effect.text, 'governance', effect.why, undefined, (v) => durable({ ...p, rolledBackTo: v }, made));
        return { ...p, rolledBackTo: version };
      }
      case 'notify-before-first-step': {
        const first = p.ramp[0];
        if (!first) return p;
        const teams = this.teamsPreemptedBy(first.text);
        await this.o.store.appendEvent({
          at: this.o.clock(),
          actor: 'system',
          kind: 'proposal.notice',
          subject: p.id,
          reason: teams.length ? `the first step would preempt jobs of: ${teams.join(', ')}` : 'the first step would preempt no job',
          data: { teams, firstStepAt: first.at },
        });
        return { ...p, notified: teams, timeline: [...p.timeline, { at: this.o.clock(), event: 'notice', actor: 'system', detail: teams.length ? `teams whose jobs the first step would preempt were told: ${teams.join(', ')}` : 'the first step would preempt no job' }] };
      }
    }
  }

  /** Stores a policy version (with its activation event), then puts it in force. */
  /**
   * Stores a policy version (with its activation event, and `extra` before it), then puts it in
   * force. Returns the version and the audit entry of `extra` (else of the activation).
   */
  private async enforce(
    p: Proposal,
    step: number,
    of: number,
    text: string,
    actor: string,
    reason: string,
    extra?: { kind: string; data: unknown; reason: string },
    /** The proposal as it must be stored with this version, in the same transaction. */
    persist?: (version: number) => Proposal,
  ): Promise<{ version: number; entry: number }> {
    const parsed = parsePolicy(text, 'policy', this.o.fleet);
    if (!parsed.ok) throw new Error(`proposal ${p.id}: step ${step} is not a valid policy: ${parsed.issues.map((i) => i.message).join('; ')}`);
    const now = this.o.clock();
    let version = 0;
    let seq = 0;
    const vouchedNow: { id?: string; docSha256?: string } = {};
    await this.o.store.transaction(async (tx) => {
      const extraSeq = extra ? await tx.appendEvent({ at: now, actor, kind: extra.kind, subject: p.id, reason: extra.reason, data: extra.data }) : 0;
      version = (await tx.putPolicy(text, actor, reason, now)).version;
      // With the version, what the proposal knows of it: a crash right after this commit does
      // not make the step (or reversion) happen again at the next start. The activation entry
      // vouches for that document.
      const doc = persist ? persist(version) : null;
      const docSha256 = doc ? storedDocSha256(doc) : null;
      const activation = await tx.appendEvent({ at: now, actor, kind: 'policy.activate', subject: String(version), reason, data: { version, proposal: p.id, step, of, ...(docSha256 ? { docSha256 } : {}) } });
      seq = extra ? extraSeq : activation;
      if (doc && docSha256) {
        await tx.putProposal({ id: doc.id, status: doc.status, doc, updatedAt: now });
        vouchedNow.id = doc.id;
        vouchedNow.docSha256 = docSha256;
      }
    });
    if (vouchedNow.id !== undefined && vouchedNow.docSha256 !== undefined) this.vouched.set(vouchedNow.id, vouchedNow.docSha256);
    await this.o.live.applyPolicy({ policy: parsed.value, version, text });
    this.o.logger.info({ version, proposal: p.id, step }, 'policy version activated');
    await this.rebaseOpen(p.id);
    return { version, entry: seq - 1 };
  }

  /**
   * After a version is put in force, every other open proposal is analysed again against it:
   * ballots and responses name a report made against the policy in force, and a report made
   * against an older one no longer tells what the proposal would change. A proposal whose
   * report comes out the same keeps them.
   */
  private async rebaseOpen(except: string): Promise<void> {
    const inForce = this.o.live.policy;
    for (const p of [...this.proposals.values()]) {
      if (p.id === except || p.emergency || !OPEN.has(p.status) || p.baseVersion === inForce.version) continue;
      let report: ImpactReport;
      try {
        report = (await this.analyze(p.policyText, undefined)).report;
      } catch (error) {
        // The proposal no longer fits the fleet or policy (e.g. it names a removed team): it keeps its report.
        this.o.logger.warn({ err: error, proposal: p.id }, 'could not analyse an open proposal again');
        continue;
      }
      const outcome = act(p, { type: 'rebase', report: { hash: report.hash, class: report.class, affected: [...report.affected] }, baseVersion: inForce.version, baseText: inForce.text, rules: governanceRules(inForce.policy) }, await this.context(p));
      if (!outcome.ok) continue;
      const changed = outcome.proposal.revision !== p.revision;
      await this.save(outcome.proposal, changed ? { actor: 'system', kind: 'proposal.reanalysed', reason: `policy version ${inForce.version} is in force`, data: { reportHash: report.hash, class: report.class, affected: report.affected, baseVersion: inForce.version } } : undefined);
    }
  }

  /** The texts of the activation steps: the ramp for a material change, else one step. */
  private rampTexts(p: Proposal): string[] {
    const to = this.parsed(p.policyText);
    const from = this.o.live.policy.policy;
    if (!to || p.report.class === 'minor' || p.rules.ramp.steps <= 1) return [p.policyText];
    const steps = rampPolicies(from, to, p.rules.ramp.steps, this.o.fleet);
    return steps.map((policy, i) => (i === steps.length - 1 ? p.policyText : policyToYaml(policy, `step ${i + 1} of ${steps.length} of proposal ${p.id}`)));
  }

  /** Teams with running jobs that the policy's first pass would preempt (or reject). */
  private teamsPreemptedBy(text: string): string[] {
    const policy = this.parsed(text);
    if (!policy) return [];
    return this.o.live.preview(policy);
  }

  /** Stores the proposal, with an audit event when given; returns the event's entry index. */
  private async save(p: Proposal, event?: { actor: string; kind: string; reason: string; data: unknown }): Promise<number> {
    const now = this.o.clock();
    let seq = 0;
    const docSha256 = storedDocSha256(p);
    // Every change of the stored document is vouched for by an entry (its own event, or a
    // proposal.record one when the step has none), so the log can tell an edited ballot.
    const vouch = event ?? (this.vouched.get(p.id) === docSha256 ? undefined : { actor: 'system', kind: 'proposal.record', reason: "the proposal's record changed", data: {} });
    await this.o.store.transaction(async (tx) => {
      if (vouch) seq = await tx.appendEvent({ at: now, actor: vouch.actor, kind: vouch.kind, subject: p.id, reason: vouch.reason, data: withDigest(vouch.data, docSha256) });
      await tx.putProposal({ id: p.id, status: p.status, doc: p, updatedAt: now });
    });
    const previous = this.proposals.get(p.id)?.status ?? null;
    this.proposals.set(p.id, p);
    this.vouched.set(p.id, docSha256);
    try {
      this.o.onProposal?.(p, previous);
    } catch (error) {
      this.o.logger.error({ err: error, proposal: p.id }, 'proposal notification failed');
    }
    return seq - 1;
  }

  /** The next moment a deadline falls due; a timer wakes `refresh` then. */
  private schedule(): void {
    let next = Infinity;
    for (const p of this.proposals.values()) {
      if (FINAL.has(p.status) || p.status === 'active') continue;
      const d = p.deadlines;
      for (const t of [OPEN.has(p.status) ? d.votingCloses : null, d.enforceAt, d.ratifyBy, ...p.ramp.filter((s) => s.version === null).map((s) => s.at)]) if (t !== null && t < next) next = t;
    }
    this.nextDeadline = next;
    if (this.timer) clearTimeout(this.timer);
    if (this.closed || next === Infinity) return;
    const delay = Math.min(2 ** 31 - 1, Math.max(0, (next - this.o.clock()) * 1000) + 5);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refreshSoon();
    }, delay);
    this.timer.unref();
  }
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Rows of a CSV text after its header: the non-blank lines but the first. */

/**
 * A proposal as it may be stored while `advance`'s effects are being carried out: the steps
 * enforced so far carry their versions, the ones not yet enforced (marked -1 by `advance`) are
 * still due, and a proposal with a step still due is `ramping`, so a restart finishes the ramp.
 */
function durable(p: Proposal, made: ReadonlyMap<number, number>): Proposal {
  const ramp = p.ramp.map((s) => (made.has(s.step) ? { ...s, version: made.get(s.step)! } : s.version === -1 ? { ...s, version: null } : s));
  const due = ramp.some((s) => s.version === null) && (p.status === 'active' || p.status === 'ramping');
  return { ...p, ramp, status: due ? 'ramping' : p.status };
}


/**
 * The recorded workload: jobs submitted in the window, with the work they needed. Rejected jobs
 * and jobs cancelled before they started never used the fleet and are left out. Work is the
 * job's `duration` when it has one (simulated executor), else the time it ran (local).
 */
export function workloadOf(jobs: readonly StoredJob[], now: number): WorkloadJob[] {
  const out: WorkloadJob[] = [];
  for (const j of jobs) {
    if (j.status === 'rejected' || (j.status === 'cancelled' && j.startedAt === null)) continue;
    const ran = j.attained / j.gpus + (j.runStart !== null ? now - j.runStart : 0);
    out.push({ id: j.id, submittedAt: j.submittedAt, team: j.team, class: j.class, flavor: j.flavor, gpus: j.gpus, duration: j.duration ?? Math.max(1, ran), timeLimit: j.timeLimit });
  }
  return out;
}


/** The digest of a proposal's document as the store keeps it (JSON, so undefined members are dropped). */
function storedDocSha256(p: Proposal): string {
  return proposalDocSha256(JSON.parse(JSON.stringify(p)) as unknown);
}

/** An event's data with the document digest it vouches for (data of governance events is an object). */
function withDigest(data: unknown, docSha256: string): unknown {
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? { ...data, docSha256 } : { value: data, docSha256 };
}
