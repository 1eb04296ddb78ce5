// UdpFlows: replies match only the mirrored flow, expire, and the table never grows.
import { describe, expect, it } from 'vitest';
import { UdpFlows } from '../../src/defense/udp-flows.js';

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
