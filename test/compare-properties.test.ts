// Properties of every variant `arbiter compare` runs (the Arbiter policy and the fifo, static,
// las, las-with-rounds and srtf baselines): whatever decides when jobs run, the physical rules
// hold. On random fleets, team trees and traces, each SimulationResult is checked from the
// record alone, recomputing from the spec:
// - capacity over time: no node ever holds more GPUs than it has (sweep of every node's runs;
//   a run ending at t frees its GPUs before one starting at t takes them) (M1);
// - shapes and flavors: a run is on its job's flavor, on nodes of that flavor, one node when
//   the job fits one, else whole nodes of one size (S1, S2);
// - progress (M6): replaying the runs of each job with restart overheads, checkpoints and
//   duration@flavor fractions gives each run's outcome, end and lost GPU-seconds; time limits;
// - the record: runs of a job never overlap or start before its submit (M7), statuses, counts,
//   and every job keeps its own spec (team and class) in the outputs;
// - rejections: las and srtf reject exactly the jobs with no valid shape on any usable flavor.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Fleet, JobSpec, Policy, TeamSpec } from '../src/core/model.js';
import { BASELINES, runBaseline } from '../src/sim/baselines/index.js';
import { compareVariants, type Variant } from '../src/sim/compare.js';
import { simulate } from '../src/sim/simulator.js';
import type { SimulationResult } from '../src/sim/types.js';
import { DEFAULT_CLASSES, fleet as makeFleet, policy as makePolicy, pool, team } from './builders.js';

interface Case {
  readonly fleet: Fleet;
  readonly policy: Policy;
  readonly trace: JobSpec[];
  /** Seconds of a las round. */
  readonly round: number;
}

const FLAVORS = ['h100', 'a100'];

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    pools: fc.array(fc.record({ flavor: fc.nat(1), nodes: fc.integer({ min: 1, max: 3 }), size: fc.constantFrom(2, 4, 8) }), {
      minLength: 1,
      maxLength: 3,
    }),
    shares: fc.array(fc.double({ min: 0, max: 0.5, noNaN: true }), { minLength: 4, maxLength: 4 }),
    overhead: fc.constantFrom(0, 5, 30),
    checkpoint: fc.constantFrom(0, 20, 100),
    jobs: fc.array(
      fc.record({
        submit: fc.integer({ min: 0, max: 400 }),
        team: fc.nat(2),
        gpus: fc.constantFrom(1, 2, 3, 4, 6, 8, 12, 16, 24),
        duration: fc.integer({ min: 1, max: 500 }),
        cls: fc.constantFrom(...DEFAULT_CLASSES.map((c) => c.name)),
        flavor: fc.option(fc.nat(1), { nil: null }),
        timeLimit: fc.option(fc.integer({ min: 1, max: 600 }), { nil: null }),
        checkpoint: fc.option(fc.constantFrom(0, 10, 50), { nil: null }),
        fasterOn: fc.option(fc.record({ flavor: fc.nat(1), d: fc.integer({ min: 1, max: 500 }) }), { nil: null }),
      }),
      { minLength: 1, maxLength: 14 },
    ),
    round: fc.constantFrom(25, 60, 150),
  })
  .map(({ pools, shares, overhead, checkpoint, jobs, round }) => {
    const fleet = makeFleet(...pools.map((p, i) => pool(`p${i}`, FLAVORS[p.flavor]!, p.nodes, p.size)));
    const flavors = FLAVORS.filter((f) => fleet.pools.some((p) => p.flavor === f));
    const capacity = (f: string): number => fleet.pools.filter((p) => p.flavor === f).reduce((s, p) => s + p.nodes * p.gpusPerNode, 0);
    // research { r1, r2 } and applied: guarantees nest and sum to at most the fleet (formats.md).
    const quota = (fraction: (f: string) => number): Record<string, number> =>
      Object.fromEntries(flavors.map((f) => [f, Math.floor(fraction(f))]));
    const research = quota((f) => capacity(f) * 2 * shares[0]!);
    const r1 = quota((f) => research[f]! * 2 * shares[1]!);
    const r2 = quota((f) => (research[f]! - r1[f]!) * 2 * shares[2]!);
    const applied = quota((f) => (capacity(f) - research[f]!) * 2 * shares[3]!);
    const teams: TeamSpec[] = [team('research', research, { children: [team('r1', r1), team('r2', r2)] }), team('applied', applied)];
    const policy = makePolicy(teams, { preemption: { restartOverhead: overhead, checkpointInterval: checkpoint, minRuntime: 30 } });
    const leaves = ['r1', 'r2', 'applied'];
    const trace: JobSpec[] = jobs.map((j, i) => {
      const durationByFlavor = j.fasterOn ? { [FLAVORS[j.fasterOn.flavor]!]: j.fasterOn.d } : undefined;
      const spec: JobSpec = {
        id: `j${i}`,
        submit: j.submit,
        team: leaves[j.team]!,
        gpus: j.gpus,
        duration: j.duration,
        class: j.cls,
        flavor: j.flavor === null ? null : (flavors[j.flavor % flavors.length] ?? null),
        timeLimit: j.timeLimit,
        // Across flavors progress is a fraction; floor(progress / c) is then ambiguous, so such jobs keep everything.
        checkpointInterval: durationByFlavor ? 0 : j.checkpoint,
      };
      return durationByFlavor ? { ...spec, durationByFlavor } : spec;
    });
    return { fleet, policy, trace, round };
  });

/** Every variant of a case, by name. */
function variants(c: Case): [string, SimulationResult][] {
  return [
    ['policy', simulate(c.fleet, c.policy, c.trace)],
    ...BASELINES.map((b): [string, SimulationResult] => [b, runBaseline(b, c.fleet, c.policy, c.trace)]),
    ['las-round', runBaseline('las', c.fleet, c.policy, c.trace, { lasRound: c.round })],
  ];
}

/** Shapes (S2) a job of `gpus` may take on flavor f, from the fleet alone. */
function hasShape(fleet: Fleet, gpus: number, f: string): boolean {
  const pools = fleet.pools.filter((p) => p.flavor === f);
  if (pools.some((p) => p.gpusPerNode >= gpus)) return true;
  const sizes = new Set(pools.map((p) => p.gpusPerNode));
  for (const size of sizes) {
    const nodes = pools.filter((p) => p.gpusPerNode === size).reduce((s, p) => s + p.nodes, 0);
    if (gpus % size === 0 && gpus / size <= nodes) return true;
  }
  return false;
}

function check(c: Case, name: string, r: SimulationResult): string[] {
  const problems: string[] = [];
  const fail = (m: string): void => {
    if (problems.length < 10) problems.push(`${name}: ${m}`);
  };
  const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b));
  const nodes = new Map<string, { flavor: string; size: number }>();
  for (const p of c.fleet.pools) for (let i = 0; i < p.nodes; i++) nodes.set(`${p.name}-${i}`, { flavor: p.flavor, size: p.gpusPerNode });
  const maxNode = (f: string): number => Math.max(0, ...c.fleet.pools.filter((p) => p.flavor === f).map((p) => p.gpusPerNode));
  const pre = c.policy.preemption;
  if (r.jobs.length !== c.trace.length) fail(`${r.jobs.length} outcomes for ${c.trace.length} jobs`);
  r.jobs.forEach((job, position) => {
    const spec = c.trace[position]!;
    const id = spec.id;
    if (job.spec !== spec && JSON.stringify(job.spec) !== JSON.stringify(spec)) fail(`${id}: reported as ${JSON.stringify(job.spec)}`);
    const runs = r.runs.filter((x) => x.job === position);
    const usable = spec.flavor === null ? FLAVORS : [spec.flavor];
    const physical = usable.some((f) => hasShape(c.fleet, spec.gpus, f));
    if ((name === 'las' || name === 'srtf' || name === 'las-round') && physical === (job.status === 'rejected'))
      fail(`${id}: status ${job.status}, but it ${physical ? 'has' : 'has no'} valid shape`);
    if (!physical && job.status !== 'rejected') fail(`${id}: has no valid shape but was not rejected`);
    if (job.status === 'rejected') {
      if (runs.length > 0) fail(`${id}: rejected but ran`);
      return;
    }
    if (job.status !== 'completed' && job.status !== 'timed_out') fail(`${id}: ends ${job.status} with no horizon`);
    if (runs.length === 0) return fail(`${id}: never ran`);
    if (job.start !== runs[0]!.start || job.end !== runs[runs.length - 1]!.end) fail(`${id}: start/end do not match its runs`);
    if (job.preemptions !== runs.length - 1 || runs.slice(0, -1).some((x) => x.outcome !== 'preempted'))
      fail(`${id}: ${job.preemptions} preemptions for ${runs.length} runs`);
    if (runs[runs.length - 1]!.outcome !== job.status) fail(`${id}: last run ${runs[runs.length - 1]!.outcome}, status ${job.status}`);
    // Work kept so far: seconds, or a fraction of the work for duration@ jobs (formats.md).
    const fractional = spec.durationByFlavor !== undefined;
    let kept = 0;
    let gpuSeconds = 0;
    runs.forEach((run, i) => {
      if (run.start < spec.submit) fail(`${id}: run starts at ${run.start}, before its submit ${spec.submit}`);
      if (i > 0 && run.start < runs[i - 1]!.end) fail(`${id}: runs overlap`);
      if (spec.flavor !== null && run.flavor !== spec.flavor) fail(`${id}: on ${run.flavor}, asked for ${spec.flavor}`);
      const placed = run.placement.map((pl) => ({ ...pl, node: nodes.get(pl.node) }));
      if (placed.some((pl) => pl.node?.flavor !== run.flavor)) fail(`${id}: run on ${run.flavor} placed on ${JSON.stringify(run.placement)}`);
      if (run.placement.reduce((s, pl) => s + pl.gpus, 0) !== spec.gpus) fail(`${id}: placement is not ${spec.gpus} GPUs`);
      if (new Set(run.placement.map((pl) => pl.node)).size !== run.placement.length) fail(`${id}: a node twice in one run`);
      // S2: one node when it fits one of its flavor, else whole nodes of one size.
      if (spec.gpus <= maxNode(run.flavor) ? run.placement.length !== 1 : placed.some((pl) => pl.gpus !== pl.node?.size))
        fail(`${id}: shape ${JSON.stringify(run.placement)} of ${spec.gpus} GPUs on ${run.flavor}`);
      const elapsed = run.end - run.start;
      gpuSeconds += spec.gpus * elapsed;
      if (spec.timeLimit !== null && elapsed > spec.timeLimit + 1e-9) fail(`${id}: a run of ${elapsed} s beyond its time limit`);
      // M6 replay.
      const d = spec.durationByFlavor?.[run.flavor] ?? spec.duration;
      const overhead = i > 0 ? pre.restartOverhead : 0;
      const made = Math.max(0, elapsed - overhead);
      const before = fractional ? kept * d : kept;
      const cp = spec.checkpointInterval ?? pre.checkpointInterval;
      let lost = Math.min(elapsed, overhead);
      if (run.outcome === 'completed' && !close(before + made, d)) fail(`${id}: run ${i} completed with ${before} + ${made} of ${d}`);
      if (run.outcome === 'timed_out' && (spec.timeLimit === null || !close(elapsed, spec.timeLimit) || before + made >= d - 1e-9))
        fail(`${id}: run ${i} timed out wrongly`);
      if (run.outcome === 'preempted') {
        if (before + made >= d - 1e-9 && made > 0) fail(`${id}: run ${i} preempted after its work was done`);
        const total = Math.min(d, before + made);
        // The spec's floor(progress / c) * c; never below what an earlier run kept.
        const keptSeconds = cp > 0 ? Math.max(before, Math.floor(total / cp) * cp) : total;
        lost += total - keptSeconds;
        kept = fractional ? (d > 0 ? keptSeconds / d : 1) : keptSeconds;
      }
      if (!close(run.lostGpuSeconds, spec.gpus * lost)) fail(`${id}: run ${i} lost ${run.lostGpuSeconds}, expected ${spec.gpus * lost}`);
    });
    if (!close(job.gpuSeconds, gpuSeconds)) fail(`${id}: gpuSeconds ${job.gpuSeconds}, runs sum to ${gpuSeconds}`);
  });
  // M1 over time.
  const events = new Map<string, { t: number; d: number }[]>();
  for (const run of r.runs) {
    for (const pl of run.placement) {
      const list = events.get(pl.node) ?? [];
      list.push({ t: run.start, d: pl.gpus }, { t: run.end, d: -pl.gpus });
      events.set(pl.node, list);
    }
  }
  for (const [node, list] of events) {
    list.sort((a, b) => a.t - b.t || a.d - b.d);
    let held = 0;
    for (const e of list) {
      held += e.d;
      if (held > (nodes.get(node)?.size ?? 0)) fail(`node ${node} holds ${held} GPUs at t=${e.t}`);
    }
  }
  for (let i = 1; i < r.runs.length; i++) {
    const a = r.runs[i - 1]!;
    const b = r.runs[i]!;
    if (b.start < a.start || (b.start === a.start && b.job < a.job)) fail(`runs out of segments.csv order at ${i}`);
  }
  return problems;
}

const RUNS = Number(process.env.PROPERTY_RUNS ?? 120);

describe('every variant obeys the physical rules on random fleets, trees and traces', () => {
  it('capacity over time, shapes, flavors, progress (M6), time limits and the record', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const problems = variants(c).flatMap(([name, r]) => check(c, name, r));
        expect(problems, JSON.stringify(c)).toEqual([]);
      }),
      { numRuns: RUNS, seed: 4242 },
    );
  });

  it('static never lets a leaf team hold more than its guarantee; fifo and static never preempt', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const leafGuarantee = new Map<string, Record<string, number>>();
        const walk = (t: TeamSpec): void => {
          if (t.children.length === 0) leafGuarantee.set(t.name, { ...t.guarantee });
          t.children.forEach(walk);
        };
        c.policy.teams.forEach(walk);
        const r = runBaseline('static', c.fleet, c.policy, c.trace);
        // Sweep held GPUs per leaf team and flavor.
        const events: { t: number; d: number; key: string }[] = [];
        for (const run of r.runs) {
          const key = `${c.trace[run.job]!.team}/${run.flavor}`;
          events.push({ t: run.start, d: run.gpus, key }, { t: run.end, d: -run.gpus, key });
        }
        events.sort((a, b) => a.t - b.t || a.d - b.d);
        const held = new Map<string, number>();
        for (const e of events) {
          const now = (held.get(e.key) ?? 0) + e.d;
          held.set(e.key, now);
          const [teamName, flavor] = e.key.split('/') as [string, string];
          expect(now, `static: ${e.key} at ${e.t}`).toBeLessThanOrEqual(leafGuarantee.get(teamName)?.[flavor] ?? 0);
        }
        expect(r.runs.filter((x) => x.outcome === 'preempted')).toEqual([]);
        expect(runBaseline('fifo', c.fleet, c.policy, c.trace).runs.filter((x) => x.outcome === 'preempted')).toEqual([]);
      }),
      { numRuns: RUNS, seed: 77 },
    );
  });

  it('gives the same result twice, and the same in compare as alone (M7)', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const list: Variant[] = [
          { name: 'policy', kind: 'policy', policy: c.policy, trace: c.trace },
          ...BASELINES.map((b): Variant => ({ name: b, kind: b, policy: c.policy, trace: c.trace })),
        ];
        const outcomes = await compareVariants(c.fleet, list, { workerScript: null, lasRound: c.round });
        expect(outcomes.map((o) => o.result)).toEqual([
          simulate(c.fleet, c.policy, c.trace),
          ...BASELINES.map((b) => runBaseline(b, structuredClone(c.fleet), structuredClone(c.policy), structuredClone(c.trace), b === 'las' ? { lasRound: c.round } : {})),
        ]);
      }),
      { numRuns: 40, seed: 5 },
    );
  });
});
