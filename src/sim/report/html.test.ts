import { Script } from 'node:vm';
import { describe, expect, test } from 'vitest';
import type { Policy } from '../../core/model.js';
import { summarize, type Summary } from '../metrics.js';
import { policy, sampleResult, team } from '../test-fixtures.js';
import type { SimulationResult } from '../types.js';
import { CLIENT_SCRIPT } from './client.js';
import { escapeHtml, jsonForScript, renderReport, type ReportData, type ReportVariant } from './html.js';

const HOSTILE = '</script><script>alert("x")</script><!--';

/** The sample result with top-level team "applied" renamed to `name` (policy and jobs). */
function renamed(name: string): SimulationResult {
  const base = sampleResult();
  const p: Policy = policy([base.policy.teams[0]!, team(name, [], { h100: 2 })]);
  return {
    ...base,
    policy: p,
    jobs: base.jobs.map((j) => (j.spec.team === 'applied' ? { ...j, spec: { ...j.spec, team: name } } : j)),
  };
}

function variant(name: string, result: SimulationResult = sampleResult()): ReportVariant {
  return { name, result, summary: summarize(result) };
}

/** The JSON data block of a rendered page. */
function dataOf(html: string): ReportData {
  const open = '<script type="application/json" id="report-data">';
  const start = html.indexOf(open);
  const end = html.indexOf('</script>', start);
  expect(start).toBeGreaterThan(0);
  return JSON.parse(html.slice(start + open.length, end)) as ReportData;
}

describe('escapeHtml and jsonForScript', () => {
  test('escapeHtml makes markup inert in text and attributes', () => {
    expect(escapeHtml(`<a href="x" title='y'>&amp;</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;',
    );
  });

  test('jsonForScript is the same JSON value with no <, > or & and no raw line separators', () => {
    const value = { team: HOSTILE, sep: 'a\u2028b\u2029c', amp: 'R&D' };
    const json = jsonForScript(value);
    expect(json).not.toMatch(/[<>&\u2028\u2029]/);
    expect(json).toContain('\\u003c/script\\u003e');
    expect(JSON.parse(json)).toEqual(value);
  });
});

describe('renderReport', () => {
  test('one variant: the whole page with the series as JSON data', () => {
    const html = renderReport([variant('policy.yaml')], { title: 'Sample run' });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<title>Sample run</title>');
    const data = dataOf(html);
    expect(data.title).toBe('Sample run');
    expect(data.teams).toEqual(['research', 'applied']);
    expect(data.variants).toHaveLength(1);
    const v = data.variants[0]!;
    expect([v.name, v.t0, v.dt, v.buckets, v.fleetGpus]).toEqual(['policy.yaml', 0, 1, 280, 8]);
    expect(v.cdf).toEqual({ jct: [20, 110, 275], p: [0.33333, 0.66667, 1], n: 3 });
    expect(v.teams.map((t) => [t.name, t.guarantee, t.held.length])).toEqual([
      ['research', 6, 280],
      ['applied', 2, 280],
    ]);
    expect(v.teams[0]!.held.slice(8, 22)).toEqual([0, 0, ...Array<number>(10).fill(4), 8, 8]);
    // Pending in [2, 3): j1 only; [5, 6): j1 and j2; [101, 102): j2 (preempted) and j5.
    expect([v.queue[2], v.queue[5], v.queue[101]]).toEqual([1, 2, 2]);
    expect(v.util[50]).toBe(1);
    expect(v.allWaits.p50).toBe(10);
    // One chart slot of each kind, one "GPUs held" per variant.
    expect(html.match(/data-chart="[a-z]+"/g)).toEqual([
      'data-chart="cdf"',
      'data-chart="held"',
      'data-chart="queue"',
      'data-chart="util"',
      'data-chart="waits"',
    ]);
    // The inline script at least parses (compiled, not run; the browser test runs it).
    expect(() => new Script(CLIENT_SCRIPT)).not.toThrow();
  });

  test('the page names no URL and loads nothing: no http(s), no src, only a data: icon, a CSP forbidding the rest', () => {
    const html = renderReport([variant('a'), variant('b')], { title: 'x' });
    expect(html).not.toMatch(/https?:/i);
    expect(html).not.toMatch(/\/\/[a-z0-9-]+\.[a-z]/i); // no protocol-relative URL either
    expect(html).not.toMatch(/\bsrc\s*=|@import|url\(/i);
    expect(html.match(/\bhref\s*=\s*"[^"]*"/gi)).toEqual(['href="data:,"']);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"`);
  });

  test('a hostile team name, variant name, title and note stay text: escaped in HTML, inert in the JSON', () => {
    const html = renderReport([variant(HOSTILE, renamed(HOSTILE))], { title: `T ${HOSTILE}`, measureNote: `N ${HOSTILE}` });
    // Exactly our two scripts open and close; no comment is opened by user text.
    expect(html.match(/<script/g)).toHaveLength(2);
    expect(html.match(/<\/script>/g)).toHaveLength(2);
    expect(html).not.toContain('<!--');
    const escaped = escapeHtml(HOSTILE);
    expect(html).toContain(`<title>T ${escaped}</title>`);
    expect(html).toContain(`<p class="measure">N ${escaped}</p>`);
    expect(html).toContain(`</span>${escaped}</th>`); // summary row and team table row
    const data = dataOf(html);
    expect(data.teams).toEqual(['research', HOSTILE]);
    expect(data.variants[0]!.name).toBe(HOSTILE);
    expect(data.variants[0]!.waits.map((w) => w.team)).toEqual(['research', HOSTILE]);
  });

  test('the comparison table: one row per variant, humanized figures, best values marked, extra summary keys as columns', () => {
    const a = variant('baseline');
    const slower: Summary = { ...a.summary, avgJct: a.summary.avgJct + 3600 };
    const withExtras = { ...slower, fairness: { jain: 0.93, maxMin: 0.5 }, slowdown: 1.25, note: 'ignored' };
    const html = renderReport([a, { name: 'fair', result: a.result, summary: withExtras }], { title: 'Compare' });
    const table = html.slice(html.indexOf('<table class="summary">'), html.indexOf('</table>'));
    expect(table.match(/<tr>/g)).toHaveLength(3);
    for (const head of ['Avg JCT', 'p50 JCT', 'p99 JCT', 'Avg wait', 'p99 wait', 'Utilization', 'Preemptions', 'Lost GPU-h', 'fairness.jain', 'fairness.maxMin', 'slowdown']) {
      expect(table).toContain(`>${head}</th>`);
    }
    expect(table).not.toContain('>note</th>');
    // avg JCT (110 + 275 + 20) / 3 = 135 s; the other variant's is an hour more. Lower is better.
    expect(table).toContain('<td class="best" title="135">2m 15s</td>');
    expect(table).toContain('<td title="3735">1h 2m</td>');
    // The first variant has no extras: a dash.
    expect(table).toContain('<td title="0.93">0.93</td>');
    expect(table).toContain('<td class="na">–</td>');
    // Utilization 1400 / (8 x 280) = 62.5%; equal in both rows, so neither is marked.
    expect(table.match(/<td title="0.625">62.5%<\/td>/g)).toHaveLength(2);
  });

  test('several variants: one GPUs-held chart each, teams of all variants get a color', () => {
    const html = renderReport([variant('a'), variant('b', renamed('product'))], { title: 'x' });
    expect(html.match(/data-chart="held" data-variant="\d"/g)).toEqual([
      'data-chart="held" data-variant="0"',
      'data-chart="held" data-variant="1"',
    ]);
    expect(dataOf(html).teams).toEqual(['research', 'applied', 'product']);
    expect(html).toContain('2 variants: a, b');
  });

  test('no variant is an error', () => {
    expect(() => renderReport([], { title: 'x' })).toThrow(RangeError);
  });
});
