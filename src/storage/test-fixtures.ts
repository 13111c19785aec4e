// Stored jobs for the tests of the stores (store-contract.test.ts, sqlite.test.ts) and of what reads them (server/queue-index.test.ts).
import type { StoredJob } from './port.js';

/** A pending job with every optional field null; `over` sets any field. */
export function storedJob(seq: number, over: Partial<StoredJob> = {}): StoredJob {
  return {
    id: `j-${seq}`,
    seq,
    name: null,
    team: 'pretraining',
    class: 'training',
    flavor: null,
    gpus: 8,
    duration: null,
    timeLimit: null,
    command: null,
    submittedBy: 'ada',
    submittedAt: 1_700_000_000 + seq,
    idempotencyKey: null,
    idempotencyHash: null,
    status: 'pending',
    startedAt: null,
    endedAt: null,
    preemptions: 0,
    attained: 0,
    runFlavor: null,
    runStart: null,
    placement: null,
    reasonCode: null,
    reasonMessage: null,
    expectedStart: null,
    rejectReason: null,
    exitCode: null,
    keptWork: 0,
    ...over,
  };
}

/** A running job with every field set. */
export const fullJob = (seq: number): StoredJob =>
  storedJob(seq, {
    name: 'llm-7b-run-3',
    team: 'research',
    class: 'research',
    flavor: 'h100',
    gpus: 16,
    duration: 3600.5,
    timeLimit: 7200,
    command: 'python train.py --lr 3e-4',
    submittedBy: 'grace',
    submittedAt: 1_700_000_123.456,
    idempotencyKey: 'key-1',
    idempotencyHash: 'c0ffee'.repeat(10) + 'c0ffee12',
    status: 'running',
    startedAt: 1_700_000_200.25,
    preemptions: 2,
    attained: 12_345.75,
    runFlavor: 'h100',
    runStart: 1_700_000_900.125,
    placement: [
      { node: 'h100-a-0', gpus: 8 },
      { node: 'h100-a-1', gpus: 8 },
    ],
    reasonCode: 'quota',
    reasonMessage: 'waiting for 8 GPUs of h100',
    expectedStart: 1_700_003_600,
    exitCode: null,
    keptWork: 1800.5,
  });
