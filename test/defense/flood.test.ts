// A flood of 1 M random source addresses through the per-source structures: memory stays bounded
// (fixed tables, no heap growth) and an aggressive source stays marked. How long it takes is measured by
// bench/synflood (its 1 M IPv6 sources run), not here.
import { describe, expect, it } from 'vitest';
import { RateLimits } from '../../src/defense/ratelimit.js';
import { SourceTracker } from '../../src/defense/sources.js';
import { Tier, TierTracker } from '../../src/defense/tiers.js';
import { classify, PacketInfo } from '../../src/packet/index.js';
import { udp, v4, v6 } from '../packet/helpers.js';

const N = 1_000_000;

describe('flood of 1 M random sources', () => {
  it('keeps every table at its size and the heap flat', () => {
    const tiers = new TierTracker();
    const sources = new SourceTracker({ graceMs: 0 });
    const limits = new RateLimits({}, {});
    // A real attacker marked before the flood.
    const attacker = new Uint8Array([198, 51, 100, 66]);
    for (let i = 0; i < 6; i++) sources.onAnswered(attacker, 0, 4, 0);
    expect(sources.isAggressive(attacker, 0, 4, 1)).toBe(true);

    // Packets whose source address is rewritten in place (decide() reads it from the buffer).
    const p4 = v4({ proto: 17 }, udp([1, 2, 3, 4], 4000, 5000));
    const p6 = v6({ proto: 17 }, udp([1, 2, 3, 4], 4000, 5000));
    const i4 = new PacketInfo();
    const i6 = new PacketInfo();
    expect(classify(p4, 0, p4.length, false, i4)).toBe(0);
    expect(classify(p6, 0, p6.length, false, i6)).toBe(0);
    let x = 1234;
    const sizes = () => [sources.capacity, sources.markCapacity, limits.udp.capacity, limits.icmp.capacity];
    const before = sizes();

    const run = (count: number, t0: number) => {
      let dropped = 0;
      let now = t0;
      for (let k = 0; k < count; k++) {
        // 100 000 packets per second; the time advances per batch of 256, as the worker reads it.
        if ((k & 255) === 0) now = t0 + k * 0.01;
        const six = (k & 3) === 0;
        const buf = six ? p6 : p4;
        const off = six ? i6.srcAddrOff : i4.srcAddrOff;
        // xorshift32 inline: a helper returning unsigned 32-bit values would box them (heap numbers).
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        const r = x;
        buf[off] = r;
        buf[off + 1] = r >>> 8;
        buf[off + 2] = r >>> 16;
        buf[off + 3] = r >>> 24;
        if (six) buf[off + 15] = r >>> 5;
        // What the SYN proxy does per new SYN, and what the rate-limit stage does per datagram.
        tiers.onSyn(now);
        if (!sources.isAggressive(buf, off, six ? 6 : 4, now)) {
          tiers.onAnswered(now);
          sources.onAnswered(buf, off, six ? 6 : 4, now);
        }
        if (limits.decide(buf, six ? i6 : i4, now) !== 0) dropped++;
      }
      return dropped;
    };

    run(50_000, 0); // warm up (JIT), then measure
    const heap0 = process.memoryUsage().heapUsed;
    const dropped = run(N, 1000);
    const heapGrowth = process.memoryUsage().heapUsed - heap0;

    expect(sizes()).toEqual(before);
    expect(sources.tracked).toBeLessThanOrEqual(sources.capacity);
    expect(sources.evictions).toBeGreaterThan(N / 2);
    expect(limits.udp.sources).toBeLessThanOrEqual(limits.udp.capacity);
    expect(tiers.tier).toBe(Tier.RISKY);
    expect(dropped).toBeGreaterThan(N * 0.9); // 200/s of 100 000/s pass
    // The flood churned the handshake table, not the marks.
    expect(sources.isAggressive(attacker, 0, 4, 1000 + N * 0.01)).toBe(true);
    expect(heapGrowth).toBeLessThan(8 * 1024 * 1024); // under 8 bytes per source: nothing is kept per source
  });
});
