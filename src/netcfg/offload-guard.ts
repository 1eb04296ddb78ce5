// Keeps proxied connections out of fw4's flowtable. With hardware flow offloading
// (flow_offloading_hw) an offloaded flow's packets are forwarded by the switch chip, past the LAN
// device's tc programs: a connection the SYN proxy translates would lose its translation and break.
// Software offloading leaves them correct (its transmit still meets the LAN device's egress
// program), but nothing tunguard installs may tell the two apart, so proxied flows stay out of both.
//
// How: fw4's `flow offload @ft` (nft_flow_offload_eval) looks the route back to the packet's source
// up with the packet's skb mark and gives up when that lookup fails. So:
//   1. a WAN-opened TCP connection to the protected IPv6 prefixes (what the proxy translates: source
//      outside them, destination inside) gets OFFLOAD_GUARD_MARK in its ct mark on its first packet
//      (the SYN; the third ACK while the kernel fast path answers, which leaves the SYN untracked);
//   2. every forwarded packet of such a connection, both ways, carries the bit in its skb mark from
//      the forward hook on (priority mangle, before fw4's filter chain);
//   3. one IPv6 policy rule sends lookups with that mark to a blackhole: the reverse lookup fails,
//      the flow is not offloaded, and the packet is forwarded as usual (its own route was looked up
//      before the forward hook, without the mark).
// IPv4 cannot be guarded this way: its output lookup names the input device, and the kernel then
// takes any destination as on link instead of failing (README, "Flow offloading"). A proxied IPv4
// connection instead gets a conntrack helper on its first packet, and fw4's `flow offload` skips
// every entry with one (src/netcfg/ct-helper.ts: a disabled user-space helper, a marker only).
//
// Nothing else carries the bit: the router's own packets never cross the forward hook, the proxy's
// re-injected packets are routed before it, and LAN-opened or bypassed flows never get the ct mark.
// Fail-open: the marking chains are in the SYN police's owner table and go with the process; the
// policy rule then matches nothing until the next start replaces it.
import { CT_HELPER_NAME, CT_HELPER_OBJECT } from './ct-helper.js';
import { ip, ipTry, NetcfgError } from './ip.js';

/** ct mark and skb mark bit of a proxied IPv6 connection (fw4/mwan3 use 0x3F00; tunguard's others differ). */
export const OFFLOAD_GUARD_MARK = 0x40000000;
/** Its policy rule: before mwan3's (1001 and up), whose fwmark rules would answer the lookup first. */
export const OFFLOAD_GUARD_PREF = 900;

const HEX = `0x${OFFLOAD_GUARD_MARK.toString(16)}`;
const MARK = `${HEX}/${HEX}`;

/** The IPv6 prefixes among the protected ones; none: nothing to guard. */
export function guardedPrefixes(prefixes: readonly string[]): string[] {
  return prefixes.filter((p) => p.includes(':'));
}

/** The IPv4 prefixes among the protected ones (guarded by the conntrack helper). */
export function guardedPrefixes4(prefixes: readonly string[]): string[] {
  return prefixes.filter((p) => !p.includes(':'));
}

/** What the guard covers: protected prefixes by family (an empty list: that family unguarded). */
export interface GuardPrefixes {
  v6: readonly string[];
  /** Only when the conntrack helper is registered (src/netcfg/ct-helper.ts). */
  v4?: readonly string[];
}

/**
 * The commands (for the SYN police's `nft -i`) that keep proxied connections out of offloading in
 * table `t` ("inet tunguard"): IPv6 by the ct mark, IPv4 by the conntrack helper. Checked CIDR text.
 */
export function offloadGuardCommands(t: string, p: GuardPrefixes): string[] {
  const v4 = p.v4 ?? [];
  if (p.v6.length === 0 && v4.length === 0) throw new NetcfgError('offload guard: no prefix to guard');
  const mark = OFFLOAD_GUARD_MARK;
  // What the proxy translates (src/dataplane/stages/synproxy.ts): TCP from outside the prefixes to
  // inside them; `ct state new` is the SYN, or the third ACK when the fast path left the SYN
  // untracked. Both come before conntrack confirms the entry, the only time a helper can be set.
  const first = 'ct direction original ct state new meta l4proto tcp';
  return [
    // One line each: a prefix nft refuses leaves no set, so no rule either (SynPolice.guardInstalled).
    ...(v4.length > 0
      ? [
          `add set ${t} guard4 { type ipv4_addr; flags interval; auto-merge; elements = { ${v4.join(', ')} }; }`,
          `add ct helper ${t} ${CT_HELPER_OBJECT} { type "${CT_HELPER_NAME}" protocol tcp; l3proto inet; }`,
        ]
      : []),
    ...(p.v6.length > 0
      ? [
          `add set ${t} guard6 { type ipv6_addr; flags interval; auto-merge; elements = { ${p.v6.join(', ')} }; }`,
        ]
      : []),
    `add chain ${t} offload_guard { type filter hook forward priority mangle; policy accept; }`,
    ...(v4.length > 0
      ? [
          `add rule ${t} offload_guard meta nfproto ipv4 ${first} ip daddr @guard4 ip saddr != @guard4 ct helper set "${CT_HELPER_OBJECT}" counter`,
        ]
      : []),
    // The table is inet: the rest of forwarded IPv4 (the bypassed bulk among it) leaves at once.
    `add rule ${t} offload_guard meta nfproto != ipv6 accept`,
    ...(p.v6.length > 0
      ? [
          `add rule ${t} offload_guard ${first} ip6 daddr @guard6 ip6 saddr != @guard6 ct mark set ct mark | ${mark} counter`,
          `add rule ${t} offload_guard ct mark & ${mark} != 0 meta mark set meta mark | ${mark} counter`,
        ]
      : []),
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
