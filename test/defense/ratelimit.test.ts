// Token buckets with a controlled clock: long-run rates within ±10 %, bursts, per-source isolation,
// exemptions (UDP ports, allowlist, destinations), fragments, ICMP errors, super-packets.
import { describe, expect, it } from 'vitest';
import {
  RateLimiter,
  RateLimitReason,
  RateLimits,
  type RateLimitsSettings,
  RateVerdict,
  SHARED_BUCKET_SLOTS,
  TokenBucket,
} from '../../src/defense/ratelimit.js';
import { classify, PacketInfo } from '../../src/packet/index.js';
import { icmp, tcp, u16, u32, udp, v4, v6, vnet } from '../packet/helpers.js';

/** A source address buffer for RateLimiter.check. */
function ip4(a: number, b: number, c: number, d: number): Uint8Array {
  return new Uint8Array([a, b, c, d]);
}

/** Sends `pps` packets per second for `seconds` from `src`; returns passes per whole second. */
function drive(l: RateLimiter, src: Uint8Array, pps: number, seconds: number, t0 = 0): number[] {
  const perSecond = new Array<number>(seconds).fill(0);
  const step = 1000 / pps;
  for (let k = 0; k < pps * seconds; k++) {
    const now = t0 + k * step;
    if (l.check(src, 0, 4, now) === RateVerdict.PASS) perSecond[Math.floor((now - t0) / 1000)]++;
  }
  return perSecond;
}

const within10 = (got: number, want: number) => Math.abs(got - want) <= want * 0.1;

describe('TokenBucket', () => {
  it('passes the burst at once, then the rate; rate 0 is unlimited', () => {
    const b = new TokenBucket(10, 5);
    let pass = 0;
    for (let i = 0; i < 100; i++) if (b.take(0)) pass++;
    expect(pass).toBe(5);
    expect(b.take(99)).toBe(false); // 0.99 tokens
    expect(b.take(100)).toBe(true);
    expect(b.take(100)).toBe(false);
    expect(b.take(1e9)).toBe(true); // refills to the burst only
    expect(b.tokens).toBe(4);
    const free = new TokenBucket(0, 1);
    for (let i = 0; i < 1000; i++) expect(free.take(0)).toBe(true);
  });
});

describe('RateLimiter', () => {
  it('holds the global rate within ±10 % over simulated seconds, after the burst', () => {
    for (const rate of [100, 200, 1000]) {
      const l = new RateLimiter({ rate, burst: rate, perSourceRate: 0, perSourceBurst: 1 }, { seed: 1 });
      const s = drive(l, ip4(198, 51, 100, 1), rate * 5, 10);
      expect(s[0]).toBeGreaterThanOrEqual(rate * 2 - 1); // burst + first second's rate
      expect(s[0]).toBeLessThanOrEqual(rate * 2 + 1);
      for (let i = 1; i < 10; i++) expect(within10(s[i], rate), `${rate}/s second ${i}: ${s[i]}`).toBe(true);
      const total = s.reduce((x, y) => x + y, 0);
      expect(within10(total - rate, rate * 10)).toBe(true);
    }
  });

  it('passes exactly the burst of a packet storm at one instant', () => {
    const l = new RateLimiter({ rate: 100, burst: 37, perSourceRate: 0, perSourceBurst: 1 }, { seed: 1 });
    let pass = 0;
    for (let i = 0; i < 1000; i++) if (l.check(ip4(1, 2, 3, 4), 0, 4, 5000) === 0) pass++;
    expect(pass).toBe(37);
  });

  it('isolates sources: a flooding source is held to its rate, a quiet one is not affected', () => {
    const l = new RateLimiter(
      { rate: 1000, burst: 1000, perSourceRate: 50, perSourceBurst: 10 },
      { seed: 2 },
    );
    const a = ip4(198, 51, 100, 1);
    const b = ip4(198, 51, 100, 2);
    let passA = 0;
    let passB = 0;
    let dropA = 0;
    for (let now = 0; now < 10_000; now += 1) {
      // a: 1000 pps; b: 20 pps
      const va = l.check(a, 0, 4, now);
      if (va === RateVerdict.PASS) passA++;
      else if (va === RateVerdict.SOURCE) dropA++;
      if (now % 50 === 0 && l.check(b, 0, 4, now) === RateVerdict.PASS) passB++;
    }
    expect(within10(passA - 10, 500)).toBe(true);
    expect(dropA).toBe(10_000 - passA);
    expect(passB).toBe(200);
    expect(l.sources).toBe(2);
  });

  it('does not charge one bucket for packets the other dropped', () => {
    const l = new RateLimiter({ rate: 10, burst: 10, perSourceRate: 100, perSourceBurst: 100 }, { seed: 3 });
    // The global bucket runs dry after 10; a's own bucket must still hold 90.
    const a = ip4(10, 0, 0, 1);
    for (let i = 0; i < 50; i++) l.check(a, 0, 4, 0);
    l.configure({ rate: 0, burst: 1, perSourceRate: 100, perSourceBurst: 100 });
    let pass = 0;
    for (let i = 0; i < 200; i++) if (l.check(a, 0, 4, 0) === 0) pass++;
    expect(pass).toBe(90);
  });

  it('keys IPv6 sources by /64 by default', () => {
    const l = new RateLimiter({ rate: 0, burst: 1, perSourceRate: 1, perSourceBurst: 3 }, { seed: 4 });
    const addr = (last: number) => {
      const b = new Uint8Array(16);
      b.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1]);
      b[15] = last;
      return b;
    };
    let pass = 0;
    for (let i = 0; i < 10; i++) if (l.check(addr(i), 0, 6, 0) === 0) pass++;
    expect(pass).toBe(3);
  });
});

/** Classifies a packet into a fresh PacketInfo. */
function info(pkt: Uint8Array, hasVnet = false): PacketInfo {
  const i = new PacketInfo();
  expect(classify(pkt, 0, pkt.length, hasVnet, i)).toBe(0);
  return i;
}

function decideN(r: RateLimits, pkt: Uint8Array, n: number, now: number): number[] {
  const i = info(pkt);
  const out = [0, 0, 0, 0, 0, 0];
  for (let k = 0; k < n; k++) out[r.decide(pkt, i, now)]++;
  return out;
}

const WAN = [203, 0, 113, 5];
const LAN = [192, 168, 1, 20];

describe('RateLimits over packets', () => {
  const settings: RateLimitsSettings = {
    icmp: { rate: 100, burst: 100, perSourceRate: 0, perSourceBurst: 1 },
    udp: { rate: 200, burst: 200, perSourceRate: 0, perSourceBurst: 1, exemptPorts: [53, 123] },
  };

  it('defaults: 100 ICMP/s and 200 UDP/s globally, per source half of that, DNS exempt', () => {
    const r = new RateLimits({}, { seed: 1 });
    const ping = v4({ src: WAN, dst: LAN, proto: 1 }, icmp(8, 0, [0, 1, 0, 1]));
    const dgram = v4({ src: WAN, dst: LAN, proto: 17 }, udp([1, 2, 3], 4000, 5000));
    const dns = v4({ src: WAN, dst: LAN, proto: 17 }, udp([1, 2, 3], 4000, 53));
    expect(decideN(r, ping, 1000, 0)[RateLimitReason.PASS]).toBe(50); // per-source burst 50
    expect(decideN(r, dgram, 1000, 0)[RateLimitReason.PASS]).toBe(100);
    expect(decideN(r, dns, 1000, 0)[RateLimitReason.PASS]).toBe(1000);
  });

  it('limits UDP by the global bucket, but never exempt destination ports', () => {
    const r = new RateLimits(settings, { seed: 1 });
    const dgram = v4({ src: WAN, dst: LAN, proto: 17 }, udp([1, 2, 3], 4000, 5000));
    const ntp = v6({ proto: 17 }, udp([1], 4000, 123));
    const d = decideN(r, dgram, 500, 0);
    expect(d[RateLimitReason.PASS]).toBe(200);
    expect(d[RateLimitReason.UDP_GLOBAL]).toBe(300);
    expect(decideN(r, ntp, 500, 0)[RateLimitReason.PASS]).toBe(500);
    // TCP and other protocols are none of this stage's business.
    expect(decideN(r, v4({ proto: 6 }, tcp()), 500, 0)[RateLimitReason.PASS]).toBe(500);
    expect(decideN(r, v4({ proto: 47 }, [0, 0, 8, 0]), 500, 0)[RateLimitReason.PASS]).toBe(500);
  });

  it('counts non-first UDP fragments (no ports) against the buckets, even of an exempt port', () => {
    const r = new RateLimits(settings, { seed: 1 });
    // Offset 8 bytes, more fragments: the middle of a fragmented DNS response.
    const frag = v4({ src: WAN, dst: LAN, proto: 17, frag: 0x2001 }, new Uint8Array(64));
    expect(info(frag).fragment).toBe(2);
    const d = decideN(r, frag, 300, 0);
    expect(d[RateLimitReason.PASS]).toBe(200);
    expect(d[RateLimitReason.UDP_GLOBAL]).toBe(100);
    // A first fragment to port 53 has its header: exempt.
    const first = v4({ src: WAN, dst: LAN, proto: 17, frag: 0x2000 }, udp(new Uint8Array(64), 999, 53, 200));
    expect(decideN(r, first, 300, 0)[RateLimitReason.PASS]).toBe(300);
  });

  it('keeps ICMP errors (frag needed, packet too big, time exceeded) flowing through a ping flood', () => {
    const r = new RateLimits(settings, { seed: 1 });
    const inner = v4({ src: LAN, dst: WAN, proto: 6 }, tcp()).subarray(0, 28);
    const fragNeeded = v4({ src: WAN, dst: LAN, proto: 1 }, icmp(3, 4, [0, 0, ...u16(1400)], inner));
    const ttl = v4({ src: WAN, dst: LAN, proto: 1 }, icmp(11, 0, [0, 0, 0, 0], inner));
    const inner6 = v6({ proto: 6 }, tcp()).subarray(0, 48);
    const ptb = v6({ proto: 58 }, icmp(2, 0, u32(1280), inner6));
    const ping = v4({ src: WAN, dst: LAN, proto: 1 }, icmp(8, 0, [0, 1, 0, 1]));
    const ping6 = v6({ proto: 58 }, icmp(128, 0, [0, 1, 0, 1]));
    expect(decideN(r, ping, 1000, 0)[RateLimitReason.ICMP_GLOBAL]).toBe(900);
    expect(decideN(r, ping6, 10, 0)[RateLimitReason.ICMP_GLOBAL]).toBe(10);
    for (const e of [fragNeeded, ttl, ptb]) expect(decideN(r, e, 100, 0)[RateLimitReason.PASS]).toBe(100);
    // Errors have their own bucket (default 1000/s, burst 1000): 700 more pass at t=0, then 1000/s.
    const d = decideN(r, ptb, 1000, 0);
    expect(d[RateLimitReason.PASS]).toBe(700);
    expect(d[RateLimitReason.ICMP_ERROR]).toBe(300);
    expect(decideN(r, ptb, 2000, 1000)[RateLimitReason.PASS]).toBe(1000);
    // errorRate 0: errors are exempt altogether.
    const ex = new RateLimits({ ...settings, icmp: { ...settings.icmp, errorRate: 0 } }, { seed: 1 });
    expect(decideN(ex, fragNeeded, 5000, 0)[RateLimitReason.PASS]).toBe(5000);
    // A larger error bucket starts full.
    const big = new RateLimits({ icmp: { errorRate: 3000 } }, { seed: 1 });
    expect(decideN(big, ptb, 5000, 0)[RateLimitReason.PASS]).toBe(3000);
  });

  it('treats a non-first ICMP fragment as an ordinary ICMP packet (its type field is not there)', () => {
    const r = new RateLimits(settings, { seed: 1 });
    const frag6 = v6({ proto: 58, ext: [{ type: 44, fragOff: 1232, more: false }] }, new Uint8Array(100));
    expect(info(frag6).fragment).toBe(2);
    const d = decideN(r, frag6, 150, 0);
    expect(d[RateLimitReason.PASS]).toBe(100);
    expect(d[RateLimitReason.ICMP_GLOBAL]).toBe(50);
  });

  it('skips allowlisted sources and, when destinations are given, traffic to elsewhere', () => {
    const r = new RateLimits(
      { ...settings, allow: ['203.0.113.0/24'], destinations: ['192.168.1.0/24', 'fd00::/8'] },
      { seed: 1 },
    );
    const fromAllowed = v4({ src: WAN, dst: LAN, proto: 17 }, udp([1], 1, 9));
    const inbound = v4({ src: [198, 51, 100, 1], dst: LAN, proto: 17 }, udp([1], 1, 9));
    const outbound = v4({ src: LAN, dst: [198, 51, 100, 1], proto: 17 }, udp([1], 1, 9));
    expect(decideN(r, fromAllowed, 1000, 0)[RateLimitReason.PASS]).toBe(1000);
    expect(decideN(r, outbound, 1000, 0)[RateLimitReason.PASS]).toBe(1000);
    expect(decideN(r, inbound, 1000, 0)[RateLimitReason.PASS]).toBe(200);
  });

  it('lets the replies of a UDP flow a LAN host opened through a flood, and only those', () => {
    const r = new RateLimits({ ...settings, destinations: ['192.168.1.0/24', 'fd00::/8'] }, { seed: 1 });
    const REMOTE = [198, 51, 100, 9];
    const out = v4({ src: LAN, dst: REMOTE, proto: 17 }, udp([1], 40000, 443));
    expect(r.decide(out, info(out), 0)).toBe(RateLimitReason.PASS);
    expect([r.outboundUdp, r.outboundEcho]).toEqual([true, false]);
    const reply = v4({ src: REMOTE, dst: LAN, proto: 17 }, udp([1], 443, 40000));
    expect(decideN(r, reply, 1000, 10)[RateLimitReason.PASS]).toBe(1000);
    expect([r.outboundUdp, r.outboundEcho]).toEqual([false, false]); // set per decide()
    const otherPort = v4({ src: REMOTE, dst: LAN, proto: 17 }, udp([1], 443, 40001));
    expect(decideN(r, otherPort, 1000, 10)[RateLimitReason.PASS]).toBe(200);
    // IPv6 the same way.
    const r6 = new RateLimits({ ...settings, destinations: ['fd00::/8'] }, { seed: 2 });
    const lan6 = [0xfd, 0, ...new Array(13).fill(0), 7];
    const remote6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 9];
    const out6 = v6({ src: lan6, dst: remote6, proto: 17 }, udp([1], 5000, 3478));
    expect(r6.decide(out6, info(out6), 0)).toBe(RateLimitReason.PASS);
    expect(r6.outboundUdp).toBe(true);
    const reply6 = v6({ src: remote6, dst: lan6, proto: 17 }, udp([1], 3478, 5000));
    expect(decideN(r6, reply6, 1000, 10)[RateLimitReason.PASS]).toBe(1000);
    // Transit that neither starts in the LAN nor enters it: passes, opens nothing.
    const transit = v4({ src: [203, 0, 113, 7], dst: REMOTE, proto: 17 }, udp([1], 1000, 2000));
    expect(r.decide(transit, info(transit), 20)).toBe(RateLimitReason.PASS);
    expect(r.outboundUdp).toBe(false);
    const back = v4({ src: REMOTE, dst: [203, 0, 113, 7], proto: 17 }, udp([1], 2000, 1000));
    expect(r.decide(back, info(back), 20)).toBe(RateLimitReason.PASS); // not to the LAN: not limited
  });

  it('says when a LAN host sent an echo request (its replies are welcome), and nothing else', () => {
    const r = new RateLimits({ ...settings, destinations: ['192.168.1.0/24'] }, { seed: 1 });
    const REMOTE = [198, 51, 100, 9];
    const ping = v4({ src: LAN, dst: REMOTE, proto: 1 }, icmp(8, 0, [0, 1, 0, 1]));
    expect(r.decide(ping, info(ping), 0)).toBe(RateLimitReason.PASS);
    expect([r.outboundEcho, r.outboundUdp]).toEqual([true, false]);
    const pong = v4({ src: LAN, dst: REMOTE, proto: 1 }, icmp(0, 0, [0, 1, 0, 1]));
    r.decide(pong, info(pong), 0);
    expect(r.outboundEcho).toBe(false);
    const transitPing = v4({ src: [203, 0, 113, 7], dst: REMOTE, proto: 1 }, icmp(8, 0, [0, 1, 0, 1]));
    r.decide(transitPing, info(transitPing), 0);
    expect(r.outboundEcho).toBe(false);
    const ping6 = v6(
      {
        src: [0xfd, 0, ...new Array(13).fill(0), 7],
        dst: [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 9],
        proto: 58,
      },
      icmp(128, 0, [0, 1, 0, 1]),
    );
    const r6 = new RateLimits({ ...settings, destinations: ['fd00::/8'] }, { seed: 1 });
    r6.decide(ping6, info(ping6), 0);
    expect(r6.outboundEcho).toBe(true);
  });

  it('refuses bad settings with what is wrong, and takes the edges', () => {
    const r = new RateLimits(settings, { seed: 1 });
    for (const icmp of [{ errorRate: -1 }, { errorRate: 5, errorBurst: 0.5 }, { errorRate: Number.NaN }])
      expect(() => r.configure({ icmp }), JSON.stringify(icmp)).toThrow(
        'errorRate must be >= 0 and errorBurst >= 1',
      );
    for (const p of [-1, 1.5, 65536])
      expect(() => r.configure({ udp: { exemptPorts: [p] } }), String(p)).toThrow(`bad exempt port ${p}`);
    for (const udp of [
      { rate: 10, burst: 0 },
      { perSourceRate: 5, perSourceBurst: 0 },
      { rate: -1 },
      { perSourceRate: -1 },
    ])
      expect(() => r.configure({ udp }), JSON.stringify(udp)).toThrow('rates must be >= 0 and bursts >= 1');
    // Allowed edges: no limit with no burst, a burst of one, ports 0 and 65535, no error limit.
    r.configure({
      icmp: { errorRate: 0, errorBurst: 0 },
      udp: { rate: 0, burst: 0, perSourceRate: 0, perSourceBurst: 0, exemptPorts: [0, 65535] },
    });
    r.configure({ udp: { rate: 1, burst: 1, perSourceRate: 1, perSourceBurst: 1 } });
    const dgram = v4({ src: WAN, dst: LAN, proto: 17 }, udp([1], 1, 65535));
    r.configure({ udp: { rate: 1, burst: 1, exemptPorts: [65535] } });
    expect(decideN(r, dgram, 10, 0)[RateLimitReason.PASS]).toBe(10);
  });

  it('a lower per-source burst on reload caps the tokens a source already has', () => {
    const l = new RateLimiter({ rate: 0, burst: 1, perSourceRate: 1, perSourceBurst: 10 }, { seed: 1 });
    const a = ip4(198, 51, 100, 3);
    expect(l.check(a, 0, 4, 0)).toBe(RateVerdict.PASS); // 9 left
    l.configure({ rate: 0, burst: 1, perSourceRate: 1, perSourceBurst: 3 });
    let pass = 0;
    for (let i = 0; i < 10; i++) if (l.check(a, 0, 4, 0) === RateVerdict.PASS) pass++;
    expect(pass).toBe(3);
  });

  it('counts a UDP GSO super-packet as its datagrams', () => {
    const r = new RateLimits(settings, { seed: 1 });
    // 10 datagrams of 100 bytes in one USO packet.
    const big = v4({ src: WAN, dst: LAN, proto: 17 }, udp(new Uint8Array(1000), 4000, 5000));
    const pkt = vnet(big, 1, 5, 28, 100, 20, 6);
    const i = info(pkt, true);
    let pass = 0;
    for (let k = 0; k < 100; k++) if (r.decide(pkt, i, 0) === 0) pass++;
    expect(pass).toBe(20); // 200 tokens / 10 per super-packet
  });

  it('reconfigures on reload keeping state, and rejects bad settings', () => {
    const r = new RateLimits(settings, { seed: 1 });
    const dgram = v4({ src: WAN, dst: LAN, proto: 17 }, udp([1], 1, 9));
    expect(decideN(r, dgram, 300, 0)[RateLimitReason.PASS]).toBe(200);
    r.configure({ ...settings, udp: { ...settings.udp, rate: 1000, burst: 1000 } });
    expect(decideN(r, dgram, 300, 0)[RateLimitReason.PASS]).toBe(0); // bucket still empty
    expect(decideN(r, dgram, 2000, 1000)[RateLimitReason.PASS]).toBe(1000);
    r.configure({ udp: { enabled: false } });
    expect(decideN(r, dgram, 5000, 1000)[RateLimitReason.PASS]).toBe(5000);
    expect(() => r.configure({ udp: { exemptPorts: [70000] } })).toThrow('exempt port');
    expect(() => r.configure({ icmp: { rate: -1 } })).toThrow();
  });
});

describe('global buckets shared by several workers', () => {
  it('hold the global rate for the router, not per worker (the leader refills on its tick)', () => {
    const sab = new SharedArrayBuffer(SHARED_BUCKET_SLOTS * 4);
    const settings: RateLimitsSettings = {
      icmp: { rate: 100, burst: 100, perSourceRate: 0, perSourceBurst: 1 },
    };
    const workers = [true, false].map((leader) => new RateLimits(settings, { share: { sab, leader } }));
    const alone = new RateLimits(settings);
    const pkt = v4({ proto: 1 }, icmp(8, 0, [1, 2, 3, 4]));
    const info = new PacketInfo();
    expect(classify(pkt, 0, pkt.length, false, info)).toBe(0);
    // 10 s at 1000 packets/s on each worker (2000/s in all), ticks every 100 ms as the workers run them.
    let passedShared = 0;
    let passedAlone = 0;
    for (let ms = 0; ms < 10_000; ms++) {
      if (ms % 100 === 0) for (const w of workers) w.tick(ms);
      for (const w of workers) if (w.decide(pkt, info, ms) === RateLimitReason.PASS) passedShared++;
      if (alone.decide(pkt, info, ms) === RateLimitReason.PASS) passedAlone++;
    }
    // burst 100 + 100/s × 10 s, whatever the number of workers (each alone would pass that much).
    expect(within10(passedShared, 1100)).toBe(true);
    expect(within10(passedAlone, 1100)).toBe(true);
    // A follower alone never refills the bucket.
    const lone = new RateLimits(settings, {
      share: { sab: new SharedArrayBuffer(SHARED_BUCKET_SLOTS * 4), leader: false },
    });
    let followerOnly = 0;
    for (let ms = 0; ms < 3000; ms++) {
      if (ms % 100 === 0) lone.tick(ms);
      if (lone.decide(pkt, info, ms) === RateLimitReason.PASS) followerOnly++;
    }
    expect(followerOnly).toBe(100); // the initial burst only
  });

  it('need the leader’s ticks only while a bucket is below its burst', () => {
    const sab = new SharedArrayBuffer(SHARED_BUCKET_SLOTS * 4);
    const settings: RateLimitsSettings = {
      icmp: { rate: 100, burst: 100, perSourceRate: 0, perSourceBurst: 1 },
    };
    const [lead, follower] = [true, false].map(
      (leader) => new RateLimits(settings, { share: { sab, leader } }),
    );
    const alone = new RateLimits(settings);
    const pkt = v4({ proto: 1 }, icmp(8, 0, [1, 2, 3, 4]));
    const info = new PacketInfo();
    expect(classify(pkt, 0, pkt.length, false, info)).toBe(0);
    expect(lead.needsTick(), 'every bucket full').toBe(false);
    expect(follower.decide(pkt, info, 0)).toBe(RateLimitReason.PASS);
    expect(lead.needsTick(), 'the follower took a token the leader must put back').toBe(true);
    expect(follower.needsTick(), 'a follower never refills').toBe(false);
    lead.tick(0);
    lead.tick(100);
    expect(lead.needsTick(), 'refilled').toBe(false);
    expect(alone.decide(pkt, info, 0)).toBe(RateLimitReason.PASS);
    expect(alone.needsTick(), 'a bucket of its own refills on use').toBe(false);
  });
});
