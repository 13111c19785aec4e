// Governance: proposals with their impact (per-team deltas as bars), who must respond,
// objections, votes and the timeline, with the actions the role allows; the policy versions;
// and the audit log, each entry's inclusion proof checked here against the signed checkpoint.
import { useState } from 'preact/hooks';
import { api, ApiFailure } from '../api';
import { checkpointSigned, leafHash, rootFromProof } from '../audit';
import type { Checkpoint } from '../audit';
import { int, lineDiff, span, when } from '../format';
import { parents, refusal, useApi, useShared } from '../state';
import type { Team } from '../types';

interface Figures {
  jobs: number;
  gpuHours: number;
  gpuHoursDelta: number;
  avgWait: number;
  avgWaitDelta: number;
  p95Wait: number;
  p95WaitDelta: number;
  preemptions: number;
  preemptionsDelta: number;
}

interface Proposal {
  id: string;
  title: string;
  status: string;
  class: string;
  author: string;
  affected: string[];
  awaitingResponses: string[];
  impact: {
    hash: string;
    class: string;
    teams: Record<string, Figures>;
    window: { from: string; to: string };
  };
  responses: {
    team: string;
    actor: string;
    stance: string;
    reason: string;
    metric: string | null;
    current: boolean;
  }[];
  votes: { actor: string; vote: string; reason: string; current: boolean }[];
  tally: {
    approve: number;
    reject: number;
    abstain: number;
    quorumMet: boolean;
    approvalMet: boolean;
    councilSize: number;
  };
  objections: { team: string; metric: string | null; open: boolean }[];
  petition: { signatures: { actor: string }[]; needed: number };
  blockers: string[];
  timeline: { at: string; event: string; actor: string; detail: string }[];
  comments?: { n: number; actor: string; text: string; at: string }[];
  commentCount: number;
}

const OPEN = new Set(['draft', 'consultation', 'voting']);

/** One horizontal bar per team, from a zero line: right is more, left is less. */
function DeltaChart({
  title,
  teams,
  pick,
  unit,
}: {
  title: string;
  teams: [string, Figures][];
  pick: (f: Figures) => number;
  unit: (v: number) => string;
}) {
  const max = Math.max(1e-9, ...teams.map(([, f]) => Math.abs(pick(f))));
  return (
    <figure class="deltas">
      <figcaption>{title}</figcaption>
      <table>
        <tbody>
          {teams.map(([team, f]) => {
            const v = pick(f);
            const w = (50 * Math.abs(v)) / max;
            return (
              <tr key={team}>
                <th scope="row">{team}</th>
                <td class="delta-bar">
                  <svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">
                    <line x1="50" x2="50" y1="0" y2="10" class="axis" />
                    <rect
                      x={v < 0 ? 50 - w : 50}
                      y="2"
                      width={w}
                      height="6"
                      class={v < 0 ? 'less' : 'more'}
                    />
                  </svg>
                </td>
                <td class="num">
                  {v > 0 ? '+' : ''}
                  {unit(v)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </figure>
  );
}

function Act({
  label,
  refused,
  fields,
  onSubmit,
}: {
  label: string;
  refused: string | null;
  fields: preact.ComponentChildren;
  onSubmit: (form: FormData) => Promise<void>;
}) {
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  if (refused !== null) {
    return (
      <p class="refused" data-action={label}>
        <button type="button" disabled>
          {label}
        </button>{' '}
        {refused}
      </p>
    );
  }
  return (
    <form
      class="act"
      data-action={label}
      onSubmit={(e) => {
        e.preventDefault();
        const form = e.currentTarget;
        onSubmit(new FormData(form)).then(
          () => {
            setNote({ ok: true, text: `${label}: done.` });
            form.reset();
          },
          (error: unknown) =>
            setNote({
              ok: false,
              text:
                error instanceof ApiFailure ? `Refused (${error.status}): ${error.message}` : String(error),
            }),
        );
      }}
    >
      {fields}
      <button type="submit">{label}</button>
      {note && (
        <span role="status" class={note.ok ? 'ok' : 'error'}>
          {note.text}
        </span>
      )}
    </form>
  );
}

function ProposalDetail({ id }: { id: string }) {
  const { me } = useShared();
  const p = useApi<Proposal>(`/v1/proposals/${encodeURIComponent(id)}`);
  const teams = useApi<{ teams: Team[] }>('/v1/teams', { live: false });
  if (p.error)
    return (
      <p role="alert" class="error">
        {p.error.message}
      </p>
    );
  if (!p.data) return <p class="loading">Loading {id}…</p>;
  const pr = p.data;
  const tree = parents(teams.data?.teams ?? []);
  const post = async (path: string, body?: unknown): Promise<void> => {
    await api(`/v1/proposals/${encodeURIComponent(pr.id)}/${path}`, {
      method: 'POST',
      ...(body !== undefined ? { body } : {}),
    });
    p.reload();
  };
  const open = OPEN.has(pr.status);
  const closed = open ? null : `the proposal is ${pr.status}`;
  const speakable = pr.affected.filter(
    (t) => refusal(me, 'proposals.respond', { team: t, affected: pr.affected, tree }) === null,
  );
  const impactTeams = Object.entries(pr.impact.teams);
  const text = (name: string, label: string) => (
    <label>
      {label}
      <textarea name={name} required rows={2} />
    </label>
  );
  return (
    <article class="proposal">
      <h2>
        {pr.id}: {pr.title} <span class={`status ${pr.status}`}>{pr.status}</span>
      </h2>
      <p>
        {pr.class} change proposed by {pr.author}; affected: {pr.affected.join(', ') || 'none'}; waiting for:{' '}
        {pr.awaitingResponses.join(', ') || 'no one'}.
      </p>
      {pr.blockers.length > 0 && (
        <ul class="blockers">
          {pr.blockers.map((b) => (
            <li key={b}>{b}</li>
          ))}
        </ul>
      )}
      <h3>
        Impact (simulated on the workload of {when(pr.impact.window.from)} to {when(pr.impact.window.to)})
      </h3>
      <div class="charts">
        <DeltaChart
          title="GPU-hours per team, change"
          teams={impactTeams}
          pick={(f) => f.gpuHoursDelta}
          unit={(v) => `${v.toFixed(1)} h`}
        />
        <DeltaChart
          title="95th percentile wait, change"
          teams={impactTeams}
          pick={(f) => f.p95WaitDelta}
          unit={(v) => `${v < 0 ? '-' : ''}${span(Math.abs(v))}`}
        />
        <DeltaChart
          title="Preemptions, change"
          teams={impactTeams}
          pick={(f) => f.preemptionsDelta}
          unit={(v) => int(v)}
        />
      </div>
      <h3>Responses, objections and votes</h3>
      <ul>
        {pr.responses.map((r, i) => (
          <li key={i}>
            {r.team}: {r.stance} by {r.actor}
            {r.metric ? ` (${r.metric})` : ''}: {r.reason}
            {r.current ? '' : ' (on an earlier report)'}
          </li>
        ))}
        {pr.objections
          .filter((o) => o.open)
          .map((o) => (
            <li key={o.team}>
              open objection of {o.team}
              {o.metric ? ` on ${o.metric}` : ''}
            </li>
          ))}
        <li>
          Votes: {pr.tally.approve} approve, {pr.tally.reject} reject, {pr.tally.abstain} abstain of a council
          of {pr.tally.councilSize}; quorum {pr.tally.quorumMet ? 'met' : 'not met'}, approval{' '}
          {pr.tally.approvalMet ? 'met' : 'not met'}.
        </li>
        <li>
          Petition: {pr.petition.signatures.length} of {pr.petition.needed} signatures needed.
        </li>
      </ul>
      <h3>Act</h3>
      <Act
        label="Respond"
        refused={
          closed ??
          (speakable.length === 0
            ? refusal(me, 'proposals.respond', { team: me.team ?? '', affected: pr.affected, tree })
            : null)
        }
        fields={
          <>
            <label>
              For team
              <select name="team">
                {speakable.map((t) => (
                  <option key={t}>{t}</option>
                ))}
              </select>
            </label>
            <label>
              Stance
              <select name="stance">
                <option>consent</option>
                <option>object</option>
                <option>abstain</option>
              </select>
            </label>
            <label>
              Metric (to object)
              <input name="metric" />
            </label>
            {text('reason', 'Reason')}
          </>
        }
        onSubmit={(f) => {
          const given = f.get('metric');
          const metric = typeof given === 'string' ? given.trim() : '';
          return post('responses', {
            team: f.get('team'),
            stance: f.get('stance'),
            reason: f.get('reason'),
            ...(metric ? { metric } : {}),
          });
        }}
      />
      <Act
        label="Vote"
        refused={closed ?? refusal(me, 'proposals.vote', {})}
        fields={
          <>
            <label>
              Vote
              <select name="vote">
                <option>approve</option>
                <option>reject</option>
                <option>abstain</option>
              </select>
            </label>
            {text('reason', 'Reason')}
          </>
        }
        onSubmit={(f) =>
          post('votes', { vote: f.get('vote'), reason: f.get('reason'), reportHash: pr.impact.hash })
        }
      />
      <Act
        label="Sign the petition"
        refused={closed ?? refusal(me, 'proposals.petition', { affected: pr.affected, tree })}
        fields={null}
        onSubmit={() => post('petition')}
      />
      <Act
        label="Comment"
        refused={refusal(me, 'proposals.comment', {})}
        fields={text('text', 'Comment')}
        onSubmit={(f) => post('comments', { text: f.get('text') })}
      />
      <h3>Comments ({pr.commentCount})</h3>
      <ol class="comments">
        {(pr.comments ?? []).map((c) => (
          <li key={c.n}>
            <strong>{c.actor}</strong> ({when(c.at)}): {c.text}
          </li>
        ))}
      </ol>
      <h3>Timeline</h3>
      <ol class="timeline-list">
        {pr.timeline.map((t, i) => (
          <li key={i}>
            {when(t.at)} · {t.event} · {t.actor}: {t.detail}
          </li>
        ))}
      </ol>
    </article>
  );
}

interface Version {
  version: number;
  createdAt: string;
  actor: string;
  reason: string;
  inForce: boolean;
  proposal: string | null;
  step: number | null;
}

/** Two versions side by side as a line diff, with three lines of context around each change. */
function VersionDiff({ versions }: { versions: Version[] }) {
  const latest = versions.at(-1)?.version ?? 1;
  const [from, setFrom] = useState(Math.max(1, latest - 1));
  const [to, setTo] = useState(latest);
  const a = useApi<{ text: string }>(`/v1/policy/versions/${from}`, { live: false });
  const b = useApi<{ text: string }>(`/v1/policy/versions/${to}`, { live: false });
  const diff = a.data && b.data ? lineDiff(a.data.text, b.data.text) : null;
  const shown =
    diff?.map((line, i) => ({
      ...line,
      near: diff.slice(Math.max(0, i - 3), i + 4).some((l) => l.kind !== 'same'),
    })) ?? [];
  const pick = (label: string, value: number, set: (v: number) => void) => (
    <label>
      {label}
      <select value={value} onChange={(e) => set(Number((e.target as HTMLSelectElement).value))}>
        {versions.map((v) => (
          <option key={v.version} value={v.version}>
            {v.version}
            {v.inForce ? ' (in force)' : ''}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <div class="versions-diff">
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Versions to compare">
        {pick('From version', from, setFrom)}
        {pick('To version', to, setTo)}
      </form>
      {(a.error ?? b.error) && (
        <p role="alert" class="error">
          {(a.error ?? b.error)!.message}
        </p>
      )}
      {diff === null ? (
        a.data && b.data ? (
          <p>These versions are too long to compare here.</p>
        ) : (
          <p class="loading">Reading the versions…</p>
        )
      ) : diff.every((l) => l.kind === 'same') ? (
        <p data-testid="diff-summary">
          Versions {from} and {to} are the same text.
        </p>
      ) : (
        <>
          <p data-testid="diff-summary">
            From version {from} to {to}: {diff.filter((l) => l.kind === 'added').length} lines added,{' '}
            {diff.filter((l) => l.kind === 'removed').length} removed.
          </p>
          <pre class="diff" aria-label={`Changes from version ${from} to ${to}`}>
            {shown.map((l, i) =>
              !l.near ? (
                shown[i - 1]?.near ? (
                  <span class="gap">…{'\n'}</span>
                ) : null
              ) : (
                <span key={i} class={l.kind}>
                  {l.kind === 'added' ? '+ ' : l.kind === 'removed' ? '- ' : '  '}
                  {l.text}
                  {'\n'}
                </span>
              ),
            )}
          </pre>
        </>
      )}
    </div>
  );
}

interface AuditEntry {
  index: number;
  entry: string;
  at: number;
  actor: string;
  kind: string;
  subject: string;
  reason: string;
}

function AuditLog() {
  const checkpoint = useApi<Checkpoint>('/v1/audit/checkpoint');
  const entries = useApi<{ entries: AuditEntry[]; size: number }>('/v1/audit?limit=50');
  const [checks, setChecks] = useState<Record<number, string>>({});
  const check = async (e: AuditEntry): Promise<void> => {
    const c = checkpoint.data;
    if (!c) return;
    try {
      if (e.index >= c.size)
        throw new Error(`entry ${e.index} is not in the latest checkpoint (${c.size} entries) yet`);
      const proof = await api<{ proof: string[] }>(`/v1/audit/proof/inclusion/${e.index}?size=${c.size}`);
      const root = await rootFromProof(await leafHash(e.entry), e.index, c.size, proof.proof);
      const signed = await checkpointSigned(c);
      const verdict =
        root === c.root && signed
          ? `included: its proof leads to the signed root of ${c.size} entries`
          : root !== c.root
            ? 'NOT included: its proof does not lead to the checkpoint root'
            : 'the checkpoint signature does NOT verify';
      setChecks((s) => ({ ...s, [e.index]: verdict }));
    } catch (error) {
      setChecks((s) => ({ ...s, [e.index]: `could not check: ${(error as Error).message}` }));
    }
  };
  return (
    <section>
      <h2>Audit log</h2>
      {checkpoint.data && (
        <p>
          Latest checkpoint: {checkpoint.data.size} entries, root{' '}
          <code>{checkpoint.data.root.slice(0, 16)}…</code>, signed {when(checkpoint.data.time)} with key{' '}
          <code>{checkpoint.data.publicKey.slice(0, 12)}…</code>.
        </p>
      )}
      <table class="audit">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">What</th>
            <th scope="col">Inclusion</th>
          </tr>
        </thead>
        <tbody>
          {(entries.data?.entries ?? []).map((e) => (
            <tr key={e.index} data-entry={e.index}>
              <th scope="row">{e.index}</th>
              <td>{when(new Date(e.at * 1000).toISOString())}</td>
              <td>{e.actor}</td>
              <td>
                {e.kind} {e.subject}: {e.reason}
              </td>
              <td>
                {checks[e.index] ?? (
                  <button type="button" onClick={() => void check(e)}>
                    Check entry {e.index}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function GovernanceView({ id }: { id: string | null }) {
  const { navigate } = useShared();
  const list = useApi<{ proposals: Proposal[] }>('/v1/proposals?limit=50');
  const versions = useApi<{ versions: Version[] }>('/v1/policy/versions');
  return (
    <section>
      <h1>Governance</h1>
      <h2>Proposals</h2>
      {list.error && (
        <p role="alert" class="error">
          {list.error.message}
        </p>
      )}
      {list.data && list.data.proposals.length === 0 && <p>No proposal yet.</p>}
      <ul class="proposals">
        {(list.data?.proposals ?? []).map((p) => (
          <li key={p.id}>
            <a
              href={`/ui/governance/${encodeURIComponent(p.id)}`}
              aria-current={p.id === id ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault();
                navigate(`/ui/governance/${encodeURIComponent(p.id)}`);
              }}
            >
              {p.id}: {p.title}
            </a>{' '}
            <span class={`status ${p.status}`}>{p.status}</span> {p.class}
          </li>
        ))}
      </ul>
      {id && <ProposalDetail id={id} />}
      <h2>Policy versions</h2>
      <table class="versions">
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {(versions.data?.versions ?? []).map((v) => (
            <tr key={v.version}>
              <th scope="row">
                {v.version}
                {v.inForce ? ' (in force)' : ''}
              </th>
              <td>{when(v.createdAt)}</td>
              <td>{v.actor}</td>
              <td>
                {v.reason}
                {v.proposal ? ` (${v.proposal}${v.step !== null ? `, step ${v.step}` : ''})` : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {versions.data && versions.data.versions.length > 1 && (
        <VersionDiff versions={versions.data.versions} />
      )}
      <AuditLog />
    </section>
  );
}
