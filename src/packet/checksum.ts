// Internet checksum (RFC 1071): accumulation, pseudo-headers, RFC 1624 and NEEDS_CSUM updates.
import { rd16 } from './bytes.js';
import type { PacketInfo } from './info.js';
import { Frag, IpProto } from './proto.js';
import { VnetFlags } from './vnet.js';

// Bytes summed before folding: 8192 words * 0xffff < 2^29, so the inner sum stays a small integer.
const CHUNK = 16384;

/** Folds a non-negative integer accumulator (any size up to 2^53) to 16 bits, end-around carry. */
export function foldSum(acc: number): number {
  while (acc > 0xffffffff) acc = (acc % 0x10000) + Math.floor(acc / 0x10000);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

/**
 * Adds the 16-bit big-endian words of buf[off, off+len) to `acc`; returns a folded 16-bit sum.
 * An odd final byte counts as the high byte of a zero-padded word, so chain calls only on
 * even-length pieces (except the last one).
 */
export function sumWords(buf: Uint8Array, off: number, len: number, acc: number): number {
  let s = foldSum(acc);
  const evenEnd = off + len - (len & 1);
  let i = off;
  while (i < evenEnd) {
    const stop = evenEnd - i > CHUNK ? i + CHUNK : evenEnd;
    let c = 0;
    for (; i + 8 <= stop; i += 8) {
      c += ((buf[i] << 8) | buf[i + 1]) + ((buf[i + 2] << 8) | buf[i + 3]);
      c += ((buf[i + 4] << 8) | buf[i + 5]) + ((buf[i + 6] << 8) | buf[i + 7]);
    }
    for (; i < stop; i += 2) c += (buf[i] << 8) | buf[i + 1];
    s = foldSum(s + c);
  }
  if ((len & 1) !== 0) s = foldSum(s + (buf[evenEnd] << 8));
  return s;
}

/** The checksum to store: the complement of the folded sum. */
export function finishChecksum(acc: number): number {
  return ~foldSum(acc) & 0xffff;
}

/** Folded sum of the IPv4 pseudo-header (addresses from the header at ipOff, proto, L4 length). */
export function pseudoSum4(buf: Uint8Array, ipOff: number, proto: number, l4Len: number): number {
  return foldSum(
    rd16(buf, ipOff + 12) +
      rd16(buf, ipOff + 14) +
      rd16(buf, ipOff + 16) +
      rd16(buf, ipOff + 18) +
      proto +
      (l4Len >>> 16) +
      (l4Len & 0xffff),
  );
}

/** Folded sum of the IPv4 pseudo-header from numeric addresses. */
export function pseudoSum4Addr(src: number, dst: number, proto: number, l4Len: number): number {
  return foldSum(
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + (l4Len >>> 16) + (l4Len & 0xffff),
  );
}

/**
 * Folded sum of the IPv6 pseudo-header (RFC 8200 8.1) using the addresses in the header at ipOff.
 * With a routing header the real pseudo-header uses the final destination: callers must check.
 */
export function pseudoSum6(buf: Uint8Array, ipOff: number, nextHdr: number, l4Len: number): number {
  let s = nextHdr + (l4Len >>> 16) + (l4Len & 0xffff);
  for (let i = ipOff + 8; i < ipOff + 40; i += 2) s += (buf[i] << 8) | buf[i + 1];
  return foldSum(s);
}

// ---- RFC 1624 eqn 3: HC' = ~(~HC + ~m + m') for a full (complemented) checksum ----

/** New checksum after the aligned 16-bit word `oldWord` became `newWord`. */
export function csumUpdate16(csum: number, oldWord: number, newWord: number): number {
  return ~foldSum((~csum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/** New checksum after the aligned 32-bit value `oldVal` became `newVal`. */
export function csumUpdate32(csum: number, oldVal: number, newVal: number): number {
  return (
    ~foldSum(
      (~csum & 0xffff) +
        (~(oldVal >>> 16) & 0xffff) +
        (~oldVal & 0xffff) +
        ((newVal >>> 16) & 0xffff) +
        (newVal & 0xffff),
    ) & 0xffff
  );
}

// A field at an odd offset from the checksum start straddles the word grid; its contribution is
// the aligned contribution with the two bytes swapped (x*256 mod 0xffff is a byte rotation).
function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}

/** csumUpdate16 for a 16-bit field at an odd offset from the start of the checksummed data. */
export function csumUpdate16Odd(csum: number, oldWord: number, newWord: number): number {
  const d = swap16(foldSum((~oldWord & 0xffff) + (newWord & 0xffff)));
  return ~foldSum((~csum & 0xffff) + d) & 0xffff;
}

/** csumUpdate32 for a 32-bit field at an odd offset from the start of the checksummed data. */
export function csumUpdate32Odd(csum: number, oldVal: number, newVal: number): number {
  const d = swap16(
    foldSum(
      (~(oldVal >>> 16) & 0xffff) + (~oldVal & 0xffff) + ((newVal >>> 16) & 0xffff) + (newVal & 0xffff),
    ),
  );
  return ~foldSum((~csum & 0xffff) + d) & 0xffff;
}

// ---- NEEDS_CSUM (CHECKSUM_PARTIAL): the field holds the folded, uncomplemented pseudo-header
// sum and the kernel sums everything from csum_start later. Edits to the L4 header or payload
// (seq, ack, window, options) need NO change; only pseudo-header edits (addresses, length) do,
// and they are applied uncomplemented: P' = P + ~m + m'. ----

/** New partial (pseudo-header) sum after a 16-bit pseudo-header word changed. */
export function partialUpdate16(partial: number, oldWord: number, newWord: number): number {
  return foldSum((partial & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff));
}

/** New partial (pseudo-header) sum after a 32-bit pseudo-header value (an IPv4 address) changed. */
export function partialUpdate32(partial: number, oldVal: number, newVal: number): number {
  return foldSum(
    (partial & 0xffff) +
      (~(oldVal >>> 16) & 0xffff) +
      (~oldVal & 0xffff) +
      ((newVal >>> 16) & 0xffff) +
      (newVal & 0xffff),
  );
}

/** Result of verifyL4Checksum. Only BAD means the packet is corrupt. */
export const CsumStatus = {
  OK: 0,
  BAD: 1,
  /** vnet DATA_VALID (kernel verified) or NEEDS_CSUM (not computed yet): nothing to verify. */
  TRUSTED: 2,
  /** UDP over IPv4 with checksum 0: the sender did not compute one. */
  ABSENT: 3,
  /** Fragment, IPv6 routing header with segments left, unknown protocol or too short. */
  NOT_APPLICABLE: 4,
} as const;

function l4Pseudo(buf: Uint8Array, info: PacketInfo, proto: number, len: number): number {
  return info.ipVersion === 4
    ? pseudoSum4(buf, info.l3Off, proto, len)
    : pseudoSum6(buf, info.l3Off, proto, len);
}

// Start sum (pseudo-header or 0) and covered length for the packet's L4 checksum; -1 = none.
// Writes the covered length into the scratch slot because returning two numbers would allocate.
let coveredLen = 0;
function l4Start(buf: Uint8Array, info: PacketInfo): number {
  if (info.fragment !== Frag.NONE || info.routingSegLeft !== 0) return -1;
  const p = info.l4Off;
  const n = info.l4Len;
  if (p + n > buf.length) return -1;
  switch (info.proto) {
    case IpProto.TCP:
      if (n < 20) return -1;
      coveredLen = n;
      return l4Pseudo(buf, info, IpProto.TCP, n);
    case IpProto.UDP: {
      if (n < 8) return -1;
      // The UDP length, not the IP payload length, bounds the checksum (surplus bytes are outside).
      const ul = rd16(buf, p + 4);
      if (ul < 8 || ul > n) return -1;
      coveredLen = ul;
      return l4Pseudo(buf, info, IpProto.UDP, ul);
    }
    case IpProto.ICMP:
      if (info.ipVersion !== 4 || n < 4) return -1;
      coveredLen = n;
      return 0; // ICMPv4 has no pseudo-header
    case IpProto.ICMPV6:
      if (info.ipVersion !== 6 || n < 4) return -1;
      coveredLen = n;
      return l4Pseudo(buf, info, IpProto.ICMPV6, n);
    default:
      return -1;
  }
}

/** Offset of the L4 checksum field within the L4 header for `proto`, or -1. */
export function l4CsumFieldOffset(proto: number): number {
  if (proto === IpProto.TCP) return 16;
  if (proto === IpProto.UDP) return 6;
  if (proto === IpProto.ICMP || proto === IpProto.ICMPV6) return 2;
  return -1;
}

/** Verifies the TCP/UDP/ICMP/ICMPv6 checksum of a classified packet; returns a CsumStatus. */
export function verifyL4Checksum(buf: Uint8Array, info: PacketInfo): number {
  if ((info.vnetFlags & (VnetFlags.NEEDS_CSUM | VnetFlags.DATA_VALID)) !== 0) return CsumStatus.TRUSTED;
  if (info.proto === IpProto.UDP && info.fragment === Frag.NONE && info.l4Len >= 8) {
    if (rd16(buf, info.l4Off + 6) === 0) return info.ipVersion === 4 ? CsumStatus.ABSENT : CsumStatus.BAD;
  }
  const start = l4Start(buf, info);
  if (start < 0) return CsumStatus.NOT_APPLICABLE;
  return sumWords(buf, info.l4Off, coveredLen, start) === 0xffff ? CsumStatus.OK : CsumStatus.BAD;
}

/** The full L4 checksum the packet should carry (field treated as zero), or -1 if none applies. */
export function computeL4Checksum(buf: Uint8Array, info: PacketInfo): number {
  const start = l4Start(buf, info);
  if (start < 0) return -1;
  const p = info.l4Off;
  const f = l4CsumFieldOffset(info.proto);
  // Sum around the field (it sits at an even offset) instead of subtracting it: correct even for
  // all-zero data, where subtraction would give the other ones-complement zero.
  const s = sumWords(buf, p + f + 2, coveredLen - f - 2, sumWords(buf, p, f, start));
  const c = finishChecksum(s);
  return info.proto === IpProto.UDP && c === 0 ? 0xffff : c; // UDP sends a computed 0 as 0xffff
}

/** Computes and stores the full L4 checksum; returns it, or -1 if none applies. */
export function fillL4Checksum(buf: Uint8Array, info: PacketInfo): number {
  const c = computeL4Checksum(buf, info);
  if (c >= 0) {
    const at = info.l4Off + l4CsumFieldOffset(info.proto);
    buf[at] = c >>> 8;
    buf[at + 1] = c;
  }
  return c;
}

/** Stores the NEEDS_CSUM partial value (folded pseudo-header sum) for TCP/UDP; returns it or -1. */
export function fillL4PartialChecksum(buf: Uint8Array, info: PacketInfo): number {
  if (info.proto !== IpProto.TCP && info.proto !== IpProto.UDP) return -1;
  if (info.fragment !== Frag.NONE || info.l4Len < (info.proto === IpProto.TCP ? 20 : 8)) return -1;
  const v = l4Pseudo(buf, info, info.proto, info.l4Len);
  const at = info.l4Off + l4CsumFieldOffset(info.proto);
  buf[at] = v >>> 8;
  buf[at + 1] = v;
  return v;
}
