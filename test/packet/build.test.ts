// Builders: Linux option layout, SYN-ACK/ACK/RST segments with correct checksums, RFC 793 RST rules.
import { describe, expect, it } from 'vitest';
import {
  buildRstReply,
  buildSynAckReply,
  buildTcp4,
  buildTcp6,
  buildTcpReply,
  CsumStatus,
  classify,
  PacketInfo,
  prepareRst,
  TcpFlag,
  TcpOptions,
  TcpSegment,
  tcpOptionsLen,
  tcpParseOptions,
  verifyL4Checksum,
  writeTcpOptions,
} from '../../src/packet/index.js';
import { refChecksum, refL4Ok, SRC6, tcp, u16, u32, udp, v4, v6 } from './helpers.js';

function opts(mss: number, sackPermitted: boolean, ts: [number, number] | null, wscale: number): TcpOptions {
  const o = new TcpOptions();
  o.mss = mss;
  o.sackPermitted = sackPermitted;
  o.tsPresent = ts !== null;
  o.tsVal = ts?.[0] ?? 0;
  o.tsEcr = ts?.[1] ?? 0;
  o.wscale = wscale;
  return o;
}

describe('writeTcpOptions (Linux layout)', () => {
  const M = [2, 4, ...u16(1460)];
  const T = [8, 10, ...u32(0x01020304), ...u32(0x0a0b0c0d)];
  const cases: [string, TcpOptions, number[]][] = [
    ['none', opts(-1, false, null, -1), []],
    ['MSS', opts(1460, false, null, -1), M],
    ['MSS SACK_PERM+TS WS', opts(1460, true, [0x01020304, 0x0a0b0c0d], 7), [...M, 4, 2, ...T, 1, 3, 3, 7]],
    ['MSS NOP NOP TS WS', opts(1460, false, [0x01020304, 0x0a0b0c0d], 14), [...M, 1, 1, ...T, 1, 3, 3, 14]],
    ['MSS NOP NOP SACK_PERM WS', opts(1460, true, null, 0), [...M, 1, 1, 4, 2, 1, 3, 3, 0]],
    ['MSS NOP NOP SACK_PERM', opts(536, true, null, -1), [2, 4, ...u16(536), 1, 1, 4, 2]],
    ['TS only (ACK)', opts(-1, false, [0x01020304, 0x0a0b0c0d], -1), [1, 1, ...T]],
    ['WS only', opts(-1, false, null, 2), [1, 3, 3, 2]],
  ];
  it.each(cases)('%s', (_n, o, bytes) => {
    const buf = new Uint8Array(64).fill(0xee);
    const n = writeTcpOptions(buf, 3, o);
    expect(n).toBe(bytes.length);
    expect(n % 4).toBe(0);
    expect(tcpOptionsLen(o)).toBe(n);
    expect([...buf.subarray(3, 3 + n)]).toEqual(bytes);
    expect(buf[3 + n]).toBe(0xee);
    // Round trip through the parser; TS values sit 4-byte aligned from the TCP header.
    const seg = tcp({ opts: bytes });
    const back = new TcpOptions();
    expect(tcpParseOptions(seg, 0, seg.length, back)).toBe(0);
    expect([back.mss, back.sackPermitted, back.tsPresent, back.tsVal, back.tsEcr, back.wscale]).toEqual([
      o.mss,
      o.sackPermitted,
      o.tsPresent,
      o.tsVal,
      o.tsEcr,
      o.wscale,
    ]);
    if (back.tsPresent) expect(back.tsOff % 4).toBe(0);
  });
});

describe('buildTcp4 / buildTcp6', () => {
  const info = new PacketInfo();
  const seg = new TcpSegment();

  it('SYN-ACK over IPv4 with all options has right checksums and fields', () => {
    seg.reset();
    Object.assign(seg, {
      srcPort: 443,
      dstPort: 50000,
      seq: 0xdeadbeef,
      ack: 1001,
      flags: 0x12,
      window: 0,
      ttl: 64,
    });
    seg.ipId = 0x77;
    Object.assign(seg.opts, opts(1460, true, [111, 222], 7));
    const buf = new Uint8Array(128);
    const n = buildTcp4(buf, 4, 0x0a000001, 0xc0a8010a, seg);
    expect(n).toBe(20 + 20 + 20);
    const pkt = buf.subarray(4, 4 + n);
    expect(refChecksum(pkt.subarray(0, 20))).toBe(0);
    expect(refL4Ok(pkt, 0)).toBe(true);
    expect(classify(buf, 4, n, false, info)).toBe(0);
    expect([info.srcPort, info.dstPort, info.tcpSeq, info.tcpAck, info.tcpFlags, info.tcpWindow]).toEqual([
      443, 50000, 0xdeadbeef, 1001, 0x12, 0,
    ]);
    expect([info.tcp.mss, info.tcp.wscale, info.tcp.tsVal, info.tcp.tsEcr, info.tcp.sackPermitted]).toEqual([
      1460,
      7,
      111,
      222,
      true,
    ]);
    expect([...pkt.subarray(0, 10)]).toEqual([0x45, 0, 0, 60, 0, 0x77, 0x40, 0, 64, 6]);
    expect(verifyL4Checksum(buf, info)).toBe(CsumStatus.OK);
  });

  it('IPv6 ACK with timestamps, addresses from a source buffer', () => {
    seg.reset();
    Object.assign(seg, {
      srcPort: 1,
      dstPort: 2,
      seq: 3,
      ack: 4,
      flags: TcpFlag.ACK,
      window: 1000,
      ttl: 255,
    });
    seg.tos = 0xab;
    seg.flowLabel = 0xcdef1;
    Object.assign(seg.opts, opts(-1, false, [5, 6], -1));
    const addrs = new Uint8Array([...SRC6, ...SRC6.map((b) => b ^ 0xff)]);
    const buf = new Uint8Array(100);
    const n = buildTcp6(buf, 0, addrs, 16, 0, seg);
    expect(n).toBe(40 + 32);
    expect(refL4Ok(buf.subarray(0, n), 0)).toBe(true);
    expect(classify(buf, 0, n, false, info)).toBe(0);
    expect([...buf.subarray(8, 24)]).toEqual([...addrs.subarray(16, 32)]);
    expect([buf[0], buf[1], buf[2], buf[3], buf[7]]).toEqual([0x6a, 0xbc, 0xde, 0xf1, 255]);
    expect(info.tcp.tsVal).toBe(5);
  });

  it('random segments always verify against the reference', () => {
    let s = 1;
    const next = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s;
    };
    const buf = new Uint8Array(200);
    for (let k = 0; k < 500; k++) {
      seg.reset();
      Object.assign(seg, { srcPort: next() & 0xffff, dstPort: next() & 0xffff, seq: next(), ack: next() });
      seg.flags = next() & 0xff;
      seg.window = next() & 0xffff;
      Object.assign(
        seg.opts,
        opts(
          next() & 1 ? next() & 0xffff : -1,
          !!(next() & 1),
          next() & 1 ? [next(), next()] : null,
          next() & 1 ? next() % 15 : -1,
        ),
      );
      const n = k & 1 ? buildTcp4(buf, 0, next(), next(), seg) : buildTcp6(buf, 0, buf, 100, 120, seg);
      expect(refL4Ok(buf.subarray(0, n), 0)).toBe(true);
      expect(classify(buf, 0, n, false, info)).toBe(0);
    }
  });
});

describe('replies', () => {
  const info = new PacketInfo();
  const seg = new TcpSegment();

  it('SYN-ACK reply swaps addresses and ports, acks seq+1', () => {
    const syn = v4({ proto: 6 }, tcp({ sport: 40000, dport: 80, seq: 0xffffffff, flags: 0x02 }));
    classify(syn, 0, syn.length, false, info);
    seg.reset();
    Object.assign(seg.opts, opts(1460, true, [9, 8], 7));
    const out = new Uint8Array(100);
    const n = buildSynAckReply(out, 0, syn, info, seg, 12345);
    expect(n).toBe(60);
    expect(refL4Ok(out.subarray(0, n), 0)).toBe(true);
    expect([...out.subarray(12, 16)]).toEqual([...syn.subarray(16, 20)]);
    expect([...out.subarray(16, 20)]).toEqual([...syn.subarray(12, 16)]);
    const r = new PacketInfo();
    classify(out, 0, n, false, r);
    expect([r.srcPort, r.dstPort, r.tcpSeq, r.tcpAck, r.tcpFlags]).toEqual([80, 40000, 12345, 0, 0x12]);
    const ack = v4({ proto: 6 }, tcp({ flags: 0x10 }));
    classify(ack, 0, ack.length, false, info);
    expect(buildSynAckReply(out, 0, ack, info, seg, 1)).toBe(0);
  });

  interface RstCase {
    name: string;
    flags: number;
    seq: number;
    ack: number;
    payload: number;
    want: [number, number, number] | null;
  }
  const cases: RstCase[] = [
    { name: 'SYN (no ACK)', flags: 0x02, seq: 1000, ack: 0, payload: 0, want: [0, 1001, 0x14] },
    { name: 'SYN with data', flags: 0x02, seq: 1000, ack: 0, payload: 10, want: [0, 1011, 0x14] },
    { name: 'FIN without ACK', flags: 0x01, seq: 7, ack: 0, payload: 3, want: [0, 11, 0x14] },
    { name: 'SYN+FIN', flags: 0x03, seq: 0xffffffff, ack: 0, payload: 0, want: [0, 1, 0x14] },
    { name: 'bare segment, no flags', flags: 0, seq: 50, ack: 0, payload: 5, want: [0, 55, 0x14] },
    {
      name: 'ACK: seq = its ack, RST only',
      flags: 0x10,
      seq: 1,
      ack: 0xabcdef,
      payload: 100,
      want: [0xabcdef, 0, 0x04],
    },
    { name: 'SYN-ACK', flags: 0x12, seq: 1, ack: 42, payload: 0, want: [42, 0, 0x04] },
    { name: 'FIN-ACK', flags: 0x11, seq: 1, ack: 43, payload: 0, want: [43, 0, 0x04] },
    { name: 'RST is never answered', flags: 0x04, seq: 1, ack: 0, payload: 0, want: null },
    { name: 'RST-ACK is never answered', flags: 0x14, seq: 1, ack: 5, payload: 0, want: null },
  ];
  for (const ver of [4, 6] as const) {
    it.each(cases)(`RST reply v${ver}: $name`, (c) => {
      const seg0 = tcp({
        flags: c.flags,
        seq: c.seq,
        ack: c.ack,
        payload: new Array(c.payload).fill(1),
        opts: [1, 1, 1, 1],
      });
      const pkt = ver === 4 ? v4({ proto: 6 }, seg0) : v6({ proto: 6 }, seg0);
      expect(classify(pkt, 0, pkt.length, false, info)).toBe(0);
      seg.reset();
      Object.assign(seg.opts, opts(1460, true, [1, 2], 3)); // must be dropped for a RST
      const out = new Uint8Array(120);
      const n = buildRstReply(out, 0, pkt, info, seg);
      if (c.want === null) {
        expect(n).toBe(0);
        return;
      }
      expect(n).toBe(ver === 4 ? 40 : 60);
      expect(refL4Ok(out.subarray(0, n), 0)).toBe(true);
      const r = new PacketInfo();
      expect(classify(out, 0, n, false, r)).toBe(0);
      expect([r.tcpSeq, r.tcpAck, r.tcpFlags, r.tcpWindow]).toEqual([...c.want, 0]);
      expect([r.srcPort, r.dstPort]).toEqual([info.dstPort, info.srcPort]);
    });
  }

  it('prepareRst refuses non-TCP and fragments', () => {
    const u = v4({ proto: 17 }, udp([1]));
    classify(u, 0, u.length, false, info);
    expect(prepareRst(info, seg)).toBe(false);
    const f = v4({ proto: 6, frag: 0x2000 }, tcp());
    classify(f, 0, f.length, false, info);
    expect(prepareRst(info, seg)).toBe(false);
  });

  it('in-place reply over the input packet (v4 and v6)', () => {
    for (const mk of [v4, v6]) {
      const pkt = mk(
        { proto: 6 },
        tcp({ sport: 1111, dport: 2222, flags: 0x02, seq: 10, opts: [2, 4, 5, 180] }),
      );
      const orig = new Uint8Array(pkt);
      const big = new Uint8Array(200);
      big.set(pkt, 0);
      classify(big, 0, pkt.length, false, info);
      seg.reset();
      Object.assign(seg.opts, opts(1400, true, [3, 4], 5));
      const n = buildTcpReply(big, 0, big, info, seg);
      expect(refL4Ok(big.subarray(0, n), 0)).toBe(true);
      const r = new PacketInfo();
      expect(classify(big, 0, n, false, r)).toBe(0);
      const [s, d, len] = orig[0] >>> 4 === 4 ? [12, 16, 4] : [8, 24, 16];
      expect([...big.subarray(s, s + len)]).toEqual([...orig.subarray(d, d + len)]);
      expect([...big.subarray(d, d + len)]).toEqual([...orig.subarray(s, s + len)]);
      expect([r.srcPort, r.dstPort]).toEqual([2222, 1111]);
    }
  });
});
