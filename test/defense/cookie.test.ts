// SYN cookies (Linux's construction over SipHash): round trips for IPv4 and IPv6, every MSS index,
// tampering, age and the 8-bit counter, the MSS tables, the TS option bits, and random guesses.
import { describe, expect, it } from 'vitest';
import {
  CookieKeys,
  checkCookie,
  encodeTsOptions,
  MSS_TABLE_V4,
  MSS_TABLE_V6,
  makeCookie,
  mssFromIndex,
  mssIndex,
  tsEcn,
  tsSack,
  tsWscale,
} from '../../src/defense/cookie.js';
import { SipKey, siphash32 } from '../../src/defense/siphash.js';
import { Prng } from '../packet/helpers.js';

const KEY_BYTES = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
const KEYS = new CookieKeys(KEY_BYTES);
const COUNT = 28_333_333; // a realistic minute count (Date.now() / 60 000)

/** A tuple laid out as in a packet: client address at 12, server address at 12 + n (like IPv4). */
interface Tuple {
  buf: Uint8Array;
  src: number;
  dst: number;
  ver: 4 | 6;
  sport: number;
  dport: number;
}

function tuple4(client = [203, 0, 113, 5], server = [10, 0, 0, 1], sport = 40000, dport = 80): Tuple {
  const buf = new Uint8Array(40);
  buf.set(client, 12);
  buf.set(server, 16);
  return { buf, src: 12, dst: 16, ver: 4, sport, dport };
}

function tuple6(rng = new Prng(6), sport = 51000, dport = 443): Tuple {
  const buf = new Uint8Array(60);
  buf.set([0x20, 0x01, 0x0d, 0xb8], 8);
  buf.set(rng.bytes(12), 12);
  buf.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1], 24);
  buf.set(rng.bytes(8), 32);
  return { buf, src: 8, dst: 24, ver: 6, sport, dport };
}

function make(t: Tuple, isn: number, idx: number, count = COUNT, keys = KEYS): number {
  return makeCookie(keys, t.buf, t.src, t.dst, t.ver, t.sport, t.dport, isn, idx, count);
}

function check(t: Tuple, isn: number, cookie: number, countNow = COUNT, keys = KEYS): number {
  return checkCookie(keys, t.buf, t.src, t.dst, t.ver, t.sport, t.dport, isn, cookie, countNow);
}

function randomTuple(rng: Prng): Tuple {
  if (rng.int(2) === 0) {
    const b = rng.bytes(8);
    return tuple4([...b.subarray(0, 4)], [...b.subarray(4)], rng.int(65536), rng.int(65536));
  }
  return tuple6(rng, rng.int(65536), rng.int(65536));
}

describe('CookieKeys', () => {
  it('takes 32 bytes: two SipHash keys', () => {
    expect(() => new CookieKeys(new Uint8Array(31))).toThrow(/32 bytes/);
    expect(() => new CookieKeys(new Uint8Array(33))).toThrow(/32 bytes/);
    expect([...KEYS.k0.bytes]).toEqual([...KEY_BYTES.subarray(0, 16)]);
    expect([...KEYS.k1.bytes]).toEqual([...KEY_BYTES.subarray(16)]);
  });
});

describe('makeCookie / checkCookie', () => {
  it('is the Linux construction: H(k0; tuple) + ISN + (count << 24) + ((H(k1; tuple, count) + mss) & 0xFFFFFF)', () => {
    // Independent: the message is client addr, server addr, sport, dport (big-endian), then the
    // count as a little-endian 32-bit word for the second hash.
    const k0 = new SipKey(KEY_BYTES.subarray(0, 16));
    const k1 = new SipKey(KEY_BYTES.subarray(16));
    const t = tuple4();
    const msg = Uint8Array.from([203, 0, 113, 5, 10, 0, 0, 1, 0x9c, 0x40, 0, 80, 0, 0, 0, 0]);
    new DataView(msg.buffer).setUint32(12, COUNT, true);
    const isn = 0xdeadbeef;
    for (let idx = 0; idx < 4; idx++) {
      const want =
        (siphash32(k0, msg, 0, 12) +
          isn +
          ((COUNT & 0xff) << 24) +
          ((siphash32(k1, msg, 0, 16) + idx) & 0xffffff)) >>>
        0;
      expect(make(t, isn, idx)).toBe(want);
    }
  });

  it('round-trips every MSS index, IPv4 and IPv6, for random tuples and ISNs', () => {
    const rng = new Prng(1);
    for (let i = 0; i < 2000; i++) {
      const t = randomTuple(rng);
      const isn = rng.next();
      const idx = i & 3;
      const c = make(t, isn, idx);
      expect(c).toBeGreaterThanOrEqual(0);
      expect(c).toBeLessThanOrEqual(0xffffffff);
      expect(check(t, isn, c), `case ${i} v${t.ver}`).toBe(idx);
    }
  });

  it('handles ISNs and sums at the 32-bit edges', () => {
    const t = tuple4();
    for (const isn of [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]) {
      for (let idx = 0; idx < 4; idx++) expect(check(t, isn, make(t, isn, idx))).toBe(idx);
    }
  });

  it('is deterministic (a retransmitted SYN gets the same cookie) and depends on every input', () => {
    const t = tuple4();
    const c = make(t, 1000, 2);
    expect(make(t, 1000, 2)).toBe(c);
    expect(make(t, 1001, 2)).toBe((c + 1) >>> 0); // the ISN is simply added
    expect(make(t, 1000, 3)).not.toBe(c);
    expect(make(t, 1000, 2, COUNT + 1)).not.toBe(c);
    expect(make(tuple4(undefined, undefined, 40001), 1000, 2)).not.toBe(c);
    expect(make(tuple4(undefined, undefined, 40000, 81), 1000, 2)).not.toBe(c);
    expect(make(t, 1000, 2, COUNT, new CookieKeys(KEY_BYTES.map((b) => b ^ 1)))).not.toBe(c);
  });

  it('refuses a changed tuple: every address byte, either port, swapped direction, other family', () => {
    const rng = new Prng(2);
    for (const ver of [4, 6] as const) {
      const t = ver === 4 ? tuple4() : tuple6(rng);
      const isn = 0x12345678;
      const c = make(t, isn, 3);
      const n = ver === 4 ? 4 : 16;
      for (const base of [t.src, t.dst]) {
        for (let i = 0; i < n; i++) {
          for (const bit of [0, 7]) {
            t.buf[base + i] ^= 1 << bit;
            expect(check(t, isn, c), `v${ver} byte ${base + i} bit ${bit}`).toBe(-1);
            t.buf[base + i] ^= 1 << bit;
          }
        }
      }
      expect(check({ ...t, sport: t.sport ^ 1 }, isn, c)).toBe(-1);
      expect(check({ ...t, dport: t.dport ^ 0x8000 }, isn, c)).toBe(-1);
      expect(check({ ...t, sport: t.dport, dport: t.sport }, isn, c)).toBe(-1);
      expect(check({ ...t, src: t.dst, dst: t.src }, isn, c)).toBe(-1);
      expect(check(t, isn, c)).toBe(3);
    }
    // The same 4 leading bytes as an IPv4 tuple do not make a valid IPv6 cookie, nor the reverse.
    const t6 = tuple6(rng);
    const c6 = make(t6, 5, 1);
    expect(check({ ...t6, ver: 4 }, 5, c6)).toBe(-1);
  });

  it('refuses a changed ISN and a changed key', () => {
    const rng = new Prng(3);
    const t = tuple4();
    const isn = 77_000_000;
    const c = make(t, isn, 2);
    for (const d of [3, -2, 4, -4, 1000, 1 << 16, 1 << 23, 1 << 24, -(1 << 24), 0x80000000]) {
      expect(check(t, (isn + d) >>> 0, c), `isn + ${d}`).toBe(-1);
    }
    // The ISN is only added, like the MSS index: an ISN off by d reads as index − d (as in Linux).
    expect(check(t, isn + 1, c)).toBe(1);
    expect(check(t, isn - 1, c)).toBe(3);
    for (let i = 0; i < 32; i++) {
      const kb = KEY_BYTES.slice();
      kb[i] ^= 1 << rng.int(8);
      expect(check(t, isn, c, COUNT, new CookieKeys(kb)), `key byte ${i}`).toBe(-1);
    }
  });

  it('refuses every flipped cookie bit from bit 2 up; bits 0–1 can only move the MSS index within 0..3', () => {
    const t = tuple4();
    const rng = new Prng(4);
    for (let trial = 0; trial < 16; trial++) {
      const isn = rng.next();
      const idx = trial & 3;
      const c = make(t, isn, idx);
      for (let bit = 2; bit < 32; bit++) {
        expect(check(t, isn, (c ^ (1 << bit)) >>> 0), `idx ${idx} bit ${bit}`).toBe(-1);
      }
      // The MSS index rides unauthenticated in the low bits (as in Linux): a flip of bit 0 or 1
      // adds or subtracts 1 or 2, which is either another table index or refused.
      for (const bit of [0, 1]) {
        const c2 = (c ^ (1 << bit)) >>> 0;
        const added = (c2 - c) | 0; // ±(1 << bit)
        const moved = idx + added;
        expect(check(t, isn, c2)).toBe(moved >= 0 && moved < 4 ? moved : -1);
      }
    }
  });

  it('ages: accepted in its minute and the next, refused from count + 2 on and from the future', () => {
    const t = tuple6();
    const isn = 4242;
    for (let idx = 0; idx < 4; idx++) {
      const c = make(t, isn, idx, COUNT);
      expect(check(t, isn, c, COUNT)).toBe(idx);
      expect(check(t, isn, c, COUNT + 1)).toBe(idx);
      expect(check(t, isn, c, COUNT + 2)).toBe(-1);
      expect(check(t, isn, c, COUNT + 3)).toBe(-1);
      expect(check(t, isn, c, COUNT + 100)).toBe(-1);
      expect(check(t, isn, c, COUNT - 1)).toBe(-1);
      // 256 minutes later the 8-bit age is 0 again, but the full count is in the second hash.
      expect(check(t, isn, c, COUNT + 256)).toBe(-1);
      expect(check(t, isn, c, COUNT + 257)).toBe(-1);
    }
  });

  it('wraps the 8-bit counter: 255 → 256 and 511 → 512 still accepted, 255 → 257 refused', () => {
    const rng = new Prng(5);
    for (let i = 0; i < 200; i++) {
      const t = randomTuple(rng);
      const isn = rng.next();
      const idx = rng.int(4);
      for (const count of [255, 511, 0xffff, 0xffffff, 256 * 110_000 + 255]) {
        const c = make(t, isn, idx, count);
        expect(check(t, isn, c, count)).toBe(idx);
        expect(check(t, isn, c, count + 1)).toBe(idx);
        expect(check(t, isn, c, count + 2)).toBe(-1);
      }
      const c0 = make(t, isn, idx, 256); // low byte 0, made right after the wrap
      expect(check(t, isn, c0, 257)).toBe(idx);
      expect(check(t, isn, c0, 255)).toBe(-1);
    }
  });

  it('random guesses pass with probability ~2^-29: at most a few in 1 M', () => {
    const rng = new Prng(0xc00c1e);
    const t = tuple4();
    let passed = 0;
    for (let i = 0; i < 1_000_000; i++) {
      // A fixed tuple (an attacker completing its own handshakes) and a varying one.
      if ((i & 0xffff) === 0) {
        const b = rng.bytes(4);
        t.buf.set(b, 12);
        t.sport = rng.int(65536);
      }
      if (check(t, rng.next(), rng.next()) >= 0) passed++;
    }
    expect(passed).toBeLessThanOrEqual(3);
  });
});

describe('MSS table', () => {
  it('has Linux’s entries', () => {
    expect([...MSS_TABLE_V4]).toEqual([536, 1300, 1440, 1460]);
    expect([...MSS_TABLE_V6]).toEqual([1220, 1420, 1440, 8940]);
  });

  it('rounds the client MSS down to an entry (below the smallest: index 0)', () => {
    const v4: [number, number][] = [
      [0, 0],
      [88, 0],
      [535, 0],
      [536, 0],
      [1299, 0],
      [1300, 1],
      [1439, 1],
      [1440, 2],
      [1459, 2],
      [1460, 3],
      [8960, 3],
      [65535, 3],
    ];
    for (const [mss, idx] of v4) expect(mssIndex(mss, 4), `v4 ${mss}`).toBe(idx);
    const v6: [number, number][] = [
      [536, 0],
      [1219, 0],
      [1220, 0],
      [1419, 0],
      [1420, 1],
      [1440, 2],
      [1460, 2],
      [8939, 2],
      [8940, 3],
      [65535, 3],
    ];
    for (const [mss, idx] of v6) expect(mssIndex(mss, 6), `v6 ${mss}`).toBe(idx);
  });

  it('maps indices back (masked to 2 bits), and index → MSS → index is the identity', () => {
    for (let i = 0; i < 4; i++) {
      expect(mssFromIndex(i, 4)).toBe(MSS_TABLE_V4[i]);
      expect(mssFromIndex(i, 6)).toBe(MSS_TABLE_V6[i]);
      expect(mssIndex(mssFromIndex(i, 4), 4)).toBe(i);
      expect(mssIndex(mssFromIndex(i, 6), 6)).toBe(i);
      expect(mssFromIndex(i + 4, 4)).toBe(MSS_TABLE_V4[i]);
    }
    // The decoded MSS never exceeds what the client offered (when it offered at least the minimum).
    for (let mss = 536; mss < 10_000; mss += 7) {
      expect(mssFromIndex(mssIndex(mss, 4), 4)).toBeLessThanOrEqual(mss);
      if (mss >= 1220) expect(mssFromIndex(mssIndex(mss, 6), 6)).toBeLessThanOrEqual(mss);
    }
  });
});

describe('TS option bits', () => {
  /** What the proxy reads back from the third ACK's TSecr. */
  const decode = (tsEcr: number) => ({ ws: tsWscale(tsEcr), sack: tsSack(tsEcr), ecn: tsEcn(tsEcr) });

  it('uses Linux’s layout: bits 0–3 wscale (0xF none), bit 4 SACK, bit 5 ECN', () => {
    expect(encodeTsOptions(0, -1, false, false)).toBe(0x0f);
    expect(encodeTsOptions(0, 0, false, false)).toBe(0x00);
    expect(encodeTsOptions(0, 7, true, false)).toBe(0x17);
    expect(encodeTsOptions(0, 2, false, true)).toBe(0x22);
    expect(encodeTsOptions(0, 14, true, true)).toBe(0x3e);
  });

  it('keeps the clock above the low 6 bits, unsigned, and replaces what was there', () => {
    expect(encodeTsOptions(0x12345678, 3, true, false)).toBe(0x12345640 | 0x13);
    expect(encodeTsOptions(0xffffffff, 0, false, false)).toBe(0xffffffc0);
    expect(encodeTsOptions(0x8000003f, 5, false, false)).toBe(0x80000005);
    // A wall clock in ms (beyond 2^32) is taken modulo 2^32 by the caller (wall >>> 0).
    const wall = 1_700_000_123_456;
    expect(encodeTsOptions(wall >>> 0, -1, false, false) >>> 6).toBe((wall >>> 0) >>> 6);
  });

  it('clamps a wscale above 14 to 14 (RFC 7323), never to the "none" code', () => {
    expect(decode(encodeTsOptions(0, 14, false, false)).ws).toBe(14);
    expect(decode(encodeTsOptions(0, 15, false, false)).ws).toBe(14);
    expect(decode(encodeTsOptions(0, 255, false, false)).ws).toBe(14);
  });

  it('round-trips every combination through the proxy’s decoding', () => {
    const rng = new Prng(9);
    for (let ws = -1; ws <= 14; ws++) {
      for (const sack of [false, true]) {
        for (const ecn of [false, true]) {
          const v = encodeTsOptions(rng.next(), ws, sack, ecn);
          expect(v).toBeGreaterThanOrEqual(0);
          expect(decode(v)).toEqual({ ws, sack, ecn });
        }
      }
    }
  });
});
