// Parsing and validation of the allocation policy, policy.yaml (docs/formats.md).
// Every key except `teams` has a default: the values shown in formats.md.
import type { Node } from 'yaml';
import type {
  BorrowingPreemption,
  Flavor,
  Fleet,
  Policy,
  PriorityClass,
  Result,
  TeamSpec,
  WithinTeamOrder,
} from '../model.js';
import { flavorCapacity } from './cluster.js';
import { readGovernance } from './governance.js';
import { at, dot, YamlInput, type Entry } from './yaml.js';

const TOP_KEYS = [
  'priorityClasses',
  'defaultClass',
  'scheduling',
  'fairShare',
  'preemption',
  'teams',
  'governance',
];
const CLASS_KEYS = ['name', 'priority', 'preemptible', 'defaultTimeLimit'];
const PREEMPTION_KEYS = [
  'minRuntime',
  'restartOverhead',
  'checkpointInterval',
  'withinTeam',
  'borrowing',
  'fairShare',
];
const TEAM_KEYS = ['name', 'guarantee', 'limit', 'lendable', 'weight', 'children'];
const WITHIN_TEAM: readonly WithinTeamOrder[] = ['fifo', 'las'];
const BORROWING: readonly BorrowingPreemption[] = ['lowerPriority', 'never'];

const DEFAULT_CLASSES: readonly PriorityClass[] = [
  { name: 'serving', priority: 1000, preemptible: false },
  { name: 'training', priority: 500, preemptible: true },
  { name: 'research', priority: 100, preemptible: true },
  { name: 'opportunistic', priority: 0, preemptible: true },
];
const DEFAULT_CLASS = 'research';
const DAY = 86_400;

/** Every team of the tree by name, parents before their children, siblings in file order. */
export function allTeams(policy: Pick<Policy, 'teams'>): Map<string, TeamSpec> {
  const teams = new Map<string, TeamSpec>();
  const visit = (team: TeamSpec): void => {
    teams.set(team.name, team);
    team.children.forEach(visit);
  };
  policy.teams.forEach(visit);
  return teams;
}

/** The leaf teams (those jobs are submitted to) by name, in tree order. */
export function leafTeams(policy: Pick<Policy, 'teams'>): Map<string, TeamSpec> {
  return new Map([...allTeams(policy)].filter(([, team]) => team.children.length === 0));
}

/** Names of the leaf teams under `team` (itself when it is a leaf), in tree order. */
export function leavesUnder(team: TeamSpec): string[] {
  return team.children.length === 0 ? [team.name] : team.children.flatMap(leavesUnder);
}

/** A valid quota entry and the node it came from (for the line of a later message). */
interface QuotaEntry {
  readonly gpus: number;
  readonly node: Node;
}

/** A quota as read: its valid entries, and whether every entry was valid. */
interface Quota {
  readonly entries: Map<Flavor, QuotaEntry>;
  readonly valid: boolean;
}

/** A team with a valid name and guarantee, with what the sum checks need to point at the right line. */
interface ReadTeam {
  readonly spec: TeamSpec;
  readonly path: string;
  readonly guarantee: Map<Flavor, QuotaEntry>;
}

/** Parses policy.yaml against the fleet; on failure the issues list every problem of the file. */
export function parsePolicy(text: string, file: string, fleet: Fleet): Result<Policy> {
  const { input, root } = YamlInput.parse(text, file);
  if (root === null)
    input.error('', undefined, 'the file is empty; expected a mapping with at least a "teams" list');
  const top = root ? input.mapping(root, '', TOP_KEYS) : undefined;
  if (!top) return input.failure();
  const capacity = flavorCapacity(fleet);

  /** The value of `key` in `section` read by `read`, or `fallback` when absent or invalid. */
  const option = <T>(
    section: Map<string, Entry> | undefined,
    path: string,
    key: string,
    read: (node: Node, path: string) => T | undefined,
    fallback: T,
  ): T => {
    const node = section?.get(key)?.value;
    return (node && read(node, dot(path, key))) ?? fallback;
  };
  const sectionOf = (key: string, keys: readonly string[]): Map<string, Entry> | undefined => {
    const node = top.get(key)?.value;
    return node ? input.mapping(node, key, keys) : new Map<string, Entry>();
  };
  const duration = (node: Node, path: string): number | undefined => input.duration(node, path);
  const boolean = (node: Node, path: string): boolean | undefined => input.boolean(node, path);

  const { priorityClasses, complete } = readClasses(input, top.get('priorityClasses')?.value);
  const defaultClassNode = top.get('defaultClass')?.value;
  const defaultClass = option(
    top,
    '',
    'defaultClass',
    (node, path) => input.nonEmptyString(node, path),
    DEFAULT_CLASS,
  );
  if (complete && !priorityClasses.some((c) => c.name === defaultClass)) {
    const names = priorityClasses.map((c) => c.name).join(', ');
    input.error(
      'defaultClass',
      defaultClassNode ?? top.get('priorityClasses')?.value,
      defaultClassNode
        ? `"${defaultClass}" is not a priority class; name one of: ${names}`
        : `not set, and its default "${DEFAULT_CLASS}" is not a priority class; set defaultClass to one of: ${names}`,
    );
  }

  const scheduling = sectionOf('scheduling', ['withinTeam']);
  const withinTeam = option(
    scheduling,
    'scheduling',
    'withinTeam',
    (n, p) => input.oneOf(n, p, WITHIN_TEAM),
    'fifo',
  );

  const fairShare = sectionOf('fairShare', ['halfLife']);
  const halfLife = option(fairShare, 'fairShare', 'halfLife', duration, 7 * DAY);
  const halfLifeNode = fairShare?.get('halfLife')?.value;
  if (halfLife === 0)
    input.error(
      'fairShare.halfLife',
      halfLifeNode,
      'must be more than 0 (past usage would be forgotten at once), e.g. 7d',
    );

  const preemptionSection = sectionOf('preemption', PREEMPTION_KEYS);
  const preemption = {
    minRuntime: option(preemptionSection, 'preemption', 'minRuntime', duration, 600),
    restartOverhead: option(preemptionSection, 'preemption', 'restartOverhead', duration, 0),
    checkpointInterval: option(preemptionSection, 'preemption', 'checkpointInterval', duration, 0),
    withinTeam: option(preemptionSection, 'preemption', 'withinTeam', boolean, true),
    borrowing: option(
      preemptionSection,
      'preemption',
      'borrowing',
      (n, p) => input.oneOf(n, p, BORROWING),
      'lowerPriority',
    ),
    fairShare: option(preemptionSection, 'preemption', 'fairShare', boolean, false),
  };

  const teams = readTeams(input, top, root ?? undefined, capacity);

  const governanceNode = top.get('governance')?.value;
  const governance = governanceNode ? readGovernance(input, governanceNode) : undefined;

  return input.result((): Policy => ({
    priorityClasses,
    defaultClass,
    scheduling: { withinTeam },
    fairShare: { halfLife },
    preemption,
    teams,
    ...(governance ? { governance } : {}),
  }));
}

/**
 * The priority classes (the defaults when the key is absent). `complete` is false when a class
 * name could not be read, so that checks against the names would be guesses.
 */
function readClasses(
  input: YamlInput,
  node: Node | undefined,
): { priorityClasses: PriorityClass[]; complete: boolean } {
  if (!node) return { priorityClasses: [...DEFAULT_CLASSES], complete: true };
  const items = input.list(node, 'priorityClasses');
  if (!items) return { priorityClasses: [], complete: false };
  if (items.length === 0) {
    input.error(
      'priorityClasses',
      node,
      'no classes; list at least one, or leave the key out to get the defaults',
    );
    return { priorityClasses: [], complete: false };
  }
  const priorityClasses: PriorityClass[] = [];
  const firstByName = new Map<string, string>();
  let complete = true;
  items.forEach((item, index) => {
    const path = at('priorityClasses', index);
    const fields = input.mapping(item, path, CLASS_KEYS);
    if (!fields) {
      complete = false;
      return;
    }
    const nameNode = input.required(fields, 'name', item, path, 'the class a unique name, e.g. training');
    const name = nameNode && input.nonEmptyString(nameNode, dot(path, 'name'));
    if (name === undefined) complete = false;
    else {
      const first = firstByName.get(name);
      if (first === undefined) firstByName.set(name, path);
      else
        input.error(
          dot(path, 'name'),
          nameNode,
          `class name "${name}" is already used by ${first}; class names must be unique`,
        );
    }
    const priorityNode = input.required(
      fields,
      'priority',
      item,
      path,
      'its priority, a number (higher is more important)',
    );
    const priority = priorityNode && input.finiteNumber(priorityNode, dot(path, 'priority'));
    const preemptibleNode = fields.get('preemptible')?.value;
    const preemptible = preemptibleNode ? input.boolean(preemptibleNode, dot(path, 'preemptible')) : true;
    const limitNode = fields.get('defaultTimeLimit')?.value;
    let defaultTimeLimit: number | undefined;
    if (limitNode) {
      const limitPath = dot(path, 'defaultTimeLimit');
      defaultTimeLimit = input.duration(limitNode, limitPath);
      if (defaultTimeLimit !== undefined && !(defaultTimeLimit > 0)) {
        input.error(limitPath, limitNode, `expected a duration above 0 (e.g. 8h), got ${defaultTimeLimit}; leave the key out for no default limit`);
        defaultTimeLimit = undefined;
      }
    }
    if (name !== undefined && priority !== undefined && preemptible !== undefined) {
      priorityClasses.push(defaultTimeLimit === undefined ? { name, priority, preemptible } : { name, priority, preemptible, defaultTimeLimit });
    }
  });
  return { priorityClasses, complete };
}

/** Reads the team tree and checks the rules that span teams: unique names and guarantee sums. */
function readTeams(
  input: YamlInput,
  top: Map<string, Entry>,
  root: Node | undefined,
  capacity: Map<Flavor, number>,
): TeamSpec[] {
  const node = input.required(
    top,
    'teams',
    root,
    '',
    'the organisation tree: a list of teams with their guarantees',
  );
  const items = node && input.list(node, 'teams');
  if (!items) return [];
  if (items.length === 0) input.error('teams', node, 'the policy has no teams; list at least one');
  const pathByName = new Map<string, string>();

  const readTeam = (item: Node | undefined, path: string): ReadTeam | undefined => {
    const from = input.issues.length;
    const fields = input.mapping(item, path, TEAM_KEYS);
    if (!fields) return undefined;
    const nameNode = input.required(fields, 'name', item, path, 'the team a unique name');
    const name = nameNode && input.nonEmptyString(nameNode, dot(path, 'name'));
    const quota = (key: string): Quota => {
      const quotaNode = fields.get(key)?.value;
      return quotaNode
        ? readQuota(input, quotaNode, dot(path, key), capacity)
        : { entries: new Map(), valid: true };
    };
    const guarantee = quota('guarantee');
    const limit = quota('limit');
    const lendable = quota('lendable');
    const weightNode = fields.get('weight')?.value;
    let weight = weightNode ? input.finiteNumber(weightNode, dot(path, 'weight')) : 1;
    if (weight !== undefined && weight <= 0) {
      input.error(
        dot(path, 'weight'),
        weightNode,
        `expected a number > 0 (its share of spare capacity among its siblings), got ${weight}`,
      );
      weight = undefined;
    }
    const childrenNode = fields.get('children')?.value;
    const childItems = childrenNode ? input.list(childrenNode, dot(path, 'children')) : [];
    if (name !== undefined) {
      input.noteSince(from, `team "${name}"`);
      const first = pathByName.get(name);
      if (first === undefined) pathByName.set(name, path);
      else
        input.error(
          dot(path, 'name'),
          nameNode,
          `team name "${name}" is already used at ${first}; team names must be unique across the whole tree`,
        );
    }
    const children = (childItems ?? []).map((child, index) =>
      readTeam(child, at(dot(path, 'children'), index)),
    );
    // The checks below compare with the guarantee, so they wait until it is valid.
    if (name === undefined || !guarantee.valid) return undefined;

    const guaranteed = (flavor: Flavor): number => guarantee.entries.get(flavor)?.gpus ?? 0;
    for (const [flavor, entry] of limit.entries) {
      if (entry.gpus < guaranteed(flavor)) {
        input.error(
          dot(dot(path, 'limit'), flavor),
          entry.node,
          `team "${name}" is limited to ${entry.gpus} ${flavor}, less than its guarantee of ${guaranteed(flavor)}; raise the limit to at least ${guaranteed(flavor)} or lower the guarantee`,
        );
      }
    }
    for (const [flavor, entry] of lendable.entries) {
      if (entry.gpus > guaranteed(flavor)) {
        input.error(
          dot(dot(path, 'lendable'), flavor),
          entry.node,
          `team "${name}" may lend ${entry.gpus} ${flavor}, more than its guarantee of ${guaranteed(flavor)}; lendable is at most the guarantee`,
        );
      }
    }
    checkSums(
      input,
      children,
      guaranteed,
      (total, flavor, bound) =>
        `children of team "${name}" are guaranteed ${total} ${flavor}, more than its ${bound}; lower the children's guarantees or raise the guarantee of "${name}"`,
    );

    const values = (quota: Quota): Record<Flavor, number> =>
      Object.fromEntries([...quota.entries].map(([flavor, entry]) => [flavor, entry.gpus]));
    const spec: TeamSpec = {
      name,
      guarantee: values(guarantee),
      limit: values(limit),
      // Filled for every guaranteed flavor (default: all of the guarantee), so readers need no fallback.
      lendable: { ...values(guarantee), ...values(lendable) },
      weight: weight ?? 1,
      children: children.flatMap((child) => (child ? [child.spec] : [])),
    };
    return { spec, path, guarantee: guarantee.entries };
  };

  const teams = items.map((item, index) => readTeam(item, at('teams', index)));
  checkSums(
    input,
    teams,
    (flavor) => capacity.get(flavor) ?? 0,
    (total, flavor, limit, team) =>
      `top-level teams are guaranteed ${total} ${flavor} in all, more than the fleet's ${limit} (the sum goes over at team "${team}"); lower their guarantees or add ${flavor} pools to the fleet`,
  );
  return teams.flatMap((team) => (team ? [team.spec] : []));
}

/**
 * For each flavor, checks that the guarantees of `teams` (siblings) sum to at most `bound(flavor)`.
 * A breach is reported once per flavor, on the guarantee of the sibling whose guarantee takes
 * the running sum over the bound. Example: bound 256, children 192 + 64 + 44: reported on the third.
 */
function checkSums(
  input: YamlInput,
  teams: readonly (ReadTeam | undefined)[],
  bound: (flavor: Flavor) => number,
  message: (total: number, flavor: Flavor, bound: number, team: string) => string,
): void {
  const sums = new Map<Flavor, { total: number; over: { team: ReadTeam; node: Node } | null }>();
  for (const team of teams) {
    for (const [flavor, entry] of team?.guarantee ?? []) {
      const sum = sums.get(flavor) ?? { total: 0, over: null };
      sum.total += entry.gpus;
      if (team && sum.over === null && sum.total > bound(flavor)) sum.over = { team, node: entry.node };
      sums.set(flavor, sum);
    }
  }
  for (const [flavor, { total, over }] of sums) {
    if (over) {
      input.error(
        dot(dot(over.team.path, 'guarantee'), flavor),
        over.node,
        message(total, flavor, bound(flavor), over.team.spec.name),
      );
    }
  }
}

/** A quota: GPUs per flavor, each a flavor of the fleet with a non-negative integer. */
function readQuota(input: YamlInput, node: Node, path: string, capacity: Map<Flavor, number>): Quota {
  const fields = input.mapping(node, path, null);
  const entries = new Map<Flavor, QuotaEntry>();
  if (!fields) return { entries, valid: false };
  let valid = true;
  for (const [flavor, { key, value }] of fields) {
    const flavorPath = dot(path, flavor);
    if (!capacity.has(flavor)) {
      const flavors = [...capacity.keys()].join(', ');
      input.error(
        flavorPath,
        key,
        `the fleet has no flavor "${flavor}" (its flavors: ${flavors}); use one of them or add a ${flavor} pool to the cluster`,
      );
      valid = false;
      continue;
    }
    if (!value) input.error(flavorPath, key, 'missing; give a number of GPUs');
    const gpus = value && input.integer(value, flavorPath, 0, 'a non-negative integer number of GPUs');
    if (value && gpus !== undefined) entries.set(flavor, { gpus, node: value });
    else valid = false;
  }
  return { entries, valid };
}
