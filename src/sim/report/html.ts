// report.html: one self-contained page (inline CSS, inline script, data as JSON) comparing one or
// more simulation variants. Pure: a string from values, no I/O.
//
// Charts are hand-written SVG drawn by the inline script (client.ts) rather than an inlined chart
// library: the five charts need a few hundred lines, the page stays small (no 50-500 kB of
// library per report), nothing to vendor or keep up to date, and every element is built with
// textContent so user strings cannot become markup. The page makes no request at all: no URL
// appears in it, and a Content-Security-Policy (default-src 'none') forbids loads anyway.
//
// Escaping: strings go into HTML through escapeHtml; the data block goes through jsonForScript,
// which escapes <, >, & and U+2028/9 so a team named "</script><script>..." stays inside the JSON.
import type { Summary, TeamSummary } from '../metrics.js';
import { humanDuration } from '../summary-table.js';
import type { SimulationResult } from '../types.js';
import { CLIENT_SCRIPT } from './client.js';
import { computeSeries, type ReportSeries, type SeriesOptions, type WaitStats } from './series.js';

export interface ReportVariant {
  /** Shown in legends and the table, e.g. the policy file or a variant label. */
  readonly name: string;
  readonly result: SimulationResult;
  /** summarize(result, ...); extra numeric keys (or objects of numbers, e.g. fairness) become extra columns. */
  readonly summary: Summary;
}

export interface ReportOptions {
  /** Page title and heading. */
  readonly title: string;
  /** Shown under the title, e.g. "metrics over jobs 1,000..9,000 (warm-up and cool-down dropped)". */
  readonly measureNote?: string;
  /** Bucket counts of the time series (defaults: 2,000 buckets, 1,000 CDF points). */
  readonly series?: SeriesOptions;
}

/** Escapes &, <, >, " and ' for HTML text and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}
const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * JSON safe inside <script type="application/json">: <, >, & and the JavaScript line terminators
 * U+2028/U+2029 become \uXXXX escapes (still the same JSON value), so no "</script" or "<!--" can occur.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** The data block the inline script reads; numbers rounded to what a chart can show. */
export interface ReportData {
  readonly title: string;
  /** Top-level team names over all variants (policy order of the first variant first): fixes each team's color. */
  readonly teams: readonly string[];
  readonly variants: readonly VariantData[];
}

export interface VariantData {
  readonly name: string;
  readonly t0: number;
  readonly dt: number;
  readonly buckets: number;
  readonly fleetGpus: number;
  readonly teams: readonly { readonly name: string; readonly guarantee: number; readonly held: number[] }[];
  readonly queue: number[];
  readonly util: number[];
  readonly cdf: { readonly jct: number[]; readonly p: number[]; readonly n: number };
  readonly waits: readonly WaitStats[];
  readonly allWaits: WaitStats;
}

const round = (x: number, decimals: number): number => {
  const scale = 10 ** decimals;
  const r = Math.round(x * scale) / scale;
  return r === 0 ? 0 : r; // never -0
};
const rounded = (xs: ArrayLike<number>, decimals: number): number[] =>
  Array.from(xs, (x) => round(x, decimals));
const roundWaits = (w: WaitStats): WaitStats => ({
  team: w.team,
  n: w.n,
  p10: round(w.p10, 3),
  p25: round(w.p25, 3),
  p50: round(w.p50, 3),
  p75: round(w.p75, 3),
  p90: round(w.p90, 3),
  p99: round(w.p99, 3),
  max: round(w.max, 3),
});

export function reportData(
  variants: readonly { readonly name: string; readonly series: ReportSeries }[],
  title: string,
): ReportData {
  const teams: string[] = [];
  for (const v of variants) for (const t of v.series.teams) if (!teams.includes(t.name)) teams.push(t.name);
  return {
    title,
    teams,
    variants: variants.map(({ name, series: s }) => ({
      name,
      t0: s.t0,
      dt: s.dt,
      buckets: s.buckets,
      fleetGpus: s.fleetGpus,
      teams: s.teams.map((t) => ({ name: t.name, guarantee: t.guarantee, held: rounded(t.held, 2) })),
      queue: rounded(s.queue, 2),
      util: rounded(s.utilization, 4),
      cdf: { jct: rounded(s.jctCdf.jct, 3), p: rounded(s.jctCdf.p, 5), n: s.jctCdf.n },
      waits: s.waits.map(roundWaits),
      allWaits: roundWaits(s.allWaits),
    })),
  };
}

// ---- the comparison table ----

type Better = 'low' | 'high' | undefined;
interface Column {
  readonly head: string;
  readonly title: string;
  readonly value: (s: Summary) => number | undefined;
  readonly format: (x: number) => string;
  readonly better: Better;
}

const count = (n: number): string => n.toLocaleString('en-US');
const duration = (s: number): string => humanDuration(s);
const percent = (f: number): string => `${(f * 100).toFixed(1)}%`;
const gpuHours = (gpuSeconds: number): string =>
  (gpuSeconds / 3600).toLocaleString('en-US', { maximumFractionDigits: 1 });
const general = (x: number): string =>
  Number.isInteger(x) ? count(x) : Number(x.toPrecision(4)).toLocaleString('en-US', { maximumFractionDigits: 6 });

const COLUMNS: readonly Column[] = [
  { head: 'Jobs', title: 'jobs measured', value: (s) => s.jobs, format: count, better: undefined },
  { head: 'Completed', title: 'jobs with status completed', value: (s) => s.completed, format: count, better: 'high' },
  { head: 'Rejected', title: 'jobs that can never run', value: (s) => s.rejected, format: count, better: 'low' },
  { head: 'Avg JCT', title: 'mean job completion time (end - submit) of completed and timed-out jobs', value: (s) => s.avgJct, format: duration, better: 'low' },
  { head: 'p50 JCT', title: 'median JCT', value: (s) => s.p50Jct, format: duration, better: 'low' },
  { head: 'p99 JCT', title: '99th percentile JCT', value: (s) => s.p99Jct, format: duration, better: 'low' },
  { head: 'Avg wait', title: 'mean wait (first start - submit) of the jobs that started', value: (s) => s.avgWait, format: duration, better: 'low' },
  { head: 'p50 wait', title: 'median wait', value: (s) => s.p50Wait, format: duration, better: 'low' },
  { head: 'p99 wait', title: '99th percentile wait', value: (s) => s.p99Wait, format: duration, better: 'low' },
  { head: 'Utilization', title: 'GPU-seconds of all runs / (fleet GPUs x makespan)', value: (s) => s.utilization, format: percent, better: 'high' },
  { head: 'Preemptions', title: 'runs stopped to make room for another job', value: (s) => s.preemptions, format: count, better: 'low' },
  { head: 'Lost GPU-h', title: 'GPU-hours that made no kept progress: restart overheads and work lost since the last checkpoint', value: (s) => s.lostGpuSeconds, format: gpuHours, better: 'low' },
  { head: 'Makespan', title: 'last end - first submit', value: (s) => s.makespan, format: duration, better: undefined },
];
/** Shown only when the variants' fleets differ (otherwise the subtitle names the fleet). */
const FLEET_COLUMN: Column = { head: 'GPUs', title: 'GPUs in the fleet', value: (s) => s.fleetGpus, format: count, better: undefined };

/** Every key of Summary: the rest are extras (e.g. fairness) and get their own columns. */
const KNOWN_KEYS: ReadonlySet<string> = new Set<keyof Summary>([
  'jobs', 'completed', 'rejected', 'avgJct', 'p50Jct', 'p95Jct', 'p99Jct', 'avgWait', 'p99Wait',
  'makespan', 'utilization', 'preemptions', 'lostGpuSeconds', 'teams', 'timedOut', 'running',
  'pending', 'p50Wait', 'p95Wait', 'gpuSeconds', 'fleetGpus', 'topTeams',
]);

/** Extra numeric keys, and numeric keys one level inside extra objects ("fairness.jain"), in first-seen order. */
function extraColumns(summaries: readonly Summary[]): Column[] {
  const paths: string[][] = [];
  const seen = new Set<string>();
  const add = (path: string[]): void => {
    const key = JSON.stringify(path);
    if (!seen.has(key)) {
      seen.add(key);
      paths.push(path);
    }
  };
  for (const s of summaries) {
    for (const [key, value] of Object.entries(s)) {
      if (KNOWN_KEYS.has(key)) continue;
      if (typeof value === 'number') add([key]);
      else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        for (const [sub, inner] of Object.entries(value as Record<string, unknown>)) {
          if (typeof inner === 'number') add([key, sub]);
        }
      }
    }
  }
  return paths.map((path) => ({
    head: path.join('.'),
    title: `${path.join('.')} (from the summary)`,
    value: (s: Summary): number | undefined => {
      let v: unknown = s;
      for (const k of path) v = typeof v === 'object' && v !== null && Object.hasOwn(v, k) ? (v as Record<string, unknown>)[k] : undefined;
      return typeof v === 'number' ? v : undefined;
    },
    format: general,
    better: undefined,
  }));
}

function summaryTable(variants: readonly ReportVariant[]): string {
  const fleets = new Set(variants.map((v) => v.summary.fleetGpus));
  const columns = [...COLUMNS, ...(fleets.size > 1 ? [FLEET_COLUMN] : []), ...extraColumns(variants.map((v) => v.summary))];
  const best = columns.map((c) => bestValue(c, variants));
  const head = `<tr><th scope="col">Variant</th>${columns
    .map((c) => `<th scope="col" title="${escapeHtml(c.title)}">${escapeHtml(c.head)}</th>`)
    .join('')}</tr>`;
  const rows = variants.map((v, vi) => {
    const cells = columns.map((c, ci) => {
      const x = c.value(v.summary);
      if (x === undefined || !Number.isFinite(x)) return '<td class="na">–</td>';
      const isBest = best[ci] !== undefined && x === best[ci];
      return `<td${isBest ? ' class="best"' : ''} title="${escapeHtml(String(x))}">${escapeHtml(c.format(x))}</td>`;
    });
    return `<tr><th scope="row"><span class="sw" style="background:${variantColor(vi)}"></span>${escapeHtml(v.name)}</th>${cells.join('')}</tr>`;
  });
  return `<table class="summary"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The best value of a column when several variants differ on it; undefined otherwise. */
function bestValue(c: Column, variants: readonly ReportVariant[]): number | undefined {
  if (c.better === undefined || variants.length < 2) return undefined;
  const xs = variants.map((v) => c.value(v.summary)).filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (xs.length < 2 || xs.every((x) => x === xs[0])) return undefined;
  return c.better === 'low' ? Math.min(...xs) : Math.max(...xs);
}

/** Per top-level team: the summary's topTeams figures beside the average GPUs held and the guarantee. */
function teamTable(variants: readonly ReportVariant[], series: readonly ReportSeries[], teams: readonly string[]): string {
  const several = variants.length > 1;
  const head =
    `<tr><th scope="col">Team</th>${several ? '<th scope="col" class="left">Variant</th>' : ''}` +
    '<th scope="col" title="jobs submitted to the team\'s subtree">Jobs</th>' +
    '<th scope="col">Completed</th><th scope="col">Avg JCT</th><th scope="col">Avg wait</th><th scope="col">p99 wait</th>' +
    '<th scope="col" title="GPU-hours its jobs received">GPU-hours</th>' +
    '<th scope="col" title="average over the whole simulated period">Avg GPUs held</th>' +
    '<th scope="col" title="sum over flavors">Guarantee</th><th scope="col" title="avg GPUs held / guarantee">Held / guarantee</th></tr>';
  const rows: string[] = [];
  for (const name of teams) {
    let first = true;
    variants.forEach((v, vi) => {
      const t: TeamSummary | undefined = Object.hasOwn(v.summary.topTeams, name) ? v.summary.topTeams[name] : undefined;
      const held = series[vi]?.teams.find((x) => x.name === name);
      if (t === undefined && held === undefined) return;
      let avgHeld = 0;
      if (held !== undefined && held.held.length > 0) {
        for (const x of held.held) avgHeld += x;
        avgHeld /= held.held.length;
      }
      const g = held?.guarantee ?? 0;
      const cell = (x: number | undefined, f: (x: number) => string): string =>
        x === undefined ? '<td class="na">–</td>' : `<td>${escapeHtml(f(x))}</td>`;
      // With several variants, the team's name is written on its first row only.
      const teamCell = first ? `${teamSwatch(teams, name)}${escapeHtml(name)}` : '';
      rows.push(
        `<tr${first && several ? ' class="group"' : ''}><th scope="row">${teamCell}</th>` +
          (several ? `<td class="variant">${escapeHtml(v.name)}</td>` : '') +
          cell(t?.jobs, count) +
          cell(t?.completed, count) +
          cell(t?.avgJct, duration) +
          cell(t?.avgWait, duration) +
          cell(t?.p99Wait, duration) +
          cell(t?.gpuSeconds, gpuHours) +
          cell(avgHeld, (x) => x.toLocaleString('en-US', { maximumFractionDigits: 1 })) +
          cell(g, count) +
          cell(g > 0 ? avgHeld / g : undefined, percent) +
          '</tr>',
      );
      first = false;
    });
  }
  return `<table class="teams"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Per leaf team (under its parent): average GPUs held, GPU-hours, its own guarantee and held / guarantee. */
function leafTable(variants: readonly ReportVariant[], series: readonly ReportSeries[]): string {
  const several = variants.length > 1;
  const head =
    `<tr><th scope="col">Leaf team</th><th scope="col" class="left">Parent</th>${several ? '<th scope="col" class="left">Variant</th>' : ''}` +
    '<th scope="col" title="GPU-hours its runs held">GPU-hours</th>' +
    '<th scope="col" title="average over the whole simulated period">Avg GPUs held</th>' +
    '<th scope="col" title="its own guarantee, sum over flavors">Guarantee</th><th scope="col" title="avg GPUs held / guarantee">Held / guarantee</th></tr>';
  const names: string[] = [];
  for (const s of series) for (const l of s.leaves) if (!names.includes(l.name)) names.push(l.name);
  const rows: string[] = [];
  for (const name of names) {
    let first = true;
    series.forEach((s, vi) => {
      const leaf = s.leaves.find((l) => l.name === name);
      if (leaf === undefined) return;
      let sum = 0;
      for (const x of leaf.held) sum += x;
      const avg = leaf.held.length > 0 ? sum / leaf.held.length : 0;
      const g = leaf.guarantee;
      rows.push(
        `<tr data-leaf="${escapeHtml(name)}"${first && several ? ' class="group"' : ''}><th scope="row">${first ? escapeHtml(name) : ''}</th>` +
          `<td class="left">${first ? escapeHtml(leaf.parent ?? '–') : ''}</td>` +
          (several ? `<td class="variant">${escapeHtml(variants[vi]!.name)}</td>` : '') +
          `<td>${escapeHtml(gpuHours(sum * s.dt))}</td>` +
          `<td>${escapeHtml(avg.toLocaleString('en-US', { maximumFractionDigits: 1 }))}</td>` +
          `<td>${escapeHtml(count(g))}</td>` +
          (g > 0 ? `<td>${escapeHtml(percent(avg / g))}</td>` : '<td class="na">–</td>') +
          '</tr>',
      );
      first = false;
    });
  }
  return `<table class="teams leaves"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

const TEAM_COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const VARIANT_COLORS = ['#1c64b4', '#e8590c', '#2b8a3e', '#9c36b5', '#c2255c', '#0b7285', '#b08800', '#495057'];
const variantColor = (i: number): string => VARIANT_COLORS[i % VARIANT_COLORS.length]!;
const teamSwatch = (teams: readonly string[], name: string): string =>
  `<span class="sw" style="background:${TEAM_COLORS[teams.indexOf(name) % TEAM_COLORS.length] ?? '#868e96'}"></span>`;

// ---- the page ----

const SCALES: readonly (readonly [mode: string, label: string])[] = [
  ['log', 'log'],
  ['linear', 'linear'],
];
const HELD_MODES: readonly (readonly [mode: string, label: string])[] = [
  ['stacked', 'stacked'],
  ['lines', 'per team'],
];

/**
 * A chart slot: heading, mode buttons (the first is pressed at load), legend and an empty <svg>
 * the script draws into; `width` x `height` is its viewBox (text scales with the page).
 */
function figure(
  attrs: string,
  heading: string,
  size: readonly [width: number, height: number],
  aria: string,
  caption: string,
  modes: readonly (readonly [mode: string, label: string])[] = [],
): string {
  const seg =
    modes.length > 0
      ? `<div class="seg" role="group" aria-label="view">${modes
          .map(([mode, label]) => `<button type="button" data-mode="${mode}">${label}</button>`)
          .join('')}</div>`
      : '';
  const mode = modes.length > 0 ? ` data-mode="${modes[0]![0]}"` : '';
  return (
    `<figure class="card" ${attrs}${mode}><div class="fig-head"><h3>${heading}</h3>${seg}</div>` +
    `<div class="legend"></div>` +
    `<svg class="chart" viewBox="0 0 ${size[0]} ${size[1]}" role="img" aria-label="${escapeHtml(aria)}"></svg>` +
    `<figcaption>${caption}</figcaption></figure>`
  );
}

/**
 * The whole report.html for one variant (`arbiter simulate`) or several (`arbiter compare`).
 * Throws RangeError when `variants` is empty.
 */
export function renderReport(variants: readonly ReportVariant[], opts: ReportOptions): string {
  if (variants.length === 0) throw new RangeError('renderReport: at least one variant is needed');
  const series = variants.map((v) => computeSeries(v.result, opts.series));
  const data = reportData(
    variants.map((v, i) => ({ name: v.name, series: series[i]! })),
    opts.title,
  );
  const several = variants.length > 1;
  const title = escapeHtml(opts.title);
  const jobs = variants[0]!.result.jobs.length;
  const sameFleet = variants.every((v) => fleetText(v.result) === fleetText(variants[0]!.result));
  const fleet = `a fleet of ${count(series[0]!.fleetGpus)} GPUs (${fleetText(variants[0]!.result)})`;
  const subtitle = several
    ? `${variants.length} variants: ${variants.map((v) => escapeHtml(v.name)).join(', ')}${sameFleet ? `, on ${fleet}` : ''}`
    : `${count(jobs)} jobs on ${fleet}`;
  const horizonNote = variants.some((v) => v.result.horizon !== null)
    ? ' Runs still going at the <code>--until</code> horizon are cut there.'
    : '';

  const held = variants
    .map((v, i) =>
      figure(
        `data-chart="held" data-variant="${i}"`,
        several ? `GPUs held per team — ${escapeHtml(v.name)}` : 'GPUs held per team',
        [960, 360],
        `GPUs held per top-level team over time, ${v.name}`,
        'Stacked: each band is the GPUs held by one top-level team (its whole subtree), averaged per time bucket ' +
          `(${count(series[i]!.buckets)} buckets of ${escapeHtml(humanDuration(series[i]!.dt))}). The dashed lines are the guarantees ` +
          '(summed over flavors) stacked flat in the order of the bands: each team’s line is at the sum of the guarantees up to ' +
          'and including its own, so the highest is their total, within the fleet’s line, and the strip between a team’s line and ' +
          'the one below is its guarantee. Hover for each team’s GPUs against its guarantee. ' +
          '“Per team” draws each team on its own against a flat guarantee line. Hover for values.',
        HELD_MODES,
      ),
    )
    .join('\n');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<link rel="icon" href="data:,">
<title>${title}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${title}</h1>
<p class="sub">${subtitle}</p>
${opts.measureNote !== undefined ? `<p class="measure">${escapeHtml(opts.measureNote)}</p>` : ''}
</header>
<main>
<section id="summary">
<h2>Summary</h2>
<div class="table-wrap">${summaryTable(variants)}</div>
<p class="note">JCT (job completion time) = end − submit, over jobs that completed or timed out; wait = first start − submit, over jobs that started.
Utilization = GPU-seconds of all runs / (fleet GPUs × makespan). Lost GPU-hours: restart overheads plus work lost since the last checkpoint of preempted runs.${several ? ' <b>Bold</b>: the best value of a column.' : ''} Hover a header for its definition.</p>
<h3>Per top-level team</h3>
<div class="table-wrap">${teamTable(variants, series, data.teams)}</div>
<h3>Per leaf team</h3>
<div class="table-wrap">${leafTable(variants, series)}</div>
</section>
<section id="jct">
<h2>Job completion time</h2>
${figure('data-chart="cdf"', 'JCT distribution (CDF)', [960, 340], 'cumulative distribution of job completion times per variant', 'For each time on the horizontal axis, the share of jobs that ended (completed or timed out) within that time of being submitted. Further left and higher is better. Hover to read every variant at one time.', SCALES)}
</section>
<section id="held">
<h2>GPUs held against the guarantees</h2>
${held}
</section>
<section id="queue">
<h2>Queue and utilization</h2>
<div class="pair">
${figure('data-chart="queue"', 'Queue length', [560, 330], 'pending jobs over time per variant', `Jobs waiting to start or to restart after a preemption, averaged per time bucket.${horizonNote}`)}
${figure('data-chart="util"', 'Utilization', [560, 330], 'share of the fleet in use over time per variant', 'GPUs held by running jobs as a share of the fleet, averaged per time bucket.')}
</div>
</section>
<section id="waits">
<h2>Wait per team</h2>
${figure('data-chart="waits"', 'Wait distribution per top-level team', [960, 380], 'wait quantiles per top-level team', 'Wait from submit to first start of the jobs that started, per top-level team (its whole subtree). Hover a box for its numbers.', SCALES)}
</section>
</main>
<footer>Generated by Arbiter. This page is self-contained: it works offline and loads nothing.</footer>
<noscript><p class="noscript">The charts need JavaScript; the tables above do not.</p></noscript>
<div id="tip" class="tip" hidden></div>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${CLIENT_SCRIPT}</script>
</body>
</html>
`;
}

/** "h100 ×192, a100 ×64": GPUs per flavor in pool order. */
function fleetText(result: SimulationResult): string {
  const byFlavor = new Map<string, number>();
  for (const p of result.fleet.pools) byFlavor.set(p.flavor, (byFlavor.get(p.flavor) ?? 0) + p.nodes * p.gpusPerNode);
  return [...byFlavor].map(([f, g]) => `${escapeHtml(f)} ×${count(g)}`).join(', ');
}

const CSS = `
:root{--fg:#212529;--muted:#5c646c;--line:#dee2e6;--bg:#f6f7f9;--card:#fff;--accent:#1c64b4}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 24px}
header{padding-top:28px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:18px 0 8px}
.sub{color:var(--muted);margin:0}
.measure{margin:8px 0 0;padding:6px 10px;background:#fff4e6;border-left:3px solid #f08c00;display:inline-block}
.note,figcaption{color:var(--muted);font-size:13px;margin:8px 0 0;max-width:900px}
.table-wrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:7px 6px;text-align:right;white-space:nowrap;border-bottom:1px solid var(--line)}
thead th{vertical-align:bottom}
th[scope=row],td.variant{white-space:normal;overflow-wrap:anywhere;min-width:130px;max-width:320px}
tbody tr:last-child>*{border-bottom:none}
table.teams tbody tr:not(.group)>*{border-top:none}
table.teams tbody tr.group>*{border-top:2px solid var(--line)}
thead th{background:#f1f3f5;font-weight:600;font-size:12px;cursor:help}
th[scope=row],td.variant{text-align:left;font-weight:600}
th:first-child,td:first-child{padding-left:10px}
th:last-child,td:last-child{padding-right:10px}
td.variant{font-weight:400}
th:first-child,thead th.left{text-align:left}
td.best{font-weight:700;color:#0b7a34}
td.na{color:#adb5bd}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px;border:1.5px solid transparent}
.sw.line{height:0;border-width:0;border-top:3px solid;border-radius:0;width:16px;vertical-align:3px}
.sw.dashed{height:0;border-width:0;border-top:2px dashed;border-radius:0;width:18px;vertical-align:3px;background:transparent}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:0 0 18px;padding:12px 16px 14px}
.fig-head{display:flex;align-items:center;justify-content:space-between;gap:12px}
.fig-head h3{margin:2px 0 6px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12.5px;margin:0 0 4px;min-height:18px}
.legend-item{display:inline-flex;align-items:center}
.legend-note{color:var(--muted)}
.seg{display:inline-flex;border:1px solid var(--line);border-radius:6px;overflow:hidden}
.seg button{font:inherit;font-size:12px;border:0;background:#fff;padding:3px 10px;cursor:pointer;color:var(--muted)}
.seg button[aria-pressed=true]{background:var(--accent);color:#fff}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:18px}
.pair .card{margin:0}
@media (max-width:900px){.pair{grid-template-columns:1fr}}
svg.chart{display:block;width:100%;height:auto;overflow:visible}
svg .grid{stroke:#e9ecef;stroke-width:1}
svg .axis{stroke:#868e96;stroke-width:1}
svg .tick{font-size:12px;fill:#5c646c}
svg .cat{font-size:13px;fill:#212529}
svg .axis-label{font-size:12.5px;fill:#343a40}
svg .empty{font-size:14px;fill:#868e96}
svg .line{fill:none;stroke-width:2.2;stroke-linejoin:round}
svg .line.thin{stroke-width:1.6}
svg .band{fill-opacity:.78;stroke:none}
svg .band.light{fill-opacity:.14}
svg .guarantee{fill:none;stroke-width:1.8;stroke-dasharray:7 5}
svg .fleet{stroke:#212529;stroke-width:1.2}
svg .fleet-label{font-size:12px;fill:#212529}
svg .cross{stroke:#495057;stroke-width:1;stroke-dasharray:3 3;pointer-events:none}
svg .hover,svg .hit{fill:transparent;pointer-events:all}
svg .whisker{stroke-width:1.6}
svg .iqr{fill-opacity:.35;stroke-width:1.6}
svg .median{stroke-width:2.6}
svg .p99{fill:#fff;stroke-width:1.6}
svg .box:hover .iqr{fill-opacity:.55}
.tip{position:fixed;z-index:10;pointer-events:none;background:rgba(33,37,41,.94);color:#fff;border-radius:6px;padding:7px 10px;font-size:12.5px;max-width:460px;box-shadow:0 2px 10px rgba(0,0,0,.2)}
.tip[hidden]{display:none}
.tip-head{font-weight:600;margin-bottom:3px}
.tip .sw{border-color:#fff}
.tip .sw.dashed{border-top:2px dashed}
footer{color:var(--muted);font-size:12px;padding:24px 24px 40px}
.noscript{max-width:1200px;margin:0 auto;padding:0 24px;color:#c92a2a}
code{font-size:12.5px;background:#f1f3f5;padding:1px 4px;border-radius:3px}
`;
