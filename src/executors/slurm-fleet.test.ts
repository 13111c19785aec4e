// The Slurm fleet parser on real `scontrol show nodes --oneliner` output, captured from the test
// cluster (scripts/slurm-test-cluster.sh): three a100 nodes; and two a100, one h100 running a
// job and one h100 drained with a reason that holds spaces.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCluster } from '../core/config/cluster.js';
import type { Fleet } from '../core/model.js';
import { fleetYaml, hostlist, matchFleet, parseGres, parseOneliner, parseScontrolNodes, slurmPools } from './slurm-fleet.js';

const fixture = (name: string): string => readFileSync(new URL(`../../test/fixtures/slurm/${name}`, import.meta.url), 'utf8');
const fleetOf = (text: string): Fleet => {
  const result = parseCluster(text, 'cluster.yaml');
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.value;
};

describe('scontrol show nodes', () => {
  it('reads names, states, partitions, GPUs and reasons', () => {
    const nodes = parseScontrolNodes(fixture('scontrol-show-nodes-mixed.txt'));
    expect(nodes.map((n) => [n.name, n.state, n.partitions.join(','), [...n.gpus]])).toEqual([
      ['gpu1', 'IDLE', 'gpu', [['a100', 8]]],
      ['gpu2', 'IDLE', 'gpu', [['a100', 8]]],
      ['gpu3', 'MIXED', 'gpu', [['h100', 8]]],
      ['gpu4', 'IDLE+DRAIN', 'gpu', [['h100', 8]]],
    ]);
    expect(nodes[3]!.reason).toMatch(/^fan broken \[root@/);
    expect(nodes[0]!.reason).toBeNull();
  });

  it('keeps values with spaces whole', () => {
    const fields = parseOneliner('NodeName=n1 OS=Linux 6.1 #1 SMP PREEMPT @0  RealMemory=1000 Reason=fan broken [root@x] Comment=(null)');
    expect(fields.get('OS')).toBe('Linux 6.1 #1 SMP PREEMPT @0');
    expect(fields.get('RealMemory')).toBe('1000');
    expect(fields.get('Reason')).toBe('fan broken [root@x]');
  });

  it('reads Gres forms', () => {
    expect([...parseGres('gpu:a100:8')]).toEqual([['a100', 8]]);
    expect([...parseGres('gpu:8')]).toEqual([['', 8]]);
    expect([...parseGres('gpu:a100:4(S:0-1),gpu:h100:2,mps:100')]).toEqual([['a100', 4], ['h100', 2]]);
    expect([...parseGres('(null)')]).toEqual([]);
  });
});

describe('pools from Slurm', () => {
  it('groups identical nodes, in natural order, and prints cluster.yaml', () => {
    const pools = slurmPools(parseScontrolNodes(fixture('scontrol-show-nodes-mixed.txt')), 'gpu');
    expect(pools.map((p) => [p.name, p.flavor, p.gpusPerNode, p.nodes.map((n) => n.name)])).toEqual([
      ['a100', 'a100', 8, ['gpu1', 'gpu2']],
      ['h100', 'h100', 8, ['gpu3', 'gpu4']],
    ]);
    const yaml = fleetYaml(pools, 'gpu');
    expect(fleetOf(yaml).pools).toEqual([
      { name: 'a100', flavor: 'a100', nodes: 2, gpusPerNode: 8 },
      { name: 'h100', flavor: 'h100', nodes: 2, gpusPerNode: 8 },
    ]);
    expect(yaml).toContain('# Slurm nodes gpu[1-2], Gres=gpu:a100:8');
  });

  it('refuses an unknown partition, naming the ones there are', () => {
    expect(() => slurmPools(parseScontrolNodes(fixture('scontrol-show-nodes-3xa100.txt')), 'batch')).toThrow('Slurm partition "batch" has no nodes (partitions: gpu)');
  });

  it('compresses node lists like Slurm', () => {
    expect(hostlist(['gpu1', 'gpu2', 'gpu3', 'gpu7', 'gpu10'])).toBe('gpu[1-3,7,10]');
    expect(hostlist(['gpu2'])).toBe('gpu2');
    expect(hostlist(['login', 'n01', 'n02'])).toBe('login,n[01-02]');
  });
});

describe('cluster.yaml against Slurm', () => {
  const pools = slurmPools(parseScontrolNodes(fixture('scontrol-show-nodes-3xa100.txt')), 'gpu');

  it('maps each engine node to a Slurm node, pools in file order', () => {
    const fleet = fleetOf('pools:\n  - { name: big, flavor: a100, nodes: 2, gpusPerNode: 8 }\n  - { name: spare, flavor: a100, nodes: 1, gpusPerNode: 8 }\n');
    const { nodes, problems } = matchFleet(fleet, pools, 'gpu');
    expect(problems).toEqual([]);
    expect([...nodes].map(([k, v]) => [k, v.node, v.gresType, v.gpus])).toEqual([
      ['big-0', 'gpu1', 'a100', 8],
      ['big-1', 'gpu2', 'a100', 8],
      ['spare-0', 'gpu3', 'a100', 8],
    ]);
  });

  it('names every mismatch', () => {
    const fleet = fleetOf('pools:\n  - { name: a, flavor: a100, nodes: 4, gpusPerNode: 8 }\n  - { name: h, flavor: h100, nodes: 1, gpusPerNode: 8 }\n');
    const { nodes, problems } = matchFleet(fleet, pools, 'gpu');
    expect(nodes.size).toBe(0);
    expect(problems).toEqual([
      'cluster.yaml pool "a": 4 nodes of 8 a100 GPUs, but Slurm partition "gpu" has 3 (gpu[1-3])',
      'cluster.yaml pool "h": 1 node of 8 h100 GPUs, but Slurm partition "gpu" has 0',
      '`arbiter fleet import --slurm` prints the cluster.yaml of the partition',
    ]);
    const fewer = fleetOf('pools:\n  - { name: a, flavor: a100, nodes: 3, gpusPerNode: 4 }\n');
    expect(matchFleet(fewer, pools, 'gpu').problems[1]).toBe('Slurm partition "gpu" has 3 nodes of 8 a100 GPUs (gpu[1-3]) that cluster.yaml does not list');
  });
});
