// Where the full public traces come from, and how the benchmarks find them. The repository keeps
// only small excerpts for its tests (test/fixtures/traces); the full files live in a folder of
// the user's choice, laid out as <dir>/<folder>/<file> (docs/traces.md, "Getting the full traces"):
// `--traces DIR`, else the ARBITER_TRACES environment variable, else a default the caller names.
import { existsSync } from 'node:fs';
import path from 'node:path';

/** One public file a benchmark reads. */
export interface PublicTraceFile {
  /** Subfolder of the traces folder. */
  readonly folder: string;
  readonly file: string;
  /** What it is, for messages. */
  readonly what: string;
  /** How to get it, with its public URL: completes "Get <folder>/<file>: ...". */
  readonly source: string;
}

const ADAPTDL = 'https://github.com/petuum/adaptdl/blob/c793c7089bd307462686339d29707925c461f9a9';
const GAVEL = 'https://github.com/stanford-futuredata/gavel/tree/c4fa40097339e9608ab71fd64c8bdea96a5e4a4c';

export const PUBLIC_TRACES = {
  philly: {
    folder: 'philly',
    file: 'philly_jobs_82k.csv',
    what: 'the Microsoft Philly job summary (82,247 jobs) as published by the Pollux authors',
    source: `download ${ADAPTDL}/simulator/traces/philly.csv and save it under this name`,
  },
  phillyVcNodes: {
    folder: 'philly',
    file: 'helios_qssf_philly_vc_nodes.csv',
    what: 'the Philly virtual-cluster sizes of the Helios QSSF simulator',
    source:
      'download https://github.com/S-Lab-System-Group/HeliosArtifact/blob/bdaae109c21f8038a2331e6a23a582d5ae78ab5b/framework/QSSF%20Service/data/philly_vc.csv' +
      ' and save it under this name',
  },
  gavelSingle0: {
    folder: 'gavel_osdi20',
    file: 'gavel_continuous_single_seed0.csv',
    what: "Gavel's continuous-single trace, seed 0 (8,000 jobs)",
    source: `generate it with Gavel's job generator, ${GAVEL}/scheduler (docs/traces.md says how)`,
  },
  gavelResults: {
    folder: 'gavel_osdi20',
    file: 'results_continuous_seed0_from_notebooks.csv',
    what: "Gavel's published average JCTs (continuous traces, seed 0)",
    source: `copy the printed outputs of ${GAVEL}/scheduler/notebooks/figures/evaluation/continuous_jobs.ipynb (docs/traces.md gives the columns)`,
  },
} as const satisfies Record<string, PublicTraceFile>;

/** The environment variable that names the traces folder. */
export const TRACES_ENV = 'ARBITER_TRACES';

/** A traces folder and how it was chosen (for messages). */
export interface TracesDir {
  readonly dir: string;
  readonly from: string;
}

/**
 * The traces folder: `--traces DIR` (or `--traces=DIR`) in `args`, else `env.ARBITER_TRACES`, else
 * `fallback`. Returns the folder and `args` without the option. Throws MissingTraceError when
 * `--traces` has no value.
 */
export function tracesDir(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  fallback: string,
): TracesDir & { readonly rest: string[] } {
  const rest: string[] = [];
  let given: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--traces') {
      given = args[++i];
      if (given === undefined || given === '')
        throw new MissingTraceError('--traces needs a folder: --traces DIR');
    } else if (arg.startsWith('--traces=')) {
      given = arg.slice('--traces='.length);
    } else {
      rest.push(arg);
    }
  }
  if (given !== undefined) return { dir: path.resolve(given), from: '--traces', rest };
  const fromEnv = env[TRACES_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { dir: path.resolve(fromEnv), from: TRACES_ENV, rest };
  return { dir: path.resolve(fallback), from: 'the default folder', rest };
}

/** A full trace a benchmark needs is not where it looked; the message says what to do. */
export class MissingTraceError extends Error {
  override readonly name = 'MissingTraceError';
}

/** The path of `trace` in `traces`, or a MissingTraceError naming the file, the folder and the source. */
export function requireTraceFile(traces: TracesDir, trace: PublicTraceFile): string {
  const file = path.join(traces.dir, trace.folder, trace.file);
  if (existsSync(file)) return file;
  throw new MissingTraceError(
    [
      `${file}: missing; this needs ${trace.what}.`,
      `The traces folder ${traces.dir} comes from ${traces.from}; choose another with --traces DIR or ${TRACES_ENV}=DIR.`,
      `Get ${trace.folder}/${trace.file}: ${trace.source}.`,
    ].join('\n'),
  );
}
