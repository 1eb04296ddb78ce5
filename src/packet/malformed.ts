// Reason codes for packets classify() rejects, with counter names indexed by code.

export const Malformed = {
  OK: 0,
  /** Shorter than the smallest header it claims (or the vnet header), or len outside the buffer. */
  TOO_SHORT: 1,
  BAD_VERSION: 2,
  /** IHL below 5, or the header runs past the buffer. */
  BAD_IHL: 3,
  /** Declared IP length past the buffer end (or below the header length). Shorter is padding: fine. */
  BAD_TOTAL_LEN: 4,
  BAD_IP_CSUM: 5,
  TOO_MANY_EXT: 6,
  TRUNCATED_EXT: 7,
  /** Fixed L4 header (TCP 20, UDP 8, ICMP 8) does not fit in the IP payload. */
  TRUNCATED_L4: 8,
  /** TCP data offset below 5 or past the segment. */
  BAD_TCP_DOFF: 9,
  BAD_TCP_OPTIONS: 10,
  /** Unknown gso_type, checksum fields outside the packet or not on the L4 header, GSO mismatch. */
  BAD_VNET: 11,
  /** UDP length below 8 or past the IP payload (unfragmented, non-GSO datagrams). */
  BAD_UDP_LEN: 12,
  /** IPv4 TCP fragment with offset 8 bytes: rewrites the TCP flags of the first (RFC 1858). */
  TINY_FRAGMENT: 13,
} as const;

export type MalformedCode = (typeof Malformed)[keyof typeof Malformed];

/** Counter names by code; index 0 ('ok') is not a malformation. */
export const MALFORMED_NAMES: readonly string[] = [
  'ok',
  'too_short',
  'bad_version',
  'bad_ihl',
  'bad_total_len',
  'bad_ip_csum',
  'too_many_ext',
  'truncated_ext',
  'truncated_l4',
  'bad_tcp_doff',
  'bad_tcp_options',
  'bad_vnet',
  'bad_udp_len',
  'tiny_fragment',
];
