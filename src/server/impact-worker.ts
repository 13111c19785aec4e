// A proposal's heavy work in a worker thread (impact-runner.ts starts it from dist/): reading a
// body with a large attached trace, an impact analysis, or one replay of an analysis (started by
// the analysis' own worker, see runTaskInWorker). The task arrives as plain data in workerData
// (bytes moved, not copied); the answer goes back as a message.
import { parentPort, workerData } from 'node:worker_threads';
import { runTaskInWorker, type WorkerTask } from './impact-runner.js';

if (parentPort === null) throw new Error('impact-worker.js runs as a worker thread of `arbiter serve`');
const { result, transfer } = await runTaskInWorker(workerData as WorkerTask);
parentPort.postMessage(result, transfer);
