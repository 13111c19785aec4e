import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fleet, job, jobs, policy, pool, team } from '../../test/builders.js';
import { compareVariants, defaultWorkerScript, type Variant } from './compare.js';
import { COMPARE_CSV_HEADER, renderCompareCsv, renderCompareTable, writeCompareOutputs } from './compare-output.js';

// One node of 8; A is guaranteed all of it, B nothing; minRuntime 0. b1 (B, 8 GPUs, 100 s) at 0,
// a1 (A, 8 GPUs, 100 s) at 10, and b2 (B, 16 GPUs: more than the fleet, rejected everywhere).
const f = fleet(pool('a', 'h100', 1, 8));
const p = policy([team('A', { h100: 8 }), team('B', {})], { preemption: { minRuntime: 0 } });
const trace = jobs(job('b1').team('B').gpus(8).runs(100), job('a1').team('A').gpus(8).runs(100).at(10), job('b2').team('B').gpus(16).at(20));
const variants: Variant[] = [
  { name: 'policy', kind: 'policy', policy: p, trace },
  { name: 'fifo', kind: 'fifo', policy: p, trace },
];

describe('compareVariants', () => {
  it('runs every variant in order and summarizes each with the comparison metrics', async () => {
    const progress = new Set<number>();
    const done: number[] = [];
    const outcomes = await compareVariants(f, variants, {
      workerScript: null,
      onProgress: (i) => progress.add(i),
      onVariantDone: (i) => done.push(i),
    });
    expect(outcomes.map((o) => [o.name, o.kind])).toEqual([
      ['policy', 'policy'],
      ['fifo', 'fifo'],
    ]);
    expect([...progress].sort()).toEqual([0, 1]);
    expect(done).toEqual([0, 1]);
    expect(outcomes[0]!.summary).toMatchObject({ jobs: 3, completed: 2, rejected: 1, fairness: 1, inGuaranteeJobs: 1 });
  });

  it('refuses two variants with the same name', async () => {
    await expect(compareVariants(f, [variants[0]!, { ...variants[1]!, name: 'policy' }], { workerScript: null })).rejects.toThrow(
      'two variants are named "policy"',
    );
  });

  it('runs in this thread when no compiled worker sits beside the module (tests run the sources)', () => {
    expect(defaultWorkerScript()).toBeNull();
  });
});

describe('compare outputs', () => {
  it('writes one compare.csv row per variant, by hand', async () => {
    const outcomes = await compareVariants(f, variants, { workerScript: null });
    // policy: a1 (in A's guarantee) reclaims at 10; b1 resumes at 110 and ends at 200.
    //   JCT b1 200, a1 100: avg 150, p50 100, p95 and p99 200; waits 0 and 0; makespan 200;
    //   8 x (10 + 100 + 90) = 1600 GPU-s / (8 x 200) = 1; one preemption, nothing lost.
    //   Fairness over A alone (B has no guarantee): 1. Both teams waited 0: the worst is B, first
    //   in trace order. In-guarantee: a1, waited 0.
    // fifo: b1 0-100, a1 100-200. JCT 100 and 190: avg 145; waits 0 and 90: avg 45, p50 0, p95 and
    //   p99 90; utilization 1. A waited 90 (its p99): the worst. a1, in-guarantee, waited 90.
    expect(renderCompareCsv(outcomes)).toBe(
      `${COMPARE_CSV_HEADER}\n` +
        'policy,policy,3,2,1,150,100,200,200,0,0,0,0,200,1,1,0,1,B,0,1,0,0\n' +
        'fifo,baseline,3,2,1,145,100,190,190,45,0,90,90,200,1,0,0,1,A,90,1,90,90\n',
    );
    const table = renderCompareTable(outcomes).split('\n');
    expect(table[1]).toMatch(/Variant .* Fairness .* In-guar. max wait/);
    expect(table.find((line) => line.includes('fifo'))).toMatch(/fifo .* 1m 30s \(A\) .* 1m 30s/);
  });

  it('writes DIR/<name>/ in the simulate format, rejected.log, then compare.csv', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arbiter-compare-'));
    try {
      const outcomes = await compareVariants(f, variants, { workerScript: null });
      await writeCompareOutputs(dir, outcomes);
      expect((await readdir(dir)).sort()).toEqual(['compare.csv', 'fifo', 'policy']);
      expect((await readdir(join(dir, 'fifo'))).sort()).toEqual(['jobs.csv', 'rejected.log', 'segments.csv', 'summary.json']);
      const jobsCsv = await readFile(join(dir, 'fifo', 'jobs.csv'), 'utf8');
      // The fifo baseline reports each job with its own team and class.
      expect(jobsCsv.split('\n').slice(1, 3)).toEqual(['b1,B,research,h100,8,0,0,100,100,0,100,0,completed', 'a1,A,research,h100,8,10,100,200,100,90,190,0,completed']);
      const summary = JSON.parse(await readFile(join(dir, 'policy', 'summary.json'), 'utf8')) as Record<string, unknown>;
      expect(summary).toMatchObject({ jobs: 3, fairness: 1, worstTeam: 'B', inGuaranteeMaxWait: 0 });
      expect(await readFile(join(dir, 'policy', 'rejected.log'), 'utf8')).toMatch(/^rejected job b2 \(team B, 16 GPUs\): /);
      expect(await readFile(join(dir, 'compare.csv'), 'utf8')).toBe(renderCompareCsv(outcomes));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
