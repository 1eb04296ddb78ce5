// The SYN cache: the options (window scale, SACK, ECN) of clients whose SYN carried no timestamps,
// which a SYN cookie cannot encode, kept from the SYN until its third ACK (at most a few seconds).
// It is also the moderate tier's chart of every SYN's 4-tuple, timestamped or not: a SYN of a
// charted 4-tuple, whatever its ISN, is a retransmission, not a new SYN. Exact 4-tuple keys (tuple-key.ts),
// open addressing with backward-shift deletion, load ≤ 0.75: 47 bytes a slot, 63 an entry
// (4.1 MB at 65536 entries, where the connection table's layout took 12 MB).
import { randomFillSync } from 'node:crypto';
import {
  hashTuple,
  packPorts,
  TUPLE_WORDS,
  tupleAddresses,
  tupleEquals,
  tuplePorts,
  writeTuple,
} from './tuple-key.js';

/** Option bits of an entry. */
export const SynOpt = {
  SACK: 0x01,
  ECN: 0x02,
} as const;

const PROBE_LIMIT = 64;
const FREE = 0;

export class SynCache {
  /** Entries held at most. */
  readonly capacity: number;
  /** Slots (capacity × 4/3: probe runs stay short). */
  readonly slots: number;
  count = 0;
  private readonly seed: number;
  private readonly keys: Uint32Array;
  /** IP version of the slot's entry (4 or 6), FREE when empty. */
  private readonly family: Uint8Array;
  private readonly isnArr: Uint32Array;
  /** When the SYN was last seen: ms of the caller's clock, truncated, modulo 2^32. */
  private readonly seenAt: Uint32Array;
  private readonly wsArr: Int8Array;
  private readonly optArr: Uint8Array;
  private readonly scratch = new Uint8Array(32);
  private cursor = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(0, Math.floor(capacity));
    this.slots = Math.max(16, Math.ceil((this.capacity * 4) / 3));
    const seed = new Uint32Array(1);
    randomFillSync(seed);
    this.seed = seed[0];
    this.keys = new Uint32Array(this.slots * TUPLE_WORDS);
    this.family = new Uint8Array(this.slots);
    this.isnArr = new Uint32Array(this.slots);
    this.seenAt = new Uint32Array(this.slots);
    this.wsArr = new Int8Array(this.slots);
    this.optArr = new Uint8Array(this.slots);
  }

  /** Bytes of the typed arrays (what a worker pays for this cache). */
  get byteLength(): number {
    return (
      this.keys.byteLength +
      this.family.byteLength +
      this.isnArr.byteLength +
      this.seenAt.byteLength +
      this.wsArr.byteLength +
      this.optArr.byteLength
    );
  }

  private home(buf: Uint8Array, cOff: number, sOff: number, ver: number, ports: number): number {
    // Multiply-shift onto [0, slots): any slot count, not only powers of two.
    return Math.floor((hashTuple(this.seed, buf, cOff, sOff, ver, ports) * this.slots) / 0x1_0000_0000);
  }

  private next(slot: number): number {
    return slot + 1 === this.slots ? 0 : slot + 1;
  }

  /** Slot of the entry for this SYN's tuple (client addresses at cOff, server at sOff), or −1. */
  find(buf: Uint8Array, cOff: number, sOff: number, ver: number, cPort: number, sPort: number): number {
    const ports = packPorts(cPort, sPort);
    let slot = this.home(buf, cOff, sOff, ver, ports);
    for (let p = 0; p < PROBE_LIMIT; p++) {
      const f = this.family[slot];
      if (f === FREE) return -1;
      if (f === ver && tupleEquals(this.keys, slot * TUPLE_WORDS, buf, cOff, sOff, ver, ports)) return slot;
      slot = this.next(slot);
    }
    return -1;
  }

  /** Claims a slot for a tuple not held yet; −1 when full (nothing is displaced). */
  insert(buf: Uint8Array, cOff: number, sOff: number, ver: number, cPort: number, sPort: number): number {
    if (this.count >= this.capacity) return -1;
    const ports = packPorts(cPort, sPort);
    let slot = this.home(buf, cOff, sOff, ver, ports);
    for (let p = 0; p < PROBE_LIMIT; p++) {
      if (this.family[slot] === FREE) {
        writeTuple(this.keys, slot * TUPLE_WORDS, buf, cOff, sOff, ver, ports);
        this.family[slot] = ver;
        this.count++;
        return slot;
      }
      slot = this.next(slot);
    }
    return -1;
  }

  /** Records the SYN of a slot: its ISN, window scale (−1 = none), SynOpt bits and when. */
  set(slot: number, isn: number, wscale: number, opts: number, now: number): void {
    this.isnArr[slot] = isn;
    this.wsArr[slot] = wscale;
    this.optArr[slot] = opts;
    this.seenAt[slot] = now;
  }

  isn(slot: number): number {
    return this.isnArr[slot];
  }

  wscale(slot: number): number {
    return this.wsArr[slot];
  }

  /** SynOpt bits. */
  opts(slot: number): number {
    return this.optArr[slot];
  }

  /** Frees a slot, shifting later entries of its probe run back (no tombstones). */
  remove(slot: number): void {
    if (this.family[slot] === FREE) return;
    this.count--;
    let hole = slot;
    let j = slot;
    for (;;) {
      j = this.next(j);
      if (this.family[j] === FREE) break;
      const home = this.homeOf(j);
      // Move j into the hole when its home position does not lie cyclically in (hole, j].
      const inRange = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (!inRange) {
        const k = j * TUPLE_WORDS;
        this.keys.copyWithin(hole * TUPLE_WORDS, k, k + TUPLE_WORDS);
        this.family[hole] = this.family[j];
        this.isnArr[hole] = this.isnArr[j];
        this.seenAt[hole] = this.seenAt[j];
        this.wsArr[hole] = this.wsArr[j];
        this.optArr[hole] = this.optArr[j];
        hole = j;
      }
    }
    this.family[hole] = FREE;
  }

  private homeOf(slot: number): number {
    const k = slot * TUPLE_WORDS;
    tupleAddresses(this.keys, k, this.scratch);
    return this.home(this.scratch, 0, 16, this.family[slot], tuplePorts(this.keys, k));
  }

  /**
   * Looks at the next ⌈slots / fraction⌉ slots and frees the entries seen more than maxAgeMs ago
   * (now: the clock `set` was given): `fraction` calls cover the whole cache.
   */
  sweep(now: number, maxAgeMs: number, fraction: number): void {
    const n = this.slots;
    const step = Math.ceil(n / fraction);
    const t = now >>> 0;
    let c = this.cursor;
    for (let i = 0; i < step; i++, c = this.next(c)) {
      if (this.family[c] !== FREE && (t - this.seenAt[c]) >>> 0 > maxAgeMs) {
        this.remove(c);
        c = (c + n - 1) % n; // the removal may have shifted a later entry into this slot
      }
    }
    this.cursor = c;
  }

  /**
   * Removes every entry older than `maxAgeMs` and returns when the oldest one left will be (the
   * caller's clock; Infinity when none is left): a caller may sleep until then.
   */
  sweepAll(now: number, maxAgeMs: number): number {
    const t = now >>> 0;
    let youngest = -1;
    for (let c = 0; c < this.slots; c++) {
      if (this.family[c] === FREE) continue;
      const age = (t - this.seenAt[c]) >>> 0;
      if (age > maxAgeMs) {
        this.remove(c);
        c--; // the removal may have shifted a later entry into this slot
      } else if (age > youngest) youngest = age;
    }
    return youngest < 0 ? Number.POSITIVE_INFINITY : now + (maxAgeMs - youngest) + 1;
  }
}
