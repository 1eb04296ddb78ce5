// IPv4 header view and in-place editors that keep the header checksum right (RFC 791, RFC 1624).
import { rd16, rd32, wr16 } from './bytes.js';
import { csumUpdate16 } from './checksum.js';

export const IP4_MIN_HDR = 20;
/** Bits of the flags/fragment-offset word. */
export const IP4_DF = 0x4000;
export const IP4_MF = 0x2000;
export const IP4_OFFMASK = 0x1fff;

export function ip4Version(buf: Uint8Array, off: number): number {
  return buf[off] >>> 4;
}
/** Header length in bytes (IHL*4), options included. */
export function ip4HeaderLen(buf: Uint8Array, off: number): number {
  return (buf[off] & 15) << 2;
}
export function ip4Tos(buf: Uint8Array, off: number): number {
  return buf[off + 1];
}
export function ip4TotalLen(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 2);
}
export function ip4Id(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 4);
}
/** The raw flags + fragment offset word. */
export function ip4FragWord(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 6);
}
export function ip4DontFragment(buf: Uint8Array, off: number): boolean {
  return (buf[off + 6] & 0x40) !== 0;
}
export function ip4MoreFragments(buf: Uint8Array, off: number): boolean {
  return (buf[off + 6] & 0x20) !== 0;
}
/** Fragment offset in bytes. */
export function ip4FragOffset(buf: Uint8Array, off: number): number {
  return (rd16(buf, off + 6) & IP4_OFFMASK) << 3;
}
/** MF set or a non-zero offset. DF alone does not make a fragment. */
export function ip4IsFragment(buf: Uint8Array, off: number): boolean {
  return (rd16(buf, off + 6) & (IP4_MF | IP4_OFFMASK)) !== 0;
}
/** Offset 0 with MF: the fragment that carries the L4 header. */
export function ip4IsFirstFragment(buf: Uint8Array, off: number): boolean {
  return (rd16(buf, off + 6) & (IP4_MF | IP4_OFFMASK)) === IP4_MF;
}
export function ip4Ttl(buf: Uint8Array, off: number): number {
  return buf[off + 8];
}
export function ip4Proto(buf: Uint8Array, off: number): number {
  return buf[off + 9];
}
export function ip4Checksum(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 10);
}
export function ip4Src(buf: Uint8Array, off: number): number {
  return rd32(buf, off + 12);
}
export function ip4Dst(buf: Uint8Array, off: number): number {
  return rd32(buf, off + 16);
}

// Folded sum of the header's words; `hl` is the header length in bytes (a multiple of 4).
function headerSum(buf: Uint8Array, off: number, hl: number): number {
  let s = 0;
  for (let i = off; i < off + hl; i += 2) s += (buf[i] << 8) | buf[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The header checksum the header should carry (the field itself counted as zero). */
export function ip4ComputeChecksum(buf: Uint8Array, off: number): number {
  const s = headerSum(buf, off, ip4HeaderLen(buf, off)) + (~rd16(buf, off + 10) & 0xffff);
  // Subtracting the field (ones-complement) is exact here: version 4 keeps the data non-zero.
  return ~((s & 0xffff) + (s >>> 16)) & 0xffff;
}

/** True when the header (IHL*4 bytes, caller checked they exist) sums to 0xffff. */
export function ip4VerifyChecksum(buf: Uint8Array, off: number): boolean {
  return headerSum(buf, off, ip4HeaderLen(buf, off)) === 0xffff;
}

export function ip4FillChecksum(buf: Uint8Array, off: number): void {
  wr16(buf, off + 10, 0);
  wr16(buf, off + 10, ~headerSum(buf, off, ip4HeaderLen(buf, off)) & 0xffff);
}

// Replaces the 16-bit header word at `at` and patches the header checksum (RFC 1624).
function setWord(buf: Uint8Array, off: number, at: number, v: number): void {
  v &= 0xffff;
  const old = rd16(buf, at);
  wr16(buf, at, v);
  wr16(buf, off + 10, csumUpdate16(rd16(buf, off + 10), old, v));
}

/** Sets the TTL keeping the header checksum right (TTL shares a checksum word with proto). */
export function ip4SetTtl(buf: Uint8Array, off: number, ttl: number): void {
  setWord(buf, off, off + 8, ((ttl & 0xff) << 8) | buf[off + 9]);
}

/** Decrements the TTL (checksum kept right); returns the new TTL, or -1 if it was already 0. */
export function ip4DecTtl(buf: Uint8Array, off: number): number {
  const ttl = buf[off + 8];
  if (ttl === 0) return -1;
  ip4SetTtl(buf, off, ttl - 1);
  return ttl - 1;
}

export function ip4SetTotalLen(buf: Uint8Array, off: number, len: number): void {
  setWord(buf, off, off + 2, len);
}
export function ip4SetId(buf: Uint8Array, off: number, id: number): void {
  setWord(buf, off, off + 4, id);
}
export function ip4SetTos(buf: Uint8Array, off: number, tos: number): void {
  setWord(buf, off, off, (buf[off] << 8) | (tos & 0xff));
}

/**
 * Sets the source address keeping the header checksum right. The TCP/UDP checksum covers the
 * address through the pseudo-header: update it too (csumUpdate32, or partialUpdate32 when NEEDS_CSUM).
 */
export function ip4SetSrc(buf: Uint8Array, off: number, addr: number): void {
  // In 16-bit halves: a full 32-bit value crossing a call may be boxed by V8.
  setWord(buf, off, off + 12, (addr >>> 16) & 0xffff);
  setWord(buf, off, off + 14, addr & 0xffff);
}

/** Sets the destination address; same pseudo-header caveat as ip4SetSrc. */
export function ip4SetDst(buf: Uint8Array, off: number, addr: number): void {
  setWord(buf, off, off + 16, (addr >>> 16) & 0xffff);
  setWord(buf, off, off + 18, addr & 0xffff);
}
