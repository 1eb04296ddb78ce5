// Checksums: accumulation and pseudo-headers against the reference, RFC 1624 and NEEDS_CSUM updates.
import { describe, expect, it } from 'vitest';
import {
  CsumStatus,
  classify,
  computeL4Checksum,
  csumUpdate16,
  csumUpdate16Odd,
  csumUpdate32,
  csumUpdate32Odd,
  fillL4Checksum,
  fillL4PartialChecksum,
  finishChecksum,
  foldSum,
  PacketInfo,
  partialUpdate16,
  partialUpdate32,
  pseudoSum4,
  pseudoSum4Addr,
  pseudoSum6,
  sumWords,
  verifyL4Checksum,
} from '../../src/packet/index.js';
import { cat, icmp, Prng, pseudo4, pseudo6, refChecksum, tcp, udp, v4, v6, vnet } from './helpers.js';

function rd16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

describe('sumWords / foldSum / finishChecksum', () => {
  it('matches the reference on fixed vectors', () => {
    // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    const v = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(sumWords(v, 0, 8, 0)).toBe(0xddf2);
    expect(finishChecksum(sumWords(v, 0, 8, 0))).toBe(refChecksum(v));
    expect(finishChecksum(0)).toBe(0xffff);
    expect(sumWords(new Uint8Array(0), 0, 0, 0x1234)).toBe(0x1234);
  });

  it('matches the reference for random lengths, odd lengths, offsets and 64 KiB', () => {
    const rng = new Prng(1);
    const lens = [1, 2, 3, 7, 19, 20, 21, 40, 1499, 1500, 16383, 16384, 16385, 40000, 65535];
    for (let k = 0; k < 200; k++) lens.push(rng.int(3000));
    for (const len of lens) {
      const off = rng.int(5);
      const b = rng.bytes(off + len + 3);
      const s = sumWords(b, off, len, 0);
      expect(s).toBeLessThanOrEqual(0xffff);
      expect(finishChecksum(s)).toBe(refChecksum(b.subarray(off, off + len)));
    }
    const ones = new Uint8Array(65536).fill(0xff);
    expect(finishChecksum(sumWords(ones, 0, 65535, 0))).toBe(refChecksum(ones.subarray(0, 65535)));
  });

  it('chains over even pieces with an accumulator', () => {
    const rng = new Prng(2);
    for (let k = 0; k < 100; k++) {
      const b = rng.bytes(200 + rng.int(100));
      const cut = 2 * rng.int(100);
      expect(sumWords(b, cut, b.length - cut, sumWords(b, 0, cut, 0))).toBe(sumWords(b, 0, b.length, 0));
    }
  });

  it('folds large accumulators', () => {
    expect(foldSum(0x1ffff)).toBe(1);
    expect(foldSum(0xffffffff)).toBe(0xffff);
    expect(foldSum(2 ** 40 + 5)).toBe((2 ** 40 + 5) % 0xffff);
    expect(foldSum(0)).toBe(0);
    expect(foldSum(0xffff)).toBe(0xffff);
  });
});

describe('pseudo-headers', () => {
  it('pseudoSum4 / pseudoSum4Addr match the reference layout', () => {
    const pkt = v4({ proto: 6 }, tcp());
    const ref = pseudo4([...pkt.subarray(12, 16)], [...pkt.subarray(16, 20)], 6, 20);
    const expected = 0xffff & ~refChecksum(ref);
    expect(pseudoSum4(pkt, 0, 6, 20)).toBe(expected);
    expect(pseudoSum4Addr(0xc0a8010a, 0x0a000001, 6, 20)).toBe(expected);
  });

  it('pseudoSum6 matches the reference layout, including lengths above 16 bits', () => {
    const pkt = v6({ proto: 17 }, udp([1, 2, 3]));
    for (const len of [11, 65535, 70000]) {
      const ref = pseudo6([...pkt.subarray(8, 24)], [...pkt.subarray(24, 40)], 17, len);
      expect(pseudoSum6(pkt, 0, 17, len)).toBe(0xffff & ~refChecksum(ref));
    }
  });
});

describe('RFC 1624 incremental updates equal full recomputation', () => {
  it('16- and 32-bit edits at random aligned and odd offsets', () => {
    const rng = new Prng(1624);
    for (let trial = 0; trial < 300; trial++) {
      const len = 24 + rng.int(200);
      const data = rng.bytes(len);
      data[0] |= 1; // keep the data non-zero, as every real header is
      data[2] = 0;
      data[3] = 0;
      let c = refChecksum(data);
      data[2] = c >>> 8;
      data[3] = c & 0xff;
      for (let e = 0; e < 50; e++) {
        const wide = rng.int(2) === 1;
        const size = wide ? 4 : 2;
        let at = 4 + rng.int(len - 4 - size);
        if (rng.int(2) === 0) at &= ~1;
        const old = wide ? ((rd16(data, at) << 16) | rd16(data, at + 2)) >>> 0 : rd16(data, at);
        const nv = wide ? rng.next() : rng.int(0x10000);
        for (let i = 0; i < size; i++) data[at + i] = (nv >>> (8 * (size - 1 - i))) & 0xff;
        const odd = (at & 1) === 1;
        if (wide) c = odd ? csumUpdate32Odd(c, old, nv) : csumUpdate32(c, old, nv);
        else c = odd ? csumUpdate16Odd(c, old, nv) : csumUpdate16(c, old, nv);
        data[2] = 0;
        data[3] = 0;
        expect(c).toBe(refChecksum(data));
        data[2] = c >>> 8;
        data[3] = c & 0xff;
      }
    }
  });

  it('edge words 0x0000 / 0xffff', () => {
    const data = new Uint8Array([0x45, 0, 0xff, 0xff, 0, 0]);
    const c = refChecksum(data);
    for (const nv of [0, 0xffff, 0x0001, 0xfffe]) {
      const old = rd16(data, 2);
      data[2] = nv >>> 8;
      data[3] = nv & 0xff;
      expect(csumUpdate16(c, old, nv)).toBe(refChecksum(data));
      data[2] = old >>> 8;
      data[3] = old & 0xff;
    }
  });
});

describe('NEEDS_CSUM partial rule', () => {
  // What the kernel does later: sum from csum_start over the segment with the partial value in place.
  function kernelComplete(pkt: Uint8Array, l4: number, len: number, at: number): void {
    const c = finishChecksum(sumWords(pkt, l4, len, 0));
    pkt[at] = c >>> 8;
    pkt[at + 1] = c & 0xff;
  }

  it('partialUpdate16/32 track pseudo-header edits exactly', () => {
    const rng = new Prng(7);
    for (let k = 0; k < 2000; k++) {
      const src = rng.next();
      const dst = rng.next();
      const len = 20 + rng.int(65000);
      let p = pseudoSum4Addr(src, dst, 6, len);
      const nsrc = rng.next();
      p = partialUpdate32(p, src, nsrc);
      const nlen = 20 + rng.int(65000);
      p = partialUpdate16(p, len, nlen);
      expect(p).toBe(pseudoSum4Addr(nsrc, dst, 6, nlen));
    }
  });

  it('seq/option edits need no change; address edits need only the uncomplemented update', () => {
    const seg = tcp({
      seq: 123456,
      ack: 99,
      flags: 0x10,
      opts: [1, 1, 8, 10, ...new Array(8).fill(7)],
      payload: [1, 2, 3, 4, 5],
    });
    const pkt = v4({ proto: 6, noL4Csum: true }, seg);
    const info = new PacketInfo();
    expect(classify(pkt, 0, pkt.length, false, info)).toBe(0);
    const partial = fillL4PartialChecksum(pkt, info);
    expect(partial).toBe(pseudoSum4(pkt, 0, 6, info.l4Len));
    // Edit seq and TSval: the partial field stays as is.
    pkt[24] ^= 0x5a;
    pkt[20 + 24] ^= 0x33;
    // Change the destination address: uncomplemented update of the partial value.
    const oldDst = ((pkt[16] << 24) | (pkt[17] << 16) | (pkt[18] << 8) | pkt[19]) >>> 0;
    const newDst = 0x0a0a0a0a;
    pkt.set([10, 10, 10, 10], 16);
    const np = partialUpdate32(partial, oldDst, newDst);
    pkt[36] = np >>> 8;
    pkt[37] = np & 0xff;
    kernelComplete(pkt, 20, info.l4Len, 36);
    const ref = refChecksum(
      cat(
        pseudo4([...pkt.subarray(12, 16)], [10, 10, 10, 10], 6, info.l4Len),
        pkt.subarray(20, 20 + info.l4Len).map((b, i) => (i === 16 || i === 17 ? 0 : b)),
      ),
    );
    expect(rd16(pkt, 36)).toBe(ref);
  });

  it('applying RFC 1624 to a partial field would be wrong (guards the rule)', () => {
    const pkt = v4({ proto: 6, noL4Csum: true }, tcp({ flags: 0x10 }));
    const info = new PacketInfo();
    classify(pkt, 0, pkt.length, false, info);
    const partial = fillL4PartialChecksum(pkt, info);
    const wrong = csumUpdate32(partial, 1000, 2000);
    pkt.set([0, 0, 7, 208], 24); // seq 2000
    const good = new Uint8Array(pkt);
    kernelComplete(good, 20, 20, 36);
    pkt[36] = wrong >>> 8;
    pkt[37] = wrong & 0xff;
    kernelComplete(pkt, 20, 20, 36);
    expect(rd16(pkt, 36)).not.toBe(rd16(good, 36));
  });
});

describe('verifyL4Checksum / computeL4Checksum', () => {
  const info = new PacketInfo();
  const cases: [string, Uint8Array, boolean, number][] = [
    ['v4 tcp', v4({ proto: 6 }, tcp({ payload: [1, 2, 3] })), false, CsumStatus.OK],
    ['v4 udp', v4({ proto: 17 }, udp([9, 8, 7])), false, CsumStatus.OK],
    ['v4 icmp echo', v4({ proto: 1 }, icmp(8, 0, [0, 1, 0, 2], [1, 2, 3])), false, CsumStatus.OK],
    ['v4 all-zero icmp', v4({ proto: 1 }, icmp(0, 0)), false, CsumStatus.OK],
    ['v6 tcp', v6({ proto: 6 }, tcp()), false, CsumStatus.OK],
    ['v6 udp', v6({ proto: 17 }, udp([1])), false, CsumStatus.OK],
    ['v6 icmpv6', v6({ proto: 58 }, icmp(128, 0, [0, 1, 0, 1])), false, CsumStatus.OK],
    ['v4 udp zero = absent', v4({ proto: 17, noL4Csum: true }, udp([1, 2])), false, CsumStatus.ABSENT],
    ['v6 udp zero = bad', v6({ proto: 17, noL4Csum: true }, udp([1, 2])), false, CsumStatus.BAD],
    ['v4 tcp bad', v4({ proto: 6, noL4Csum: true }, tcp()), false, CsumStatus.BAD],
    ['v4 first fragment', v4({ proto: 6, frag: 0x2000 }, tcp()), false, CsumStatus.NOT_APPLICABLE],
    [
      'v6 routing segleft',
      v6({ proto: 6, ext: [{ type: 43, segLeft: 1 }] }, tcp()),
      false,
      CsumStatus.NOT_APPLICABLE,
    ],
    ['unknown proto', v4({ proto: 47 }, [0, 0, 0, 0]), false, CsumStatus.NOT_APPLICABLE],
    ['DATA_VALID', vnet(v4({ proto: 6, noL4Csum: true }, tcp()), 2), true, CsumStatus.TRUSTED],
  ];
  it.each(cases)('%s', (_name, pkt, hasVnet, status) => {
    expect(classify(pkt, 0, pkt.length, hasVnet, info)).toBe(0);
    expect(verifyL4Checksum(pkt, info)).toBe(status);
  });

  it('computeL4Checksum equals the stored reference checksum; fill repairs a zeroed field', () => {
    const rng = new Prng(99);
    for (let k = 0; k < 300; k++) {
      const payload = rng.bytes(rng.int(300));
      const kind = rng.int(5);
      const pkt =
        kind === 0
          ? v4({ proto: 6 }, tcp({ payload }))
          : kind === 1
            ? v4({ proto: 17 }, udp(payload))
            : kind === 2
              ? v6({ proto: 6 }, tcp({ payload }))
              : kind === 3
                ? v6({ proto: 58 }, icmp(129, 0, [0, 1, 0, 1], payload))
                : v4({ proto: 1 }, icmp(0, 0, [0, 0, 0, 0], payload));
      expect(classify(pkt, 0, pkt.length, false, info)).toBe(0);
      const at = info.l4Off + (info.proto === 6 ? 16 : info.proto === 17 ? 6 : 2);
      const stored = rd16(pkt, at);
      expect(computeL4Checksum(pkt, info)).toBe(stored);
      pkt[at] = 0;
      pkt[at + 1] = 0;
      expect(fillL4Checksum(pkt, info)).toBe(stored);
      expect(verifyL4Checksum(pkt, info)).toBe(CsumStatus.OK);
    }
  });

  it('UDP surplus bytes after the UDP length are outside the checksum', () => {
    const dgram = udp([1, 2, 3, 4]);
    const pkt = v4({ proto: 17 }, dgram);
    const withSurplus = v4({ proto: 17, noL4Csum: true }, cat(pkt.subarray(20), [0xaa, 0xbb]));
    expect(classify(withSurplus, 0, withSurplus.length, false, info)).toBe(0);
    expect(info.payloadLen).toBe(4);
    expect(verifyL4Checksum(withSurplus, info)).toBe(CsumStatus.OK);
  });
});
