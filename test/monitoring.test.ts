// The shipped monitoring (monitoring/, docs/monitoring.md): the alert rules pass promtool's
// checks and unit tests; a real Prometheus on loopback scrapes a real Arbiter server and fires
// ArbiterTeamWaitingInsideGuarantee when a team waits inside its guarantee; the Grafana
// dashboard and the rules reference only metrics the server exposes.
// promtool and prometheus come from Debian's `prometheus` package (.ci/run installs it): missing
// is a failure, not a skip.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { api, assertDistFresh, repoRoot, startServer, stopAllServers, tempDir, waitFor, writeFile, type Server } from './server-harness.js';

const RULES = path.join(repoRoot, 'monitoring/prometheus/arbiter-rules.yaml');
const DASHBOARD = path.join(repoRoot, 'monitoring/grafana/arbiter-dashboard.json');
const PROMTOOL = '/usr/bin/promtool';
const PROMETHEUS = '/usr/bin/prometheus';

function need(binary: string): void {
  if (!existsSync(binary)) throw new Error(`${binary} not found: install Debian's prometheus package (apt-get install prometheus; .ci/run does it)`);
}

/**
 * The metric names a PromQL expression reads: identifiers outside strings, label matchers,
 * ranges and grouping clauses that are neither functions, keywords nor Grafana variables.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\boffset\s+-?\w+/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*(?=\s*(\()?)/g)) {
    if (m[1] === '(' || KEYWORDS.has(m[0].toLowerCase())) continue;
    if (/^\d/.test(m[0])) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** Every series name /metrics can expose: the families of its # TYPE lines (histograms with their suffixes). */
function exposed(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    names.add(name!);
    if (type === 'histogram' || type === 'summary') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name!}${suffix}`);
  }
  return names;
}

/** Every PromQL expression of the dashboard: panel targets and query variables. */
function dashboardExprs(): string[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: { targets?: { expr: string }[]; panels?: { targets?: { expr: string }[] }[] }[];
    templating: { list: { type: string; query?: { query: string } | string }[] };
  };
  const exprs: string[] = [];
  const visit = (panels: typeof dashboard.panels): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) exprs.push(t.expr);
      if (p.panels) visit(p.panels);
    }
  };
  visit(dashboard.panels);
  for (const v of dashboard.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query ?? '';
    // label_values(metric{...}, label): the metric is the first argument.
    exprs.push(q.replace(/^label_values\((.*),\s*\w+\)$/, '$1'));
  }
  return exprs;
}

function ruleExprs(): { alert: string; expr: string }[] {
  const rules = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return rules.groups.flatMap((g) => g.rules);
}

describe('promtool', () => {
  it('check rules: the rules file is valid', () => {
    need(PROMTOOL);
    const run = spawnSync(PROMTOOL, ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(run.stdout + run.stderr).toMatch(/SUCCESS: 8 rules found/);
    expect(run.status).toBe(0);
  });
  it('test rules: every alert fires, and only, when its unit tests say', () => {
    need(PROMTOOL);
    const run = spawnSync(PROMTOOL, ['test', 'rules', 'arbiter-rules.test.yaml'], { cwd: path.dirname(RULES), encoding: 'utf8' });
    expect(run.stdout + run.stderr).toMatch(/SUCCESS/);
    expect(run.status).toBe(0);
    // Every alert of the file has a unit test.
    const tests = readFileSync(path.join(path.dirname(RULES), 'arbiter-rules.test.yaml'), 'utf8');
    for (const { alert } of ruleExprs()) expect(tests).toContain(`alertname: ${alert}`);
  });
});

describe('metric names in PromQL', () => {
  it('finds metric names and leaves functions, labels, ranges, variables and keywords out', () => {
    expect(metricNames('histogram_quantile(0.9, sum by (instance, le) (rate(arbiter_x_bucket{instance=~"$instance", a="b{c}"}[$__rate_interval])))')).toEqual(['arbiter_x_bucket']);
    expect(metricNames('max by (team) (arbiter_a) > on (instance) group_left () (max by (instance) (arbiter_b) + 10) or time() - up{job="x"} unless arbiter_c offset 5m')).toEqual(['arbiter_a', 'arbiter_b', 'up', 'arbiter_c']);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe('a real Prometheus scraping a real Arbiter server', () => {
  let server: Server;
  let prometheus: ChildProcess | undefined;
  let promLog = '';
  let promUrl = '';

  beforeAll(async () => {
    assertDistFresh();
    need(PROMETHEUS);
    const dir = tempDir('arbiter-monitoring-');
    // Two nodes of 8; beta may borrow the whole fleet. minRuntime 2 s: the rule fires once a
    // job inside beta's guarantee has waited over 12 s.
    const cluster = writeFile(dir, 'cluster.yaml', 'pools:\n  - { name: p, flavor: gpu, nodes: 2, gpusPerNode: 8 }\n');
    const policy = writeFile(
      dir,
      'policy.yaml',
      'preemption: { minRuntime: 2s }\nteams:\n  - { name: alpha, guarantee: { gpu: 8 } }\n  - { name: beta, guarantee: { gpu: 8 }, limit: { gpu: 16 } }\n',
    );
    server = await startServer(path.join(dir, 'data'), { args: ['--cluster', cluster, '--policy', policy] });
    const tokenFile = writeFile(dir, 'token', server.adminToken);
    const target = new URL(server.url).host;
    const config = writeFile(
      dir,
      'prometheus.yml',
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: [${JSON.stringify(RULES)}]`,
        'scrape_configs:',
        '  - job_name: arbiter',
        `    authorization: { credentials_file: ${JSON.stringify(tokenFile)} }`,
        `    static_configs: [{ targets: [${JSON.stringify(target)}] }]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer): void => {
      promLog = (promLog + b.toString('utf8')).slice(-20_000);
    };
    prometheus.stdout?.on('data', keep);
    prometheus.stderr?.on('data', keep);
    await waitFor(async () => (await fetch(`${promUrl}/-/ready`)).ok, `Prometheus ready:\n${promLog}`, 20_000, 200);
  }, 60_000);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus!.once('exit', r));
      prometheus.kill('SIGTERM');
      await exited;
    }
    await stopAllServers();
  });

  it('fires ArbiterTeamWaitingInsideGuarantee for beta (and not alpha) once its guaranteed job waits longer than minRuntime', async () => {
    const client = api(server);
    // alpha holds its 8; beta's 16-GPU job reserves the idle node; beta's 4-GPU job, inside its
    // guarantee, waits behind that reservation (nothing beta may reclaim: alpha does not borrow).
    for (const [team, gpus] of [['alpha', 8], ['beta', 16], ['beta', 4]] as const) {
      const r = await client.post('/v1/jobs', { team, gpus, duration: 3600 });
      expect(r.status).toBe(201);
    }
    const alerts = async (): Promise<{ labels: Record<string, string>; state: string }[]> => {
      const r = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } };
      return r.data.alerts.filter((a) => a.labels.alertname === 'ArbiterTeamWaitingInsideGuarantee');
    };
    // Scraped, and not yet firing: the wait is still under minRuntime + 10 s.
    await waitFor(async () => {
      const r = (await (await fetch(`${promUrl}/api/v1/query?query=arbiter_team_guaranteed_wait_seconds{team="beta"}`)).json()) as { data: { result: { value: [number, string] }[] } };
      return r.data.result.length === 1 && Number(r.data.result[0]!.value[1]) > 0;
    }, `Prometheus to scrape Arbiter:\n${promLog}`, 15_000, 250);
    expect(await alerts()).toEqual([]);
    const firing = await waitFor(async () => {
      const a = await alerts();
      return a.length > 0 ? a : null;
    }, `the alert to fire:\n${promLog}`, 30_000, 500);
    expect(firing.map((a) => [a.labels.team, a.state])).toEqual([['beta', 'firing']]);
  }, 60_000);

  it('the dashboard and the rules read only metrics the server exposes', async () => {
    const r = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.adminToken}` } });
    const names = exposed(await r.text());
    const dashboard = dashboardExprs().flatMap(metricNames);
    expect(new Set(dashboard).size).toBeGreaterThan(20);
    expect(dashboard.filter((n) => !names.has(n))).toEqual([]);
    // `up` is Prometheus's own, for ArbiterDown.
    const rules = ruleExprs().flatMap((r) => metricNames(r.expr));
    expect(rules.filter((n) => n !== 'up' && !names.has(n))).toEqual([]);
    // And every Arbiter metric follows the naming conventions: arbiter_ prefix, base units,
    // _total for counters.
    for (const m of (await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.adminToken}` } })).text()).matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      expect(m[1]).toMatch(/^arbiter_/);
      if (m[2] === 'counter') expect(m[1]).toMatch(/_total$/);
      expect(m[1]).not.toMatch(/_(ms|milliseconds|minutes|hours)(_|$)/);
    }
  });
});
