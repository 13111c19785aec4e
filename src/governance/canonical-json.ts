// Canonical JSON for the audit log (governance.md, "Audit log": sorted keys, no insignificant space).
//
// The form follows RFC 8785 (JCS) where it matters for a log of our own values:
// - object members sorted by key, comparing UTF-16 code units (RFC 8785 §3.2.3; this is what `<` on
//   JavaScript strings does, so no locale is involved);
// - no whitespace between tokens (§3.2.1);
// - numbers and strings serialised as ECMAScript's JSON.stringify does (§3.2.2.2, §3.2.2.3).
// Values JSON has no way to write (NaN, Infinity, bigint, functions, symbols, undefined inside an
// array, cycles) are refused with a TypeError naming where they are, instead of being silently turned
// into `null` or dropped: a log entry must hash the same in every reader.

import { createHash } from 'node:crypto';

/**
 * The canonical JSON text of `value`. Two values that are equal as JSON give the same text, whatever
 * the order their keys were written in. `undefined` object members are omitted (as JSON.stringify
 * does); an object with a `toJSON` method (a Date) is written as what that method returns.
 * @throws TypeError naming the path (`data.x[2]`) of the first value JSON cannot represent.
 */
export function canonicalJson(value: unknown): string {
  const text = write(value, '', new Set());
  if (text === undefined)
    throw new TypeError(`${describePath('')} is undefined, which JSON cannot represent`);
  return text;
}

/** Hex SHA-256 of the UTF-8 bytes of `text`. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The text of `value`, or undefined for a member to omit (undefined, as JSON.stringify omits it). */
function write(value: unknown, path: string, ancestors: Set<object>): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) {
        throw new TypeError(`${describePath(path)} is ${String(value)}, which JSON cannot represent`);
      }
      return JSON.stringify(value); // ECMAScript Number-to-String: 1e+21, 0.1, -0 -> "0" (RFC 8785 §3.2.2.3)
    case 'bigint':
    case 'function':
    case 'symbol':
      throw new TypeError(`${describePath(path)} is a ${typeof value}, which JSON cannot represent`);
    case 'object':
      return writeObject(value, path, ancestors);
  }
}

function writeObject(value: object, path: string, ancestors: Set<object>): string | undefined {
  const toJSON: unknown = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return write(toJSON.call(value) as unknown, path, ancestors);
  if (ancestors.has(value)) throw new TypeError(`${describePath(path)} refers to itself (a cycle)`);
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const items = (value as readonly unknown[]).map((item, i) => {
        const itemPath = `${path}[${i}]`;
        const text = write(item, itemPath, ancestors);
        // JSON.stringify would write null here; a canonical log entry must not change shape silently.
        if (text === undefined) {
          throw new TypeError(`${describePath(itemPath)} is undefined, which a JSON array cannot hold`);
        }
        return text;
      });
      return `[${items.join(',')}]`;
    }
    const members: string[] = [];
    // Default sort compares UTF-16 code units, as RFC 8785 §3.2.3 requires.
    for (const key of Object.keys(value).sort()) {
      const text = write((value as Record<string, unknown>)[key], memberPath(path, key), ancestors);
      if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    ancestors.delete(value);
  }
}

/** `a.b` for identifier keys, `a["x y"]` otherwise, so a path can be pasted back into code. */
function memberPath(path: string, key: string): string {
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

function describePath(path: string): string {
  return path === '' ? 'the value' : path;
}
