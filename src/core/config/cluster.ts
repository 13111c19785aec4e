// Parsing and validation of the fleet description, cluster.yaml (docs/formats.md).
import type { Flavor, Fleet, Pool, Result } from '../model.js';
import { at, dot, YamlInput } from './yaml.js';

const FLAVOR = /^[a-z0-9][a-z0-9-]*$/;
const POOL_KEYS = ['name', 'flavor', 'nodes', 'gpusPerNode', 'rackSize'] as const;

/** Whether `name` is a valid flavor name: [a-z0-9][a-z0-9-]*. */
export function isFlavorName(name: string): boolean {
  return FLAVOR.test(name);
}

/** GPUs per flavor (the sum of its pools' GPUs), in the order flavors first appear in the fleet. */
export function flavorCapacity(fleet: Fleet): Map<Flavor, number> {
  const capacity = new Map<Flavor, number>();
  for (const pool of fleet.pools) {
    capacity.set(pool.flavor, (capacity.get(pool.flavor) ?? 0) + pool.nodes * pool.gpusPerNode);
  }
  return capacity;
}

/** Parses cluster.yaml; on failure the issues list every problem of the file. */
export function parseCluster(text: string, file: string): Result<Fleet> {
  const { input, root } = YamlInput.parse(text, file);
  if (root === null) {
    input.error('', undefined, 'the file is empty; expected a mapping with a "pools" list');
  }
  const top = root ? input.mapping(root, '', ['pools']) : undefined;
  const poolsNode =
    top && input.required(top, 'pools', root ?? undefined, '', 'the list of GPU pools of the fleet');
  const items = poolsNode && input.list(poolsNode, 'pools');
  if (items?.length === 0) input.error('pools', poolsNode, 'the fleet has no pools; list at least one');

  const pools: Pool[] = [];
  const firstByName = new Map<string, number>();
  items?.forEach((item, index) => {
    const path = at('pools', index);
    const fields = input.mapping(item, path, POOL_KEYS);
    if (!fields) return;
    const nameNode = input.required(fields, 'name', item, path, 'the pool a unique name, e.g. h100-a');
    const name = nameNode && input.nonEmptyString(nameNode, dot(path, 'name'));
    if (name !== undefined && nameNode) {
      const first = firstByName.get(name);
      if (first === undefined) firstByName.set(name, index);
      else
        input.error(
          dot(path, 'name'),
          nameNode,
          `pool name "${name}" is already used by pools[${first}]; pool names must be unique`,
        );
    }
    const flavorNode = input.required(fields, 'flavor', item, path, 'the GPU type of the pool, e.g. h100');
    let flavor = flavorNode && input.nonEmptyString(flavorNode, dot(path, 'flavor'));
    if (flavor !== undefined && !isFlavorName(flavor)) {
      input.error(
        dot(path, 'flavor'),
        flavorNode,
        `flavor "${flavor}" must match [a-z0-9][a-z0-9-]* (lower-case letters, digits and dashes)`,
      );
      flavor = undefined;
    }
    const positive = (key: string, what: string): number | undefined => {
      const node = input.required(fields, key, item, path, `${what} (a positive integer)`);
      return node && input.integer(node, dot(path, key), 1, 'a positive integer');
    };
    const nodes = positive('nodes', 'the number of nodes of the pool');
    const gpusPerNode = positive('gpusPerNode', 'the number of GPUs of each node');
    const rackSizeNode = fields.get('rackSize')?.value;
    const rackSize =
      rackSizeNode &&
      input.integer(rackSizeNode, dot(path, 'rackSize'), 1, 'a positive integer (nodes per rack)');
    if (name === undefined || flavor === undefined || nodes === undefined || gpusPerNode === undefined)
      return;
    if (rackSizeNode && rackSize === undefined) return;
    pools.push(
      rackSize === undefined
        ? { name, flavor, nodes, gpusPerNode }
        : { name, flavor, nodes, gpusPerNode, rackSize },
    );
  });

  return input.result(() => ({ pools }));
}
