// Runs the heavy work of a proposal off the event loop, so that a proposal never stalls job
// submissions and reads: reading a body that may attach a large trace (JSON, the size bound,
// every job validated), and the impact analysis (two replays of up to `impactWindow` of recorded
// jobs, or of the attached trace, read again from the body's bytes where it runs). The bytes
// move to the worker and back without a copy. From sources (no compiled worker beside this
// module), and for small bodies, it runs inline: the same functions, the same answers.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  analyzeImpact,
  composeImpact,
  replayImpact,
  windowedWorkload,
  type ImpactInput,
  type ImpactReplay,
  type ImpactReport,
} from '../governance/impact.js';
import type { AttachedTrace } from './attached-trace.js';
import { workloadOfAttached } from './attached-trace.js';
import type { ReplayTask } from './impact-replay-worker.js';
import type { ProposalBodyKind, ProposalFields, Read } from './request-body.js';
import { readProposalBody } from './request-body.js';

/** Bodies up to this size are read on the event loop (a proposal without a trace: a few ms at most). */
export const INLINE_BODY_BYTES = 16 * 1024;

/** An impact analysis of recorded jobs, or of a trace attached to the request (read where the analysis runs). */
export type ImpactRequest = ImpactInput | (Omit<ImpactInput, 'workload'> & { readonly attached: AttachedTrace });

/** A body read by readProposalBody, with its bytes (for the analysis of its trace). */
export type ReadBody = Read<{ fields: ProposalFields; trace: 'csv' | 'json' | null; body: Uint8Array }>;

/** What a worker is asked (impact-worker.ts). */
export type WorkerTask =
  | { readonly task: 'read'; readonly bytes: Uint8Array; readonly kind: ProposalBodyKind; readonly maxTraceJobs: number }
  | { readonly task: 'analyze'; readonly request: ImpactRequest };

function workerScript(name = './impact-worker.js'): URL | null {
  const url = new URL(name, import.meta.url);
  return url.protocol === 'file:' && existsSync(fileURLToPath(url)) ? url : null;
}

/** The workload of an analysis request: recorded jobs, or the attached trace read again from its bytes. */
function workloadOfRequest(request: ImpactRequest): Read<ImpactInput> {
  if (!('attached' in request)) return { ok: true, value: request };
  const { attached, ...rest } = request;
  const workload = workloadOfAttached(attached, rest.current.policy, rest.fleet, rest.window.from);
  return workload.ok ? { ok: true, value: { ...rest, workload: workload.value } } : workload;
}

/**
 * Runs a task where the worker would: the worker's own code, and the inline fallback. An
 * analysis here runs its two replays one after the other (runTaskInWorker runs large ones at once).
 */
export function runTask(task: WorkerTask): { result: ReadBody | Read<ImpactReport>; transfer: ArrayBuffer[] } {
  if (task.task === 'read') {
    const read = readProposalBody(task.bytes, task.kind, task.maxTraceJobs);
    const result: ReadBody = read.ok ? { ok: true, value: { ...read.value, body: task.bytes } } : read;
    return { result, transfer: [task.bytes.buffer as ArrayBuffer] };
  }
  const input = workloadOfRequest(task.request);
  return { result: input.ok ? { ok: true, value: analyzeImpact(input.value) } : input, transfer: [] };
}

/**
 * Workloads from this many jobs have their two replays run at once (below it, a replay takes
 * less than a thread takes to start). An attached trace is counted by its size in bytes.
 */
export const PARALLEL_REPLAY_JOBS = 2000;
const PARALLEL_REPLAY_BYTES = PARALLEL_REPLAY_JOBS * 64;

/**
 * A task in a worker thread (impact-worker.ts). A large analysis there runs the policy in
 * force's replay itself and the proposal's in a second thread (impact-replay-worker.ts) at once:
 * the two are independent, so the analysis takes the time of the longer one instead of both.
 * The second thread starts first, while this one reads the workload. The report is the one
 * analyzeImpact gives, byte for byte.
 */
export async function runTaskInWorker(task: WorkerTask): Promise<{ result: ReadBody | Read<ImpactReport>; transfer: ArrayBuffer[] }> {
  const script = workerScript('./impact-replay-worker.js');
  if (task.task !== 'analyze' || script === null) return runTask(task);
  const request = task.request;
  const large = 'attached' in request ? request.attached.body.byteLength >= PARALLEL_REPLAY_BYTES : request.workload.length >= PARALLEL_REPLAY_JOBS;
  if (!large) return runTask(task);
  const replayer = new Worker(script);
  const proposed = new Promise<ImpactReplay>((resolve, reject) => {
    replayer.once('message', resolve);
    replayer.once('error', reject);
    replayer.once('exit', (code) => reject(new Error(`the replay worker exited with code ${code} before answering`)));
  });
  // Awaited only once the workload is read; a rejection before then must not count as unhandled.
  proposed.catch(() => undefined);
  try {
    const input = workloadOfRequest(request);
    if (!input.ok) return { result: input, transfer: [] };
    const { workload: _jobs, ...rest } = input.value;
    const workload = windowedWorkload(input.value);
    const sent: ReplayTask = { fleet: rest.fleet, policy: rest.proposed.policy, workload };
    replayer.postMessage(sent);
    const before = replayImpact(rest.fleet, rest.current.policy, workload);
    const after = await proposed;
    return { result: { ok: true, value: composeImpact(rest, workload, before, after) }, transfer: [] };
  } finally {
    await replayer.terminate();
  }
}

function offThread<T>(task: WorkerTask, transfer: ArrayBuffer[]): Promise<T> {
  const script = workerScript();
  if (script === null) return Promise.resolve(runTask(task).result as T);
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: task, transferList: transfer });
    worker.once('message', (result: T) => resolve(result));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the proposal worker exited with code ${code}`));
    });
  });
}

/** Large bodies read at once (more wait their turn: a client sending many cannot start a thread each). */
export const MAX_BODY_READERS = 2;
let readers = 0;
const waitingReaders: (() => void)[] = [];

/**
 * Reads a proposal, emergency change or amendment from its JSON bytes (readProposalBody): off
 * the event loop unless small. The bytes are moved, not copied: use the returned `body`.
 */
export async function readProposalOffThread(bytes: Uint8Array, kind: ProposalBodyKind, maxTraceJobs: number): Promise<ReadBody> {
  // A buffer of its own, so that moving it takes nothing else along (Node pools small buffers).
  const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
  const task: WorkerTask = { task: 'read', bytes: own, kind, maxTraceJobs };
  if (own.byteLength <= INLINE_BODY_BYTES) return runTask(task).result as ReadBody;
  // A finishing reader hands its place to the next in line.
  if (readers >= MAX_BODY_READERS) await new Promise<void>((resolve) => waitingReaders.push(resolve));
  else readers++;
  try {
    return await offThread<ReadBody>(task, [own.buffer as ArrayBuffer]);
  } finally {
    const next = waitingReaders.shift();
    if (next) next();
    else readers--;
  }
}

/** The impact analysis off the event loop; an attached trace that is not valid (a CSV checked against the policy) is a problem, not a report. */
export function analyzeImpactOffThread(request: ImpactRequest): Promise<Read<ImpactReport>> {
  const transfer = 'attached' in request ? [request.attached.body.buffer as ArrayBuffer] : [];
  return offThread<Read<ImpactReport>>({ task: 'analyze', request }, transfer);
}
