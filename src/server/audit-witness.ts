// Anchoring checkpoints outside the database (docs/security.md): someone who can rewrite the
// database can also delete the checkpoints stored in it, so a truncated log with its checkpoints
// removed verifies against what is left. A checkpoint kept elsewhere proves the size and root the
// log had: `--audit-witness FILE` appends each checkpoint to a file (one JSON line, fsync'd) that
// the start-up verifies against; `--audit-witness-url URL` POSTs each one (application/json) to a
// receiver, in the background: retried with backoff, never blocking the loop or a request.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { Checkpoint } from '../governance/audit-log.js';

/** Checkpoints waiting for the URL; a later checkpoint proves every earlier one, so the oldest go first when full. */
const QUEUE_LIMIT = 100;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 60_000;
const POST_TIMEOUT_MS = 10_000;

export interface WitnessOptions {
  readonly witnessFile?: string | undefined;
  readonly witnessUrl?: string | undefined;
  readonly logger?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void } | undefined;
}

export class Witness {
  private readonly queue: Checkpoint[] = [];
  private sending: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly options: WitnessOptions) {}

  /** Records a freshly signed checkpoint: appended to the file now, queued for the URL. */
  send(checkpoint: Checkpoint): void {
    const { size, root, time, signature, publicKey } = checkpoint;
    const line = `${JSON.stringify({ size, root, time, signature, publicKey })}\n`;
    if (this.options.witnessFile !== undefined) {
      try {
        const fd = openSync(this.options.witnessFile, 'a', 0o600);
        try {
          writeSync(fd, line);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      } catch (error) {
        this.options.logger?.error({ err: error, file: this.options.witnessFile }, 'cannot append the checkpoint to the witness file');
      }
    }
    if (this.options.witnessUrl !== undefined && !this.closed) {
      this.queue.push({ size, root, time, signature, publicKey });
      if (this.queue.length > QUEUE_LIMIT) this.queue.splice(0, this.queue.length - QUEUE_LIMIT);
      if (this.sending === null && this.timer === null) this.sending = this.drain(RETRY_MIN_MS);
    }
  }

  /** Posts the queue in order; on a failure waits (doubling up to a minute) and tries again. */
  private async drain(delay: number): Promise<void> {
    const url = this.options.witnessUrl as string;
    while (this.queue.length > 0 && !this.closed) {
      const next = this.queue[0] as Checkpoint;
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(next),
          signal: AbortSignal.timeout(POST_TIMEOUT_MS),
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        await response.body?.cancel();
        this.queue.shift();
        delay = RETRY_MIN_MS;
      } catch (error) {
        this.options.logger?.warn({ err: error, url, size: next.size, retryInMs: delay }, 'the witness URL did not take a checkpoint; retrying');
        this.sending = null;
        this.timer = setTimeout(() => {
          this.timer = null;
          this.sending = this.drain(Math.min(RETRY_MAX_MS, delay * 2));
        }, delay);
        this.timer.unref();
        return;
      }
    }
    this.sending = null;
  }

  /** Stops retrying; a send in progress gets its chance to finish (bounded by its timeout). */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const pending = this.sending;
    if (pending && this.queue.length > 0) await Promise.race([pending, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    this.closed = true;
  }
}
