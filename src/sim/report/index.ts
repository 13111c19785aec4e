// report.html on disk: `arbiter simulate` writes it for one run, `arbiter compare` for several.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../outputs.js';
import { renderReport, type ReportOptions, type ReportVariant } from './html.js';

export { renderReport, type ReportOptions, type ReportVariant } from './html.js';
export { computeSeries, type ReportSeries, type SeriesOptions } from './series.js';

export const REPORT_FILE = 'report.html';

/**
 * Renders the report for `variants` (one for simulate, several for compare) and writes it to
 * DIR/report.html (DIR created if missing), completely or not at all (temp file, fsync, rename).
 * Returns the path written.
 */
export async function writeReport(
  dir: string,
  variants: readonly ReportVariant[],
  opts: ReportOptions,
): Promise<string> {
  const html = renderReport(variants, opts);
  await mkdir(dir, { recursive: true });
  const path = join(dir, REPORT_FILE);
  await writeFileAtomic(path, [html]);
  return path;
}
