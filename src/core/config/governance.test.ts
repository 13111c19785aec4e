import { describe, expect, test } from 'vitest';
import { formatIssue, type Fleet } from '../model.js';
import { DEFAULT_GOVERNANCE, governanceRules } from './governance.js';
import { parsePolicy } from './policy.js';

const FLEET: Fleet = { pools: [{ name: 'p', flavor: 'h100', nodes: 4, gpusPerNode: 8 }] };
const TEAMS = 'teams:\n  - name: a\n    guarantee: { h100: 8 }\n';

const parse = (governance: string) => parsePolicy(`${governance}\n${TEAMS}`, 'policy.yaml', FLEET);

describe('the governance section of the policy', () => {
  test('a policy without the section gets every default of governance.md', () => {
    const result = parsePolicy(TEAMS, 'policy.yaml', FLEET);
    expect(result.ok && governanceRules(result.value)).toEqual(DEFAULT_GOVERNANCE);
  });

  test('durations take units, so tests and demos can use seconds', () => {
    const result = parse('governance:\n  commentPeriod: { minor: 5s, material: 10 }\n  timelock: 2s\n  ramp: { steps: 2, over: 4s }');
    expect(result.ok && result.value.governance).toEqual({
      ...DEFAULT_GOVERNANCE,
      commentPeriod: { minor: 5, material: 10 },
      timelock: 2,
      ramp: { steps: 2, over: 4 },
    });
  });

  test('every bad value is reported with its path', () => {
    const result = parse('governance:\n  quorum: 1.5\n  approval: -1\n  ramp: { steps: 0, over: soon }\n  timelock: forever\n  vetoes: 3');
    expect(result.ok).toBe(false);
    const lines = result.ok ? [] : result.issues.map(formatIssue);
    expect(lines).toHaveLength(6);
    for (const pattern of [/governance\.quorum: expected a fraction above 0/, /governance\.approval: expected a fraction from 0/, /governance\.ramp\.steps/, /governance\.timelock: expected a duration/, /governance\.ramp\.over: expected a duration/, /governance\.vetoes: unknown key "vetoes"/]) {
      expect(lines.some((line) => pattern.test(line)), `${pattern} in ${lines.join('\n')}`).toBe(true);
    }
  });
});
