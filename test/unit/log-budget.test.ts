// The bound on lines of one kind (src/daemon/log.ts LogBudget): the first N of a window one by one,
// the rest summed up once, at the window's end or on the next line after it, and on stop.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LogBudget } from '../../src/daemon/log.js';

describe('LogBudget', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets the first lines of a window through and sums up the rest in one line', () => {
    let now = 1_000;
    const summaries: number[] = [];
    const b = new LogBudget(
      3,
      60_000,
      (n) => summaries.push(n),
      () => now,
    );
    const taken = Array.from({ length: 1000 }, () => b.take()).filter(Boolean).length;
    expect(taken).toBe(3);
    expect(summaries).toEqual([]);
    now += 60_000; // the next window: its first line flushes the last one's summary
    expect(b.take()).toBe(true);
    expect(summaries).toEqual([997]);
    b.flush();
    expect(summaries).toEqual([997]); // nothing held since
  });

  it('writes the summary when the window ends even if no line follows, and on stop', () => {
    vi.useFakeTimers();
    const summaries: number[] = [];
    const b = new LogBudget(1, 10_000, (n) => summaries.push(n));
    b.take();
    b.take();
    b.take();
    vi.advanceTimersByTime(9_999);
    expect(summaries).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(summaries).toEqual([2]);
    b.take(); // a new window
    b.take();
    b.flush(); // stop
    expect(summaries).toEqual([2, 1]);
  });

  it('control: a budget as large as the flood logs every line', () => {
    const summaries: number[] = [];
    const b = new LogBudget(
      1000,
      60_000,
      (n) => summaries.push(n),
      () => 5,
    );
    expect(Array.from({ length: 1000 }, () => b.take()).every(Boolean)).toBe(true);
    b.flush();
    expect(summaries).toEqual([]);
  });
});
