// Number formatting for simulation outputs (docs/formats.md, "Simulation outputs"):
// times are seconds written with at most 3 decimals, no trailing zeros, no exponent.

/** ".001" .. ".999" with trailing zeros stripped, indexed by thousandths; [0] is "". */
const FRACTIONS: readonly string[] = Array.from({ length: 1000 }, (_, k) =>
  k === 0 ? '' : `.${String(k).padStart(3, '0').replace(/0+$/, '')}`,
);

/** Above this many thousandths, x*1000 is too coarse for the fast path; the decimal path takes over. */
const FAST_LIMIT = 2 ** 43;
/** Relative width of the band around a tie where the float product cannot be trusted (see formatTime). */
const TIE_BAND = 2 ** -50;

/**
 * Seconds with at most 3 decimals: 12 -> "12", 0.1+0.2 -> "0.3", -0 -> "0", 1e21 -> "1000000000000000000000"
 * (from 1e21 up, the digits JavaScript prints, zero-filled: 1.5e22 -> "15000000000000000000000").
 * Rounds half away from zero at 3 decimals of the number as JavaScript prints it (its shortest
 * round-trip decimal), so 1234567.0005 -> "1234567.001" although the double is a hair below the tie.
 * Throws a RangeError on NaN and infinities: a time that is not finite is a bug upstream.
 *
 * Fast path (almost every call): m = |x|*1000 rounded to an integer, then integer part + a table lookup.
 * The product is off from 1000*(printed decimal) by at most m*2^-52 (half an ulp of x scaled, plus
 * half an ulp of m), so Math.round is right unless m lies within m*2^-50 of a tie; those rare
 * values, and values too large for the product to keep thousandths, take the decimal-string path.
 */
export function formatTime(x: number): string {
  if (Number.isInteger(x)) {
    // String(-0) is "0"; below 1e21 String never uses an exponent.
    return Math.abs(x) < 1e21 ? String(x) : expandExponent(String(x));
  }
  if (!Number.isFinite(x)) throw new RangeError(`formatTime: not a finite number of seconds: ${x}`);
  const a = x < 0 ? -x : x;
  const m = a * 1000;
  if (m < FAST_LIMIT && Math.abs(m - Math.floor(m) - 0.5) > m * TIE_BAND) {
    const r = Math.round(m);
    if (r === 0) return '0';
    const int = Math.floor(r / 1000);
    const s = String(int) + (FRACTIONS[r - int * 1000] as string);
    return x < 0 ? `-${s}` : s;
  }
  return roundDecimalString(String(a), x < 0);
}

/** An integer in exponent form (only from 1e21 up) as plain digits: "-1.5e+22" -> "-15000000000000000000000". */
function expandExponent(s: string): string {
  const e = s.indexOf('e');
  if (e < 0) return s;
  const sign = s.startsWith('-') ? '-' : '';
  const mantissa = s.slice(sign.length, e);
  const dot = mantissa.indexOf('.');
  const digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  const intLength = (dot < 0 ? mantissa.length : dot) + Number(s.slice(e + 1));
  return sign + digits + '0'.repeat(intLength - digits.length);
}

/**
 * Rounds a plain decimal string (no exponent: |x| here is >= 2^43/1000 or near a tie, never
 * below 1e-6) half away from zero at 3 decimals. Example: "2.0005" -> digits "2000" + 1 -> "2.001".
 */
function roundDecimalString(s: string, negative: boolean): string {
  const dot = s.indexOf('.');
  if (dot < 0) return negative && s !== '0' ? `-${s}` : s;
  const int = s.slice(0, dot);
  const frac = s.slice(dot + 1);
  let digits = BigInt(int + frac.slice(0, 3).padEnd(3, '0'));
  if (frac.length > 3 && frac.charCodeAt(3) >= 53 /* '5' */) digits += 1n;
  if (digits === 0n) return '0';
  const whole = digits / 1000n;
  const out = whole.toString() + (FRACTIONS[Number(digits - whole * 1000n)] as string);
  return negative ? `-${out}` : out;
}

/**
 * x rounded half away from zero to `decimals` places, as a number (for JSON). Example:
 * roundTo(0.123456789, 6) = 0.123457; roundTo(-0.0004, 3) = 0 (never -0).
 */
export function roundTo(x: number, decimals: number): number {
  if (!Number.isFinite(x) || Number.isInteger(x)) return x === 0 ? 0 : x;
  if (decimals === 3) return Number(formatTime(x));
  const scale = 10 ** decimals;
  const r = Math.round(Math.abs(x) * scale) / scale;
  return r === 0 ? 0 : x < 0 ? -r : r;
}
