// jobs.csv, segments.csv and summary.json (docs/formats.md, "Simulation outputs").
// Rows are rendered in chunks of CHUNK_ROWS (an array joined once per chunk), so a 1,000,000-job
// result is streamed to disk without one giant string; the pure renderers join the same chunks.
// Each file is written completely or not at all: temp name in the same directory, fsync, rename.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InvariantViolation } from '../core/model.js';
import { formatTime } from './format.js';
import type { Summary } from './metrics.js';
import type { JobOutcome, RunRecord, SimulationResult } from './types.js';

export const JOBS_CSV_HEADER =
  'id,team,class,flavor,gpus,submit,start,end,duration,wait,jct,preemptions,status';
export const SEGMENTS_CSV_HEADER = 'id,start,end,placement,outcome';

const CHUNK_ROWS = 8192;
const NEEDS_QUOTES = /[",\r\n]/;

/** A CSV field, quoted only when it contains `,`, `"` or a line break (quotes doubled inside). */
export function csvField(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One jobs.csv row. wait = start - submit and jct = end - submit, empty when undefined. */
function jobRow(job: JobOutcome): string {
  const spec = job.spec;
  const start = job.start === null ? '' : formatTime(job.start);
  const end = job.end === null ? '' : formatTime(job.end);
  const wait = job.start === null ? '' : formatTime(job.start - spec.submit);
  const jct = job.end === null ? '' : formatTime(job.end - spec.submit);
  return (
    `${csvField(spec.id)},${csvField(spec.team)},${csvField(spec.class)},${csvField(job.flavor ?? '')},` +
    `${spec.gpus},${formatTime(spec.submit)},${start},${end},${formatTime(spec.duration)},` +
    `${wait},${jct},${job.preemptions},${job.status}`
  );
}

/** `node:gpus` pairs joined by `;`, sorted by node name (plain string order); sorts a copy only when needed. */
export function placementField(placement: RunRecord['placement']): string {
  let sorted = placement;
  for (let i = 1; i < placement.length; i++) {
    const prev = placement[i - 1];
    const cur = placement[i];
    if (prev !== undefined && cur !== undefined && cur.node < prev.node) {
      sorted = [...placement].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
      break;
    }
  }
  return csvField(sorted.map((p) => `${p.node}:${p.gpus}`).join(';'));
}

function segmentRow(run: RunRecord, jobs: readonly JobOutcome[]): string {
  const job = jobs[run.job];
  if (job === undefined)
    throw new InvariantViolation(`run of job #${run.job}, but the trace has ${jobs.length} jobs`);
  return `${csvField(job.spec.id)},${formatTime(run.start)},${formatTime(run.end)},${placementField(run.placement)},${run.outcome}`;
}

/**
 * The runs in segments.csv order: by start, then by the job's position in the trace. The
 * simulator already produces them so (SimulationResult.runs); this checks it in one pass and
 * only sorts a copy (stable, so equal keys keep their given order) when it is not.
 */
export function runsInOutputOrder(runs: readonly RunRecord[]): readonly RunRecord[] {
  for (let i = 1; i < runs.length; i++) {
    const a = runs[i - 1] as RunRecord;
    const b = runs[i] as RunRecord;
    if (b.start < a.start || (b.start === a.start && b.job < a.job)) {
      return [...runs].sort((x, y) => x.start - y.start || x.job - y.job);
    }
  }
  return runs;
}

/** Header line, then rows in chunks of CHUNK_ROWS, each chunk one string ending with "\n". */
function* csvChunks<T>(header: string, items: readonly T[], row: (item: T) => string): Generator<string> {
  yield `${header}\n`;
  for (let i = 0; i < items.length; i += CHUNK_ROWS) {
    const end = Math.min(items.length, i + CHUNK_ROWS);
    const lines = new Array<string>(end - i + 1);
    for (let k = i; k < end; k++) lines[k - i] = row(items[k] as T);
    lines[end - i] = ''; // so the join ends the chunk with "\n"
    yield lines.join('\n');
  }
}

const jobsChunks = (result: SimulationResult): Generator<string> =>
  csvChunks(JOBS_CSV_HEADER, result.jobs, jobRow);
const segmentsChunks = (result: SimulationResult): Generator<string> =>
  csvChunks(SEGMENTS_CSV_HEADER, runsInOutputOrder(result.runs), (run) => segmentRow(run, result.jobs));

/** The whole jobs.csv text: one row per job, in trace order. */
export function renderJobsCsv(result: SimulationResult): string {
  return Array.from(jobsChunks(result)).join('');
}

/** The whole segments.csv text: one row per run, by start then trace position. */
export function renderSegmentsCsv(result: SimulationResult): string {
  return Array.from(segmentsChunks(result)).join('');
}

/** summary.json: 2-space indented; key order is the one summarize() builds (documented keys first). */
export function renderSummaryJson(summary: Summary): string {
  return `${JSON.stringify(summary, null, 2)}\n`;
}

/**
 * Writes jobs.csv, segments.csv and summary.json into `dir` (created if missing). Each file
 * appears complete or not at all; on failure no temp file is left behind.
 */
export async function writeSimulationOutputs(
  dir: string,
  result: SimulationResult,
  summary: Summary,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'jobs.csv'), jobsChunks(result));
  await writeFileAtomic(join(dir, 'segments.csv'), segmentsChunks(result));
  await writeFileAtomic(join(dir, 'summary.json'), [renderSummaryJson(summary)]);
  await syncDirectory(dir);
}

/**
 * Temp file beside `path` (same directory, so rename is atomic), fsync, rename over `path`. A
 * path that names a device or a pipe (`--explain /dev/null`, `/dev/stdout`, a FIFO) is written
 * in place instead: a rename would replace the device itself with a plain file.
 */
export async function writeFileAtomic(path: string, chunks: Iterable<string>): Promise<void> {
  const existing = await stat(path).catch(() => null);
  if (existing !== null && !existing.isFile() && !existing.isDirectory()) {
    const handle = await open(path, 'w');
    try {
      for (const chunk of chunks) await handle.writeFile(chunk, 'utf8');
    } finally {
      await handle.close();
    }
    return;
  }
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx');
  let renamed = false;
  try {
    try {
      // FileHandle.writeFile writes from the current position and loops until the chunk is all written.
      for (const chunk of chunks) await handle.writeFile(chunk, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
    renamed = true;
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}

/** Makes the renames durable. Best effort: some platforms cannot open or fsync a directory. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Not fatal: the files themselves are complete and fsynced.
  }
}
