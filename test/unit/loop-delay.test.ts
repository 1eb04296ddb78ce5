// The event-loop delay monitor runs only after a second with at least a tick of callbacks, and
// lingers a few seconds; a window with no sample reports zeros, one with a stall reports it.
import { describe, expect, it } from 'vitest';
import { LOOP_DELAY_TICK_MS, LoopDelay } from '../../src/daemon/loop-delay.js';

describe('LoopDelay', () => {
  it('keeps the monitor off through quiet seconds, on after a busy one, off again after the linger', () => {
    let active = 3;
    const d = new LoopDelay(5, () => active);
    for (let s = 0; s < 5; s++) d.second();
    expect(d.monitoring).toBe(false);
    expect(d.window).toEqual({ windowSeconds: 5, p50Ms: 0, p99Ms: 0, maxMs: 0 });
    active = LOOP_DELAY_TICK_MS;
    d.second();
    expect(d.monitoring, 'a second with a tick of callbacks').toBe(true);
    active = 3;
    for (let s = 0; s < 5; s++) d.second();
    expect(d.monitoring, 'lingers five quiet seconds').toBe(true);
    d.second();
    expect(d.monitoring).toBe(false);
    d.stop();
  });

  it('counts the seconds its caller slept through as quiet: the windows they close report no delay', async () => {
    let active = LOOP_DELAY_TICK_MS;
    const d = new LoopDelay(2, () => active);
    d.second(); // on
    await new Promise((r) => setTimeout(r, 3 * LOOP_DELAY_TICK_MS));
    const t0 = Date.now();
    while (Date.now() - t0 < 120); // a stall while it runs
    await new Promise((r) => setTimeout(r, 3 * LOOP_DELAY_TICK_MS));
    active = 0;
    d.second(); // closes the window with the stall
    expect(d.window?.maxMs).toBeGreaterThanOrEqual(90);
    // The caller slept an hour (nothing happened): the monitor is off and the last window is empty.
    d.quiet(3600);
    expect(d.monitoring).toBe(false);
    expect(d.window).toEqual({ windowSeconds: 2, p50Ms: 0, p99Ms: 0, maxMs: 0 });
    d.stop();
  });

  it('reports a stall seen while it runs, beyond the tick', async () => {
    let active = LOOP_DELAY_TICK_MS;
    const d = new LoopDelay(1, () => active);
    d.second(); // on; this closes a window of no samples
    expect(d.window?.maxMs).toBe(0);
    await new Promise((r) => setTimeout(r, 3 * LOOP_DELAY_TICK_MS));
    const t0 = Date.now();
    while (Date.now() - t0 < 120); // the loop stalls 120 ms
    await new Promise((r) => setTimeout(r, 3 * LOOP_DELAY_TICK_MS));
    active = 0;
    d.second();
    expect(d.window?.maxMs).toBeGreaterThanOrEqual(90);
    d.stop();
  });
});
