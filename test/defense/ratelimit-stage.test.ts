// The rate-limit stage in a real Pipeline over MemoryPacketIO: real packets, a simulated clock set
// once per batch, drop counters per reason, and what is written out.
import { describe, expect, it } from 'vitest';
import { Pipeline, pipelineLayout } from '../../src/dataplane/pipeline.js';
import type { Stage } from '../../src/dataplane/stage.js';
import { RateLimitStage } from '../../src/dataplane/stages/ratelimit.js';
import type { RateLimitsSettings } from '../../src/defense/ratelimit.js';
import { classify, PacketInfo } from '../../src/packet/index.js';
import { MemoryPacketIO } from '../../src/tun/memory.js';
import { Batch } from '../../src/tun/packet-io.js';
import { icmp, tcp, u16, udp, v4, v6 } from '../packet/helpers.js';

function setup(settings: RateLimitsSettings = {}, router: string[] = []) {
  const rl = new RateLimitStage(settings, { seed: 1 }, router);
  const stages: Stage[] = [rl];
  const layout = pipelineLayout(stages);
  const counters = new Float64Array(layout.names.length);
  const pipeline = new Pipeline(stages, layout, counters, false);
  const io = new MemoryPacketIO(false);
  const batch = new Batch(1 << 20, 1024);
  /** Runs everything in the inbox as batches at time `now`; returns packets written. */
  const run = (now: number) => {
    let kept = 0;
    while (io.inbox.length > 0) {
      io.readBatch(batch, 0, 0);
      const keep = pipeline.process(batch, now);
      io.writeBatch(batch, keep);
      kept += keep;
    }
    return kept;
  };
  const c = (name: string) => counters[layout.of(name)];
  return { io, run, c, rl };
}

const WAN = [203, 0, 113, 5];
const LAN = [192, 168, 1, 20];

describe('RateLimitStage in the pipeline', () => {
  it('registers its drop reasons as counters', () => {
    const { c } = setup();
    for (const n of [
      'drop_icmp_rate_global',
      'drop_icmp_rate_source',
      'drop_icmp_error_rate',
      'drop_udp_rate_global',
      'drop_udp_rate_source',
    ]) {
      expect(c(n)).toBe(0);
    }
  });

  it('holds an ICMP flood to 100/s and a UDP flood to 200/s (±10 %) over 10 simulated seconds', () => {
    const { io, run, c } = setup({
      icmp: { perSourceRate: 0 },
      udp: { perSourceRate: 0 },
    });
    const ping = v4({ src: WAN, dst: LAN, proto: 1, ttl: 63 }, icmp(8, 0, [0, 1, 0, 1], new Uint8Array(56)));
    const dgram = v4({ src: WAN, dst: LAN, proto: 17 }, udp(new Uint8Array(100), 4000, 5000));
    // 2000 ICMP/s and 2000 UDP/s, in batches every 10 ms; count what passed per second and protocol.
    const perSecond: [number, number][] = [];
    let icmpOut = 0;
    let udpOut = 0;
    for (let t = 0; t < 10_000; t += 10) {
      for (let k = 0; k < 20; k++) io.inbox.push(ping, dgram);
      run(t);
      if ((t + 10) % 1000 === 0) {
        const i = io.written.filter((p) => p[9] === 1);
        const u = io.written.filter((p) => p[9] === 17).length;
        perSecond.push([i.length, u]);
        icmpOut += i.length;
        udpOut += u;
        io.written.length = 0;
      }
    }
    // First second: burst + rate; then the rate.
    expect(perSecond[0]).toEqual([199, 398]); // batches at 0..990 ms: 0.99 s of refill
    for (const [i, u] of perSecond.slice(1)) {
      expect(Math.abs(i - 100)).toBeLessThanOrEqual(10);
      expect(Math.abs(u - 200)).toBeLessThanOrEqual(20);
    }
    expect(c('drop_icmp_rate_global')).toBe(20_000 - icmpOut);
    expect(c('drop_udp_rate_global')).toBe(20_000 - udpOut);
    expect(c('rx_packets')).toBe(40_000);
  });

  it('isolates sources and counts per-source drops, IPv4 and IPv6', () => {
    const { io, run, c } = setup({
      icmp: { rate: 10_000, burst: 10_000, perSourceRate: 50, perSourceBurst: 50 },
    });
    const flood = v6({ proto: 58 }, icmp(128, 0, [0, 1, 0, 1]));
    const quiet = v4({ src: [198, 51, 100, 9], dst: LAN, proto: 1 }, icmp(8, 0, [0, 2, 0, 1]));
    let quietOut = 0;
    for (let t = 0; t < 5000; t += 100) {
      for (let k = 0; k < 100; k++) io.inbox.push(flood);
      io.inbox.push(quiet);
      run(t);
      quietOut += io.written.filter((p) => p[0] >>> 4 === 4).length;
      io.written.length = 0;
    }
    expect(quietOut).toBe(50);
    expect(c('drop_icmp_rate_source')).toBe(5000 - 50 - 50 * 4.9);
    expect(c('drop_icmp_rate_global')).toBe(0);
  });

  it('passes exempt DNS, TCP, and ICMP errors untouched through floods', () => {
    const { io, run, c } = setup();
    const dns = v4({ src: LAN, dst: WAN, proto: 17 }, udp(new Uint8Array(40), 5353, 53));
    const syn = v4({ src: WAN, dst: LAN, proto: 6 }, tcp());
    const inner = v4({ src: LAN, dst: WAN, proto: 6 }, tcp()).subarray(0, 28);
    const fragNeeded = v4({ src: WAN, dst: LAN, proto: 1 }, icmp(3, 4, [0, 0, ...u16(1400)], inner));
    const ping = v4({ src: WAN, dst: LAN, proto: 1 }, icmp(8, 0, [0, 1, 0, 1]));
    for (let k = 0; k < 500; k++) io.inbox.push(ping, dns, syn, fragNeeded);
    const kept = run(0);
    expect(kept).toBe(500 * 3 + 50);
    expect(c('drop_icmp_rate_source')).toBe(450);
    expect(c('drop_icmp_error_rate')).toBe(0);
  });

  it("limits the router's own addresses next to the LAN's, following router.set (a removed one is no longer limited)", () => {
    const ROUTER = [198, 51, 100, 1];
    const { io, run, c, rl } = setup(
      { icmp: { rate: 10, burst: 10, perSourceRate: 0 }, destinations: ['192.168.1.0/24'] },
      ['198.51.100.1/32'],
    );
    const ping = (dst: number[], seq: number) =>
      v4({ src: WAN, dst, proto: 1 }, icmp(8, 0, [0, 1, ...u16(seq)], new Uint8Array(8)));
    /** 100 pings to `dst` at time `t`: how many the limit dropped. */
    const flood = (dst: number[], t: number) => {
      const before = c('drop_icmp_rate_global');
      for (let k = 0; k < 100; k++) io.inbox.push(ping(dst, k));
      run(t);
      return c('drop_icmp_rate_global') - before;
    };
    const other = [198, 51, 100, 2];
    expect(flood(ROUTER, 0)).toBe(90);
    // The control: an address that is neither the LAN's nor the router's is not limited.
    expect(flood(other, 0)).toBe(0);
    rl.command({ type: 'router.set', prefixes: ['198.51.100.2/32'] });
    expect(flood(other, 10_000)).toBe(90);
    expect(flood(ROUTER, 20_000)).toBe(0);
    // The LAN's destinations stay as they were.
    expect(flood(LAN, 30_000)).toBe(90);
  });

  it('works outside a pipeline with setNow()', () => {
    const st = new RateLimitStage({ udp: { rate: 10, burst: 2, perSourceRate: 0 } }, { seed: 2 });
    st.bind([11, 12, 13, 14, 15]);
    const pkt = v4({ src: WAN, dst: LAN, proto: 17 }, udp([1], 1, 9));
    const batch = new Batch(4096, 4);
    batch.buf.set(pkt);
    const info = new PacketInfo();
    expect(classify(batch.buf, 0, pkt.length, false, info)).toBe(0);
    st.setNow(0);
    expect([0, 1, 2].map(() => st.handle(batch, 0, info))).toEqual([0, 0, 14]);
    st.setNow(100); // one token more
    expect([0, 1].map(() => st.handle(batch, 0, info))).toEqual([0, 14]);
  });
});
