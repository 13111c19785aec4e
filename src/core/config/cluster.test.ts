import { describe, expect, test } from 'vitest';
import { flavorCapacity, isFlavorName, parseCluster } from './cluster.js';

const EXAMPLE = `pools:
  - name: h100-a          # node names are "<pool>-<index>"
    flavor: h100
    nodes: 64
    gpusPerNode: 8
    rackSize: 16          # optional
  - name: a100-b
    flavor: a100
    nodes: 32
    gpusPerNode: 8
`;

describe('parseCluster', () => {
  test('reads the example of formats.md', () => {
    expect(parseCluster(EXAMPLE, 'cluster.yaml')).toEqual({
      ok: true,
      value: {
        pools: [
          { name: 'h100-a', flavor: 'h100', nodes: 64, gpusPerNode: 8, rackSize: 16 },
          { name: 'a100-b', flavor: 'a100', nodes: 32, gpusPerNode: 8 },
        ],
      },
      warnings: [],
    });
  });

  test('accepts JSON, which is YAML 1.2', () => {
    const json = JSON.stringify({ pools: [{ name: 'p', flavor: 'k80', nodes: 2, gpusPerNode: 4 }] });
    expect(parseCluster(json, 'cluster.json')).toEqual({
      ok: true,
      value: { pools: [{ name: 'p', flavor: 'k80', nodes: 2, gpusPerNode: 4 }] },
      warnings: [],
    });
  });

  test('reports every problem of the file at once, in document order, with its line', () => {
    const text = `pools:
  - name: a
    flavor: H100
    nodes: 0
    gpusPerNode: 8
    rackSize: 2.5
  - name: a
    flavor: h100
    gpus: 8
  - just a string
extra: 1
`;
    expect(parseCluster(text, 'cluster.yaml')).toEqual({
      ok: false,
      issues: [
        {
          file: 'cluster.yaml',
          line: 3,
          path: 'pools[0].flavor',
          message: 'flavor "H100" must match [a-z0-9][a-z0-9-]* (lower-case letters, digits and dashes)',
        },
        {
          file: 'cluster.yaml',
          line: 4,
          path: 'pools[0].nodes',
          message: 'expected a positive integer, got 0',
        },
        {
          file: 'cluster.yaml',
          line: 6,
          path: 'pools[0].rackSize',
          message: 'expected a positive integer (nodes per rack), got 2.5',
        },
        {
          file: 'cluster.yaml',
          line: 7,
          path: 'pools[1].nodes',
          message: 'missing; give the number of nodes of the pool (a positive integer)',
        },
        {
          file: 'cluster.yaml',
          line: 7,
          path: 'pools[1].gpusPerNode',
          message: 'missing; give the number of GPUs of each node (a positive integer)',
        },
        {
          file: 'cluster.yaml',
          line: 7,
          path: 'pools[1].name',
          message: 'pool name "a" is already used by pools[0]; pool names must be unique',
        },
        {
          file: 'cluster.yaml',
          line: 9,
          path: 'pools[1].gpus',
          message: 'unknown key "gpus"; allowed keys: name, flavor, nodes, gpusPerNode, rackSize',
        },
        {
          file: 'cluster.yaml',
          line: 10,
          path: 'pools[2]',
          message: 'expected a mapping (key: value lines or { ... }), got "just a string"',
        },
        {
          file: 'cluster.yaml',
          line: 11,
          path: 'extra',
          message: 'unknown key "extra"; allowed keys: pools',
        },
      ],
    });
  });

  test('wants a non-empty list of pools', () => {
    const issue = (text: string) => {
      const result = parseCluster(text, 'c.yaml');
      return result.ok ? [] : result.issues;
    };
    expect(issue('')).toEqual([
      { file: 'c.yaml', path: '', message: 'the file is empty; expected a mapping with a "pools" list' },
    ]);
    expect(issue('pools: []')).toEqual([
      { file: 'c.yaml', line: 1, path: 'pools', message: 'the fleet has no pools; list at least one' },
    ]);
    expect(issue('pools: {a: 1}')).toEqual([
      {
        file: 'c.yaml',
        line: 1,
        path: 'pools',
        message: 'expected a list (lines starting with "- " or [ ... ]), got a mapping',
      },
    ]);
    expect(issue('pool: []')).toEqual([
      { file: 'c.yaml', line: 1, path: 'pool', message: 'unknown key "pool"; did you mean "pools"? allowed keys: pools' },
      { file: 'c.yaml', line: 1, path: 'pools', message: 'missing; give the list of GPU pools of the fleet' },
    ]);
    expect(issue('- 1')).toEqual([
      {
        file: 'c.yaml',
        line: 1,
        path: '',
        message: 'expected a mapping (key: value lines or { ... }), got a list',
      },
    ]);
  });

  test('explains a YAML syntax error in plain words, at its line and column, duplicate keys included', () => {
    expect(parseCluster('pools:\n  - name: a\n    name: b\n', 'c.yaml')).toEqual({
      ok: false,
      issues: [
        {
          file: 'c.yaml',
          line: 3,
          column: 5,
          path: '',
          message: 'YAML syntax error: this key is given twice in the same mapping; keep one (the parser says: Map keys must be unique)',
        },
      ],
    });
    expect(parseCluster('pools:\n\t- name: a\n', 'c.yaml')).toEqual({
      ok: false,
      issues: [
        {
          file: 'c.yaml',
          line: 2,
          column: 1,
          path: '',
          message: 'YAML syntax error: a tab indents this line; YAML indents with spaces only (the parser says: Tabs are not allowed as indentation)',
        },
      ],
    });
  });

  test('reports only the first of cascading YAML syntax errors, and how many follow', () => {
    const result = parseCluster('pools:\n  - name: a\n   nodes: 2\n    gpusPerNode: 8\n', 'c.yaml');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0]).toMatchObject({ file: 'c.yaml', line: 3, column: 1 });
    expect(result.issues[0]?.message).toMatch(
      /^YAML syntax error: this line is indented like the items of a list but does not start with "- ".*; fix this first, the \d+ other errors? found after it may follow from it$/,
    );
  });

  test('follows YAML anchors and aliases', () => {
    const text =
      'pools:\n  - { name: a, flavor: h100, nodes: &n 4, gpusPerNode: 8 }\n  - { name: b, flavor: h100, nodes: *n, gpusPerNode: 8 }\n';
    expect(parseCluster(text, 'c.yaml')).toEqual({
      ok: true,
      value: {
        pools: [
          { name: 'a', flavor: 'h100', nodes: 4, gpusPerNode: 8 },
          { name: 'b', flavor: 'h100', nodes: 4, gpusPerNode: 8 },
        ],
      },
      warnings: [],
    });
  });

  test('strings are not numbers: nodes "8" is an error', () => {
    expect(parseCluster('pools: [{ name: a, flavor: h100, nodes: "8", gpusPerNode: 8 }]', 'c.yaml')).toEqual({
      ok: false,
      issues: [
        { file: 'c.yaml', line: 1, path: 'pools[0].nodes', message: 'expected a positive integer, got "8"' },
      ],
    });
  });
});

test('flavorCapacity sums the GPUs of the pools of each flavor, in order of appearance', () => {
  const fleet = {
    pools: [
      { name: 'a', flavor: 'h100', nodes: 2, gpusPerNode: 8 },
      { name: 'b', flavor: 'a100', nodes: 3, gpusPerNode: 4 },
      { name: 'c', flavor: 'h100', nodes: 1, gpusPerNode: 8 },
    ],
  };
  expect([...flavorCapacity(fleet)]).toEqual([
    ['h100', 24],
    ['a100', 12],
  ]);
});

test('flavor names are lower-case letters, digits and dashes, not starting with a dash', () => {
  expect(['h100', 'a100-80g', '4090', '-h', 'H100', 'h_1', ''].map(isFlavorName)).toEqual([
    true,
    true,
    true,
    false,
    false,
    false,
    false,
  ]);
});
