// Text from the server or a database is shown to people as it is, but never acts on their
// terminal: control characters and terminal escapes are made visible (ESC as `\x1b`, a newline as
// `\n`), and so are the characters that reorder or break lines, so that no name can forge a table
// row, move the cursor, retitle the window or hide what follows. Every human table and line of the
// CLI goes through here (client.ts `call` applies it to every answer it gives for people).

// C0 and C1 controls and DEL; line and paragraph separators; bidirectional overrides and isolates.
const HIDDEN = /[\p{Cc}\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|\p{Cs}/gu;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** The text with every control character, escape and reordering mark written out visibly. */
export function visible(text: string): string {
  return text.replace(HIDDEN, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

/** A copy of a JSON value with every string (keys too) made visible: what the CLI shows people. */
export function forHumans<T>(value: T): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return visible(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [visible(k), walk(x)]));
    return v;
  };
  return walk(value) as T;
}
