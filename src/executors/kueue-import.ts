// Kueue objects (kueue.x-k8s.io/v1beta2) back into a fleet and a policy: the inverse of
// kueue.ts's mapping (docs/kueue.md). Objects Arbiter wrote come back exactly (their
// arbiter.io/* annotations carry what Kueue has no field for); objects written by hand get
// the policy's defaults for those, and a fleet of one pool per flavor.
import type { Flavor, Fleet, Issue, Policy, Pool, PriorityClass, Result, TeamSpec } from '../core/model.js';
import { ANNOTATIONS, GPU_RESOURCE, KUEUE_API } from './kueue.js';

/** One parsed YAML document and where it came from, for messages. */
export interface KueueDocument {
  readonly file: string;
  /** 1-based line of the document's start, when known. */
  readonly line?: number;
  readonly value: unknown;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const KINDS = ['ResourceFlavor', 'WorkloadPriorityClass', 'Cohort', 'ClusterQueue', 'LocalQueue'];
const DEFAULT_GPUS_PER_NODE = 8;

interface Node {
  readonly doc: KueueDocument;
  readonly kind: 'Cohort' | 'ClusterQueue';
  readonly kube: string;
  readonly name: string;
  readonly parent: string | undefined;
  /** Own nominalQuota, borrowingLimit, lendingLimit per flavor (Arbiter flavor names). */
  readonly quota: Map<Flavor, { nominal: number; borrowing?: number; lending?: number }>;
  readonly weight: number;
  readonly preemption: Obj | undefined;
}

/** Reads Kueue objects into a fleet and a policy; issues name the file, document and field. */
export function importKueue(docs: readonly KueueDocument[]): Result<{ fleet: Fleet; policy: Policy }> {
  const issues: Issue[] = [];
  const problem = (doc: KueueDocument, path: string, message: string): void => {
    issues.push({ file: doc.file, ...(doc.line !== undefined ? { line: doc.line } : {}), path, message });
  };
  const annotation = (o: Obj, key: string): string | undefined => {
    const a = (o.metadata as Obj | undefined)?.annotations;
    const v = isObj(a) ? a[key] : undefined;
    return typeof v === 'string' ? v : undefined;
  };
  const json = <T>(doc: KueueDocument, o: Obj, key: string): T | undefined => {
    const text = annotation(o, key);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      problem(doc, `metadata.annotations.${key}`, 'not valid JSON; fix it or remove the annotation');
      return undefined;
    }
  };
  /** A whole number of GPUs from a Kubernetes quantity (8, "8"). */
  const count = (doc: KueueDocument, path: string, v: unknown): number | undefined => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
    if (Number.isInteger(n) && n >= 0) return n;
    problem(doc, path, `expected a whole number of GPUs (e.g. 8 or "8"), got ${JSON.stringify(v)}`);
    return undefined;
  };

  const flavors: { kube: string; name: string; pools: Pool[] | undefined; doc: KueueDocument }[] = [];
  const classes: PriorityClass[] = [];
  const nodes: Node[] = [];
  let root: { doc: KueueDocument; o: Obj; kube: string } | undefined;

  for (const doc of docs) {
    const o = doc.value;
    if (o === null || o === undefined) continue; // an empty document (a trailing ---)
    if (!isObj(o)) {
      problem(doc, '', 'expected a Kubernetes object (a mapping with apiVersion, kind, metadata)');
      continue;
    }
    if (o.apiVersion !== KUEUE_API) {
      problem(doc, 'apiVersion', `expected ${KUEUE_API}, got ${JSON.stringify(o.apiVersion)}; convert v1beta1 objects first (kubectl get -o yaml on a cluster serving v1beta2)`);
      continue;
    }
    const kind = o.kind;
    if (typeof kind !== 'string' || !KINDS.includes(kind)) {
      problem(doc, 'kind', `expected one of ${KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
      continue;
    }
    const kube = (o.metadata as Obj | undefined)?.name;
    if (typeof kube !== 'string' || kube === '') {
      problem(doc, 'metadata.name', 'missing; every object needs a name');
      continue;
    }
    const name = annotation(o, ANNOTATIONS.name) ?? kube;
    const spec = isObj(o.spec) ? o.spec : {};
    switch (kind) {
      case 'ResourceFlavor':
        flavors.push({ kube, name, pools: json<Pool[]>(doc, o, ANNOTATIONS.pools), doc });
        break;
      case 'WorkloadPriorityClass': {
        const exact = annotation(o, ANNOTATIONS.priority);
        const priority = exact !== undefined ? Number(exact) : o.value;
        if (typeof priority !== 'number' || !Number.isFinite(priority)) {
          problem(doc, 'value', `expected a number, got ${JSON.stringify(o.value)}`);
          break;
        }
        const limit = annotation(o, ANNOTATIONS.defaultTimeLimit);
        classes.push({
          name,
          priority,
          preemptible: annotation(o, ANNOTATIONS.preemptible) !== 'false',
          ...(limit !== undefined ? { defaultTimeLimit: Number(limit) } : {}),
        });
        break;
      }
      case 'LocalQueue':
        break; // Entry points only: the team is its ClusterQueue.
      case 'Cohort':
      case 'ClusterQueue': {
        const parent = kind === 'Cohort' ? spec.parentName : spec.cohortName;
        if (kind === 'Cohort' && parent === undefined) {
          if (root) problem(doc, 'spec.parentName', `a second root Cohort (the first is "${root.kube}"); give it a parentName so the teams form one tree`);
          else root = { doc, o, kube };
          break;
        }
        if (typeof parent !== 'string') {
          problem(doc, kind === 'Cohort' ? 'spec.parentName' : 'spec.cohortName', 'missing; the team must be in the tree under the root Cohort');
          break;
        }
        const quota = new Map<Flavor, { nominal: number; borrowing?: number; lending?: number }>();
        const groups = Array.isArray(spec.resourceGroups) ? (spec.resourceGroups as unknown[]) : [];
        groups.forEach((g, gi) => {
          const fl = isObj(g) && Array.isArray(g.flavors) ? (g.flavors as unknown[]) : [];
          fl.forEach((f, fi) => {
            if (!isObj(f)) return;
            const resources = Array.isArray(f.resources) ? (f.resources as unknown[]) : [];
            resources.forEach((r, ri) => {
              if (!isObj(r) || r.name !== GPU_RESOURCE) return;
              const path = `spec.resourceGroups[${gi}].flavors[${fi}].resources[${ri}]`;
              const nominal = count(doc, `${path}.nominalQuota`, r.nominalQuota);
              const borrowing = r.borrowingLimit === undefined ? undefined : count(doc, `${path}.borrowingLimit`, r.borrowingLimit);
              const lending = r.lendingLimit === undefined ? undefined : count(doc, `${path}.lendingLimit`, r.lendingLimit);
              if (nominal !== undefined && typeof f.name === 'string')
                quota.set(f.name, { nominal, ...(borrowing !== undefined ? { borrowing } : {}), ...(lending !== undefined ? { lending } : {}) });
            });
          });
        });
        const w = isObj(spec.fairSharing) ? spec.fairSharing.weight : undefined;
        const weight = w === undefined ? 1 : Number(w);
        if (!(weight > 0)) problem(doc, 'spec.fairSharing.weight', `expected a number above 0, got ${JSON.stringify(w)}`);
        nodes.push({ doc, kind, kube, name, parent, quota, weight: weight > 0 ? weight : 1, preemption: isObj(spec.preemption) ? spec.preemption : undefined });
        break;
      }
    }
  }
  if (!root) issues.push({ file: docs[0]?.file ?? '(no files)', path: '', message: 'no root Cohort (one without parentName); the team tree hangs from it' });
  if (flavors.length === 0) issues.push({ file: docs[0]?.file ?? '(no files)', path: '', message: 'no ResourceFlavor; the fleet needs at least one GPU type' });
  if (!root || flavors.length === 0) return { ok: false, issues };

  // Quota entries name ResourceFlavors by their Kubernetes names.
  const flavorByKube = new Map(flavors.map((f) => [f.kube, f.name]));
  const translate = (node: Node): Node => {
    const quota = new Map<Flavor, { nominal: number; borrowing?: number; lending?: number }>();
    for (const [kube, q] of node.quota) {
      const flavor = flavorByKube.get(kube);
      if (flavor === undefined) problem(node.doc, 'spec.resourceGroups', `flavor "${kube}" has no ResourceFlavor; add one or remove the entry`);
      else quota.set(flavor, q);
    }
    return { ...node, quota };
  };
  const teams = nodes.map(translate);
  const rootNode = translate({ doc: root.doc, kind: 'Cohort', kube: root.kube, name: root.kube, parent: undefined, quota: readRootQuota(root.o), weight: 1, preemption: undefined });

  const byKube = new Map<string, Node>();
  for (const t of teams) {
    if (byKube.has(t.kube) || t.kube === root.kube) problem(t.doc, 'metadata.name', `"${t.kube}" names two Cohorts or ClusterQueues; team names must be unique`);
    byKube.set(t.kube, t);
  }
  const childrenOf = new Map<string, Node[]>();
  for (const t of teams) {
    if (t.parent !== root.kube && byKube.get(t.parent!)?.kind !== 'Cohort') {
      problem(t.doc, t.kind === 'Cohort' ? 'spec.parentName' : 'spec.cohortName', `"${t.parent}" is not a Cohort of these files; name one of them or the root "${root.kube}"`);
      continue;
    }
    childrenOf.set(t.parent!, [...(childrenOf.get(t.parent!) ?? []), t]);
  }
  // A Cohort's guarantee is its own quota plus its children's (the inverse of the export).
  const seen = new Set<string>();
  const build = (node: Node): TeamSpec => {
    seen.add(node.kube);
    const children = node.kind === 'Cohort' ? (childrenOf.get(node.kube) ?? []).map(build) : [];
    const guarantee: Record<Flavor, number> = {};
    const limit: Record<Flavor, number> = {};
    const lendable: Record<Flavor, number> = {};
    for (const f of flavors) {
      const q = node.quota.get(f.name);
      const g = (q?.nominal ?? 0) + children.reduce((sum, c) => sum + (c.guarantee[f.name] ?? 0), 0);
      if (g > 0 || q !== undefined) guarantee[f.name] = g;
      if (q?.borrowing !== undefined) limit[f.name] = g + q.borrowing;
      if (g > 0) lendable[f.name] = q?.lending !== undefined ? Math.min(q.lending, g) : g;
    }
    return { name: node.name, guarantee: dropZeros(guarantee), limit, lendable, weight: node.weight, children };
  };
  const tree = (childrenOf.get(root.kube) ?? []).map(build);
  for (const t of teams) if (!seen.has(t.kube)) problem(t.doc, 'metadata.name', `"${t.kube}" is not under the root Cohort "${root.kube}" (a cycle of parents?)`);

  // The fleet: capacity per flavor is all the quota of the tree, the root's own included.
  const pools: Pool[] = [];
  for (const f of flavors) {
    const total = (rootNode.quota.get(f.name)?.nominal ?? 0) + tree.reduce((sum, t) => sum + (t.guarantee[f.name] ?? 0), 0);
    if (f.pools) pools.push(...f.pools.map((p) => ({ ...p, flavor: f.name })));
    else if (total > 0) {
      const perNode = total % DEFAULT_GPUS_PER_NODE === 0 ? DEFAULT_GPUS_PER_NODE : 1;
      pools.push({ name: f.name, flavor: f.name, nodes: total / perNode, gpusPerNode: perNode });
    } else problem(f.doc, 'metadata.name', `flavor "${f.name}" has no GPUs: no quota anywhere and no arbiter.io/pools annotation`);
  }
  if (issues.length > 0) return { ok: false, issues };

  const settings = json<Partial<{ defaultClass: string; withinTeam: 'fifo' | 'las'; halfLife: number; minRuntime: number; restartOverhead: number; checkpointInterval: number; fairSharePreemption: boolean; governance: Policy['governance'] }>>(root.doc, root.o, ANNOTATIONS.policy) ?? {};
  const queue = teams.find((t) => t.kind === 'ClusterQueue');
  const pre = queue?.preemption ?? {};
  const borrow = isObj(pre.borrowWithinCohort) ? pre.borrowWithinCohort.policy : undefined;
  const policy: Policy = {
    priorityClasses: classes,
    defaultClass: settings.defaultClass ?? [...classes].sort((a, b) => a.priority - b.priority)[0]?.name ?? 'research',
    scheduling: { withinTeam: settings.withinTeam ?? 'fifo' },
    fairShare: { halfLife: settings.halfLife ?? 7 * 86_400 },
    preemption: {
      minRuntime: settings.minRuntime ?? 0,
      restartOverhead: settings.restartOverhead ?? 0,
      checkpointInterval: settings.checkpointInterval ?? 0,
      withinTeam: pre.withinClusterQueue !== undefined ? pre.withinClusterQueue !== 'Never' : true,
      borrowing: settings.fairSharePreemption === true || borrow === 'LowerPriority' ? 'lowerPriority' : 'never',
      fairShare: settings.fairSharePreemption ?? false,
    },
    teams: tree,
    ...(settings.governance ? { governance: settings.governance } : {}),
  };
  return { ok: true, value: { fleet: { pools }, policy }, warnings: [] };
}

function readRootQuota(o: Obj): Map<Flavor, { nominal: number }> {
  const quota = new Map<Flavor, { nominal: number }>();
  const spec = isObj(o.spec) ? o.spec : {};
  for (const g of Array.isArray(spec.resourceGroups) ? (spec.resourceGroups as unknown[]) : []) {
    for (const f of isObj(g) && Array.isArray(g.flavors) ? (g.flavors as unknown[]) : []) {
      if (!isObj(f) || typeof f.name !== 'string') continue;
      for (const r of Array.isArray(f.resources) ? (f.resources as unknown[]) : []) {
        if (isObj(r) && r.name === GPU_RESOURCE) quota.set(f.name, { nominal: Number(r.nominalQuota) || 0 });
      }
    }
  }
  return quota;
}

function dropZeros(q: Record<Flavor, number>): Record<Flavor, number> {
  return Object.fromEntries(Object.entries(q).filter(([, n]) => n > 0));
}
