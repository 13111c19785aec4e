// The importer registry: public GPU-cluster traces -> canonical CSV (spec/formats.md).
// `arbiter trace import --format F` and `--trace-format F` dispatch through importTrace.
import { TraceImportError, type ImportedTrace } from './canonical-csv.js';
import { importPhilly } from './philly.js';

export { TraceImportError, type CanonicalJob, type ImportedTrace } from './canonical-csv.js';

type Importer = (text: string, file: string) => ImportedTrace;

const IMPORTERS: Readonly<Record<string, Importer>> = {
  philly: importPhilly,
};

/** Names accepted by importTrace, sorted. */
export const TRACE_FORMATS: readonly string[] = Object.keys(IMPORTERS).sort();

/**
 * Converts `text` (the contents of `file`, named in messages) from `format` into canonical CSV.
 * Throws TraceImportError for bad input, including an unknown format (the message lists the
 * known ones).
 */
export function importTrace(format: string, text: string, file: string): ImportedTrace {
  const importer = Object.hasOwn(IMPORTERS, format) ? IMPORTERS[format] : undefined;
  if (importer === undefined) {
    throw new TraceImportError([
      {
        file,
        path: '',
        message: `unknown trace format "${format}"; known formats: ${TRACE_FORMATS.join(', ')}`,
      },
    ]);
  }
  return importer(text, file);
}
