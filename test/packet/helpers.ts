// Test helpers: hand-written packet bytes, an independent reference checksum, a seeded PRNG.

export type Bytes = ArrayLike<number>;

export function u16(v: number): number[] {
  return [(v >>> 8) & 0xff, v & 0xff];
}
export function u32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}
export function cat(...parts: Bytes[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) out[o + i] = p[i];
    o += p.length;
  }
  return out;
}
export function zeros(n: number): number[] {
  return new Array<number>(n).fill(0);
}

/**
 * Reference Internet checksum written independently of src/packet: one end-around carry per
 * added word (RFC 1071 done the slow, obvious way). Returns the value to store.
 */
export function refChecksum(data: Bytes): number {
  let s = 0;
  for (let i = 0; i < data.length; i += 2) {
    s += data[i] * 256 + (i + 1 < data.length ? data[i + 1] : 0);
    if (s > 0xffff) s -= 0xffff;
  }
  return ~s & 0xffff;
}

/** True when data (checksum field included) sums to all ones. */
export function refVerify(data: Bytes): boolean {
  return refChecksum(data) === 0;
}

export function pseudo4(src: number[], dst: number[], proto: number, len: number): number[] {
  return [...src, ...dst, 0, proto, ...u16(len)];
}
export function pseudo6(src: number[], dst: number[], proto: number, len: number): number[] {
  return [...src, ...dst, ...u32(len), 0, 0, 0, proto];
}

/** mulberry32: small, fast, deterministic. */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return this.next() % n;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

export const SRC4 = [192, 168, 1, 10];
export const DST4 = [10, 0, 0, 1];
export const SRC6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
export const DST6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2];

export interface TcpSpec {
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  win?: number;
  urg?: number;
  /** Raw option bytes; padded with EOL (0) to a multiple of 4 unless doff is given. */
  opts?: number[];
  /** Override the data offset (in 32-bit words). */
  doff?: number;
  payload?: Bytes;
}

/** TCP header + payload, checksum field 0 (v4()/v6() fill it). */
export function tcp(t: TcpSpec = {}): Uint8Array {
  const opts = [...(t.opts ?? [])];
  while (opts.length % 4 !== 0) opts.push(0);
  const doff = t.doff ?? 5 + opts.length / 4;
  return cat(
    u16(t.sport ?? 40000),
    u16(t.dport ?? 80),
    u32(t.seq ?? 1000),
    u32(t.ack ?? 0),
    [doff << 4, t.flags ?? 0x02],
    u16(t.win ?? 65535),
    [0, 0],
    u16(t.urg ?? 0),
    opts,
    t.payload ?? [],
  );
}

/** UDP header + payload, checksum 0; `len` overrides the length field. */
export function udp(payload: Bytes = [], sport = 5353, dport = 53, len?: number): Uint8Array {
  return cat(u16(sport), u16(dport), u16(len ?? 8 + payload.length), [0, 0], payload);
}

/** ICMP (v4 or v6) message: type, code, checksum 0, 4 bytes of rest, body. */
export function icmp(
  type: number,
  code: number,
  rest: number[] = [0, 0, 0, 0],
  body: Bytes = [],
): Uint8Array {
  return cat([type, code, 0, 0], rest, body);
}

export interface Ip4Spec {
  src?: number[];
  dst?: number[];
  proto?: number;
  ttl?: number;
  id?: number;
  /** Flags + fragment offset word. */
  frag?: number;
  tos?: number;
  /** IP options (padded with 0 to a multiple of 4). */
  options?: number[];
  /** Override the total length field. */
  totalLen?: number;
  /** Do not fill the L4 checksum. */
  noL4Csum?: boolean;
  /** Override the IHL nibble. */
  ihl?: number;
}

function l4CsumAt(proto: number): number {
  return proto === 6 ? 16 : proto === 17 ? 6 : proto === 1 || proto === 58 ? 2 : -1;
}

/** IPv4 packet around `l4`, header checksum and (TCP/UDP/ICMP) L4 checksum filled by the reference. */
export function v4(h: Ip4Spec, l4: Bytes): Uint8Array {
  const options = [...(h.options ?? [])];
  while (options.length % 4 !== 0) options.push(0);
  const hl = 20 + options.length;
  const src = h.src ?? SRC4;
  const dst = h.dst ?? DST4;
  const proto = h.proto ?? 6;
  const seg = cat(l4);
  const at = l4CsumAt(proto);
  const isFirstOrWhole = ((h.frag ?? 0) & 0x1fff) === 0;
  if (!h.noL4Csum && at >= 0 && seg.length >= at + 2 && isFirstOrWhole && !((h.frag ?? 0) & 0x2000)) {
    const c = proto === 1 ? refChecksum(seg) : refChecksum(cat(pseudo4(src, dst, proto, seg.length), seg));
    seg[at] = c >>> 8;
    seg[at + 1] = c & 0xff;
    if (proto === 17 && c === 0) seg[at] = seg[at + 1] = 0xff;
  }
  const hdr = cat(
    [0x40 | (h.ihl ?? hl / 4), h.tos ?? 0],
    u16(h.totalLen ?? hl + seg.length),
    u16(h.id ?? 0x1234),
    u16(h.frag ?? 0x4000),
    [h.ttl ?? 64, proto, 0, 0],
    src,
    dst,
    options,
  );
  const c = refChecksum(hdr.subarray(0, Math.min(hdr.length, (h.ihl ?? hl / 4) * 4)));
  hdr[10] = c >>> 8;
  hdr[11] = c & 0xff;
  return cat(hdr, seg);
}

export interface Ext6 {
  /** 0 HBH, 43 routing, 60 dest opts, 44 fragment, 51 AH, or any generic type. */
  type: number;
  /** Total length in bytes (generic: multiple of 8; AH: multiple of 4). Ignored for fragment. */
  len?: number;
  /** Fragment: offset in bytes (multiple of 8), M flag, id. */
  fragOff?: number;
  more?: boolean;
  id?: number;
  /** Routing: segments left. */
  segLeft?: number;
}

export interface Ip6Spec {
  src?: number[];
  dst?: number[];
  /** Upper-layer protocol (next header of the last extension header). */
  proto?: number;
  hop?: number;
  ext?: Ext6[];
  /** Override the payload length field. */
  payloadLen?: number;
  noL4Csum?: boolean;
}

function extBytes(e: Ext6, next: number): number[] {
  if (e.type === 44) {
    return [next, 0, ...u16((e.fragOff ?? 0) | (e.more ? 1 : 0)), ...u32(e.id ?? 0xabcdef)];
  }
  if (e.type === 51) {
    const len = e.len ?? 12;
    return [next, len / 4 - 2, ...zeros(len - 2)];
  }
  const len = e.len ?? 8;
  const b = [next, len / 8 - 1, ...zeros(len - 2)];
  if (e.type === 43) {
    b[2] = 0; // routing type 0 layout is enough for the walk
    b[3] = e.segLeft ?? 0;
  } else if (len >= 8) {
    b[2] = 1; // PadN option covering the rest
    b[3] = len - 4;
  }
  return b;
}

/** IPv6 packet with extension headers around `l4`; L4 checksum filled unless a fragment. */
export function v6(h: Ip6Spec, l4: Bytes): Uint8Array {
  const src = h.src ?? SRC6;
  const dst = h.dst ?? DST6;
  const proto = h.proto ?? 6;
  const ext = h.ext ?? [];
  const chain: number[] = [];
  for (let i = 0; i < ext.length; i++)
    chain.push(...extBytes(ext[i], i + 1 < ext.length ? ext[i + 1].type : proto));
  const seg = cat(l4);
  const at = l4CsumAt(proto);
  const fragmented = ext.some((e) => e.type === 44 && ((e.fragOff ?? 0) !== 0 || e.more));
  if (!h.noL4Csum && at >= 0 && proto !== 1 && seg.length >= at + 2 && !fragmented) {
    const c = refChecksum(cat(pseudo6(src, dst, proto, seg.length), seg));
    seg[at] = c >>> 8;
    seg[at + 1] = c & 0xff;
    if (proto === 17 && c === 0) seg[at] = seg[at + 1] = 0xff;
  }
  const first = ext.length > 0 ? ext[0].type : proto;
  return cat(
    [0x60, 0, 0, 0],
    u16(h.payloadLen ?? chain.length + seg.length),
    [first, h.hop ?? 64],
    src,
    dst,
    chain,
    seg,
  );
}

/** Prefixes a 10-byte little-endian virtio-net header. */
export function vnet(
  pkt: Bytes,
  flags = 0,
  gsoType = 0,
  hdrLen = 0,
  gsoSize = 0,
  csumStart = 0,
  csumOffset = 0,
): Uint8Array {
  const le = (v: number) => [v & 0xff, (v >>> 8) & 0xff];
  return cat([flags, gsoType], le(hdrLen), le(gsoSize), le(csumStart), le(csumOffset), pkt);
}

/** Verifies the L4 checksum of an unfragmented v4/v6 packet with the reference implementation. */
export function refL4Ok(pkt: Uint8Array, l3: number): boolean {
  const ver = pkt[l3] >>> 4;
  if (ver === 4) {
    const hl = (pkt[l3] & 15) * 4;
    const total = (pkt[l3 + 2] << 8) | pkt[l3 + 3];
    const proto = pkt[l3 + 9];
    const seg = pkt.subarray(l3 + hl, l3 + total);
    if (proto === 1) return refVerify(seg);
    const src = [...pkt.subarray(l3 + 12, l3 + 16)];
    const dst = [...pkt.subarray(l3 + 16, l3 + 20)];
    return refVerify(cat(pseudo4(src, dst, proto, seg.length), seg));
  }
  const plen = (pkt[l3 + 4] << 8) | pkt[l3 + 5];
  const seg = pkt.subarray(l3 + 40, l3 + 40 + plen); // only for packets without extension headers
  const src = [...pkt.subarray(l3 + 8, l3 + 24)];
  const dst = [...pkt.subarray(l3 + 24, l3 + 40)];
  return refVerify(cat(pseudo6(src, dst, pkt[l3 + 6], seg.length), seg));
}
