// Importer for the Microsoft Philly job summary as published by the Pollux authors
// (philly_jobs_82k.csv = simulator/traces/philly.csv of https://github.com/petuum/adaptdl, branch
// osdi21-artifact; see docs/traces.md):
//   timestamp,duration,num_gpus,gpu_time,cluster
//   2017-10-09 07:01:55,66.0,1,66.0,11cb48
// Each row becomes one canonical job (docs/formats.md):
//   id       philly-<n>, n = 0-based position of the row in the SOURCE file (line - 2), so a
//            job can be traced back even though the output is re-ordered;
//   submit   seconds since the earliest timestamp of the file (timestamps read as UTC);
//   team     vc<cluster>, one team per Philly virtual cluster;
//   gpus, duration as given; class and flavor empty (default class, any flavor).
// The source is NOT sorted by time: jobs are written by submit, ties in file order (stable).
// gpu_time is not read: it is duration x num_gpus (true on every row of the real file).
import type { Issue } from '../core/model.js';
import {
  summarize,
  TraceImportError,
  writeCanonicalCsv,
  type CanonicalJob,
  type ImportedTrace,
} from './canonical-csv.js';

/** The team of a Philly virtual cluster: `vc` + its hash, e.g. "6214e9" -> "vc6214e9". */
export function phillyTeam(cluster: string): string {
  return `vc${cluster}`;
}

const REQUIRED = ['timestamp', 'duration', 'num_gpus', 'cluster'] as const;
type Column = (typeof REQUIRED)[number];

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;
// Plain decimals ("66.0", "0.5"); an exponent is accepted since some writers use one.
const DECIMAL = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
// Integers, also written as floats by pandas ("8.0").
const INTEGER = /^\d+(\.0*)?$/;
const CLUSTER = /^[A-Za-z0-9_-]+$/;

/** Milliseconds since the epoch of a `YYYY-MM-DD HH:MM:SS` UTC time, or null if it is not one. */
function parseTimestamp(text: string): number | null {
  const m = TIMESTAMP.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls over (Feb 30 -> Mar 2); a real time reads back the same fields.
  const d = new Date(ms);
  const same =
    d.getUTCFullYear() === year &&
    d.getUTCMonth() === month - 1 &&
    d.getUTCDate() === day &&
    d.getUTCHours() === hour &&
    d.getUTCMinutes() === minute &&
    d.getUTCSeconds() === second;
  return same ? ms : null;
}

/** Splits one CSV line; quoted fields ("a,b", "say ""hi""") are honoured but may not span lines. */
function splitLine(line: string): string[] | null {
  if (!line.includes('"')) return line.split(',');
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) return null; // unterminated quote
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i];
        i++;
      }
      if (i < line.length && line[i] !== ',') return null; // text after a closing quote
    } else {
      const end = line.indexOf(',', i);
      field = line.slice(i, end === -1 ? line.length : end);
      i = end === -1 ? line.length : end;
      if (field.includes('"')) return null;
    }
    fields.push(field);
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

interface Row {
  readonly index: number;
  readonly time: number;
  readonly gpus: number;
  readonly duration: number;
  readonly team: string;
}

/**
 * Converts the Philly CSV `text` (read from `file`, used in messages) into canonical CSV.
 * Throws TraceImportError listing every bad row (file, line, column, value); nothing is skipped.
 * Blank lines are allowed only at the end of the file (the real file ends with one).
 */
export function importPhilly(text: string, file: string): ImportedTrace {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();

  const headerLine = (lines[0] ?? '').replace(/^\uFEFF/, '');
  const header = splitLine(headerLine)?.map((name) => name.trim()) ?? [];
  const position = new Map<string, number>();
  header.forEach((name, i) => {
    if (!position.has(name)) position.set(name, i);
  });
  const missing = REQUIRED.filter((name) => !position.has(name));
  if (missing.length > 0) {
    throw new TraceImportError([
      {
        file,
        line: 1,
        path: 'header',
        message: `missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; expected timestamp,duration,num_gpus,gpu_time,cluster`,
      },
    ]);
  }
  const col = (name: Column): number => position.get(name) ?? -1;

  const issues: Issue[] = [];
  const rows: Row[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i] ?? '';
    if (raw.trim() === '') {
      issues.push({ file, line, path: '', message: 'empty row; remove it' });
      continue;
    }
    const fields = splitLine(raw);
    if (fields === null) {
      issues.push({ file, line, path: '', message: 'unbalanced quotes' });
      continue;
    }
    if (fields.length !== header.length) {
      // Name the required columns a short row lacks; otherwise just count.
      const absent = REQUIRED.filter((name) => col(name) >= fields.length);
      for (const name of absent) {
        issues.push({
          file,
          line,
          path: `column ${name}`,
          message: `missing (the row has ${fields.length} of ${header.length} columns)`,
        });
      }
      if (absent.length === 0) {
        issues.push({
          file,
          line,
          path: '',
          message: `expected ${header.length} columns, got ${fields.length}`,
        });
      }
      continue;
    }
    const bad = (column: Column, expected: string, value: string): void => {
      issues.push({ file, line, path: `column ${column}`, message: `expected ${expected}, got "${value}"` });
    };
    const get = (name: Column): string => (fields[col(name)] ?? '').trim();

    const timestampText = get('timestamp');
    const time = parseTimestamp(timestampText);
    if (time === null) bad('timestamp', 'a time "YYYY-MM-DD HH:MM:SS"', timestampText);

    const durationText = get('duration');
    const duration = DECIMAL.test(durationText) ? Number(durationText) : NaN;
    if (!Number.isFinite(duration)) bad('duration', 'a number of seconds >= 0', durationText);

    const gpusText = get('num_gpus');
    const gpus = INTEGER.test(gpusText) ? Number(gpusText) : NaN;
    if (!(gpus >= 1 && Number.isSafeInteger(gpus))) bad('num_gpus', 'a positive integer', gpusText);

    const cluster = get('cluster');
    if (!CLUSTER.test(cluster)) bad('cluster', 'a virtual-cluster id (letters, digits, - or _)', cluster);

    if (
      time !== null &&
      Number.isFinite(duration) &&
      gpus >= 1 &&
      Number.isSafeInteger(gpus) &&
      CLUSTER.test(cluster)
    ) {
      rows.push({ index: i - 1, time, gpus, duration, team: phillyTeam(cluster) });
    }
  }
  if (issues.length > 0) throw new TraceImportError(issues);

  let start = Infinity;
  for (const row of rows) start = Math.min(start, row.time);
  // Array.prototype.sort is stable (ES2019): equal times keep file order.
  const sorted = [...rows].sort((a, b) => a.time - b.time);
  const jobs: CanonicalJob[] = sorted.map((row) => ({
    id: `philly-${row.index}`,
    submit: (row.time - start) / 1000,
    team: row.team,
    gpus: row.gpus,
    duration: row.duration,
  }));
  return summarize(writeCanonicalCsv(jobs), jobs);
}
