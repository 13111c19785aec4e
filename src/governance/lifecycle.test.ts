import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_GOVERNANCE } from '../core/config/governance.js';
import type { GovernanceRules } from '../core/model.js';
import { act, advance, blockers, createProposal, missingResponses, openObjections, tally } from './lifecycle.js';
import type { Action, Effect, ProcessContext, Proposal, ReportSummary } from './lifecycle.js';

const RULES: GovernanceRules = {
  ...DEFAULT_GOVERNANCE,
  commentPeriod: { minor: 10, material: 20 },
  lateQuorumExtension: 5,
  timelock: 30,
  ramp: { steps: 3, over: 60 },
  emergencyRatification: 50,
};
const HASH = (n: number): string => n.toString(16).padStart(64, '0');
const REPORT: ReportSummary = { hash: HASH(1), class: 'material', affected: ['a'] };

const propose = (report = REPORT, emergency = false): Proposal =>
  createProposal(
    { id: 'p-1', title: 'cut a', rationale: 'b needs it', alternatives: null, risks: null, rollbackPlan: null, author: 'author', policyText: 'NEW', baseVersion: 1, baseText: 'OLD', report, rules: RULES, emergency },
    0,
  );
const ctx = (now: number, councilSize = 3, affectedMembers = 4): ProcessContext => ({ now, councilSize, affectedMembers });
/** As the server plans it: a material change ramps in 3 steps, a minor one is one step. */
const ramp = (p: Proposal): string[] => (p.report.class === 'material' ? ['STEP1', 'STEP2', p.policyText] : [p.policyText]);

function must(p: Proposal, action: Action, c: ProcessContext): Proposal {
  const outcome = act(p, action, c);
  if (!outcome.ok) throw new Error(outcome.refusal.message);
  return outcome.proposal;
}

describe('a material proposal, step by step', () => {
  it('waits for the lead, the quorum and the period, then the timelock, then ramps in equal steps', () => {
    let p = propose();
    expect(p.status).toBe('consultation');
    expect(p.deadlines.votingCloses).toBe(20);
    p = must(p, { type: 'vote', actor: 'c1', vote: 'approve', reason: 'fine', reportHash: HASH(1) }, ctx(1));
    p = must(p, { type: 'vote', actor: 'c2', vote: 'approve', reason: 'fine', reportHash: HASH(1) }, ctx(2));
    // Quorum is met, but the affected lead has not responded and the period runs.
    expect(blockers(p, ctx(25))).toEqual(['waiting for the response of the lead of: a']);
    expect(advance(p, ctx(25), ramp).proposal.status).toBe('consultation');
    p = must(p, { type: 'respond', actor: 'lead-a', team: 'a', stance: 'consent', reason: 'we can live with it', metric: null }, ctx(26));
    expect(p.status).toBe('voting');
    const approved = advance(p, ctx(27), ramp);
    expect(approved.proposal.status).toBe('scheduled');
    expect(approved.effects).toEqual([{ type: 'notify-before-first-step' }]);
    expect(approved.proposal.deadlines.enforceAt).toBe(57);
    expect(approved.proposal.ramp.map((s) => s.at)).toEqual([57, 87, 117]);
    expect(advance(approved.proposal, ctx(56), ramp).effects).toEqual([]);
    const first = advance(approved.proposal, ctx(57), ramp);
    expect(first.proposal.status).toBe('ramping');
    expect(first.effects).toEqual([{ type: 'enforce', step: 1, text: 'STEP1' }]);
    const all = advance(first.proposal, ctx(200), ramp);
    expect(all.effects).toEqual([
      { type: 'enforce', step: 2, text: 'STEP2' },
      { type: 'enforce', step: 3, text: 'NEW' },
    ]);
    expect(all.proposal.status).toBe('active');
  });

  it('refuses a ballot on a superseded report (409) and makes earlier ballots and responses stale', () => {
    let p = propose();
    p = must(p, { type: 'vote', actor: 'c1', vote: 'approve', reason: 'ok', reportHash: HASH(1) }, ctx(1));
    p = must(p, { type: 'respond', actor: 'lead-a', team: 'a', stance: 'consent', reason: 'ok', metric: null }, ctx(1));
    p = must(p, { type: 'amend', actor: 'author', rationale: 'smaller cut', policyText: 'NEW2', report: { ...REPORT, hash: HASH(2) }, baseVersion: 1, baseText: 'OLD', rules: RULES }, ctx(5));
    expect(tally(p, 3).cast).toBe(0);
    expect(missingResponses(p)).toEqual(['a']);
    expect(p.deadlines.votingCloses).toBe(25);
    const stale = act(p, { type: 'vote', actor: 'c2', vote: 'approve', reason: 'ok', reportHash: HASH(1) }, ctx(6));
    expect(stale.ok ? null : stale.refusal.status).toBe(409);
  });

  it('an objection blocks until the council overrules it', () => {
    let p = propose();
    p = must(p, { type: 'respond', actor: 'lead-a', team: 'a', stance: 'object', reason: 'our p95 wait doubles', metric: 'p95Wait' }, ctx(1));
    for (const c of ['c1', 'c2', 'c3']) p = must(p, { type: 'vote', actor: c, vote: 'approve', reason: 'ok', reportHash: HASH(1) }, ctx(2));
    expect(advance(p, ctx(30), ramp).proposal.status).toBe('consultation');
    p = must(p, { type: 'overrule', actor: 'c1', rationale: 'the lab needs it' }, ctx(31));
    expect(openObjections(p)).toHaveLength(1); // 1 of 3 < 0.66
    p = must(p, { type: 'overrule', actor: 'c2', rationale: 'agreed' }, ctx(32));
    expect(openObjections(p)).toHaveLength(0);
    expect(advance(p, ctx(33), ramp).proposal.status).toBe('scheduled');
  });

  it('is analysed again when another change puts a new policy in force: a new report makes ballots stale', () => {
    let p = propose();
    p = must(p, { type: 'vote', actor: 'c1', vote: 'approve', reason: 'ok', reportHash: HASH(1) }, ctx(1));
    const same = must(p, { type: 'rebase', report: REPORT, baseVersion: 2, baseText: 'OLD2', rules: RULES }, ctx(2));
    expect([same.revision, same.baseVersion, tally(same, 3).cast]).toEqual([0, 2, 1]);
    const changed = must(p, { type: 'rebase', report: { ...REPORT, hash: HASH(7) }, baseVersion: 2, baseText: 'OLD2', rules: RULES }, ctx(2));
    expect([changed.revision, changed.baseText, tally(changed, 3).cast, changed.deadlines.votingCloses]).toEqual([1, 'OLD2', 0, 22]);
    expect(changed.timeline.map((e) => e.event)).toContain('reanalysed');
  });

  it('an objection names its metric', () => {
    const outcome = act(propose(), { type: 'respond', actor: 'lead-a', team: 'a', stance: 'object', reason: 'no', metric: null }, ctx(1));
    expect(outcome.ok ? null : outcome.refusal.status).toBe(400);
  });

  it('is rejected when quorum is met but approvals are not more than half', () => {
    let p = propose({ ...REPORT, class: 'minor', affected: [] });
    p = must(p, { type: 'vote', actor: 'c1', vote: 'approve', reason: 'ok', reportHash: HASH(1) }, ctx(1));
    p = must(p, { type: 'vote', actor: 'c2', vote: 'reject', reason: 'no', reportHash: HASH(1) }, ctx(1));
    expect(advance(p, ctx(11), ramp).proposal.status).toBe('rejected');
  });

  it('nobody approves their own proposal alone', () => {
    let p = propose({ ...REPORT, class: 'minor', affected: [] });
    p = { ...p, author: 'c1' };
    p = must(p, { type: 'vote', actor: 'c1', vote: 'approve', reason: 'mine', reportHash: HASH(1) }, ctx(1, 1));
    const after = advance(p, ctx(11, 1), ramp).proposal;
    expect(after.status).toBe('rejected');
    expect(after.timeline.at(-1)?.detail).toBe('only the author approved');
  });

  it('quorum first reached in the last part of the period extends it once', () => {
    let p = propose({ ...REPORT, class: 'minor', affected: [] });
    p = must(p, { type: 'vote', actor: 'c1', vote: 'approve', reason: 'ok', reportHash: HASH(1) }, ctx(7));
    p = must(p, { type: 'vote', actor: 'c2', vote: 'approve', reason: 'ok', reportHash: HASH(1) }, ctx(8));
    expect(p.deadlines.votingCloses).toBe(15);
    expect(advance(p, ctx(12), ramp).proposal.status).toBe('consultation');
    const done = advance(p, ctx(15), ramp);
    expect(done.proposal.status).toBe('active'); // minor: at once, one step
    expect(done.effects.map((e) => e.type)).toEqual(['notify-before-first-step', 'enforce']);
  });

  it('a petition of enough affected members reopens consultation, once per amendment', () => {
    let p = propose();
    p = must(p, { type: 'respond', actor: 'lead-a', team: 'a', stance: 'consent', reason: 'ok', metric: null }, ctx(1));
    for (const c of ['c1', 'c2']) p = must(p, { type: 'vote', actor: c, vote: 'approve', reason: 'ok', reportHash: HASH(1) }, ctx(2));
    p = advance(p, ctx(21), ramp).proposal;
    expect(p.status).toBe('scheduled');
    p = must(p, { type: 'sign', actor: 'm1', team: 'a' }, ctx(22)); // 1 of 4 = 0.25: reached
    expect(p.status).toBe('consultation');
    expect(p.deadlines.votingCloses).toBe(42);
    expect(p.ramp).toEqual([]);
    p = must(p, { type: 'sign', actor: 'm2', team: 'a' }, ctx(23));
    expect(p.timeline.filter((e) => e.event === 'consultation')).toHaveLength(2); // not again
    expect(act(p, { type: 'sign', actor: 'm2', team: 'a' }, ctx(24)).ok).toBe(false);
  });

  it('an emergency reverts when not ratified in time, and stays when ratified', () => {
    const e = propose({ ...REPORT, class: 'minor', affected: [] }, true);
    expect(e.deadlines.ratifyBy).toBe(50);
    const reverted = advance(e, ctx(50), ramp);
    expect(reverted.proposal.status).toBe('rolled_back');
    expect(reverted.effects).toHaveLength(1);
    expect(reverted.effects[0]).toMatchObject({ type: 'revert', text: 'OLD' });
    expect(reverted.effects[0]?.type === 'revert' && reverted.effects[0].why).toMatch(/not ratified/);
    let r = e;
    for (const c of ['c1', 'c2']) r = must(r, { type: 'vote', actor: c, vote: 'approve', reason: 'ok', reportHash: HASH(1) }, ctx(3));
    const ratified = advance(r, ctx(11), ramp);
    expect(ratified.proposal.status).toBe('active');
    expect(ratified.effects.filter((x) => x.type === 'enforce' || x.type === 'revert')).toEqual([]);
    expect(advance(ratified.proposal, ctx(100), ramp).effects).toEqual([]);
  });
});

// ---------------------------------------------------------------- property

type Step = { kind: 'time'; dt: number } | { kind: 'act'; action: (p: Proposal) => Action };

const COUNCIL = ['c1', 'c2', 'c3', 'author'];
const TEAMS = ['a', 'b'];

// Weighted so that many paths reach approval: votes and time are common, amendments rare.
const voteArb = fc
  .record({ actor: fc.constantFrom(...COUNCIL), vote: fc.constantFrom('approve' as const, 'approve' as const, 'reject' as const, 'abstain' as const), stale: fc.integer({ min: 0, max: 6 }) })
  .map(({ actor, vote, stale }): Step => ({ kind: 'act', action: (p) => ({ type: 'vote', actor, vote, reason: 'r', reportHash: stale === 0 ? HASH(99) : p.report.hash }) }));
const respondArb = fc
  .record({ team: fc.constantFrom(...TEAMS), stance: fc.constantFrom('consent' as const, 'object' as const, 'abstain' as const) })
  .map(({ team, stance }): Step => ({ kind: 'act', action: () => ({ type: 'respond', actor: `lead-${team}`, team, stance, reason: 'r', metric: stance === 'object' ? 'p95Wait' : null }) }));
const amendArb = fc.record({ hash: fc.integer({ min: 2, max: 5 }), material: fc.boolean() }).map(
  ({ hash, material }): Step => ({
    kind: 'act',
    action: () => ({ type: 'amend', actor: 'author', rationale: 'r', policyText: `NEW${hash}`, report: { hash: HASH(hash), class: material ? 'material' : 'minor', affected: material ? ['a'] : [] }, baseVersion: 1, baseText: 'OLD', rules: RULES }),
  }),
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('time' as const), dt: fc.integer({ min: 0, max: 25 }) }) },
  { weight: 6, arbitrary: voteArb },
  { weight: 3, arbitrary: respondArb },
  { weight: 1, arbitrary: fc.constantFrom(...COUNCIL).map((actor): Step => ({ kind: 'act', action: () => ({ type: 'overrule', actor, rationale: 'r' }) })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 6 }).map((m): Step => ({ kind: 'act', action: () => ({ type: 'sign', actor: `m${m}`, team: 'a' }) })) },
  { weight: 1, arbitrary: amendArb },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'act', action: () => ({ type: 'withdraw', actor: 'author' }) }) },
);

describe('the lifecycle, whatever happens (property)', () => {
  it('no path reaches approval without the responses, quorum, majority and period; nothing is enforced before the timelock', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(stepArb, { maxLength: 40 }), (material, steps) => {
        let p = propose(material ? REPORT : { ...REPORT, class: 'minor', affected: [] });
        let now = 0;
        const enforcedAt: { effect: Effect; at: number }[] = [];
        const check = (before: Proposal, after: Proposal, at: number): void => {
          if (after.deadlines.approvedAt === at && before.deadlines.approvedAt !== at) {
            // The moment of approval: every condition held on the proposal as it was decided.
            const c = ctx(at, COUNCIL.length, 4);
            expect(missingResponses(before)).toEqual([]);
            expect(openObjections(before)).toEqual([]);
            const t = tally(before, COUNCIL.length);
            expect(t.quorumMet && t.approvalMet && t.approvedByOthers).toBe(true);
            expect(at).toBeGreaterThanOrEqual(before.deadlines.votingCloses!);
            expect(blockers(before, c)).toEqual([]);
          }
        };
        for (const step of steps) {
          if (step.kind === 'time') now += step.dt;
          else {
            const outcome = act(p, step.action(p), ctx(now, COUNCIL.length, 4));
            if (outcome.ok) p = outcome.proposal;
          }
          const { proposal, effects } = advance(p, ctx(now, COUNCIL.length, 4), ramp);
          check(p, proposal, now);
          for (const effect of effects) if (effect.type === 'enforce') enforcedAt.push({ effect, at: now });
          p = proposal;
          if (['approved', 'scheduled', 'ramping', 'active'].includes(p.status)) expect(p.deadlines.approvedAt).not.toBeNull();
        }
        for (const { at } of enforcedAt) {
          const approvedAt = p.deadlines.approvedAt!;
          expect(at).toBeGreaterThanOrEqual(approvedAt + (p.report.class === 'material' ? RULES.timelock : 0));
        }
        if (p.status === 'active') expect(enforcedAt).toHaveLength(p.ramp.length);
      }),
      { numRuns: 400 },
    );
  });
});
