// The fleet as Slurm sees it (docs/slurm.md): nodes, their GPU type and count, read from
// `scontrol show nodes --oneliner`; grouped into cluster.yaml pools (`arbiter fleet import
// --slurm`); and the check, at `arbiter serve --executor slurm` start, that a cluster.yaml
// describes the Slurm partition, which also maps each engine node to its Slurm node.
//
// The mapping rule: nodes are identified by (flavor, GPUs per node). For each such kind, the
// pools of cluster.yaml of that kind, in file order, take the partition's Slurm nodes of that kind
// in natural name order (gpu2 before gpu10): engine node `<pool>-<i>` is the i-th of its pool's.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isFlavorName } from '../core/config/cluster.js';
import type { Fleet } from '../core/model.js';
import { ExecutorError } from './port.js';

const execFileAsync = promisify(execFile);

export interface SlurmNode {
  readonly name: string;
  /** Slurm's state, e.g. "IDLE", "MIXED", "IDLE+DRAIN", "DOWN*". */
  readonly state: string;
  readonly partitions: readonly string[];
  /** GPUs by type ("" for an untyped `gpu:8`), from Gres. */
  readonly gpus: ReadonlyMap<string, number>;
  /** Reason=, when Slurm gives one (a drained or down node). */
  readonly reason: string | null;
}

/**
 * The fields of one line of `scontrol show ... --oneliner`: `Key=value` pairs separated by
 * spaces, where a value may itself hold spaces (OS=Linux 6.1 #1 SMP, Reason=fan broken) but
 * never a space followed by `Word=`.
 */
export function parseOneliner(line: string): Map<string, string> {
  const fields = new Map<string, string>();
  const re = /(?:^|\s+)([A-Za-z][A-Za-z0-9_/:.]*)=/g;
  const starts: { key: string; at: number; valueAt: number }[] = [];
  for (let m = re.exec(line); m !== null; m = re.exec(line)) starts.push({ key: m[1]!, at: m.index, valueAt: m.index + m[0].length });
  starts.forEach((s, i) => {
    const end = i + 1 < starts.length ? starts[i + 1]!.at : line.length;
    if (!fields.has(s.key)) fields.set(s.key, line.slice(s.valueAt, end).trim());
  });
  return fields;
}

/**
 * GPUs of a Gres string: "gpu:a100:8", "gpu:8", "gpu:a100:4(S:0-1),gpu:h100:2", "(null)".
 * Other generic resources (e.g. "mps:100") are ignored.
 */
export function parseGres(gres: string): Map<string, number> {
  const gpus = new Map<string, number>();
  if (gres === '' || gres === '(null)') return gpus;
  for (const raw of gres.split(/,(?![^(]*\))/)) {
    const item = raw.replace(/\(.*\)$/, '').trim();
    const parts = item.split(':');
    if (parts[0] !== 'gpu') continue;
    const count = Number(parts[parts.length - 1]);
    const type = parts.length >= 3 ? parts.slice(1, -1).join(':') : '';
    if (!Number.isInteger(count) || count < 0) throw new ExecutorError('slurm_output', `unexpected GPU count in Gres "${gres}"`, false);
    gpus.set(type, (gpus.get(type) ?? 0) + count);
  }
  return gpus;
}

/** Parses `scontrol show nodes --oneliner` (one node per line). */
export function parseScontrolNodes(text: string): SlurmNode[] {
  const nodes: SlurmNode[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('No nodes')) return;
    const fields = parseOneliner(line);
    const name = fields.get('NodeName');
    if (name === undefined || name === '') {
      throw new ExecutorError('slurm_output', `scontrol show nodes printed an unexpected line ${i + 1} (no NodeName=): "${line.slice(0, 80)}"`, false);
    }
    const partitions = fields.get('Partitions');
    const reason = fields.get('Reason');
    nodes.push({
      name,
      state: fields.get('State') ?? 'UNKNOWN',
      partitions: partitions === undefined || partitions === '(null)' ? [] : partitions.split(','),
      gpus: parseGres(fields.get('Gres') ?? ''),
      reason: reason === undefined || reason === '' ? null : reason,
    });
  });
  return nodes;
}

/** A Slurm GPU type as a flavor name: "A100" -> "a100", "tesla_v100" -> "tesla-v100", untyped -> "gpu". */
export function flavorOfGpuType(type: string): string {
  const flavor = type
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return isFlavorName(flavor) ? flavor : 'gpu';
}

/** Natural order: gpu2 < gpu10. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** A node of the partition with GPUs: its one flavor and count. */
export interface SlurmGpuNode {
  readonly name: string;
  readonly flavor: string;
  /** Slurm's GPU type as written in its Gres ("" when untyped): what --gres names. */
  readonly gresType: string;
  readonly gpus: number;
  readonly state: string;
}

/** A group of identical nodes (same flavor and GPU count), in natural name order. */
export interface SlurmPool {
  readonly name: string;
  readonly flavor: string;
  readonly gresType: string;
  readonly gpusPerNode: number;
  readonly nodes: readonly SlurmGpuNode[];
}

/**
 * The partition's GPU nodes, grouped into pools of identical nodes. A node with GPUs of several
 * types is refused (an Arbiter node has one flavor); nodes without GPUs are left out.
 */
export function slurmPools(all: readonly SlurmNode[], partition: string): SlurmPool[] {
  const inPartition = all.filter((n) => n.partitions.includes(partition));
  if (inPartition.length === 0) {
    const known = [...new Set(all.flatMap((n) => n.partitions))].sort();
    throw new ExecutorError('slurm_fleet', `Slurm partition "${partition}" has no nodes${known.length > 0 ? ` (partitions: ${known.join(', ')})` : ''}`, false);
  }
  const groups = new Map<string, SlurmGpuNode[]>();
  for (const node of inPartition) {
    const types = [...node.gpus].filter(([, count]) => count > 0);
    if (types.length === 0) continue;
    if (types.length > 1) {
      throw new ExecutorError('slurm_fleet', `Slurm node ${node.name} has GPUs of several types (${types.map(([t, c]) => `${c} ${t || 'untyped'}`).join(', ')}); an Arbiter node has one flavor: give each type its own nodes or partition`, false);
    }
    const [gresType, gpus] = types[0]!;
    const flavor = flavorOfGpuType(gresType);
    const key = `${flavor}\u0000${gpus}`;
    const list = groups.get(key) ?? [];
    list.push({ name: node.name, flavor, gresType, gpus, state: node.state });
    groups.set(key, list);
  }
  if (groups.size === 0) throw new ExecutorError('slurm_fleet', `Slurm partition "${partition}" has no node with GPUs (Gres=gpu:...)`, false);
  const pools = [...groups.values()].map((nodes) => {
    nodes.sort((a, b) => naturalCompare(a.name, b.name));
    const first = nodes[0]!;
    return { name: '', flavor: first.flavor, gresType: first.gresType, gpusPerNode: first.gpus, nodes };
  });
  pools.sort((a, b) => a.flavor.localeCompare(b.flavor) || a.gpusPerNode - b.gpusPerNode);
  const perFlavor = new Map<string, number>();
  for (const p of pools) perFlavor.set(p.flavor, (perFlavor.get(p.flavor) ?? 0) + 1);
  return pools.map((p) => ({ ...p, name: perFlavor.get(p.flavor)! > 1 ? `${p.flavor}-${p.gpusPerNode}g` : p.flavor }));
}

/** Node names in Slurm's compressed form where it is simple: gpu[1-3,7]. */
export function hostlist(names: readonly string[]): string {
  const byPrefix = new Map<string, { n: number; width: number }[]>();
  const plain: string[] = [];
  for (const name of names) {
    const m = /^(.*?)(\d+)$/.exec(name);
    if (!m) plain.push(name);
    else {
      const list = byPrefix.get(m[1]!) ?? [];
      list.push({ n: Number(m[2]), width: m[2]!.length });
      byPrefix.set(m[1]!, list);
    }
  }
  const parts = [...plain];
  for (const [prefix, nums] of byPrefix) {
    if (nums.length === 1) {
      parts.push(`${prefix}${String(nums[0]!.n).padStart(nums[0]!.width, '0')}`);
      continue;
    }
    nums.sort((a, b) => a.n - b.n);
    const ranges: string[] = [];
    let i = 0;
    while (i < nums.length) {
      let j = i;
      while (j + 1 < nums.length && nums[j + 1]!.n === nums[j]!.n + 1 && nums[j + 1]!.width === nums[i]!.width) j++;
      const a = String(nums[i]!.n).padStart(nums[i]!.width, '0');
      const b = String(nums[j]!.n).padStart(nums[j]!.width, '0');
      ranges.push(i === j ? a : `${a}-${b}`);
      i = j + 1;
    }
    parts.push(`${prefix}[${ranges.join(',')}]`);
  }
  return parts.join(',');
}

/** cluster.yaml for these pools (docs/formats.md), each pool's Slurm nodes named in a comment. */
export function fleetYaml(pools: readonly SlurmPool[], partition: string): string {
  const lines = [`# From Slurm partition "${partition}" (arbiter fleet import --slurm).`, 'pools:'];
  for (const pool of pools) {
    lines.push(`  # Slurm nodes ${hostlist(pool.nodes.map((n) => n.name))}, Gres=gpu:${pool.gresType === '' ? '' : `${pool.gresType}:`}${pool.gpusPerNode}`);
    lines.push(`  - name: ${pool.name}`, `    flavor: ${pool.flavor}`, `    nodes: ${pool.nodes.length}`, `    gpusPerNode: ${pool.gpusPerNode}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Where an engine node runs in Slurm. */
export interface SlurmPlace {
  readonly node: string;
  readonly gresType: string;
  readonly gpus: number;
}

/**
 * Checks that `fleet` (cluster.yaml) describes the partition's GPU nodes exactly, and maps each
 * engine node (`<pool>-<i>`) to its Slurm node (the rule at the top of this file). On a mismatch,
 * `problems` names each one and `nodes` is empty.
 */
export function matchFleet(fleet: Fleet, pools: readonly SlurmPool[], partition: string): { nodes: Map<string, SlurmPlace>; problems: string[] } {
  const problems: string[] = [];
  const nodes = new Map<string, SlurmPlace>();
  const slurmKinds = new Map<string, SlurmGpuNode[]>();
  for (const pool of pools) slurmKinds.set(`${pool.flavor}\u0000${pool.gpusPerNode}`, [...pool.nodes]);
  const fleetKinds = new Map<string, Fleet['pools'][number][]>();
  for (const pool of fleet.pools) {
    const key = `${pool.flavor}\u0000${pool.gpusPerNode}`;
    fleetKinds.set(key, [...(fleetKinds.get(key) ?? []), pool]);
  }
  for (const [key, fleetPools] of fleetKinds) {
    const slurm = slurmKinds.get(key) ?? [];
    const wanted = fleetPools.reduce((sum, p) => sum + p.nodes, 0);
    const first = fleetPools[0]!;
    const names = fleetPools.map((p) => `"${p.name}"`).join(', ');
    if (slurm.length !== wanted) {
      const kind = `${first.gpusPerNode} ${first.flavor} GPUs`;
      problems.push(
        `cluster.yaml pool${fleetPools.length > 1 ? 's' : ''} ${names}: ${wanted} node${wanted === 1 ? '' : 's'} of ${kind}, but Slurm partition "${partition}" has ${slurm.length}${slurm.length > 0 ? ` (${hostlist(slurm.map((n) => n.name))})` : ''}`,
      );
      continue;
    }
    let i = 0;
    for (const pool of fleetPools) {
      for (let k = 0; k < pool.nodes; k++, i++) {
        const s = slurm[i]!;
        nodes.set(`${pool.name}-${k}`, { node: s.name, gresType: s.gresType, gpus: s.gpus });
      }
    }
  }
  for (const [key, slurm] of slurmKinds) {
    if (fleetKinds.has(key)) continue;
    const s = slurm[0]!;
    problems.push(`Slurm partition "${partition}" has ${slurm.length} node${slurm.length === 1 ? '' : 's'} of ${s.gpus} ${s.flavor} GPUs (${hostlist(slurm.map((n) => n.name))}) that cluster.yaml does not list`);
  }
  if (problems.length > 0) {
    problems.push('`arbiter fleet import --slurm` prints the cluster.yaml of the partition');
    return { nodes: new Map(), problems };
  }
  return { nodes, problems };
}

export interface SlurmCommands {
  /** Folder of the Slurm commands (default: found on PATH). */
  readonly bin?: string | undefined;
  /** Environment of the commands (SLURM_CONF...); default process.env. */
  readonly env?: NodeJS.ProcessEnv | undefined;
}

/** Slurm's words when its controller cannot be reached (the command waits MessageTimeout for it). */
const UNREACHABLE = /Unable to contact slurm controller|Socket timed out|Connection refused|Zero Bytes were transmitted|Communication connection failure/i;

/**
 * Runs a Slurm command; its stdout. A command that does not answer within `timeoutMs` is killed
 * (with slurmctld down, Slurm's commands wait MessageTimeout, often 10 to 60 s, before they give
 * up). Throws ExecutorError quoting Slurm: `slurm_unreachable` (retryable: the controller did not
 * answer, or the command ran out of time), `slurm_failed` (Slurm answered no), `slurm_missing`.
 * With `outlive: false`, the command runs under coreutils `timeout`, which kills it on time even
 * if this process dies first: an sbatch orphaned by a kill -9 of the server cannot take a job
 * later than `timeoutMs` after it began (the restarted server waits that long before it submits
 * the run again).
 */
export async function slurmCommand(commands: SlurmCommands, program: string, args: readonly string[], timeoutMs = 10_000, outlive = true): Promise<string> {
  const file = commands.bin ? join(commands.bin, program) : program;
  const [command, argv] = outlive ? [file, [...args]] : ['timeout', ['--signal=KILL', `${timeoutMs / 1000}s`, file, ...args]];
  try {
    // Without outlive, `timeout` ends it first; this one is a last resort.
    const { stdout } = await execFileAsync(command, argv, { env: commands.env ?? process.env, timeout: outlive ? timeoutMs : timeoutMs + 2000, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 256 << 20 });
    return stdout;
  } catch (error) {
    const e = error as { code?: unknown; stderr?: unknown; killed?: boolean; signal?: unknown };
    // `timeout` answers 127 when it cannot run the command, 137 when it killed it.
    if (e.code === 'ENOENT' || (!outlive && e.code === 127)) throw new ExecutorError('slurm_missing', `${file} was not found: install Slurm's client commands (Debian: slurm-client) or give their folder with --slurm-bin`, false, { cause: error });
    const said = typeof e.stderr === 'string' ? e.stderr.trim().split('\n').filter((l) => l !== '').join('; ') : '';
    const late = e.killed === true || e.signal === 'SIGKILL' || (!outlive && e.code === 137);
    const how = late ? `did not answer within ${timeoutMs / 1000} s` : `failed${typeof e.code === 'number' ? ` (exit code ${e.code})` : ''}`;
    const unreachable = late || UNREACHABLE.test(said);
    throw new ExecutorError(unreachable ? 'slurm_unreachable' : 'slurm_failed', `${program} ${how}${said ? `: ${said}` : ''}`, unreachable, { cause: error });
  }
}

/** Node names of a Slurm hostlist: "gpu[1-3,7],cpu1" -> gpu1, gpu2, gpu3, gpu7, cpu1. */
export function expandHostlist(list: string): string[] {
  const names: string[] = [];
  for (const part of list.split(/,(?![^[]*\])/)) {
    const m = /^(.*)\[([^\]]+)\](.*)$/.exec(part.trim());
    if (!m) {
      if (part.trim() !== '') names.push(part.trim());
      continue;
    }
    for (const range of m[2]!.split(',')) {
      const [a, b] = range.split('-');
      const width = a!.length;
      const from = Number(a);
      const to = b === undefined ? from : Number(b);
      for (let i = from; i <= to; i++) names.push(`${m[1]}${String(i).padStart(width, '0')}${m[3]}`);
    }
  }
  return names;
}

/** The partition's nodes, read from Slurm now. */
export async function readSlurmPools(commands: SlurmCommands, partition: string): Promise<SlurmPool[]> {
  const text = await slurmCommand(commands, 'scontrol', ['show', 'nodes', '--oneliner']);
  return slurmPools(parseScontrolNodes(text), partition);
}
