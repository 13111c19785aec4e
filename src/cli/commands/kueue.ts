// `arbiter export kueue` and `arbiter import kueue` (docs/kueue.md): the policy and fleet as
// Kueue objects (kueue.x-k8s.io/v1beta2) and back.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Document, parseAllDocuments } from 'yaml';
import { parseCluster } from '../../core/config/cluster.js';
import { parsePolicy } from '../../core/config/policy.js';
import { formatIssue, type Fleet } from '../../core/model.js';
import { exportKueue, KueueOptionError, type KueueGap, type KueueObject } from '../../executors/kueue.js';
import { importKueue, type KueueDocument } from '../../executors/kueue-import.js';
import { policyToYaml } from '../../governance/ramp.js';
import { UsageError } from '../errors.js';
import { loadInputs } from '../inputs.js';

interface ExportFlags {
  cluster?: string;
  policy?: string;
  out?: string;
  gaps?: string;
  rootCohort: string;
  namespace: string;
  localQueue: string;
  flavorLabel: string;
}

/** The objects as one multi-document YAML text, in the export's order. */
export function kueueYaml(objects: readonly KueueObject[], header?: string): string {
  const docs = objects.map((o) => new Document(o, { aliasDuplicateObjects: false }).toString({ lineWidth: 0 }));
  return (header ? `${header.split('\n').map((l) => `# ${l}`).join('\n')}\n` : '') + docs.map((d) => `---\n${d}`).join('');
}

/** The gaps as lines for people. */
export function gapsText(gaps: readonly KueueGap[]): string {
  return `${['What Kueue cannot express for this policy, and what the exported objects do instead:', ...gaps.map((g) => `- ${g.feature}: ${g.instead}`)].join('\n')}\n`;
}

/** cluster.yaml for a fleet (docs/formats.md). */
function clusterYaml(fleet: Fleet, header: string): string {
  const doc = new Document({ pools: fleet.pools.map((p) => ({ ...p })) });
  return `# ${header}\n${doc.toString({ lineWidth: 0 })}`;
}

export function registerKueue(program: Command): void {
  const exportCommand = program.command('export').description('write the policy and fleet in the format of another system (kueue)');
  exportCommand
    .command('kueue')
    .description('write Kueue objects (kueue.x-k8s.io/v1beta2) for a policy and fleet, and list what Kueue cannot express (docs/kueue.md)')
    .requiredOption('--cluster <file>', 'the fleet, cluster.yaml')
    .requiredOption('--policy <file>', 'the allocation policy, policy.yaml')
    .option('--out <file>', 'write the objects (multi-document YAML) to FILE (default: stdout)')
    .option('--gaps <file>', 'write what Kueue cannot express to FILE (default: stderr)')
    .option('--root-cohort <name>', 'name of the root Cohort that holds the team tree', 'arbiter')
    .option('--namespace <template>', "each leaf team's namespace; {team} is the team's Kubernetes name", '{team}')
    .option('--local-queue <template>', "name of each leaf team's LocalQueue in its namespace; {team} as above", 'default')
    .option('--flavor-label <key>', "node label whose value is the GPU type (each ResourceFlavor's nodeLabels)", 'arbiter.io/flavor')
    .action((flags: ExportFlags) => {
      const { fleet, policy } = loadInputs({ cluster: flags.cluster, policy: flags.policy });
      let result;
      try {
        result = exportKueue(fleet, policy, { rootCohort: flags.rootCohort, namespace: flags.namespace, localQueue: flags.localQueue, flavorLabel: flags.flavorLabel });
      } catch (error) {
        if (error instanceof KueueOptionError) throw new UsageError([`export kueue: ${error.message}`]);
        throw error;
      }
      const text = kueueYaml(result.objects, `Kueue objects for ${flags.policy} over ${flags.cluster} (arbiter export kueue; docs/kueue.md).`);
      if (flags.out !== undefined) writeFileSync(flags.out, text);
      else process.stdout.write(text);
      if (flags.gaps !== undefined) writeFileSync(flags.gaps, gapsText(result.gaps));
      else process.stderr.write(gapsText(result.gaps));
    });

  const importCommand = program.command('import').description('read a policy and fleet from another system (kueue)');
  importCommand
    .command('kueue')
    .description('read Kueue objects (kueue.x-k8s.io/v1beta2 YAML) into policy.yaml and cluster.yaml (docs/kueue.md)')
    .argument('<files...>', 'YAML files of Kueue objects (documents separated by ---)')
    .requiredOption('--out <dir>', 'folder to write cluster.yaml and policy.yaml to (created if missing)')
    .option('--force', 'overwrite cluster.yaml and policy.yaml in --out', false)
    .action((files: string[], flags: { out: string; force: boolean }) => {
      const docs: KueueDocument[] = [];
      const problems: string[] = [];
      for (const file of files) {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (error) {
          problems.push(`${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)}); check the path`);
          continue;
        }
        for (const doc of parseAllDocuments(text)) {
          const line = doc.contents?.range ? text.slice(0, doc.contents.range[0]).split('\n').length : undefined;
          if (doc.errors.length > 0) {
            for (const e of doc.errors) problems.push(`${file}:${e.linePos?.[0].line ?? line ?? 1}: YAML syntax error: ${e.message.split('\n')[0]}`);
            continue;
          }
          docs.push({ file, ...(line !== undefined ? { line } : {}), value: doc.toJS() as unknown });
        }
      }
      if (problems.length > 0) throw new UsageError(problems);
      const result = importKueue(docs);
      if (!result.ok) throw new UsageError(result.issues.map(formatIssue));
      const clusterPath = join(flags.out, 'cluster.yaml');
      const policyPath = join(flags.out, 'policy.yaml');
      const from = `From Kueue objects in ${files.join(', ')} (arbiter import kueue).`;
      const cluster = clusterYaml(result.value.fleet, from);
      const policy = policyToYaml(result.value.policy, from);
      // What is written must read back: the same checks as --cluster and --policy anywhere.
      const fleet = parseCluster(cluster, clusterPath);
      const checked = fleet.ok ? parsePolicy(policy, policyPath, fleet.value) : fleet;
      if (!checked.ok) throw new UsageError(['import kueue: the objects give an invalid fleet or policy:', ...checked.issues.map(formatIssue)]);
      const existing = [clusterPath, policyPath].filter((p) => existsSync(p));
      if (existing.length > 0 && !flags.force) throw new UsageError([`import kueue: ${existing.join(' and ')} already exist; pass --force to overwrite or choose another --out`]);
      mkdirSync(flags.out, { recursive: true });
      writeFileSync(clusterPath, cluster);
      writeFileSync(policyPath, policy);
      const teams = countTeams(result.value.policy.teams);
      process.stdout.write(`wrote ${clusterPath} (${result.value.fleet.pools.length} pools) and ${policyPath} (${teams} teams, ${result.value.policy.priorityClasses.length} classes)\n`);
    });
}

function countTeams(teams: readonly { children: readonly unknown[] }[]): number {
  return teams.reduce((n, t) => n + 1 + countTeams(t.children as { children: readonly unknown[] }[]), 0);
}
