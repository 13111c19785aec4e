import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Policy } from '../core/model.js';
import { fleet, policy, pool, team } from '../../test/builders.js';
import { canonicalJson, sha256Hex } from './canonical-json.js';
import { analyzeImpact, reportHash, workloadHash, type ImpactInput, type WorkloadJob } from './impact.js';

/** One node of 8 h100. */
const FLEET = fleet(pool('h100-a', 'h100', 1, 8));
/** 2024-01-01T00:00:00Z. */
const T0 = 1_704_067_200;
const HOUR = 3600;

/** `count` 1-GPU jobs of `team`, one hour of work each, submitted at T0 + `at`. */
function burst(teamName: string, count: number, at = 0, cls = 'research'): WorkloadJob[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${teamName}-${at}-${i}`,
    submittedAt: T0 + at,
    team: teamName,
    class: cls,
    flavor: 'h100',
    gpus: 1,
    duration: HOUR,
    timeLimit: null,
  }));
}

/** Each of a and b guaranteed 4 of the 8 GPUs. */
const EVEN = policy([team('a', { h100: 4 }), team('b', { h100: 4 })]);

function input(current: Policy, proposed: Policy, workload: readonly WorkloadJob[]): ImpactInput {
  return {
    fleet: FLEET,
    current: { policy: current, version: 3, hash: 'c'.repeat(64) },
    proposed: { policy: proposed, hash: 'p'.repeat(64) },
    workload,
    window: { from: T0, to: T0 + HOUR },
    materialThreshold: 0.05,
    engineVersion: '0.1.0',
  };
}

describe('analyzeImpact', () => {
  it('marks exactly the team whose guarantee is cut under contention, with its GPU-hours falling', () => {
    // Both teams ask for all 8 GPUs at once for an hour. Now each gets its guarantee of 4; under
    // the proposal a gets 2 and b 6 during the window. a's other jobs start at 1 h either way.
    // In-guarantee at submission: a's first 4 jobs of the burst under the policy in force (its
    // guarantee), its first 2 under the proposal; they start at once either way.
    const proposed = policy([team('a', { h100: 2 }), team('b', { h100: 6 })]);
    const report = analyzeImpact(input(EVEN, proposed, [...burst('a', 8), ...burst('b', 8)]));
    expect(report.class).toBe('material');
    expect(report.affected).toEqual(['a']);
    expect(report.current.a).toEqual({
      jobs: 8,
      rejected: 0,
      gpuHours: 4,
      avgWait: 1800,
      p95Wait: 3600,
      preemptions: 0,
      inGuaranteeWait: 0,
    });
    expect(report.teams.a).toEqual({
      jobs: 8,
      rejected: 0,
      gpuHours: 2,
      avgWait: 2700,
      p95Wait: 3600,
      preemptions: 0,
      inGuaranteeWait: 0,
      gpuHoursDelta: -2,
      avgWaitDelta: 900,
      p95WaitDelta: 0,
      preemptionsDelta: 0,
      inGuaranteeWaitDelta: 0,
    });
    expect(report.teams.b).toMatchObject({ gpuHours: 6, gpuHoursDelta: 2, p95WaitDelta: 0 });
    expect(report.window).toEqual({
      from: '2024-01-01T00:00:00.000Z',
      to: '2024-01-01T01:00:00.000Z',
      seconds: HOUR,
    });
    expect(report.inputs).toEqual({
      currentPolicyVersion: 3,
      currentPolicyHash: 'c'.repeat(64),
      proposedPolicyHash: 'p'.repeat(64),
      workloadHash: report.workload.hash,
      engineVersion: '0.1.0',
      materialThreshold: 0.05,
    });
  });

  it('needs a change of MORE than the threshold: a drop of exactly half is not material at 0.5', () => {
    const proposed = policy([team('a', { h100: 2 }), team('b', { h100: 6 })]);
    const report = analyzeImpact({
      ...input(EVEN, proposed, [...burst('a', 8), ...burst('b', 8)]),
      materialThreshold: 0.5,
    });
    expect(report.teams.a).toMatchObject({ gpuHours: 2, gpuHoursDelta: -2 });
    expect(report.affected).toEqual([]);
    expect(report.class).toBe('minor');
  });

  it('counts preemptions and the wait of jobs submitted inside their guarantee', () => {
    // b takes all 8 GPUs at 0 (borrowing 4 of a's). a's 4 jobs at 0.5 h fit its guarantee and
    // reclaim them at once (b's runs are past the 10 min minRuntime): 4 preemptions, no wait.
    // The proposal protects runs for 2 h, so a's jobs wait until b's end at 1 h.
    const proposed = policy(EVEN.teams.slice(), { preemption: { minRuntime: 2 * HOUR } });
    const report = analyzeImpact(input(EVEN, proposed, [...burst('b', 8), ...burst('a', 4, HOUR / 2)]));
    expect(report.current.a).toMatchObject({ gpuHours: 2, inGuaranteeWait: 0, avgWait: 0 });
    expect(report.current.b).toMatchObject({ gpuHours: 6, preemptions: 4 });
    expect(report.teams.a).toMatchObject({
      gpuHours: 0,
      gpuHoursDelta: -2,
      inGuaranteeWait: 1800,
      inGuaranteeWaitDelta: 1800,
      p95WaitDelta: 1800,
    });
    expect(report.teams.b).toMatchObject({ gpuHours: 8, preemptions: 0, preemptionsDelta: -4 });
    expect(report.affected).toEqual(['a']);
  });

  it('gives all deltas 0 and class minor for an identical policy', () => {
    const report = analyzeImpact(
      input(EVEN, EVEN, [...burst('a', 8), ...burst('b', 8), ...burst('a', 3, 600)]),
    );
    expect(report.class).toBe('minor');
    expect(report.affected).toEqual([]);
    for (const name of ['a', 'b']) {
      expect(report.teams[name]).toMatchObject({
        gpuHoursDelta: 0,
        avgWaitDelta: 0,
        p95WaitDelta: 0,
        preemptionsDelta: 0,
        inGuaranteeWaitDelta: 0,
      });
      expect(report.teams[name]).toMatchObject(report.current[name]!);
    }
  });

  it('is minor for an empty workload, with every team at zero', () => {
    const proposed = policy([team('a', { h100: 1 }), team('b', { h100: 7 })]);
    const report = analyzeImpact(input(EVEN, proposed, []));
    expect(report.class).toBe('minor');
    expect(report.teams.a).toMatchObject({ jobs: 0, gpuHours: 0, gpuHoursDelta: 0, p95Wait: 0 });
    expect(report.workload).toEqual({
      jobs: 0,
      hash: workloadHash([]),
      skipped: {
        outsideWindow: 0,
        current: { team: 0, class: 0, flavor: 0 },
        proposed: { team: 0, class: 0, flavor: 0 },
      },
    });
  });

  it('skips the jobs of a removed team in the proposed replay, and marks the team affected', () => {
    const proposed = policy([team('a', { h100: 8 })]);
    const report = analyzeImpact(input(EVEN, proposed, [...burst('a', 2), ...burst('b', 3)]));
    expect(report.workload.skipped).toEqual({
      outsideWindow: 0,
      current: { team: 0, class: 0, flavor: 0 },
      proposed: { team: 3, class: 0, flavor: 0 },
    });
    expect(report.current.b).toMatchObject({ jobs: 3, gpuHours: 3 });
    expect(report.teams.b).toMatchObject({ jobs: 0, gpuHours: 0, gpuHoursDelta: -3 });
    expect(report.affected).toEqual(['b']);
    expect(report.class).toBe('material');
  });

  it('aggregates subtrees, lists the teams of both trees, and skips unknown classes and flavors', () => {
    const current = policy([
      team('research', { h100: 8 }, { children: [team('pre', { h100: 4 }), team('align', { h100: 4 })] }),
    ]);
    const proposed = policy([
      team('research', { h100: 8 }, { children: [team('pre', { h100: 8 })] }),
      team('new', {}),
    ]);
    const odd = [
      { ...burst('pre', 1)[0]!, id: 'x-class', class: 'nonesuch' },
      { ...burst('pre', 1)[0]!, id: 'x-flavor', flavor: 'k80' },
      { ...burst('pre', 1)[0]!, id: 'x-late', submittedAt: T0 + 2 * HOUR },
    ];
    const report = analyzeImpact(
      input(current, proposed, [...burst('pre', 2), ...burst('align', 2), ...odd]),
    );
    expect(Object.keys(report.teams)).toEqual(['research', 'pre', 'align', 'new']);
    expect(Object.keys(report.current)).toEqual(['research', 'pre', 'align', 'new']);
    expect(report.current.research).toMatchObject({ jobs: 4, gpuHours: 4 });
    expect(report.teams.research).toMatchObject({ jobs: 2, gpuHours: 2, gpuHoursDelta: -2 });
    expect(report.workload.skipped).toEqual({
      outsideWindow: 1,
      current: { team: 0, class: 1, flavor: 1 },
      proposed: { team: 2, class: 1, flavor: 1 },
    });
    expect(report.workload.jobs).toBe(7);
    // research loses align's GPU-hours with align; pre and new are unchanged.
    expect(report.affected).toEqual(['research', 'align']);
  });

  it('gives the same report and hash for the same inputs, whatever the order of the jobs', () => {
    const proposed = policy([team('a', { h100: 2 }), team('b', { h100: 6 })]);
    const jobs = [...burst('a', 8), ...burst('b', 8), ...burst('a', 2, 900)];
    const first = analyzeImpact(input(EVEN, proposed, jobs));
    const second = analyzeImpact(input(EVEN, proposed, [...jobs].reverse()));
    expect(second).toEqual(first);
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(reportHash(first)).toBe(first.hash);
    const { hash: _hash, ...withoutHash } = first;
    expect(reportHash(withoutHash)).toBe(first.hash);
    // Any input changes the hash: the engine version, the policy hash, the workload.
    expect(analyzeImpact({ ...input(EVEN, proposed, jobs), engineVersion: '0.1.1' }).hash).not.toBe(
      first.hash,
    );
    expect(analyzeImpact(input(EVEN, proposed, jobs.slice(1))).hash).not.toBe(first.hash);
  });
});

describe('workloadHash', () => {
  it('is the SHA-256 of the canonical JSON of the sorted jobs, byte for byte, whatever they hold', () => {
    const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constantFrom('', 'a"b', 'é', '\u2028', '\ud800'));
    const number = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(-0, 1e21, 5e-7));
    const job = fc.record({
      id: text,
      submittedAt: number,
      team: text,
      class: text,
      flavor: fc.option(text, { nil: null }),
      gpus: number,
      duration: number,
      timeLimit: fc.option(number, { nil: null }),
    });
    const sorted = (jobs: WorkloadJob[]) => [...jobs].sort((a, b) => a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    fc.assert(
      fc.property(fc.array(job, { maxLength: 2100 }), (jobs) => {
        expect(workloadHash(jobs)).toBe(sha256Hex(canonicalJson(sorted(jobs))));
      }),
      { numRuns: 60 },
    );
    // Across the 1,024-job chunks it is written in.
    for (const n of [1023, 1024, 1025, 2048, 2500]) {
      const jobs = burst('a', n).map((j, i) => ({ ...j, submittedAt: j.submittedAt + i, timeLimit: i % 3 ? null : i }));
      expect(workloadHash(jobs), `${n} jobs`).toBe(sha256Hex(canonicalJson(jobs)));
    }
    // A job JSON cannot write is refused, naming where, as canonicalJson refuses it.
    expect(() => workloadHash([{ ...burst('a', 1)[0]!, gpus: Number.NaN }])).toThrow(/\[0\]\.gpus is NaN/);
  });

  it('depends on the jobs, not on their order', () => {
    const jobs = [...burst('a', 2), ...burst('b', 1, 60)];
    expect(workloadHash(jobs)).toBe(workloadHash([...jobs].reverse()));
    expect(workloadHash(jobs)).not.toBe(workloadHash([{ ...jobs[0]!, gpus: 2 }, ...jobs.slice(1)]));
  });
});
