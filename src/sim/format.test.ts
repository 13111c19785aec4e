import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatTime, roundTo } from './format.js';

/**
 * Reference: the shortest round-trip decimal of |x| (String), expanded out of exponent form,
 * rounded half away from zero at 3 decimals with string/BigInt arithmetic only.
 */
function reference(x: number): string {
  const s = String(Math.abs(x));
  let plain = s;
  if (s.includes('e')) {
    const [mantissa = '', exp = '0'] = s.split('e');
    const [int = '', frac = ''] = mantissa.split('.');
    const digits = int + frac;
    const point = int.length + Number(exp);
    plain =
      point <= 0
        ? `0.${'0'.repeat(-point)}${digits}`
        : point >= digits.length
          ? digits + '0'.repeat(point - digits.length)
          : `${digits.slice(0, point)}.${digits.slice(point)}`;
  }
  const [int = '', frac = ''] = plain.split('.');
  const up = frac.length > 3 && frac[3]! >= '5';
  const n = BigInt(int + frac.slice(0, 3).padEnd(3, '0')) + (up ? 1n : 0n);
  if (n === 0n) return '0';
  const fracDigits = (n % 1000n).toString().padStart(3, '0').replace(/0+$/, '');
  const out = (n / 1000n).toString() + (fracDigits ? `.${fracDigits}` : '');
  return x < 0 ? `-${out}` : out;
}

describe('formatTime', () => {
  it('writes whole seconds without a decimal point, and -0 as 0', () => {
    expect([12, 0, -0, -5, 86400].map(formatTime)).toEqual(['12', '0', '0', '-5', '86400']);
  });

  it('hides floating-point noise: 0.1 + 0.2 is 0.3', () => {
    expect(formatTime(0.1 + 0.2)).toBe('0.3');
  });

  it('keeps at most 3 decimals and no trailing zeros', () => {
    expect([1.5, 1.25, 0.125, 2.1, 100.0005, 3.14159].map(formatTime)).toEqual([
      '1.5',
      '1.25',
      '0.125',
      '2.1',
      '100.001',
      '3.142',
    ]);
  });

  it('rounds half away from zero at 3 decimals, as the number is written', () => {
    // 1234567.0005 is stored a hair below the tie (…0004999999655); the written decimal is a tie, rounded up.
    expect(
      [1234567.0005, -1234567.0005, 1.0005, 0.0005, -0.0005, 0.9995, 9.9999, 2.00049].map(formatTime),
    ).toEqual(['1234567.001', '-1234567.001', '1.001', '0.001', '-0.001', '1', '10', '2']);
  });

  it('writes a negative value that rounds to zero as 0', () => {
    expect([-0.0004, -1e-9].map(formatTime)).toEqual(['0', '0']);
  });

  it('never writes an exponent, for huge or tiny values', () => {
    expect([1e21, 1.5e22, -2e21, 1e-7, 123456789012.5, 1e15 + 0.5].map(formatTime)).toEqual([
      '1000000000000000000000',
      '15000000000000000000000',
      '-2000000000000000000000',
      '0',
      '123456789012.5',
      '1000000000000000.5',
    ]);
  });

  it('refuses NaN and infinities', () => {
    expect(() => formatTime(Number.NaN)).toThrow(RangeError);
    expect(() => formatTime(Infinity)).toThrow(RangeError);
  });

  it('agrees with decimal rounding of the written number for any finite double', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => formatTime(x) === reference(x)),
      { numRuns: 20000 },
    );
  });

  it('agrees with decimal rounding for times typed with 4 decimals (ties included)', () => {
    const typed = fc
      .tuple(fc.integer({ min: -1e10, max: 1e10 }), fc.integer({ min: 0, max: 9999 }))
      .map(([int, frac]) => Number(`${int}.${String(frac).padStart(4, '0')}`));
    fc.assert(
      fc.property(typed, (x) => formatTime(x) === reference(x)),
      { numRuns: 20000 },
    );
  });
});

describe('roundTo', () => {
  it('rounds to the requested decimals and never returns -0', () => {
    expect([roundTo(0.123456789, 6), roundTo(8.3333333, 3), roundTo(2.5, 0), roundTo(7, 3)]).toEqual([
      0.123457, 8.333, 3, 7,
    ]);
    expect(Object.is(roundTo(-0.0004, 3), 0)).toBe(true);
    expect(Object.is(roundTo(-0.0000001, 6), 0)).toBe(true);
  });
});
