// Runs the impact analysis (two replays of up to `impactWindow` of recorded jobs) off the event
// loop, so a proposal never stalls job submissions and reads while it is simulated. From sources
// (no compiled worker beside this module) it runs inline.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { analyzeImpact, type ImpactInput, type ImpactReport } from '../governance/impact.js';

function workerScript(): URL | null {
  const url = new URL('./impact-worker.js', import.meta.url);
  return url.protocol === 'file:' && existsSync(fileURLToPath(url)) ? url : null;
}

export function analyzeImpactOffThread(input: ImpactInput): Promise<ImpactReport> {
  const script = workerScript();
  if (script === null) return Promise.resolve(analyzeImpact(input));
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: input });
    worker.once('message', (report: ImpactReport) => resolve(report));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the impact analysis worker exited with code ${code}`));
    });
  });
}
