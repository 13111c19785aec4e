// Regenerates bench/philly/cluster.yaml and bench/philly/policy.yaml, the inputs of the Philly
// benchmark, from the shared trace files (see src/traces/philly-lab.ts for the derivation).
// Usage, from the repository root:
//   npx tsc -p tsconfig.build.json && node bench/philly/make-inputs.js [scale]   (default 0.25)
// The team list comes from importing the trace, so VCs missing from the Helios file still appear.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { importPhilly } from '../../dist/traces/philly.js';
import { phillyLab } from '../../dist/traces/philly-lab.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const traces = path.resolve(repoRoot, '../shared/traces/philly');
const scale = Number(process.argv[2] ?? '0.25');

const tracePath = path.join(traces, 'philly_jobs_82k.csv');
const vcPath = path.join(traces, 'helios_qssf_philly_vc_nodes.csv');
const { teams } = importPhilly(readFileSync(tracePath, 'utf8'), tracePath);
const { clusterYaml, policyYaml } = phillyLab(readFileSync(vcPath, 'utf8'), teams, scale, vcPath);

// Temporary name, then rename: a reader never sees half a file.
for (const [name, text] of [
  ['cluster.yaml', clusterYaml],
  ['policy.yaml', policyYaml],
]) {
  const file = path.join(here, name);
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
  console.log(`wrote ${path.relative(repoRoot, file)}`);
}
