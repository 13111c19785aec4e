// The progress display of `arbiter compare`: on a terminal, one cli-progress bar per variant
// (jobs done / total, simulated time); nothing otherwise (pipes, files, CI logs). Updates are
// cheap (they store numbers); the bars are redrawn at most every REDRAW_MS, by cli-progress's
// timer while workers run the variants, or by update() itself when a variant runs in this thread
// and keeps the timer from firing.
import cliProgress from 'cli-progress';
import { humanDuration } from './summary-table.js';

export interface CompareProgress {
  update(index: number, simTime: number, jobsDone: number): void;
  /** Variant `index` is done: its bar shows the total. */
  done(index: number): void;
  /** Draws the final state and releases the terminal. Idempotent; always call it (try/finally). */
  stop(): void;
}

export interface CompareProgressOptions {
  /** Variant names, one bar each. */
  readonly names: readonly string[];
  /** Jobs in the trace. */
  readonly total: number;
  /** Usually process.stderr. Nothing is drawn unless `isTTY` is true. */
  readonly stream: NodeJS.WritableStream & { readonly isTTY?: boolean };
}

const REDRAW_MS = 100;

const NO_PROGRESS: CompareProgress = Object.freeze({ update: () => undefined, done: () => undefined, stop: () => undefined });

export function createCompareProgress({ names, total, stream }: CompareProgressOptions): CompareProgress {
  return stream.isTTY === true ? new TerminalCompareProgress(names, total, stream) : NO_PROGRESS;
}

class TerminalCompareProgress implements CompareProgress {
  private readonly multibar: cliProgress.MultiBar;
  private readonly bars: cliProgress.SingleBar[];
  private lastRedraw = performance.now();
  private stopped = false;

  constructor(
    names: readonly string[],
    private readonly total: number,
    stream: NodeJS.WritableStream,
  ) {
    const width = Math.max(...names.map((n) => n.length), 4);
    this.multibar = new cliProgress.MultiBar({
      stream,
      format: '{name} | {bar} | {value}/{total} jobs | sim {simTime}',
      fps: 1000 / REDRAW_MS,
      barsize: 30,
      // The cursor stays visible and no SIGINT handler is installed (Ctrl-C still exits).
      hideCursor: false,
      gracefulExit: false,
    });
    this.bars = names.map((name) => this.multibar.create(total, 0, { name: name.padEnd(width), simTime: humanDuration(0) }));
  }

  update(index: number, simTime: number, jobsDone: number): void {
    if (this.stopped) return;
    this.bars[index]?.update(jobsDone, { simTime: humanDuration(simTime) });
    const now = performance.now();
    if (now - this.lastRedraw >= REDRAW_MS) {
      this.lastRedraw = now;
      this.multibar.update(); // forces a redraw when this thread is busy simulating
    }
  }

  done(index: number): void {
    if (this.stopped) return;
    this.bars[index]?.update(this.total);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.multibar.update();
    this.multibar.stop();
  }
}
