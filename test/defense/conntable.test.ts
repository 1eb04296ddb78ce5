// ConnTable: open addressing with backward-shift deletion over typed arrays, checked against a Map
// under long seeded operation sequences — dense collision clusters across the end of the slot
// array included — with every value array following its key when entries shift.
import { describe, expect, it } from 'vitest';
import { ConnFlag, ConnState, ConnTable } from '../../src/defense/conntable.js';
import { Prng } from '../packet/helpers.js';

/** A key laid out as in a packet: client address at C, server address at S (odd offsets on purpose). */
const C = 3;
const S = 21;

interface Key {
  ver: 4 | 6;
  client: Uint8Array;
  server: Uint8Array;
  cPort: number;
  sPort: number;
  buf: Uint8Array;
  text: string;
}

function key(ver: 4 | 6, client: Uint8Array, server: Uint8Array, cPort: number, sPort: number): Key {
  const buf = new Uint8Array(40);
  buf.set(client, C);
  buf.set(server, S);
  const hex = (a: Uint8Array) => Buffer.from(a).toString('hex');
  return {
    ver,
    client,
    server,
    cPort,
    sPort,
    buf,
    text: `${ver}|${hex(client)}|${cPort}|${hex(server)}|${sPort}`,
  };
}

function randomKey(rng: Prng, ver: 4 | 6 = rng.int(2) === 0 ? 4 : 6): Key {
  const n = ver === 4 ? 4 : 16;
  return key(ver, rng.bytes(n), rng.bytes(n), rng.int(65536), rng.int(65536));
}

const find = (t: ConnTable, k: Key) => t.find(k.buf, C, S, k.ver, k.cPort, k.sPort);
const insert = (t: ConnTable, k: Key) => t.insert(k.buf, C, S, k.ver, k.cPort, k.sPort);

/** Distinct values for every per-connection array, derived from an id. */
function setValues(t: ConnTable, s: number, id: number): void {
  t.state[s] = 1 + (id % 4);
  t.flags[s] = (id * 7) & 0xff;
  t.isnC[s] = Math.imul(id, 2654435761) >>> 0;
  t.isnP[s] = ~Math.imul(id, 2654435761) >>> 0;
  t.isnS[s] = Math.imul(id, 40503) >>> 0;
  t.delta[s] = (id ^ 0xdeadbeef) >>> 0;
  t.tsOff[s] = (id * 3 + 0x80000000) >>> 0;
  t.tsProxy[s] = (id * 5) >>> 0;
  t.tsClient[s] = (id * 11) >>> 0;
  t.wsClient[s] = (id % 16) - 1;
  t.wsAdv[s] = (id % 15) - 1;
  t.wsServer[s] = (id % 14) - 1;
  t.mss[s] = (id * 13) & 0xffff;
  t.winClient[s] = (id * 17) & 0xffff;
  t.lastSeen[s] = id * 1.5;
  t.timerAt[s] = id + 0.25;
  t.retries[s] = id % 3;
  t.dirty[s] = id & 1;
}

function valuesOf(t: ConnTable, s: number): number[] {
  return [
    t.state[s],
    t.flags[s],
    t.isnC[s],
    t.isnP[s],
    t.isnS[s],
    t.delta[s],
    t.tsOff[s],
    t.tsProxy[s],
    t.tsClient[s],
    t.wsClient[s],
    t.wsAdv[s],
    t.wsServer[s],
    t.mss[s],
    t.winClient[s],
    t.lastSeen[s],
    t.timerAt[s],
    t.retries[s],
    t.dirty[s],
  ];
}

const scratch = new ConnTable(1);
function expectedValues(id: number): number[] {
  setValues(scratch, 0, id);
  return valuesOf(scratch, 0);
}

/** The table's hash seed (private; only for failure messages, so a failing run can be replayed). */
const seedOf = (t: ConnTable) => (t as unknown as { seed: number }).seed;

/** Checks the table against the model: every key found with its values, nothing else live. */
function checkAgainst(
  t: ConnTable,
  model: Map<string, { k: Key; id: number }>,
  absent: Key[],
  where: string,
) {
  expect(t.count, where).toBe(model.size);
  let live = 0;
  for (let s = 0; s < t.slots; s++) if (t.state[s] !== ConnState.FREE) live++;
  expect(live, where).toBe(model.size);
  // Plain comparisons, one assertion: this runs over thousands of entries.
  const wrong: string[] = [];
  for (const { k, id } of model.values()) {
    const s = find(t, k);
    if (s < 0) wrong.push(`${k.text} lost`);
    else if (t.keyString(s) !== k.text) wrong.push(`${k.text} found as ${t.keyString(s)}`);
    else if (valuesOf(t, s).join() !== expectedValues(id).join())
      wrong.push(`${k.text}: values of another key`);
  }
  for (const k of absent)
    if (!model.has(k.text) && find(t, k) >= 0) wrong.push(`${k.text} found, never inserted`);
  expect(wrong, `${where} (table seed ${seedOf(t)})`).toEqual([]);
}

/** The home slot of a key in `t` (which must be empty): where an insert into an empty table lands. */
function homeIn(t: ConnTable, k: Key): number {
  const s = insert(t, k);
  t.remove(s);
  return s;
}

describe('ConnTable basics', () => {
  it('sizes the slot array to a power of two ≥ 1024 with load ≤ 0.5', () => {
    expect(new ConnTable(1).slots).toBe(1024);
    expect(new ConnTable(512).slots).toBe(1024);
    expect(new ConnTable(513).slots).toBe(2048);
    expect(new ConnTable(1000).slots).toBe(2048);
    expect(new ConnTable(70_000).slots).toBe(262_144);
    expect(new ConnTable(10).capacity).toBe(10);
  });

  it('inserts v4 and v6 keys as SYN_SENT with zeroed values, finds and removes them', () => {
    const rng = new Prng(1);
    const t = new ConnTable(100);
    const a = randomKey(rng, 4);
    const b = randomKey(rng, 6);
    // A v6 key whose first 4 address bytes and ports equal the v4 key's: a distinct key.
    const c6 = new Uint8Array(16);
    const s6 = new Uint8Array(16);
    c6.set(a.client);
    s6.set(a.server);
    const c = key(6, c6, s6, a.cPort, a.sPort);
    expect(find(t, a)).toBe(-1);
    const sa = insert(t, a);
    const sb = insert(t, b);
    expect(find(t, c)).toBe(-1);
    const sc = insert(t, c);
    expect(new Set([sa, sb, sc]).size).toBe(3);
    expect(t.count).toBe(3);
    expect(find(t, a)).toBe(sa);
    expect(find(t, b)).toBe(sb);
    expect(find(t, c)).toBe(sc);
    expect(t.state[sa]).toBe(ConnState.SYN_SENT);
    expect(t.flags[sa]).toBe(0);
    expect(t.flags[sb]).toBe(ConnFlag.IPV6);
    // Other port, other address, reversed direction: not found.
    expect(t.find(a.buf, C, S, 4, a.cPort ^ 1, a.sPort)).toBe(-1);
    expect(t.find(a.buf, S, C, 4, a.sPort, a.cPort)).toBe(-1);
    a.buf[C + 3] ^= 1;
    expect(find(t, a)).toBe(-1);
    a.buf[C + 3] ^= 1;
    t.remove(sb);
    expect(find(t, b)).toBe(-1);
    expect(find(t, a)).toBe(sa);
    expect(t.count).toBe(2);
    t.remove(sb); // removing a free slot changes nothing
    expect(t.count).toBe(2);
  });

  it('zeroes every value of a reused slot', () => {
    const rng = new Prng(2);
    const t = new ConnTable(10);
    const a = randomKey(rng, 6);
    const s = insert(t, a);
    setValues(t, s, 12345);
    t.remove(s);
    const s2 = insert(t, a);
    expect(s2).toBe(s);
    expect(valuesOf(t, s2)).toEqual([ConnState.SYN_SENT, ConnFlag.IPV6, ...new Array(16).fill(0)]);
  });

  it('refuses inserts beyond the capacity (−1), and takes them again after a removal', () => {
    const rng = new Prng(3);
    const t = new ConnTable(10);
    const keys = Array.from({ length: 11 }, () => randomKey(rng));
    for (let i = 0; i < 10; i++) expect(insert(t, keys[i])).toBeGreaterThanOrEqual(0);
    expect(t.count).toBe(10);
    expect(insert(t, keys[10])).toBe(-1);
    expect(t.count).toBe(10);
    expect(find(t, keys[10])).toBe(-1);
    t.remove(find(t, keys[4]));
    expect(insert(t, keys[10])).toBeGreaterThanOrEqual(0);
    expect(insert(t, keys[4])).toBe(-1);
    for (let i = 0; i < 11; i++) expect(find(t, keys[i]) >= 0).toBe(i !== 4);
  });

  it('gives up after 64 probes: a 65th key with the same home is refused though not full', () => {
    const rng = new Prng(4);
    const t = new ConnTable(500);
    const target = homeIn(t, randomKey(rng, 4));
    const same: Key[] = [];
    for (let i = 0; same.length < 66 && i < 400_000; i++) {
      const k = randomKey(rng, 4);
      if (homeIn(t, k) === target) same.push(k);
    }
    expect(same.length).toBe(66);
    for (let i = 0; i < 64; i++) expect(insert(t, same[i])).toBe((target + i) & (t.slots - 1));
    expect(insert(t, same[64])).toBe(-1);
    expect(t.count).toBe(64);
    for (let i = 0; i < 64; i++) expect(find(t, same[i])).toBe((target + i) & (t.slots - 1));
    expect(find(t, same[65])).toBe(-1);
    // Removing the first shifts the whole run back by one; the 65th then fits at the end.
    t.remove(target);
    for (let i = 1; i < 64; i++) expect(find(t, same[i])).toBe((target + i - 1) & (t.slots - 1));
    expect(insert(t, same[64])).toBe((target + 63) & (t.slots - 1));
  });
});

describe('ConnTable keys', () => {
  it('keyOf / keyString give the key as inserted; insertKey round-trips them (v4 and v6)', () => {
    const t = new ConnTable(100);
    const u = new ConnTable(100);
    const v4 = key(4, Uint8Array.from([203, 0, 113, 5]), Uint8Array.from([10, 0, 0, 1]), 40000, 80);
    const v6 = key(
      6,
      Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]),
      Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xff]),
      0,
      65535,
    );
    const s4 = insert(t, v4);
    const s6 = insert(t, v6);
    expect(t.keyString(s4)).toBe('4|cb007105|40000|0a000001|80');
    expect(t.keyString(s6)).toBe(
      '6|20010db80000000000000000deadbeef|0|fd0000000000000100000000000000ff|65535',
    );
    const k6 = t.keyOf(s6);
    expect(k6.ver).toBe(6);
    expect([...k6.client]).toEqual([...v6.client]);
    expect([...k6.server]).toEqual([...v6.server]);
    expect(k6.cPort).toBe(0);
    expect(k6.sPort).toBe(65535);
    const k4 = t.keyOf(s4);
    expect(k4.client).toHaveLength(4);
    expect([...k4.server]).toEqual([10, 0, 0, 1]);
    // Into another table (another hash seed): the same connection is found from packet bytes.
    const r4 = u.insertKey(t.keyString(s4));
    const r6 = u.insertKey(t.keyString(s6));
    expect(r4).toBeGreaterThanOrEqual(0);
    expect(r6).toBeGreaterThanOrEqual(0);
    expect(find(u, v4)).toBe(r4);
    expect(find(u, v6)).toBe(r6);
    expect(u.keyString(r6)).toBe(v6.text);
    expect(u.flags[r6]).toBe(ConnFlag.IPV6);
  });

  it('gives a slot’s addresses, ports, family and translation record through methods', () => {
    const t = new ConnTable(10);
    const v4 = key(4, Uint8Array.from([203, 0, 113, 5]), Uint8Array.from([10, 0, 0, 1]), 40000, 80);
    const v6 = key(
      6,
      Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]),
      Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xff]),
      1,
      65535,
    );
    // In a packet other bytes follow an IPv4 address (the destination, the ports): none is kept.
    v4.buf.fill(0xee, C + 4, S);
    v4.buf.fill(0xee, S + 4);
    const s4 = insert(t, v4);
    const s6 = insert(t, v6);
    const both = new Uint8Array(32).fill(0xaa);
    expect(t.addresses(s4, both)).toBe(4);
    expect([...both.subarray(0, 4)]).toEqual([203, 0, 113, 5]);
    expect([...both.subarray(16, 20)]).toEqual([10, 0, 0, 1]);
    expect(both.subarray(4, 16).every((b) => b === 0)).toBe(true);
    expect(both.subarray(20, 32).every((b) => b === 0)).toBe(true);
    expect(t.keyString(s4)).toBe('4|cb007105|40000|0a000001|80');
    expect([t.clientPort(s4), t.serverPort(s4), t.familyOf(s4)]).toEqual([40000, 80, 4]);
    expect(t.addresses(s6, both)).toBe(6);
    expect([...both.subarray(0, 16)]).toEqual([...v6.buf.subarray(C, C + 16)]);
    expect([...both.subarray(16)]).toEqual([...v6.buf.subarray(S, S + 16)]);
    expect([t.clientPort(s6), t.serverPort(s6), t.familyOf(s6)]).toEqual([1, 65535, 6]);
    const client = new Uint8Array(16);
    expect(t.clientAddr(s6, client)).toBe(6);
    expect([...client]).toEqual([...v6.buf.subarray(C, C + 16)]);
    t.delta[s6] = 0xfedcba98;
    t.tsOff[s6] = 12345;
    t.wsClient[s6] = 7;
    t.wsAdv[s6] = 9;
    t.wsServer[s6] = -1;
    t.flags[s6] |= ConnFlag.TS;
    const out = { delta: 0, ts: false, tsOff: 0, wsClient: 0, wsAdv: 0, wsServer: 0 };
    expect(t.seqAdj(s6, out)).toBe(out);
    expect(out).toEqual({ delta: 0xfedcba98, ts: true, tsOff: 12345, wsClient: 7, wsAdv: 9, wsServer: -1 });
    expect(t.seqAdj(s4, out).ts).toBe(false);
  });

  it('round-trips random keys through keyString → insertKey', () => {
    const rng = new Prng(5);
    const t = new ConnTable(3000);
    const u = new ConnTable(3000);
    for (let i = 0; i < 2000; i++) {
      const k = randomKey(rng);
      const s = insert(t, k);
      expect(t.keyString(s)).toBe(k.text);
      const r = u.insertKey(k.text);
      expect(find(u, k)).toBe(r);
    }
  });

  it('refuses malformed stored keys with −1 (never throws, never inserts a wrong key)', () => {
    const t = new ConnTable(10);
    for (const bad of [
      '',
      'garbage',
      '4',
      '4|0a000001',
      '4|0a000001|80',
      '4|0a000001|80|0a000002',
      '4|0a000001|80|0a000002|81|extra',
      '5|0a000001|80|0a000002|81',
      '6|0a000001|80|0a000002|81',
      '4|0a0000|80|0a000002|81',
      '4|zzzzzzzz|80|0a000002|81',
      '4|0a000001|x|0a000002|81',
      '4|0a000001|80|0a000002|',
      '4|0a000001|65536|0a000002|81',
      '4|0a000001|-1|0a000002|81',
    ]) {
      expect(() => t.insertKey(bad), JSON.stringify(bad)).not.toThrow();
      expect(t.insertKey(bad), JSON.stringify(bad)).toBe(-1);
    }
    expect(t.count).toBe(0);
  });
});

describe('ConnTable against a Map', () => {
  it('agrees under 40 000 random operations on uniformly hashed v4/v6 keys', () => {
    const rng = new Prng(0xc0ffee);
    const t = new ConnTable(3000);
    const pool = Array.from({ length: 5000 }, () => randomKey(rng));
    const model = new Map<string, { k: Key; id: number }>();
    let nextId = 1;
    let full = 0;
    for (let op = 0; op < 40_000; op++) {
      const k = pool[rng.int(pool.length)];
      const r = rng.int(10);
      const have = model.get(k.text);
      if (r < 6) {
        if (have) continue;
        const s = insert(t, k);
        if (model.size >= 3000) {
          expect(s).toBe(-1);
          full++;
          continue;
        }
        expect(s, `insert at op ${op}`).toBeGreaterThanOrEqual(0);
        const id = nextId++;
        setValues(t, s, id);
        model.set(k.text, { k, id });
      } else if (r < 8) {
        const s = find(t, k);
        if (!have) {
          expect(s).toBe(-1);
          continue;
        }
        t.remove(s);
        model.delete(k.text);
      } else {
        const s = find(t, k);
        expect(s >= 0, `find at op ${op}`).toBe(!!have);
        if (have) expect(valuesOf(t, s)).toEqual(expectedValues(have.id));
      }
      if (op % 5000 === 0) checkAgainst(t, model, pool.slice(0, 200), `op ${op}`);
    }
    checkAgainst(t, model, pool, 'end');
    expect(full).toBeGreaterThan(0); // the capacity limit was reached along the way
  });

  it('agrees under dense collision clusters, removing mid-run and across the end of the slot array', () => {
    const rng = new Prng(0xbadc0de);
    const t = new ConnTable(1000);
    const n = t.slots;
    // Keys whose home slot is one of a few: 6 slots straddling the wrap-around, 3 mid-array.
    const homes = new Set([n - 4, n - 3, n - 2, n - 1, 0, 1, 500, 501, 502]);
    const pool: { k: Key; home: number }[] = [];
    for (let i = 0; pool.length < 56 && i < 200_000; i++) {
      const k = randomKey(rng);
      const h = homeIn(t, k);
      if (homes.has(h)) pool.push({ k, home: h });
    }
    expect(pool.length).toBe(56);
    const homeOf = new Map(pool.map((p) => [p.k.text, p.home]));
    const model = new Map<string, { k: Key; id: number }>();
    let nextId = 1;
    let midRunRemovals = 0;
    let wrapMoves = 0;
    let moves = 0;
    for (let op = 0; op < 6000; op++) {
      const { k } = pool[rng.int(pool.length)];
      const have = model.get(k.text);
      if (!have && rng.int(3) !== 0) {
        const s = insert(t, k);
        expect(s, `insert at op ${op}`).toBeGreaterThanOrEqual(0);
        const id = nextId++;
        setValues(t, s, id);
        model.set(k.text, { k, id });
      } else if (have) {
        const before = new Map([...model.values()].map((e) => [e.k.text, find(t, e.k)]));
        const s = before.get(k.text)!;
        if (t.state[(s + 1) & (n - 1)] !== ConnState.FREE) midRunRemovals++;
        t.remove(s);
        model.delete(k.text);
        for (const e of model.values()) {
          const from = before.get(e.k.text)!;
          const to = find(t, e.k);
          if (to !== from) {
            moves++;
            // Backward shift: one step back along the run, possibly from slot 0.. to the end.
            if (to > from) wrapMoves++;
          }
        }
      }
      // Linear-probing invariant: no free slot between a key's home and its slot, within 64 probes.
      let broken = '';
      for (const e of model.values()) {
        const h = homeOf.get(e.k.text)!;
        const s = find(t, e.k);
        const dist = (s - h + n) & (n - 1);
        if (s < 0 || dist >= 64) broken = `${e.k.text} at ${s}, home ${h}`;
        for (let d = 0; d <= dist; d++) if (t.state[(h + d) & (n - 1)] === ConnState.FREE) broken = e.k.text;
      }
      if (broken !== '') expect.fail(`probe invariant broken at op ${op}: ${broken} (seed ${seedOf(t)})`);
      if (op % 200 === 0)
        checkAgainst(
          t,
          model,
          pool.map((p) => p.k),
          `op ${op}`,
        );
    }
    checkAgainst(
      t,
      model,
      pool.map((p) => p.k),
      'end',
    );
    expect(midRunRemovals).toBeGreaterThan(100);
    expect(moves).toBeGreaterThan(100);
    expect(wrapMoves).toBeGreaterThan(5);
  });

  it('moves every value array with its key when a removal shifts a run (explicit case)', () => {
    const rng = new Prng(7);
    const t = new ConnTable(100);
    const n = t.slots;
    // Three keys with home n-1: they sit at n-1, 0, 1. Removing the first shifts the others back.
    const run: Key[] = [];
    for (let i = 0; run.length < 3 && i < 100_000; i++) {
      const k = randomKey(rng);
      if (homeIn(t, k) === n - 1) run.push(k);
    }
    expect(run).toHaveLength(3);
    const slots = run.map((k) => insert(t, k));
    expect(slots).toEqual([n - 1, 0, 1]);
    run.forEach((_, i) => {
      setValues(t, slots[i], 100 + i);
    });
    t.remove(n - 1);
    expect(find(t, run[1])).toBe(n - 1);
    expect(find(t, run[2])).toBe(0);
    expect(valuesOf(t, n - 1)).toEqual(expectedValues(101));
    expect(valuesOf(t, 0)).toEqual(expectedValues(102));
    expect(t.state[1]).toBe(ConnState.FREE);
    expect(t.keyString(n - 1)).toBe(run[1].text);
    expect(t.count).toBe(2);
  });
});
