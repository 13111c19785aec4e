// `arbiter compare`: runs several variants (Arbiter policies and baselines) on one trace, in
// parallel on the available cores, and summarizes each the same way (summary + comparison
// metrics, metrics.ts). Each variant runs in a worker thread (compare-worker.ts, compiled to
// dist/) that receives its inputs as plain data and sends back its SimulationResult; with one
// variant, one core, or no compiled worker (tests run the TypeScript sources), they run in
// this thread instead, with the same results: a variant's outcome never depends on where it ran.
//
// The caller gets every SimulationResult with its summary (VariantOutcome is a ReportVariant
// of report/), so outputs, report.html or anything else can be written from them.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Fleet, JobSpec, Policy } from '../core/model.js';
import { runBaseline, type BaselineName } from './baselines/index.js';
import { summarizeForComparison, type ComparisonSummary } from './metrics.js';
import { simulate } from './simulator.js';
import type { SimulationResult } from './types.js';

/** `policy`: the Arbiter engine with the variant's policy; else the named baseline. */
export type VariantKind = 'policy' | BaselineName;

export interface Variant {
  /** Unique among the variants: the output folder DIR/<name>/ and the row of compare.csv. */
  readonly name: string;
  readonly kind: VariantKind;
  /** The policy simulated (kind `policy`), or the one whose teams and progress settings a baseline uses. */
  readonly policy: Policy;
  /** The jobs, as parsed against `policy` (classes defaulted to its defaultClass). */
  readonly trace: readonly JobSpec[];
}

/** Everything one variant needs, as plain data (what a worker receives). */
export interface VariantTask {
  readonly fleet: Fleet;
  readonly variant: Variant;
  /** las only: seconds between decisions. */
  readonly lasRound?: number;
  /** Variants that run through the engine (policy, fifo, static): passes only every this many seconds. */
  readonly round?: number;
  readonly until?: number;
}

export interface CompareOptions {
  /** las only: decide every this many seconds (Gavel's rounds). Default: at every event. */
  readonly lasRound?: number;
  /** policy, fifo and static: the engine decides only every this many seconds (Gavel's rounds). Default: after every event. */
  readonly round?: number;
  /** Stop every variant's clock here. */
  readonly until?: number;
  /** Restrict the metrics to these trace positions (0-based, inclusive). */
  readonly measureJobs?: readonly [from: number, to: number];
  /** Variants run at once (default os.availableParallelism()). */
  readonly parallelism?: number;
  /** Progress of variant `index` (its position in `variants`): simulated time and jobs done. */
  readonly onProgress?: (index: number, simTime: number, jobsDone: number) => void;
  /** Variant `index` is done (called in completion order). */
  readonly onVariantDone?: (index: number, outcome: VariantOutcome) => void;
  /**
   * The worker script; default: compare-worker.js beside this module when it exists (dist/).
   * null: run every variant in this thread.
   */
  readonly workerScript?: URL | null;
}

export interface VariantOutcome {
  readonly name: string;
  readonly kind: VariantKind;
  readonly result: SimulationResult;
  /** summarize() + comparisonMetrics() over the measured jobs: the variant's summary.json. */
  readonly summary: ComparisonSummary;
  /** Wall-clock seconds the simulation took (not part of any output file: they are deterministic). */
  readonly wallSeconds: number;
}

/** Messages from a worker. */
export type WorkerMessage =
  | { readonly type: 'progress'; readonly simTime: number; readonly jobsDone: number }
  | { readonly type: 'result'; readonly result: SimulationResult };

/** Runs one variant in this thread. */
export function runVariant(task: VariantTask, onProgress?: (simTime: number, jobsDone: number) => void): SimulationResult {
  const { fleet, variant } = task;
  const common = {
    ...(task.until !== undefined ? { until: task.until } : {}),
    ...(onProgress !== undefined ? { onProgress } : {}),
  };
  const round = task.round !== undefined ? { round: task.round } : {};
  if (variant.kind === 'policy') return simulate(fleet, variant.policy, variant.trace, { ...common, ...round });
  return runBaseline(variant.kind, fleet, variant.policy, variant.trace, {
    ...common,
    ...round,
    ...(task.lasRound !== undefined ? { lasRound: task.lasRound } : {}),
  });
}

/** The compiled worker beside this module, or null when there is none (running from sources). */
export function defaultWorkerScript(): URL | null {
  const url = new URL('./compare-worker.js', import.meta.url);
  return url.protocol === 'file:' && existsSync(fileURLToPath(url)) ? url : null;
}

/** Runs every variant and returns their outcomes in the order of `variants`. */
export async function compareVariants(fleet: Fleet, variants: readonly Variant[], options: CompareOptions = {}): Promise<VariantOutcome[]> {
  const names = new Set<string>();
  for (const v of variants) {
    if (names.has(v.name)) throw new RangeError(`two variants are named "${v.name}"`);
    names.add(v.name);
  }
  const taskOf = (variant: Variant): VariantTask => ({
    fleet,
    variant,
    ...(options.lasRound !== undefined ? { lasRound: options.lasRound } : {}),
    ...(options.round !== undefined ? { round: options.round } : {}),
    ...(options.until !== undefined ? { until: options.until } : {}),
  });
  const finish = (index: number, result: SimulationResult, started: number): VariantOutcome => {
    const variant = variants[index]!;
    const outcome: VariantOutcome = {
      name: variant.name,
      kind: variant.kind,
      result,
      summary: summarizeForComparison(result, options.measureJobs !== undefined ? { measureJobs: options.measureJobs } : {}),
      wallSeconds: (performance.now() - started) / 1000,
    };
    options.onVariantDone?.(index, outcome);
    return outcome;
  };
  const script = options.workerScript === undefined ? defaultWorkerScript() : options.workerScript;
  const parallelism = Math.max(1, Math.min(variants.length, options.parallelism ?? availableParallelism()));

  if (script === null || parallelism <= 1) {
    const outcomes: VariantOutcome[] = [];
    for (let i = 0; i < variants.length; i++) {
      const started = performance.now();
      const result = runVariant(taskOf(variants[i]!), (t, done) => options.onProgress?.(i, t, done));
      outcomes.push(finish(i, result, started));
    }
    return outcomes;
  }

  const outcomes = new Array<VariantOutcome | undefined>(variants.length);
  const live = new Set<Worker>();
  let nextIndex = 0;
  let failed = false;
  await new Promise<void>((resolve, reject) => {
    let running = 0;
    const fail = (error: unknown): void => {
      if (failed) return;
      failed = true;
      for (const worker of live) void worker.terminate();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const launch = (): void => {
      if (failed) return;
      if (nextIndex >= variants.length) {
        if (running === 0) resolve();
        return;
      }
      const index = nextIndex++;
      const started = performance.now();
      running++;
      let result: SimulationResult | null = null;
      const worker = new Worker(script, { workerData: taskOf(variants[index]!) });
      live.add(worker);
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'progress') options.onProgress?.(index, message.simTime, message.jobsDone);
        else result = message.result;
      });
      worker.on('error', fail);
      worker.on('exit', (code) => {
        live.delete(worker);
        if (failed) return;
        if (result === null) {
          fail(new Error(`the worker running variant "${variants[index]!.name}" exited with code ${code} and no result`));
          return;
        }
        try {
          outcomes[index] = finish(index, result, started);
        } catch (error) {
          fail(error);
          return;
        }
        running--;
        launch();
      });
    };
    for (let k = 0; k < parallelism; k++) launch();
  });
  return outcomes.map((o) => o!);
}
