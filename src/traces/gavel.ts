// Importer for the Gavel (OSDI'20) continuous traces, as regenerated from Gavel's own job
// generator at https://github.com/stanford-futuredata/gavel (gavel_continuous_{single,multi}_seed{0,1,2}.csv;
// docs/traces.md says how they are made):
//   job_id,job_type,scale_factor,duration_v100_s,total_steps,arrival_units,runtime_v100_s,runtime_p100_s,runtime_k80_s
//   1,Transformer (batch size 16),1,31016.609,343170,0.271762,31016.609,35982.122,62766.904
// Each row becomes one canonical job (docs/formats.md):
//   id        gavel-<job_id>;
//   submit    arrival_units x 3600 / rate, rate = --jobs-per-hour (required: the file holds
//             cumulative Exp(1) draws, and Gavel's experiments sweep the rate). At 0.4 jobs/h,
//             job 1 above arrives at 0.271762 x 3600 / 0.4 = 2445.858 s;
//   gpus      scale_factor;
//   duration  runtime_v100_s: Gavel defines a job's duration on a V100 (duration_v100_s, equal to
//             runtime_v100_s on every row of the six files); it is the work on any flavor that
//             has no duration@ column;
//   duration@v100, duration@p100, duration@k80   runtime_{v100,p100,k80}_s, the isolated run
//             time on each GPU type (Gavel's cluster: 36 V100 + 36 P100 + 36 K80);
//   flavor    empty (any type), except for jobs that cannot run on every type, below;
//   team      `gavel` (--team-by none, the default), or the job type (--team-by job_type,
//             "ResNet-50 (batch size 128)" -> resnet-50-batch-size-128); class empty.
// An empty runtime means the job cannot run on that type. In the six files this happens only to
// runtime_k80_s of multi-GPU "ResNet-50 (batch size 128)" jobs (multi seed0 147 rows, seed1 129,
// seed2 126; the single-GPU files have none). A job names at most one flavor, so it cannot say
// "v100 or p100". Leaving the flavor empty would let it run on a K80 at its `duration`, and an
// enormous duration@k80 would let a scheduler park it on K80s it never leaves: both change the
// workload. We keep the constraint exact and give up the choice: such a job is restricted to the
// fastest type it can run on (v100 on every affected row), and the rows are counted in the summary.
// Rows are written in file order, which is submit order (arrival_units are cumulative sums):
// job_id order is arrival order, and Gavel measures jobs 4000-4999 by their position. A file
// whose arrivals go back in time would be sorted by submit, ties in file order.
import type { Issue } from '../core/model.js';
import { TraceImportError } from './canonical-csv.js';
import {
  checkUnique,
  parseCount,
  parseNonNegative,
  readSourceCsv,
  slug,
  SOURCE_ID,
  type SourceJob,
  type SourceTrace,
  type TraceFormat,
  type TraceOptions,
} from './options.js';

/** Gavel's GPU types, fastest first for a typical job, as flavor names. */
export const GAVEL_FLAVORS = ['v100', 'p100', 'k80'] as const;
type GavelFlavor = (typeof GAVEL_FLAVORS)[number];

const runtimeColumn = (flavor: GavelFlavor): string => `runtime_${flavor}_s`;

const REQUIRED = [
  'job_id',
  'job_type',
  'scale_factor',
  'arrival_units',
  ...GAVEL_FLAVORS.map(runtimeColumn),
] as const;
const SOURCE_HEADER =
  'job_id,job_type,scale_factor,duration_v100_s,total_steps,arrival_units,runtime_v100_s,runtime_p100_s,runtime_k80_s';

function readGavel(text: string, file: string, options: TraceOptions): SourceTrace {
  const rate = options.jobsPerHour;
  if (rate === undefined || !(rate > 0 && Number.isFinite(rate))) {
    // The registry checks options before reading; this guards direct callers.
    throw new TraceImportError([
      { file, path: '', message: 'the gavel format needs jobsPerHour > 0 (--jobs-per-hour)' },
    ]);
  }
  const issues: Issue[] = [];
  const jobs: SourceJob[] = [];
  const seen = new Map<string, number>();
  const restricted = new Map<string, number>(); // "no k80 -> v100" -> rows
  readSourceCsv(text, file, REQUIRED, SOURCE_HEADER, issues, (row) => {
    const { line } = row;
    const before = issues.length;
    const { bad } = row;

    const id = row.cell('job_id');
    if (!SOURCE_ID.test(id)) bad('job_id', 'a job id (letters, digits, _ . or -)', id);
    else checkUnique(seen, id, 'job_id', file, line, issues);

    const jobType = row.cell('job_type');
    if (slug(jobType) === '') bad('job_type', 'a job type with a letter or digit', jobType);

    const gpusText = row.cell('scale_factor');
    const gpus = parseCount(gpusText);
    if (gpus === null || gpus < 1) bad('scale_factor', 'a positive integer', gpusText);

    const arrivalText = row.cell('arrival_units');
    const arrival = parseNonNegative(arrivalText);
    if (arrival === null) bad('arrival_units', 'a number >= 0', arrivalText);

    const runtimes: Partial<Record<GavelFlavor, number>> = {};
    for (const flavor of GAVEL_FLAVORS) {
      const text = row.cell(runtimeColumn(flavor));
      if (text === '') continue;
      const runtime = parseNonNegative(text);
      if (runtime === null) {
        bad(runtimeColumn(flavor), 'a number of seconds >= 0, or empty if the job cannot run there', text);
      } else runtimes[flavor] = runtime;
    }
    const runnable = GAVEL_FLAVORS.filter((flavor) => runtimes[flavor] !== undefined);
    if (runnable.length === 0 && issues.length === before) {
      issues.push({
        file,
        line,
        path: `columns ${GAVEL_FLAVORS.map(runtimeColumn).join(', ')}`,
        message: 'all empty: the job can run on no GPU type; give at least one run time',
      });
    }
    if (issues.length > before || gpus === null || arrival === null) return;

    // The fastest type it can run on; ties go to the earlier type of GAVEL_FLAVORS.
    let fastest: GavelFlavor | undefined;
    for (const flavor of runnable) {
      if (fastest === undefined || (runtimes[flavor] ?? Infinity) < (runtimes[fastest] ?? Infinity)) {
        fastest = flavor;
      }
    }
    if (fastest === undefined) return; // unreachable: runnable is not empty here
    const flavor = runnable.length < GAVEL_FLAVORS.length ? fastest : undefined;
    if (flavor !== undefined) {
      const missing = GAVEL_FLAVORS.filter((f) => runtimes[f] === undefined);
      const key = `no ${missing.join(' or ')} run time (empty ${missing.map(runtimeColumn).join(', ')}): restricted to flavor ${flavor}`;
      restricted.set(key, (restricted.get(key) ?? 0) + 1);
    }
    jobs.push({
      id: `gavel-${id}`,
      submit: (arrival * 3600) / rate,
      gpus,
      duration: runtimes.v100 ?? runtimes[fastest] ?? 0,
      ...(flavor === undefined ? {} : { flavor }),
      durationByFlavor: runtimes,
      groups: { job_type: jobType },
    });
  });
  if (issues.length > 0) throw new TraceImportError(issues);
  // Array.prototype.sort is stable: on the Gavel files (arrivals in order) this keeps file order.
  jobs.sort((a, b) => a.submit - b.submit);
  const notes = [...restricted].map(
    ([what, count]) =>
      `${count} job${count === 1 ? '' : 's'} with ${what}, the fastest type ${count === 1 ? 'it' : 'they'} can run on`,
  );
  return { jobs, warnings: [], notes };
}

export const GAVEL: TraceFormat = {
  name: 'gavel',
  singleTeam: 'gavel',
  defaultTeamBy: 'none',
  teamFields: { job_type: slug },
  takes: ['jobsPerHour'],
  read: readGavel,
};
