import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatIssue } from '../core/model.js';
import { TraceImportError } from './canonical-csv.js';
import { phillyLab } from './philly-lab.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The whole file, as published (test/fixtures/traces/README.md).
const VC_NODES = path.resolve(repoRoot, 'test/fixtures/traces/philly/helios_qssf_philly_vc_nodes.csv');
const vcNodes = readFileSync(VC_NODES, 'utf8');
// The 15 teams importPhilly finds in the whole philly_jobs_82k.csv (bench/philly/make-inputs.js
// imports it; the excerpt of philly.test.ts has 11 of them).
// prettier-ignore
const TRACE_TEAMS = [
  'vc0e4a51', 'vc103959', 'vc11cb48', 'vc23dbec', 'vc2869ce', 'vc51b7ef', 'vc6214e9', 'vc6c71a0',
  'vc795a4c', 'vc7f04ca', 'vc925e2b', 'vcb436b2', 'vce13805', 'vced69ec', 'vcee9e8c',
];

interface Pool {
  name: string;
  flavor: string;
  nodes: number;
  gpusPerNode: number;
  rackSize: number;
}
interface Team {
  name: string;
  guarantee: Record<string, number>;
}

function lab(
  text: string,
  teams: readonly string[],
  scale: number,
): { pools: Pool[]; teams: Team[]; policy: Record<string, unknown> } {
  const { clusterYaml, policyYaml } = phillyLab(text, teams, scale);
  const cluster = parse(clusterYaml) as { pools: Pool[] };
  const policy = parse(policyYaml) as { teams: Team[] };
  return { pools: cluster.pools, teams: policy.teams, policy };
}

const guarantees = (teams: readonly Team[]): Record<string, number | undefined> =>
  Object.fromEntries(teams.map((team) => [team.name, team.guarantee.gpu]));

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof TraceImportError) return error.issues.map(formatIssue);
    throw error;
  }
  throw new Error('expected a TraceImportError');
}

describe('phillyLab on the Helios VC sizes', () => {
  it('builds 88 nodes = 704 GPUs in racks of 8 at scale 0.25', () => {
    const { pools } = lab(vcNodes, TRACE_TEAMS, 0.25);
    expect(pools).toEqual([{ name: 'philly', flavor: 'gpu', nodes: 88, gpusPerNode: 8, rackSize: 8 }]);
  });

  it('gives the 11 VCs of the file their scaled size and the 4 others nothing', () => {
    const { teams, policy } = lab(vcNodes, TRACE_TEAMS, 0.25);
    // nodes x 8 x 0.25, in file order, then the trace-only VCs sorted.
    // prettier-ignore
    expect(guarantees(teams)).toEqual({
      vc6214e9: 128, vc7f04ca: 64, vc11cb48: 32, vcb436b2: 128, vcee9e8c: 128, vce13805: 32,
      vc6c71a0: 64, vc2869ce: 32, vced69ec: 16, vc103959: 16, vc0e4a51: 64,
      vc23dbec: 0, vc51b7ef: 0, vc795a4c: 0, vc925e2b: 0,
    });
    expect(teams.map((team) => team.name).slice(11)).toEqual([
      'vc23dbec',
      'vc51b7ef',
      'vc795a4c',
      'vc925e2b',
    ]);
    expect(teams.filter((team) => (team.guarantee.gpu ?? 0) > 0)).toHaveLength(11);
    expect(teams.reduce((sum, team) => sum + (team.guarantee.gpu ?? 0), 0)).toBe(704);
    // Everything but the teams is left to the defaults of docs/formats.md.
    expect(Object.keys(policy)).toEqual(['teams']);
  });

  it('is the full Helios setup at scale 1: 352 nodes, 2816 GPUs, all guaranteed', () => {
    const { pools, teams } = lab(vcNodes, TRACE_TEAMS, 1);
    expect(pools[0]?.nodes).toBe(352);
    expect(teams.reduce((sum, team) => sum + (team.guarantee.gpu ?? 0), 0)).toBe(2816);
    expect(guarantees(teams).vc6214e9).toBe(512);
  });

  it('matches the committed bench/philly inputs', () => {
    const { clusterYaml, policyYaml } = phillyLab(vcNodes, TRACE_TEAMS, 0.25, VC_NODES);
    expect(readFileSync(path.join(repoRoot, 'bench/philly/cluster.yaml'), 'utf8')).toBe(clusterYaml);
    expect(readFileSync(path.join(repoRoot, 'bench/philly/policy.yaml'), 'utf8')).toBe(policyYaml);
  });
});

describe('phillyLab rounding', () => {
  it('rounds guarantees down and the fleet to the nearest node', () => {
    // 3 + 5 = 8 nodes x 0.3 = 2.4 -> 2 nodes = 16 GPUs; 3 x 8 x 0.3 = 7.2 -> 7, 5 x 8 x 0.3 = 12 -> 12.
    // 19 > 16: the largest guarantee gives up GPUs until they fit: 12 -> 9.
    const { pools, teams } = lab('vc,node num\na,3\nb,5\n', [], 0.3);
    expect(pools[0]?.nodes).toBe(2);
    expect(guarantees(teams)).toEqual({ vca: 7, vcb: 9 });
  });

  it('spreads the trimming over the largest guarantees, first in file order on ties', () => {
    // 3 x 1 node x 0.45 = 1.35 -> 1 node = 8 GPUs; each VC floor(3.6) = 3, 9 in all: one too many.
    const { teams } = lab('vc,node num\na,1\nb,1\nc,1\n', [], 0.45);
    expect(guarantees(teams)).toEqual({ vca: 2, vcb: 3, vcc: 3 });
  });

  it('does not floor a whole product down because of binary fractions', () => {
    // 25 x 8 x 0.145 is 28.999999999999996 in floating point but 29 in decimal.
    const { teams } = lab('vc,node num\na,25\n', [], 0.145);
    expect(guarantees(teams)).toEqual({ vca: 29 });
  });
});

describe('phillyLab errors', () => {
  it('rejects a scale that is not positive or leaves no node', () => {
    expect(() => phillyLab(vcNodes, [], 0)).toThrow('scale must be a number > 0, got 0');
    expect(() => phillyLab(vcNodes, [], Number.NaN)).toThrow(RangeError);
    expect(() => phillyLab('vc,node num\na,1\n', [], 0.1)).toThrow(
      'scale 0.1 leaves no node of the 1 in helios_qssf_philly_vc_nodes.csv',
    );
  });

  it('reports bad rows with file, line and column', () => {
    expect(problems(() => phillyLab('vc,node num\na,x\na,2\n,3\nb,1,2\n', [], 1, 'vc.csv'))).toEqual([
      'vc.csv:2: column node num: expected a positive integer, got "x"',
      'vc.csv:3: column vc: virtual cluster "a" is listed twice',
      'vc.csv:4: column vc: expected a virtual-cluster id (letters, digits, - or _), got ""',
      'vc.csv:5: expected 2 columns, got 3',
    ]);
    expect(problems(() => phillyLab('name,nodes\na,1\n', [], 1, 'vc.csv'))).toEqual([
      'vc.csv:1: header: expected "vc,node num", got "name,nodes"',
    ]);
  });
});
