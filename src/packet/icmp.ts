// ICMPv4/ICMPv6 header view: type/code, error-message fields, and the quoted inner IP header.
import { rd16, rd32, wr16 } from './bytes.js';
import { csumUpdate16 } from './checksum.js';

export const ICMP_HDR_LEN = 8;

export const Icmp4Type = {
  ECHO_REPLY: 0,
  DEST_UNREACH: 3,
  SOURCE_QUENCH: 4,
  REDIRECT: 5,
  ECHO: 8,
  TIME_EXCEEDED: 11,
  PARAM_PROBLEM: 12,
} as const;

/** DEST_UNREACH code "fragmentation needed and DF set": bytes 6-7 carry the next-hop MTU (RFC 1191). */
export const ICMP4_FRAG_NEEDED = 4;

export const Icmp6Type = {
  DEST_UNREACH: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAM_PROBLEM: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  ROUTER_SOLICIT: 133,
  ROUTER_ADVERT: 134,
  NEIGHBOR_SOLICIT: 135,
  NEIGHBOR_ADVERT: 136,
  REDIRECT: 137,
} as const;

export function icmpType(buf: Uint8Array, off: number): number {
  return buf[off];
}
export function icmpCode(buf: Uint8Array, off: number): number {
  return buf[off + 1];
}
export function icmpChecksum(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 2);
}
/** Echo request/reply identifier (both versions). */
export function icmpEchoId(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 4);
}
export function icmpEchoSeq(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 6);
}

/** ICMPv4 types that quote the offending datagram after the 8-byte header. */
export function icmp4IsError(type: number): boolean {
  return (
    type === Icmp4Type.DEST_UNREACH ||
    type === Icmp4Type.SOURCE_QUENCH ||
    type === Icmp4Type.REDIRECT ||
    type === Icmp4Type.TIME_EXCEEDED ||
    type === Icmp4Type.PARAM_PROBLEM
  );
}

/** ICMPv6 error messages are exactly the types below 128 (RFC 4443 2.1), known or not. */
export function icmp6IsError(type: number): boolean {
  return type < 128;
}

/** Next-hop MTU of an ICMPv4 frag-needed message (0 from pre-RFC 1191 routers). */
export function icmp4NextHopMtu(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 6);
}
/** MTU of an ICMPv6 packet-too-big message. */
export function icmp6Mtu(buf: Uint8Array, off: number): number {
  return rd32(buf, off + 4);
}
/** Parameter-problem pointer: one byte in ICMPv4, 32 bits in ICMPv6. */
export function icmp4ParamPointer(buf: Uint8Array, off: number): number {
  return buf[off + 4];
}
export function icmp6ParamPointer(buf: Uint8Array, off: number): number {
  return rd32(buf, off + 4);
}
/** Gateway address of an ICMPv4 redirect. */
export function icmp4Gateway(buf: Uint8Array, off: number): number {
  return rd32(buf, off + 4);
}

/** Sets the frag-needed next-hop MTU, keeping the (never offloaded) ICMP checksum right. */
export function icmp4SetNextHopMtu(buf: Uint8Array, off: number, mtu: number): void {
  const old = rd16(buf, off + 6);
  wr16(buf, off + 6, mtu);
  wr16(buf, off + 2, csumUpdate16(rd16(buf, off + 2), old, mtu & 0xffff));
}
/** Sets the packet-too-big MTU, keeping the checksum right (pseudo-header is unaffected). */
export function icmp6SetMtu(buf: Uint8Array, off: number, mtu: number): void {
  icmp6SetWord(buf, off, off + 4, (mtu >>> 16) & 0xffff);
  icmp6SetWord(buf, off, off + 6, mtu & 0xffff);
}

function icmp6SetWord(buf: Uint8Array, off: number, at: number, v: number): void {
  const old = rd16(buf, at);
  wr16(buf, at, v);
  wr16(buf, off + 2, csumUpdate16(rd16(buf, off + 2), old, v));
}

/**
 * Offset of the quoted IP header inside an ICMP error at `off` with `len` bytes of ICMP message,
 * or -1 when the message is not an error, or the quote is too short to hold an IP header of the
 * expected version (20 bytes IPv4 with a sane IHL, 40 bytes IPv6). Parse the quote with its own bounds.
 */
export function icmpErrorInnerOff(buf: Uint8Array, off: number, len: number, ipVersion: number): number {
  if (len < ICMP_HDR_LEN + 1 || off + len > buf.length) return -1;
  const inner = off + ICMP_HDR_LEN;
  if (ipVersion === 4) {
    if (!icmp4IsError(buf[off]) || len < ICMP_HDR_LEN + 20) return -1;
    const b = buf[inner];
    return b >>> 4 === 4 && (b & 15) >= 5 && ICMP_HDR_LEN + ((b & 15) << 2) <= len ? inner : -1;
  }
  if (ipVersion === 6) {
    if (!icmp6IsError(buf[off]) || len < ICMP_HDR_LEN + 40) return -1;
    return buf[inner] >>> 4 === 6 ? inner : -1;
  }
  return -1;
}
