// AddrRing: first in, first out, fixed memory, and a full ring refuses (counted) without losing an entry.
import { describe, expect, it } from 'vitest';
import { ADDR_BYTES, AddrRing } from '../../src/defense/addr-ring.js';

/** A 16-byte address whose last two bytes are `n`. */
function addr(n: number): Uint8Array {
  const a = new Uint8Array(ADDR_BYTES);
  a[0] = 0x20;
  a[1] = 0x01;
  a[14] = n >> 8;
  a[15] = n & 0xff;
  return a;
}

/** Takes everything out: [last two bytes, time] each, oldest first. */
function drain(r: AddrRing): [number, number][] {
  const out: [number, number][] = [];
  const a = new Uint8Array(ADDR_BYTES);
  while (r.size > 0) {
    const t = r.shift(a);
    out.push([(a[14] << 8) | a[15], t]);
  }
  return out;
}

describe('AddrRing', () => {
  it('gives entries back in the order they went in, across the wrap', () => {
    const r = new AddrRing(4);
    expect(r.headTime).toBe(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 3; i++) expect(r.push(addr(i), 0, 100 + i)).toBe(true);
    const a = new Uint8Array(ADDR_BYTES);
    expect(r.shift(a)).toBe(100);
    expect(a).toEqual(addr(0));
    expect(r.headTime).toBe(101);
    // Slots 3 and 0: the ring wraps.
    for (let i = 3; i < 5; i++) expect(r.push(addr(i), 0, 100 + i)).toBe(true);
    expect(r.slot(0)).toBe(1);
    expect(r.slot(3)).toBe(0);
    expect(r.addrs.subarray(0, ADDR_BYTES)).toEqual(addr(4));
    expect(drain(r)).toEqual([1, 2, 3, 4].map((i) => [i, 100 + i]));
    expect(r.shift(a)).toBeNaN();
  });

  it('reads the address at an offset and writes it at one', () => {
    const r = new AddrRing(2);
    const buf = new Uint8Array(40);
    buf.set(addr(7), 20);
    r.push(buf, 20, 5);
    const out = new Uint8Array(48);
    expect(r.shift(out, 32)).toBe(5);
    expect(out.subarray(32)).toEqual(addr(7));
    expect(out.subarray(0, 32).every((b) => b === 0)).toBe(true);
  });

  it('at its bound refuses and counts, and keeps every entry it holds', () => {
    const r = new AddrRing(3);
    for (let i = 0; i < 3; i++) r.push(addr(i), 0, i);
    expect(r.free).toBe(0);
    expect(r.push(addr(9), 0, 9)).toBe(false);
    expect(r.push(addr(10), 0, 10)).toBe(false);
    expect(r.refused).toBe(2);
    expect(r.size).toBe(3);
    expect(drain(r)).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
    ]);
    // Room again once entries left.
    expect(r.push(addr(11), 0, 11)).toBe(true);
    expect(r.refused).toBe(2);
    r.clear();
    expect(r.size).toBe(0);
    expect(r.headTime).toBe(Number.POSITIVE_INFINITY);
  });

  it('refuses a capacity it cannot hold', () => {
    expect(() => new AddrRing(0)).toThrow(/capacity/);
    expect(() => new AddrRing(1.5)).toThrow(/capacity/);
    expect(() => new AddrRing(2 ** 23)).toThrow(/capacity/);
  });
});
