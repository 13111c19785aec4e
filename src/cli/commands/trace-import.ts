// `arbiter trace import --format F IN --out FILE.csv` (spec/cli.md): converts a public trace into
// the canonical CSV so that it can be inspected, edited and simulated.
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { formatIssue } from '../../core/model.js';
import { formatNumber } from '../../traces/canonical-csv.js';
import { importTrace, TRACE_FORMATS, TraceImportError, type ImportedTrace } from '../../traces/index.js';
import { UsageError } from '../errors.js';

interface ImportOptions {
  readonly format: string;
  readonly out: string;
}

/** Adds `trace` and its subcommand `import` to the program. */
export function registerTrace(program: Command): void {
  const trace = program.command('trace').description('work with workload traces (see spec/formats.md)');
  trace
    .command('import')
    .description('convert a public trace into canonical CSV, sorted by submit time')
    .argument('<in>', 'the trace file to read')
    .requiredOption('--format <name>', `format of IN: ${TRACE_FORMATS.join(', ')} (required, no default)`)
    .requiredOption('--out <file>', 'canonical CSV to write, replaced atomically (required, no default)')
    .action(async (input: string, options: ImportOptions) => {
      process.stdout.write(`${await runTraceImport(input, options)}\n`);
    });
}

const BAD_PATH = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/** Does the work of `trace import`; returns the summary line. Bad input throws UsageError. */
export async function runTraceImport(input: string, options: ImportOptions): Promise<string> {
  if (!TRACE_FORMATS.includes(options.format)) {
    throw new UsageError([
      `--format: unknown trace format "${options.format}"; known formats: ${TRACE_FORMATS.join(', ')}`,
    ]);
  }
  let text: string;
  try {
    text = await readFile(input, 'utf8');
  } catch (error) {
    const code = errorCode(error);
    if (code !== undefined && BAD_PATH.has(code)) {
      throw new UsageError([
        `${input}: cannot read the trace (${code === 'EISDIR' ? 'it is a folder' : 'no such file'})`,
      ]);
    }
    throw error;
  }

  let result: ImportedTrace;
  try {
    result = importTrace(options.format, text, input);
  } catch (error) {
    if (error instanceof TraceImportError) throw new UsageError(error.issues.map(formatIssue));
    throw error;
  }

  await writeAtomically(options.out, result.csv);
  const days = (result.span / 86_400).toFixed(1);
  return `${options.out}: ${result.jobs} jobs, ${result.teams.length} teams, submits span ${formatNumber(result.span)} s (${days} days)`;
}

/** Writes a temporary file beside `file`, then renames it: readers see the old file or the new one. */
async function writeAtomically(file: string, contents: string): Promise<void> {
  const temp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  try {
    await writeFile(temp, contents, 'utf8');
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    const code = errorCode(error);
    if (code !== undefined && BAD_PATH.has(code)) {
      throw new UsageError([
        `--out ${file}: cannot write there (${code === 'EISDIR' ? 'it is a folder' : 'its folder does not exist'})`,
      ]);
    }
    throw error;
  }
}
