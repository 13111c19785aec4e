// Usage: GPU-hours per team over the last days or weeks against guarantee-hours (GET /v1/usage,
// the report of `arbiter usage`): a uPlot chart of the top-level teams per bucket, each with its
// guarantee dashed in its colour, and the table of every team (leaves under their parents).
import { useEffect, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { teamColour } from '../format';
import type { Usage } from '../types';
import { useApi } from '../state';


const RANGES = [
  { days: 7, by: 'day', label: 'last 7 days, by day' },
  { days: 28, by: 'day', label: 'last 28 days, by day' },
  { days: 84, by: 'week', label: 'last 12 weeks, by week' },
] as const;

/** The query of a range: whole UTC days, ending at the next UTC midnight (today included). */
function queryOf(range: (typeof RANGES)[number]): string {
  const day = 86_400_000;
  const to = Math.ceil((Date.now() + 1) / day) * day;
  const from = to - range.days * day;
  return `from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&by=${range.by}`;
}

/** GPU-hours with one decimal below 100. */
const hours = (h: number): string => (h >= 100 ? Math.round(h).toLocaleString('en-US') : h.toFixed(1));

function duration(s: number | null): string {
  if (s === null) return '–';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function Chart({ usage }: { usage: Usage }) {
  const holder = useRef<HTMLDivElement>(null);
  const top = usage.teams.filter((t) => t.parent === null);
  useEffect(() => {
    let plot: uPlot | null = null;
    let gone = false;
    void import('uplot').then(({ default: UPlot }) => {
      if (gone || !holder.current) return;
      const x = usage.buckets.map((b) => Date.parse(b.start) / 1000);
      plot = new UPlot(
        {
          width: Math.min(900, holder.current.clientWidth || 900),
          height: 220,
          series: [
            {},
            ...top.flatMap((t) => [
              { label: `${t.team} GPU-h`, stroke: teamColour(t.team), width: 2, points: { show: true } },
              { label: `${t.team} guarantee`, stroke: teamColour(t.team), width: 1, dash: [6, 4], points: { show: false } },
            ]),
          ],
          axes: [{}, { label: `GPU-hours per ${usage.by}` }],
          scales: { x: { time: true } },
        },
        [x, ...top.flatMap((t) => [t.buckets.map((b) => b.gpuHours), t.buckets.map((b) => b.guaranteeHours)])],
        holder.current,
      );
    });
    return () => {
      gone = true;
      plot?.destroy();
    };
  }, [usage]);
  return (
    <div
      ref={holder}
      class="chart"
      data-testid="usage-chart"
      role="img"
      aria-label={`GPU-hours per ${usage.by} of each top-level team against its guarantee-hours (dashed): ${top.map((t) => `${t.team} ${hours(t.gpuHours)} of ${hours(t.guaranteeHours)}`).join(', ')}`}
    />
  );
}

export function UsageView() {
  const [range, setRange] = useState(0);
  const query = queryOf(RANGES[range]!);
  const { data, error } = useApi<Usage>(`/v1/usage?${query}`);
  return (
    <section aria-labelledby="usage-title" data-query={query}>
      <h1 id="usage-title">Usage</h1>
      <p>
        GPU-hours each team received against its guarantee-hours (guaranteed GPUs × hours, under the policy in force); a
        parent's figures are its children's sums, and the top-level teams add up to the fleet's busy GPU-hours.{' '}
        <label>
          Period{' '}
          <select value={range} onChange={(e) => setRange(Number((e.target as HTMLSelectElement).value))}>
            {RANGES.map((r, i) => (
              <option value={i}>{r.label}</option>
            ))}
          </select>
        </label>
      </p>
      {error ? (
        <p role="alert" class="error">
          {error.message}
        </p>
      ) : !data ? (
        <p class="loading">Loading usage…</p>
      ) : (
        <>
          <Chart usage={data} />
          <p class="fleet-usage" data-testid="usage-fleet">
            Fleet: {hours(data.busyGpuHours)} GPU-hours busy of {hours(data.capacityGpuHours)} ({data.fleetGpus} GPUs
            {data.capacityGpuHours > 0 ? `, ${Math.round((100 * data.busyGpuHours) / data.capacityGpuHours)}%` : ''}), from{' '}
            {data.from.slice(0, 10)} to {data.to.slice(0, 10)} (UTC, end excluded).
          </p>
          <table class="usage">
            <caption>Per team, over the period</caption>
            <thead>
              <tr>
                <th scope="col">Team</th>
                <th scope="col">Guaranteed GPUs</th>
                <th scope="col">GPU-hours</th>
                <th scope="col">Guarantee-hours</th>
                <th scope="col">Of guarantee</th>
                <th scope="col">Wait p50</th>
                <th scope="col">Wait p95</th>
                <th scope="col">Preempted</th>
                <th scope="col">Reclaims</th>
                <th scope="col">Reclaim wait p50</th>
                <th scope="col">Reclaim wait p95</th>
              </tr>
            </thead>
            <tbody>
              {data.teams.map((t) => (
                <tr data-team={t.team}>
                  <th scope="row" style={{ paddingLeft: `${0.5 + 1.2 * t.depth}em` }}>
                    {t.team}
                  </th>
                  <td data-col="guarantee">{t.guarantee}</td>
                  <td data-col="gpuHours">{hours(t.gpuHours)}</td>
                  <td data-col="guaranteeHours">{hours(t.guaranteeHours)}</td>
                  <td data-col="share">{t.guaranteeHours > 0 ? `${Math.round((100 * t.gpuHours) / t.guaranteeHours)}%` : '–'}</td>
                  <td data-col="p50">{duration(t.wait.p50)}</td>
                  <td data-col="p95">{duration(t.wait.p95)}</td>
                  <td data-col="preemptions">{t.preemptions}</td>
                  <td data-col="reclaims">{t.reclaims.runs}</td>
                  <td data-col="reclaimP50">{duration(t.reclaims.p50)}</td>
                  <td data-col="reclaimP95">{duration(t.reclaims.p95)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
