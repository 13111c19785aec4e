// Values of command-line options, read the same way by every command: durations (--until,
// --duration, --time-limit, --round, --from, ...) in seconds or with a unit, as in the files
// (src/core/config/duration.ts), and counts. Each reader adds a problem naming the option to
// `problems` and returns undefined, so a command reports every bad option at once (exit 2).
import { parseDuration } from '../core/config/duration.js';

/**
 * Seconds: `600`, `0.5`, `90s`, `10m`, `1.5h`, `1d`. With `positive` (what a 0 is refused with,
 * e.g. "a round lasts more than 0 seconds"), 0 is refused too.
 */
export function durationFlag(
  value: string | undefined,
  option: string,
  problems: string[],
  { positive }: { positive?: string } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const seconds = parseDuration(value);
  if (typeof seconds === 'string') problems.push(`${option}: ${seconds}`);
  else if (positive !== undefined && seconds === 0) problems.push(`${option}: ${positive}, got "${value}"`);
  else return seconds;
  return undefined;
}

/** A whole number >= 1 (`8`), as GPUs are counted. */
export function positiveIntegerFlag(value: string | undefined, option: string, problems: string[]): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() !== '' && Number.isSafeInteger(n) && n >= 1) return n;
  problems.push(`${option}: expected a positive integer, got "${value}"`);
  return undefined;
}

/** The words every duration option's help ends with. */
export const DURATION_HELP = 'in seconds or with a unit (600, 90s, 10m, 1.5h, 7d)';
