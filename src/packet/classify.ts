// classify(): the single per-packet parser of the dataplane (vnet header, IPv4/IPv6, TCP/UDP/ICMP).
import { rd16, rd32 } from './bytes.js';
import { icmpErrorInnerOff } from './icmp.js';
import type { PacketInfo } from './info.js';
import { Ip6Walk, ip6WalkExt } from './ip6.js';
import { Malformed } from './malformed.js';
import { Frag, IpProto } from './proto.js';
import { tcpParseOptions } from './tcp-options.js';
import { GsoType, VNET_HDR_LEN, VnetFlags, vnetValidate } from './vnet.js';

// Scratch for the IPv6 walk: one per module, reused (classify is not re-entrant, nothing awaits).
const walk = new Ip6Walk();

/**
 * Parses the packet buf[off, off+len) (preceded by a virtio-net header when hasVnet) into `out`.
 * Returns 0, or a Malformed code. Never throws and never reads outside [off, off+len).
 */
export function classify(
  buf: Uint8Array,
  off: number,
  len: number,
  hasVnet: boolean,
  out: PacketInfo,
): number {
  out.reset();
  // Bounds the caller handed us must themselves lie in the buffer.
  if (!(off >= 0 && len >= 0 && off + len <= buf.length)) return Malformed.TOO_SHORT;
  let l3 = off;
  let frame = len;
  if (hasVnet) {
    if (len < VNET_HDR_LEN) return Malformed.TOO_SHORT;
    out.vnetFlags = buf[off];
    out.gsoType = buf[off + 1];
    out.gsoSize = buf[off + 4] | (buf[off + 5] << 8);
    out.csumStart = buf[off + 6] | (buf[off + 7] << 8);
    out.csumOffset = buf[off + 8] | (buf[off + 9] << 8);
    l3 = off + VNET_HDR_LEN;
    frame = len - VNET_HDR_LEN;
    if (!vnetValidate(buf, off, frame)) return Malformed.BAD_VNET;
  }
  out.l3Off = l3;
  out.frameLen = frame;
  if (frame < 1) return Malformed.TOO_SHORT;
  const ver = buf[l3] >>> 4;
  let r: number;
  if (ver === 4) r = parse4(buf, l3, frame, out);
  else if (ver === 6) r = parse6(buf, l3, frame, out);
  else return Malformed.BAD_VERSION;
  if (r !== 0) return r;
  if (out.fragment !== Frag.NON_FIRST) {
    r = parseL4(buf, out);
    if (r !== 0) return r;
  }
  return hasVnet && (out.gsoType | out.vnetFlags) !== 0 ? checkVnet(out) : 0;
}

function parse4(buf: Uint8Array, l3: number, frame: number, out: PacketInfo): number {
  if (frame < 20) return Malformed.TOO_SHORT;
  const hl = (buf[l3] & 15) << 2;
  if (hl < 20 || hl > frame) return Malformed.BAD_IHL;
  const total = rd16(buf, l3 + 2);
  if (total < hl || total > frame) return Malformed.BAD_TOTAL_LEN;
  // Packets written to the TUN by anyone reach us unchecked: verify even though the kernel's own are fine.
  let s = 0;
  for (let i = l3; i < l3 + hl; i += 2) s += (buf[i] << 8) | buf[i + 1];
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  if (s !== 0xffff) return Malformed.BAD_IP_CSUM;
  out.ipVersion = 4;
  out.l3HdrLen = hl;
  out.ipLen = total;
  out.ttl = buf[l3 + 8];
  out.proto = buf[l3 + 9];
  out.srcAddrOff = l3 + 12;
  out.dstAddrOff = l3 + 16;
  const fw = rd16(buf, l3 + 6);
  const fo = (fw & 0x1fff) << 3;
  const mf = (fw >>> 13) & 1;
  if (fo !== 0) {
    out.fragment = Frag.NON_FIRST;
    out.fragOffset = fo;
    out.fragMore = mf;
    // RFC 1858: offset 8 overlaps the TCP flags of the first fragment (tiny-fragment attack).
    return fo === 8 && out.proto === IpProto.TCP ? Malformed.TINY_FRAGMENT : 0;
  }
  if (mf !== 0) {
    out.fragment = Frag.FIRST;
    out.fragMore = 1;
  }
  out.l4Off = l3 + hl;
  out.l4Len = total - hl;
  return 0;
}

function parse6(buf: Uint8Array, l3: number, frame: number, out: PacketInfo): number {
  if (frame < 40) return Malformed.TOO_SHORT;
  // Payload length 0 is taken literally: jumbograms (RFC 2675) cannot cross a 64 KiB TUN read.
  const ipLen = 40 + rd16(buf, l3 + 4);
  if (ipLen > frame) return Malformed.BAD_TOTAL_LEN;
  out.ipVersion = 6;
  out.ipLen = ipLen;
  out.ttl = buf[l3 + 7];
  out.srcAddrOff = l3 + 8;
  out.dstAddrOff = l3 + 24;
  const r = ip6WalkExt(buf, l3, l3 + ipLen, walk);
  out.extCount = walk.extCount;
  if (r !== 0) return r;
  out.proto = walk.proto;
  out.fragment = walk.fragment;
  out.fragOffset = walk.fragOffset;
  out.fragMore = walk.fragMore;
  out.routingSegLeft = walk.routingSegLeft;
  out.l3HdrLen = walk.l4Off - l3;
  if (walk.fragment !== Frag.NON_FIRST) {
    out.l4Off = walk.l4Off;
    out.l4Len = l3 + ipLen - walk.l4Off;
  }
  return 0;
}

function parseL4(buf: Uint8Array, out: PacketInfo): number {
  const p = out.l4Off;
  const n = out.l4Len;
  switch (out.proto) {
    case IpProto.TCP: {
      if (n < 20) return Malformed.TRUNCATED_L4;
      const hl = (buf[p + 12] >>> 4) << 2;
      if (hl < 20 || hl > n) return Malformed.BAD_TCP_DOFF;
      out.srcPort = rd16(buf, p);
      out.dstPort = rd16(buf, p + 2);
      out.tcpSeq = rd32(buf, p + 4);
      out.tcpAck = rd32(buf, p + 8);
      out.tcpFlags = buf[p + 13];
      out.tcpWindow = rd16(buf, p + 14);
      out.tcpHdrLen = hl;
      if (hl > 20 && tcpParseOptions(buf, p, n, out.tcp) !== 0) return Malformed.BAD_TCP_OPTIONS;
      out.payloadOff = p + hl;
      out.payloadLen = n - hl;
      return 0;
    }
    case IpProto.UDP: {
      if (n < 8) return Malformed.TRUNCATED_L4;
      out.srcPort = rd16(buf, p);
      out.dstPort = rd16(buf, p + 2);
      let dl = n;
      // A first fragment's UDP length covers the whole datagram; GSO super-packets are not checked.
      if (out.fragment === Frag.NONE && (out.gsoType & ~GsoType.ECN) === GsoType.NONE) {
        const ul = rd16(buf, p + 4);
        if (ul < 8 || ul > n) return Malformed.BAD_UDP_LEN;
        dl = ul; // bytes past the UDP length are surplus (RFC 768 / UDP options), not data
      }
      out.payloadOff = p + 8;
      out.payloadLen = dl - 8;
      return 0;
    }
    case IpProto.ICMP:
    case IpProto.ICMPV6: {
      // ICMP inside the wrong IP version is just an unknown protocol.
      if ((out.proto === IpProto.ICMP) !== (out.ipVersion === 4)) break;
      if (n < 8) return Malformed.TRUNCATED_L4;
      out.icmpType = buf[p];
      out.icmpCode = buf[p + 1];
      const inner = icmpErrorInnerOff(buf, p, n, out.ipVersion);
      out.icmpInnerOff = Math.max(inner, 0);
      out.payloadOff = p + 8;
      out.payloadLen = n - 8;
      return 0;
    }
  }
  out.payloadOff = p;
  out.payloadLen = n;
  return 0;
}

// Cross-checks the vnet header against the parsed headers (vnetValidate checked it alone).
function checkVnet(out: PacketInfo): number {
  const base = out.gsoType & ~GsoType.ECN;
  const proto = out.proto;
  if (base !== GsoType.NONE) {
    if (out.fragment !== Frag.NONE) return Malformed.BAD_VNET;
    if (base === GsoType.TCPV4) {
      if (out.ipVersion !== 4 || proto !== IpProto.TCP) return Malformed.BAD_VNET;
    } else if (base === GsoType.TCPV6) {
      if (out.ipVersion !== 6 || proto !== IpProto.TCP) return Malformed.BAD_VNET;
    } else if (proto !== IpProto.UDP) return Malformed.BAD_VNET;
    if ((out.gsoType & GsoType.ECN) !== 0 && proto !== IpProto.TCP) return Malformed.BAD_VNET;
  }
  if ((out.vnetFlags & VnetFlags.NEEDS_CSUM) !== 0) {
    if (out.csumStart + out.csumOffset + 2 > out.ipLen) return Malformed.BAD_VNET;
    // Partial-checksum editing assumes the field is the L4 header's own checksum field.
    if (out.fragment === Frag.NONE && (proto === IpProto.TCP || proto === IpProto.UDP)) {
      if (out.csumStart !== out.l4Off - out.l3Off) return Malformed.BAD_VNET;
      if (out.csumOffset !== (proto === IpProto.TCP ? 16 : 6)) return Malformed.BAD_VNET;
    }
  }
  return 0;
}
