// Client commands of governance (docs/governance.md): propose, emergency, proposals, proposal
// show|amend|withdraw|overrule|rollback, respond, vote, petition, policy versions. They talk
// to a running server like the other client commands (client.ts: --server/--token, --json);
// the human output shows what a person needs to decide: the impact per team, who must still
// respond, the tally against quorum and approval, what blocks, and the deadlines. Requests that
// the audit log records return a receipt (the entry and its inclusion proof in the latest
// signed checkpoint), which is checked here against the entry the server serves.
import { readFileSync } from 'node:fs';
import Table from 'cli-table3';
import type { Command } from 'commander';
import type { ImpactReport, TeamFigures, TeamImpact } from '../../governance/impact.js';
import { humanDuration } from '../../sim/summary-table.js';
import { CheckFailed, UsageError } from '../errors.js';
import { checkInclusion, inclusionProblems } from './audit.js';
import { call, out, TABLE_STYLE, withConnection } from './client.js';
import type { Connection } from './client.js';

// ------------------------------------------------------------------ what the API returns

/** A proposal as GET /v1/proposals/{id} returns it (Governance.view on the server). */
export interface ProposalView {
  id: string;
  title: string;
  status: string;
  class: string;
  impactClass: string;
  author: string;
  rationale: string;
  alternatives: string | null;
  risks: string | null;
  rollback: string | null;
  revision: number;
  createdAt: string | null;
  baseVersion: number;
  policy: string;
  /** The stored report, or only its hash when the report is missing. */
  impact: Partial<ImpactReport> & { hash: string };
  affected: string[];
  responses: { team: string; actor: string; stance: string; reason: string; metric: string | null; at: string | null; reportHash: string; current: boolean }[];
  awaitingResponses: string[];
  votes: { actor: string; vote: string; reason: string; reportHash: string; at: string | null; current: boolean }[];
  tally: { approve: number; reject: number; abstain: number; cast: number; quorumMet: boolean; approvalMet: boolean; approvedByOthers: boolean; councilSize: number; quorum: number; approval: number };
  objections: { team: string; actor: string; metric: string | null; reason: string; at: string | null; open: boolean; overruled: boolean; current: boolean }[];
  overrules: { actor: string; rationale: string; at: string | null; current: boolean }[];
  comments?: { actor: string; text: string; at: string | null; current: boolean }[];
  commentCount?: number;
  commentsNextCursor?: string | null;
  petition: { signatures: { actor: string; team: string; at: string | null }[]; members: number; threshold: number; needed: number; reopened: boolean };
  blockers: string[];
  timeline: { at: string | null; event: string; actor: string; detail: string }[];
  deadlines: {
    votingCloses: string | null;
    extended: boolean;
    approvedAt: string | null;
    enforceAt: string | null;
    ratifyBy: string | null;
    steps: { step: number; at: string | null; version: number | null }[];
  };
  notified: string[] | null;
  rolledBackTo: number | null;
  review: {
    since: string | null;
    predicted: Record<string, TeamImpact>;
    realized: Record<string, { jobs: number; gpuHours: number; avgWait: number; preemptions: number }>;
  } | null;
}

/** A receipt: the request's audit entry and its inclusion proof in the latest checkpoint. */
interface Receipt {
  entry: number;
  checkpoint: { size: number; root: string; time: string };
  proof: string[];
}

type WithReceipt = ProposalView & { receipt: Receipt | null };

// ------------------------------------------------------------------ formatting

/** "2025-01-31T12:00:00.000Z (in 2d 4h)" or "(5m ago)". */
export function when(iso: string | null | undefined): string {
  if (!iso) return '-';
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  if (!Number.isFinite(seconds)) return iso;
  return `${iso} (${seconds >= 0 ? `in ${humanDuration(seconds)}` : `${humanDuration(-seconds)} ago`})`;
}

const signed = (x: number, format: (v: number) => string): string => (x === 0 ? '0' : `${x > 0 ? '+' : '-'}${format(Math.abs(x))}`);
const hours = (x: number): string => (Math.round(x * 100) / 100).toString();
const wait = (seconds: number): string => humanDuration(seconds);
const integer = (x: number): string => String(Math.round(x));
const percent = (fraction: number): string => `${Math.round(fraction * 1000) / 10}%`;

const ZERO: TeamFigures = { jobs: 0, rejected: 0, gpuHours: 0, avgWait: 0, p95Wait: 0, preemptions: 0, inGuaranteeWait: 0 };

/** Per team: before / after / delta of GPU-hours, average and p95 wait, preemptions; affected teams marked. */
export function impactTable(impact: ProposalView['impact'], affected: readonly string[]): string {
  const teams = impact.teams;
  if (!teams) return `(impact report ${impact.hash} is not stored on the server)`;
  // Two header rows with spanning cells: this table keeps its row lines (without them
  // cli-table3 draws the spans' joints as a broken line).
  const table = new Table({ head: [], style: TABLE_STYLE.style });
  const group = (name: string): Table.Cell => ({ colSpan: 3, content: name, hAlign: 'center' });
  table.push(['team', group('GPU-hours'), group('avg wait'), group('p95 wait'), group('preemptions'), 'affected']);
  table.push(['', ...Array.from({ length: 4 }, () => ['before', 'after', 'delta']).flat(), '']);
  for (const [team, after] of Object.entries(teams)) {
    const before = impact.current?.[team] ?? ZERO;
    table.push([
      team,
      hours(before.gpuHours),
      hours(after.gpuHours),
      signed(after.gpuHoursDelta, hours),
      wait(before.avgWait),
      wait(after.avgWait),
      signed(after.avgWaitDelta, wait),
      wait(before.p95Wait),
      wait(after.p95Wait),
      signed(after.p95WaitDelta, wait),
      integer(before.preemptions),
      integer(after.preemptions),
      signed(after.preemptionsDelta, integer),
      affected.includes(team) ? 'AFFECTED' : '',
    ]);
  }
  return table.toString();
}

function impactSummary(p: ProposalView): string {
  const i = p.impact;
  const parts = [`impact report ${i.hash}`];
  if (i.window) parts.push(`replaying ${i.workload?.jobs ?? '?'} jobs of ${i.window.from} .. ${i.window.to} (${humanDuration(i.window.seconds)})`);
  return parts.join(', ');
}

function deadlineLines(p: ProposalView): string[] {
  const d = p.deadlines;
  const lines = [`  voting closes: ${when(d.votingCloses)}${d.extended ? ' (extended: quorum was reached late)' : ''}`];
  if (d.approvedAt) lines.push(`  approved:      ${when(d.approvedAt)}`);
  if (d.enforceAt) lines.push(`  enforced from: ${when(d.enforceAt)} (after the timelock)`);
  if (d.ratifyBy) lines.push(`  ratify by:     ${when(d.ratifyBy)} (an emergency change reverts unless ratified)`);
  if (d.steps.length > 0) {
    const table = new Table({ head: ['ramp step', 'at', 'policy version'], ...TABLE_STYLE });
    for (const s of d.steps) table.push([`${s.step} of ${d.steps.length}`, when(s.at), s.version === null ? 'pending' : s.version === 0 ? 'reverted' : s.version]);
    lines.push(table.toString());
  }
  return lines;
}

function mustRespond(p: ProposalView): string {
  if (p.affected.length === 0) return 'no team is affected: no response is needed';
  if (p.awaitingResponses.length === 0) return `every affected team responded (${p.affected.join(', ')})`;
  return `the leads of ${p.awaitingResponses.join(', ')} must still respond (consent, object or abstain) with \`arbiter respond ${p.id}\``;
}

function tallyLine(p: ProposalView): string {
  const t = p.tally;
  const needed = Math.ceil(t.quorum * t.councilSize - 1e-9);
  const quorum = `${t.cast} of ${t.councilSize} council members voted, quorum ${percent(t.quorum)} = ${needed}: ${t.quorumMet ? 'met' : 'not met'}`;
  const approval = `${t.approve} approve / ${t.reject} reject / ${t.abstain} abstain; approvals must be more than ${percent(t.approval)} of votes cast: ${t.approvalMet ? 'met' : 'not met'}${t.approvalMet && !t.approvedByOthers ? ' (but only the author approved)' : ''}`;
  return `  ${quorum}\n  ${approval}`;
}

/** Everything about a proposal, for `proposal show`. */
export function proposalDetails(p: ProposalView): string {
  const sections: string[] = [];
  const head = [
    `${p.id}: ${p.title}`,
    `  status: ${p.status}   class: ${p.class}${p.class !== p.impactClass ? ` (impact: ${p.impactClass})` : ''}   author: ${p.author}   revision: ${p.revision}   created: ${when(p.createdAt)}`,
    `  based on policy version ${p.baseVersion}${p.rolledBackTo !== null ? `; rolled back to version ${p.rolledBackTo}` : ''}`,
    `  rationale: ${p.rationale}`,
    ...(p.alternatives ? [`  alternatives: ${p.alternatives}`] : []),
    ...(p.risks ? [`  risks: ${p.risks}`] : []),
    ...(p.rollback ? [`  rollback plan: ${p.rollback}`] : []),
    `  ${impactSummary(p)}`,
  ];
  sections.push(head.join('\n'));
  sections.push(`Impact per team (before = the policy in force, after = this proposal; affected: ${p.affected.join(', ') || 'none'})\n${impactTable(p.impact, p.affected)}`);
  sections.push(`Consultation\n  ${mustRespond(p)}`);
  if (p.responses.length > 0) {
    const table = new Table({ head: ['team', 'stance', 'by', 'metric', 'reason', 'at'], ...TABLE_STYLE });
    for (const r of p.responses) table.push([r.team, `${r.stance}${r.current ? '' : ' (stale)'}`, r.actor, r.metric ?? '', r.reason, when(r.at)]);
    sections.push(`Responses\n${table.toString()}`);
  }
  if (p.objections.length > 0) {
    const table = new Table({ head: ['team', 'metric', 'by', 'reason', 'state'], ...TABLE_STYLE });
    for (const o of p.objections) table.push([o.team, o.metric ?? '', o.actor, o.reason, o.overruled ? 'overruled' : o.open ? 'OPEN' : 'superseded']);
    sections.push(`Objections\n${table.toString()}`);
  }
  if (p.comments && p.comments.length > 0) sections.push(`Comments\n${p.comments.map((c) => `  ${c.actor}${c.current ? '' : ' (on an earlier revision)'}, ${when(c.at)}: ${c.text}`).join('\n')}`);
  if (p.overrules.length > 0) sections.push(`Votes to overrule\n${p.overrules.map((o) => `  ${o.actor}${o.current ? '' : ' (stale)'}, ${when(o.at)}: ${o.rationale}`).join('\n')}`);
  const votes = new Table({ head: ['council member', 'vote', 'reason', 'report', 'at'], ...TABLE_STYLE });
  for (const v of p.votes) votes.push([v.actor, `${v.vote}${v.current ? '' : ' (stale)'}`, v.reason, v.reportHash.slice(0, 12), when(v.at)]);
  sections.push(`Votes\n${p.votes.length > 0 ? `${votes.toString()}\n` : '  none yet\n'}${tallyLine(p)}`);
  const pet = p.petition;
  sections.push(
    `Petition\n  signatures: ${pet.signatures.length}, ${pet.needed} needed to reopen consultation (${percent(pet.threshold)} of ${pet.members} members of affected teams)${pet.reopened ? '; it reopened consultation' : ''}${pet.signatures.length > 0 ? `: ${pet.signatures.map((s) => `${s.actor} (${s.team})`).join(', ')}` : ''}`,
  );
  if (p.blockers.length > 0) sections.push(`Blocking approval\n${p.blockers.map((b) => `  - ${b}`).join('\n')}`);
  sections.push(`Deadlines\n${deadlineLines(p).join('\n')}`);
  if (p.notified && p.notified.length > 0) sections.push(`Notified before the first step: ${p.notified.join(', ')}`);
  const timeline = new Table({ head: ['at', 'event', 'by', 'detail'], ...TABLE_STYLE });
  for (const e of p.timeline) timeline.push([when(e.at), e.event, e.actor, e.detail]);
  sections.push(`Timeline\n${timeline.toString()}`);
  if (p.review) {
    const table = new Table({ head: ['team', 'GPU-hours predicted', 'realized', 'avg wait predicted', 'realized', 'preemptions predicted', 'realized', 'jobs'], ...TABLE_STYLE });
    for (const [team, r] of Object.entries(p.review.realized)) {
      const predicted = p.review.predicted[team];
      table.push([team, predicted ? hours(predicted.gpuHours) : '-', hours(r.gpuHours), predicted ? wait(predicted.avgWait) : '-', wait(r.avgWait), predicted ? integer(predicted.preemptions) : '-', integer(r.preemptions), r.jobs]);
    }
    sections.push(`Review since ${when(p.review.since)} (predicted: the impact window's replay; realized: jobs submitted since the first step)\n${table.toString()}`);
  }
  return sections.join('\n\n');
}

/** What propose/emergency/amend print: id, status, class, the impact, who must respond, the deadlines. */
function proposalSummary(p: ProposalView, verb: string): string {
  return [
    `${verb} ${p.id}: ${p.title}`,
    `  status: ${p.status}   class: ${p.class}   ${impactSummary(p)}`,
    '',
    impactTable(p.impact, p.affected),
    '',
    mustRespond(p),
    'Deadlines',
    ...deadlineLines(p),
    ...(p.blockers.length > 0 ? ['Blocking approval', ...p.blockers.map((b) => `  - ${b}`)] : []),
    '',
    `details: arbiter proposal show ${p.id}`,
  ].join('\n');
}

// ------------------------------------------------------------------ requests

function readFile(file: string, option: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : '';
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot read it (${code || String(error)})`;
    throw new UsageError([`${file}: ${why} (given as ${option})`]);
  }
}

const path = (id: string, tail = ''): string => `/v1/proposals/${encodeURIComponent(id)}${tail}`;

/** Prints the request's outcome and its receipt, checked here against the served entry and checkpoint. */
async function printOutcome(conn: Connection, result: WithReceipt, done: string): Promise<void> {
  if (conn.json) return out(JSON.stringify(result, null, 2));
  const lines = [`${done}: ${result.id} is ${result.status}`];
  if (result.blockers.length > 0) lines.push(...result.blockers.map((b) => `  - ${b}`));
  const r = result.receipt;
  if (r === null) {
    lines.push('receipt: none (no checkpoint covers the entry yet)');
    return out(lines.join('\n'));
  }
  lines.push(`receipt: audit entry ${r.entry}, in the checkpoint of size ${r.checkpoint.size} signed at ${r.checkpoint.time}`, `  root ${r.checkpoint.root}`, `  inclusion proof: ${r.proof.length} hashes`);
  const check = await checkInclusion(conn, r.entry, { size: r.checkpoint.size, root: r.checkpoint.root, proof: r.proof });
  const problems = inclusionProblems(check);
  if (problems.length > 0) {
    out(lines.join('\n'));
    throw new CheckFailed(['FAILED: the receipt does not check out:', ...problems.map((p) => `  ${p}`)]);
  }
  lines.push(`  checked here: the checkpoint is signed by the log's key and its root includes entry ${r.entry} (see \`arbiter audit proof ${r.entry}\`)`);
  out(lines.join('\n'));
}

function choice(value: string, option: string, allowed: readonly string[]): string {
  if (!allowed.includes(value)) throw new UsageError([`${option}: expected ${allowed.join(', ')}, got "${value}"`]);
  return value;
}

interface ProposeFlags extends Connection {
  policy: string;
  title: string;
  rationale: string;
  alternatives?: string;
  risks?: string;
  rollback?: string;
  trace?: string;
}

export function registerGovernance(program: Command): void {
  withConnection(program.command('propose').description('propose a new policy: its impact on every team is simulated, affected teams are consulted, the council votes'))
    .requiredOption('--policy <file>', 'the whole new policy (policy.yaml)')
    .requiredOption('--title <text>', 'one line')
    .requiredOption('--rationale <text>', 'why (required)')
    .option('--alternatives <text>', 'alternatives considered (default: none)')
    .option('--risks <text>', 'risks (default: none)')
    .option('--rollback <text>', 'the rollback plan (default: none)')
    .option('--trace <file.csv>', 'canonical trace CSV replayed for the impact analysis, for an installation with no history (default: the recorded workload)')
    .action(async (flags: ProposeFlags) => {
      const body = {
        title: flags.title,
        rationale: flags.rationale,
        policy: readFile(flags.policy, '--policy'),
        ...(flags.alternatives !== undefined ? { alternatives: flags.alternatives } : {}),
        ...(flags.risks !== undefined ? { risks: flags.risks } : {}),
        ...(flags.rollback !== undefined ? { rollback: flags.rollback } : {}),
        ...(flags.trace !== undefined ? { trace: readFile(flags.trace, '--trace') } : {}),
      };
      const p = (await call(flags, 'POST', '/v1/proposals', body)) as ProposalView;
      out(flags.json ? JSON.stringify(p, null, 2) : proposalSummary(p, 'proposed'));
    });

  withConnection(program.command('emergency').description('admin: put a policy in force at once; it reverts unless the council ratifies it in time'))
    .requiredOption('--policy <file>', 'the whole new policy (policy.yaml)')
    .requiredOption('--title <text>', 'one line')
    .requiredOption('--rationale <text>', 'why (required)')
    .action(async (flags: Connection & { policy: string; title: string; rationale: string }) => {
      const body = { title: flags.title, rationale: flags.rationale, policy: readFile(flags.policy, '--policy') };
      const p = (await call(flags, 'POST', '/v1/emergency', body)) as ProposalView;
      out(flags.json ? JSON.stringify(p, null, 2) : proposalSummary(p, 'emergency change in force:'));
    });

  withConnection(program.command('proposals').description('list policy proposals, newest first'))
    .option('--status <status>', 'only proposals with this status, e.g. consultation, voting, active (default: all)')
    .action(async (flags: Connection & { status?: string }) => {
      // Every page, newest first (the server gives at most 200 a page).
      const all: ProposalView[] = [];
      for (let cursor: string | null = null, first = true; first || cursor !== null; first = false) {
        const body = (await call(flags, 'GET', `/v1/proposals?limit=200${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)) as { proposals: ProposalView[]; nextCursor: string | null };
        all.push(...body.proposals);
        cursor = body.nextCursor;
      }
      const proposals = flags.status === undefined ? all : all.filter((p) => p.status === flags.status);
      if (flags.json) return out(JSON.stringify({ proposals }, null, 2));
      const table = new Table({ head: ['id', 'title', 'status', 'class', 'author', 'affected', 'voting closes'], ...TABLE_STYLE });
      for (const p of proposals) table.push([p.id, p.title, p.status, p.class, p.author, p.affected.join(', ') || '-', when(p.deadlines.votingCloses)]);
      out(proposals.length > 0 ? table.toString() : `no proposals${flags.status !== undefined ? ` with status ${flags.status}` : ''}`);
    });

  const proposal = program.command('proposal').description('one policy proposal: show, amend, withdraw, overrule, rollback');

  withConnection(proposal.command('show').description('a proposal: impact per team, responses, objections, votes, petition, blockers, timeline, deadlines, review').argument('<id>', 'proposal id'))
    .action(async (id: string, flags: Connection) => {
      const p = (await call(flags, 'GET', path(id))) as ProposalView;
      // The proposal embeds its first page of comments; the rest are read page by page.
      const comments = [...(p.comments ?? [])];
      for (let cursor = p.commentsNextCursor ?? null; cursor !== null; ) {
        const page = (await call(flags, 'GET', path(id, `/comments?limit=500&cursor=${encodeURIComponent(cursor)}`))) as { comments: NonNullable<ProposalView['comments']>; nextCursor: string | null };
        comments.push(...page.comments);
        cursor = page.nextCursor;
      }
      const whole = { ...p, comments, commentsNextCursor: null };
      out(flags.json ? JSON.stringify(whole, null, 2) : proposalDetails(whole));
    });

  withConnection(proposal.command('amend').description('author: replace the proposed policy; a new impact report is made and earlier responses and ballots become stale').argument('<id>', 'proposal id'))
    .requiredOption('--policy <file>', 'the whole amended policy (policy.yaml)')
    .requiredOption('--rationale <text>', 'why it changed (required)')
    .option('--trace <file.csv>', 'canonical trace CSV for the impact analysis (default: the recorded workload)')
    .action(async (id: string, flags: Connection & { policy: string; rationale: string; trace?: string }) => {
      const body = { policy: readFile(flags.policy, '--policy'), rationale: flags.rationale, ...(flags.trace !== undefined ? { trace: readFile(flags.trace, '--trace') } : {}) };
      const p = (await call(flags, 'POST', path(id, '/amend'), body)) as ProposalView;
      out(flags.json ? JSON.stringify(p, null, 2) : proposalSummary(p, 'amended'));
    });

  withConnection(proposal.command('withdraw').description('author: withdraw an open proposal').argument('<id>', 'proposal id'))
    .action(async (id: string, flags: Connection) => {
      await printOutcome(flags, (await call(flags, 'POST', path(id, '/withdraw'))) as WithReceipt, 'withdrawn');
    });

  withConnection(proposal.command('overrule').description("council: vote to overrule the proposal's open objections").argument('<id>', 'proposal id'))
    .requiredOption('--rationale <text>', 'why the objections are overruled (required, written)')
    .action(async (id: string, flags: Connection & { rationale: string }) => {
      await printOutcome(flags, (await call(flags, 'POST', path(id, '/overrule'), { rationale: flags.rationale })) as WithReceipt, 'overrule vote recorded');
    });

  withConnection(proposal.command('rollback').description('council: return to the policy in force before this proposal').argument('<id>', 'proposal id'))
    .option('--rationale <text>', 'why (default: "rolled back by the council")')
    .action(async (id: string, flags: Connection & { rationale?: string }) => {
      const body = flags.rationale !== undefined ? { rationale: flags.rationale } : {};
      const result = (await call(flags, 'POST', path(id, '/rollback'), body)) as WithReceipt;
      await printOutcome(flags, result, `rolled back${result.rolledBackTo !== null ? ` (policy version ${result.rolledBackTo} is in force)` : ''}`);
    });

  withConnection(program.command('respond').description("lead of an affected team: consent, object or abstain, with a reason").argument('<id>', 'proposal id'))
    .requiredOption('--stance <stance>', 'consent, object or abstain')
    .requiredOption('--reason <text>', 'why (required)')
    .option('--metric <metric>', 'the metric an objection disputes, e.g. gpuHours, avgWait, p95Wait, preemptions (required with --stance object)')
    .option('--team <team>', 'the affected team you respond for (default: your team, or the affected team above it)')
    .action(async (id: string, flags: Connection & { stance: string; reason: string; metric?: string; team?: string }) => {
      const body = {
        stance: choice(flags.stance, '--stance', ['consent', 'object', 'abstain']),
        reason: flags.reason,
        ...(flags.metric !== undefined ? { metric: flags.metric } : {}),
        ...(flags.team !== undefined ? { team: flags.team } : {}),
      };
      if (body.stance === 'object' && flags.metric === undefined) throw new UsageError(['--metric: an objection names the metric it disputes (gpuHours, avgWait, p95Wait, preemptions, ...)']);
      await printOutcome(flags, (await call(flags, 'POST', path(id, '/responses'), body)) as WithReceipt, `response (${body.stance}) recorded`);
    });

  withConnection(program.command('vote').description('council: approve, reject or abstain, on the current impact report').argument('<id>', 'proposal id'))
    .requiredOption('--vote <vote>', 'approve, reject or abstain')
    .requiredOption('--reason <text>', 'why (required)')
    .option('--report <hash>', 'the impact report the ballot is cast on (default: the current report, fetched now)')
    .action(async (id: string, flags: Connection & { vote: string; reason: string; report?: string }) => {
      const vote = choice(flags.vote, '--vote', ['approve', 'reject', 'abstain']);
      let reportHash = flags.report;
      if (reportHash === undefined) {
        const p = (await call(flags, 'GET', path(id))) as ProposalView;
        reportHash = p.impact.hash;
        if (!flags.json) out(`ballot on impact report ${reportHash} (the current report of ${p.id}, revision ${p.revision})`);
      } else if (!flags.json) out(`ballot on impact report ${reportHash} (given with --report)`);
      const result = (await call(flags, 'POST', path(id, '/votes'), { vote, reason: flags.reason, reportHash })) as WithReceipt;
      const t = result.tally;
      await printOutcome(flags, result, `vote (${vote}) recorded; ${t.cast} of ${t.councilSize} council members voted (${t.approve} approve, ${t.reject} reject, ${t.abstain} abstain)`);
    });

  withConnection(program.command('petition').description('member of an affected team: sign the petition to reopen consultation').argument('<id>', 'proposal id'))
    .action(async (id: string, flags: Connection) => {
      const result = (await call(flags, 'POST', path(id, '/petition'))) as WithReceipt;
      const pet = result.petition;
      await printOutcome(flags, result, `signed (signatures: ${pet.signatures.length}, ${pet.needed} needed${pet.reopened ? '; consultation reopened' : ''})`);
    });

  withConnection(
    program
      .command('comment')
      .description('anyone: comment on a proposal (kept in its timeline and the audit log)')
      .argument('<id>', 'proposal id')
      .requiredOption('--text <text>', 'the comment'),
  ).action(async (id: string, flags: Connection & { text: string }) => {
    const result = (await call(flags, 'POST', path(id, '/comments'), { text: flags.text })) as WithReceipt;
    await printOutcome(flags, result, 'comment recorded');
  });

  const policy = program.command('policy').description('policy versions (a policy changes only through `arbiter propose`)');
  withConnection(policy.command('versions').description('every policy version, with the proposal (and ramp step) that made it'))
    .action(async (flags: Connection) => {
      const body = (await call(flags, 'GET', '/v1/policy/versions')) as {
        versions: { version: number; createdAt: string | null; actor: string; reason: string; sha256: string; inForce: boolean; proposal: string | null; step: number | null; rollback: boolean }[];
      };
      if (flags.json) return out(JSON.stringify(body, null, 2));
      const table = new Table({ head: ['version', 'in force', 'created', 'by', 'proposal', 'reason', 'sha256'], ...TABLE_STYLE });
      for (const v of body.versions) {
        const made = v.proposal === null ? '-' : v.rollback ? `${v.proposal} (rollback)` : v.step !== null ? `${v.proposal} step ${v.step}` : v.proposal;
        table.push([v.version, v.inForce ? 'yes' : '', when(v.createdAt), v.actor, made, v.reason, v.sha256.slice(0, 12)]);
      }
      out(table.toString());
    });
}
