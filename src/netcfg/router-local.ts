// The router's own services (SSH, LuCI, a VPN server on its WAN address) behind the SYN proxy too.
//
// The LAN programs never see these packets: the kernel delivers them locally, before any LAN
// device. So tunguard takes them at the end of the input hook, after fw4's own input chain has
// judged them (a port fw4 rejects is never answered, as for the LAN):
//
//   WAN → router   an nft chain at input priority filter + 10 copies what needs the proxy (every
//                  TCP segment a WAN client opened, pings, new UDP flows) into the TUN (`dup`) and
//                  drops the original before conntrack confirms it, so the kernel never holds an
//                  entry for the client's unproxied side.
//   proxy → router the TUN program re-injects the proxy's packets into the loopback device's
//                  receive path, marked (LOCAL_MARK): fw4 accepts what comes from lo, and the chain
//                  above takes the mark off and tags the connection (CT_PROXIED in its ct mark).
//   router → proxy the router's answers on a tagged connection are marked on output (ROUTE_MARK)
//                  and a tc program at each uplink's egress sends the marked ones into the TUN
//                  (src/netcfg/router-egress.ts), so the proxy translates them back. Not a policy
//                  rule: one rule makes the kernel walk the rule list on every route lookup of the
//                  router, every forwarded packet's and every fast-path bpf_fib_lookup's.
//   proxy → WAN    the TUN program sends packets whose source is the router's own address straight
//                  out of the device its route names (no second trip through the firewall).
//
// Fail-open: the nft tables have the owner flag, like the SYN police's (same `nft -i` child). When
// tunguard dies they go, nothing is copied or marked any more, the egress links close with the
// process, and the router's services answer directly again.
import { ipTry } from './ip.js';

/** skb mark of the proxy's packets re-injected through lo (cleared by the input chain). */
export const LOCAL_MARK = 0x08000000;
/** skb mark of the router's answers on a proxied connection: the uplink egress program takes them. */
export const ROUTE_MARK = 0x04000000;
/** ct mark bit of a connection to the router that the proxy carries. */
export const CT_PROXIED = 0x04000000;
/** The policy rule (priority) and table (one route, into the TUN) an older tunguard routed ROUTE_MARK by. */
export const ROUTE_RULE_PREF = 4747;
export const ROUTE_TABLE = 4746;

export const LOCAL_TABLE = 'tunguard';

export interface RouterLocalOptions {
  /** The TUN the copies go to. */
  tun: string;
  ipv6: boolean;
}

/** nft's set element list of interface names (names are checked by the callers: [\w.@:-]{1,15}). */
export function ifnames(wans: readonly string[]): string {
  return wans.map((w) => `"${w}"`).join(', ');
}

/**
 * The commands (one per line, for the SYN police's `nft -i`) that build one owner table per family.
 * `dup` exists only in the ip and ip6 families, hence two tables next to the inet one.
 */
export function routerLocalCommands(o: RouterLocalOptions, wans: readonly string[]): string[] {
  const lines: string[] = [];
  for (const fam of o.ipv6 ? (['ip', 'ip6'] as const) : (['ip'] as const)) {
    const t = `${fam} ${LOCAL_TABLE}`;
    // The next hop the copy is sent to: on a TUN any address will do, as long as the route lookup
    // ends on it. IPv4 takes an unroutable next hop through the named device as on-link; IPv6
    // looks the local address up in the local table instead, so a link-local next hop it is.
    const nextHop = fam === 'ip' ? 'ip daddr' : 'fe80::1';
    const ping = fam === 'ip' ? 'icmp type echo-request' : 'icmpv6 type echo-request';
    const copy = `dup to ${nextHop} device "${o.tun}" drop`;
    const notMarked = `meta mark & ${LOCAL_MARK} == 0`;
    lines.push(
      `add table ${t} { flags owner; }`,
      `add set ${t} wans { type ifname; }`,
      ...(wans.length > 0 ? [`add element ${t} wans { ${ifnames(wans)} }`] : []),
      `add chain ${t} local_in { type filter hook input priority filter + 10; policy accept; }`,
      // The proxy's own packets (through lo): delivered, and a TCP connection tagged so the
      // router's answers find their way back to the proxy.
      `add rule ${t} local_in meta mark & ${LOCAL_MARK} != 0 meta l4proto tcp meta mark set meta mark & ${~LOCAL_MARK >>> 0} ct mark set ct mark | ${CT_PROXIED} accept`,
      `add rule ${t} local_in meta mark & ${LOCAL_MARK} != 0 meta mark set meta mark & ${~LOCAL_MARK >>> 0} accept`,
      `add rule ${t} local_in iifname != @wans accept`,
      // Answers to what the router itself opened (updates, NTP, DNS upstream) are not the proxy's.
      `add rule ${t} local_in ct direction reply accept`,
      `add rule ${t} local_in ${notMarked} meta l4proto tcp ${copy}`,
      `add rule ${t} local_in ${notMarked} ${ping} ${copy}`,
      // New UDP flows meet the UDP limit (DHCP answers to the router's own client excepted).
      `add rule ${t} local_in ${notMarked} udp dport != { 68, 546 } ct state new ${copy}`,
      // A filter chain: nothing routes by the mark (the uplink's egress program reads it), so the
      // route lookup is not made a second time.
      `add chain ${t} local_out { type filter hook output priority mangle + 10; policy accept; }`,
      `add rule ${t} local_out ct mark & ${CT_PROXIED} != 0 meta mark set meta mark | ${ROUTE_MARK}`,
    );
  }
  return lines;
}

/** Commands that make the tables follow the uplinks. */
export function routerLocalWans(o: RouterLocalOptions, wans: readonly string[]): string {
  let cmds = '';
  for (const fam of o.ipv6 ? ['ip', 'ip6'] : ['ip']) {
    const t = `${fam} ${LOCAL_TABLE}`;
    cmds += `flush set ${t} wans\n`;
    if (wans.length > 0) cmds += `add element ${t} wans { ${ifnames(wans)} }\n`;
  }
  return cmds;
}

/**
 * Removes the policy rule and route an older tunguard carried ROUTE_MARK packets by. Not owned by a
 * process, they survive it (a crash, or an upgrade): called at every start, because a leftover rule
 * keeps the kernel's rule walk on every route lookup of the router (fib_has_custom_rules stays set for
 * the namespace's life once set, but a rule list without the rule is a shorter walk).
 */
export function removeRouterRoutes(o: { ipv6?: boolean }): void {
  for (const fam of o.ipv6 ? ['-4', '-6'] : ['-4']) {
    for (let guard = 0; guard < 16; guard++)
      if (
        !ipTry([fam, 'rule', 'del', 'pref', String(ROUTE_RULE_PREF), 'fwmark', `${ROUTE_MARK}/${ROUTE_MARK}`])
      )
        break;
    ipTry([fam, 'route', 'flush', 'table', String(ROUTE_TABLE)]);
  }
}
