// IPv4/IPv6 prefix sets: CIDR strings parsed once into sorted, merged address ranges that a packet's
// address (read straight from the buffer) is matched against by binary search, without allocation.

/** A parsed prefix: network bytes (4 or 16, host bits clear) and length. */
export interface ParsedCidr {
  version: 4 | 6;
  bytes: Uint8Array;
  bits: number;
}

/** Parses a dotted-quad IPv4 address into 4 bytes; throws on anything else. */
export function parseIPv4(text: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`'${text}': an IPv4 address has four dot-separated numbers`);
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    // No leading zeros: "010" is octal to some parsers and decimal to others.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) {
      throw new Error(`'${text}': each IPv4 part is a number 0..255`);
    }
    out[i] = Number(p);
  }
  return out;
}

/** Parses an IPv6 address (with `::` and an optional dotted IPv4 tail) into 16 bytes. */
export function parseIPv6(text: string): Uint8Array {
  const bad = (why: string) => new Error(`'${text}': ${why}`);
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) throw bad('zone ids are not allowed');
  const groups: number[] = [];
  let tail: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(':');
  if (lastColon >= 0 && s.indexOf('.', lastColon) >= 0) {
    tail = parseIPv4(s.slice(lastColon + 1));
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) throw bad("'::' may appear only once");
  const parse = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').map((g) => {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad('each IPv6 group is 1..4 hex digits');
      return Number.parseInt(g, 16);
    });
  };
  if (dbl >= 0) {
    const head = parse(s.slice(0, dbl));
    const rest = parse(s.slice(dbl + 2));
    if (head.length + rest.length > 7) throw bad('too many groups');
    groups.push(...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest);
  } else {
    groups.push(...parse(s));
    if (groups.length !== 8) throw bad('an IPv6 address has eight groups (or uses ::)');
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i] >>> 8;
    out[2 * i + 1] = groups[i] & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** Parses an address of either family. */
export function parseIp(text: string): { version: 4 | 6; bytes: Uint8Array } {
  if (text.includes(':')) return { version: 6, bytes: parseIPv6(text) };
  return { version: 4, bytes: parseIPv4(text) };
}

/**
 * Parses "address/bits" or a bare address (a host prefix). With `strict` (the default) host bits
 * set are an error, since silently widening "10.0.0.1/8" to 10.0.0.0/8 could widen an allowlist;
 * without it they are cleared (for interface addresses such as "192.168.1.1/24").
 */
export function parseCidr(text: string, strict = true): ParsedCidr {
  const t = text.trim();
  const slash = t.indexOf('/');
  const { version, bytes } = parseIp(slash < 0 ? t : t.slice(0, slash));
  const max = version === 4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const b = t.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(b) || Number(b) > max) {
      throw new Error(`'${text}': prefix length must be 0..${max}`);
    }
    bits = Number(b);
  }
  const net = bytes.slice();
  for (let i = 0; i < net.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    net[i] &= (0xff << (8 - keep)) & 0xff;
  }
  if (strict && net.some((x, i) => x !== bytes[i])) {
    throw new Error(`'${text}': host bits set (the network is ${formatIp(net, 0, version)}/${bits})`);
  }
  return { version, bytes: net, bits };
}

/** Formats the 4- or 16-byte address at buf[off] (RFC 5952 for IPv6). Allocates: not for the hot path. */
export function formatIp(buf: Uint8Array, off: number, version: number): string {
  if (version === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]);
  // The longest run of two or more zero groups becomes '::' (the first such run on a tie).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

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
      const p = parseCidr(text, options.strict ?? true);
      const width = p.version === 4 ? 32n : 128n;
      const start = toBig(p.bytes);
      const end = start | ((1n << (width - BigInt(p.bits))) - 1n);
      (p.version === 4 ? v4 : v6).push([start, end]);
      names.add(`${formatIp(p.bytes, 0, p.version)}/${p.bits}`);
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
    const { version, bytes } = parseIp(address);
    return this.matches(bytes, 0, version);
  }
}

/** Accepts a matcher or a list of CIDR strings (undefined: the empty set). */
export function toMatcher(allow: PrefixMatcher | readonly string[] | undefined): PrefixMatcher {
  return allow instanceof PrefixMatcher ? allow : new PrefixMatcher(allow ?? []);
}
