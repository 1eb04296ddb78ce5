// UdpFlows: replies match only the mirrored flow, expire, and the table never grows.
import { describe, expect, it } from 'vitest';
import { UdpFlows, WAYS } from '../../src/defense/udp-flows.js';

// Two IPv4 addresses side by side in one buffer: local at 0, remote at 4; IPv6 at 8 and 24.
const buf = new Uint8Array([192, 0, 2, 2, 198, 51, 100, 2, ...new Array(32).fill(0)]);
buf.set([0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 8);
buf.set([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);

describe('UdpFlows', () => {
  it('knows the replies of a flow the LAN opened, only in the mirrored direction and ports', () => {
    const f = new UdpFlows({ seed: 1 });
    expect(f.isReply(buf, 4, 0, 4, 443, 40000, 0)).toBe(false);
    f.noteOutbound(buf, 0, 4, 4, 40000, 443, 0);
    expect(f.isReply(buf, 4, 0, 4, 443, 40000, 10)).toBe(true);
    expect(f.isReply(buf, 4, 0, 4, 444, 40000, 10)).toBe(false); // another remote port
    expect(f.isReply(buf, 4, 0, 4, 443, 40001, 10)).toBe(false); // another local port
    expect(f.isReply(buf, 0, 4, 4, 40000, 443, 10)).toBe(false); // the outbound direction itself
    f.noteOutbound(buf, 8, 24, 16, 5000, 3478, 0);
    expect(f.isReply(buf, 24, 8, 16, 3478, 5000, 10)).toBe(true);
  });

  it('forgets a flow without outbound traffic after the timeout; outbound traffic refreshes it', () => {
    const f = new UdpFlows({ seed: 2, timeoutMs: 1000 });
    f.noteOutbound(buf, 0, 4, 4, 40000, 443, 0);
    expect(f.isReply(buf, 4, 0, 4, 443, 40000, 999)).toBe(true);
    f.noteOutbound(buf, 0, 4, 4, 40000, 443, 900);
    expect(f.isReply(buf, 4, 0, 4, 443, 40000, 1800)).toBe(true);
    expect(f.isReply(buf, 4, 0, 4, 443, 40000, 1901)).toBe(false);
    expect(f.recorded).toBe(1);
  });

  it('tells flows apart by every address byte, both ways, for IPv4 and IPv6', () => {
    const f = new UdpFlows({ seed: 4 });
    f.noteOutbound(buf, 0, 4, 4, 40000, 443, 0);
    f.noteOutbound(buf, 8, 24, 16, 5000, 3478, 0);
    for (const [off, len] of [
      [0, 4],
      [4, 4],
      [8, 16],
      [24, 16],
    ]) {
      for (let i = 0; i < len; i++) {
        const other = buf.slice();
        other[off + i] ^= 0x40;
        const [remote, local, ports] = len === 4 ? [4, 0, [443, 40000]] : [24, 8, [3478, 5000]];
        expect(f.isReply(other, remote, local, len, ports[0], ports[1], 10), `byte ${off + i}`).toBe(false);
      }
    }
    expect(f.isReply(buf, 4, 0, 4, 443, 40000, 10)).toBe(true);
    expect(f.isReply(buf, 24, 8, 16, 3478, 5000, 10)).toBe(true);
  });

  it('expires a flow exactly at its timeout, counts the live ones, and clears', () => {
    const f = new UdpFlows({ seed: 5, timeoutMs: 1000 });
    f.noteOutbound(buf, 0, 4, 4, 40000, 443, 0);
    f.noteOutbound(buf, 0, 4, 4, 40001, 443, 500);
    expect(f.isReply(buf, 4, 0, 4, 443, 40000, 999)).toBe(true);
    expect(f.isReply(buf, 4, 0, 4, 443, 40000, 1000)).toBe(false);
    expect(f.live(999)).toBe(2);
    expect(f.live(1000)).toBe(1);
    expect(f.live(1500)).toBe(0);
    f.clear();
    expect(f.live(0)).toBe(0);
    expect(f.isReply(buf, 4, 0, 4, 443, 40001, 600)).toBe(false);
  });

  it('rounds its capacity up to a power of two, never below one bucket, and evicts the oldest flow', () => {
    expect(new UdpFlows({ capacity: 1000 }).capacity).toBe(1024);
    expect(new UdpFlows({ capacity: 1024 }).capacity).toBe(1024);
    expect(new UdpFlows({ capacity: 1 }).capacity).toBe(WAYS);
    expect(new UdpFlows().capacity).toBe(16384);
    // A table of one bucket: the newest WAYS flows stay, the oldest went first.
    const f = new UdpFlows({ seed: 6, capacity: 1 });
    for (let p = 1; p <= 3 * WAYS; p++) f.noteOutbound(buf, 0, 4, 4, p, 443, p);
    expect(f.recorded).toBe(3 * WAYS);
    const kept: number[] = [];
    for (let p = 1; p <= 3 * WAYS; p++) if (f.isReply(buf, 4, 0, 4, 443, p, 3 * WAYS)) kept.push(p);
    expect(kept).toEqual(Array.from({ length: WAYS }, (_x, i) => 2 * WAYS + 1 + i));
  });

  it('keeps a fixed size under a million flows, and the newest flows are found', () => {
    const f = new UdpFlows({ seed: 3, capacity: 4096 });
    const heap0 = process.memoryUsage().heapUsed;
    for (let p = 0; p < 1_000_000; p++) f.noteOutbound(buf, 0, 4, 4, p & 0xffff, 1 + (p >>> 16), p);
    expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(4 << 20);
    expect(f.live(1_000_000)).toBeLessThanOrEqual(4096);
    let found = 0;
    for (let p = 1_000_000 - 1000; p < 1_000_000; p++)
      if (f.isReply(buf, 4, 0, 4, 1 + (p >>> 16), p & 0xffff, 1_000_000)) found++;
    expect(found).toBeGreaterThan(950);
  });
});
