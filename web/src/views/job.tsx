// Job: its state and reason, its runs on a timeline, each preemption with the job that took
// the GPUs and why, and cancel where the role allows it (GET /v1/jobs/{id}, /runs).
import { useState } from 'preact/hooks';
import { api, ApiFailure } from '../api';
import { expected, int, span, teamColour, when } from '../format';
import { parents, refusal, useApi, useShared } from '../state';
import type { Job, PolicyInForce, ReasonChange, Run, Team } from '../types';

function Timeline({ job, runs, now }: { job: Job; runs: Run[]; now: number }) {
  const t0 = Date.parse(job.submittedAt);
  const t1 = Math.max(
    t0 + 1000,
    job.endedAt ? Date.parse(job.endedAt) : now,
    ...runs.map((r) => (r.end ? Date.parse(r.end) : now)),
  );
  const x = (t: number): number => (1000 * (t - t0)) / (t1 - t0);
  const label = `Submitted ${when(job.submittedAt)}; ${runs.length} run(s): ${runs.map((r, i) => `run ${i + 1} from ${when(r.start)} to ${r.end ? when(r.end) : 'now'}${r.outcome ? `, ${r.outcome}` : ''}`).join('; ')}`;
  return (
    <svg class="timeline" viewBox="0 0 1000 50" preserveAspectRatio="none" role="img" aria-label={label}>
      <line x1="0" x2="1000" y1="25" y2="25" class="axis" />
      {runs.map((r, i) => {
        const a = x(Date.parse(r.start));
        const b = x(r.end ? Date.parse(r.end) : now);
        return (
          <g key={i}>
            <rect
              x={a}
              y="12"
              width={Math.max(2, b - a)}
              height="26"
              fill={teamColour(job.team)}
              class={`run ${r.outcome ?? 'running'}`}
            />
            {r.outcome === 'preempted' && <line x1={b} x2={b} y1="4" y2="46" class="preempt" />}
          </g>
        );
      })}
      <circle cx="0" cy="25" r="4" class="submit" />
    </svg>
  );
}

/** Why a run was preempted, from the cause the server stored with it (and the classes' priorities). */
const why = (job: Job, by: NonNullable<Run['preemptedBy']>, priorities: Map<string, number>): string => {
  const mine = priorities.get(job.class);
  const theirs = priorities.get(by.class);
  const ranks = mine !== undefined && theirs !== undefined ? ` (priority ${theirs} against ${mine})` : '';
  switch (by.cause) {
    case 'reclaim':
      return `${by.team} reclaimed GPUs of its guarantee that ${job.team} had borrowed`;
    case 'withinTeam':
      return `a job of its own team in class ${by.class}${ranks}`;
    case 'priority':
      return `class ${by.class} of ${by.team} goes before ${job.class} of a borrowing team${ranks}`;
  }
};

export function JobView({ id }: { id: string }) {
  const { me, navigate } = useShared();
  const job = useApi<Job>(`/v1/jobs/${encodeURIComponent(id)}`);
  const runs = useApi<{ runs: Run[] }>(`/v1/jobs/${encodeURIComponent(id)}/runs`);
  const reasons = useApi<{ reasons: ReasonChange[] }>(`/v1/jobs/${encodeURIComponent(id)}/reasons`);
  const teams = useApi<{ teams: Team[] }>('/v1/teams', { live: false });
  const policy = useApi<PolicyInForce>('/v1/policy', { live: false });
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  if (job.error)
    return (
      <p role="alert" class="error">
        {job.error.message}
      </p>
    );
  if (!job.data) return <p class="loading">Loading {id}…</p>;
  const j = job.data;
  const now = Date.now();
  const tree = parents(teams.data?.teams ?? []);
  const cancelRefusal =
    j.status === 'pending' || j.status === 'running'
      ? refusal(me, 'jobs.cancel', { job: j, tree })
      : `the job is ${j.status}`;
  const priorities = new Map((policy.data?.policy.priorityClasses ?? []).map((c) => [c.name, c.priority]));
  const cancel = async (): Promise<void> => {
    try {
      const after = await api<Job>(`/v1/jobs/${encodeURIComponent(j.id)}/cancel`, { method: 'POST' });
      setMessage({ ok: true, text: `${after.id} is ${after.status}.` });
      job.reload();
      runs.reload();
    } catch (e) {
      setMessage({
        ok: false,
        text: e instanceof ApiFailure ? `Refused (${e.status}): ${e.message}` : String(e),
      });
    }
  };
  const list = runs.data?.runs ?? [];
  return (
    <section>
      <h1>
        Job {j.id}
        {j.name ? ` · ${j.name}` : ''} <span class={`status ${j.status}`}>{j.status.replace('_', ' ')}</span>
      </h1>
      <dl class="facts">
        <dt>Team</dt>
        <dd>{j.team}</dd>
        <dt>Class</dt>
        <dd>{j.class}</dd>
        <dt>GPUs</dt>
        <dd>
          {int(j.gpus)} × {j.flavor ?? 'any type'}
        </dd>
        <dt>Submitted</dt>
        <dd>
          {when(j.submittedAt)} by {j.submittedBy}
        </dd>
        <dt>Time limit</dt>
        <dd>{j.timeLimit === null ? 'none' : span(j.timeLimit)}</dd>
        {j.placement.length > 0 && (
          <>
            <dt>Placement</dt>
            <dd>{j.placement.map((p) => `${p.node} (${p.gpus})`).join(', ')}</dd>
          </>
        )}
        {j.status === 'pending' && (
          <>
            <dt>Why it waits</dt>
            <dd data-testid="job-reason">{j.reason ? `${j.reason.message} (${j.reason.code})` : '—'}</dd>
            <dt>Expected start</dt>
            <dd>{expected(j.expectedStart, j.expectedStartBasis, now)}</dd>
          </>
        )}
        {j.rejectReason && (
          <>
            <dt>Rejected</dt>
            <dd>{j.rejectReason}</dd>
          </>
        )}
        {j.exitCode !== null && (
          <>
            <dt>Exit code</dt>
            <dd>{j.exitCode}</dd>
          </>
        )}
      </dl>
      <div class="actions">
        {cancelRefusal === null ? (
          <button type="button" onClick={() => void cancel()}>
            Cancel {j.id}
          </button>
        ) : (
          <p class="refused" data-testid="cancel-refused">
            <button type="button" disabled aria-describedby="cancel-why">
              Cancel
            </button>{' '}
            <span id="cancel-why">{cancelRefusal}</span>
          </p>
        )}
        {message && (
          <p role="status" class={message.ok ? 'ok' : 'error'}>
            {message.text}
          </p>
        )}
      </div>
      <h2>Runs</h2>
      {list.length === 0 ? (
        <p>No run yet.</p>
      ) : (
        <>
          <Timeline job={j} runs={list} now={now} />
          <table class="runs">
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Start</th>
                <th scope="col">End</th>
                <th scope="col">Length</th>
                <th scope="col">Where</th>
                <th scope="col">Outcome</th>
              </tr>
            </thead>
            <tbody>
              {list.map((r, i) => (
                <tr key={i}>
                  <th scope="row">{i + 1}</th>
                  <td>{when(r.start)}</td>
                  <td>{r.end ? when(r.end) : 'running'}</td>
                  <td>{span(((r.end ? Date.parse(r.end) : now) - Date.parse(r.start)) / 1000)}</td>
                  <td>
                    {r.flavor}: {r.placement.map((p) => `${p.node} (${p.gpus})`).join(', ')}
                  </td>
                  <td>
                    {r.outcome ?? 'running'}
                    {r.preemptedBy && (
                      <>
                        {' by '}
                        <a
                          href={`/ui/jobs/${encodeURIComponent(r.preemptedBy.job)}`}
                          onClick={(e) => {
                            e.preventDefault();
                            navigate(`/ui/jobs/${encodeURIComponent(r.preemptedBy!.job)}`);
                          }}
                        >
                          {r.preemptedBy.job}
                        </a>
                        {` of ${r.preemptedBy.team}: ${why(j, r.preemptedBy, priorities)}`}
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h2>Why it waited</h2>
      {(reasons.data?.reasons ?? []).length === 0 ? (
        <p>{reasons.data ? 'No reason recorded: it has not waited for a scheduling pass.' : 'Loading…'}</p>
      ) : (
        <table class="reasons" data-testid="reason-history">
          <caption class="visually-hidden">Each change of the reason it waited for, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">Since</th>
              <th scope="col">Reason</th>
              <th scope="col">What the scheduler said then</th>
            </tr>
          </thead>
          <tbody>
            {reasons.data!.reasons.map((r, i) => (
              <tr key={i}>
                <td>{when(r.at)}</td>
                <td>
                  <code>{r.code}</code>
                </td>
                <td>{r.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
