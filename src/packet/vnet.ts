// virtio_net_hdr (the 10-byte TUN offload header): field access, clearing and validation.
// Fields are little-endian: TUN uses host order and big-endian hosts are switched with TUNSETVNETLE.

export const VNET_HDR_LEN = 10;

export const VnetFlags = {
  /** Checksum is partial: field at csum_start+csum_offset holds the pseudo-header sum. */
  NEEDS_CSUM: 1,
  /** The kernel already verified the checksum. */
  DATA_VALID: 2,
} as const;

export const GsoType = {
  NONE: 0,
  TCPV4: 1,
  /** UFO (IP fragmentation of UDP); deprecated but still accepted by the kernel. */
  UDP: 3,
  TCPV6: 4,
  /** USO: UDP segmentation (Linux >= 6.2 on TUN). */
  UDP_L4: 5,
  /** Flag bit: the TCP super-packet carries CWR (segments must keep ECN semantics). */
  ECN: 0x80,
} as const;

function rdLe16(buf: Uint8Array, o: number): number {
  return buf[o] | (buf[o + 1] << 8);
}

function wrLe16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v;
  buf[o + 1] = v >>> 8;
}

export function vnetFlags(buf: Uint8Array, off: number): number {
  return buf[off];
}
export function vnetGsoType(buf: Uint8Array, off: number): number {
  return buf[off + 1];
}
/** hdr_len as written by the sender: informational only, never trust it on read. */
export function vnetHdrLen(buf: Uint8Array, off: number): number {
  return rdLe16(buf, off + 2);
}
export function vnetGsoSize(buf: Uint8Array, off: number): number {
  return rdLe16(buf, off + 4);
}
/** Start of the checksummed region, relative to the first byte after the vnet header. */
export function vnetCsumStart(buf: Uint8Array, off: number): number {
  return rdLe16(buf, off + 6);
}
/** Offset of the checksum field from csum_start (16 for TCP, 6 for UDP). */
export function vnetCsumOffset(buf: Uint8Array, off: number): number {
  return rdLe16(buf, off + 8);
}

export function vnetSetFlags(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v;
}
export function vnetSetGsoType(buf: Uint8Array, off: number, v: number): void {
  buf[off + 1] = v;
}
export function vnetSetHdrLen(buf: Uint8Array, off: number, v: number): void {
  wrLe16(buf, off + 2, v);
}
export function vnetSetGsoSize(buf: Uint8Array, off: number, v: number): void {
  wrLe16(buf, off + 4, v);
}
export function vnetSetCsumStart(buf: Uint8Array, off: number, v: number): void {
  wrLe16(buf, off + 6, v);
}
export function vnetSetCsumOffset(buf: Uint8Array, off: number, v: number): void {
  wrLe16(buf, off + 8, v);
}

/** Zeroes the header: no offload, full checksums in the packet (what packets we build carry). */
export function vnetClear(buf: Uint8Array, off: number): void {
  for (let i = 0; i < VNET_HDR_LEN; i++) buf[off + i] = 0;
}

/** Writes every field at once. */
export function vnetWrite(
  buf: Uint8Array,
  off: number,
  flags: number,
  gsoType: number,
  hdrLen: number,
  gsoSize: number,
  csumStart: number,
  csumOffset: number,
): void {
  buf[off] = flags;
  buf[off + 1] = gsoType;
  wrLe16(buf, off + 2, hdrLen);
  wrLe16(buf, off + 4, gsoSize);
  wrLe16(buf, off + 6, csumStart);
  wrLe16(buf, off + 8, csumOffset);
}

/**
 * The real header length of an offloaded packet, computed rather than read from hdr_len:
 * csum_start + doff*4 for TCP GSO, csum_start + 8 for UDP GSO. `pktLen` counts the bytes after
 * the vnet header. Returns -1 without NEEDS_CSUM, without GSO, or when the header runs past pktLen.
 */
export function vnetComputeHdrLen(buf: Uint8Array, off: number, pktLen: number): number {
  if ((buf[off] & VnetFlags.NEEDS_CSUM) === 0) return -1;
  const base = buf[off + 1] & ~GsoType.ECN;
  const cs = rdLe16(buf, off + 6);
  if (base === GsoType.TCPV4 || base === GsoType.TCPV6) {
    if (cs + 20 > pktLen) return -1;
    const hl = (buf[off + VNET_HDR_LEN + cs + 12] >>> 4) << 2;
    return hl >= 20 && cs + hl <= pktLen ? cs + hl : -1;
  }
  if (base === GsoType.UDP || base === GsoType.UDP_L4) return cs + 8 <= pktLen ? cs + 8 : -1;
  return -1;
}

/**
 * Checks the header alone against the `pktLen` bytes that follow it: known gso_type, ECN only with
 * GSO, gso_size set for GSO, and with NEEDS_CSUM the checksum field (and the GSO header, sized from
 * the TCP data offset, not hdr_len) inside the packet. Cross-checks against the parsed headers are
 * classify()'s job.
 */
export function vnetValidate(buf: Uint8Array, off: number, pktLen: number): boolean {
  const gso = buf[off + 1];
  const base = gso & ~GsoType.ECN;
  if (base === GsoType.NONE) {
    if (gso !== 0) return false; // ECN bit without GSO is meaningless
  } else {
    if (base !== GsoType.TCPV4 && base !== GsoType.TCPV6 && base !== GsoType.UDP && base !== GsoType.UDP_L4)
      return false;
    if (rdLe16(buf, off + 4) === 0) return false;
  }
  if ((buf[off] & VnetFlags.NEEDS_CSUM) !== 0) {
    if (rdLe16(buf, off + 6) + rdLe16(buf, off + 8) + 2 > pktLen) return false;
    if (base !== GsoType.NONE && vnetComputeHdrLen(buf, off, pktLen) < 0) return false;
  }
  return true;
}
