// Builders for TCP/IPv4 and TCP/IPv6 segments (SYN-ACK, ACK, RST replies) into a caller buffer.
import { rd16, rd32, wr16, wr32 } from './bytes.js';
import { finishChecksum, pseudoSum4, pseudoSum6, sumWords } from './checksum.js';
import type { PacketInfo } from './info.js';
import { ip4FillChecksum } from './ip4.js';
import { Frag, IpProto } from './proto.js';
import { TcpFlag } from './tcp.js';
import { TcpOpt, TcpOptions } from './tcp-options.js';

/** What to put in a built segment; one instance is reused by the caller. */
export class TcpSegment {
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  urgent = 0;
  /** TTL (IPv4) or hop limit (IPv6). */
  ttl = 64;
  /** IPv4 TOS / IPv6 traffic class. */
  tos = 0;
  ipId = 0;
  dontFragment = true;
  flowLabel = 0;
  /** Options to encode: mss (>= 0), sackPermitted, tsPresent/tsVal/tsEcr, wscale (>= 0). */
  readonly opts = new TcpOptions();

  reset(): void {
    this.srcPort = 0;
    this.dstPort = 0;
    this.seq = 0;
    this.ack = 0;
    this.flags = 0;
    this.window = 0;
    this.urgent = 0;
    this.ttl = 64;
    this.tos = 0;
    this.ipId = 0;
    this.dontFragment = true;
    this.flowLabel = 0;
    this.opts.reset();
  }
}

/** Bytes writeTcpOptions would write for `opts` (a multiple of 4, at most 20). */
export function tcpOptionsLen(opts: TcpOptions): number {
  let n = opts.mss >= 0 ? 4 : 0;
  if (opts.tsPresent) n += 12;
  else if (opts.sackPermitted) n += 4;
  if (opts.wscale >= 0) n += 4;
  return n;
}

/**
 * Encodes MSS, SACK-permitted, timestamps and window scale in Linux's layout (tcp_options_write):
 * MSS; SACK_PERM+TS or NOP NOP TS or NOP NOP SACK_PERM; NOP WS. Every option stays 4-byte aligned,
 * so TSval/TSecr land on aligned words. Returns the bytes written. SACK blocks are not encoded.
 */
export function writeTcpOptions(buf: Uint8Array, off: number, opts: TcpOptions): number {
  let p = off;
  if (opts.mss >= 0) {
    buf[p] = TcpOpt.MSS;
    buf[p + 1] = 4;
    wr16(buf, p + 2, opts.mss);
    p += 4;
  }
  if (opts.tsPresent) {
    if (opts.sackPermitted) {
      buf[p] = TcpOpt.SACK_PERM;
      buf[p + 1] = 2;
    } else {
      buf[p] = TcpOpt.NOP;
      buf[p + 1] = TcpOpt.NOP;
    }
    buf[p + 2] = TcpOpt.TS;
    buf[p + 3] = 10;
    wr32(buf, p + 4, opts.tsVal);
    wr32(buf, p + 8, opts.tsEcr);
    p += 12;
  } else if (opts.sackPermitted) {
    buf[p] = TcpOpt.NOP;
    buf[p + 1] = TcpOpt.NOP;
    buf[p + 2] = TcpOpt.SACK_PERM;
    buf[p + 3] = 2;
    p += 4;
  }
  if (opts.wscale >= 0) {
    buf[p] = TcpOpt.NOP;
    buf[p + 1] = TcpOpt.WSCALE;
    buf[p + 2] = 3;
    buf[p + 3] = opts.wscale;
    p += 4;
  }
  return p - off;
}

// Writes the TCP header (checksum 0) and options at p; returns the TCP header length.
function writeTcpHeader(buf: Uint8Array, p: number, seg: TcpSegment): number {
  const hl = 20 + writeTcpOptions(buf, p + 20, seg.opts);
  wr16(buf, p, seg.srcPort);
  wr16(buf, p + 2, seg.dstPort);
  wr32(buf, p + 4, seg.seq);
  wr32(buf, p + 8, seg.ack);
  buf[p + 12] = (hl >>> 2) << 4;
  buf[p + 13] = seg.flags;
  wr16(buf, p + 14, seg.window);
  wr16(buf, p + 16, 0);
  wr16(buf, p + 18, seg.urgent);
  return hl;
}

// Completes an IPv4 + TCP segment whose addresses are already at off+12 / off+16.
function finishTcp4(buf: Uint8Array, off: number, seg: TcpSegment): number {
  const tl = writeTcpHeader(buf, off + 20, seg);
  const total = 20 + tl;
  buf[off] = 0x45;
  buf[off + 1] = seg.tos;
  wr16(buf, off + 2, total);
  wr16(buf, off + 4, seg.ipId);
  wr16(buf, off + 6, seg.dontFragment ? 0x4000 : 0);
  buf[off + 8] = seg.ttl;
  buf[off + 9] = IpProto.TCP;
  ip4FillChecksum(buf, off);
  wr16(buf, off + 36, finishChecksum(sumWords(buf, off + 20, tl, pseudoSum4(buf, off, IpProto.TCP, tl))));
  return total;
}

/**
 * Writes an IPv4 + TCP segment (no payload) at buf[off] with full IP and TCP checksums.
 * Addresses are numbers (ip4Src/ip4Dst give them from a packet). Returns the packet length.
 */
export function buildTcp4(buf: Uint8Array, off: number, src: number, dst: number, seg: TcpSegment): number {
  wr32(buf, off + 12, src);
  wr32(buf, off + 16, dst);
  return finishTcp4(buf, off, seg);
}

/**
 * Writes an IPv6 + TCP segment (no payload) at buf[off]; addresses are 16 bytes at srcOff/dstOff
 * of addrBuf, which may be `buf` itself, even overlapping the output (they are read first).
 */
export function buildTcp6(
  buf: Uint8Array,
  off: number,
  addrBuf: Uint8Array,
  srcOff: number,
  dstOff: number,
  seg: TcpSegment,
): number {
  const s0 = rd32(addrBuf, srcOff);
  const s1 = rd32(addrBuf, srcOff + 4);
  const s2 = rd32(addrBuf, srcOff + 8);
  const s3 = rd32(addrBuf, srcOff + 12);
  const d0 = rd32(addrBuf, dstOff);
  const d1 = rd32(addrBuf, dstOff + 4);
  const d2 = rd32(addrBuf, dstOff + 8);
  const d3 = rd32(addrBuf, dstOff + 12);
  wr32(buf, off + 8, s0);
  wr32(buf, off + 12, s1);
  wr32(buf, off + 16, s2);
  wr32(buf, off + 20, s3);
  wr32(buf, off + 24, d0);
  wr32(buf, off + 28, d1);
  wr32(buf, off + 32, d2);
  wr32(buf, off + 36, d3);
  const tl = writeTcpHeader(buf, off + 40, seg);
  buf[off] = 0x60 | ((seg.tos >>> 4) & 15);
  buf[off + 1] = ((seg.tos & 15) << 4) | ((seg.flowLabel >>> 16) & 15);
  wr16(buf, off + 2, seg.flowLabel);
  wr16(buf, off + 4, tl);
  buf[off + 6] = IpProto.TCP;
  buf[off + 7] = seg.ttl;
  const c = finishChecksum(sumWords(buf, off + 40, tl, pseudoSum6(buf, off, IpProto.TCP, tl)));
  wr16(buf, off + 56, c);
  return 40 + tl;
}

/**
 * Writes a reply to the classified TCP packet in inBuf: addresses and ports swapped, everything
 * else from `seg` (its ports are overwritten). Output may overlap the input. Returns the length,
 * 0 when `info` is not an IP packet.
 */
export function buildTcpReply(
  buf: Uint8Array,
  off: number,
  inBuf: Uint8Array,
  info: PacketInfo,
  seg: TcpSegment,
): number {
  seg.srcPort = info.dstPort;
  seg.dstPort = info.srcPort;
  if (info.ipVersion === 4) {
    // Copied as 16-bit halves (read all before writing: the output may overlap the input).
    const s = info.srcAddrOff;
    const d = info.dstAddrOff;
    const s0 = rd16(inBuf, s);
    const s1 = rd16(inBuf, s + 2);
    const d0 = rd16(inBuf, d);
    const d1 = rd16(inBuf, d + 2);
    wr16(buf, off + 12, d0);
    wr16(buf, off + 14, d1);
    wr16(buf, off + 16, s0);
    wr16(buf, off + 18, s1);
    return finishTcp4(buf, off, seg);
  }
  if (info.ipVersion === 6) return buildTcp6(buf, off, inBuf, info.dstAddrOff, info.srcAddrOff, seg);
  return 0;
}

/**
 * SYN-ACK answering the classified SYN: seq = iss, ack = its seq + 1. Window, options, TTL come
 * from `seg`. Returns the length (0 if `info` is not a TCP SYN).
 */
export function buildSynAckReply(
  buf: Uint8Array,
  off: number,
  inBuf: Uint8Array,
  info: PacketInfo,
  seg: TcpSegment,
  iss: number,
): number {
  if (info.proto !== IpProto.TCP || info.tcpHdrLen === 0 || (info.tcpFlags & TcpFlag.SYN) === 0) return 0;
  seg.seq = iss >>> 0;
  seg.ack = (info.tcpSeq + 1) >>> 0;
  seg.flags = TcpFlag.SYN | TcpFlag.ACK | (seg.flags & (TcpFlag.ECE | TcpFlag.CWR));
  return buildTcpReply(buf, off, inBuf, info, seg);
}

/**
 * Fills `seg` as the RST answering the classified segment (RFC 793 "Reset Generation"): if it has
 * ACK, seq = its ack and only RST; otherwise seq 0, ack = its seq + length (+1 each for SYN and
 * FIN) and RST|ACK. No options, window 0. False (seg untouched) for non-TCP, fragments, and RSTs,
 * which are never answered.
 */
export function prepareRst(info: PacketInfo, seg: TcpSegment): boolean {
  if (info.proto !== IpProto.TCP || info.fragment !== Frag.NONE || info.tcpHdrLen === 0) return false;
  const f = info.tcpFlags;
  if ((f & TcpFlag.RST) !== 0) return false;
  seg.opts.reset();
  seg.window = 0;
  seg.urgent = 0;
  if ((f & TcpFlag.ACK) !== 0) {
    seg.seq = info.tcpAck;
    seg.ack = 0;
    seg.flags = TcpFlag.RST;
  } else {
    seg.seq = 0;
    seg.ack = (info.tcpSeq + info.payloadLen + (f & TcpFlag.SYN ? 1 : 0) + (f & TcpFlag.FIN ? 1 : 0)) >>> 0;
    seg.flags = TcpFlag.RST | TcpFlag.ACK;
  }
  return true;
}

/** prepareRst + buildTcpReply; returns the length, 0 when no RST may be sent. */
export function buildRstReply(
  buf: Uint8Array,
  off: number,
  inBuf: Uint8Array,
  info: PacketInfo,
  seg: TcpSegment,
): number {
  return prepareRst(info, seg) ? buildTcpReply(buf, off, inBuf, info, seg) : 0;
}
