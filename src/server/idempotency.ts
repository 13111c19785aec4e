// Idempotency-Key (docs/api.md, POST /v1/jobs): a repeat of a key with the same body answers the
// first job; the same key with another body is a conflict (409 naming the key), never a silent
// success that drops the second request. The body is compared through the SHA-256 of the canonical
// JSON of the validated submission (key order and spacing do not matter), stored with the job.
import { canonicalJson, sha256Hex } from '../governance/canonical-json.js';
import type { StoredJob } from '../storage/port.js';
import type { SubmitInput } from './live.js';

/** The SHA-256 (hex) of the canonical JSON of a validated submission. */
export function submissionHash(input: SubmitInput): string {
  return sha256Hex(canonicalJson(input));
}

/**
 * Whether a stored job was submitted with this body. A job stored before the hash was kept
 * (schema version 3) is compared field by field; a class left out matches the class it was given.
 */
export function sameSubmission(job: StoredJob, input: SubmitInput, hash: string): boolean {
  if (job.idempotencyHash) return job.idempotencyHash === hash;
  return (
    job.team === input.team &&
    job.gpus === input.gpus &&
    (input.class === undefined || input.class === job.class) &&
    (input.flavor ?? null) === job.flavor &&
    (input.name ?? null) === job.name &&
    (input.duration ?? null) === job.duration &&
    (input.timeLimit ?? null) === job.timeLimit &&
    (input.command ?? null) === job.command
  );
}

/** The same Idempotency-Key with another body: the API answers 409 naming the key. */
export class IdempotencyConflict extends Error {
  constructor(
    readonly key: string,
    readonly jobId: string,
  ) {
    super(
      `Idempotency-Key "${key}" was already used for job ${jobId} with a different body; ` +
        'send the same body to get that job again, or use a new key for a new job',
    );
    this.name = 'IdempotencyConflict';
  }
}
