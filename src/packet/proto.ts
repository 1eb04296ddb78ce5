// IANA protocol numbers (IPv4 protocol / IPv6 next header) the parsers care about.

export const IpProto = {
  HOPOPTS: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
  MOBILITY: 135,
  HIP: 139,
  SHIM6: 140,
} as const;

/** Fragment position reported by the parsers (PacketInfo.fragment, Ip6Walk.fragment). */
export const Frag = {
  /** Not fragmented (includes IPv6 atomic fragments, RFC 6946: offset 0 and M clear). */
  NONE: 0,
  /** Offset 0 with more fragments: carries the L4 header. */
  FIRST: 1,
  /** Offset > 0: no L4 header to parse. */
  NON_FIRST: 2,
} as const;
