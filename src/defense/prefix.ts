// IPv4/IPv6 prefix sets: CIDR strings parsed once into sorted, merged address ranges that a packet's
// address (read straight from the buffer) is matched against by binary search, without allocation. The
// text is parsed by config/net.ts; the matching is here.

import { AddressSyntaxError, formatAddress, parseAddress, parsePrefix } from '../config/net.js';

/** Reads big-endian 32-bit word `w` (0..3) of the address at buf[off]. */
function word(buf: Uint8Array, off: number, w: number): number {
  const o = off + 4 * w;
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}

/** Compares a 128-bit address (a0..a3) with the 4 words at arr[i]: -1, 0 or 1. */
function cmp128(arr: Uint32Array, i: number, a0: number, a1: number, a2: number, a3: number): number {
  if (a0 !== arr[i]) return a0 < arr[i] ? -1 : 1;
  if (a1 !== arr[i + 1]) return a1 < arr[i + 1] ? -1 : 1;
  if (a2 !== arr[i + 2]) return a2 < arr[i + 2] ? -1 : 1;
  if (a3 !== arr[i + 3]) return a3 < arr[i + 3] ? -1 : 1;
  return 0;
}

function toBig(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function putBig(arr: Uint32Array, i: number, v: bigint): void {
  for (let w = 3; w >= 0; w--) {
    arr[i + w] = Number(v & 0xffffffffn);
    v >>= 32n;
  }
}

/** Sorts [start, end] ranges and merges overlapping or adjacent ones. */
function mergeRanges(r: [bigint, bigint][]): [bigint, bigint][] {
  r.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [s, e] of r) {
    const last = out[out.length - 1];
    if (last && s <= last[1] + 1n) {
      if (e > last[1]) last[1] = e;
    } else out.push([s, e]);
  }
  return out;
}

/**
 * An immutable set of IPv4 and IPv6 prefixes. IPv4 ranges live in a Uint32Array of [start, end]
 * pairs, IPv6 ranges in one of [start0..3, end0..3] octets of words; both sorted and disjoint, so a
 * match is one binary search. IPv4-mapped IPv6 addresses are IPv6 addresses here (they do not
 * cross a router on the wire).
 */
export class PrefixMatcher {
  /** The prefixes as given, normalised ("10.0.0.0/8", "2001:db8::/32"), deduplicated. */
  readonly prefixes: readonly string[];
  private readonly r4: Uint32Array;
  private readonly r6: Uint32Array;
  private readonly n4: number;
  private readonly n6: number;

  /** Parses `list` (CIDR strings or bare addresses); throws on the first bad entry, naming it. */
  constructor(list: readonly string[] = [], options: { strict?: boolean } = {}) {
    const v4: [bigint, bigint][] = [];
    const v6: [bigint, bigint][] = [];
    const names = new Set<string>();
    for (const text of list) {
      let p: ReturnType<typeof parsePrefix>;
      try {
        p = parsePrefix(text.trim(), options.strict ?? true);
      } catch (err) {
        if (err instanceof AddressSyntaxError) throw new AddressSyntaxError(`'${text}': ${err.message}`);
        throw err;
      }
      const width = p.family === 4 ? 32n : 128n;
      const start = toBig(p.bytes);
      const end = start | ((1n << (width - BigInt(p.bits))) - 1n);
      (p.family === 4 ? v4 : v6).push([start, end]);
      names.add(`${formatAddress(p.bytes)}/${p.bits}`);
    }
    this.prefixes = [...names];
    const m4 = mergeRanges(v4);
    const m6 = mergeRanges(v6);
    this.n4 = m4.length;
    this.n6 = m6.length;
    this.r4 = new Uint32Array(2 * m4.length);
    m4.forEach(([s, e], i) => {
      this.r4[2 * i] = Number(s);
      this.r4[2 * i + 1] = Number(e);
    });
    this.r6 = new Uint32Array(8 * m6.length);
    m6.forEach(([s, e], i) => {
      putBig(this.r6, 8 * i, s);
      putBig(this.r6, 8 * i + 4, e);
    });
  }

  /** True when no prefix of either family was given. */
  get empty(): boolean {
    return this.n4 === 0 && this.n6 === 0;
  }

  /** Whether the address at buf[addrOff] (4 bytes for version 4, else 16) is in the set. Hot path. */
  matches(buf: Uint8Array, addrOff: number, ipVersion: number): boolean {
    if (ipVersion === 4) return this.n4 !== 0 && this.matches4(word(buf, addrOff, 0));
    if (this.n6 === 0) return false;
    return this.matches6(
      word(buf, addrOff, 0),
      word(buf, addrOff, 1),
      word(buf, addrOff, 2),
      word(buf, addrOff, 3),
    );
  }

  /** IPv4 address as an unsigned 32-bit number. */
  matches4(a: number): boolean {
    const r = this.r4;
    // Last range whose start <= a.
    let lo = 0;
    let hi = this.n4 - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (r[2 * mid] <= a) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && a <= r[2 * found + 1];
  }

  /** IPv6 address as four unsigned 32-bit words, most significant first. */
  matches6(a0: number, a1: number, a2: number, a3: number): boolean {
    const r = this.r6;
    let lo = 0;
    let hi = this.n6 - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (cmp128(r, 8 * mid, a0, a1, a2, a3) >= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && cmp128(r, 8 * found + 4, a0, a1, a2, a3) <= 0;
  }

  /** Whether an address given as text is in the set (control plane; allocates). */
  has(address: string): boolean {
    const { family, bytes } = parseAddress(address);
    return this.matches(bytes, 0, family);
  }
}

/** Accepts a matcher or a list of CIDR strings (undefined: the empty set). */
export function toMatcher(allow: PrefixMatcher | readonly string[] | undefined): PrefixMatcher {
  return allow instanceof PrefixMatcher ? allow : new PrefixMatcher(allow ?? []);
}
