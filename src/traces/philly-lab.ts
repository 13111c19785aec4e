// The fleet and policy of the Philly benchmark, derived from the VC sizes that the Helios (SC'21)
// QSSF simulator used for Philly (helios_qssf_philly_vc_nodes.csv, from framework/QSSF Service/data/
// philly_vc.csv of https://github.com/S-Lab-System-Group/HeliosArtifact; docs/traces.md):
//   vc,node num
//   6214e9,64
// That simulator gives every node 8 GPUs: 11 VCs, 352 nodes, 2,816 GPUs. We scale it down
// (the 82k-job trace at full size leaves the fleet mostly idle) and turn each VC into a team
// whose guarantee is its scaled share, so the benchmark measures sharing between VCs.
import { Document, isMap, isScalar, stringify, visit } from 'yaml';
import type { Issue } from '../core/model.js';
import { TraceImportError } from './canonical-csv.js';
import { phillyTeam } from './philly.js';

/** GPUs per node in the Helios Philly setup. */
export const PHILLY_GPUS_PER_NODE = 8;
/** Nodes per rack of the generated fleet. */
export const PHILLY_RACK_SIZE = 8;
/** The one flavor of the generated fleet (Philly mixed P100 and P40; the trace does not say which). */
export const PHILLY_FLAVOR = 'gpu';

export interface PhillyLab {
  readonly clusterYaml: string;
  readonly policyYaml: string;
}

interface Vc {
  readonly team: string;
  readonly nodes: number;
}

function parseVcNodes(text: string, file: string): Vc[] {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
  const header = (lines[0] ?? '').replace(/^\uFEFF/, '').trim();
  if (header !== 'vc,node num') {
    throw new TraceImportError([
      { file, line: 1, path: 'header', message: `expected "vc,node num", got "${header}"` },
    ]);
  }
  const issues: Issue[] = [];
  const vcs: Vc[] = [];
  const seen = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    const line = i + 1;
    const fields = (lines[i] ?? '').split(',').map((field) => field.trim());
    if (fields.length !== 2) {
      issues.push({ file, line, path: '', message: `expected 2 columns, got ${fields.length}` });
      continue;
    }
    const [vc = '', nodesText = ''] = fields;
    if (!/^[A-Za-z0-9_-]+$/.test(vc)) {
      issues.push({
        file,
        line,
        path: 'column vc',
        message: `expected a virtual-cluster id (letters, digits, - or _), got "${vc}"`,
      });
    } else if (seen.has(vc)) {
      issues.push({ file, line, path: 'column vc', message: `virtual cluster "${vc}" is listed twice` });
    }
    const nodes = /^\d+$/.test(nodesText) ? Number(nodesText) : NaN;
    if (!(nodes >= 1 && Number.isSafeInteger(nodes))) {
      issues.push({
        file,
        line,
        path: 'column node num',
        message: `expected a positive integer, got "${nodesText}"`,
      });
    }
    seen.add(vc);
    vcs.push({ team: phillyTeam(vc), nodes });
  }
  if (issues.length > 0) throw new TraceImportError(issues);
  return vcs;
}

/**
 * Builds cluster.yaml and policy.yaml (docs/formats.md) for the Philly benchmark at `scale`:
 * - fleet: one pool "philly" of flavor `gpu` with round(sum(nodes) x scale) nodes of 8 GPUs, in
 *   racks of 8 nodes (scale 0.25: round(352 x 0.25) = 88 nodes = 704 GPUs, 11 racks);
 * - teams: one top-level team vc<hash> per VC, in file order, guaranteed floor(nodes x 8 x scale)
 *   GPUs (64 nodes at 0.25: 128 GPUs), then the VCs of `traceTeams` (team names as the importer
 *   writes them) missing from the file, sorted, with guarantee 0: they only borrow.
 * Guarantees always fit in the fleet: if rounding the fleet down leaves fewer GPUs than the
 * floors add up to, the largest guarantees (first in file order on ties) give up one GPU each.
 * Every policy key but `teams` is left to its default. Bad file contents throw TraceImportError
 * naming `file`; a scale that is not > 0 or leaves no node throws RangeError.
 */
export function phillyLab(
  vcNodesCsvText: string,
  traceTeams: readonly string[],
  scale: number,
  file = 'helios_qssf_philly_vc_nodes.csv',
): PhillyLab {
  if (!(Number.isFinite(scale) && scale > 0)) {
    throw new RangeError(`scale must be a number > 0, got ${scale}`);
  }
  const vcs = parseVcNodes(vcNodesCsvText, file);
  const totalNodes = vcs.reduce((sum, vc) => sum + vc.nodes, 0);
  const nodes = Math.round(totalNodes * scale);
  if (nodes < 1) throw new RangeError(`scale ${scale} leaves no node of the ${totalNodes} in ${file}`);
  const capacity = nodes * PHILLY_GPUS_PER_NODE;

  // + 1e-9: a product that is whole in decimal can land just below it in binary
  // (25 nodes x 8 x 0.145 = 28.999999999999996) and must not floor to 28.
  const guarantees = vcs.map((vc) => Math.floor(vc.nodes * PHILLY_GPUS_PER_NODE * scale + 1e-9));
  let excess = guarantees.reduce((sum, g) => sum + g, 0) - capacity;
  while (excess > 0) {
    let largest = 0;
    guarantees.forEach((g, i) => {
      if (g > (guarantees[largest] ?? 0)) largest = i;
    });
    guarantees[largest] = (guarantees[largest] ?? 0) - 1;
    excess--;
  }

  const known = new Set(vcs.map((vc) => vc.team));
  const borrowers = [...new Set(traceTeams)].filter((team) => !known.has(team)).sort();
  const teams = [
    ...vcs.map((vc, i) => ({ name: vc.team, guarantee: { [PHILLY_FLAVOR]: guarantees[i] ?? 0 } })),
    ...borrowers.map((name) => ({ name, guarantee: { [PHILLY_FLAVOR]: 0 } })),
  ];
  const guaranteed = teams.reduce((sum, team) => sum + (team.guarantee[PHILLY_FLAVOR] ?? 0), 0);

  const origin = `Derived from ${baseName(file)} (Helios QSSF Philly VC sizes, 8 GPUs per node) at scale ${scale}.`;
  const clusterYaml = [
    `# Philly benchmark fleet. ${origin}`,
    `# ${nodes} nodes x ${PHILLY_GPUS_PER_NODE} GPUs = ${capacity} GPUs (the file has ${totalNodes} nodes).`,
    '# Generated by bench/philly/make-inputs.js (src/traces/philly-lab.ts); do not edit by hand.',
    stringify({
      pools: [
        {
          name: 'philly',
          flavor: PHILLY_FLAVOR,
          nodes,
          gpusPerNode: PHILLY_GPUS_PER_NODE,
          rackSize: PHILLY_RACK_SIZE,
        },
      ],
    }),
  ].join('\n');
  const policyYaml = [
    `# Philly benchmark policy. ${origin}`,
    `# One top-level team per VC, guaranteed its scaled size (${guaranteed} of ${capacity} GPUs in all);`,
    `# VCs of the trace missing from the file (${borrowers.length}) get guarantee 0 and only borrow.`,
    '# Every other key takes its default (docs/formats.md).',
    '# Generated by bench/philly/make-inputs.js (src/traces/philly-lab.ts); do not edit by hand.',
    flowGuarantees({ teams }),
  ].join('\n');
  return { clusterYaml, policyYaml };
}

/** YAML with each `guarantee` on one line (`guarantee: { gpu: 128 }`), as docs/formats.md writes it. */
function flowGuarantees(value: unknown): string {
  const doc = new Document(value);
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'guarantee' && isMap(pair.value)) pair.value.flow = true;
    },
  });
  return doc.toString();
}

/** The last part of a path, so that generated files do not depend on where the data lies. */
function baseName(file: string): string {
  return file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
}
