// What each dataplane counter counts, for /metrics' HELP lines (Prometheus shows them next to the
// graph, so they say what a rise means). Counters a stage adds without a text here still get a HELP
// line; test/api/metrics.test.ts checks that every counter a real pipeline has is described.

/** Counter (or gauge_*) name → HELP text. */
export const COUNTER_HELP: Readonly<Record<string, string>> = {
  rx_packets: 'Packets read from the TUN device (each GSO super-packet counts once).',
  rx_bytes: 'Bytes read from the TUN device.',
  tx_packets: 'Packets written back to the TUN device.',
  tx_bytes: 'Bytes written back to the TUN device.',
  tx_errors: 'Writes to the TUN device the kernel refused (the packet is lost).',
  batches: 'Batches of packets read from the TUN in one go.',
  sleeps: 'Times a worker found no packet and slept until the device was readable.',
  ipv4: 'IPv4 packets read.',
  ipv6: 'IPv6 packets read.',
  tcp: 'TCP packets read.',
  udp: 'UDP packets read.',
  icmp: 'ICMP and ICMPv6 packets read.',
  other_proto: 'Packets of another transport protocol, forwarded untouched.',
  fragments: 'IP fragments read.',
  gso_packets: 'GSO super-packets read (several wire segments in one).',
  bypass_flows: 'LAN flows handed to the kernel to forward without crossing the TUN.',
  bypass_refused: 'Flow hand-overs the kernel refused (its bypass map was full or the write failed).',
  xlate_handed: 'Proxied connections handed to the kernel to translate without crossing the TUN.',
  xlate_removed:
    'Proxied connections taken back from the kernel (FIN or RST seen, closed, expired or forgotten).',
  xlate_refused:
    'Proxied connection hand-overs the kernel refused (its map was full or the write failed): they stay on the TUN path.',
  synproxy_absorbed: 'Packets the SYN proxy answered itself instead of forwarding.',
  synproxy_syn_received: 'Inbound SYNs that reached the SYN proxy.',
  synproxy_server_ack_resent:
    'Handshake ACKs the SYN proxy sent a LAN server again (its SYN-ACK came again, or it answered as if the ACK was lost).',
  synproxy_syn_retransmit: 'SYNs the SYN proxy re-sent to a LAN server that had not answered.',
  synproxy_cookie_sent: 'SYN-ACKs with a SYN cookie sent to clients.',
  synproxy_cookie_valid: 'Handshake ACKs that carried a valid SYN cookie.',
  synproxy_cookie_invalid: 'Handshake ACKs with a wrong or expired cookie (dropped).',
  synproxy_conn_established: 'Connections the SYN proxy opened to a LAN server.',
  synproxy_server_refused: 'Proxied connections the LAN server refused (RST).',
  synproxy_server_timeout: 'Proxied connections the LAN server never answered.',
  synproxy_table_full: 'Connections refused because the connection table was full.',
  synproxy_emit_full: 'Packets the SYN proxy could not emit (its output batch was full).',
  synproxy_untracked_pass: 'Packets of connections the SYN proxy does not track, forwarded as they are.',
  synproxy_closed: 'Proxied connections closed.',
  synproxy_bad_checksum: 'Packets with a wrong TCP checksum at the SYN proxy (dropped).',
  synproxy_outbound_syn: 'SYNs from the LAN outward (not proxied).',
  synproxy_source_full:
    'Handshakes refused because their source already has the most proxied connections one source may hold (512 by default; an IPv6 /64 is one source).',
  synproxy_source_full_rst:
    'RSTs sent to clients whose handshake was refused for their source being full (one per such handshake ACK with a valid cookie), so they stop at once instead of retrying.',
  synproxy_evicted:
    'Proxied connections forgotten to make room in a full table (the one idle longest; no RST is sent).',
  sampler_samples: 'Packets of LAN hosts sampled for the passive inventory.',
  sampler_skip_repeat: 'Samples skipped as repeats of a recent one.',
  sampler_drop_rate: 'Samples not taken: over the sampling rate budget.',
  sampler_drop_full: 'Samples not taken: the sample ring was full.',
  kernel_icmp_dropped:
    'Of the global ICMP rate drops, those made in the kernel (nft) before the TUN: echo requests from an uplink.',
  kernel_udp_dropped:
    'Of the global UDP rate drops, those made in the kernel (nft) before the TUN: datagrams from an uplink.',
  fast_syn_answered:
    "SYNs the kernel fast path (eBPF at the egress of the LAN devices, or at the uplinks' ingress) answered with a cookie itself, as last read from its map.",
  fast_syn_answered_uplink:
    "Of the SYNs the kernel fast path answered, those answered at an uplink's ingress (to a destination and port fw4 was seen to accept).",
  fast_marks_refused:
    "Aggressive sources the kernel fast path was not told to drop (its map or the SYN gate's ring of them was full): the kernel answers their SYNs, the proxy still drops those that reach it.",
  fast_suspects_deferred:
    "Ticks at which the SYN gate's ring of sources waiting for their grace second was full, so the kernel's queue of sources past the limit was left for a later tick.",
  gauge_tier: 'The risk tier as a number (0 normal, 1 moderate, 2 risky), per worker.',
  gauge_syn_window: 'New inbound SYNs in the current tier window.',
  gauge_half_open: 'Unfinished TCP handshakes.',
  gauge_aggressive_sources: 'Sources marked aggressive (their SYNs are dropped for a while).',
};

/** The `reason` label of a drop counter (drop_syn_risky → syn_risky, malformed_bad_ihl → malformed_bad_ihl). */
export function dropReason(counter: string): string {
  return counter.startsWith('drop_') ? counter.slice(5) : counter;
}
