// `arbiter export kueue` / `import kueue` (docs/kueue.md): the objects validate against
// Kueue's own v1beta2 CRD schemas and CEL rules (test/kueue-validate.ts), for the example lab,
// the benchmark policies and random policies; the example lab's objects and gaps are golden
// files; export -> import -> export gives the same objects.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseCluster } from '../src/core/config/cluster.js';
import { parsePolicy } from '../src/core/config/policy.js';
import type { Fleet, Policy, Result } from '../src/core/model.js';
import { exportKueue, type KueueObject } from '../src/executors/kueue.js';
import { importKueue } from '../src/executors/kueue-import.js';
import { gapsText, kueueYaml } from '../src/cli/commands/kueue.js';
import { policyToYaml } from '../src/governance/ramp.js';
import { repoRoot, runArbiter } from './cli-harness.js';
import { kueueProblems } from './kueue-validate.js';

const value = <T>(result: Result<T>): T => {
  if (!result.ok) throw new Error(result.issues.map((i) => `${i.file}: ${i.path}: ${i.message}`).join('\n'));
  return result.value;
};
const read = (relative: string): string => readFileSync(path.join(repoRoot, relative), 'utf8');
function load(cluster: string, policy: string): { fleet: Fleet; policy: Policy } {
  const fleet = value(parseCluster(read(cluster), cluster));
  return { fleet, policy: value(parsePolicy(read(policy), policy, fleet)) };
}
/** The objects as a cluster would read them from the YAML text. */
const fromYaml = (text: string): unknown[] => parseAllDocuments(text).map((d) => d.toJS() as unknown).filter((o) => o !== null);

/** export -> YAML -> import -> policy.yaml/cluster.yaml text -> parse -> export. */
function roundTrip(objects: readonly KueueObject[]): KueueObject[] {
  const text = kueueYaml(objects);
  const back = value(importKueue(fromYaml(text).map((v) => ({ file: 'objects.yaml', value: v }))));
  // Through the files the import writes, so that they too are checked.
  const fleet = value(parseCluster(JSON.stringify({ pools: back.fleet.pools }), 'cluster.yaml'));
  const policy = value(parsePolicy(policyToYaml(back.policy), 'policy.yaml', fleet));
  return exportKueue(fleet, policy).objects;
}

const LAB = { cluster: 'examples/lab/cluster.yaml', policy: 'examples/lab/policy.yaml' };
const BENCH = readdirSync(path.join(repoRoot, 'bench'))
  .filter((d) => existsSync(path.join(repoRoot, 'bench', d, 'policy.yaml')) && existsSync(path.join(repoRoot, 'bench', d, 'cluster.yaml')))
  .map((d) => ({ cluster: `bench/${d}/cluster.yaml`, policy: `bench/${d}/policy.yaml` }));

describe('the example lab and the benchmark policies', () => {
  it('finds the benchmark policies', () => {
    expect(BENCH.map((b) => b.policy)).toEqual(expect.arrayContaining(['bench/philly/policy.yaml', 'bench/gavel/policy.yaml']));
  });

  for (const inputs of [LAB, ...BENCH]) {
    it(`${inputs.policy}: every object validates against the CRD schemas and CEL rules, and the round trip gives the same objects`, () => {
      const { fleet, policy } = load(inputs.cluster, inputs.policy);
      const { objects } = exportKueue(fleet, policy);
      const parsed = fromYaml(kueueYaml(objects));
      expect(parsed).toEqual(objects);
      expect(parsed.flatMap(kueueProblems)).toEqual([]);
      expect(roundTrip(objects)).toEqual(objects);
    });
  }

  it('the example lab: objects and gaps as in the golden files', () => {
    const { fleet, policy } = load(LAB.cluster, LAB.policy);
    const { objects, gaps } = exportKueue(fleet, policy);
    // Regenerate with: npx arbiter export kueue --cluster examples/lab/cluster.yaml --policy examples/lab/policy.yaml --out test/fixtures/kueue/lab.yaml --gaps test/fixtures/kueue/lab-gaps.txt (then review the diff)
    const golden = fromYaml(read('test/fixtures/kueue/lab.yaml'));
    expect(objects).toEqual(golden);
    expect(gapsText(gaps)).toBe(read('test/fixtures/kueue/lab-gaps.txt'));
  });

  it('the example lab: the tree, quotas and limits as docs/kueue.md describes them', () => {
    const { fleet, policy } = load(LAB.cluster, LAB.policy);
    const { objects } = exportKueue(fleet, policy);
    const byName = (kind: string, name: string): KueueObject => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
    const quota = (o: KueueObject, flavor: string): unknown =>
      ((o.spec!.resourceGroups as { flavors: { name: string; resources: unknown[] }[] }[])[0]!.flavors.find((f) => f.name === flavor)!.resources[0]);
    // The fleet's 192 H100: 112 + 48 guaranteed to the top teams, 32 free in the root.
    expect(quota(byName('Cohort', 'arbiter'), 'h100')).toEqual({ name: 'nvidia.com/gpu', nominalQuota: 32 });
    // research's 112 H100 are all its children's (80 + 32): none of its own.
    expect(byName('Cohort', 'research').spec).toMatchObject({ parentName: 'arbiter', fairSharing: { weight: 2 } });
    expect(quota(byName('Cohort', 'research'), 'h100')).toEqual({ name: 'nvidia.com/gpu', nominalQuota: 0 });
    // pretraining: 80 guaranteed, limited to 160, so it may borrow 80.
    expect(quota(byName('ClusterQueue', 'pretraining'), 'h100')).toEqual({ name: 'nvidia.com/gpu', nominalQuota: 80, borrowingLimit: 80 });
    // serving lends 16 of its 32.
    expect(quota(byName('ClusterQueue', 'serving'), 'h100')).toEqual({ name: 'nvidia.com/gpu', nominalQuota: 32, lendingLimit: 16 });
    expect(byName('ClusterQueue', 'serving').spec).toMatchObject({
      cohortName: 'applied',
      preemption: { withinClusterQueue: 'LowerPriority', reclaimWithinCohort: 'Any', borrowWithinCohort: { policy: 'LowerPriority' } },
    });
    expect(objects.filter((o) => o.kind === 'LocalQueue').map((o) => `${o.metadata.namespace}/${o.metadata.name}->${String(o.spec!.clusterQueue)}`)).toEqual([
      'pretraining/default->pretraining',
      'alignment/default->alignment',
      'interp/default->interp',
      'serving/default->serving',
      'evals/default->evals',
    ]);
    expect(objects.filter((o) => o.kind === 'WorkloadPriorityClass').map((o) => [o.metadata.name, o.value])).toEqual([
      ['serving', 1000],
      ['training', 500],
      ['research', 100],
      ['opportunistic', 0],
    ]);
  });
});

describe('the validator refuses what Kueue refuses (so that its silence means something)', () => {
  const { fleet, policy } = load(LAB.cluster, LAB.policy);
  const objects = (): KueueObject[] => structuredClone(exportKueue(fleet, policy).objects);
  const queue = (os: KueueObject[]): KueueObject => os.find((o) => o.kind === 'ClusterQueue')!;

  it('a borrowingLimit on a ClusterQueue without a cohort (a CEL rule)', () => {
    const q = queue(objects());
    delete q.spec!.cohortName;
    expect(kueueProblems(q).join('\n')).toMatch(/borrowingLimit must be nil when cohort is empty/);
  });
  it('reclaimWithinCohort Never with borrowWithinCohort LowerPriority (a CEL rule)', () => {
    const q = queue(objects());
    (q.spec!.preemption as Record<string, unknown>).reclaimWithinCohort = 'Never';
    expect(kueueProblems(q).join('\n')).toMatch(/reclaimWithinCohort=Never and borrowWithinCohort.Policy!=Never/);
  });
  it('a flavor with fewer resources than coveredResources (a CEL rule)', () => {
    const q = queue(objects());
    (q.spec!.resourceGroups as { coveredResources: string[] }[])[0]!.coveredResources.push('cpu');
    expect(kueueProblems(q).join('\n')).toMatch(/flavors must have the same number of resources/);
  });
  it('an unknown field, a v1beta1 field name, a bad enum value, a bad name, a duplicate list-map key', () => {
    const q = queue(objects());
    (q.spec as Record<string, unknown>).cohort = 'arbiter'; // v1beta1's name of cohortName
    expect(kueueProblems(q).join('\n')).toMatch(/must NOT have additional properties.*cohort/);
    const r = queue(objects());
    r.spec!.queueingStrategy = 'Fifo';
    expect(kueueProblems(r).join('\n')).toMatch(/must be equal to one of the allowed values/);
    const s = queue(objects());
    s.metadata.name = 'Pretraining';
    expect(kueueProblems(s).join('\n')).toMatch(/metadata.name is not a DNS subdomain/);
    const t = queue(objects());
    const group = (t.spec!.resourceGroups as { flavors: unknown[] }[])[0]!;
    group.flavors.push(group.flavors[0]);
    expect(kueueProblems(t).join('\n')).toMatch(/duplicate item/);
  });
  it('a WorkloadPriorityClass value beyond int32', () => {
    const c = objects().find((o) => o.kind === 'WorkloadPriorityClass')!;
    c.value = 2 ** 31;
    expect(kueueProblems(c).join('\n')).toMatch(/must match format "int32"/);
  });
});

// Random valid policies: names Kubernetes refuses as they are (upper case, underscores, dots),
// fractional weights and priorities, limits, lendable parts, 1-3 flavors, trees up to 3 deep.
const NAME = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,12}$/);
interface RawTeam {
  name: string;
  share: number[];
  limitExtra: (number | null)[];
  lendFraction: number;
  weight: number;
  children: RawTeam[];
}
const rawTeam: fc.Memo<RawTeam> = fc.memo((depth) =>
  fc.record({
    name: NAME,
    share: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 3, maxLength: 3 }),
    limitExtra: fc.array(fc.option(fc.integer({ min: 0, max: 64 }), { nil: null }), { minLength: 3, maxLength: 3 }),
    lendFraction: fc.constantFrom(0, 0.5, 1),
    weight: fc.constantFrom(1, 2, 0.5, 3.25),
    children: depth <= 1 ? fc.constant([]) : fc.array(rawTeam(depth - 1), { maxLength: 3 }),
  }),
);
const randomInputs = fc
  .record({
    flavors: fc.uniqueArray(fc.constantFrom('h100', 'a100', 'l4', 'mi300x'), { minLength: 1, maxLength: 3 }),
    nodes: fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 3, maxLength: 3 }),
    teams: fc.array(rawTeam(3), { minLength: 1, maxLength: 4 }),
    classes: fc.uniqueArray(fc.record({ name: NAME, priority: fc.oneof(fc.integer({ min: -1000, max: 100000 }), fc.double({ min: -5, max: 5, noNaN: true })), preemptible: fc.boolean() }), { minLength: 1, maxLength: 4, selector: (c) => c.name }),
    minRuntime: fc.constantFrom(0, 600),
    withinTeam: fc.boolean(),
    borrowing: fc.constantFrom('lowerPriority', 'never'),
    fairShare: fc.boolean(),
    order: fc.constantFrom('fifo', 'las'),
  })
  .map((r) => {
    const seen = new Set<string>();
    const fleet: Fleet = { pools: r.flavors.map((f, i) => ({ name: `${f}-pool`, flavor: f, nodes: r.nodes[i]!, gpusPerNode: 8 })) };
    // Guarantees scaled down the tree so that children never exceed their parent.
    const team = (t: RawTeam, budget: number[]): Record<string, unknown> | null => {
      if (seen.has(t.name)) return null;
      seen.add(t.name);
      const guarantee = r.flavors.map((_, i) => Math.floor((budget[i]! * t.share[i]!) / 4));
      const children = t.children.map((c) => team(c, guarantee.map((g) => Math.floor(g / Math.max(1, t.children.length))))).filter((c) => c !== null);
      const g = Object.fromEntries(r.flavors.map((f, i) => [f, guarantee[i]!]));
      const limit = Object.fromEntries(r.flavors.flatMap((f, i) => (t.limitExtra[i] === null ? [] : [[f, guarantee[i]! + t.limitExtra[i]!]])));
      const lendable = Object.fromEntries(r.flavors.map((f, i) => [f, Math.floor(guarantee[i]! * t.lendFraction)]));
      return { name: t.name, guarantee: g, limit, lendable, weight: t.weight, ...(children.length > 0 ? { children } : {}) };
    };
    const top = r.teams.map((t) => team(t, r.flavors.map((_, i) => Math.floor((r.nodes[i]! * 8) / r.teams.length)))).filter((t) => t !== null);
    const policyText = JSON.stringify({
      priorityClasses: r.classes,
      defaultClass: r.classes[0]!.name,
      scheduling: { withinTeam: r.order },
      preemption: { minRuntime: r.minRuntime, withinTeam: r.withinTeam, borrowing: r.borrowing, fairShare: r.fairShare },
      teams: top,
    });
    return { fleet, policy: value(parsePolicy(policyText, 'random-policy.yaml', fleet)) };
  });

describe('random policies (fast-check)', () => {
  it('every export validates against the CRD schemas and CEL rules and survives the round trip', () => {
    fc.assert(
      fc.property(randomInputs, ({ fleet, policy }) => {
        const { objects } = exportKueue(fleet, policy);
        const parsed = fromYaml(kueueYaml(objects));
        expect(parsed.flatMap(kueueProblems)).toEqual([]);
        expect(roundTrip(objects)).toEqual(objects);
        // Every team is one Cohort or ClusterQueue, every leaf one LocalQueue.
        const count = (ts: readonly Policy['teams'][number][]): [number, number] =>
          ts.reduce<[number, number]>(([all, leaves], t) => {
            const [a, l] = count(t.children);
            return [all + 1 + a, leaves + (t.children.length === 0 ? 1 : 0) + l];
          }, [0, 0]);
        const [all, leaves] = count(policy.teams);
        expect(objects.filter((o) => o.kind === 'ClusterQueue' || (o.kind === 'Cohort' && o.metadata.name !== 'arbiter')).length).toBe(all);
        expect(objects.filter((o) => o.kind === 'LocalQueue').length).toBe(leaves);
      }),
      { numRuns: 60 },
    );
  });
});

describe('the command line', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const temp = (): string => {
    const d = mkdtempSync(path.join(tmpdir(), 'arbiter-kueue-'));
    dirs.push(d);
    return d;
  };

  it('export writes the objects to stdout and the gaps to stderr; import writes files check accepts, and a second export is identical', () => {
    const out = runArbiter(['export', 'kueue', '--cluster', LAB.cluster, '--policy', LAB.policy]);
    expect(out.status).toBe(0);
    expect(out.stderr).toContain('What Kueue cannot express for this policy');
    expect(out.stderr).toContain('minimum runtime before preemption (preemption.minRuntime 10m)');
    const dir = temp();
    writeFileSync(path.join(dir, 'objects.yaml'), out.stdout);
    const imported = runArbiter(['import', 'kueue', path.join(dir, 'objects.yaml'), '--out', path.join(dir, 'lab')]);
    expect(imported.stderr).toBe('');
    expect(imported.stdout).toMatch(/wrote .*cluster\.yaml \(3 pools\) and .*policy\.yaml \(7 teams, 4 classes\)/);
    const checked = runArbiter(['check', '--cluster', path.join(dir, 'lab/cluster.yaml'), '--policy', path.join(dir, 'lab/policy.yaml')]);
    expect(checked.status).toBe(0);
    const again = runArbiter(['export', 'kueue', '--cluster', path.join(dir, 'lab/cluster.yaml'), '--policy', path.join(dir, 'lab/policy.yaml')]);
    expect(fromYaml(again.stdout)).toEqual(fromYaml(out.stdout));
    // A second import into the same folder is refused without --force.
    const twice = runArbiter(['import', 'kueue', path.join(dir, 'objects.yaml'), '--out', path.join(dir, 'lab')]);
    expect(twice.status).toBe(2);
    expect(twice.stderr).toMatch(/already exist; pass --force/);
  });

  it('naming rules: --namespace and --local-queue templates, and a rule that gives clashing names is refused', () => {
    const dir = temp();
    const out = runArbiter(['export', 'kueue', '--cluster', LAB.cluster, '--policy', LAB.policy, '--namespace', 'team-{team}', '--local-queue', 'gpus', '--out', path.join(dir, 'o.yaml'), '--gaps', path.join(dir, 'gaps.txt')]);
    expect(out.status).toBe(0);
    expect(out.stdout).toBe('');
    const queues = fromYaml(readFileSync(path.join(dir, 'o.yaml'), 'utf8')).filter((o) => (o as KueueObject).kind === 'LocalQueue') as KueueObject[];
    expect(queues.map((q) => `${q.metadata.namespace}/${q.metadata.name}`)).toContain('team-evals/gpus');
    expect(readFileSync(path.join(dir, 'gaps.txt'), 'utf8')).toContain('reservations and backfill');
    const clash = runArbiter(['export', 'kueue', '--cluster', LAB.cluster, '--policy', LAB.policy, '--namespace', 'ml', '--local-queue', 'gpus']);
    expect(clash.status).toBe(2);
    expect(clash.stderr).toMatch(/one of them must contain \{team\}/);
  });

  it('import: a wrong apiVersion or a missing parent names the file, the document and the field (exit 2, nothing written)', () => {
    const dir = temp();
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: kueue.x-k8s.io/v1beta2',
        'kind: ResourceFlavor',
        'metadata: { name: h100 }',
        '---',
        'apiVersion: kueue.x-k8s.io/v1beta2',
        'kind: Cohort',
        'metadata: { name: root }',
        '---',
        'apiVersion: kueue.x-k8s.io/v1beta1',
        'kind: ClusterQueue',
        'metadata: { name: a }',
        '---',
        'apiVersion: kueue.x-k8s.io/v1beta2',
        'kind: ClusterQueue',
        'metadata: { name: b }',
        'spec: { cohortName: nowhere }',
        '',
      ].join('\n'),
    );
    const run = runArbiter(['import', 'kueue', file, '--out', path.join(dir, 'out')]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`${file}:9: apiVersion: expected kueue.x-k8s.io/v1beta2, got "kueue.x-k8s.io/v1beta1"`);
    expect(run.stderr).toContain(`${file}:13: spec.cohortName: "nowhere" is not a Cohort of these files`);
    expect(existsSync(path.join(dir, 'out'))).toBe(false);
  });

  it('import of hand-written objects: a fleet from the quotas, Kueue-only defaults', () => {
    const dir = temp();
    const file = path.join(dir, 'hand.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: kueue.x-k8s.io/v1beta2',
        'kind: ResourceFlavor',
        'metadata: { name: a100 }',
        '---',
        'apiVersion: kueue.x-k8s.io/v1beta2',
        'kind: WorkloadPriorityClass',
        'metadata: { name: high }',
        'value: 100',
        '---',
        'apiVersion: kueue.x-k8s.io/v1beta2',
        'kind: Cohort',
        'metadata: { name: lab }',
        '---',
        'apiVersion: kueue.x-k8s.io/v1beta2',
        'kind: ClusterQueue',
        'metadata: { name: team-a }',
        'spec:',
        '  cohortName: lab',
        '  resourceGroups:',
        '  - coveredResources: [nvidia.com/gpu]',
        '    flavors:',
        '    - name: a100',
        '      resources: [{ name: nvidia.com/gpu, nominalQuota: "16", borrowingLimit: "8" }]',
        '',
      ].join('\n'),
    );
    const run = runArbiter(['import', 'kueue', file, '--out', path.join(dir, 'out')]);
    expect(run.stderr).toBe('');
    expect(readFileSync(path.join(dir, 'out/cluster.yaml'), 'utf8')).toMatch(/name: a100\s+flavor: a100\s+nodes: 2\s+gpusPerNode: 8/);
    const policy = readFileSync(path.join(dir, 'out/policy.yaml'), 'utf8');
    expect(policy).toContain('guarantee: { a100: 16 }');
    expect(policy).toContain('limit: { a100: 24 }');
  });
});
