// Queue: every pending job with its reason sentence and expected start, filtered and paged by
// the server (GET /v1/queue), the signed-in user's own jobs first.
import { useEffect, useState } from 'preact/hooks';
import { ago, expected, int } from '../format';
import { useApi, useShared } from '../state';
import type { PolicyInForce, QueuePage, Team } from '../types';

const PAGE = 50;

interface Filters {
  team: string;
  class: string;
  flavor: string;
  user: string;
  mine: 'first' | 'only' | '';
}

function flatten(teams: Team[], depth = 0, out: { name: string; depth: number }[] = []) {
  for (const t of teams) {
    out.push({ name: t.name, depth });
    flatten(t.children, depth + 1, out);
  }
  return out;
}

function fromUrl(): { filters: Filters; offset: number } {
  const q = new URLSearchParams(location.search);
  const mine = q.get('mine');
  return {
    filters: {
      team: q.get('team') ?? '',
      class: q.get('class') ?? '',
      flavor: q.get('flavor') ?? '',
      user: q.get('user') ?? '',
      mine: mine === 'only' || mine === '' ? mine : 'first',
    },
    offset: Math.max(0, Number(q.get('offset') ?? 0) || 0),
  };
}

/** The path of the queue page shown for these filters (the first one: main.tsx reads it early). */
export function queuePath(filters: Filters, offset: number): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filters) as [string, string][]) if (v !== '') params.set(k, v);
  if (filters.mine === '') params.delete('mine');
  params.set('limit', String(PAGE));
  params.set('offset', String(offset));
  return `/v1/queue?${params.toString()}`;
}

/** What the queue view reads first, for the address in the location bar. */
export const queueFirstReads = (): string[] => {
  const { filters, offset } = fromUrl();
  return ['/v1/policy', queuePath(filters, offset)];
};

export function QueueView() {
  const { navigate } = useShared();
  const initial = fromUrl();
  const [filters, setFilters] = useState<Filters>(initial.filters);
  const [user, setUser] = useState(initial.filters.user);
  const [offset, setOffset] = useState(initial.offset);
  const teams = useApi<{ teams: Team[] }>('/v1/teams', { live: false });
  const policy = useApi<PolicyInForce>('/v1/policy', { live: false });
  const shown = new URLSearchParams();
  for (const [k, v] of Object.entries(filters) as [string, string][]) if (v !== '') shown.set(k, v);
  if (filters.mine === '') shown.set('mine', '');
  if (offset > 0) shown.set('offset', String(offset));
  const page = useApi<QueuePage>(queuePath(filters, offset));
  useEffect(
    () => history.replaceState(null, '', `/ui/queue${shown.size > 0 ? `?${shown.toString()}` : ''}`),
    [shown.toString()],
  );
  // The user filter applies once typing pauses (one request, not one per key).
  useEffect(() => {
    const t = setTimeout(() => user !== filters.user && set({ user }), 300);
    return () => clearTimeout(t);
  }, [user]);
  const set = (change: Partial<Filters>): void => {
    setFilters((f) => ({ ...f, ...change }));
    setOffset(0);
  };
  const flavors = Object.keys(teams.data?.teams[0]?.flavors ?? {});
  const data = page.data;
  const now = Date.now();
  return (
    <section>
      <h1>Queue</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <label>
          Team
          <select value={filters.team} onChange={(e) => set({ team: (e.target as HTMLSelectElement).value })}>
            <option value="">every team</option>
            {flatten(teams.data?.teams ?? []).map((t) => (
              <option value={t.name} key={t.name}>
                {'\u00a0\u00a0'.repeat(t.depth)}
                {t.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Class
          <select
            value={filters.class}
            onChange={(e) => set({ class: (e.target as HTMLSelectElement).value })}
          >
            <option value="">every class</option>
            {(policy.data?.policy.priorityClasses ?? []).map((c) => (
              <option value={c.name} key={c.name}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          GPU type
          <select
            value={filters.flavor}
            onChange={(e) => set({ flavor: (e.target as HTMLSelectElement).value })}
          >
            <option value="">every type</option>
            {flavors.map((f) => (
              <option value={f} key={f}>
                {f}
              </option>
            ))}
            <option value="any">jobs that take any type</option>
          </select>
        </label>
        <label>
          User
          <input
            type="search"
            value={user}
            placeholder="who submitted"
            onInput={(e) => setUser((e.target as HTMLInputElement).value.trim())}
          />
        </label>
        <label>
          My jobs
          <select
            value={filters.mine}
            onChange={(e) => set({ mine: (e.target as HTMLSelectElement).value as Filters['mine'] })}
          >
            <option value="first">first</option>
            <option value="only">only</option>
            <option value="">in queue order</option>
          </select>
        </label>
      </form>
      {page.error && (
        <p role="alert" class="error">
          {page.error.message}
        </p>
      )}
      {!data ? (
        <p class="loading">Loading the queue…</p>
      ) : (
        <>
          <p class="summary" aria-live="polite" data-testid="queue-summary">
            {data.total === 0
              ? `No pending job matches (${int(data.pending)} pending in all).`
              : `${int(data.offset + 1)}–${int(data.offset + data.jobs.length)} of ${int(data.total)} matching pending jobs (${int(data.pending)} pending in all; ${int(data.mine)} of them yours).`}
          </p>
          {data.reasonsAt !== null && now - Date.parse(data.reasonsAt) > 5000 && (
            <p class="hint" data-testid="reasons-age">
              Reasons as of {ago(data.reasonsAt, now)} ago: a queue this long is explained again at most every
              30 s while someone reads it (a job's own page is always current).
            </p>
          )}
          <table class="queue">
            <caption class="visually-hidden">
              Pending jobs, oldest first{filters.mine === 'first' ? ', your own first' : ''}
            </caption>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Team</th>
                <th scope="col">Class</th>
                <th scope="col">Type</th>
                <th scope="col" class="num">
                  GPUs
                </th>
                <th scope="col">User</th>
                <th scope="col">Waiting</th>
                <th scope="col">Why it waits</th>
                <th scope="col">Expected start</th>
              </tr>
            </thead>
            <tbody>
              {data.jobs.map((j) => (
                <tr key={j.id} data-job={j.id}>
                  <th scope="row">
                    <a
                      href={`/ui/jobs/${encodeURIComponent(j.id)}`}
                      onClick={(e) => {
                        e.preventDefault();
                        navigate(`/ui/jobs/${encodeURIComponent(j.id)}`);
                      }}
                    >
                      {j.id}
                    </a>
                    {j.name ? <span class="sub">{j.name}</span> : null}
                  </th>
                  <td>{j.team}</td>
                  <td>{j.class}</td>
                  <td>{j.flavor ?? 'any'}</td>
                  <td class="num">{int(j.gpus)}</td>
                  <td>{j.submittedBy}</td>
                  <td>{ago(j.submittedAt, now)}</td>
                  <td class="reason" data-col="reason">
                    {j.reason ? j.reason.message : 'not explained yet'}
                  </td>
                  <td data-col="expected">{expected(j.expectedStart, j.expectedStartBasis, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav class="pager" aria-label="Pages">
            <button
              type="button"
              disabled={offset === 0}
              onClick={() => setOffset(Math.max(0, offset - PAGE))}
            >
              ← Previous
            </button>
            <button
              type="button"
              disabled={offset + PAGE >= data.total}
              onClick={() => setOffset(offset + PAGE)}
            >
              Next →
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
