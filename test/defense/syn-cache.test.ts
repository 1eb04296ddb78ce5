// The SYN cache: exact 4-tuple keys (v4 and v6 kept apart), its capacity as the bound, expiry by
// sweep, and backward-shift deletion checked against a Map under long seeded operation sequences
// (small caches, so probe runs wrap around the end of the slot array).
import { describe, expect, it } from 'vitest';
import { SynCache, SynOpt } from '../../src/defense/syn-cache.js';
import { Prng } from '../packet/helpers.js';

const C = 3;
const S = 21;

interface Key {
  ver: 4 | 6;
  buf: Uint8Array;
  cPort: number;
  sPort: number;
  text: string;
}

function key(ver: 4 | 6, client: Uint8Array, server: Uint8Array, cPort: number, sPort: number): Key {
  const buf = new Uint8Array(40);
  buf.set(client, C);
  buf.set(server, S);
  const hex = (a: Uint8Array) => Buffer.from(a).toString('hex');
  return { ver, buf, cPort, sPort, text: `${ver}|${hex(client)}|${cPort}|${hex(server)}|${sPort}` };
}

function randomKey(rng: Prng, ver: 4 | 6 = rng.int(2) === 0 ? 4 : 6): Key {
  const n = ver === 4 ? 4 : 16;
  return key(ver, rng.bytes(n), rng.bytes(n), rng.int(65536), rng.int(65536));
}

/**
 * Keys that share ports and differ in one address word only (each word of either address), and an
 * IPv4 key beside the IPv6 one whose words equal it: in a small cache they meet in one probe run, so
 * only the full comparison (family and every word) tells them apart.
 */
function twins(rng: Prng): Key[] {
  const base = randomKey(rng, 6);
  const client = base.buf.slice(C, C + 16);
  const server = base.buf.slice(S, S + 16);
  const out: Key[] = [base];
  for (let w = 0; w < 4; w++)
    for (const side of ['client', 'server'] as const) {
      const c = client.slice();
      const s = server.slice();
      (side === 'client' ? c : s)[w * 4 + 3] ^= 0x5a;
      out.push(key(6, c, s, base.cPort, base.sPort));
    }
  const v4c = client.slice(0, 4);
  const v4s = server.slice(0, 4);
  const six = (a: Uint8Array) => Uint8Array.from([...a, ...new Array(12).fill(0)]);
  out.push(key(4, v4c, v4s, base.cPort, base.sPort), key(6, six(v4c), six(v4s), base.cPort, base.sPort));
  return out;
}

const find = (c: SynCache, k: Key) => c.find(k.buf, C, S, k.ver, k.cPort, k.sPort);
const insert = (c: SynCache, k: Key) => c.insert(k.buf, C, S, k.ver, k.cPort, k.sPort);

describe('SynCache', () => {
  it('sizes its slots to the capacity × 4/3 (at least 16) and counts its bytes', () => {
    expect(new SynCache(0).slots).toBe(16);
    expect(new SynCache(3).slots).toBe(16);
    expect(new SynCache(4096).slots).toBe(5462);
    const c = new SynCache(65536);
    expect(c.slots).toBe(87382);
    // 9 key words, family, ISN, time, wscale, options: 47 bytes a slot.
    expect(c.byteLength).toBe(87382 * 47);
  });

  it('keeps ISN, window scale and options per exact tuple; v4 and v6 with equal words are distinct', () => {
    const rng = new Prng(11);
    const c = new SynCache(100);
    const a = randomKey(rng, 4);
    const c6 = new Uint8Array(16);
    const s6 = new Uint8Array(16);
    c6.set(a.buf.subarray(C, C + 4));
    s6.set(a.buf.subarray(S, S + 4));
    const b = key(6, c6, s6, a.cPort, a.sPort);
    expect(find(c, a)).toBe(-1);
    const sa = insert(c, a);
    expect(find(c, b)).toBe(-1);
    const sb = insert(c, b);
    expect(sa).not.toBe(sb);
    c.set(sa, 0xfffffffe, 14, SynOpt.SACK | SynOpt.ECN, 1000);
    c.set(sb, 7, -1, 0, 1000);
    expect([c.isn(sa), c.wscale(sa), c.opts(sa)]).toEqual([0xfffffffe, 14, SynOpt.SACK | SynOpt.ECN]);
    expect([c.isn(sb), c.wscale(sb), c.opts(sb)]).toEqual([7, -1, 0]);
    expect(find(c, a)).toBe(sa);
    expect(find(c, b)).toBe(sb);
    // Other port, reversed direction, another address byte: not found.
    expect(c.find(a.buf, C, S, 4, a.cPort ^ 1, a.sPort)).toBe(-1);
    expect(c.find(a.buf, S, C, 4, a.sPort, a.cPort)).toBe(-1);
    a.buf[S + 3] ^= 1;
    expect(find(c, a)).toBe(-1);
    a.buf[S + 3] ^= 1;
    c.remove(sa);
    expect(find(c, a)).toBe(-1);
    // b may have shifted back into a's slot (backward-shift deletion, when the seed put both in one
    // probe run): what must hold is that it is found with its own entry.
    const moved = find(c, b);
    expect(moved).toBeGreaterThanOrEqual(0);
    expect([c.isn(moved), c.wscale(moved), c.opts(moved)]).toEqual([7, -1, 0]);
    expect(c.count).toBe(1);
    c.remove(moved === sa ? sb : sa); // a free slot: nothing changes
    expect(c.count).toBe(1);
  });

  it('refuses entries beyond its capacity (capacity 0: none at all) and takes one again after a removal', () => {
    const rng = new Prng(12);
    expect(insert(new SynCache(0), randomKey(rng))).toBe(-1);
    const c = new SynCache(10);
    const keys = Array.from({ length: 11 }, () => randomKey(rng));
    for (let i = 0; i < 10; i++) expect(insert(c, keys[i])).toBeGreaterThanOrEqual(0);
    expect(insert(c, keys[10])).toBe(-1);
    expect(c.count).toBe(10);
    c.remove(find(c, keys[3]));
    expect(insert(c, keys[10])).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 11; i++) expect(find(c, keys[i]) >= 0).toBe(i !== 3);
  });

  it('sweeps about a tenth of its slots per call, freeing entries older than the age only', () => {
    const rng = new Prng(13);
    const c = new SynCache(1000);
    const old = Array.from({ length: 300 }, () => randomKey(rng));
    const young = Array.from({ length: 300 }, () => randomKey(rng));
    for (const k of old) c.set(insert(c, k), 1, -1, 0, 5_000);
    for (const k of young) c.set(insert(c, k), 2, -1, 0, 12_000);
    c.sweep(15_000, 10_000, 10);
    expect(c.count, 'nothing is older than 10 s yet').toBe(600);
    c.sweep(15_001, 10_000, 10);
    expect(c.count, 'one call looks at a tenth of the slots').toBeGreaterThan(500);
    // A removal re-examines its slot (an entry may have shifted into it): a pass may take a few more calls.
    for (let i = 0; i < 19; i++) c.sweep(15_001, 10_000, 10);
    // 15 001 − 5 000 > 10 000: the old ones went, the young ones stay.
    expect(c.count).toBe(300);
    expect(old.every((k) => find(c, k) < 0)).toBe(true);
    expect(young.every((k) => c.isn(find(c, k)) === 2)).toBe(true);
    // The clock wraps at 2^32 ms without expiring everything at once.
    const w = new SynCache(10);
    w.set(insert(w, old[0]), 3, -1, 0, 0xffff_fff0);
    for (let i = 0; i < 10; i++) w.sweep(0x1_0000_0000 + 5, 10_000, 10);
    expect(w.count).toBe(1);
    for (let i = 0; i < 10; i++) w.sweep(0x1_0000_0000 + 10_000, 10_000, 10);
    expect(w.count).toBe(0);
  });

  it('sweepAll frees every entry older than the age in one call and says when the next one will be', () => {
    const rng = new Prng(14);
    const c = new SynCache(12); // 16 slots: removals shift entries across the end of the array
    const ages = [5_000, 6_000, 7_000, 8_000, 9_000, 12_000, 13_000, 14_000, 15_000];
    const keys = ages.map(() => randomKey(rng));
    for (const [i, k] of keys.entries()) c.set(insert(c, k), i, -1, 0, ages[i]);
    expect(c.sweepAll(15_000, 10_000), 'none is older than 10 s; the oldest goes after 15 001').toBe(15_001);
    expect(c.count).toBe(9);
    expect(c.sweepAll(19_500, 10_000), 'the oldest left is of 12 000').toBe(22_001);
    expect(c.count, 'the five of 5 000-9 000 went').toBe(4);
    expect(keys.map((k) => find(c, k) >= 0)).toEqual(ages.map((a) => a >= 12_000));
    expect(c.sweepAll(30_000, 10_000)).toBe(Number.POSITIVE_INFINITY);
    expect(c.count).toBe(0);
    // The clock wraps at 2^32 ms without expiring everything at once.
    const w = new SynCache(10);
    w.set(insert(w, keys[0]), 3, -1, 0, 0xffff_fff0);
    expect(w.sweepAll(0x1_0000_0000 + 5, 10_000)).toBe(0x1_0000_0000 + 5 + 10_000 - 21 + 1);
    expect(w.count).toBe(1);
  });

  it('agrees with a Map under 30 000 random inserts and removals (small, wrapping caches; keys that differ in one word only)', () => {
    for (const seed of [21, 22, 23]) {
      const rng = new Prng(seed);
      const c = new SynCache(12); // 16 slots: runs wrap around the end
      const model = new Map<string, { k: Key; isn: number }>();
      const pool = [...Array.from({ length: 16 }, () => randomKey(rng)), ...twins(rng)];
      const wrong: string[] = [];
      for (let op = 0; op < 10_000; op++) {
        const k = pool[rng.int(pool.length)];
        if (rng.int(3) === 0) {
          const s = find(c, k);
          if (s >= 0) c.remove(s);
          model.delete(k.text);
        } else if (!model.has(k.text)) {
          const s = insert(c, k);
          if (s >= 0) {
            const isn = rng.next();
            c.set(s, isn, op % 15, op & 3, op);
            model.set(k.text, { k, isn });
          } else if (model.size < 12) wrong.push(`op ${op}: refused below capacity`);
        }
        if (op % 50 === 0) {
          if (c.count !== model.size) wrong.push(`op ${op}: count ${c.count} ≠ ${model.size}`);
          for (const p of pool) {
            const s = find(c, p);
            const m = model.get(p.text);
            if (s >= 0 !== (m !== undefined)) wrong.push(`op ${op}: ${p.text} ${s >= 0 ? 'found' : 'lost'}`);
            else if (m && c.isn(s) !== m.isn) wrong.push(`op ${op}: ${p.text} has another's ISN`);
          }
        }
      }
      expect(wrong, `seed ${seed}`).toEqual([]);
    }
  });
});
