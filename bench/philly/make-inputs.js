// Regenerates bench/philly/cluster.yaml and bench/philly/policy.yaml, the inputs of the Philly
// benchmark, from the full public trace files (see src/traces/philly-lab.ts for the derivation).
// Usage, from the repository root:
//   npx tsc -p tsconfig.build.json && node bench/philly/make-inputs.js [scale] [--traces DIR]
// scale defaults to 0.25; the files are read from DIR/philly/, DIR being --traces, else
// $ARBITER_TRACES, else ../shared/traces beside the repository (docs/traces.md).
// The team list comes from importing the trace, so VCs missing from the Helios file still appear.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { importPhilly } from '../../dist/traces/philly.js';
import { phillyLab } from '../../dist/traces/philly-lab.js';
import { MissingTraceError, PUBLIC_TRACES, requireTraceFile, tracesDir } from '../../dist/traces/public-traces.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
let tracePath, vcPath, scale;
try {
  const traces = tracesDir(process.argv.slice(2), process.env, path.resolve(repoRoot, '../shared/traces'));
  tracePath = requireTraceFile(traces, PUBLIC_TRACES.philly);
  vcPath = requireTraceFile(traces, PUBLIC_TRACES.phillyVcNodes);
  scale = Number(traces.rest[0] ?? '0.25');
} catch (error) {
  if (!(error instanceof MissingTraceError)) throw error;
  console.error(error.message);
  process.exit(2);
}
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
