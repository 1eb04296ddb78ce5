// The offload guard's IPv6 fallback, for a kernel without the conntrack helper (src/netcfg/ct-helper.ts;
// the package depends on kmod-nfnetlink-cthelper, so on OpenWrt this is not used). Weaker than the
// helper: it holds only while the SYN police's table is there.
//
// How: fw4's `flow offload @ft` (nft_flow_offload_eval) looks the route back to the packet's source
// up with the packet's skb mark and gives up when that lookup fails. So:
//   1. a proxied IPv6 connection (src/netcfg/offload-guard.ts says which) gets OFFLOAD_GUARD_MARK in
//      its ct mark on its first packet;
//   2. every forwarded packet of such a connection, both ways, carries the bit in its skb mark from
//      the forward hook on (priority mangle, before fw4's filter chain);
//   3. one IPv6 policy rule sends lookups with that mark to a blackhole: the reverse lookup fails,
//      the flow is not offloaded, and the packet is forwarded as usual (its own route was looked up
//      before the forward hook, without the mark).
// Nothing else carries the bit: the router's own packets never cross the forward hook, the proxy's
// re-injected packets are routed before it, and LAN-opened or bypassed flows never get the ct mark.
// Step 2 is in the police table: while it is gone (its nft died, a crash) no packet carries the mark,
// and a proxied connection fw4 sees then is offloaded for good. IPv4 cannot be guarded this way: its
// reverse lookup names the input device, and the kernel then takes any destination as on link.
// The policy rule goes with a stop; after a crash it stays, matching nothing, until the next start.
import { ip, ipTry } from './ip.js';

/** ct mark and skb mark bit of a proxied IPv6 connection (fw4/mwan3 use 0x3F00; tunguard's others differ). */
export const OFFLOAD_GUARD_MARK = 0x40000000;
/** Its policy rule: before mwan3's (1001 and up), whose fwmark rules would answer the lookup first. */
export const OFFLOAD_GUARD_PREF = 900;

const HEX = `0x${OFFLOAD_GUARD_MARK.toString(16)}`;
const MARK = `${HEX}/${HEX}`;

/** The chain's rules in table `t` (after its set guard6 and chain offload_guard); `first`: the match of a proxied connection's first packet. */
export function markGuardRules(t: string, first: string): string[] {
  const mark = OFFLOAD_GUARD_MARK;
  return [
    // The table is inet: forwarded IPv4 (the bypassed bulk among it) leaves at once.
    `add rule ${t} offload_guard meta nfproto != ipv6 accept`,
    `add rule ${t} offload_guard ${first} ip6 daddr @guard6 ip6 saddr != @guard6 ct mark set ct mark | ${mark} counter`,
    `add rule ${t} offload_guard ct mark & ${mark} != 0 meta mark set meta mark | ${mark} counter`,
  ];
}

/** The policy rule's arguments after `ip -6 rule add|del`. */
export function offloadGuardRule(): string[] {
  return ['pref', String(OFFLOAD_GUARD_PREF), 'fwmark', MARK, 'blackhole'];
}

/** Puts the policy rule in place (once: an older start's copy is removed first). */
export function installOffloadGuardRule(): void {
  removeOffloadGuardRule();
  ip(['-6', 'rule', 'add', ...offloadGuardRule()]);
}

/** Removes every copy of the policy rule; returns how many there were. */
export function removeOffloadGuardRule(): number {
  let removed = 0;
  while (removed < 16 && ipTry(['-6', 'rule', 'del', ...offloadGuardRule()])) removed++;
  return removed;
}
