// PacketInfo: the per-packet parse result classify() fills in place (one instance per worker).
import { TcpOptions } from './tcp-options.js';

/**
 * All offsets are absolute into the buffer given to classify(); lengths are bytes. Fields that do
 * not apply are 0. Valid only when classify() returned 0 (on error: whatever was parsed so far).
 */
export class PacketInfo {
  // virtio-net header (all 0 without one)
  vnetFlags = 0;
  gsoType = 0;
  gsoSize = 0;
  /** Relative to l3Off, as in the header. */
  csumStart = 0;
  /** From csumStart. */
  csumOffset = 0;

  // IP
  /** 4 or 6. */
  ipVersion = 0;
  l3Off = 0;
  /** IPv4: IHL*4. IPv6: 40 + extension headers up to the upper layer (or fragment data). */
  l3HdrLen = 0;
  /** IP packet length as declared (total length, or 40 + payload length); <= frameLen. */
  ipLen = 0;
  /** Bytes from l3Off to the end of the input (ipLen plus any trailing padding). */
  frameLen = 0;
  /** Upper-layer protocol (after IPv6 extension headers). */
  proto = 0;
  /** TTL (IPv4) or hop limit (IPv6). */
  ttl = 0;
  srcAddrOff = 0;
  dstAddrOff = 0;
  /** Frag.NONE (0), FIRST (1), NON_FIRST (2). */
  fragment = 0;
  /** Fragment offset in bytes. */
  fragOffset = 0;
  /** 1 if more fragments follow. */
  fragMore = 0;
  /** IPv6 extension headers walked. */
  extCount = 0;
  /** IPv6 routing header segments left (non-zero: the L4 pseudo-header destination is elsewhere). */
  routingSegLeft = 0;

  // L4 (all 0 for non-first fragments)
  l4Off = 0;
  /** Bytes from l4Off to the end of the IP packet. */
  l4Len = 0;
  srcPort = 0;
  dstPort = 0;
  tcpFlags = 0;
  tcpHdrLen = 0;
  tcpSeq = 0;
  tcpAck = 0;
  tcpWindow = 0;
  icmpType = 0;
  icmpCode = 0;
  /** Offset of the IP header quoted by an ICMP error, 0 if none. */
  icmpInnerOff = 0;
  /** Payload after the L4 header (TCP data, UDP data, ICMP body; whole L4 region if unknown). */
  payloadOff = 0;
  payloadLen = 0;
  /** Parsed TCP options (reset for every packet; empty unless proto is TCP). */
  readonly tcp = new TcpOptions();

  /** TTL under its IPv6 name. */
  get hopLimit(): number {
    return this.ttl;
  }

  reset(): void {
    this.vnetFlags = 0;
    this.gsoType = 0;
    this.gsoSize = 0;
    this.csumStart = 0;
    this.csumOffset = 0;
    this.ipVersion = 0;
    this.l3Off = 0;
    this.l3HdrLen = 0;
    this.ipLen = 0;
    this.frameLen = 0;
    this.proto = 0;
    this.ttl = 0;
    this.srcAddrOff = 0;
    this.dstAddrOff = 0;
    this.fragment = 0;
    this.fragOffset = 0;
    this.fragMore = 0;
    this.extCount = 0;
    this.routingSegLeft = 0;
    this.l4Off = 0;
    this.l4Len = 0;
    this.srcPort = 0;
    this.dstPort = 0;
    this.tcpFlags = 0;
    this.tcpHdrLen = 0;
    this.tcpSeq = 0;
    this.tcpAck = 0;
    this.tcpWindow = 0;
    this.icmpType = 0;
    this.icmpCode = 0;
    this.icmpInnerOff = 0;
    this.payloadOff = 0;
    this.payloadLen = 0;
    this.tcp.reset();
  }
}
