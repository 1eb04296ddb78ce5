// bench/prog-cost: what the daemon's own tc programs cost per run is read from the kernel's
// counters as a difference, over the programs the daemon loaded only.
import { describe, expect, it } from 'vitest';
import { costOf, type ProgRun } from '../../bench/prog-cost.js';

const runs = (entries: [number, number, number][]) =>
  new Map<number, ProgRun>(entries.map(([id, r, ns]) => [id, { runs: r, ns }]));

describe('costOf', () => {
  it("counts only the programs loaded after the base (another's program on the machine is not the daemon's)", () => {
    const base = runs([[1, 100, 10_000]]);
    const before = runs([
      [1, 200, 20_000],
      [7, 10, 2_000],
      [8, 0, 0],
    ]);
    const after = runs([
      [1, 9_000, 9_000_000],
      [7, 110, 12_000],
      [8, 100, 30_000],
    ]);
    // Program 7: 100 runs, 10 000 ns; program 8: 100 runs, 30 000 ns; program 1 left out.
    expect(costOf(base, before, after)).toEqual({ runs: 200, nsPerRun: 200 });
  });

  it('a program loaded after `before` counts from zero; no runs at all is 0 ns, not NaN', () => {
    expect(costOf(new Map(), new Map(), runs([[3, 4, 400]]))).toEqual({ runs: 4, nsPerRun: 100 });
    expect(costOf(new Map(), runs([[3, 4, 400]]), runs([[3, 4, 400]]))).toEqual({ runs: 0, nsPerRun: 0 });
  });
});
