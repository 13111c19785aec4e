// What one client may ask of the server (issue 9, "Requests a hostile client sends"): request
// rates per token and per client address (token buckets; a failed authentication costs more),
// time limits on slow headers, slow bodies and idle connections, and body sizes per route.
// Defaults are far above what a lab's people and scripts send (docs/api.md, "Limits"); every one
// is configurable with `arbiter serve --rate-limit ... --timeouts ...`; behind a reverse proxy,
// `--trust-proxy` names the proxies whose X-Forwarded-For gives the client address.
import { isIP } from 'node:net';

/** A token bucket's shape: `rate` requests per second sustained, `burst` at once. */
export interface Bucket {
  readonly rate: number;
  readonly burst: number;
}

export interface RateLimits {
  /** Per API token (after authentication); null: no limit. */
  readonly perToken: Bucket | null;
  /** Per client address (every request, before authentication); null: no limit. */
  readonly perAddress: Bucket | null;
  /** What a failed authentication costs the address's bucket, in requests. */
  readonly authFailureCost: number;
}

/** Seconds. */
export interface Timeouts {
  /** To receive a request's headers. */
  readonly headers: number;
  /** To receive a whole request, headers and body. */
  readonly request: number;
  /** A kept-alive connection with no request. */
  readonly idle: number;
}

/** Bytes. */
export interface BodyLimits {
  /** Every route but the proposal routes: a job, a comment, a ballot. */
  readonly small: number;
  /** A proposal, an amendment or an emergency change: a policy and perhaps an attached trace. */
  readonly proposal: number;
}

export interface Limits {
  readonly rate: RateLimits;
  readonly timeouts: Timeouts;
  readonly body: BodyLimits;
  /**
   * Addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed: behind them,
   * the client address (rate limits, logs) is the one they forward. Empty: the header is ignored,
   * so a client cannot pick its own address.
   */
  readonly trustProxy?: readonly string[];
}

// Our own benchmark (bench/server/submit.ts) sends about 8,000 submissions a second from one
// token on 64 connections and passes --rate-limit off; a lab's scripts send far fewer.
export const DEFAULT_LIMITS: Limits = {
  rate: { perToken: { rate: 2000, burst: 4000 }, perAddress: { rate: 5000, burst: 10_000 }, authFailureCost: 25 },
  timeouts: { headers: 10, request: 120, idle: 30 },
  body: { small: 128 << 10, proposal: 64 << 20 },
};

/**
 * `--trust-proxy`: comma-separated IP addresses or CIDR ranges (`127.0.0.1,10.0.0.0/8,::1`).
 * Example: "10.0.0.0/8, 192.168.1.7" gives ["10.0.0.0/8", "192.168.1.7"].
 */
export function parseTrustProxy(text: string, problems: string[]): string[] {
  const out: string[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    const [address, bits, extra] = part.split('/');
    const family = isIP(address ?? '');
    const width = family === 4 ? 32 : 128;
    const prefixOk = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= width);
    if (part === '' || family === 0 || !prefixOk || extra !== undefined) {
      problems.push(`--trust-proxy: "${part.slice(0, 100)}" is not an IP address or CIDR range (e.g. 127.0.0.1, 10.0.0.0/8, ::1)`);
    } else out.push(part);
  }
  return out;
}

const positive = (text: string): number | null => {
  const n = Number(text);
  return text.trim() !== '' && Number.isFinite(n) && n > 0 ? n : null;
};

/**
 * `--rate-limit`: `off`, or comma-separated `token=RATE/BURST`, `address=RATE/BURST` (either may
 * be `off`) and `auth-failure=COST`; what is not given keeps its default.
 */
export function parseRateLimit(text: string, problems: string[], base: RateLimits = DEFAULT_LIMITS.rate): RateLimits {
  if (text.trim() === 'off') return { perToken: null, perAddress: null, authFailureCost: base.authFailureCost };
  let out: { -readonly [K in keyof RateLimits]: RateLimits[K] } = { ...base };
  for (const part of text.split(',')) {
    const [key, value = ''] = part.split('=').map((s) => s.trim());
    if (key === 'token' || key === 'address') {
      let bucket: Bucket | null = null;
      if (value !== 'off') {
        const [rate, burst] = value.split('/').map(positive);
        if (!rate || !burst) {
          problems.push(`--rate-limit: ${key}=${value}: expected RATE/BURST (requests per second / at once, both > 0) or off`);
          continue;
        }
        bucket = { rate, burst };
      }
      out = key === 'token' ? { ...out, perToken: bucket } : { ...out, perAddress: bucket };
    } else if (key === 'auth-failure') {
      const cost = positive(value);
      if (cost === null) problems.push(`--rate-limit: auth-failure=${value}: expected a cost > 0 (requests a failed authentication counts for)`);
      else out = { ...out, authFailureCost: cost };
    } else problems.push(`--rate-limit: "${part}": expected off, or token=RATE/BURST, address=RATE/BURST, auth-failure=COST`);
  }
  return out;
}

/** `--timeouts`: comma-separated `headers=S`, `request=S`, `idle=S` (seconds); the rest keep their defaults. */
export function parseTimeouts(text: string, problems: string[], base: Timeouts = DEFAULT_LIMITS.timeouts): Timeouts {
  const out: { -readonly [K in keyof Timeouts]: number } = { ...base };
  for (const part of text.split(',')) {
    const [key, value = ''] = part.split('=').map((s) => s.trim());
    const seconds = positive(value);
    if ((key === 'headers' || key === 'request' || key === 'idle') && seconds !== null) out[key] = seconds;
    else problems.push(`--timeouts: "${part}": expected headers=SECONDS, request=SECONDS or idle=SECONDS (each > 0)`);
  }
  if (out.request < out.headers) problems.push(`--timeouts: request (${out.request} s) must be at least headers (${out.headers} s): the whole request includes its headers`);
  return out;
}

/**
 * Token buckets by key. `take` costs O(1); buckets that have refilled are dropped when the map
 * grows large, so that a client inventing keys cannot grow it without bound.
 */
export class Buckets {
  private readonly state = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly shape: Bucket) {}

  /** Takes `cost` from the key's bucket: 0 when allowed, else the seconds until it would be. */
  take(key: string, cost: number, now: number): number {
    const { rate, burst } = this.shape;
    let bucket = this.state.get(key);
    if (!bucket) {
      if (this.state.size >= 10_000) this.prune(now);
      bucket = { tokens: burst, at: now };
      this.state.set(key, bucket);
    } else {
      bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * rate);
      bucket.at = now;
    }
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return 0;
    }
    // Refused requests cost nothing more: the wait is what the missing tokens take to refill.
    return (Math.min(cost, burst) - bucket.tokens) / rate;
  }

  /** Forces a cost (a failed authentication, already answered): the bucket may go below zero. */
  charge(key: string, cost: number, now: number): void {
    if (this.take(key, cost, now) > 0) {
      const bucket = this.state.get(key)!;
      bucket.tokens = Math.max(bucket.tokens - cost, -this.shape.burst);
    }
  }

  private prune(now: number): void {
    for (const [key, b] of this.state) if (b.tokens + (now - b.at) * this.shape.rate >= this.shape.burst) this.state.delete(key);
  }
}
