// Small builders for tests: job('a1').team('A').gpus(8).at(100), pool(...), team(...), policy(...).
import type { Fleet, JobSpec, Policy, Pool, PriorityClass, TeamSpec } from '../src/core/model.js';

export function pool(name: string, flavor: string, nodes: number, gpusPerNode: number, rackSize?: number): Pool {
  return rackSize === undefined ? { name, flavor, nodes, gpusPerNode } : { name, flavor, nodes, gpusPerNode, rackSize };
}

export function fleet(...pools: Pool[]): Fleet {
  return { pools };
}

export function team(
  name: string,
  guarantee: Record<string, number> = {},
  options: { limit?: Record<string, number>; lendable?: Record<string, number>; weight?: number; children?: TeamSpec[] } = {},
): TeamSpec {
  return {
    name,
    guarantee,
    limit: options.limit ?? {},
    lendable: options.lendable ?? guarantee,
    weight: options.weight ?? 1,
    children: options.children ?? [],
  };
}

export const DEFAULT_CLASSES: PriorityClass[] = [
  { name: 'serving', priority: 1000, preemptible: false },
  { name: 'training', priority: 500, preemptible: true },
  { name: 'research', priority: 100, preemptible: true },
  { name: 'opportunistic', priority: 0, preemptible: true },
];

export function policy(teams: TeamSpec[], overrides: { preemption?: Partial<Policy['preemption']>; withinTeam?: 'fifo' | 'las'; halfLife?: number } = {}): Policy {
  return {
    priorityClasses: DEFAULT_CLASSES,
    defaultClass: 'research',
    scheduling: { withinTeam: overrides.withinTeam ?? 'fifo' },
    fairShare: { halfLife: overrides.halfLife ?? 7 * 86400 },
    preemption: {
      minRuntime: 600,
      restartOverhead: 0,
      checkpointInterval: 0,
      withinTeam: true,
      borrowing: 'lowerPriority',
      fairShare: false,
      ...overrides.preemption,
    },
    teams,
  };
}

class JobBuilder {
  private spec: { -readonly [K in keyof JobSpec]: JobSpec[K] };
  constructor(id: string) {
    this.spec = { id, submit: 0, team: '', gpus: 1, duration: 100, class: 'research', flavor: null, timeLimit: null, checkpointInterval: null };
  }
  team(t: string): this {
    this.spec.team = t;
    return this;
  }
  gpus(n: number): this {
    this.spec.gpus = n;
    return this;
  }
  at(t: number): this {
    this.spec.submit = t;
    return this;
  }
  runs(d: number): this {
    this.spec.duration = d;
    return this;
  }
  cls(c: string): this {
    this.spec.class = c;
    return this;
  }
  flavor(f: string): this {
    this.spec.flavor = f;
    return this;
  }
  limit(t: number): this {
    this.spec.timeLimit = t;
    return this;
  }
  checkpoint(c: number): this {
    this.spec.checkpointInterval = c;
    return this;
  }
  on(flavor: string, d: number): this {
    this.spec.durationByFlavor = { ...this.spec.durationByFlavor, [flavor]: d };
    return this;
  }
  build(): JobSpec {
    return { ...this.spec };
  }
}

export function job(id: string): JobBuilder {
  return new JobBuilder(id);
}

export function jobs(...builders: JobBuilder[]): JobSpec[] {
  return builders.map((b) => b.build());
}
