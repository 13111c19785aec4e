import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no spaces', () => {
    const value = { b: 1, a: { z: [3, { y: true, x: null }], m: 'text' } };
    expect(canonicalJson(value)).toBe('{"a":{"m":"text","z":[3,{"x":null,"y":true}]},"b":1}');
  });

  it('orders keys by UTF-16 code units, not by locale or code point (RFC 8785 §3.2.3)', () => {
    // U+00E9 (é) sorts after "z"; U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB01
    // by code unit although its code point is larger. "10" before "9": keys are text, not numbers
    // (JavaScript objects list integer-like keys first; the canonical text must not).
    const value = { z: 1, é: 2, a: 3, B: 4, '\u{1F600}': 5, '\uFB01': 6, '': 7, '10': 8, '9': 9 };
    expect(canonicalJson(value)).toBe('{"":7,"10":8,"9":9,"B":4,"a":3,"z":1,"é":2,"\u{1F600}":5,"\uFB01":6}');
  });

  it('writes strings and numbers as JSON.stringify does', () => {
    expect(canonicalJson('line\nquote"back\\slash\u0001')).toBe('"line\\nquote\\"back\\\\slash\\u0001"');
    expect(canonicalJson([0, -0, 1.5, 1e21, 1e-7, -42, 0.1 + 0.2])).toBe(
      '[0,0,1.5,1e+21,1e-7,-42,0.30000000000000004]',
    );
    expect(canonicalJson(true)).toBe('true');
    expect(canonicalJson(null)).toBe('null');
  });

  it('omits undefined members and uses toJSON (a Date becomes its ISO text)', () => {
    const value = { kept: 1, dropped: undefined, at: new Date('2025-01-31T12:00:00.000Z') };
    expect(canonicalJson(value)).toBe('{"at":"2025-01-31T12:00:00.000Z","kept":1}');
  });

  it('refuses what JSON cannot represent, naming where it is', () => {
    expect(() => canonicalJson({ data: { x: [1, 2, Number.NaN] } })).toThrow(
      new TypeError('data.x[2] is NaN, which JSON cannot represent'),
    );
    expect(() => canonicalJson({ data: { x: [1, 2, undefined] } })).toThrow(
      new TypeError('data.x[2] is undefined, which a JSON array cannot hold'),
    );
    expect(() => canonicalJson({ 'odd key': Infinity })).toThrow(
      new TypeError('["odd key"] is Infinity, which JSON cannot represent'),
    );
    expect(() => canonicalJson({ n: 1n })).toThrow(
      new TypeError('n is a bigint, which JSON cannot represent'),
    );
    expect(() => canonicalJson({ f: () => 1 })).toThrow(
      new TypeError('f is a function, which JSON cannot represent'),
    );
    expect(() => canonicalJson([Symbol('s')])).toThrow(
      new TypeError('[0] is a symbol, which JSON cannot represent'),
    );
    expect(() => canonicalJson(undefined)).toThrow(
      new TypeError('the value is undefined, which JSON cannot represent'),
    );
  });

  it('refuses a cycle but accepts the same object twice side by side', () => {
    const shared = { a: 1 };
    expect(canonicalJson({ x: shared, y: shared })).toBe('{"x":{"a":1},"y":{"a":1}}');
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { back: cyclic };
    expect(() => canonicalJson(cyclic)).toThrow(new TypeError('self.back refers to itself (a cycle)'));
  });

  it('gives one text for every ordering of the same JSON value, and parses back to it', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        const parsed: unknown = JSON.parse(text);
        expect(parsed).toEqual(JSON.parse(JSON.stringify(value)));
        expect(canonicalJson(parsed)).toBe(text); // idempotent
        expect(canonicalJson(reverseKeys(parsed))).toBe(text); // key order does not matter
        // Only the member order differs from JSON.stringify: same tokens, no added space.
        expect(text.length).toBe(JSON.stringify(value).length);
      }),
      { numRuns: 300 },
    );
  });
});

describe('sha256Hex', () => {
  it('hashes the UTF-8 bytes', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('é')).toBe(sha256Hex('\u00e9'));
    expect(sha256Hex('é')).not.toBe(sha256Hex('e\u0301')); // no Unicode normalisation
  });
});

/** The same JSON value with every object's keys inserted in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value).reverse();
  return Object.fromEntries(entries.map(([key, item]) => [key, reverseKeys(item)]));
}
