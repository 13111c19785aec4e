// The policy and fleet as Kueue objects (API kueue.x-k8s.io/v1beta2), and back (docs/kueue.md).
//
// The mapping, for `arbiter export kueue` and `arbiter import kueue`:
// - a ResourceFlavor per GPU type (flavor), its pools kept in an annotation;
// - a WorkloadPriorityClass per priority class (value = priority);
// - a root Cohort for the fleet, whose own nominalQuota is the capacity no top-level team is
//   guaranteed (the free pool anyone may borrow);
// - per inner team a Cohort, per leaf team a ClusterQueue, in tree order. Kueue counts a
//   cohort's own quota on top of its children's, while an Arbiter guarantee covers the whole
//   subtree, so a Cohort's nominalQuota is its guarantee minus its children's: research
//   (112 H100) over pretraining 80 + alignment 32 gets 0 of its own. borrowingLimit is the
//   limit minus the guarantee; lendingLimit is the lendable part (left out when all of it is);
// - per leaf team a LocalQueue in the team's namespace (naming rule: `{team}` templates).
// What Kueue has no field for is kept in `arbiter.io/*` annotations, so that the import gives
// back the same policy and a second export the same objects; `kueueGaps` lists it for people.
import type { Flavor, Fleet, Policy, PriorityClass, TeamSpec } from '../core/model.js';
import { flavorCapacity } from '../core/config/cluster.js';

export const KUEUE_API = 'kueue.x-k8s.io/v1beta2';
/** The resource every quota is written in (the NVIDIA device plugin's name). */
export const GPU_RESOURCE = 'nvidia.com/gpu';
const A = 'arbiter.io/';
export const ANNOTATIONS = {
  /** The Arbiter name of a team, class or flavor whose Kubernetes name had to differ. */
  name: `${A}name`,
  /** JSON list of the flavor's pools: [{name, nodes, gpusPerNode, rackSize?}]. */
  pools: `${A}pools`,
  /** JSON of the policy settings Kueue has no field for (on the root Cohort). */
  policy: `${A}policy`,
  /** The exact priority of a class when it is not an int32 (value is then rounded). */
  priority: `${A}priority`,
  /** "false" on a class that is never preempted and runs only inside guarantees. */
  preemptible: `${A}preemptible`,
  /** Seconds: the class's defaultTimeLimit. */
  defaultTimeLimit: `${A}default-time-limit`,
  /** The team (Arbiter name) of a LocalQueue. */
  team: `${A}team`,
} as const;

export interface KueueObject {
  apiVersion: string;
  kind: 'ResourceFlavor' | 'WorkloadPriorityClass' | 'Cohort' | 'ClusterQueue' | 'LocalQueue';
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  value?: number;
  description?: string;
}

export interface KueueExportOptions {
  /** The root Cohort's name (default "arbiter"). */
  readonly rootCohort?: string;
  /** A team's namespace; `{team}` is the team's Kubernetes name (default "{team}"). */
  readonly namespace?: string;
  /** A LocalQueue's name in that namespace; `{team}` as above (default "default"). */
  readonly localQueue?: string;
  /** The node label that selects a flavor's nodes (default "arbiter.io/flavor"). */
  readonly flavorLabel?: string;
}

/** What the export could not express, and what the objects do instead. */
export interface KueueGap {
  readonly feature: string;
  readonly instead: string;
}

export interface KueueExport {
  readonly objects: KueueObject[];
  readonly gaps: KueueGap[];
}

/** A problem with the options (a name rule giving invalid or clashing names). */
export class KueueOptionError extends Error {}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const INT32_MAX = 2 ** 31 - 1;

/** The policy settings with no Kueue field, kept on the root Cohort. */
interface PolicyAnnotation {
  defaultClass: string;
  withinTeam: Policy['scheduling']['withinTeam'];
  halfLife: number;
  minRuntime: number;
  restartOverhead: number;
  checkpointInterval: number;
  fairSharePreemption: boolean;
  governance?: Policy['governance'];
}

/**
 * A Kubernetes name (a DNS label: lower case, digits, dashes, at most 63) for an Arbiter name,
 * unique among `taken`: "Team_A" -> "team-a", a second "team-a" -> "team-a-2".
 */
function kubeName(name: string, taken: Set<string>): string {
  let base = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 57)
    .replace(/-+$/, '');
  if (base === '') base = 'x';
  let candidate = base;
  for (let n = 2; taken.has(candidate); n++) candidate = `${base}-${n}`;
  taken.add(candidate);
  return candidate;
}

/** metadata with the Arbiter name as an annotation when the Kubernetes name differs. */
function metadata(kube: string, original: string, annotations: Record<string, string> = {}): KueueObject['metadata'] {
  const all = kube === original ? annotations : { [ANNOTATIONS.name]: original, ...annotations };
  return Object.keys(all).length > 0 ? { name: kube, annotations: all } : { name: kube };
}

/** A quantity as written: an integer, or a decimal string ("0.5") for a fraction. */
function quantity(x: number): number | string {
  return Number.isInteger(x) ? x : String(x);
}

function applyTemplate(template: string, team: string): string {
  return template.replaceAll('{team}', team);
}

/** The Kueue objects for `policy` over `fleet`, and what they cannot express. */
export function exportKueue(fleet: Fleet, policy: Policy, options: KueueExportOptions = {}): KueueExport {
  const rootName = options.rootCohort ?? 'arbiter';
  const nsTemplate = options.namespace ?? '{team}';
  const lqTemplate = options.localQueue ?? 'default';
  const flavorLabel = options.flavorLabel ?? `${A}flavor`;
  if (!DNS_LABEL.test(rootName) || rootName.length > 63)
    throw new KueueOptionError(`--root-cohort "${rootName}": not a Kubernetes name; use lower-case letters, digits and dashes (at most 63), e.g. arbiter`);
  if (!nsTemplate.includes('{team}') && !lqTemplate.includes('{team}'))
    throw new KueueOptionError(`--namespace "${nsTemplate}" and --local-queue "${lqTemplate}": one of them must contain {team}, or every team's LocalQueue would have the same name in the same namespace`);

  const capacity = flavorCapacity(fleet);
  const flavors = [...capacity.keys()];
  const objects: KueueObject[] = [];

  // ResourceFlavors, in the order flavors first appear in the fleet.
  const flavorNames = new Map<Flavor, string>();
  const takenFlavors = new Set<string>();
  for (const flavor of flavors) {
    const kube = kubeName(flavor, takenFlavors);
    flavorNames.set(flavor, kube);
    const pools = fleet.pools
      .filter((p) => p.flavor === flavor)
      .map((p) => ({ name: p.name, nodes: p.nodes, gpusPerNode: p.gpusPerNode, ...(p.rackSize !== undefined ? { rackSize: p.rackSize } : {}) }));
    objects.push({
      apiVersion: KUEUE_API,
      kind: 'ResourceFlavor',
      metadata: metadata(kube, flavor, { [ANNOTATIONS.pools]: JSON.stringify(pools) }),
      spec: { nodeLabels: { [flavorLabel]: flavor } },
    });
  }

  // WorkloadPriorityClasses, in policy order.
  const takenClasses = new Set<string>();
  for (const c of policy.priorityClasses) objects.push(priorityClass(c, kubeName(c.name, takenClasses)));

  const policyAnnotation: PolicyAnnotation = {
    defaultClass: policy.defaultClass,
    withinTeam: policy.scheduling.withinTeam,
    halfLife: policy.fairShare.halfLife,
    minRuntime: policy.preemption.minRuntime,
    restartOverhead: policy.preemption.restartOverhead,
    checkpointInterval: policy.preemption.checkpointInterval,
    fairSharePreemption: policy.preemption.fairShare,
    ...(policy.governance ? { governance: policy.governance } : {}),
  };
  const topGuaranteed = (flavor: Flavor): number => policy.teams.reduce((sum, t) => sum + (t.guarantee[flavor] ?? 0), 0);
  objects.push({
    apiVersion: KUEUE_API,
    kind: 'Cohort',
    metadata: { name: rootName, annotations: { [ANNOTATIONS.policy]: JSON.stringify(policyAnnotation) } },
    spec: {
      resourceGroups: [
        {
          coveredResources: [GPU_RESOURCE],
          flavors: flavors.map((f) => ({ name: flavorNames.get(f)!, resources: [{ name: GPU_RESOURCE, nominalQuota: (capacity.get(f) ?? 0) - topGuaranteed(f) }] })),
        },
      ],
    },
  });

  // Borrowing between teams preempts lower classes only with classical preemption: Kueue
  // refuses borrowWithinCohort together with fair sharing (its field's contract).
  const preemption = {
    withinClusterQueue: policy.preemption.withinTeam ? 'LowerPriority' : 'Never',
    reclaimWithinCohort: 'Any',
    borrowWithinCohort: { policy: policy.preemption.borrowing === 'lowerPriority' && !policy.preemption.fairShare ? 'LowerPriority' : 'Never' },
  };
  const resourceGroups = (team: TeamSpec, own: (f: Flavor) => number): unknown[] => [
    {
      coveredResources: [GPU_RESOURCE],
      flavors: flavors.map((f) => {
        const guarantee = team.guarantee[f] ?? 0;
        const limit = team.limit[f];
        const lendable = team.lendable[f] ?? guarantee;
        return {
          name: flavorNames.get(f)!,
          resources: [
            {
              name: GPU_RESOURCE,
              nominalQuota: own(f),
              ...(limit !== undefined ? { borrowingLimit: limit - guarantee } : {}),
              ...(lendable < guarantee ? { lendingLimit: lendable } : {}),
            },
          ],
        };
      }),
    },
  ];

  const takenTeams = new Set<string>([rootName]);
  const localQueues: KueueObject[] = [];
  const queueKeys = new Map<string, string>();
  const visit = (team: TeamSpec, parent: string): void => {
    const kube = kubeName(team.name, takenTeams);
    const common = { resourceGroups: [] as unknown[], fairSharing: { weight: quantity(team.weight) } };
    if (team.children.length > 0) {
      const childSum = (f: Flavor): number => team.children.reduce((sum, c) => sum + (c.guarantee[f] ?? 0), 0);
      common.resourceGroups = resourceGroups(team, (f) => (team.guarantee[f] ?? 0) - childSum(f));
      objects.push({ apiVersion: KUEUE_API, kind: 'Cohort', metadata: metadata(kube, team.name), spec: { parentName: parent, ...common } });
      for (const child of team.children) visit(child, kube);
      return;
    }
    const namespace = applyTemplate(nsTemplate, kube);
    const queue = applyTemplate(lqTemplate, kube);
    if (!DNS_LABEL.test(namespace) || namespace.length > 63)
      throw new KueueOptionError(`--namespace "${nsTemplate}" gives "${namespace}" for team "${team.name}", not a namespace name; use lower-case letters, digits and dashes (at most 63)`);
    if (!DNS_SUBDOMAIN.test(queue) || queue.length > 253)
      throw new KueueOptionError(`--local-queue "${lqTemplate}" gives "${queue}" for team "${team.name}", not a Kubernetes name; use lower-case letters, digits, dashes and dots`);
    const key = `${namespace}/${queue}`;
    const other = queueKeys.get(key);
    if (other !== undefined)
      throw new KueueOptionError(`teams "${other}" and "${team.name}" would both get LocalQueue ${key}; put {team} in --namespace or --local-queue`);
    queueKeys.set(key, team.name);
    common.resourceGroups = resourceGroups(team, (f) => team.guarantee[f] ?? 0);
    objects.push({
      apiVersion: KUEUE_API,
      kind: 'ClusterQueue',
      metadata: metadata(kube, team.name),
      spec: {
        cohortName: parent,
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
        queueingStrategy: 'BestEffortFIFO',
        preemption,
        ...common,
      },
    });
    localQueues.push({
      apiVersion: KUEUE_API,
      kind: 'LocalQueue',
      metadata: { name: queue, namespace, annotations: { [ANNOTATIONS.team]: team.name } },
      spec: { clusterQueue: kube },
    });
  };
  for (const team of policy.teams) visit(team, rootName);
  objects.push(...localQueues);
  return { objects, gaps: kueueGaps(fleet, policy) };
}

function priorityClass(c: PriorityClass, kube: string): KueueObject {
  const exact = Number.isInteger(c.priority) && Math.abs(c.priority) <= INT32_MAX;
  const value = Math.max(-INT32_MAX - 1, Math.min(INT32_MAX, Math.round(c.priority))) + 0; // + 0: never -0
  const annotations: Record<string, string> = {};
  if (!exact) annotations[ANNOTATIONS.priority] = String(c.priority);
  if (!c.preemptible) annotations[ANNOTATIONS.preemptible] = 'false';
  if (c.defaultTimeLimit !== undefined) annotations[ANNOTATIONS.defaultTimeLimit] = String(c.defaultTimeLimit);
  const what = c.preemptible ? 'preemptible' : 'never preempted, runs only inside guarantees';
  return {
    apiVersion: KUEUE_API,
    kind: 'WorkloadPriorityClass',
    metadata: metadata(kube, c.name, annotations),
    value,
    description: `Arbiter priority class "${c.name}" (priority ${c.priority}, ${what})`,
  };
}

/** A duration for people: 600 -> "10m". */
function human(seconds: number): string {
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60]] as const) if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

/** What Kueue cannot express for this policy, each with what the exported objects do instead. */
export function kueueGaps(fleet: Fleet, policy: Policy): KueueGap[] {
  const gaps: KueueGap[] = [];
  const p = policy.preemption;
  if (p.minRuntime > 0)
    gaps.push({
      feature: `minimum runtime before preemption (preemption.minRuntime ${human(p.minRuntime)})`,
      instead: 'Kueue may preempt a workload as soon as it is admitted; the ClusterQueues preempt at once (the value is kept in the root Cohort\'s arbiter.io/policy annotation)',
    });
  gaps.push({
    feature: `fair share with decay between teams (fairShare.halfLife ${human(policy.fairShare.halfLife)})`,
    instead: 'the team weights are exported as fairSharing.weight, which Kueue compares by current usage only, and only when fair sharing is enabled in Kueue\'s Configuration (fairSharing.enable: true)',
  });
  if (p.fairShare)
    gaps.push({
      feature: 'fair-share preemption between teams (preemption.fairShare: true)',
      instead: 'borrowWithinCohort is Never (Kueue refuses it with fair sharing); enable fairSharing with preemptionStrategies [LessThanOrEqualToFinalShare, LessThanInitialShare] in Kueue\'s Configuration',
    });
  gaps.push({
    feature: 'reservations and backfill (nodes held for the first job that cannot start; shorter jobs with time limits use them meanwhile)',
    instead: 'queueingStrategy BestEffortFIFO: a workload that does not fit lets later ones be admitted, with nothing held for it, so large jobs can wait behind a stream of small ones',
  });
  gaps.push({
    feature: 'speeds per GPU type (a job\'s duration on each flavor) and the choice of the flavor where it ends first',
    instead: 'each ClusterQueue lists the flavors in fleet order and Kueue takes the first with room (flavorFungibility defaults)',
  });
  const fixed = policy.priorityClasses.filter((c) => !c.preemptible);
  if (fixed.length > 0)
    gaps.push({
      feature: `classes never preempted and run only inside their team's guarantee (${fixed.map((c) => c.name).join(', ')})`,
      instead: 'their WorkloadPriorityClass keeps their priority, so lower classes never preempt them inside a ClusterQueue, but Kueue may still admit them on borrowed quota and then reclaim them (reclaimWithinCohort: Any); give them a ClusterQueue of their own without borrowing if that matters',
    });
  if (policy.scheduling.withinTeam === 'las')
    gaps.push({
      feature: 'least-attained-service order inside a team (scheduling.withinTeam: las)',
      instead: 'Kueue orders a ClusterQueue by priority, then creation time (fifo)',
    });
  const limited = policy.priorityClasses.filter((c) => c.defaultTimeLimit !== undefined);
  if (limited.length > 0)
    gaps.push({
      feature: `default time limits per class (${limited.map((c) => `${c.name} ${human(c.defaultTimeLimit!)}`).join(', ')})`,
      instead: 'nothing: set the label kueue.x-k8s.io/max-exec-time-seconds on the jobs of these classes',
    });
  if (p.restartOverhead > 0 || p.checkpointInterval > 0)
    gaps.push({
      feature: 'restart overhead and checkpoint interval (preemption.restartOverhead, preemption.checkpointInterval)',
      instead: 'nothing: they describe the jobs for Arbiter\'s simulator; Kueue does not model progress',
    });
  if (fleet.pools.some((pool) => pool.rackSize !== undefined))
    gaps.push({
      feature: 'packing whole-node jobs into few racks (rackSize)',
      instead: 'the ResourceFlavors have no topologyName; add a Topology object and node labels for Kueue\'s topology-aware scheduling',
    });
  if (policy.governance)
    gaps.push({
      feature: 'governance (proposals, votes, ramps, the audit log)',
      instead: 'nothing: change these objects through Arbiter\'s proposals and export again',
    });
  const fractional = policy.priorityClasses.filter((c) => !Number.isInteger(c.priority) || Math.abs(c.priority) > INT32_MAX);
  if (fractional.length > 0)
    gaps.push({
      feature: `priorities that are not 32-bit integers (${fractional.map((c) => c.name).join(', ')})`,
      instead: 'the value is rounded (and clamped) and the exact priority kept in the arbiter.io/priority annotation',
    });
  return gaps;
}
