// The control plane's once-a-second sampler (rates, the loop-delay monitor, status.json's trigger)
// sleeps while no counter moves and nothing happens, and wakes when a worker says its counters
// moved: an idle router's main thread has no timer there, and the rates it answers stay right.
import { describe, expect, it } from 'vitest';
import { http, startTestDaemon } from './helpers.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await pause(50)) if (what()) return true;
  return what();
}

describe('the control plane sampler', () => {
  it('sleeps while the counters stand still, wakes when a worker says they moved, and answers right rates', async () => {
    const d = await startTestDaemon({ uci: null });
    try {
      expect(d.cp.sampling, 'it samples from the start').toBe(true);
      // The start-up was a busy second for the loop: the loop-delay monitor lingers a few seconds.
      expect(await until(() => !d.cp.sampling, 30_000), 'asleep once nothing moves').toBe(true);
      const rate = async () =>
        (await http(d.url, 'GET', '/api/v1/ratelimit', { token: d.token })).json.icmp.packetsPerSecond;
      // Asleep: every rate is zero, as nothing moved (the API request wakes it, harmlessly).
      expect(await rate()).toBe(0);
      expect(await until(() => !d.cp.sampling, 30_000), 'asleep again after the request').toBe(true);
      await pause(1500);
      // 700 ICMP packets now: a worker says so; the rate is 700 over the second that follows.
      d.dp.bump('icmp', 700);
      expect(d.cp.sampling, 'awake at once').toBe(true);
      await pause(1150);
      const r = await rate();
      expect(r).toBeGreaterThan(500);
      expect(r).toBeLessThanOrEqual(700);
      // Control: counters that move without the worker's word are not seen until something wakes it.
      expect(await until(() => !d.cp.sampling, 30_000)).toBe(true);
      d.dp.values.icmp += 700;
      await pause(1200);
      expect(d.cp.sampling).toBe(false);
    } finally {
      await d.close();
    }
  }, 120_000);
});
