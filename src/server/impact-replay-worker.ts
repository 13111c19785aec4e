// The proposal's side of an impact analysis, in a thread of its own beside the analysis' worker
// (impact-runner.ts, runTaskInWorker): started before the workload is read, so that its start-up
// overlaps that reading; it imports only the simulator's side of the analysis. It is sent one
// ReplayTask and answers its ImpactReplay.
import { parentPort } from 'node:worker_threads';
import type { Fleet, Policy } from '../core/model.js';
import { replayImpact, type WindowedWorkload } from '../governance/impact.js';

/** What the replay thread is sent. */
export interface ReplayTask {
  readonly fleet: Fleet;
  readonly policy: Policy;
  readonly workload: WindowedWorkload;
}

const port = parentPort;
if (port === null) throw new Error('impact-replay-worker.js runs as a worker thread of `arbiter serve`');
port.once('message', (task: ReplayTask) => {
  port.postMessage(replayImpact(task.fleet, task.policy, task.workload));
  port.close();
});
