// Numbers and times as people read them, and one colour per team.
export const int = (n: number): string => Math.round(n).toLocaleString('en-US');

export function ago(iso: string, now = Date.now()): string {
  return span((now - Date.parse(iso)) / 1000);
}

/** 90 -> "1m 30s", 7200 -> "2h", 90000 -> "1d 1h". */
export function span(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const parts: [number, string][] = [
    [Math.floor(s / 86400), 'd'],
    [Math.floor((s % 86400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const first = parts.findIndex(([v]) => v > 0);
  return parts
    .slice(first, first + 2)
    .filter(([v]) => v > 0)
    .map(([v, u]) => `${v}${u}`)
    .join(' ');
}

export function when(iso: string | null): string {
  if (iso === null) return '—';
  const d = new Date(iso);
  return d.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

/** Expected start as a sentence: "in 12m (from time limits)". */
export function expected(iso: string | null, basis: string | null, now = Date.now()): string {
  if (iso === null) return 'unknown';
  const inSeconds = (Date.parse(iso) - now) / 1000;
  const from =
    basis === 'timeLimits'
      ? 'time limits'
      : basis === 'minRuntime'
        ? 'minimum runtimes'
        : basis === 'history'
          ? 'estimated from history'
          : null;
  return `${inSeconds <= 0 ? 'now' : `in ${span(inSeconds)}`}${from ? ` (${from})` : ''}`;
}

// Colour-blind-safe palette (Okabe-Ito and Tol), dark enough for white text and 3:1 on white.
const PALETTE = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#6A3D9A',
  '#8C6D1F',
  '#117733',
  '#882255',
  '#44AA99',
  '#AA4499',
  '#332288',
  '#999933',
];

const assigned = new Map<string, string>();

/** Gives the teams their colours in tree order, so that teams shown together differ (up to 12). */
export function assignColours(teams: readonly string[]): void {
  teams.forEach((t, i) => assigned.set(t, PALETTE[i % PALETTE.length]!));
}

export function teamColour(team: string): string {
  const known = assigned.get(team);
  if (known) return known;
  let h = 0;
  for (let i = 0; i < team.length; i++) h = (h * 31 + team.charCodeAt(i)) >>> 0;
  return PALETTE[h % PALETTE.length]!;
}

export type DiffLine = { kind: 'same' | 'added' | 'removed'; text: string };

/**
 * A line diff of two texts (longest common subsequence; policies are a few hundred lines, so the
 * n×m table stays small). Null when the texts are too long to compare here.
 */
export function lineDiff(before: string, after: string): DiffLine[] | null {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length * b.length > 4_000_000) return null;
  // lcs[i][j]: length of the LCS of a[i..] and b[j..], in one flat array.
  const w = b.length + 1;
  const lcs = new Uint32Array((a.length + 1) * w);
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      lcs[i * w + j] =
        a[i] === b[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i]! });
      i++;
      j++;
    } else if (lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!) out.push({ kind: 'removed', text: a[i++]! });
    else out.push({ kind: 'added', text: b[j++]! });
  }
  while (i < a.length) out.push({ kind: 'removed', text: a[i++]! });
  while (j < b.length) out.push({ kind: 'added', text: b[j++]! });
  return out;
}
