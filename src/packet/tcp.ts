// TCP header view, raw setters, and checksum-keeping editors for seq/ack/window/ports/options.
import { rd16, rd32, wr16, wr32 } from './bytes.js';
import { csumUpdate16, csumUpdate16Odd } from './checksum.js';
import type { TcpOptions } from './tcp-options.js';

export const TCP_MIN_HDR = 20;
/** Offset of the checksum field in the TCP header (virtio csum_offset). */
export const TCP_CSUM_OFF = 16;

export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

export function tcpSrcPort(buf: Uint8Array, off: number): number {
  return rd16(buf, off);
}
export function tcpDstPort(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 2);
}
export function tcpSeq(buf: Uint8Array, off: number): number {
  return rd32(buf, off + 4);
}
export function tcpAck(buf: Uint8Array, off: number): number {
  return rd32(buf, off + 8);
}
/** Header length in bytes (data offset * 4). */
export function tcpHeaderLen(buf: Uint8Array, off: number): number {
  return (buf[off + 12] >>> 4) << 2;
}
/** The 8 classic flag bits (byte 13). */
export function tcpFlags(buf: Uint8Array, off: number): number {
  return buf[off + 13];
}
export function tcpWindow(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 14);
}
export function tcpChecksum(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 16);
}
export function tcpUrgent(buf: Uint8Array, off: number): number {
  return rd16(buf, off + 18);
}

// ---- raw setters: no checksum maintenance (for building, or before fillL4Checksum) ----

export function tcpSetSrcPort(buf: Uint8Array, off: number, v: number): void {
  wr16(buf, off, v);
}
export function tcpSetDstPort(buf: Uint8Array, off: number, v: number): void {
  wr16(buf, off + 2, v);
}
export function tcpSetSeq(buf: Uint8Array, off: number, v: number): void {
  wr32(buf, off + 4, v);
}
export function tcpSetAck(buf: Uint8Array, off: number, v: number): void {
  wr32(buf, off + 8, v);
}
/** Sets the header length in bytes (a multiple of 4, 20..60); keeps the low (reserved/AE) bits. */
export function tcpSetHeaderLen(buf: Uint8Array, off: number, bytes: number): void {
  buf[off + 12] = ((bytes >>> 2) << 4) | (buf[off + 12] & 15);
}
export function tcpSetFlags(buf: Uint8Array, off: number, v: number): void {
  buf[off + 13] = v;
}
export function tcpSetWindow(buf: Uint8Array, off: number, v: number): void {
  wr16(buf, off + 14, v);
}
export function tcpSetChecksum(buf: Uint8Array, off: number, v: number): void {
  wr16(buf, off + 16, v);
}
export function tcpSetUrgent(buf: Uint8Array, off: number, v: number): void {
  wr16(buf, off + 18, v);
}

// ---- editors: keep a full checksum right (RFC 1624). With `partial` (vnet NEEDS_CSUM) the
// field holds the pseudo-header sum and the kernel sums the header later, so nothing to patch. ----

// Values above 2^30 are heap numbers in V8: passing one to a call that is not inlined allocates.
// So 32-bit edits travel as two 16-bit halves, and each half patches the checksum on its own
// (two exact RFC 1624 steps give the same result as one).
function setWord(buf: Uint8Array, l4Off: number, at: number, v: number, partial: boolean): void {
  const old = (buf[at] << 8) | buf[at + 1];
  if (old === v) return;
  buf[at] = v >>> 8;
  buf[at + 1] = v;
  if (partial) return;
  const cs = l4Off + 16;
  const c = (buf[cs] << 8) | buf[cs + 1];
  const n = ((at - l4Off) & 1) === 0 ? csumUpdate16(c, old, v) : csumUpdate16Odd(c, old, v);
  buf[cs] = n >>> 8;
  buf[cs + 1] = n;
}

// Adds (dHi << 16 | dLo) to the 32-bit value at `at`, modulo 2^32, in 16-bit halves.
function addAt(buf: Uint8Array, l4Off: number, at: number, dHi: number, dLo: number, partial: boolean): void {
  const lo = ((buf[at + 2] << 8) | buf[at + 3]) + dLo;
  const hi = ((buf[at] << 8) | buf[at + 1]) + dHi + (lo >>> 16);
  setWord(buf, l4Off, at, hi & 0xffff, partial);
  setWord(buf, l4Off, at + 2, lo & 0xffff, partial);
}

/** Writes the 16-bit value at absolute offset `at` inside the TCP header at l4Off (not the checksum). */
export function tcpRewrite16(
  buf: Uint8Array,
  l4Off: number,
  at: number,
  val: number,
  partial: boolean,
): void {
  setWord(buf, l4Off, at, val & 0xffff, partial);
}

/** Writes the 32-bit value at absolute offset `at` (options may sit at odd offsets). */
export function tcpRewrite32(
  buf: Uint8Array,
  l4Off: number,
  at: number,
  val: number,
  partial: boolean,
): void {
  setWord(buf, l4Off, at, (val >>> 16) & 0xffff, partial);
  setWord(buf, l4Off, at + 2, val & 0xffff, partial);
}

export function tcpRewriteSeq(buf: Uint8Array, l4Off: number, seq: number, partial: boolean): void {
  tcpRewrite32(buf, l4Off, l4Off + 4, seq, partial);
}
export function tcpRewriteAck(buf: Uint8Array, l4Off: number, ack: number, partial: boolean): void {
  tcpRewrite32(buf, l4Off, l4Off + 8, ack, partial);
}
/** Adds `delta` (may be negative) to seq, modulo 2^32. */
export function tcpAddSeq(buf: Uint8Array, l4Off: number, delta: number, partial: boolean): void {
  addAt(buf, l4Off, l4Off + 4, (delta >>> 16) & 0xffff, delta & 0xffff, partial);
}
/** Adds `delta` (may be negative) to ack, modulo 2^32. */
export function tcpAddAck(buf: Uint8Array, l4Off: number, delta: number, partial: boolean): void {
  addAt(buf, l4Off, l4Off + 8, (delta >>> 16) & 0xffff, delta & 0xffff, partial);
}
export function tcpRewriteWindow(buf: Uint8Array, l4Off: number, win: number, partial: boolean): void {
  tcpRewrite16(buf, l4Off, l4Off + 14, win, partial);
}
export function tcpRewriteSrcPort(buf: Uint8Array, l4Off: number, port: number, partial: boolean): void {
  tcpRewrite16(buf, l4Off, l4Off, port, partial);
}
export function tcpRewriteDstPort(buf: Uint8Array, l4Off: number, port: number, partial: boolean): void {
  tcpRewrite16(buf, l4Off, l4Off + 2, port, partial);
}

/** Rewrites the MSS option value (MSS clamping); false when the segment has none. */
export function tcpRewriteMss(
  buf: Uint8Array,
  l4Off: number,
  opts: TcpOptions,
  mss: number,
  partial: boolean,
): boolean {
  if (opts.mssOff === 0) return false;
  tcpRewrite16(buf, l4Off, opts.mssOff, mss, partial);
  opts.mss = mss & 0xffff;
  return true;
}

/** Rewrites TSval (parsed into `opts` by tcpParseOptions); false when there is no TS option. */
export function tcpRewriteTsVal(
  buf: Uint8Array,
  l4Off: number,
  opts: TcpOptions,
  val: number,
  partial: boolean,
): boolean {
  if (!opts.tsPresent) return false;
  tcpRewrite32(buf, l4Off, opts.tsOff, val, partial);
  opts.tsVal = val >>> 0;
  return true;
}

/** Rewrites TSecr; false when there is no TS option. */
export function tcpRewriteTsEcr(
  buf: Uint8Array,
  l4Off: number,
  opts: TcpOptions,
  val: number,
  partial: boolean,
): boolean {
  if (!opts.tsPresent) return false;
  tcpRewrite32(buf, l4Off, opts.tsOff + 4, val, partial);
  opts.tsEcr = val >>> 0;
  return true;
}

/** Left edge of SACK block i (no bounds check beyond i < sackBlockCount: returns 0 otherwise). */
export function tcpSackLeft(buf: Uint8Array, opts: TcpOptions, i: number): number {
  return i >= 0 && i < opts.sackBlockCount ? rd32(buf, opts.sackOff + (i << 3)) : 0;
}
/** Right edge of SACK block i. */
export function tcpSackRight(buf: Uint8Array, opts: TcpOptions, i: number): number {
  return i >= 0 && i < opts.sackBlockCount ? rd32(buf, opts.sackOff + (i << 3) + 4) : 0;
}

/** Rewrites SACK block i; false when there is no such block. */
export function tcpRewriteSackBlock(
  buf: Uint8Array,
  l4Off: number,
  opts: TcpOptions,
  i: number,
  left: number,
  right: number,
  partial: boolean,
): boolean {
  if (i < 0 || i >= opts.sackBlockCount) return false;
  const at = opts.sackOff + (i << 3);
  tcpRewrite32(buf, l4Off, at, left, partial);
  tcpRewrite32(buf, l4Off, at + 4, right, partial);
  return true;
}

/** Adds `delta` to every SACK edge (client→server translation subtracts δ). Returns blocks edited. */
export function tcpShiftSack(
  buf: Uint8Array,
  l4Off: number,
  opts: TcpOptions,
  delta: number,
  partial: boolean,
): number {
  return tcpShiftSackHalves(buf, l4Off, opts, (delta >>> 16) & 0xffff, delta & 0xffff, partial);
}

// ---- Allocation-free variants. A number above 2^30 (most seq/ack/TS values and deltas) is a
// heap number in V8: passing it to a call that is not inlined boxes it, one small allocation.
// These take 32-bit deltas as two 16-bit halves (hi = d >>> 16, lo = d & 0xffff), which never box;
// keep per-connection deltas in that form (e.g. a Uint16Array pair) on the hottest paths. ----

/**
 * Adds the delta (hi << 16 | lo, two's complement) to the 32-bit field at absolute offset `at`
 * (seq: l4Off+4, ack: l4Off+8, TSval: opts.tsOff, TSecr: opts.tsOff+4), keeping the checksum right.
 * The parsed values in TcpOptions are not updated.
 */
export function tcpAdd32Halves(
  buf: Uint8Array,
  l4Off: number,
  at: number,
  deltaHi: number,
  deltaLo: number,
  partial: boolean,
): void {
  addAt(buf, l4Off, at, deltaHi & 0xffff, deltaLo & 0xffff, partial);
}

/** tcpShiftSack with the delta as 16-bit halves. */
export function tcpShiftSackHalves(
  buf: Uint8Array,
  l4Off: number,
  opts: TcpOptions,
  deltaHi: number,
  deltaLo: number,
  partial: boolean,
): number {
  const n = opts.sackBlockCount;
  const hi = deltaHi & 0xffff;
  const lo = deltaLo & 0xffff;
  for (let i = 0; i < n; i++) {
    const at = opts.sackOff + (i << 3);
    addAt(buf, l4Off, at, hi, lo, partial);
    addAt(buf, l4Off, at + 4, hi, lo, partial);
  }
  return n;
}
