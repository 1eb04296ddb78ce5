// Keeps proxied connections out of fw4's flowtable. With hardware flow offloading
// (flow_offloading_hw) an offloaded flow's packets are forwarded by the switch chip, past the LAN
// device's tc programs: a connection the SYN proxy translates would lose its translation and break.
// Software offloading leaves them correct (its transmit still meets the LAN device's egress
// program), but nothing tunguard installs may tell the two apart, so proxied flows stay out of both.
//
// How: fw4's `flow offload @ft` (nft_flow_offload_eval) skips every conntrack entry that has a
// helper extension. A WAN-opened TCP connection to the protected prefixes (what the proxy
// translates: source outside them, destination inside), IPv4 and IPv6 alike, gets tunguard's
// conntrack helper on its first packet (src/netcfg/ct-helper.ts: a disabled user-space helper, a
// marker only). Nothing ever removes the extension, so the entry stays out for its whole life: while
// the SYN police's table is gone (its nft died; rebuilt within seconds), after a daemon crash, after
// the helper's deletion at a stop. Only a connection opened while the table is gone goes unguarded.
//
// Without the helper (a kernel lacking nfnetlink_cthelper; the package depends on it): proxied IPv4
// is unguarded (one warning) and proxied IPv6 falls back to the ct mark guard of
// src/netcfg/offload-guard-mark.ts, which holds only while the table is there.
import { CT_HELPER_NAME, CT_HELPER_OBJECT } from './ct-helper.js';
import { NetcfgError } from './ip.js';
import { markGuardRules } from './offload-guard-mark.js';

/** The IPv6 prefixes among the protected ones; none: nothing to guard. */
export function guardedPrefixes6(prefixes: readonly string[]): string[] {
  return prefixes.filter((p) => p.includes(':'));
}

/** The IPv4 prefixes among the protected ones. */
export function guardedPrefixes4(prefixes: readonly string[]): string[] {
  return prefixes.filter((p) => !p.includes(':'));
}

/** What the guard covers: protected prefixes by family (an empty list: that family unguarded). */
export interface GuardPrefixes {
  v4: readonly string[];
  v6: readonly string[];
  /**
   * The conntrack helper is registered (src/netcfg/ct-helper.ts) and guards both families. Without
   * it IPv4 cannot be guarded (v4 must be empty) and IPv6 takes the ct mark fallback.
   */
  helper: boolean;
}

/**
 * The commands (for the SYN police's `nft -i`) that keep proxied connections out of offloading in
 * table `t` ("inet tunguard"). Checked CIDR text.
 */
export function offloadGuardCommands(t: string, p: GuardPrefixes): string[] {
  if (p.v6.length === 0 && p.v4.length === 0) throw new NetcfgError('offload guard: no prefix to guard');
  if (!p.helper && p.v4.length > 0) throw new NetcfgError('offload guard: IPv4 needs the conntrack helper');
  // What the proxy translates (src/dataplane/stages/synproxy.ts): TCP from outside the prefixes to
  // inside them; `ct state new` is the SYN, or the third ACK when the fast path left the SYN
  // untracked. Both come before conntrack confirms the entry, the only time a helper can be set.
  const first = 'ct direction original ct state new meta l4proto tcp';
  const chain = `add chain ${t} offload_guard { type filter hook forward priority mangle; policy accept; }`;
  // One line each: a prefix nft refuses leaves no set, so no rule either (SynPolice.guardInstalled).
  const set4 = `add set ${t} guard4 { type ipv4_addr; flags interval; auto-merge; elements = { ${p.v4.join(', ')} }; }`;
  const set6 = `add set ${t} guard6 { type ipv6_addr; flags interval; auto-merge; elements = { ${p.v6.join(', ')} }; }`;
  if (!p.helper) return [set6, chain, ...markGuardRules(t, first)];
  const v4 = p.v4.length > 0;
  const v6 = p.v6.length > 0;
  const set = `ct helper set "${CT_HELPER_OBJECT}" counter`;
  return [
    ...(v4 ? [set4] : []),
    ...(v6 ? [set6] : []),
    // `l3proto inet`: the object holds the helper of both families (registered for both).
    `add ct helper ${t} ${CT_HELPER_OBJECT} { type "${CT_HELPER_NAME}" protocol tcp; l3proto inet; }`,
    chain,
    // nft puts each rule's family check (meta nfproto) in front of its address lookups.
    ...(v4 ? [`add rule ${t} offload_guard ${first} ip daddr @guard4 ip saddr != @guard4 ${set}`] : []),
    ...(v6 ? [`add rule ${t} offload_guard ${first} ip6 daddr @guard6 ip6 saddr != @guard6 ${set}`] : []),
  ];
}
