// UDP editors (zero checksum handling) and ICMP/ICMPv6 error fields and quoted headers.
import { describe, expect, it } from 'vitest';
import {
  ICMP4_FRAG_NEEDED,
  Icmp4Type,
  Icmp6Type,
  icmp4Gateway,
  icmp4IsError,
  icmp4NextHopMtu,
  icmp4ParamPointer,
  icmp4SetNextHopMtu,
  icmp6IsError,
  icmp6Mtu,
  icmp6ParamPointer,
  icmp6SetMtu,
  icmpChecksum,
  icmpCode,
  icmpEchoId,
  icmpEchoSeq,
  icmpErrorInnerOff,
  icmpType,
  udpChecksum,
  udpDstPort,
  udpLength,
  udpRewriteDstPort,
  udpRewriteSrcPort,
  udpSetChecksum,
  udpSetDstPort,
  udpSetLength,
  udpSetSrcPort,
  udpSrcPort,
} from '../../src/packet/index.js';
import { icmp, Prng, refL4Ok, tcp, u16, u32, udp, v4, v6 } from './helpers.js';

describe('udp', () => {
  it('fields and raw setters', () => {
    const d = udp([1, 2, 3], 1111, 2222);
    expect([udpSrcPort(d, 0), udpDstPort(d, 0), udpLength(d, 0), udpChecksum(d, 0)]).toEqual([
      1111, 2222, 11, 0,
    ]);
    udpSetSrcPort(d, 0, 1);
    udpSetDstPort(d, 0, 2);
    udpSetLength(d, 0, 3);
    udpSetChecksum(d, 0, 4);
    expect([...d.subarray(0, 8)]).toEqual([0, 1, 0, 2, 0, 3, 0, 4]);
  });

  it('port rewrites keep the checksum (v4 and v6), never produce 0', () => {
    const rng = new Prng(17);
    for (const mk of [
      (p: number[]) => v4({ proto: 17 }, udp(p)),
      (p: number[]) => v6({ proto: 17 }, udp(p)),
    ]) {
      const pkt = mk([5, 6, 7]);
      const l4 = pkt[0] >>> 4 === 4 ? 20 : 40;
      for (let k = 0; k < 2000; k++) {
        udpRewriteSrcPort(pkt, l4, rng.int(0x10000), false);
        udpRewriteDstPort(pkt, l4, rng.int(0x10000), false);
        expect(udpChecksum(pkt, l4)).not.toBe(0);
        expect(refL4Ok(pkt, 0)).toBe(true);
      }
    }
  });

  it('a zero (absent) IPv4 checksum stays zero; partial mode leaves the field', () => {
    const pkt = v4({ proto: 17, noL4Csum: true }, udp([1]));
    udpRewriteDstPort(pkt, 20, 9999, false);
    expect(udpChecksum(pkt, 20)).toBe(0);
    const p2 = v4({ proto: 17 }, udp([1]));
    const c = udpChecksum(p2, 20);
    udpRewriteSrcPort(p2, 20, 4242, true);
    expect(udpChecksum(p2, 20)).toBe(c);
  });
});

describe('icmp', () => {
  it('echo fields', () => {
    const m = icmp(8, 0, [...u16(0x1234), ...u16(7)]);
    expect([icmpType(m, 0), icmpCode(m, 0), icmpEchoId(m, 0), icmpEchoSeq(m, 0), icmpChecksum(m, 0)]).toEqual(
      [8, 0, 0x1234, 7, 0],
    );
  });

  it('error type predicates', () => {
    const v4err = [3, 4, 5, 11, 12];
    for (let t = 0; t < 256; t++) {
      expect(icmp4IsError(t)).toBe(v4err.includes(t));
      expect(icmp6IsError(t)).toBe(t < 128);
    }
    expect(Icmp4Type.DEST_UNREACH).toBe(3);
    expect(Icmp6Type.PACKET_TOO_BIG).toBe(2);
  });

  const inner4 = v4({ proto: 6 }, tcp()).subarray(0, 28); // IP header + 8 bytes, as RFC 792 quotes
  const inner6 = v6({ proto: 6 }, tcp()).subarray(0, 48);
  const cases: [string, number, Uint8Array, number][] = [
    ['v4 frag needed', 4, v4({ proto: 1 }, icmp(3, ICMP4_FRAG_NEEDED, [0, 0, ...u16(1400)], inner4)), 28],
    ['v4 port unreachable', 4, v4({ proto: 1 }, icmp(3, 3, [0, 0, 0, 0], inner4)), 28],
    ['v4 time exceeded', 4, v4({ proto: 1 }, icmp(11, 0, [0, 0, 0, 0], inner4)), 28],
    ['v4 param problem', 4, v4({ proto: 1 }, icmp(12, 0, [20, 0, 0, 0], inner4)), 28],
    ['v4 redirect', 4, v4({ proto: 1 }, icmp(5, 1, [10, 0, 0, 254], inner4)), 28],
    ['v4 echo is not an error', 4, v4({ proto: 1 }, icmp(8, 0, [0, 0, 0, 0], inner4)), -1],
    ['v4 quote too short', 4, v4({ proto: 1 }, icmp(3, 1, [0, 0, 0, 0], inner4.subarray(0, 19))), -1],
    ['v4 quote not IPv4', 4, v4({ proto: 1 }, icmp(3, 1, [0, 0, 0, 0], inner6)), -1],
    ['v6 packet too big', 6, v6({ proto: 58 }, icmp(2, 0, u32(1280), inner6)), 48],
    ['v6 dest unreachable', 6, v6({ proto: 58 }, icmp(1, 4, u32(0), inner6)), 48],
    ['v6 time exceeded', 6, v6({ proto: 58 }, icmp(3, 0, u32(0), inner6)), 48],
    ['v6 param problem', 6, v6({ proto: 58 }, icmp(4, 0, u32(6), inner6)), 48],
    ['v6 unknown error type', 6, v6({ proto: 58 }, icmp(100, 0, u32(0), inner6)), 48],
    ['v6 echo reply', 6, v6({ proto: 58 }, icmp(129, 0, u32(0), inner6)), -1],
    ['v6 quote too short', 6, v6({ proto: 58 }, icmp(1, 0, u32(0), inner6.subarray(0, 39))), -1],
  ];
  it.each(cases)('inner header: %s', (_n, ver, pkt, want) => {
    const l4 = ver === 4 ? 20 : 40;
    expect(icmpErrorInnerOff(pkt, l4, pkt.length - l4, ver)).toBe(want);
    expect(refL4Ok(pkt, 0)).toBe(true);
  });

  it('MTU, pointer and gateway fields; MTU edits keep the checksum', () => {
    const fn = v4({ proto: 1 }, icmp(3, 4, [0, 0, ...u16(1400)], inner4));
    expect(icmp4NextHopMtu(fn, 20)).toBe(1400);
    icmp4SetNextHopMtu(fn, 20, 1280);
    expect(icmp4NextHopMtu(fn, 20)).toBe(1280);
    expect(refL4Ok(fn, 0)).toBe(true);
    const ptb = v6({ proto: 58 }, icmp(2, 0, u32(1500), inner6));
    expect(icmp6Mtu(ptb, 40)).toBe(1500);
    icmp6SetMtu(ptb, 40, 1280);
    expect(icmp6Mtu(ptb, 40)).toBe(1280);
    expect(refL4Ok(ptb, 0)).toBe(true);
    expect(icmp4ParamPointer(v4({ proto: 1 }, icmp(12, 0, [20, 0, 0, 0], inner4)), 20)).toBe(20);
    expect(icmp6ParamPointer(v6({ proto: 58 }, icmp(4, 0, u32(6), inner6)), 40)).toBe(6);
    expect(icmp4Gateway(v4({ proto: 1 }, icmp(5, 1, [10, 0, 0, 254], inner4)), 20)).toBe(0x0a0000fe);
  });
});
