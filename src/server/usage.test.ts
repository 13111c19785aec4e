import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { PeriodRun } from '../storage/port.js';
import { bucketsOf, percentile, usageReport, type UsageTeam } from './usage.js';

const H = 3600;
const DAY = 86_400;
// 2026-11-30 00:00 UTC, a Monday.
const MONDAY = Date.UTC(2026, 10, 30) / 1000;

const TREE: UsageTeam[] = [
  {
    name: 'research',
    guarantee: 12,
    children: [
      { name: 'pretraining', guarantee: 8, children: [] },
      { name: 'rl', guarantee: 4, children: [] },
    ],
  },
  { name: 'inference', guarantee: 4, children: [] },
];

function run(team: string, start: number, end: number | null, gpus: number, over: Partial<PeriodRun> = {}): PeriodRun {
  return {
    jobId: `j-${team}-${start}`,
    start,
    end,
    flavor: 'h100',
    placement: [{ node: 'n0', gpus }],
    outcome: end === null ? null : 'completed',
    team,
    submittedAt: start,
    jobStartedAt: start,
    ...over,
  };
}

describe('the usage report', () => {
  it('cuts a period into UTC days and Monday-to-Monday weeks, clipped to the period', () => {
    expect(bucketsOf(MONDAY + 12 * H, MONDAY + 2 * DAY, 'day')).toEqual([
      { start: MONDAY + 12 * H, end: MONDAY + DAY },
      { start: MONDAY + DAY, end: MONDAY + 2 * DAY },
    ]);
    expect(bucketsOf(MONDAY - DAY, MONDAY + 8 * DAY, 'week')).toEqual([
      { start: MONDAY - DAY, end: MONDAY },
      { start: MONDAY, end: MONDAY + 7 * DAY },
      { start: MONDAY + 7 * DAY, end: MONDAY + 8 * DAY },
    ]);
  });

  it('takes nearest-rank percentiles', () => {
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile([10], 0.95)).toBe(10);
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentile([...Array(20).keys()], 0.95)).toBe(18);
  });

  it('counts the runs that started by a reclaim in the period, with their waits, leaves into parents', () => {
    const from = MONDAY;
    const to = MONDAY + DAY;
    const report = usageReport({
      from,
      to,
      by: 'day',
      now: to,
      teams: TREE,
      fleetGpus: 16,
      runs: [
        run('pretraining', from + H, from + 2 * H, 8, { reclaimWait: 600 }),
        run('rl', from + 3 * H, null, 2, { reclaimWait: 60 }),
        run('rl', from + 4 * H, null, 2, { reclaimWait: 120 }),
        // Started before the period: its reclaim belongs to the period before.
        run('inference', from - H, from + H, 4, { reclaimWait: 30 }),
        run('inference', from + 5 * H, null, 4),
      ],
    });
    const reclaims = Object.fromEntries(report.teams.map((t) => [t.team, t.reclaims]));
    expect(reclaims).toEqual({
      research: { runs: 3, p50: 120, p95: 600, max: 600 },
      pretraining: { runs: 1, p50: 600, p95: 600, max: 600 },
      rl: { runs: 2, p50: 60, p95: 120, max: 120 },
      inference: { runs: 0, p50: null, p95: null, max: null },
    });
  });

  it('clips runs to the period, sums leaves into parents and counts waits and preemptions', () => {
    const from = MONDAY;
    const to = MONDAY + 2 * DAY;
    const report = usageReport({
      from,
      to,
      by: 'day',
      now: to + DAY,
      teams: TREE,
      fleetGpus: 16,
      runs: [
        // 8 GPUs from 6 h before the period to 6 h into it: 6 h count, 48 GPU-hours on day 1.
        run('pretraining', from - 6 * H, from + 6 * H, 8, { outcome: 'preempted' }),
        // 2 GPUs across midnight: 2 h on day 1, 3 h on day 2; waited 30 min.
        run('rl', from + DAY - 2 * H, from + DAY + 3 * H, 2, { submittedAt: from + DAY - 2.5 * H }),
        // Open, started 1 h before the end: 4 GPUs x 1 h.
        run('inference', to - H, null, 4, { submittedAt: to - 3 * H }),
      ],
    });
    expect(report.buckets).toHaveLength(2);
    expect(report.busyGpuHours).toBe(48 + 4 + 6 + 4);
    expect(report.capacityGpuHours).toBe(16 * 48);
    const by = Object.fromEntries(report.teams.map((t) => [t.team, t]));
    expect(report.teams.map((t) => [t.team, t.parent, t.depth, t.leaf])).toEqual([
      ['research', null, 0, false],
      ['pretraining', 'research', 1, true],
      ['rl', 'research', 1, true],
      ['inference', null, 0, true],
    ]);
    expect(by['pretraining']!.buckets).toEqual([
      { gpuHours: 48, guaranteeHours: 8 * 24 },
      { gpuHours: 0, guaranteeHours: 8 * 24 },
    ]);
    expect(by['rl']!.buckets.map((b) => b.gpuHours)).toEqual([4, 6]);
    expect(by['research']!.buckets.map((b) => b.gpuHours)).toEqual([52, 6]);
    expect(by['research']!.guaranteeHours).toBe(12 * 48);
    expect(by['inference']!.gpuHours).toBe(4);
    // The pretraining run started before the period: its wait is not this period's.
    expect(by['pretraining']!.wait).toEqual({ jobs: 0, p50: null, p95: null });
    expect(by['research']!.wait).toEqual({ jobs: 1, p50: 0.5 * H, p95: 0.5 * H });
    expect(by['inference']!.wait).toEqual({ jobs: 1, p50: 2 * H, p95: 2 * H });
    expect(by['research']!.preemptions).toBe(1);
    expect(by['inference']!.preemptions).toBe(0);
  });

  it('counts an open run up to now when now is inside the period, and a team gone from the policy on its own row', () => {
    const report = usageReport({
      from: MONDAY,
      to: MONDAY + DAY,
      by: 'day',
      now: MONDAY + 2 * H,
      teams: TREE,
      fleetGpus: 16,
      runs: [run('inference', MONDAY, null, 4), run('vision', MONDAY, MONDAY + H, 1)],
    });
    expect(report.teams.map((t) => [t.team, t.gpuHours])).toEqual([
      ['research', 0],
      ['pretraining', 0],
      ['rl', 0],
      ['inference', 8],
      ['vision', 1],
    ]);
    expect(report.busyGpuHours).toBe(9);
  });

  it('team totals add up to the fleet\'s busy GPU-hours of the period, top level and leaves, per bucket', () => {
    const leaves = ['pretraining', 'rl', 'inference', 'gone'];
    const runs = fc.array(
      fc.record({
        team: fc.constantFrom(...leaves),
        start: fc.integer({ min: -3 * DAY, max: 10 * DAY }),
        length: fc.integer({ min: 1, max: 4 * DAY }),
        open: fc.boolean(),
        gpus: fc.integer({ min: 1, max: 8 }),
      }),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(runs, fc.integer({ min: 0, max: 5 * DAY }), fc.integer({ min: 1, max: 9 * DAY }), fc.constantFrom('day', 'week' as const), (rs, offset, span, by) => {
        const from = MONDAY + offset;
        const to = from + span;
        const now = MONDAY + 8 * DAY;
        const periodRuns = rs
          .map((r) => run(r.team, MONDAY + r.start, r.open ? null : MONDAY + r.start + r.length, r.gpus))
          .filter((r) => r.start < to && (r.end === null || r.end > from));
        const report = usageReport({ from, to, by, now, teams: TREE, fleetGpus: 64, runs: periodRuns });
        // Independently: each run clipped to [from, min(to, now)).
        let busy = 0;
        for (const r of periodRuns) busy += (r.placement[0]!.gpus * Math.max(0, Math.min(r.end ?? now, to) - Math.max(r.start, from))) / H;
        expect(report.busyGpuHours).toBeCloseTo(busy, 6);
        const top = report.teams.filter((t) => t.parent === null);
        const leafRows = report.teams.filter((t) => t.leaf);
        expect(top.reduce((s, t) => s + t.gpuHours, 0)).toBeCloseTo(busy, 6);
        expect(leafRows.reduce((s, t) => s + t.gpuHours, 0)).toBeCloseTo(busy, 6);
        for (const t of report.teams) expect(t.buckets.reduce((s, b) => s + b.gpuHours, 0)).toBeCloseTo(t.gpuHours, 6);
        expect(report.buckets.reduce((s, b) => s + (b.end - b.start), 0)).toBe(to - from);
      }),
      { numRuns: 200 },
    );
  });
});
