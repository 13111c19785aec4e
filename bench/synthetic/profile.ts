// CPU profiles of one measured section (the V8 sampling profiler through node:inspector),
// and a summary of a .cpuprofile: the functions with the most self time, mapped back to
// the TypeScript source through the compiled files' source maps.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Profiles what runs between `start()` and `stop(file)`; one at a time. */
export class Profiler {
  private session: Session | null = null;

  async start(samplingIntervalUs = 200): Promise<void> {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
    await session.post('Profiler.start');
    this.session = session;
  }

  async stop(file: string): Promise<void> {
    const session = this.session;
    if (!session) return;
    const { profile } = await session.post('Profiler.stop');
    await session.post('Profiler.disable');
    session.disconnect();
    this.session = null;
    writeFileSync(file, JSON.stringify(profile));
  }
}

export interface TopFunction {
  readonly name: string;
  /** Source location (TypeScript when a source map is found). */
  readonly where: string;
  readonly selfMs: number;
  readonly selfPct: number;
  /** Time with this function anywhere on the stack. */
  readonly totalMs: number;
  readonly totalPct: number;
}

const maps = new Map<string, SourceMap | null>();

function sourceMapFor(url: string): SourceMap | null {
  if (maps.has(url)) return maps.get(url)!;
  let map: SourceMap | null = null;
  try {
    const file = url.startsWith('file://') ? fileURLToPath(url) : url;
    if (file.endsWith('.js') && existsSync(`${file}.map`)) {
      map = new SourceMap(
        JSON.parse(readFileSync(`${file}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0],
      );
    }
  } catch {
    map = null;
  }
  maps.set(url, map);
  return map;
}

function location(frame: CallFrame, root: string): string {
  if (!frame.url) return '(native)';
  const map = sourceMapFor(frame.url);
  const file = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : frame.url;
  if (map) {
    const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as {
      originalSource?: string;
      originalLine?: number;
    };
    if (entry.originalSource && entry.originalLine !== undefined) {
      const source = entry.originalSource.startsWith('file://')
        ? fileURLToPath(entry.originalSource)
        : path.resolve(path.dirname(file), entry.originalSource);
      return `${path.relative(root, source)}:${entry.originalLine + 1}`;
    }
  }
  return `${path.relative(root, file)}:${frame.lineNumber + 1}`;
}

/** The `n` functions with the most self time in a profile, with their inclusive time. */
export function topFunctions(profile: CpuProfile, n: number, root: string): TopFunction[] {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const c of node.children ?? []) parent.set(c, node.id);
  }
  const keyOf = (node: ProfileNode): string =>
    `${node.callFrame.functionName || '(anonymous)'}@${node.callFrame.url}:${node.callFrame.lineNumber}:${node.callFrame.columnNumber}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const frameOf = new Map<string, CallFrame>();
  let all = 0;
  // Sample i is followed by timeDeltas[i + 1]; the last sample gets the mean.
  const deltas = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt =
      (i + 1 < deltas.length
        ? deltas[i + 1]!
        : (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length)) / 1000;
    const leaf = byId.get(profile.samples[i]!);
    if (!leaf) continue;
    all += dt;
    const k = keyOf(leaf);
    frameOf.set(k, leaf.callFrame);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id)!;
      const key = keyOf(node);
      if (seen.has(key)) continue;
      seen.add(key);
      frameOf.set(key, node.callFrame);
      total.set(key, (total.get(key) ?? 0) + dt);
    }
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, ms]) => {
      const frame = frameOf.get(key)!;
      const inclusive = total.get(key) ?? ms;
      return {
        name: frame.functionName || '(anonymous)',
        where: location(frame, root),
        selfMs: ms,
        selfPct: (100 * ms) / all,
        totalMs: inclusive,
        totalPct: (100 * inclusive) / all,
      };
    });
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}
