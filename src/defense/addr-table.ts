// AddrTable: a fixed-size open-addressing hash table keyed by an IPv4/IPv6 address read straight
// from a packet buffer. Keyed (random per table) hashing, linear probing within a short window, and
// eviction of the least recently seen entry of that window when it is full: memory never grows.
import { randomFillSync } from 'node:crypto';
import { formatAddressAt } from '../config/net.js';

/** Slot states in `fam`: empty, deleted (a tombstone probes pass over), or the key's IP version. */
const EMPTY = 0;
const DELETED = 1;

export interface AddrTableOptions {
  /** Slots in the window probed from a key's home slot (default 8). */
  probeLimit?: number;
  /**
   * Bits of an IPv6 address that form the key: 128 (default) or 64, which makes every address of a
   * /64 one entry (a host usually holds a whole /64, so per-address keys are trivially rotated).
   */
  v6PrefixLen?: 64 | 128;
  /** Fixed hash key seed for reproducible tests; default: random per table. */
  seed?: number;
}

/** splitmix32: expands a test seed into hash keys. */
function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Slot indices are stable for the life of an entry (deletion leaves a tombstone instead of shifting
 * entries), so owners keep their values in parallel typed arrays indexed by slot. `upsert` reports
 * through `created` whether the slot is new to the key (fresh or taken over from an evicted or
 * deleted entry): the owner then resets its values for that slot.
 *
 * Hash: multilinear over the address's 16-bit limbs with random 32-bit keys, sum mod 2^32, home slot
 * from the top bits (a multiply-shift family: for any two addresses the chance of the same home slot
 * is about 2/capacity over the random keys, whatever the addresses). An attacker who does not know the
 * keys cannot aim many sources at one probe window; the probe limit bounds the damage if they could.
 */
export class AddrTable {
  readonly capacity: number;
  readonly probeLimit: number;
  readonly v6PrefixLen: 64 | 128;
  /** EMPTY, DELETED, or 4 / 6 for a live key. */
  readonly fam: Uint8Array;
  /** Key words (big-endian 32-bit), four per slot; IPv4 uses the first. */
  readonly keys: Uint32Array;
  /**
   * When each live slot was last created or touched: ms of the caller's clock modulo 2^32 (4 bytes a
   * slot, not 8). Only ages are compared, `(now - seen) >>> 0`, right for ages under 49 days; an
   * older one only makes that entry look young to the eviction.
   */
  readonly seen: Uint32Array;
  /** Live entries. */
  size = 0;
  /** Live entries replaced to make room since construction (or the last clear()). */
  evictions = 0;
  /** Set by upsert(): true when the returned slot was (re)assigned to the key. */
  created = false;
  /** Set by upsert(): true when a live entry of another key was evicted for it. */
  evicted = false;
  private readonly shift: number;
  private readonly mask: number;
  private readonly v6Limbs: number;
  private readonly hk = new Uint32Array(12);

  /** `capacity` is rounded up to a power of two (at least 16). */
  constructor(capacity: number, options: AddrTableOptions = {}) {
    let cap = 16;
    while (cap < capacity) cap *= 2;
    if (cap > 1 << 26) throw new Error(`AddrTable capacity ${capacity} is too large`);
    this.capacity = cap;
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    this.probeLimit = Math.max(1, Math.min(options.probeLimit ?? 8, cap));
    this.v6PrefixLen = options.v6PrefixLen ?? 128;
    this.v6Limbs = this.v6PrefixLen === 64 ? 4 : 8;
    this.fam = new Uint8Array(cap);
    this.keys = new Uint32Array(cap * 4);
    this.seen = new Uint32Array(cap);
    if (options.seed === undefined) randomFillSync(this.hk);
    else {
      const next = splitmix32(options.seed);
      for (let i = 0; i < this.hk.length; i++) this.hk[i] = next();
    }
  }

  /** Home slot of the address at buf[off]. */
  private home(buf: Uint8Array, off: number, ver: number): number {
    const k = this.hk;
    let h: number;
    if (ver === 4) {
      h = k[10] + Math.imul(k[8], (buf[off] << 8) | buf[off + 1]);
      h += Math.imul(k[9], (buf[off + 2] << 8) | buf[off + 3]);
    } else {
      h = k[11];
      for (let i = 0; i < this.v6Limbs; i++)
        h += Math.imul(k[i], (buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]);
    }
    // The keyed sum alone is linear: sequential addresses would land in regular strides that
    // cluster for some keys. A final avalanche (murmur3's fmix32) scatters them.
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return (h >>> 0) >>> this.shift;
  }

  /** Whether slot `s` holds exactly the key at buf[off]. */
  private same(s: number, buf: Uint8Array, off: number, ver: number): boolean {
    if (this.fam[s] !== ver) return false;
    const kw = this.keys;
    const b = s << 2;
    if (kw[b] !== rdWord(buf, off)) return false;
    if (ver === 4) return true;
    if (kw[b + 1] !== rdWord(buf, off + 4)) return false;
    if (this.v6Limbs === 4) return true;
    return kw[b + 2] === rdWord(buf, off + 8) && kw[b + 3] === rdWord(buf, off + 12);
  }

  /** Slot of the key at buf[off] (4 bytes for version 4, else 16), or -1. Does not touch it. */
  find(buf: Uint8Array, off: number, ver: number): number {
    const h = this.home(buf, off, ver);
    const fam = this.fam;
    for (let i = 0; i < this.probeLimit; i++) {
      const s = (h + i) & this.mask;
      const f = fam[s];
      if (f === EMPTY) return -1;
      if (f === ver && this.same(s, buf, off, ver)) return s;
    }
    return -1;
  }

  /**
   * Slot of the key, inserting it when absent: into the first free slot of its window, else over the
   * entry of the window seen longest ago (counted in `evictions`). Sets `created` and `evicted`, and
   * marks the slot seen at `now`.
   */
  upsert(buf: Uint8Array, off: number, ver: number, now: number): number {
    const h = this.home(buf, off, ver);
    const fam = this.fam;
    const seen = this.seen;
    const now32 = now >>> 0;
    let free = -1;
    let oldest = -1;
    let oldestAge = -1;
    for (let i = 0; i < this.probeLimit; i++) {
      const s = (h + i) & this.mask;
      const f = fam[s];
      if (f === EMPTY) {
        if (free < 0) free = s;
        break; // the key cannot be further on
      }
      if (f === DELETED) {
        if (free < 0) free = s;
        continue;
      }
      if (f === ver && this.same(s, buf, off, ver)) {
        seen[s] = now;
        this.created = false;
        this.evicted = false;
        return s;
      }
      const age = (now32 - seen[s]) >>> 0;
      if (age > oldestAge) {
        oldestAge = age;
        oldest = s;
      }
    }
    let s = free;
    this.evicted = false;
    if (s < 0) {
      s = oldest;
      this.evicted = true;
      this.evictions++;
    } else this.size++;
    fam[s] = ver;
    const b = s << 2;
    const kw = this.keys;
    kw[b] = rdWord(buf, off);
    if (ver === 4) {
      kw[b + 1] = 0;
      kw[b + 2] = 0;
      kw[b + 3] = 0;
    } else {
      kw[b + 1] = rdWord(buf, off + 4);
      const full = this.v6Limbs === 8;
      kw[b + 2] = full ? rdWord(buf, off + 8) : 0;
      kw[b + 3] = full ? rdWord(buf, off + 12) : 0;
    }
    seen[s] = now;
    this.created = true;
    return s;
  }

  /** Whether slot `s` holds a live entry. */
  live(s: number): boolean {
    return this.fam[s] >= 4;
  }

  /** Deletes the entry in slot `s` (a tombstone keeps later keys of the window reachable). */
  remove(s: number): void {
    if (this.fam[s] < 4) return;
    // A tombstone followed by an empty slot is itself as good as empty.
    const nextEmpty = this.fam[(s + 1) & this.mask] === EMPTY;
    this.fam[s] = nextEmpty ? EMPTY : DELETED;
    this.size--;
  }

  /** Removes every entry (control plane: O(capacity)). */
  clear(): void {
    this.fam.fill(EMPTY);
    this.size = 0;
    this.evictions = 0;
  }

  /** IP version of the key in slot `s` (4 or 6), 0 when the slot is not live. */
  version(s: number): number {
    return this.fam[s] >= 4 ? this.fam[s] : 0;
  }

  /** The key of slot `s` as text ("192.0.2.1", "2001:db8::1", "2001:db8:1:2::/64"). Allocates. */
  keyText(s: number): string {
    const ver = this.fam[s];
    if (ver < 4) return '';
    const b = new Uint8Array(16);
    for (let w = 0; w < 4; w++) {
      const v = this.keys[(s << 2) + w];
      b[4 * w] = v >>> 24;
      b[4 * w + 1] = v >>> 16;
      b[4 * w + 2] = v >>> 8;
      b[4 * w + 3] = v;
    }
    const text = formatAddressAt(b, 0, ver);
    return ver === 6 && this.v6PrefixLen === 64 ? `${text}/64` : text;
  }
}

function rdWord(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}
