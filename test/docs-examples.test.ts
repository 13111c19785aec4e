// The examples of the contract pages in docs/ are read by the real parsers and schemas, so the
// documentation cannot drift from the code: the fleet and policy of formats.md are valid and
// the policy shows every default, the governance rules of governance.md are the defaults, and
// the job bodies of api.md are what the API accepts and returns.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { parseCluster } from '../src/core/config/cluster.js';
import { DEFAULT_GOVERNANCE } from '../src/core/config/governance.js';
import { parsePolicy } from '../src/core/config/policy.js';
import type { Fleet, Policy, Result } from '../src/core/model.js';
import { ErrorBody, Health, JobSubmission, JobView, UsageView } from '../src/server/schemas.js';
import { repoRoot } from './cli-harness.js';

/** The fenced code blocks of `lang` in docs/`page`, in order. */
function blocks(page: string, lang: string): string[] {
  const text = readFileSync(path.join(repoRoot, 'docs', page), 'utf8');
  return [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] ?? '');
}

function value<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(result.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return result.value;
}

const withoutTeams = (policy: Policy): Omit<Policy, 'teams' | 'governance'> => {
  const { teams: _teams, governance: _governance, ...rest } = policy;
  return rest;
};

describe('docs/formats.md', () => {
  const [clusterYaml, policyYaml] = blocks('formats.md', 'yaml');

  it('has a fleet example that parses', () => {
    const fleet = value(parseCluster(clusterYaml ?? '', 'cluster.yaml'));
    expect(fleet.pools.map((p) => [p.name, p.flavor, p.nodes * p.gpusPerNode])).toEqual([
      ['h100-a', 'h100', 512],
      ['a100-b', 'a100', 256],
    ]);
  });

  it('has a policy example that parses and shows the default of every key but teams', () => {
    const fleet: Fleet = value(parseCluster(clusterYaml ?? '', 'cluster.yaml'));
    const documented = value(parsePolicy(policyYaml ?? '', 'policy.yaml', fleet));
    expect(documented.teams.map((t) => t.name)).toEqual(['research', 'applied']);
    const teamsOnly = stringify({ teams: (parseYaml(policyYaml ?? '') as { teams: unknown }).teams });
    const defaults = value(parsePolicy(teamsOnly, 'policy.yaml', fleet));
    expect(withoutTeams(documented)).toEqual(withoutTeams(defaults));
  });
});

describe('docs/governance.md', () => {
  it('shows the default rules of the process', () => {
    const [rules] = blocks('governance.md', 'yaml');
    const fleet: Fleet = { pools: [{ name: 'p', flavor: 'h100', nodes: 1, gpusPerNode: 8 }] };
    const policy = value(parsePolicy(`${rules ?? ''}\nteams:\n  - name: a\n`, 'policy.yaml', fleet));
    expect(policy.governance).toEqual(DEFAULT_GOVERNANCE);
  });
});

describe('docs/api.md', () => {
  const json = blocks('api.md', 'json').map((text) => JSON.parse(text) as Record<string, unknown>);

  it('shows an error body, a submission, a job, a usage report and a health answer in the shapes of the API', () => {
    expect(json).toHaveLength(5);
    expect(ErrorBody.safeParse(json[0]).success).toBe(true);
    expect(JobSubmission.safeParse(json[1]).error).toBeUndefined();
    expect(JobView.safeParse(json[2]).error).toBeUndefined();
    expect(UsageView.strict().safeParse(json[3]).error).toBeUndefined();
    expect(Health.strict().safeParse(json[4]).error).toBeUndefined();
  });

  it('shows a usage report whose top-level teams and leaves both add up to the busy GPU-hours', () => {
    const usage = UsageView.parse(json[3]);
    const sum = (rows: typeof usage.teams) => rows.reduce((n, t) => n + t.gpuHours, 0);
    expect(sum(usage.teams.filter((t) => t.parent === null))).toBe(usage.busyGpuHours);
    expect(sum(usage.teams.filter((t) => t.leaf))).toBe(usage.busyGpuHours);
    expect(usage.capacityGpuHours).toBe(usage.fleetGpus * 24);
  });
});
