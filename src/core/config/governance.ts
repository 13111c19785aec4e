// The `governance` section of policy.yaml (docs/governance.md, "The rules in the policy"): the
// rules of the process live in the policy, so changing them is itself governed. Every key has
// the default shown in docs/governance.md; a policy without the section gets them all.
import type { Node } from 'yaml';
import type { GovernanceRules } from '../model.js';
import { dot, type YamlInput } from './yaml.js';

const HOUR = 3600;
const DAY = 24 * HOUR;

export const DEFAULT_GOVERNANCE: GovernanceRules = {
  impactWindow: 14 * DAY,
  materialThreshold: 0.05,
  commentPeriod: { minor: 72 * HOUR, material: 7 * DAY },
  quorum: 0.66,
  approval: 0.5,
  overrule: 0.66,
  lateQuorumExtension: 24 * HOUR,
  timelock: 48 * HOUR,
  ramp: { steps: 4, over: 7 * DAY },
  petitionThreshold: 0.25,
  emergencyRatification: 7 * DAY,
};

const KEYS = [
  'impactWindow',
  'materialThreshold',
  'commentPeriod',
  'quorum',
  'approval',
  'overrule',
  'lateQuorumExtension',
  'timelock',
  'ramp',
  'petitionThreshold',
  'emergencyRatification',
];

/** The rules of a parsed policy, defaults filled in. */
export function governanceRules(policy: { readonly governance?: GovernanceRules | undefined }): GovernanceRules {
  return policy.governance ?? DEFAULT_GOVERNANCE;
}

/** Reads the section; problems are reported on `input` with their paths and lines. */
export function readGovernance(input: YamlInput, node: Node): GovernanceRules | undefined {
  const section = input.mapping(node, 'governance', KEYS);
  if (!section) return undefined;
  const d = DEFAULT_GOVERNANCE;
  const valueOf = (key: string): Node | undefined => section.get(key)?.value ?? undefined;
  const duration = (n: Node | undefined, path: string, fallback: number): number => (n ? (input.duration(n, path) ?? fallback) : fallback);
  /** A fraction in [0, 1] (0 < x when `positive`). */
  const fraction = (key: string, fallback: number, positive: boolean): number => {
    const n = valueOf(key);
    if (!n) return fallback;
    const path = dot('governance', key);
    const x = input.finiteNumber(n, path);
    if (x === undefined) return fallback;
    if (x < 0 || x > 1 || (positive && x === 0)) {
      input.error(path, n, `expected a fraction ${positive ? 'above 0' : 'from 0'} up to 1 (e.g. ${fallback}), got ${x}`);
      return fallback;
    }
    return x;
  };
  const periodNode = valueOf('commentPeriod');
  const period = periodNode ? input.mapping(periodNode, 'governance.commentPeriod', ['minor', 'material']) : undefined;
  const rampNode = valueOf('ramp');
  const ramp = rampNode ? input.mapping(rampNode, 'governance.ramp', ['steps', 'over']) : undefined;
  const stepsNode = ramp?.get('steps')?.value ?? undefined;
  const steps = stepsNode ? (input.integer(stepsNode, 'governance.ramp.steps', 1, 'a number of steps') ?? d.ramp.steps) : d.ramp.steps;
  if (steps > 100) input.error('governance.ramp.steps', stepsNode, `at most 100 steps (each is a policy version), got ${steps}`);
  return {
    impactWindow: duration(valueOf('impactWindow'), 'governance.impactWindow', d.impactWindow),
    materialThreshold: fraction('materialThreshold', d.materialThreshold, false),
    commentPeriod: {
      minor: duration(period?.get('minor')?.value ?? undefined, 'governance.commentPeriod.minor', d.commentPeriod.minor),
      material: duration(period?.get('material')?.value ?? undefined, 'governance.commentPeriod.material', d.commentPeriod.material),
    },
    quorum: fraction('quorum', d.quorum, true),
    approval: fraction('approval', d.approval, false),
    overrule: fraction('overrule', d.overrule, true),
    lateQuorumExtension: duration(valueOf('lateQuorumExtension'), 'governance.lateQuorumExtension', d.lateQuorumExtension),
    timelock: duration(valueOf('timelock'), 'governance.timelock', d.timelock),
    ramp: { steps, over: duration(ramp?.get('over')?.value ?? undefined, 'governance.ramp.over', d.ramp.over) },
    petitionThreshold: fraction('petitionThreshold', d.petitionThreshold, true),
    emergencyRatification: duration(valueOf('emergencyRatification'), 'governance.emergencyRatification', d.emergencyRatification),
  };
}
