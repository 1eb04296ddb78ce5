// IPv6 header view/editors and the bounded extension-header walk to the upper-layer header.
import { rd16, rd32, wr16 } from './bytes.js';
import { Malformed } from './malformed.js';
import { Frag, IpProto } from './proto.js';

export const IP6_HDR_LEN = 40;
/** Offsets of the addresses from the start of the IPv6 header. */
export const IP6_SRC = 8;
export const IP6_DST = 24;
/** Extension headers walked before giving up (TOO_MANY_EXT); bounds the work per packet. */
export const IP6_MAX_EXT = 8;

export function ip6Version(buf: Uint8Array, off: number): number {
  return buf[off] >>> 4;
}
export function ip6TrafficClass(buf: Uint8Array, off: number): number {
  return ((buf[off] & 15) << 4) | (buf[off + 1] >>> 4);
}
export function ip6FlowLabel(buf: Uint8Array, off: number): number {
  return ((buf[off + 1] & 15) << 16) | rd16(buf, off + 2);
}
/** Bytes after the fixed 40-byte header (extension headers included). */
export function ip6PayloadLen(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 4);
}
/** Not covered by any checksum, but TCP/UDP pseudo-headers use the upper-layer length derived from it. */
export function ip6SetPayloadLen(buf: Uint8Array, off: number, len: number): void {
  wr16(buf, off + 4, len);
}
export function ip6NextHeader(buf: Uint8Array, off: number): number {
  return buf[off + 6];
}
export function ip6HopLimit(buf: Uint8Array, off: number): number {
  return buf[off + 7];
}
/** No header checksum in IPv6: a plain store. */
export function ip6SetHopLimit(buf: Uint8Array, off: number, hl: number): void {
  buf[off + 7] = hl;
}
/** Decrements the hop limit; returns the new value, or -1 if it was already 0. */
export function ip6DecHopLimit(buf: Uint8Array, off: number): number {
  const hl = buf[off + 7];
  if (hl === 0) return -1;
  buf[off + 7] = hl - 1;
  return hl - 1;
}
export function ip6SrcOff(off: number): number {
  return off + IP6_SRC;
}
export function ip6DstOff(off: number): number {
  return off + IP6_DST;
}
/** Compares two 16-byte addresses. */
export function ip6AddrEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < 16; i += 4) if (rd32(a, aOff + i) !== rd32(b, bOff + i)) return false;
  return true;
}

/** Result of ip6WalkExt; one instance is reused. */
export class Ip6Walk {
  /** Upper-layer protocol (or, for a non-first fragment, the fragment header's next header). */
  proto = 0;
  /** Offset of the upper-layer header (or of the fragment data for a non-first fragment). */
  l4Off = 0;
  /** Frag.NONE / FIRST / NON_FIRST. */
  fragment = 0;
  /** Fragment offset in bytes. */
  fragOffset = 0;
  /** 1 when the fragment header's M flag is set. */
  fragMore = 0;
  fragId = 0;
  /** Offset of the fragment header, 0 if none. */
  fragHdrOff = 0;
  extCount = 0;
  /** Segments left of the last routing header: when non-zero the destination is not final. */
  routingSegLeft = 0;

  reset(): void {
    this.proto = 0;
    this.l4Off = 0;
    this.fragment = 0;
    this.fragOffset = 0;
    this.fragMore = 0;
    this.fragId = 0;
    this.fragHdrOff = 0;
    this.extCount = 0;
    this.routingSegLeft = 0;
  }
}

/**
 * Walks the extension headers of the IPv6 packet at `off` up to `end` (the declared packet end,
 * which the caller checked lies inside the buffer). Returns 0, TOO_MANY_EXT or TRUNCATED_EXT.
 * ESP, no-next-header (59) and unknown values stop the walk as the upper layer.
 */
export function ip6WalkExt(buf: Uint8Array, off: number, end: number, out: Ip6Walk): number {
  out.reset();
  let next = buf[off + 6];
  let p = off + IP6_HDR_LEN;
  let count = 0;
  for (;;) {
    switch (next) {
      case IpProto.HOPOPTS:
      case IpProto.ROUTING:
      case IpProto.DSTOPTS:
      // RFC 7045 lists these with the generic (next header, 8-octet length) layout.
      case IpProto.MOBILITY:
      case IpProto.HIP:
      case IpProto.SHIM6: {
        if (count === IP6_MAX_EXT) return Malformed.TOO_MANY_EXT;
        if (p + 8 > end) return Malformed.TRUNCATED_EXT; // every one is at least 8 bytes
        const hl = (buf[p + 1] + 1) << 3;
        if (p + hl > end) return Malformed.TRUNCATED_EXT;
        if (next === IpProto.ROUTING) out.routingSegLeft = buf[p + 3];
        count++;
        next = buf[p];
        p += hl;
        break;
      }
      case IpProto.AH: {
        // AH counts its length in 4-octet units minus 2 (RFC 4302).
        if (count === IP6_MAX_EXT) return Malformed.TOO_MANY_EXT;
        if (p + 8 > end) return Malformed.TRUNCATED_EXT;
        const hl = (buf[p + 1] + 2) << 2;
        if (p + hl > end) return Malformed.TRUNCATED_EXT;
        count++;
        next = buf[p];
        p += hl;
        break;
      }
      case IpProto.FRAGMENT: {
        if (count === IP6_MAX_EXT) return Malformed.TOO_MANY_EXT;
        if (p + 8 > end) return Malformed.TRUNCATED_EXT;
        count++;
        const w = rd16(buf, p + 2);
        const fo = w & 0xfff8;
        out.fragHdrOff = p;
        out.fragId = rd32(buf, p + 4);
        next = buf[p];
        p += 8;
        if (fo !== 0) {
          // Later headers belong to the middle of the datagram: nothing more to parse.
          out.fragment = Frag.NON_FIRST;
          out.fragOffset = fo;
          out.fragMore = w & 1;
          out.proto = next;
          out.l4Off = p;
          out.extCount = count;
          return 0;
        }
        if ((w & 1) !== 0) {
          out.fragment = Frag.FIRST;
          out.fragMore = 1;
        } // else an atomic fragment (RFC 6946): the whole datagram, parse on
        break;
      }
      default:
        out.proto = next;
        out.l4Off = p;
        out.extCount = count;
        return 0;
    }
  }
}
