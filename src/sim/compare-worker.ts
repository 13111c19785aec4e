// One variant of `arbiter compare` in a worker thread (compare.ts starts it from dist/): its
// inputs arrive as plain data in workerData (a VariantTask); it posts progress now and then,
// then its SimulationResult, and exits.
import { parentPort, workerData } from 'node:worker_threads';
import { runVariant, type VariantTask, type WorkerMessage } from './compare.js';

/** Milliseconds between progress messages. */
const PROGRESS_MS = 100;

const port = parentPort;
if (port === null) throw new Error('compare-worker.js runs as a worker thread of `arbiter compare`');
const post = (message: WorkerMessage): void => port.postMessage(message);

let last = performance.now();
const result = runVariant(workerData as VariantTask, (simTime, jobsDone) => {
  const now = performance.now();
  if (now - last < PROGRESS_MS) return;
  last = now;
  post({ type: 'progress', simTime, jobsDone });
});
post({ type: 'result', result });
