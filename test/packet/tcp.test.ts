// TCP header view, options parser (every combination, malformed ones) and checksum-keeping editors.
import { describe, expect, it } from 'vitest';
import {
  classify,
  PacketInfo,
  pseudoSum4,
  sumWords,
  TcpFlag,
  TcpOptError,
  TcpOptions,
  tcpAck,
  tcpAdd32Halves,
  tcpAddAck,
  tcpAddSeq,
  tcpChecksum,
  tcpDstPort,
  tcpFlags,
  tcpHeaderLen,
  tcpParseOptions,
  tcpRewriteAck,
  tcpRewriteDstPort,
  tcpRewriteMss,
  tcpRewriteSackBlock,
  tcpRewriteSeq,
  tcpRewriteSrcPort,
  tcpRewriteTsEcr,
  tcpRewriteTsVal,
  tcpRewriteWindow,
  tcpSackLeft,
  tcpSackRight,
  tcpSeq,
  tcpSetAck,
  tcpSetChecksum,
  tcpSetDstPort,
  tcpSetFlags,
  tcpSetHeaderLen,
  tcpSetSeq,
  tcpSetSrcPort,
  tcpSetUrgent,
  tcpSetWindow,
  tcpShiftSack,
  tcpShiftSackHalves,
  tcpSrcPort,
  tcpUrgent,
  tcpWindow,
} from '../../src/packet/index.js';
import { cat, Prng, refL4Ok, tcp, u16, u32, v4, v6 } from './helpers.js';

// Option encoders for the tests.
const MSS = (v: number) => [2, 4, ...u16(v)];
const WS = (s: number) => [3, 3, s];
const SACKP = [4, 2];
const TS = (a: number, b: number) => [8, 10, ...u32(a), ...u32(b)];
const SACK = (...edges: number[]) => [5, 2 + edges.length * 4, ...edges.flatMap(u32)];
const NOP = 1;

function parse(opts: number[], doff?: number, extra: number[] = []): [number, TcpOptions, Uint8Array] {
  const seg = tcp({ opts, doff, payload: extra });
  const o = new TcpOptions();
  return [tcpParseOptions(seg, 0, seg.length, o), o, seg];
}

describe('tcp header fields', () => {
  it('getters and raw setters', () => {
    const seg = tcp({ sport: 1234, dport: 443, seq: 0xfffffff0, ack: 7, flags: 0x12, win: 512, urg: 3 });
    expect(tcpSrcPort(seg, 0)).toBe(1234);
    expect(tcpDstPort(seg, 0)).toBe(443);
    expect(tcpSeq(seg, 0)).toBe(0xfffffff0);
    expect(tcpAck(seg, 0)).toBe(7);
    expect(tcpHeaderLen(seg, 0)).toBe(20);
    expect(tcpFlags(seg, 0)).toBe(TcpFlag.SYN | TcpFlag.ACK);
    expect(tcpWindow(seg, 0)).toBe(512);
    expect(tcpUrgent(seg, 0)).toBe(3);
    tcpSetSrcPort(seg, 0, 1);
    tcpSetDstPort(seg, 0, 2);
    tcpSetSeq(seg, 0, 3);
    tcpSetAck(seg, 0, 0xffffffff);
    tcpSetHeaderLen(seg, 0, 60);
    tcpSetFlags(seg, 0, 0xff);
    tcpSetWindow(seg, 0, 5);
    tcpSetChecksum(seg, 0, 0xabcd);
    tcpSetUrgent(seg, 0, 6);
    expect([tcpSrcPort(seg, 0), tcpDstPort(seg, 0), tcpSeq(seg, 0), tcpAck(seg, 0)]).toEqual([
      1, 2, 3, 0xffffffff,
    ]);
    expect([
      tcpHeaderLen(seg, 0),
      tcpFlags(seg, 0),
      tcpWindow(seg, 0),
      tcpChecksum(seg, 0),
      tcpUrgent(seg, 0),
    ]).toEqual([60, 0xff, 5, 0xabcd, 6]);
    expect(TcpFlag).toEqual({ FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128 });
  });
});

describe('tcpParseOptions: every combination', () => {
  // Each present option is checked by value and by offset of its value.
  const kinds = ['mss', 'ws', 'sackp', 'ts', 'sack'] as const;
  type Layout = 'packed' | 'aligned' | 'reversed';
  const layouts: Layout[] = ['packed', 'aligned', 'reversed'];
  function layOut(mask: number, blocks: number, layout: Layout) {
    const parts: [string, number[]][] = [];
    if (mask & 1) parts.push(['mss', MSS(1460)]);
    if (mask & 2) parts.push(['ws', WS(7)]);
    if (mask & 4) parts.push(['sackp', SACKP]);
    if (mask & 8) parts.push(['ts', TS(0x11223344, 0x55667788)]);
    if (mask & 16)
      parts.push(['sack', SACK(...Array.from({ length: blocks * 2 }, (_x, i) => 1000 * (i + 1)))]);
    if (layout === 'reversed') parts.reverse();
    const bytes: number[] = [];
    const at: Record<string, number> = {};
    for (const [k, b] of parts) {
      if (layout === 'aligned')
        while (
          (bytes.length + (k === 'ws' ? 1 : k === 'sackp' || k === 'ts' || k === 'sack' ? 2 : 0)) % 4 !==
          0
        )
          bytes.push(NOP);
      at[k] = 20 + bytes.length + 2;
      bytes.push(...b);
    }
    return { bytes, at };
  }
  const cases: [string, number, number, Layout][] = [];
  for (let mask = 0; mask < 32; mask++) {
    for (const layout of layouts) {
      for (const blocks of mask & 16 ? [1, 2, 3] : [0]) {
        // A combination longer than 40 bytes does not fit in a TCP header: not a case.
        if (layOut(mask, blocks, layout).bytes.length > 40) continue;
        const name = kinds.filter((_k, i) => mask & (1 << i)).join('+') || 'none';
        cases.push([`${name} ${layout}${blocks ? ` ${blocks} blocks` : ''}`, mask, blocks, layout]);
      }
    }
  }
  it.each(cases)('%s', (_name, mask, blocks, layout) => {
    const { bytes, at } = layOut(mask, blocks, layout);
    const [r, o] = parse(bytes);
    expect(r).toBe(TcpOptError.OK);
    expect(o.mss).toBe(mask & 1 ? 1460 : -1);
    expect(o.mssOff).toBe(at.mss ?? 0);
    expect(o.wscale).toBe(mask & 2 ? 7 : -1);
    expect(o.wscaleOff).toBe(at.ws ?? 0);
    expect(o.sackPermitted).toBe(!!(mask & 4));
    expect(o.tsPresent).toBe(!!(mask & 8));
    expect(o.tsVal).toBe(mask & 8 ? 0x11223344 : 0);
    expect(o.tsEcr).toBe(mask & 8 ? 0x55667788 : 0);
    expect(o.tsOff).toBe(at.ts ?? 0);
    expect(o.sackBlockCount).toBe(blocks);
    expect(o.sackOff).toBe(at.sack ?? 0);
    expect(o.unknownCount).toBe(0);
    expect(o.hasAuth).toBe(false);
  });

  it('four SACK blocks fill the header', () => {
    const [r, o, seg] = parse([NOP, NOP, ...SACK(1, 2, 3, 4, 5, 6, 7, 8)]);
    expect(r).toBe(0);
    expect(o.sackBlockCount).toBe(4);
    expect(tcpSackLeft(seg, o, 3)).toBe(7);
    expect(tcpSackRight(seg, o, 3)).toBe(8);
    expect(tcpSackLeft(seg, o, 4)).toBe(0);
  });
});

describe('tcpParseOptions: edge cases and malformed', () => {
  const cases: [string, number[], number | undefined, number][] = [
    ['empty', [], undefined, TcpOptError.OK],
    ['all NOP', [NOP, NOP, NOP, NOP], undefined, TcpOptError.OK],
    ['EOL then garbage is padding', [...MSS(1000), 0, 0xff, 0x00, 0xff], undefined, TcpOptError.OK],
    ['unknown kind skipped by length', [30, 6, 1, 2, 3, 4, ...MSS(1)], undefined, TcpOptError.OK],
    ['MD5 marks auth', [19, 18, ...new Array(16).fill(0)], undefined, TcpOptError.OK],
    ['AO marks auth', [29, 4, 0, 0], undefined, TcpOptError.OK],
    ['length 0', [30, 0, 0, 0], undefined, TcpOptError.BAD_LENGTH],
    ['length 1', [30, 1, 0, 0], undefined, TcpOptError.BAD_LENGTH],
    ['length past the end', [30, 9, 0, 0], undefined, TcpOptError.TRUNCATED],
    ['length byte missing (kind is last byte)', [NOP, NOP, NOP, 2], undefined, TcpOptError.TRUNCATED],
    ['MSS length 3', [2, 3, 0, NOP], undefined, TcpOptError.BAD_MSS],
    ['MSS length 6', [2, 6, 0, 0, 0, 0], undefined, TcpOptError.BAD_MSS],
    ['WS length 4', [3, 4, 0, 0], undefined, TcpOptError.BAD_WSCALE],
    ['SACK_PERM length 3', [4, 3, 0, 0], undefined, TcpOptError.BAD_SACK_PERM],
    ['TS length 8', [8, 8, 0, 0, 0, 0, 0, 0], undefined, TcpOptError.BAD_TS],
    ['SACK with no block', [5, 2, 0, 0], undefined, TcpOptError.BAD_SACK],
    ['SACK odd length', [5, 6, 0, 0, 0, 0, 0, 0], undefined, TcpOptError.BAD_SACK],
    ['TS runs past doff', [NOP, NOP, 8, 10, 0, 0, 0, 0], undefined, TcpOptError.TRUNCATED],
    ['doff 4', [], 4, TcpOptError.BAD_DOFF],
    ['doff past the segment', [], 15, TcpOptError.BAD_DOFF],
  ];
  it.each(cases)('%s', (_n, opts, doff, want) => {
    const [r, o] = parse(opts, doff);
    expect(r).toBe(want);
    if (_n.includes('auth')) expect(o.hasAuth).toBe(true);
    if (_n.startsWith('unknown')) {
      expect(o.unknownCount).toBe(1);
      expect(o.mss).toBe(1);
    }
  });

  it('never reads past doff*4 even when the payload looks like options', () => {
    // doff 6 holds [NOP NOP NOP 8]; the TS body lies in the payload: must be TRUNCATED, not parsed.
    const [r, o] = parse([NOP, NOP, NOP, 8], undefined, [10, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(r).toBe(TcpOptError.TRUNCATED);
    expect(o.tsPresent).toBe(false);
  });

  it('rejects bounds outside the buffer', () => {
    const o = new TcpOptions();
    const seg = tcp();
    expect(tcpParseOptions(seg, 0, seg.length + 1, o)).toBe(TcpOptError.TRUNCATED);
    expect(tcpParseOptions(seg, -1, 20, o)).toBe(TcpOptError.TRUNCATED);
    expect(tcpParseOptions(seg, 0, 19, o)).toBe(TcpOptError.TRUNCATED);
  });
});

describe('tcp editors keep the checksum right', () => {
  const info = new PacketInfo();

  function mk(opts: number[], ver: 4 | 6, payload: number[] = [1, 2, 3]): Uint8Array {
    const seg = tcp({ flags: 0x10, seq: 5000, ack: 9000, opts, payload });
    return ver === 4 ? v4({ proto: 6 }, seg) : v6({ proto: 6 }, seg);
  }

  const layouts: [string, number[]][] = [
    ['linux aligned', [NOP, NOP, ...TS(1, 2), NOP, NOP, ...SACK(100, 200, 300, 400)]],
    // WS(3 bytes) first puts TS and SACK on odd offsets: the byte-swapped update path.
    ['odd aligned', [...WS(2), ...TS(1, 2), ...SACK(100, 200, 300, 400), ...MSS(1400)]],
    ['odd aligned 2', [...SACKP, NOP, ...TS(1, 2), ...SACK(5, 6), ...MSS(536)]],
  ];

  for (const ver of [4, 6] as const) {
    it.each(layouts)(`random edits v${ver}: %s`, (_n, opts) => {
      const rng = new Prng(ver * 100 + opts.length);
      const pkt = mk(opts, ver);
      expect(classify(pkt, 0, pkt.length, false, info)).toBe(0);
      const l4 = info.l4Off;
      const o = info.tcp;
      expect(refL4Ok(pkt, 0)).toBe(true);
      for (let e = 0; e < 400; e++) {
        switch (rng.int(12)) {
          case 0:
            tcpRewriteSeq(pkt, l4, rng.next(), false);
            break;
          case 1:
            tcpRewriteAck(pkt, l4, rng.next(), false);
            break;
          case 2:
            expect(tcpRewriteTsVal(pkt, l4, o, rng.next(), false)).toBe(true);
            break;
          case 3:
            expect(tcpRewriteTsEcr(pkt, l4, o, rng.next(), false)).toBe(true);
            break;
          case 4:
            expect(
              tcpRewriteSackBlock(pkt, l4, o, rng.int(o.sackBlockCount), rng.next(), rng.next(), false),
            ).toBe(true);
            break;
          case 5:
            tcpShiftSack(pkt, l4, o, rng.next() | 0, false);
            break;
          case 6:
            tcpRewriteWindow(pkt, l4, rng.int(0x10000), false);
            break;
          case 7:
            tcpRewriteSrcPort(pkt, l4, rng.int(0x10000), false);
            tcpRewriteDstPort(pkt, l4, rng.int(0x10000), false);
            break;
          case 8:
            tcpAddSeq(pkt, l4, rng.next() | 0, false);
            tcpAddAck(pkt, l4, -rng.int(1000), false);
            break;
          case 9:
            tcpRewriteMss(pkt, l4, o, rng.int(0x10000), false);
            break;
          case 10: {
            const at = [l4 + 4, l4 + 8, o.tsOff, o.tsOff + 4][rng.int(4)];
            const d = rng.next();
            const before = tcpSeq(pkt, at - 4);
            tcpAdd32Halves(pkt, l4, at, d >>> 16, d & 0xffff, false);
            expect(tcpSeq(pkt, at - 4)).toBe((before + d) >>> 0);
            if (at === o.tsOff) o.tsVal = tcpSeq(pkt, at - 4);
            if (at === o.tsOff + 4) o.tsEcr = tcpSeq(pkt, at - 4);
            break;
          }
          case 11: {
            const d = rng.next();
            const before = tcpSackLeft(pkt, o, 0);
            tcpShiftSackHalves(pkt, l4, o, d >>> 16, d & 0xffff, false);
            expect(tcpSackLeft(pkt, o, 0)).toBe((before + d) >>> 0);
            break;
          }
        }
        expect(refL4Ok(pkt, 0)).toBe(true);
      }
      // The parsed view follows the edits.
      const again = new TcpOptions();
      expect(tcpParseOptions(pkt, l4, info.l4Len, again)).toBe(0);
      expect(again.tsVal).toBe(o.tsVal);
      expect(again.tsEcr).toBe(o.tsEcr);
    });
  }

  it('add with wrap-around is modulo 2^32', () => {
    const pkt = v4({ proto: 6 }, tcp({ seq: 0xfffffffe, ack: 1, flags: 0x10 }));
    tcpAddSeq(pkt, 20, 5, false);
    tcpAddAck(pkt, 20, -2, false);
    expect(tcpSeq(pkt, 20)).toBe(3);
    expect(tcpAck(pkt, 20)).toBe(0xffffffff);
    expect(refL4Ok(pkt, 0)).toBe(true);
  });

  it('editors report a missing option instead of writing', () => {
    const pkt = mk([], 4);
    classify(pkt, 0, pkt.length, false, info);
    const copy = new Uint8Array(pkt);
    expect(tcpRewriteTsVal(pkt, 20, info.tcp, 1, false)).toBe(false);
    expect(tcpRewriteTsEcr(pkt, 20, info.tcp, 1, false)).toBe(false);
    expect(tcpRewriteMss(pkt, 20, info.tcp, 1, false)).toBe(false);
    expect(tcpRewriteSackBlock(pkt, 20, info.tcp, 0, 1, 2, false)).toBe(false);
    expect(tcpShiftSack(pkt, 20, info.tcp, 5, false)).toBe(0);
    expect(pkt).toEqual(copy);
  });

  it('partial (NEEDS_CSUM): edits leave the field alone and the kernel result is right', () => {
    const opts = [...WS(2), ...TS(1, 2), ...SACK(100, 200)];
    const pkt = mk(opts, 4);
    classify(pkt, 0, pkt.length, false, info);
    const l4 = info.l4Off;
    const partial = pseudoSum4(pkt, 0, 6, info.l4Len);
    pkt[l4 + 16] = partial >>> 8;
    pkt[l4 + 17] = partial & 0xff;
    tcpRewriteSeq(pkt, l4, 0xdeadbeef, true);
    tcpRewriteAck(pkt, l4, 0x12345678, true);
    tcpRewriteTsVal(pkt, l4, info.tcp, 0xcafebabe, true);
    tcpRewriteTsEcr(pkt, l4, info.tcp, 77, true);
    tcpShiftSack(pkt, l4, info.tcp, -50, true);
    tcpRewriteWindow(pkt, l4, 100, true);
    expect(tcpChecksum(pkt, l4)).toBe(partial);
    // Kernel completion: fold everything from csum_start with the partial value in place.
    const c = ~sumWords(pkt, l4, info.l4Len, 0) & 0xffff;
    pkt[l4 + 16] = c >>> 8;
    pkt[l4 + 17] = c & 0xff;
    expect(refL4Ok(pkt, 0)).toBe(true);
    expect(tcpSackLeft(pkt, info.tcp, 0)).toBe(50);
  });

  it('helpers build what they claim', () => {
    expect(cat(MSS(1460))).toEqual(new Uint8Array([2, 4, 5, 180]));
  });
});
