// The ICMP and UDP limits, first in the kernel: a chain of the SYN police's table drops what is over
// the global rate before it reaches the TUN, so a flood costs the router no userspace work. The
// dataplane's own buckets (src/defense/ratelimit.ts) stay behind it for what the kernel cannot say
// as cheaply: per-source buckets and the ICMP error bucket. Same exemptions as the dataplane:
// answers to what the LAN opened (conntrack's reply direction), allowlisted sources, exempt UDP
// ports; only what enters from an uplink. The chain sits at the forward hook after fw4's filter, so
// what fw4 drops is never counted here.
import { parseCidr } from '../config/net.js';

/** The limits as the config holds them (`config ratelimit 'icmp'|'udp'`). */
export interface KernelLimitSettings {
  icmp: { enabled: boolean; rate: number; burst: number };
  udp: { enabled: boolean; rate: number; burst: number; exemptPorts: readonly number[] };
}

/** The kernel's part of the config's `ratelimit` sections. */
export function kernelLimits(r: {
  icmp: KernelLimitSettings['icmp'];
  udp: KernelLimitSettings['udp'];
}): KernelLimitSettings {
  return {
    icmp: { enabled: r.icmp.enabled, rate: r.icmp.rate, burst: r.icmp.burst },
    udp: {
      enabled: r.udp.enabled,
      rate: r.udp.rate,
      burst: r.udp.burst,
      exemptPorts: [...r.udp.exemptPorts],
    },
  };
}

/** The nft counters the chain's drops land in. */
const KERNEL_LIMIT_COUNTERS = ['icmp_limit', 'udp_limit'] as const;

/** The chain and its fixed parts (one command a line), for the police table `t` ("inet tunguard"). */
export function kernelLimitSetup(t: string): string[] {
  return [
    `add set ${t} allow4 { type ipv4_addr; flags interval; }`,
    `add set ${t} allow6 { type ipv6_addr; flags interval; }`,
    ...KERNEL_LIMIT_COUNTERS.map((c) => `add counter ${t} ${c}`),
    `add chain ${t} rate_limits { type filter hook forward priority filter + 10; policy accept; }`,
  ];
}

/** The chain's rules for these settings (replacing what was there: a reload runs it again). */
export function kernelLimitRules(t: string, s: KernelLimitSettings): string {
  const icmpOn = s.icmp.enabled && s.icmp.rate > 0;
  const udpOn = s.udp.enabled && s.udp.rate > 0;
  const limited = [...(icmpOn ? ['icmp', 'ipv6-icmp'] : []), ...(udpOn ? ['udp'] : [])];
  const lines = [`flush chain ${t} rate_limits`];
  if (limited.length === 0) return `${lines.join('\n')}\n`;
  lines.push(
    // Every forwarded packet crosses this chain, TCP (the bulk, and every flood SYN) most of all:
    // what no limit applies to leaves on the first rule, before any set or conntrack lookup. The
    // replies of flows the LAN opened (a QUIC download: the bulk of forwarded UDP) leave on the
    // second, a read of the packet's conntrack entry, before the uplink's name is looked up.
    `add rule ${t} rate_limits meta l4proto != { ${limited.join(', ')} } accept`,
    `add rule ${t} rate_limits ct direction reply accept`,
    `add rule ${t} rate_limits iifname != @wans accept`,
    `add rule ${t} rate_limits ip saddr @allow4 accept`,
    `add rule ${t} rate_limits ip6 saddr @allow6 accept`,
  );
  // One rule (one bucket) for ICMP and ICMPv6 echo requests, as the dataplane has one ICMP bucket.
  if (icmpOn)
    lines.push(
      `add rule ${t} rate_limits meta l4proto { icmp, ipv6-icmp } @th,0,8 { 8, 128 } limit rate over ${s.icmp.rate}/second burst ${Math.max(1, s.icmp.burst)} packets counter name icmp_limit drop`,
    );
  if (udpOn) {
    const ports = s.udp.exemptPorts.filter((p) => Number.isInteger(p) && p > 0 && p < 65536);
    const exempt = ports.length > 0 ? ` udp dport != { ${ports.join(', ')} }` : '';
    lines.push(
      `add rule ${t} rate_limits meta l4proto udp${exempt} limit rate over ${s.udp.rate}/second burst ${Math.max(1, s.udp.burst)} packets counter name udp_limit drop`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The allowlist in the chain's sets (CIDR strings; what does not parse is left out). */
export function kernelLimitAllow(t: string, prefixes: readonly string[]): string {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const p of prefixes) {
    try {
      const { family, cidr } = parseCidr(p);
      (family === 4 ? v4 : v6).push(cidr);
    } catch {
      /* the config checked it; a bad one limits nothing */
    }
  }
  let cmds = `flush set ${t} allow4\nflush set ${t} allow6\n`;
  if (v4.length > 0) cmds += `add element ${t} allow4 { ${v4.join(', ')} }\n`;
  if (v6.length > 0) cmds += `add element ${t} allow6 { ${v6.join(', ')} }\n`;
  return cmds;
}

interface NftCounterJson {
  nftables?: { counter?: { name?: string; packets?: number } }[];
}

/**
 * The kernel's drops out of `nft -j list counters table inet tunguard`, as dataplane counters: they
 * add to the global-rate drops the workers count (one counter per reason, wherever the drop
 * happened), and `kernel_*_dropped` says how many of those the kernel made.
 */
export function parseKernelLimitCounters(json: string): Record<string, number> {
  const got: Record<string, number> = { icmp_limit: 0, udp_limit: 0 };
  for (const o of (JSON.parse(json) as NftCounterJson).nftables ?? []) {
    const c = o.counter;
    if (c?.name && Object.hasOwn(got, c.name)) got[c.name] = c.packets ?? 0;
  }
  return {
    drop_icmp_rate_global: got.icmp_limit,
    drop_udp_rate_global: got.udp_limit,
    kernel_icmp_dropped: got.icmp_limit,
    kernel_udp_dropped: got.udp_limit,
  };
}
