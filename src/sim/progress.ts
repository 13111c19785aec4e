// The progress bar of `arbiter simulate` (docs/cli.md): simulated time, jobs done / total and
// jobs/s, on a terminal only. The simulator calls update() on every event (millions of times),
// so update() is O(1): it stores two numbers and decrements a counter; the clock is read only
// every `stride` calls and the bar is redrawn at most ~10 times a second.
import cliProgress from 'cli-progress';
import { humanDuration } from './summary-table.js';

export interface Progress {
  /** Cheap; call it as often as you like. `simTime` in seconds from the start of the trace. */
  update(simTime: number, jobsDone: number): void;
  /** Draws the final state and releases the terminal. Idempotent. Always call it (try/finally): the bar holds a timer. */
  stop(): void;
}

export interface ProgressOptions {
  /** Jobs in the trace. */
  readonly total: number;
  /** Usually process.stderr. Nothing is drawn unless `isTTY` is true. */
  readonly stream: NodeJS.WritableStream & { readonly isTTY?: boolean };
}

const NO_PROGRESS: Progress = Object.freeze({ update: () => undefined, stop: () => undefined });

/** Milliseconds between redraws. */
const REDRAW_MS = 100;
/** The clock is read at most every MAX_STRIDE calls, and at least every call while calls are rare. */
const MAX_STRIDE = 1024;
/** Reading the clock more often than this (ms) doubles the stride; less often than SLOW_CHECK_MS halves it. */
const FAST_CHECK_MS = 10;
const SLOW_CHECK_MS = 50;

/** A progress bar on a TTY stream; a shared no-op otherwise (pipes, files, CI logs). */
export function createProgress({ total, stream }: ProgressOptions): Progress {
  return stream.isTTY === true ? new TerminalProgress(total, stream) : NO_PROGRESS;
}

class TerminalProgress implements Progress {
  private readonly bar: cliProgress.SingleBar;
  private readonly started = performance.now();
  private simTime = 0;
  private jobsDone = 0;
  /** Calls left before the clock is read again. */
  private countdown = 1;
  /** Adapts so a fast simulator reads the clock every MAX_STRIDE calls and a slow one still redraws. */
  private stride = 1;
  private lastCheck = this.started;
  private lastRedraw = -Infinity;
  private stopped = false;

  constructor(total: number, stream: NodeJS.WritableStream) {
    this.bar = new cliProgress.SingleBar({
      stream,
      format: 'sim {simTime} | {bar} | {value}/{total} jobs | {rate} jobs/s',
      fps: 1000 / REDRAW_MS,
      barsize: 30,
      // The cursor stays visible and no SIGINT handler is installed (gracefulExit would keep Ctrl-C from exiting).
      hideCursor: false,
    });
    this.bar.start(total, 0, this.payload(this.started));
  }

  update(simTime: number, jobsDone: number): void {
    this.simTime = simTime;
    this.jobsDone = jobsDone;
    if (--this.countdown > 0) return;
    const now = performance.now();
    const sinceCheck = now - this.lastCheck;
    if (sinceCheck < FAST_CHECK_MS) this.stride = Math.min(MAX_STRIDE, this.stride * 2);
    else if (sinceCheck > SLOW_CHECK_MS) this.stride = Math.max(1, this.stride >> 1);
    this.countdown = this.stride;
    this.lastCheck = now;
    if (now - this.lastRedraw >= REDRAW_MS && !this.stopped) {
      this.lastRedraw = now;
      this.bar.update(jobsDone, this.payload(now));
      this.bar.render(); // SingleBar.update alone redraws only after 2x its throttle time
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bar.update(this.jobsDone, this.payload(performance.now()));
    this.bar.stop(); // draws the final line, then a newline
  }

  private payload(now: number): { simTime: string; rate: string } {
    const elapsed = (now - this.started) / 1000;
    const rate = elapsed > 0 ? Math.round(this.jobsDone / elapsed) : 0;
    return { simTime: humanDuration(this.simTime), rate: rate.toLocaleString('en-US') };
  }
}
