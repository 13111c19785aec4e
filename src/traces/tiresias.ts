// Importer for the job traces of the Tiresias (NSDI'19) simulator
// (simulator/60_job.csv of https://github.com/SymbioticLab/Tiresias; see docs/traces.md):
//   job_id,num_gpu,submit_time,iterations,model_name,duration,interval
//   0,1,0,606,vgg19,164,30
// Units are seconds. The simulator's README says submit_time "starts from 0, and in
// second-scale"; its jobs.py ends a run at start_time + duration on that same clock, and its
// scheduler queues count the same seconds (the first queue ends at 3250 s of service). In
// 60_job.csv durations run from 121 s to 1,800 s, submits from 0 to 1,779 s.
// Each row becomes one canonical job (docs/formats.md):
//   id        tiresias-<job_id>;
//   submit    submit_time as given (the trace's own clock already starts at 0);
//   gpus      num_gpu;   duration  as given (decimals kept; Tiresias truncates to whole seconds);
//   team      `tiresias` (--team-by none, the default), or the model (--team-by model_name);
//   class, flavor empty: the trace has no priorities and no GPU types.
// iterations (unused by Tiresias' schedulers) and interval (the gap to the next submit, which the
// submit times already give) are not read. Jobs are written by submit time, ties in file order,
// as Tiresias sorts them.
import type { Issue } from '../core/model.js';
import { TraceImportError } from './canonical-csv.js';
import {
  checkUnique,
  parseCount,
  parseNonNegative,
  readSourceCsv,
  SOURCE_ID,
  type SourceJob,
  type TraceFormat,
} from './options.js';

const REQUIRED = ['job_id', 'num_gpu', 'submit_time', 'model_name', 'duration'] as const;
const SOURCE_HEADER = 'job_id,num_gpu,submit_time,iterations,model_name,duration,interval';

/** Reads a Tiresias job trace; throws TraceImportError listing every bad row. */
function readTiresias(text: string, file: string): SourceJob[] {
  const issues: Issue[] = [];
  const jobs: SourceJob[] = [];
  const seen = new Map<string, number>();
  readSourceCsv(text, file, REQUIRED, SOURCE_HEADER, issues, (row) => {
    const { line } = row;
    const before = issues.length;
    const { bad } = row;

    const id = row.cell('job_id');
    if (!SOURCE_ID.test(id)) bad('job_id', 'a job id (letters, digits, _ . or -)', id);
    else checkUnique(seen, id, 'job_id', file, line, issues);

    const gpusText = row.cell('num_gpu');
    const gpus = parseCount(gpusText);
    if (gpus === null || gpus < 1) bad('num_gpu', 'a positive integer', gpusText);

    const submitText = row.cell('submit_time');
    const submit = parseNonNegative(submitText);
    if (submit === null) bad('submit_time', 'a number of seconds >= 0', submitText);

    const model = row.cell('model_name');
    if (!SOURCE_ID.test(model)) bad('model_name', 'a model name (letters, digits, _ . or -)', model);

    const durationText = row.cell('duration');
    const duration = parseNonNegative(durationText);
    if (duration === null) bad('duration', 'a number of seconds >= 0', durationText);

    if (issues.length === before && gpus !== null && submit !== null && duration !== null) {
      jobs.push({ id: `tiresias-${id}`, submit, gpus, duration, groups: { model_name: model } });
    }
  });
  if (issues.length > 0) throw new TraceImportError(issues);
  // Array.prototype.sort is stable: equal submit times keep file order.
  return jobs.sort((a, b) => a.submit - b.submit);
}

export const TIRESIAS: TraceFormat = {
  name: 'tiresias',
  singleTeam: 'tiresias',
  defaultTeamBy: 'none',
  teamFields: { model_name: (model) => model },
  takes: [],
  read: (text, file) => ({ jobs: readTiresias(text, file), warnings: [], notes: [] }),
};
