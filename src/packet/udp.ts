// UDP header view and editors; a zero checksum over IPv4 means "none" and stays zero.
import { rd16, wr16 } from './bytes.js';
import { csumUpdate16 } from './checksum.js';

export const UDP_HDR_LEN = 8;
/** Offset of the checksum field in the UDP header (virtio csum_offset). */
export const UDP_CSUM_OFF = 6;

export function udpSrcPort(buf: Uint8Array, off: number): number {
  return rd16(buf, off);
}
export function udpDstPort(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 2);
}
/** Header + data length as declared by the datagram. */
export function udpLength(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 4);
}
export function udpChecksum(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 6);
}

export function udpSetSrcPort(buf: Uint8Array, off: number, v: number): void {
  wr16(buf, off, v);
}
export function udpSetDstPort(buf: Uint8Array, off: number, v: number): void {
  wr16(buf, off + 2, v);
}
export function udpSetLength(buf: Uint8Array, off: number, v: number): void {
  wr16(buf, off + 4, v);
}
export function udpSetChecksum(buf: Uint8Array, off: number, v: number): void {
  wr16(buf, off + 6, v);
}

/**
 * Writes the 16-bit value at absolute offset `at` (even offset from l4Off) keeping the checksum
 * right. A zero checksum (none, IPv4) is left alone; a computed 0 is stored as 0xffff (RFC 768).
 * With `partial` (NEEDS_CSUM) header edits need no patch.
 */
export function udpRewrite16(
  buf: Uint8Array,
  l4Off: number,
  at: number,
  val: number,
  partial: boolean,
): void {
  const old = rd16(buf, at);
  val &= 0xffff;
  if (old === val) return;
  wr16(buf, at, val);
  if (partial) return;
  const c = rd16(buf, l4Off + 6);
  if (c === 0) return;
  const n = csumUpdate16(c, old, val);
  wr16(buf, l4Off + 6, n === 0 ? 0xffff : n);
}

export function udpRewriteSrcPort(buf: Uint8Array, l4Off: number, port: number, partial: boolean): void {
  udpRewrite16(buf, l4Off, l4Off, port, partial);
}
export function udpRewriteDstPort(buf: Uint8Array, l4Off: number, port: number, partial: boolean): void {
  udpRewrite16(buf, l4Off, l4Off + 2, port, partial);
}
