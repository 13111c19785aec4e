// Differential test: the engine against its frozen reference (test/reference-engine/, the engine
// before the scaling work of issue 12). Speed work may change how a pass finds its decisions,
// never the decisions: on random worlds, on generated labs of many teams (calm, congested and
// all-at-once arrivals) and on excerpts of real traces, both must decide the same at every pass
// (started jobs in order, each victim and whom it made room for, the reservation, and with
// --explain every pending job's reason) and write byte-identical jobs.csv, segments.csv and
// summary.json.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeJobs, makeLab } from '../bench/synthetic/lab.js';
import type { PassResult } from '../src/core/engine.js';
import { parseCluster } from '../src/core/config/cluster.js';
import { parsePolicy } from '../src/core/config/policy.js';
import { parseTrace } from '../src/core/config/trace.js';
import type { Fleet, JobSpec, Policy, Result, TeamSpec } from '../src/core/model.js';
import { summarize } from '../src/sim/metrics.js';
import { renderJobsCsv, renderSegmentsCsv, renderSummaryJson } from '../src/sim/outputs.js';
import type { ExplainLine, SimulateOptions } from '../src/sim/simulator.js';
import { simulate } from '../src/sim/simulator.js';
import type { SimulationResult } from '../src/sim/types.js';
import { importTrace } from '../src/traces/index.js';
import { simulate as simulateReference } from './reference-engine/simulator.js';
import { fleet as makeFleet, policy as makePolicy, pool, team } from './builders.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string): string => readFileSync(path.join(repo, file), 'utf8');

function value<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
}

/** What a pass decided, as one line. */
function passLine(r: PassResult): string {
  const res = r.reservation;
  const reservation = res === null ? '-' : `${res.job}@${res.flavor}[${res.nodes.join(' ')}]${res.expectedStart ?? 'unknown'}`;
  return `${r.now} start ${r.started.join(' ')} preempt ${r.preempted.map((p) => `${p.job}>${p.by}`).join(' ')} reserve ${reservation}`;
}

interface Run {
  readonly passes: string[];
  readonly explained: string[];
  readonly files: string;
}

function run(sim: typeof simulate, fleet: Fleet, policy: Policy, trace: readonly JobSpec[], explain: boolean): Run {
  const passes: string[] = [];
  const explained: string[] = [];
  const options: SimulateOptions = {
    onPass: (_engine, result) => void passes.push(passLine(result)),
    ...(explain ? { explain: 'every-pass', onExplain: (lines: readonly ExplainLine[]) => void explained.push(...lines.map((l) => `${l.time} ${l.job} ${l.message} ${l.expectedStart}`)) } : {}),
  };
  const result: SimulationResult = sim(fleet, policy, trace, options);
  const files = [renderJobsCsv(result), renderSegmentsCsv(result), renderSummaryJson(summarize(result))].join('\n----\n');
  return { passes, explained, files };
}

/** Runs both engines and compares pass by pass, then the files. */
function expectSameDecisions(fleet: Fleet, policy: Policy, trace: readonly JobSpec[], explain = false): number {
  const now = run(simulate, fleet, policy, trace, explain);
  // The reference simulator shares the result types; its onPass hands over the reference Engine.
  const ref = run(simulateReference as unknown as typeof simulate, fleet, policy, trace, explain);
  const n = Math.min(now.passes.length, ref.passes.length);
  for (let i = 0; i < n; i++) if (now.passes[i] !== ref.passes[i]) expect(`pass ${i}: ${now.passes[i]}`).toBe(`pass ${i}: ${ref.passes[i]}`);
  expect(now.passes.length).toBe(ref.passes.length);
  if (explain) expect(now.explained).toEqual(ref.explained);
  expect(now.files).toBe(ref.files);
  return now.passes.length;
}

// ------------------------------------------------------------------ random worlds

interface RawTeam {
  readonly g: readonly number[];
  readonly lim: readonly (number | null)[];
  readonly lend: readonly (number | null)[];
  readonly w: number;
  readonly kids: readonly RawTeam[];
}

const rawTeam = (depth: number, maxDepth: number): fc.Arbitrary<RawTeam> =>
  fc.record({
    g: fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 2, maxLength: 2 }),
    lim: fc.array(fc.option(fc.integer({ min: 0, max: 24 }), { nil: null, freq: 3 }), { minLength: 2, maxLength: 2 }),
    lend: fc.array(fc.option(fc.integer({ min: 0, max: 100 }), { nil: null, freq: 2 }), { minLength: 2, maxLength: 2 }),
    w: fc.integer({ min: 1, max: 4 }),
    kids: depth >= maxDepth ? fc.constant([]) : fc.array(rawTeam(depth + 1, maxDepth), { maxLength: 4 }),
  });

const FLAVORS = ['h100', 'a100'];

/** Guarantees nested validly: siblings share their parent's guarantee (the fleet at the top). */
function buildTeams(raw: readonly RawTeam[], budget: Map<string, number>, flavors: readonly string[], counter: { n: number }): TeamSpec[] {
  const sums = flavors.map((f) => raw.reduce((s, r) => s + r.g[FLAVORS.indexOf(f)]!, 0));
  return raw.map((r) => {
    const name = `t${counter.n++}`;
    const guarantee: Record<string, number> = {};
    const limit: Record<string, number> = {};
    const lendable: Record<string, number> = {};
    flavors.forEach((f, i) => {
      const fi = FLAVORS.indexOf(f);
      const g = Math.floor(((budget.get(f) ?? 0) * r.g[fi]!) / Math.max(100, sums[i]!));
      guarantee[f] = g;
      const lim = r.lim[fi];
      if (lim !== null && lim !== undefined) limit[f] = g + lim;
      const lend = r.lend[fi];
      lendable[f] = lend !== null && lend !== undefined ? Math.floor((g * lend) / 100) : g;
    });
    const children = buildTeams(r.kids, new Map(Object.entries(guarantee)), flavors, counter);
    return team(name, guarantee, { limit, lendable, weight: r.w, children });
  });
}

interface Case {
  readonly fleet: Fleet;
  readonly policy: Policy;
  readonly trace: JobSpec[];
}

/** Fleets of up to 40 nodes, trees of up to ~60 leaves, traces of up to 150 jobs arriving faster than they run. */
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    pools: fc.array(
      fc.record({ flavor: fc.integer({ min: 0, max: 1 }), nodes: fc.integer({ min: 1, max: 20 }), size: fc.constantFrom(2, 4, 8), rack: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }) }),
      { minLength: 1, maxLength: 3 },
    ),
    teams: fc.array(rawTeam(1, 3), { minLength: 1, maxLength: 4 }),
    knobs: fc.record({
      minRuntime: fc.constantFrom(0, 30, 300, 600),
      restartOverhead: fc.integer({ min: 0, max: 30 }),
      withinTeam: fc.boolean(),
      borrowing: fc.constantFrom<'lowerPriority' | 'never'>('lowerPriority', 'never'),
      fairShare: fc.boolean(),
      order: fc.constantFrom<'fifo' | 'las'>('fifo', 'las'),
      halfLife: fc.constantFrom(600, 3600, 7 * 86400),
    }),
    spacing: fc.constantFrom(0, 5, 30, 120),
    jobs: fc.array(
      fc.record({
        team: fc.nat(),
        gpus: fc.constantFrom(1, 1, 2, 2, 4, 4, 8, 8, 16, 24, 32, 3),
        cls: fc.constantFrom('serving', 'training', 'research', 'research', 'opportunistic'),
        flavor: fc.option(fc.nat(), { nil: null, freq: 3 }),
        duration: fc.integer({ min: 1, max: 3000 }),
        timeLimit: fc.option(fc.integer({ min: 1, max: 4000 }), { nil: null }),
        jitter: fc.integer({ min: 0, max: 10 }),
      }),
      { minLength: 10, maxLength: 150 },
    ),
  })
  .map(({ pools, teams, knobs, spacing, jobs }) => {
    const fleet = makeFleet(...pools.map((p, i) => pool(`p${i}`, FLAVORS[p.flavor]!, p.nodes, p.size, p.rack)));
    const flavors = [...new Set(fleet.pools.map((p) => p.flavor))];
    const capacity = new Map<string, number>();
    for (const p of fleet.pools) capacity.set(p.flavor, (capacity.get(p.flavor) ?? 0) + p.nodes * p.gpusPerNode);
    const tree = buildTeams(teams, capacity, flavors, { n: 0 });
    const leaves: string[] = [];
    const collect = (t: TeamSpec): void => (t.children.length === 0 ? void leaves.push(t.name) : t.children.forEach(collect));
    tree.forEach(collect);
    const policy = makePolicy(tree, {
      preemption: { minRuntime: knobs.minRuntime, restartOverhead: knobs.restartOverhead, withinTeam: knobs.withinTeam, borrowing: knobs.borrowing, fairShare: knobs.fairShare },
      withinTeam: knobs.order,
      halfLife: knobs.halfLife,
    });
    const trace: JobSpec[] = jobs.map((j, i) => ({
      id: `j${i}`,
      submit: i * spacing + j.jitter,
      team: leaves[j.team % leaves.length]!,
      gpus: j.gpus,
      duration: j.duration,
      class: j.cls,
      flavor: j.flavor === null ? null : flavors[j.flavor % flavors.length]!,
      timeLimit: j.timeLimit,
      checkpointInterval: null,
    }));
    return { fleet, policy, trace };
  });

const RUNS = Number(process.env.PROPERTY_RUNS ?? 150);
const SEED = process.env.PROPERTY_SEED === undefined ? undefined : Number(process.env.PROPERTY_SEED);

describe('the engine decides exactly as the reference engine', () => {
  it('on random worlds (fleets, team trees, policies, congested traces), pass by pass', () => {
    fc.assert(
      fc.property(caseArb, (c) => void expectSameDecisions(c.fleet, c.policy, c.trace)),
      { numRuns: RUNS, seed: SEED ?? 1201 },
    );
  });

  it('on random worlds with every pending job explained at every pass (reasons included)', () => {
    fc.assert(
      fc.property(caseArb, (c) => void expectSameDecisions(c.fleet, c.policy, c.trace, true)),
      { numRuns: Math.ceil(RUNS / 3), seed: SEED ?? 1202 },
    );
  });

  // A generated lab of many teams in three levels (bench/synthetic/lab.ts): the tournament,
  // the early exit and victim searches with hundreds of teams.
  const lab = makeLab({ nodes: 48, divisions: 4, groups: 4, leaves: 6, flavors: 2, seed: 5 });
  it.each([
    ['offered load 1.1', { kind: 'poisson', load: 1.1 } as const, 1500],
    ['offered load 3 (congested)', { kind: 'poisson', load: 3 } as const, 1500],
    ['all at one instant (the burst)', { kind: 'at', time: 0 } as const, 800],
  ])('on a generated lab of 96 leaf teams, %s', (_name, arrivals, count) => {
    const trace = makeJobs(lab, count, { seed: 9, arrivals });
    expect(expectSameDecisions(lab.fleet, lab.policy, trace)).toBeGreaterThan(100);
  });

  // The example lab with a congested trace: jobs every 30 s, far more than the fleet runs.
  it('on the example lab with a congested trace (the impact analysis worst case)', () => {
    const fleet = value(parseCluster(read('examples/lab/cluster.yaml'), 'cluster.yaml'));
    const policy = value(parsePolicy(read('examples/lab/policy.yaml'), 'policy.yaml', fleet));
    const kinds: [string, string, number[], string | null][] = [
      ['pretraining', 'training', [8, 16], 'h100'],
      ['pretraining', 'research', [1, 2, 4, 8], null],
      ['alignment', 'research', [1, 2, 4], null],
      ['interp', 'research', [1, 2, 4, 8], 'a100'],
      ['evals', 'research', [1, 2, 4, 8], null],
      ['serving', 'serving', [4, 8], 'h100'],
    ];
    const rand = fc.sample(fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 600, max: 15000 }), fc.boolean()), { minLength: 1200, maxLength: 1200 }), { numRuns: 1, seed: 7 })[0]!;
    const trace: JobSpec[] = rand.map(([k, s, duration, limited], i) => {
      const [t, cls, sizes, flavor] = kinds[k % kinds.length]!;
      return { id: `j${i}`, submit: (i + 1) * 30, team: t, gpus: sizes[s % sizes.length]!, duration, class: cls, flavor, timeLimit: limited ? duration * 2 : null, checkpointInterval: null };
    });
    expect(expectSameDecisions(fleet, policy, trace)).toBeGreaterThan(1000);
    expectSameDecisions(fleet, policy, trace.slice(0, 300), true);
  });

  // Excerpts of real traces (test/fixtures/traces), on the benchmarks' fleets and policies; the
  // Philly excerpt also compressed 20 times in time, so that its queues build up.
  it.each([
    ['the Philly excerpt', 1],
    ['the Philly excerpt, arrivals 20x faster', 20],
  ])('on %s', (_name, speedup) => {
    const fleet = value(parseCluster(read('bench/philly/cluster.yaml'), 'cluster.yaml'));
    const policy = value(parsePolicy(read('bench/philly/policy.yaml'), 'policy.yaml', fleet));
    const imported = importTrace('philly', read('test/fixtures/traces/philly/philly_jobs_82k.excerpt.csv'), 'philly.csv', {});
    const trace = value(parseTrace(imported.csv, 'philly.csv', policy, fleet));
    const first = Math.min(...trace.map((j) => j.submit));
    const faster = trace.map((j) => ({ ...j, submit: first + Math.floor((j.submit - first) / speedup) }));
    expect(expectSameDecisions(fleet, policy, faster)).toBeGreaterThan(1000);
  });

  it('on the Gavel excerpt', () => {
    const fleet = value(parseCluster(read('bench/gavel/cluster.yaml'), 'cluster.yaml'));
    const policy = value(parsePolicy(read('bench/gavel/policy.yaml'), 'policy.yaml', fleet));
    const imported = importTrace('gavel', read('test/fixtures/traces/gavel_osdi20/gavel_continuous_single_seed0.excerpt.csv'), 'gavel.csv', { jobsPerHour: 6 });
    const trace = value(parseTrace(imported.csv, 'gavel.csv', policy, fleet));
    expect(expectSameDecisions(fleet, policy, trace)).toBeGreaterThan(500);
  });
});
