// classify(): table of valid packets with their parsed fields, and one case per Malformed reason.
import { describe, expect, it } from 'vitest';
import { classify, Frag, MALFORMED_NAMES, Malformed, PacketInfo } from '../../src/packet/index.js';
import { cat, icmp, tcp, u32, udp, v4, v6, vnet } from './helpers.js';

const info = new PacketInfo();

describe('Malformed', () => {
  it('has one counter name per code, index 0 = ok', () => {
    const codes = Object.values(Malformed);
    expect(codes).toEqual(codes.map((_c, i) => i));
    expect(MALFORMED_NAMES.length).toBe(codes.length);
    expect(MALFORMED_NAMES[0]).toBe('ok');
    for (const [k, v] of Object.entries(Malformed)) expect(MALFORMED_NAMES[v]).toBe(k.toLowerCase());
  });
});

describe('classify: valid packets', () => {
  const synOpts = [2, 4, 5, 180, 4, 2, 8, 10, ...u32(7), ...u32(0), 1, 3, 3, 7];
  interface Case {
    name: string;
    pkt: Uint8Array;
    vnet?: boolean;
    off?: number;
    want: Partial<Record<keyof PacketInfo, number>>;
  }
  const cases: Case[] = [
    {
      name: 'v4 SYN with options',
      pkt: v4({ proto: 6, ttl: 61 }, tcp({ sport: 5555, dport: 443, seq: 77, flags: 2, opts: synOpts })),
      want: {
        ipVersion: 4,
        l3Off: 0,
        l3HdrLen: 20,
        ipLen: 60,
        proto: 6,
        ttl: 61,
        l4Off: 20,
        l4Len: 40,
        tcpHdrLen: 40,
        tcpFlags: 2,
        tcpSeq: 77,
        srcPort: 5555,
        dstPort: 443,
        payloadOff: 60,
        payloadLen: 0,
        srcAddrOff: 12,
        dstAddrOff: 16,
        fragment: 0,
      },
    },
    {
      name: 'v4 with IP options and trailing padding (ipLen < buffer)',
      pkt: cat(v4({ proto: 17, options: [1, 1, 1, 1] }, udp([1, 2, 3])), [0, 0, 0, 0, 0, 0]),
      want: { l3HdrLen: 24, ipLen: 35, frameLen: 41, l4Off: 24, l4Len: 11, payloadOff: 32, payloadLen: 3 },
    },
    {
      name: 'v4 at an offset inside a bigger buffer',
      pkt: cat([9, 9, 9, 9, 9], v4({ proto: 6 }, tcp({ payload: [1, 2] })), [9, 9]),
      off: 5,
      want: { l3Off: 5, l4Off: 25, payloadOff: 45, payloadLen: 2 },
    },
    {
      name: 'v4 ICMP echo',
      pkt: v4({ proto: 1 }, icmp(8, 0, [0, 1, 0, 1], [1, 2, 3])),
      want: { proto: 1, icmpType: 8, icmpCode: 0, icmpInnerOff: 0, payloadOff: 28, payloadLen: 3 },
    },
    {
      name: 'v4 ICMP frag-needed quotes a header',
      pkt: v4({ proto: 1 }, icmp(3, 4, [0, 0, 5, 0], v4({ proto: 6 }, tcp()).subarray(0, 28))),
      want: { icmpType: 3, icmpCode: 4, icmpInnerOff: 28 },
    },
    {
      name: 'v4 first fragment parses L4',
      pkt: v4({ proto: 6, frag: 0x2000 }, tcp({ payload: new Array(16).fill(1) })),
      want: { fragment: Frag.FIRST, fragMore: 1, l4Off: 20, srcPort: 40000, payloadLen: 16 },
    },
    {
      name: 'v4 first UDP fragment: UDP length is the whole datagram',
      pkt: v4({ proto: 17, frag: 0x2000 }, udp(new Array(16).fill(1), 1, 2, 3000)),
      want: { fragment: Frag.FIRST, payloadLen: 16 },
    },
    {
      name: 'v4 non-first fragment has no L4',
      pkt: v4({ proto: 6, frag: 185 }, new Array(100).fill(0xaa)),
      want: {
        fragment: Frag.NON_FIRST,
        fragOffset: 1480,
        fragMore: 0,
        l4Off: 0,
        l4Len: 0,
        srcPort: 0,
        proto: 6,
      },
    },
    {
      name: 'v4 unknown protocol',
      pkt: v4({ proto: 47 }, [0, 0, 8, 0]),
      want: { proto: 47, l4Off: 20, l4Len: 4, payloadOff: 20, payloadLen: 4 },
    },
    {
      name: 'v6 TCP',
      pkt: v6({ proto: 6, hop: 9 }, tcp({ flags: 0x18, payload: [1, 2, 3] })),
      want: {
        ipVersion: 6,
        ttl: 9,
        l3HdrLen: 40,
        l4Off: 40,
        ipLen: 63,
        tcpFlags: 0x18,
        payloadLen: 3,
        srcAddrOff: 8,
        dstAddrOff: 24,
      },
    },
    {
      name: 'v6 UDP behind HBH + DST',
      pkt: v6({ proto: 17, ext: [{ type: 0 }, { type: 60, len: 16 }] }, udp([1, 2])),
      want: { proto: 17, extCount: 2, l3HdrLen: 64, l4Off: 64, l4Len: 10, payloadLen: 2 },
    },
    {
      name: 'v6 ICMPv6 packet-too-big',
      pkt: v6({ proto: 58 }, icmp(2, 0, u32(1280), v6({ proto: 6 }, tcp()).subarray(0, 48))),
      want: { proto: 58, icmpType: 2, icmpInnerOff: 48 },
    },
    {
      name: 'v6 first fragment',
      pkt: v6({ proto: 6, ext: [{ type: 44, more: true }] }, tcp({ payload: [1] })),
      want: { fragment: Frag.FIRST, l4Off: 48, srcPort: 40000 },
    },
    {
      name: 'v6 non-first fragment',
      pkt: v6({ proto: 6, ext: [{ type: 44, fragOff: 64 }] }, new Array(30).fill(0)),
      want: { fragment: Frag.NON_FIRST, fragOffset: 64, l4Off: 0, l4Len: 0, l3HdrLen: 48 },
    },
    {
      name: 'v6 ESP is the upper layer',
      pkt: v6({ proto: 50 }, new Array(16).fill(1)),
      want: { proto: 50, l4Off: 40, l4Len: 16 },
    },
    {
      name: 'v6 ICMP (v4 protocol number) is just unknown',
      pkt: v6({ proto: 1 }, [1, 2]),
      want: { proto: 1, icmpType: 0, l4Len: 2 },
    },
    {
      name: 'vnet TSO4 super-packet',
      pkt: vnet(
        v4({ proto: 6 }, tcp({ flags: 0x10, payload: new Array(4000).fill(3) })),
        1,
        1,
        54,
        1448,
        20,
        16,
      ),
      vnet: true,
      want: {
        vnetFlags: 1,
        gsoType: 1,
        gsoSize: 1448,
        csumStart: 20,
        csumOffset: 16,
        l3Off: 10,
        l4Off: 30,
        payloadLen: 4000,
      },
    },
    {
      name: 'vnet USO over v6',
      pkt: vnet(v6({ proto: 17 }, udp(new Array(3000).fill(1))), 1, 5, 0, 1200, 40, 6),
      vnet: true,
      want: { gsoType: 5, l4Off: 50 },
    },
    {
      name: 'vnet data-valid, no GSO',
      pkt: vnet(v6({ proto: 6 }, tcp()), 2),
      vnet: true,
      want: { vnetFlags: 2, l3Off: 10 },
    },
  ];
  it.each(cases)('$name', (c) => {
    const off = c.off ?? 0;
    const len = c.off !== undefined ? c.pkt.length - off - 2 : c.pkt.length;
    expect(classify(c.pkt, off, len, c.vnet ?? false, info)).toBe(0);
    for (const [k, v] of Object.entries(c.want)) expect([k, info[k as keyof PacketInfo]]).toEqual([k, v]);
  });

  it('SYN options land in info.tcp', () => {
    const pkt = v4({ proto: 6 }, tcp({ flags: 2, opts: synOpts }));
    expect(classify(pkt, 0, pkt.length, false, info)).toBe(0);
    expect([
      info.tcp.mss,
      info.tcp.sackPermitted,
      info.tcp.tsPresent,
      info.tcp.tsVal,
      info.tcp.wscale,
    ]).toEqual([1460, true, true, 7, 7]);
  });

  it('reuses the object: a later packet clears earlier fields', () => {
    const a = v4({ proto: 6 }, tcp({ flags: 2, opts: synOpts }));
    const b = v4({ proto: 17 }, udp([1]));
    classify(a, 0, a.length, false, info);
    expect(classify(b, 0, b.length, false, info)).toBe(0);
    expect([info.tcpHdrLen, info.tcp.mss, info.tcpFlags]).toEqual([0, -1, 0]);
  });
});

describe('classify: each malformation', () => {
  const good4 = v4({ proto: 6 }, tcp());
  const badCsum = v4({ proto: 6 }, tcp());
  badCsum[10] ^= 1;
  const ihl4 = v4({ proto: 6 }, tcp());
  ihl4[0] = 0x44;
  const ihlPast = v4({ proto: 6 }, tcp()).subarray(0, 22);
  ihlPast[0] = 0x46;
  const cases: [string, Uint8Array, boolean, number, number?][] = [
    ['empty', new Uint8Array(0), false, Malformed.TOO_SHORT],
    ['len beyond the buffer', good4, false, Malformed.TOO_SHORT, good4.length + 1],
    ['19 bytes of v4', good4.subarray(0, 19), false, Malformed.TOO_SHORT],
    ['39 bytes of v6', v6({}, tcp()).subarray(0, 39), false, Malformed.TOO_SHORT],
    ['vnet shorter than 10', new Uint8Array(9), true, Malformed.TOO_SHORT],
    ['vnet only', new Uint8Array(10), true, Malformed.TOO_SHORT],
    ['version 5', cat([0x55], good4.subarray(1)), false, Malformed.BAD_VERSION],
    ['version 0', new Uint8Array(60), false, Malformed.BAD_VERSION],
    ['IHL 4', ihl4, false, Malformed.BAD_IHL],
    ['IHL past the buffer', ihlPast, false, Malformed.BAD_IHL],
    ['total length past the buffer', v4({ proto: 6, totalLen: 41 }, tcp()), false, Malformed.BAD_TOTAL_LEN],
    ['total length below IHL', v4({ proto: 6, totalLen: 19 }, tcp()), false, Malformed.BAD_TOTAL_LEN],
    ['v6 payload length past the buffer', v6({ payloadLen: 21 }, tcp()), false, Malformed.BAD_TOTAL_LEN],
    ['bad v4 header checksum', badCsum, false, Malformed.BAD_IP_CSUM],
    [
      'nine v6 ext headers',
      v6({ ext: new Array(9).fill({ type: 60 }) }, tcp()),
      false,
      Malformed.TOO_MANY_EXT,
    ],
    [
      'v6 ext past payload',
      v6({ ext: [{ type: 0, len: 16 }], payloadLen: 8 }, []),
      false,
      Malformed.TRUNCATED_EXT,
    ],
    ['v4 TCP of 19 bytes', v4({ proto: 6 }, tcp().subarray(0, 19)), false, Malformed.TRUNCATED_L4],
    ['v6 UDP of 7 bytes', v6({ proto: 17 }, udp().subarray(0, 7)), false, Malformed.TRUNCATED_L4],
    ['ICMP of 7 bytes', v4({ proto: 1 }, icmp(8, 0).subarray(0, 7)), false, Malformed.TRUNCATED_L4],
    ['ICMPv6 of 4 bytes', v6({ proto: 58 }, icmp(128, 0).subarray(0, 4)), false, Malformed.TRUNCATED_L4],
    [
      'tiny first fragment',
      v4({ proto: 6, frag: 0x2000 }, tcp().subarray(0, 16)),
      false,
      Malformed.TRUNCATED_L4,
    ],
    ['TCP doff 4', v4({ proto: 6 }, tcp({ doff: 4 })), false, Malformed.BAD_TCP_DOFF],
    ['TCP doff past segment', v4({ proto: 6 }, tcp({ doff: 6 })), false, Malformed.BAD_TCP_DOFF],
    ['TCP option length 0', v4({ proto: 6 }, tcp({ opts: [30, 0, 0, 0] })), false, Malformed.BAD_TCP_OPTIONS],
    ['TCP option past end', v6({ proto: 6 }, tcp({ opts: [1, 8, 10, 0] })), false, Malformed.BAD_TCP_OPTIONS],
    ['UDP length 7', v4({ proto: 17 }, udp([1, 2], 1, 2, 7)), false, Malformed.BAD_UDP_LEN],
    ['UDP length past payload', v6({ proto: 17 }, udp([1, 2], 1, 2, 11)), false, Malformed.BAD_UDP_LEN],
    [
      'TCP fragment at offset 8 (RFC 1858)',
      v4({ proto: 6, frag: 1 }, new Array(20).fill(0)),
      false,
      Malformed.TINY_FRAGMENT,
    ],
    ['vnet unknown gso type', vnet(good4, 1, 2, 0, 1448, 20, 16), true, Malformed.BAD_VNET],
    ['vnet csum past the end', vnet(good4, 1, 0, 0, 0, 30, 16), true, Malformed.BAD_VNET],
    [
      'vnet TSO4 on a v6 packet',
      vnet(v6({ proto: 6 }, tcp()), 1, 1, 0, 1448, 40, 16),
      true,
      Malformed.BAD_VNET,
    ],
    ['vnet TSO6 on a v4 packet', vnet(good4, 1, 4, 0, 1448, 20, 16), true, Malformed.BAD_VNET],
    ['vnet TSO on UDP', vnet(v4({ proto: 17 }, udp([1])), 1, 1, 0, 1448, 20, 6), true, Malformed.BAD_VNET],
    ['vnet USO on TCP', vnet(good4, 1, 5, 0, 1448, 20, 16), true, Malformed.BAD_VNET],
    ['vnet csum_start not on L4', vnet(good4, 1, 1, 0, 1448, 0, 16), true, Malformed.BAD_VNET],
    ['vnet TCP csum_offset 6', vnet(good4, 1, 0, 0, 0, 20, 6), true, Malformed.BAD_VNET],
    [
      'vnet GSO fragment',
      vnet(v4({ proto: 6, frag: 0x2000 }, tcp()), 1, 1, 0, 1448, 20, 16),
      true,
      Malformed.BAD_VNET,
    ],
    [
      'vnet csum in trailing padding',
      vnet(cat(v4({ proto: 47 }, [1, 2]), new Array(30).fill(0)), 1, 0, 0, 0, 22, 16),
      true,
      Malformed.BAD_VNET,
    ],
  ];
  it.each(cases)('%s', (_n, pkt, hasVnet, code, len) => {
    expect(classify(pkt, 0, len ?? pkt.length, hasVnet, info)).toBe(code);
  });

  it('negative / NaN bounds are TOO_SHORT, not a throw', () => {
    expect(classify(good4, -1, 10, false, info)).toBe(Malformed.TOO_SHORT);
    expect(classify(good4, 0, -1, false, info)).toBe(Malformed.TOO_SHORT);
    expect(classify(good4, Number.NaN, 10, false, info)).toBe(Malformed.TOO_SHORT);
  });
});
