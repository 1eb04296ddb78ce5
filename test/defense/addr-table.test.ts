// AddrTable: lookups and inserts by address bytes, stable slots, LRU eviction in the probe window.
import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/config/net.js';
import { AddrTable } from '../../src/defense/addr-table.js';
import { Prng } from '../packet/helpers.js';

function addr(text: string): { buf: Uint8Array; ver: 4 | 6 } {
  const { family, bytes } = parseAddress(text);
  // Put it at an odd offset, as in a packet.
  const buf = new Uint8Array(40);
  buf.set(bytes, 3);
  return { buf, ver: family };
}

describe('AddrTable', () => {
  it('inserts, finds and removes IPv4 and IPv6 keys; slots are stable', () => {
    const t = new AddrTable(1000, { seed: 1 });
    expect(t.capacity).toBe(1024);
    const a = addr('192.0.2.1');
    const b = addr('2001:db8::1');
    // Same leading bytes, other family: a distinct key.
    const c = addr('c000:201::');
    expect(t.find(a.buf, 3, 4)).toBe(-1);
    const sa = t.upsert(a.buf, 3, 4, 10);
    expect(t.created).toBe(true);
    const sb = t.upsert(b.buf, 3, 6, 11);
    const sc = t.upsert(c.buf, 3, 6, 12);
    expect(new Set([sa, sb, sc]).size).toBe(3);
    expect(t.size).toBe(3);
    expect(t.upsert(a.buf, 3, 4, 20)).toBe(sa);
    expect(t.created).toBe(false);
    expect(t.seen[sa]).toBe(20);
    expect(t.find(b.buf, 3, 6)).toBe(sb);
    expect(t.keyText(sa)).toBe('192.0.2.1');
    expect(t.keyText(sb)).toBe('2001:db8::1');
    t.remove(sb);
    expect(t.find(b.buf, 3, 6)).toBe(-1);
    expect(t.find(c.buf, 3, 6)).toBe(sc);
    expect(t.size).toBe(2);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.find(a.buf, 3, 4)).toBe(-1);
  });

  it('keeps keys reachable past deleted slots (tombstones), with many keys in few windows', () => {
    const t = new AddrTable(64, { seed: 3, probeLimit: 64 });
    const rng = new Prng(5);
    const keys: Uint8Array[] = [];
    for (let i = 0; i < 48; i++) {
      const k = rng.bytes(4);
      if (keys.some((x) => x.every((v, j) => v === k[j]))) continue;
      keys.push(k);
      t.upsert(k, 0, 4, i);
    }
    expect(t.evictions).toBe(0);
    // Remove every other key; the rest stay findable, and re-inserting fills the holes.
    for (let i = 0; i < keys.length; i += 2) t.remove(t.find(keys[i], 0, 4));
    for (let i = 0; i < keys.length; i++) expect(t.find(keys[i], 0, 4) >= 0).toBe(i % 2 === 1);
    for (let i = 0; i < keys.length; i += 2) t.upsert(keys[i], 0, 4, 100);
    for (const k of keys) expect(t.find(k, 0, 4)).toBeGreaterThanOrEqual(0);
    expect(t.size).toBe(keys.length);
  });

  it('evicts the least recently seen entry of the window when it is full, and never grows', () => {
    // One window covering the whole table: every insert sees every slot.
    const t = new AddrTable(16, { seed: 9, probeLimit: 16 });
    const key = (i: number) => new Uint8Array([10, 0, 0, i]);
    for (let i = 0; i < 16; i++) t.upsert(key(i), 0, 4, 100 + i);
    expect(t.size).toBe(16);
    t.upsert(key(0), 0, 4, 200); // key 0 is now the most recent, key 1 the oldest
    const s = t.upsert(key(99), 0, 4, 201);
    expect(t.created).toBe(true);
    expect(t.evicted).toBe(true);
    expect(t.evictions).toBe(1);
    expect(t.find(key(1), 0, 4)).toBe(-1);
    expect(t.find(key(0), 0, 4)).toBeGreaterThanOrEqual(0);
    expect(t.keyText(s)).toBe('10.0.0.99');
    expect(t.size).toBe(16);
    for (let i = 0; i < 1000; i++) t.upsert(new Uint8Array([1, 2, i >> 8, i]), 0, 4, 300 + i);
    expect(t.size).toBe(16);
    expect(t.capacity).toBe(16);
  });

  it('evicts the least recently seen entry across the 2^32 ms wrap of its 4-byte clock', () => {
    const t = new AddrTable(16, { seed: 9, probeLimit: 16 });
    const key = (i: number) => new Uint8Array([10, 0, 1, i]);
    const wrap = 2 ** 32;
    t.upsert(key(0), 0, 4, wrap - 10); // the oldest: stored as 2^32 - 10
    for (let i = 1; i < 16; i++) t.upsert(key(i), 0, 4, wrap + i); // newer: stored as 1..15
    t.upsert(key(99), 0, 4, wrap + 20);
    expect(t.evicted).toBe(true);
    expect(t.find(key(0), 0, 4)).toBe(-1);
    for (let i = 1; i < 16; i++) expect(t.find(key(i), 0, 4)).toBeGreaterThanOrEqual(0);
  });

  it('tells full IPv6 keys apart by every byte, and reports created and evicted', () => {
    // A table of a few slots: every lookup probes the slot of the stored key, so only the comparison of
    // all 16 bytes tells the keys apart.
    const t = new AddrTable(4, { seed: 2 });
    const base = addr('2001:db8:1:2:3:4:5:6');
    const s0 = t.upsert(base.buf, 3, 6, 0);
    expect([t.created, t.evicted]).toEqual([true, false]);
    for (let i = 0; i < 16; i++) {
      const other = base.buf.slice();
      other[3 + i] ^= 0x10;
      expect(t.find(other, 3, 6), `byte ${i}`).toBe(-1);
    }
    expect(t.find(base.buf, 3, 6)).toBe(s0);
    expect(t.keyText(s0)).toBe('2001:db8:1:2:3:4:5:6');
    // An IPv4 key after an IPv6 one in the same slot keeps nothing of the longer key.
    t.remove(s0);
    const v4 = addr('198.51.100.1');
    const s4 = t.upsert(v4.buf, 3, 4, 1);
    expect(t.keyText(s4)).toBe('198.51.100.1');
    expect(t.version(s4)).toBe(4);
    expect(t.version(s0 === s4 ? (s0 + 1) % t.capacity : s0)).toBe(0);
    expect(t.upsert(v4.buf, 3, 4, 2)).toBe(s4);
    expect([t.created, t.evicted]).toEqual([false, false]);
  });

  it('refuses a capacity it cannot index', () => {
    expect(() => new AddrTable((1 << 26) + 1)).toThrow(`AddrTable capacity ${(1 << 26) + 1} is too large`);
  });

  it('keys IPv6 by /64 when asked', () => {
    const t = new AddrTable(64, { seed: 2, v6PrefixLen: 64 });
    const a = addr('2001:db8:1:2::1');
    const b = addr('2001:db8:1:2:ffff::9');
    const c = addr('2001:db8:1:3::1');
    const s = t.upsert(a.buf, 3, 6, 0);
    expect(t.upsert(b.buf, 3, 6, 1)).toBe(s);
    expect(t.find(c.buf, 3, 6)).toBe(-1);
    expect(t.keyText(s)).toBe('2001:db8:1:2::/64');
  });

  it('spreads keys with a random seed: different tables place the same keys differently', () => {
    const a = new AddrTable(1 << 12);
    const b = new AddrTable(1 << 12);
    let same = 0;
    for (let i = 0; i < 2000; i++) {
      const k = new Uint8Array([10, 0, i >> 8, i & 0xff]); // sequential: the easy case to get wrong
      if (a.upsert(k, 0, 4, 0) === b.upsert(k, 0, 4, 0)) same++;
    }
    expect(same).toBeLessThan(50);
    // At load ~0.5 an 8-slot probe window is full now and then (a random hash: ≤ 23 in 300 trials
    // of 2000 keys); those keys evict the oldest entry of the window instead of growing the table.
    expect(a.size + a.evictions).toBe(2000);
    expect(a.evictions).toBeLessThan(40);
  });
});
