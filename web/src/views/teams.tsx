// Teams: the team tree with, per GPU flavor, guarantee, in use, borrowed, lent, limit and
// pending demand as bars, and the fair-share standing (GET /v1/teams).
import { useEffect, useRef } from 'preact/hooks';
import type uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { int, teamColour } from '../format';
import { parents, useApi } from '../state';
import type { FlavorState, Team } from '../types';

interface Row {
  team: Team;
  depth: number;
  siblings: Team[];
}

function rows(teams: Team[], depth = 0, out: Row[] = []): Row[] {
  for (const t of teams) {
    out.push({ team: t, depth, siblings: teams });
    rows(t.children, depth + 1, out);
  }
  return out;
}

/**
 * Lent, at most: the part of a team's idle guarantee that its sibling teams' borrowing may be
 * using (min of the two). The API gives each team's usage and borrowing, not who borrows from
 * whom, so this is an upper bound, and says so.
 */
export function lentAtMost(row: Row, flavor: string): number {
  const f = row.team.flavors[flavor]!;
  const idle = Math.max(0, f.guarantee - f.usage);
  const borrowedBySiblings = row.siblings
    .filter((s) => s !== row.team)
    .reduce((sum, s) => sum + (s.flavors[flavor]?.borrowed ?? 0), 0);
  return Math.min(idle, borrowedBySiblings);
}

function Bar({ f, scale, colour, label }: { f: FlavorState; scale: number; colour: string; label: string }) {
  const x = (v: number): number => (scale > 0 ? (100 * v) / scale : 0);
  const within = Math.min(f.usage, f.guarantee);
  return (
    <svg class="bar" viewBox="0 0 100 14" preserveAspectRatio="none" role="img" aria-label={label}>
      <rect x="0" y="3" width="100" height="8" class="track" />
      <rect x="0" y="3" width={x(f.guarantee)} height="8" class="guarantee" />
      <rect x="0" y="3" width={x(within)} height="8" fill={colour} />
      {f.borrowed > 0 && (
        <rect x={x(within)} y="3" width={x(f.borrowed)} height="8" fill={colour} class="borrowed" />
      )}
      {f.pending > 0 && <rect x={x(f.usage)} y="4" width={x(f.pending)} height="6" class="pending" />}
      <line x1={x(f.guarantee)} x2={x(f.guarantee)} y1="0" y2="14" class="mark-guarantee" />
      {f.limit !== null && <line x1={x(f.limit)} x2={x(f.limit)} y1="0" y2="14" class="mark-limit" />}
    </svg>
  );
}

function status(f: FlavorState): string {
  if (f.borrowed > 0) return `over its guarantee by ${int(f.borrowed)}`;
  if (f.pending > 0 && f.usage < f.guarantee) return 'waiting inside its guarantee';
  if (f.pending > 0) return 'waiting';
  return '';
}

/** GPUs in use per top-level team since this page opened, one sample per change. */
function UsageChart({ teams, flavors }: { teams: Team[]; flavors: string[] }) {
  const holder = useRef<HTMLDivElement>(null);
  const series = useRef<{ t: number[]; ys: Map<string, number[]> }>({ t: [], ys: new Map() });
  const plot = useRef<uPlot | null>(null);
  const loading = useRef(false);
  const names = teams.map((t) => t.name).join(',');
  useEffect(() => {
    const s = series.current;
    const now = Date.now() / 1000;
    s.t.push(now);
    for (const t of teams) {
      const used = flavors.reduce((sum, f) => sum + (t.flavors[f]?.usage ?? 0), 0);
      const ys = s.ys.get(t.name) ?? s.ys.set(t.name, Array<number>(s.t.length - 1).fill(used)).get(t.name)!;
      ys.push(used);
    }
    if (s.t.length > 600) {
      s.t.shift();
      s.ys.forEach((y) => y.shift());
    }
    const data: uPlot.AlignedData = [s.t, ...teams.map((t) => s.ys.get(t.name)!)];
    if (plot.current) plot.current.setData(data);
    else if (holder.current && !loading.current) {
      // uPlot is loaded with the first chart, not with the app (the queue page does not need it).
      loading.current = true;
      void import('uplot').then(({ default: UPlot }) => {
        if (!holder.current) return;
        plot.current = new UPlot(
          {
            width: Math.min(900, holder.current.clientWidth || 900),
            height: 180,
            series: [{}, ...teams.map((t) => ({ label: t.name, stroke: teamColour(t.name), width: 2 }))],
            axes: [{}, { label: 'GPUs in use' }],
            scales: { x: { time: true } },
          },
          [s.t, ...teams.map((t) => s.ys.get(t.name)!)],
          holder.current,
        );
      });
    }
  }, [teams]);
  useEffect(
    () => () => {
      plot.current?.destroy();
      plot.current = null;
      loading.current = false;
    },
    [names],
  );
  return (
    <div
      ref={holder}
      class="chart"
      role="img"
      aria-label={`GPUs in use per top-level team since this page opened: ${teams.map((t) => `${t.name} ${flavors.reduce((s, f) => s + (t.flavors[f]?.usage ?? 0), 0)}`).join(', ')}`}
    />
  );
}

export function TeamsView() {
  const { data, error } = useApi<{ teams: Team[] }>('/v1/teams');
  if (error)
    return (
      <p role="alert" class="error">
        {error.message}
      </p>
    );
  if (!data) return <p class="loading">Loading teams…</p>;
  const all = rows(data.teams);
  const tree = parents(data.teams);
  const flavors = Object.keys(data.teams[0]?.flavors ?? {});
  return (
    <section>
      <h1>Teams</h1>
      <p class="hint">
        Per GPU flavor: <span class="key guarantee-key">guarantee</span> (the shaded part and the line), in
        use within it (solid), <span class="key borrowed-key">borrowed</span> beyond it (striped),{' '}
        <span class="key pending-key">pending demand</span> (outlined), and the limit (dashed line).
        Fair-share standing: lower goes first among borrowers.
      </p>
      {flavors.map((flavor) => {
        const scale = Math.max(
          1,
          ...all.map(({ team }) => {
            const f = team.flavors[flavor]!;
            return Math.max(f.guarantee, f.usage + f.pending, f.limit ?? 0);
          }),
        );
        return (
          <table class="teams" data-flavor={flavor} key={flavor}>
            <caption>{flavor.toUpperCase()} GPUs per team</caption>
            <thead>
              <tr>
                <th scope="col">Team</th>
                <th scope="col" class="num">
                  Guarantee
                </th>
                <th scope="col" class="num">
                  In use
                </th>
                <th scope="col" class="num">
                  Borrowed
                </th>
                <th
                  scope="col"
                  class="num"
                  title="the part of its idle guarantee its sibling teams' borrowing may be using"
                >
                  Lent (at most)
                </th>
                <th scope="col" class="num">
                  Limit
                </th>
                <th scope="col" class="num">
                  Pending
                </th>
                <th scope="col" class="barcol">
                  Bars
                </th>
                <th scope="col" class="num">
                  Standing
                </th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {all.map((row) => {
                const f = row.team.flavors[flavor]!;
                const name = row.team.name;
                const label = `${name}: guarantee ${f.guarantee}, in use ${f.usage}, borrowed ${f.borrowed}, pending ${f.pending}, limit ${f.limit ?? 'none'}`;
                return (
                  <tr data-team={name} key={name} class={tree.get(name) === null ? 'top' : ''}>
                    <th scope="row" style={{ paddingLeft: `${0.5 + row.depth * 1.25}rem` }}>
                      <span class="swatch" style={{ background: teamColour(name) }} aria-hidden="true" />
                      {name}
                      {row.team.children.length === 0 ? '' : ' ▾'}
                    </th>
                    <td class="num" data-col="guarantee">
                      {int(f.guarantee)}
                    </td>
                    <td class="num" data-col="usage">
                      {int(f.usage)}
                    </td>
                    <td class="num" data-col="borrowed">
                      {int(f.borrowed)}
                    </td>
                    <td class="num" data-col="lent">
                      {int(lentAtMost(row, flavor))}
                    </td>
                    <td class="num" data-col="limit">
                      {f.limit === null ? '—' : int(f.limit)}
                    </td>
                    <td class="num" data-col="pending">
                      {int(f.pending)}
                    </td>
                    <td class="barcol">
                      <Bar f={f} scale={scale} colour={teamColour(name)} label={label} />
                    </td>
                    <td class="num" data-col="standing">
                      {row.team.fairShare.standing >= 100
                        ? int(row.team.fairShare.standing)
                        : row.team.fairShare.standing.toFixed(2)}
                    </td>
                    <td data-col="status">{status(f)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        );
      })}
      <h2>In use since this page opened</h2>
      <UsageChart teams={data.teams} flavors={flavors} />
    </section>
  );
}
