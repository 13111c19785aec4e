// Importer `alibaba-openb` for the pod lists of the Alibaba GPU trace 2023 ("openb", ATC'23 FGD;
// csv/openb_pod_list_*.csv of https://github.com/alibaba/clusterdata/tree/master/cluster-trace-gpu-v2023,
// see docs/traces.md):
//   name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
//   openb-pod-0001,6000,12288,1,460,,LS,Running,427061,12902960,427061
// Each GPU pod that ran becomes one canonical job (docs/formats.md):
//   id        the pod name;
//   submit    creation_time minus the earliest creation_time of the file (seconds);
//   duration  deletion_time - scheduled_time: how long it held its GPUs. Pods still running at
//             the end of the trace have the trace's last time as deletion_time, so their
//             durations are cut there (32 pods of openb_pod_list_default.csv);
//   gpus      num_gpu. A GPU-sharing pod (gpu_milli < 1000: that many thousandths of one GPU)
//             asks for 1 whole GPU: the canonical format has whole GPUs only (3,078 pods of the
//             default list; the summary says how many);
//   flavor    the GPU type when gpu_spec allows exactly one ("V100M16" -> v100m16; types
//             separated by "|", repeats ignored); empty when it allows several or names none,
//             since a job names at most one flavor (counted in the summary);
//   class     from qos: LS (latency-sensitive) -> serving, BE (best effort) -> opportunistic,
//             Burstable and Guaranteed (plain Kubernetes QoS, 107 pods of the default list)
//             -> research; --class-map QOS=CLASS,... overrides any of these (an empty CLASS
//             leaves the class empty: the policy's defaultClass);
//   team      the QoS, lower case (ls, be, burstable, guaranteed) with --team-by qos, the
//             default: the trace has no users or teams, and QoS is how Alibaba separates
//             product inference (LS) from batch work (BE). --team-by none: one team `alibaba`.
// Rows left out, each kind counted in a warning:
//   - pods with num_gpu 0 (1,088 in the default list): CPU-only, not GPU jobs;
//   - pods never scheduled (empty scheduled_time, pod_phase Pending; 861 GPU pods of the default
//     list): they were deleted while pending (median 96 s after creation), so the trace has no
//     run time for them.
// Failed pods are kept: they held their GPUs from scheduled_time to deletion_time.
// cpu_milli, memory_mib and pod_phase are not read. Jobs are written by submit time, ties in file
// order. The multigpuNN resamplings have no time columns and are refused (header error).
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

/** The priority class of each QoS value, unless --class-map says otherwise. */
export const ALIBABA_CLASSES: ReadonlyMap<string, string> = new Map([
  ['LS', 'serving'],
  ['BE', 'opportunistic'],
  ['Burstable', 'research'],
  ['Guaranteed', 'research'],
]);

const REQUIRED = [
  'name',
  'num_gpu',
  'gpu_milli',
  'gpu_spec',
  'qos',
  'creation_time',
  'deletion_time',
  'scheduled_time',
] as const;
const SOURCE_HEADER =
  'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time';

const FLAVOR = /^[a-z0-9][a-z0-9-]*$/;

interface Pod {
  readonly name: string;
  readonly created: number;
  readonly scheduled: number | null;
  readonly deleted: number;
  readonly gpus: number;
  readonly milli: number;
  readonly types: readonly string[];
  readonly qos: string;
}

const plural = (count: number, one: string, many: string): string => `${count} ${count === 1 ? one : many}`;

function readAlibaba(text: string, file: string, options: TraceOptions): SourceTrace {
  const classes = new Map(ALIBABA_CLASSES);
  for (const [qos, className] of options.classMap ?? []) classes.set(qos, className);
  const qosList = [...classes.keys()];
  const qosExpected = `${qosList.slice(0, -1).join(', ')} or ${qosList.at(-1) ?? ''}`;

  const issues: Issue[] = [];
  const pods: Pod[] = [];
  const seen = new Map<string, number>();
  const qosSeen = new Set<string>();
  readSourceCsv(text, file, REQUIRED, SOURCE_HEADER, issues, (row) => {
    const { line } = row;
    const before = issues.length;
    const { bad } = row;

    const name = row.cell('name');
    if (!SOURCE_ID.test(name)) bad('name', 'a pod name (letters, digits, _ . or -)', name);
    else checkUnique(seen, name, 'name', file, line, issues);

    const gpusText = row.cell('num_gpu');
    const gpus = parseCount(gpusText);
    if (gpus === null) bad('num_gpu', 'an integer >= 0', gpusText);

    const milliText = row.cell('gpu_milli');
    const milli = parseCount(milliText);
    if (milli === null || milli > 1000) bad('gpu_milli', 'an integer from 0 to 1000', milliText);

    const spec = row.cell('gpu_spec');
    const types = [
      ...new Set(
        spec
          .split('|')
          .map((type) => type.trim())
          .filter((type) => type !== '')
          .map(slug),
      ),
    ];
    if (types.some((type) => !FLAVOR.test(type))) {
      bad('gpu_spec', 'GPU types made of letters and digits, separated by |', spec);
    }

    const qos = row.cell('qos');
    qosSeen.add(qos);
    if (!classes.has(qos)) bad('qos', `${qosExpected} (or a QoS given a class by --class-map)`, qos);

    const createdText = row.cell('creation_time');
    const created = parseNonNegative(createdText);
    if (created === null) bad('creation_time', 'a number of seconds >= 0', createdText);

    const scheduledText = row.cell('scheduled_time');
    const scheduled = scheduledText === '' ? null : parseNonNegative(scheduledText);
    if (scheduledText !== '' && scheduled === null) {
      bad('scheduled_time', 'a number of seconds >= 0, or empty if never scheduled', scheduledText);
    } else if (scheduled !== null && created !== null && scheduled < created) {
      bad('scheduled_time', `a time at or after creation_time (${createdText})`, scheduledText);
    }

    const deletedText = row.cell('deletion_time');
    const deleted = parseNonNegative(deletedText);
    if (deleted === null) bad('deletion_time', 'a number of seconds >= 0', deletedText);
    else if (scheduled !== null && deleted < scheduled) {
      bad('deletion_time', `a time at or after scheduled_time (${scheduledText})`, deletedText);
    } else if (created !== null && deleted < created) {
      bad('deletion_time', `a time at or after creation_time (${createdText})`, deletedText);
    }

    if (issues.length > before || gpus === null || milli === null || created === null || deleted === null) {
      return;
    }
    pods.push({ name, created, scheduled, deleted, gpus, milli, types, qos });
  });
  for (const qos of options.classMap?.keys() ?? []) {
    if (!ALIBABA_CLASSES.has(qos) && !qosSeen.has(qos)) {
      issues.push({
        file,
        path: '',
        message: `--class-map: no pod has qos "${qos}"; the qos values of this trace: ${[...qosSeen].sort().join(', ')}`,
      });
    }
  }
  if (issues.length > 0) throw new TraceImportError(issues);

  let start = Infinity;
  for (const pod of pods) start = Math.min(start, pod.created);
  let cpuOnly = 0;
  let neverScheduled = 0;
  let shared = 0;
  let severalTypes = 0;
  const jobs: SourceJob[] = [];
  for (const pod of pods) {
    if (pod.gpus === 0) {
      cpuOnly++;
      continue;
    }
    if (pod.scheduled === null) {
      neverScheduled++;
      continue;
    }
    if (pod.milli < 1000) shared++;
    if (pod.types.length > 1) severalTypes++;
    const className = classes.get(pod.qos) ?? '';
    jobs.push({
      id: pod.name,
      submit: pod.created - start,
      gpus: pod.gpus,
      duration: pod.deleted - pod.scheduled,
      ...(className === '' ? {} : { class: className }),
      ...(pod.types.length === 1 && pod.types[0] !== undefined ? { flavor: pod.types[0] } : {}),
      groups: { qos: pod.qos },
    });
  }
  // Array.prototype.sort is stable: equal submit times keep file order.
  jobs.sort((a, b) => a.submit - b.submit);

  const warnings: Issue[] = [];
  if (cpuOnly > 0) {
    warnings.push({
      file,
      path: '',
      message: `${plural(cpuOnly, 'pod', 'pods')} skipped: num_gpu is 0 (CPU-only pods are not GPU jobs)`,
    });
  }
  if (neverScheduled > 0) {
    warnings.push({
      file,
      path: '',
      message: `${plural(neverScheduled, 'GPU pod', 'GPU pods')} skipped: never scheduled (empty scheduled_time: deleted while pending, so they never ran)`,
    });
  }
  const notes: string[] = [];
  if (shared > 0) {
    notes.push(
      `${plural(shared, 'GPU-sharing pod', 'GPU-sharing pods')} (gpu_milli < 1000, a fraction of one GPU) written as whole GPUs`,
    );
  }
  if (severalTypes > 0) {
    notes.push(
      `${plural(severalTypes, 'pod allows', 'pods allow')} several GPU types (gpu_spec "A|B"): written with an empty flavor (any type)`,
    );
  }
  return { jobs, warnings, notes };
}

export const ALIBABA_OPENB: TraceFormat = {
  name: 'alibaba-openb',
  singleTeam: 'alibaba',
  defaultTeamBy: 'qos',
  teamFields: { qos: slug },
  takes: ['classMap'],
  read: readAlibaba,
};
