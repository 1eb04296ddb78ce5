// IPv6 header view and the bounded extension-header walk.
import { describe, expect, it } from 'vitest';
import {
  Frag,
  IP6_MAX_EXT,
  Ip6Walk,
  ip6AddrEqual,
  ip6DecHopLimit,
  ip6DstOff,
  ip6FlowLabel,
  ip6HopLimit,
  ip6NextHeader,
  ip6PayloadLen,
  ip6SetHopLimit,
  ip6SetPayloadLen,
  ip6SrcOff,
  ip6TrafficClass,
  ip6Version,
  ip6WalkExt,
  Malformed,
} from '../../src/packet/index.js';
import { type Ext6, tcp, udp, v6 } from './helpers.js';

describe('ip6 fields', () => {
  it('reads and writes header fields', () => {
    const pkt = v6({ proto: 17, hop: 7 }, udp([1, 2]));
    pkt[0] = 0x6a;
    pkt[1] = 0xbc;
    pkt[2] = 0xde;
    pkt[3] = 0xf0;
    expect(ip6Version(pkt, 0)).toBe(6);
    expect(ip6TrafficClass(pkt, 0)).toBe(0xab);
    expect(ip6FlowLabel(pkt, 0)).toBe(0xcdef0);
    expect(ip6PayloadLen(pkt, 0)).toBe(10);
    expect(ip6NextHeader(pkt, 0)).toBe(17);
    expect(ip6HopLimit(pkt, 0)).toBe(7);
    ip6SetPayloadLen(pkt, 0, 0x1234);
    expect(ip6PayloadLen(pkt, 0)).toBe(0x1234);
    ip6SetHopLimit(pkt, 0, 1);
    expect(ip6DecHopLimit(pkt, 0)).toBe(0);
    expect(ip6DecHopLimit(pkt, 0)).toBe(-1);
    expect(ip6SrcOff(0)).toBe(8);
    expect(ip6DstOff(4)).toBe(28);
    expect(ip6AddrEqual(pkt, 8, pkt, 8)).toBe(true);
    expect(ip6AddrEqual(pkt, 8, pkt, 24)).toBe(false);
  });
});

describe('ip6WalkExt', () => {
  const w = new Ip6Walk();
  interface Case {
    name: string;
    ext: Ext6[];
    proto: number;
    err?: number;
    l4Off?: number;
    frag?: number;
    fragOff?: number;
    more?: number;
    count?: number;
    segLeft?: number;
    wantProto?: number;
  }
  const cases: Case[] = [
    { name: 'no ext', ext: [], proto: 6, l4Off: 40, count: 0 },
    { name: 'hbh', ext: [{ type: 0 }], proto: 6, l4Off: 48, count: 1 },
    { name: 'hbh 16 bytes', ext: [{ type: 0, len: 16 }], proto: 17, l4Off: 56, count: 1 },
    {
      name: 'hbh, dst, routing, frag(atomic), dst',
      ext: [
        { type: 0 },
        { type: 60, len: 24 },
        { type: 43, len: 24, segLeft: 0 },
        { type: 44 },
        { type: 60 },
      ],
      proto: 6,
      l4Off: 40 + 8 + 24 + 24 + 8 + 8,
      frag: Frag.NONE,
      count: 5,
    },
    { name: 'routing with segments left', ext: [{ type: 43, segLeft: 2 }], proto: 6, l4Off: 48, segLeft: 2 },
    { name: 'AH (4-octet units)', ext: [{ type: 51, len: 24 }], proto: 6, l4Off: 64, count: 1 },
    { name: 'ESP stops the walk', ext: [{ type: 0 }], proto: 50, l4Off: 48, wantProto: 50 },
    { name: 'no next header', ext: [{ type: 60 }], proto: 59, l4Off: 48, wantProto: 59 },
    { name: 'mobility generic', ext: [{ type: 135 }], proto: 59, l4Off: 48, count: 1 },
    {
      name: 'first fragment',
      ext: [{ type: 44, more: true }],
      proto: 6,
      l4Off: 48,
      frag: Frag.FIRST,
      more: 1,
    },
    {
      name: 'non-first fragment',
      ext: [{ type: 0 }, { type: 44, fragOff: 1448, more: true }],
      proto: 6,
      l4Off: 56,
      frag: Frag.NON_FIRST,
      fragOff: 1448,
      more: 1,
    },
    {
      name: 'last fragment',
      ext: [{ type: 44, fragOff: 8 }],
      proto: 17,
      l4Off: 48,
      frag: Frag.NON_FIRST,
      fragOff: 8,
    },
    { name: 'eight headers', ext: new Array(8).fill({ type: 60 }), proto: 6, l4Off: 40 + 64, count: 8 },
    { name: 'nine headers', ext: new Array(9).fill({ type: 60 }), proto: 6, err: Malformed.TOO_MANY_EXT },
    {
      name: 'nine with fragment last',
      ext: [...new Array(8).fill({ type: 0 }), { type: 44 }],
      proto: 6,
      err: Malformed.TOO_MANY_EXT,
    },
  ];
  it.each(cases)('$name', (c) => {
    const pkt = v6({ proto: c.proto, ext: c.ext }, c.proto === 17 ? udp([1]) : tcp());
    const r = ip6WalkExt(pkt, 0, pkt.length, w);
    expect(r).toBe(c.err ?? 0);
    if (c.err) return;
    expect(w.l4Off).toBe(c.l4Off);
    expect(w.proto).toBe(c.wantProto ?? c.proto);
    expect(w.fragment).toBe(c.frag ?? Frag.NONE);
    expect(w.fragOffset).toBe(c.fragOff ?? 0);
    expect(w.fragMore).toBe(c.more ?? 0);
    if (c.count !== undefined) expect(w.extCount).toBe(c.count);
    expect(w.routingSegLeft).toBe(c.segLeft ?? 0);
    if (c.ext.some((e) => e.type === 44)) expect(w.fragId).toBe(0xabcdef);
  });

  it('IP6_MAX_EXT is 8', () => expect(IP6_MAX_EXT).toBe(8));

  it('truncation anywhere inside the chain is TRUNCATED_EXT', () => {
    const ext: Ext6[] = [{ type: 0, len: 16 }, { type: 51, len: 16 }, { type: 44 }, { type: 60 }];
    const pkt = v6({ proto: 59, ext }, []);
    const chainEnd = 40 + 16 + 16 + 8 + 8;
    expect(ip6WalkExt(pkt, 0, chainEnd, w)).toBe(0);
    for (let end = 40; end < chainEnd; end++) {
      expect(ip6WalkExt(pkt, 0, end, w)).toBe(Malformed.TRUNCATED_EXT);
    }
  });

  it('a header length byte that points past the end', () => {
    const pkt = v6({ proto: 6, ext: [{ type: 60 }] }, tcp());
    pkt[41] = 255; // (255+1)*8 = 2048 bytes
    expect(ip6WalkExt(pkt, 0, pkt.length, w)).toBe(Malformed.TRUNCATED_EXT);
  });
});
