// Text a hostile client may send (issue 9): invalid UTF-8 bytes, lone surrogates, control
// characters. Fastify's JSON parser would decode invalid bytes to U+FFFD without a word and
// JSON.parse accepts "\ud800": both would be stored as they came. Here they are found and named
// (the field's path), so the request is refused with a 400 and nothing is stored.

/**
 * The offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlong
 * forms, no encoded surrogates, nothing above U+10FFFF), or -1 when all of it is well formed.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0; // overlong
      if (b === 0xed) hi = 0x9f; // a surrogate
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90; // overlong
      if (b === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return i;
    if (i + need >= n) return i; // cut short at the end
    const second = bytes[i + 1]!;
    if (second < lo || second > hi) return i;
    for (let k = 2; k <= need; k++) {
      const c = bytes[i + k]!;
      if (c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

/**
 * The path (`a.b[2]`, as zod issues name fields: `a.b.2`) of the value being written where a
 * JSON text is cut: the field a bad byte sits in. `(body)` at the top level.
 */
export function jsonPathAt(prefix: string): string {
  type Frame = { kind: 'object'; key: string | null; wantKey: boolean } | { kind: 'array'; index: number };
  const stack: Frame[] = [];
  let i = 0;
  let lastString = '';
  let inString = false;
  while (i < prefix.length) {
    const c = prefix[i]!;
    if (inString) {
      if (c === '\\') {
        lastString += prefix.slice(i, i + 2);
        i += 2;
        continue;
      }
      if (c === '"') {
        inString = false;
        const top = stack.at(-1);
        if (top?.kind === 'object' && top.wantKey) {
          try {
            top.key = JSON.parse(`"${lastString}"`) as string;
          } catch {
            top.key = lastString;
          }
        }
      } else lastString += c;
      i++;
      continue;
    }
    if (c === '"') {
      inString = true;
      lastString = '';
    } else if (c === '{') stack.push({ kind: 'object', key: null, wantKey: true });
    else if (c === '[') stack.push({ kind: 'array', index: 0 });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ':') {
      const top = stack.at(-1);
      if (top?.kind === 'object') top.wantKey = false;
    } else if (c === ',') {
      const top = stack.at(-1);
      if (top?.kind === 'object') {
        top.wantKey = true;
        top.key = null;
      } else if (top) top.index++;
    }
    i++;
  }
  const parts = stack.map((f) => (f.kind === 'array' ? String(f.index) : (f.key ?? '(key)')));
  return parts.length === 0 ? '(body)' : parts.join('.');
}

/** With the u flag a pair is one code point: only an unpaired half is in category Cs. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Every string (object keys included) holding a lone surrogate (a `\ud800` escape without its
 * pair): not text, and no store keeps it as given. Paths as zod names them (`a.b.2`).
 */
export function loneSurrogates(value: unknown, path = ''): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const visit = (v: unknown, at: string): void => {
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) out.push({ path: at || '(body)', message: 'holds a lone surrogate (an unpaired \\ud800-\\udfff escape): not text; send well-formed Unicode' });
    } else if (Array.isArray(v)) v.forEach((x, i) => visit(x, at ? `${at}.${i}` : String(i)));
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        const where = at ? `${at}.${k}` : k;
        if (LONE_SURROGATE.test(k)) out.push({ path: where, message: 'the field name holds a lone surrogate: not text' });
        visit(x, where);
      }
    }
  };
  visit(value, path);
  return out;
}

/** Control characters (C0, DEL, C1): never in a name. */
export const CONTROL = /\p{Cc}/u;
/** Control characters but tab, line feed and carriage return: never in free text. */
export const CONTROL_IN_TEXT = /(?![\t\n\r])\p{Cc}/u;

/** The bytes a percent-encoded URL part stands for ('+' is left as is: it is ASCII either way). */
function percentBytes(part: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < part.length; i++) {
    const c = part.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(part.slice(i + 1, i + 3))) {
      out.push(parseInt(part.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) out.push(c);
    else out.push(...Buffer.from(part[i]!, 'utf8'));
  }
  return Buffer.from(out);
}

/** The parts of a request URL (path, each query parameter) whose percent-escapes are not UTF-8. */
export function urlProblems(url: string): { path: string; message: string }[] {
  const q = url.indexOf('?');
  const problems: { path: string; message: string }[] = [];
  const message = 'percent-escapes that are not UTF-8 (invalid bytes or an encoded surrogate): send UTF-8';
  if (firstInvalidUtf8(percentBytes(q < 0 ? url : url.slice(0, q))) >= 0) problems.push({ path: '(url)', message });
  if (q >= 0) {
    for (const pair of url.slice(q + 1).split('&')) {
      if (firstInvalidUtf8(percentBytes(pair)) < 0) continue;
      const name = pair.split('=')[0] ?? '';
      const readable = firstInvalidUtf8(percentBytes(name)) < 0 ? percentBytes(name).toString('utf8') : '(name)';
      problems.push({ path: `query.${readable.replace(CONTROL, '?').slice(0, 100)}`, message });
    }
  }
  return problems;
}
