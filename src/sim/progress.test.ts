import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress } from './progress.js';

/** A stream that records what is written; `isTTY` as given. */
function recorder(isTTY: boolean): Writable & { isTTY: boolean; columns: number; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  return Object.assign(stream, { isTTY, columns: 120, text: () => chunks.join('') });
}

// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string): string => s.replace(/\u001b\[[0-9;?]*[A-Za-z]|\u001b[78]/g, '');

describe('createProgress', () => {
  it('draws nothing when the stream is not a terminal', () => {
    const stream = recorder(false);
    const progress = createProgress({ total: 5, stream });
    for (let i = 0; i < 5000; i++) progress.update(i, i % 5);
    progress.stop();
    expect(stream.text()).toBe('');
  });

  it('ends with simulated time, jobs done of total and jobs/s on a terminal', () => {
    const stream = recorder(true);
    const progress = createProgress({ total: 5, stream });
    for (let i = 0; i <= 3000; i++) progress.update(i, 1);
    progress.update(5 * 3600 + 12 * 60, 3); // the last values before stop are the ones drawn
    progress.stop();
    progress.stop(); // idempotent
    // Each redraw moves the cursor to column 1 (ESC [1G) and overwrites the line: what stays is the last one.
    const text = stream.text();
    const lastDraw = stripAnsi(text.slice(text.lastIndexOf('\u001b[1G')));
    // 3/5 of a 30-character bar = 18 done. The rate depends on the clock: any count. Then a newline.
    expect(lastDraw).toMatch(/^sim 5h 12m \| ={18}-{12} \| 3\/5 jobs \| [\d,]+ jobs\/s\n$/);
  });

  it('starts at zero', () => {
    const stream = recorder(true);
    const progress = createProgress({ total: 1000, stream });
    const first = stripAnsi(stream.text());
    progress.stop();
    expect(first).toBe(`sim 0s | ${'-'.repeat(30)} | 0/1000 jobs | 0 jobs/s`);
  });
});
