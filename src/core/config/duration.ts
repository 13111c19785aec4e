// Durations (docs/formats.md): a number of seconds (`600`, `0.5`, also as a string `"600"`)
// or a string with a unit: `90s`, `10m`, `1.5h`, `7d`. Durations are never negative.

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

const WITH_UNIT = /^([+-]?(?:\d+\.?\d*|\.\d+))([smhd])$/;

const isDigit = (code: number): boolean => code >= 48 && code <= 57;

/**
 * Parses a decimal number written by a person (`600`, `0.5`, `.5`, `1e3`, `-2`), or null when
 * `text` is not one (`""`, `"abc"`, `"NaN"`, `"Infinity"`, `"0x10"`, `" 1"`). Number() does the
 * work; the checks around it refuse what it accepts beyond decimals: surrounding whitespace and
 * 0x/0b/0o prefixes (no regular expression: this runs for every cell of a large trace).
 */
export function parseDecimal(text: string): number | null {
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) return null;
  const first = text.charCodeAt(0);
  const last = text.charCodeAt(text.length - 1);
  if (!(isDigit(first) || first === 43 || first === 45 || first === 46)) return null; // digit + - .
  if (!(isDigit(last) || last === 46)) return null;
  const prefix = text.charCodeAt(1) | 32; // lower case: 0x, 0b, 0o
  return prefix === 120 || prefix === 98 || prefix === 111 ? null : value;
}

/**
 * Seconds for a duration given as a YAML/JSON value or a string, or an error message (a string)
 * that says what was expected. Example: `"1.5h"` -> 5400; `"soon"` -> `expected a duration ...`.
 */
export function parseDuration(value: unknown): number | string {
  let seconds: number | null = null;
  if (typeof value === 'number') {
    seconds = Number.isFinite(value) ? value : null;
  } else if (typeof value === 'string') {
    const text = value.trim();
    const match = WITH_UNIT.exec(text);
    seconds = match ? Number(match[1]) * (UNIT_SECONDS[match[2] ?? ''] ?? Number.NaN) : parseDecimal(text);
  }
  if (seconds === null || !Number.isFinite(seconds)) {
    return `expected a duration in seconds (600, 0.5) or with a unit (90s, 10m, 1.5h, 7d), got ${describeValue(value)}`;
  }
  if (seconds < 0) return `a duration cannot be negative, got ${describeValue(value)}`;
  return seconds;
}

/** How a value from a user's file is shown in a message: strings quoted, lists and mappings named. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value;
}
