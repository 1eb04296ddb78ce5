// IPv4 header view and editors: fields, fragments, header checksum and TTL updates.
import { describe, expect, it } from 'vitest';
import {
  IP4_DF,
  IP4_MF,
  ip4Checksum,
  ip4ComputeChecksum,
  ip4DecTtl,
  ip4DontFragment,
  ip4Dst,
  ip4FillChecksum,
  ip4FragOffset,
  ip4FragWord,
  ip4HeaderLen,
  ip4Id,
  ip4IsFirstFragment,
  ip4IsFragment,
  ip4MoreFragments,
  ip4Proto,
  ip4SetDst,
  ip4SetId,
  ip4SetSrc,
  ip4SetTos,
  ip4SetTotalLen,
  ip4SetTtl,
  ip4Src,
  ip4Tos,
  ip4TotalLen,
  ip4Ttl,
  ip4VerifyChecksum,
  ip4Version,
} from '../../src/packet/index.js';
import { cat, Prng, refChecksum, tcp, v4 } from './helpers.js';

function refHdrOk(b: Uint8Array, off: number): boolean {
  return refChecksum(b.subarray(off, off + (b[off] & 15) * 4)) === 0;
}

describe('ip4 fields', () => {
  it('reads every field, at an offset, with options', () => {
    const pkt = cat(
      [7, 7, 7],
      v4(
        { proto: 17, ttl: 33, id: 0xbeef, tos: 0xb8, frag: 0x4000, options: [0x94, 4, 0, 0] },
        [1, 2, 3, 4, 5, 6, 7, 8],
      ),
    );
    const o = 3;
    expect(ip4Version(pkt, o)).toBe(4);
    expect(ip4HeaderLen(pkt, o)).toBe(24);
    expect(ip4Tos(pkt, o)).toBe(0xb8);
    expect(ip4TotalLen(pkt, o)).toBe(32);
    expect(ip4Id(pkt, o)).toBe(0xbeef);
    expect(ip4FragWord(pkt, o)).toBe(IP4_DF);
    expect(ip4DontFragment(pkt, o)).toBe(true);
    expect(ip4MoreFragments(pkt, o)).toBe(false);
    expect(ip4Ttl(pkt, o)).toBe(33);
    expect(ip4Proto(pkt, o)).toBe(17);
    expect(ip4Src(pkt, o)).toBe(0xc0a8010a);
    expect(ip4Dst(pkt, o)).toBe(0x0a000001);
    expect(ip4VerifyChecksum(pkt, o)).toBe(true);
    expect(ip4ComputeChecksum(pkt, o)).toBe(ip4Checksum(pkt, o));
  });

  const frags: [string, number, boolean, boolean, boolean, number][] = [
    // name, frag word, isFragment, isFirst, MF, offset bytes
    ['DF only', IP4_DF, false, false, false, 0],
    ['nothing', 0, false, false, false, 0],
    ['first', IP4_MF, true, true, true, 0],
    ['middle', IP4_MF | 185, true, false, true, 1480],
    ['last', 185, true, false, false, 1480],
    ['max offset', 0x1fff, true, false, false, 0x1fff * 8],
    ['reserved bit ignored', 0x8000, false, false, false, 0],
  ];
  it.each(frags)('fragment bits: %s', (_n, word, isFrag, isFirst, mf, offBytes) => {
    const pkt = v4({ frag: word }, tcp());
    expect(ip4IsFragment(pkt, 0)).toBe(isFrag);
    expect(ip4IsFirstFragment(pkt, 0)).toBe(isFirst);
    expect(ip4MoreFragments(pkt, 0)).toBe(mf);
    expect(ip4FragOffset(pkt, 0)).toBe(offBytes);
  });
});

describe('ip4 checksum editors', () => {
  it('verify rejects a flipped bit, fill repairs it', () => {
    const pkt = v4({ options: [1, 1, 1, 0] }, tcp());
    pkt[5] ^= 0x10;
    expect(ip4VerifyChecksum(pkt, 0)).toBe(false);
    ip4FillChecksum(pkt, 0);
    expect(ip4VerifyChecksum(pkt, 0)).toBe(true);
    expect(refHdrOk(pkt, 0)).toBe(true);
  });

  it('TTL decrement / set keep the checksum equal to full recomputation', () => {
    const rng = new Prng(5);
    for (let k = 0; k < 500; k++) {
      const pkt = v4(
        { ttl: rng.int(256), id: rng.int(0x10000), proto: rng.int(256), tos: rng.int(256) },
        tcp(),
      );
      const before = pkt[8];
      const r = ip4DecTtl(pkt, 0);
      expect(r).toBe(before === 0 ? -1 : before - 1);
      expect(refHdrOk(pkt, 0)).toBe(true);
      ip4SetTtl(pkt, 0, rng.int(256));
      expect(refHdrOk(pkt, 0)).toBe(true);
      expect(ip4ComputeChecksum(pkt, 0)).toBe(ip4Checksum(pkt, 0));
    }
  });

  it('TTL 1 decrements to 0 (caller sends time-exceeded)', () => {
    const pkt = v4({ ttl: 1 }, tcp());
    expect(ip4DecTtl(pkt, 0)).toBe(0);
    expect(ip4DecTtl(pkt, 0)).toBe(-1);
    expect(refHdrOk(pkt, 0)).toBe(true);
  });

  it('address, id, length and tos edits keep the header checksum', () => {
    const rng = new Prng(6);
    const pkt = v4({}, tcp());
    for (let k = 0; k < 500; k++) {
      ip4SetSrc(pkt, 0, rng.next());
      ip4SetDst(pkt, 0, rng.next());
      ip4SetId(pkt, 0, rng.int(0x10000));
      ip4SetTotalLen(pkt, 0, rng.int(0x10000));
      ip4SetTos(pkt, 0, rng.int(256));
      expect(refHdrOk(pkt, 0)).toBe(true);
      expect(pkt[0]).toBe(0x45);
    }
  });
});
