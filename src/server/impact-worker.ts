// The impact analysis of one proposal in a worker thread (impact-runner.ts starts it from
// dist/): its input arrives as plain data in workerData, its report goes back as a message.
import { parentPort, workerData } from 'node:worker_threads';
import { analyzeImpact, type ImpactInput } from '../governance/impact.js';

if (parentPort === null) throw new Error('impact-worker.js runs as a worker thread of `arbiter serve`');
parentPort.postMessage(analyzeImpact(workerData as ImpactInput));
