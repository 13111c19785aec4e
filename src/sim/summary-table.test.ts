import { describe, expect, it } from 'vitest';
import { summarize } from './metrics.js';
import { humanDuration, renderSummaryTable } from './summary-table.js';
import { sampleResult } from './test-fixtures.js';

describe('humanDuration', () => {
  it('writes at most two units, the second rounded and dropped when zero', () => {
    expect([45, 61, 3600, 11559.9, 187200, 90061, 1e7].map(humanDuration)).toEqual([
      '45s',
      '1m 1s',
      '1h',
      '3h 13m', // 3h 12m 39.9s
      '2d 4h',
      '1d 1h', // 1d 1h 1m 1s
      '115d 18h', // 115d 17h 46m 40s
    ]);
  });

  it('keeps one decimal below 10 seconds', () => {
    expect([0, 0.25, 2.25, 8.3333, 9.96].map(humanDuration)).toEqual(['0s', '0.3s', '2.3s', '8.3s', '10s']);
  });

  it('carries rounding into the bigger unit: never "60s", "60m" or "24h"', () => {
    expect([59.6, 3599.6, 86399].map(humanDuration)).toEqual(['1m', '1h', '1d']);
    expect(humanDuration(3599)).toBe('59m 59s');
  });

  it('marks negative durations', () => {
    expect(humanDuration(-90)).toBe('-1m 30s');
  });
});

describe('renderSummaryTable', () => {
  it('shows the overall figures, then one row per top-level team, without color codes', () => {
    // From the sample: avg JCT 135 s, p50 110, p99 275; avg wait 8.333, p50 10, p99 15;
    // utilization 0.625; lost 120 GPU-s = 0.03 GPU-h. research = pretraining + alignment:
    // avg JCT 192.5 s -> 3m 13s, avg wait 12.5 s -> 13s, 1320 GPU-s = 0.37 GPU-h; applied 80 GPU-s = 0.02.
    expect(renderSummaryTable(summarize(sampleResult()))).toBe(
      [
        '┌────────────────┬────────┐',
        '│ Jobs           │      5 │',
        '│ Completed      │      2 │',
        '│ Timed out      │      1 │',
        '│ Rejected       │      1 │',
        '│ Avg JCT        │ 2m 15s │',
        '│ p50 JCT        │ 1m 50s │',
        '│ p99 JCT        │ 4m 35s │',
        '│ Avg wait       │   8.3s │',
        '│ p50 wait       │    10s │',
        '│ p99 wait       │    15s │',
        '│ Utilization    │  62.5% │',
        '│ Preemptions    │      1 │',
        '│ Lost GPU-hours │   0.03 │',
        '└────────────────┴────────┘',
        '┌──────────┬──────┬─────────┬──────────┬───────────┐',
        '│ Team     │ Jobs │ Avg JCT │ Avg wait │ GPU-hours │',
        '├──────────┼──────┼─────────┼──────────┼───────────┤',
        '│ research │    3 │  3m 13s │      13s │      0.37 │',
        '│ applied  │    2 │     20s │       0s │      0.02 │',
        '└──────────┴──────┴─────────┴──────────┴───────────┘',
      ].join('\n'),
    );
  });

  it('groups thousands and leaves the team table out when no team has jobs', () => {
    const summary = { ...summarize(sampleResult()), jobs: 1234567, lostGpuSeconds: 4.5e7, topTeams: {} };
    const table = renderSummaryTable(summary);
    expect(table).toContain('│ Jobs           │ 1,234,567 │');
    expect(table).toContain('│ Lost GPU-hours │ 12,500.00 │');
    expect(table).not.toContain('Team');
  });

  it('writes no color codes by default', () => {
    // The default style is head: [] and border: [], so no ANSI codes whatever the terminal.
    expect(renderSummaryTable(summarize(sampleResult()))).not.toContain('\u001b');
  });
});
