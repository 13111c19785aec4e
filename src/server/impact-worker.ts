// A proposal's heavy work in a worker thread (impact-runner.ts starts it from dist/): reading a
// body with a large attached trace, or an impact analysis. The task arrives as plain data in
// workerData (bytes moved, not copied); the answer goes back as a message.
import { parentPort, workerData } from 'node:worker_threads';
import { runTask, type WorkerTask } from './impact-runner.js';

if (parentPort === null) throw new Error('impact-worker.js runs as a worker thread of `arbiter serve`');
const { result, transfer } = runTask(workerData as WorkerTask);
parentPort.postMessage(result, transfer);
