import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExecutorError, type RunExit, type RunRequest } from './port.js';
import { armTimer, createSimulatedExecutor, type SetTimer } from './simulated.js';

/** A hand-driven clock: `advance(s)` moves time forward and fires the timers that fall due, in order. */
function manualClock(start = 1_000) {
  let t = start; // seconds
  let seq = 0;
  const timers = new Map<number, { at: number; seq: number; fn: () => void }>();
  const setTimer: SetTimer = (fn, ms) => {
    const id = seq++;
    timers.set(id, { at: t + ms / 1000, seq: id, fn });
    return () => timers.delete(id);
  };
  const advance = (seconds: number): void => {
    const end = t + seconds;
    for (;;) {
      const next = [...timers.entries()]
        .filter(([, timer]) => timer.at <= end)
        .sort(([, a], [, b]) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      timers.delete(next[0]);
      t = Math.max(t, next[1].at);
      next[1].fn();
    }
    t = end;
  };
  return { now: () => t, setTimer, advance, pending: () => timers.size };
}

function run(overrides: Partial<RunRequest> = {}): RunRequest {
  return {
    jobId: 'j-1',
    runId: 'j-1-r1',
    gpus: 8,
    flavor: 'h100',
    placement: [{ node: 'n1', gpus: 8 }],
    remainingWork: 100,
    command: null,
    timeLimit: null,
    ...overrides,
  };
}

function setup(speed = 10) {
  const clock = manualClock();
  const executor = createSimulatedExecutor({ speed, now: clock.now, setTimer: clock.setTimer });
  const exits: RunExit[] = [];
  executor.onExit((exit) => exits.push(exit));
  return { clock, executor, exits };
}

describe('createSimulatedExecutor', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('completes 100 s of work after 10 s of wall time at speed 10, with exit code 0', async () => {
    const { clock, executor, exits } = setup(10);
    await executor.start(run({ remainingWork: 100 }));
    clock.advance(9.999);
    expect(exits).toEqual([]);
    expect(executor.running()).toEqual([{ jobId: 'j-1', runId: 'j-1-r1' }]);
    clock.advance(0.001);
    expect(exits).toEqual([
      { jobId: 'j-1', runId: 'j-1-r1', at: 1_010, exitCode: 0, stopped: false, timedOut: false },
    ]);
    expect(executor.running()).toEqual([]);
  });

  it('times out at timeLimit / speed when the limit comes before the work is done', async () => {
    const { clock, executor, exits } = setup(10);
    await executor.start(run({ remainingWork: 100, timeLimit: 30 }));
    clock.advance(2.999);
    expect(exits).toEqual([]);
    clock.advance(0.001);
    expect(exits).toEqual([
      { jobId: 'j-1', runId: 'j-1-r1', at: 1_003, exitCode: null, stopped: false, timedOut: true },
    ]);
    clock.advance(100);
    expect(exits).toHaveLength(1); // onExit exactly once
  });

  it('counts a run that reaches its work and its time limit at the same moment as completed', async () => {
    const { clock, executor, exits } = setup(10);
    await executor.start(run({ remainingWork: 50, timeLimit: 50 }));
    clock.advance(5);
    expect(exits).toEqual([
      { jobId: 'j-1', runId: 'j-1-r1', at: 1_005, exitCode: 0, stopped: false, timedOut: false },
    ]);
  });

  it('ends a run at once on stop(), stopped with no exit code, and never reports it again', async () => {
    const { clock, executor, exits } = setup(10);
    await executor.start(run({ remainingWork: 100 }));
    clock.advance(4);
    await executor.stop('j-1', 'j-1-r1');
    expect(exits).toEqual([
      { jobId: 'j-1', runId: 'j-1-r1', at: 1_004, exitCode: null, stopped: true, timedOut: false },
    ]);
    expect(clock.pending()).toBe(0); // its timer is gone
    clock.advance(100);
    await executor.stop('j-1', 'j-1-r1'); // already ended: nothing happens
    expect(exits).toHaveLength(1);
  });

  it('ends zero work on the next tick, never inside start()', async () => {
    const { clock, executor, exits } = setup(10);
    const started = executor.start(run({ remainingWork: 0 }));
    expect(exits).toEqual([]);
    await started;
    expect(exits).toEqual([]);
    clock.advance(0);
    expect(exits).toEqual([
      { jobId: 'j-1', runId: 'j-1-r1', at: 1_000, exitCode: 0, stopped: false, timedOut: false },
    ]);
  });

  it('keeps runs apart: stopping one leaves the other to complete', async () => {
    const { clock, executor, exits } = setup(2);
    await executor.start(run({ jobId: 'a', runId: 'a-r1', remainingWork: 10 }));
    await executor.start(run({ jobId: 'b', runId: 'b-r1', remainingWork: 4 }));
    await executor.stop('a', 'a-r1');
    clock.advance(2);
    expect(exits.map((e) => [e.jobId, e.at, e.stopped, e.exitCode])).toEqual([
      ['a', 1_000, true, null],
      ['b', 1_002, false, 0],
    ]);
  });

  it('runs a job without remainingWork until its time limit', async () => {
    const { clock, executor, exits } = setup(1);
    await executor.start(run({ remainingWork: null, timeLimit: 60 }));
    clock.advance(60);
    expect(exits).toEqual([
      { jobId: 'j-1', runId: 'j-1-r1', at: 1_060, exitCode: null, stopped: false, timedOut: true },
    ]);
  });

  it('close() stops every run and refuses new ones', async () => {
    const { executor, exits } = setup(1);
    await executor.start(run({ jobId: 'a', runId: 'a-r1' }));
    await executor.start(run({ jobId: 'b', runId: 'b-r1' }));
    await executor.close();
    expect(exits.map((e) => [e.jobId, e.stopped])).toEqual([
      ['a', true],
      ['b', true],
    ]);
    await expect(executor.start(run({ jobId: 'c', runId: 'c-r1' }))).rejects.toMatchObject({
      code: 'executor_closed',
    });
  });

  it('refuses a second start of the same run and a speed that is not positive', async () => {
    const { executor } = setup(1);
    await executor.start(run());
    const error: unknown = await executor.start(run()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutorError);
    expect(error).toMatchObject({ code: 'duplicate_run', retryable: false });
    expect(() => createSimulatedExecutor({ speed: 0 })).toThrow(/--speed/);
    expect(() => createSimulatedExecutor({ speed: Number.NaN })).toThrow(ExecutorError);
  });

  it('uses Date.now() and setTimeout by default (fake timers)', async () => {
    vi.useFakeTimers({ now: 5_000_000 });
    const executor = createSimulatedExecutor({ speed: 10 });
    const exits: RunExit[] = [];
    executor.onExit((exit) => exits.push(exit));
    await executor.start(run({ remainingWork: 100 }));
    vi.advanceTimersByTime(9_999);
    expect(exits).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(exits).toEqual([
      { jobId: 'j-1', runId: 'j-1-r1', at: 5_010, exitCode: 0, stopped: false, timedOut: false },
    ]);
  });

  it('splits a delay longer than setTimeout allows (30 days) into several timers', () => {
    const clock = manualClock(0);
    const delays: number[] = [];
    const recording: SetTimer = (fn, ms) => {
      delays.push(ms);
      return clock.setTimer(fn, ms);
    };
    let fired = false;
    armTimer(recording, 30 * 86_400_000, () => (fired = true));
    clock.advance(30 * 86_400 - 1);
    expect(fired).toBe(false);
    clock.advance(1);
    expect(fired).toBe(true);
    expect(delays).toEqual([2 ** 31 - 1, 30 * 86_400_000 - (2 ** 31 - 1)]);
  });
});
