// The SYN police: an nft table that drops new WAN SYNs above what the dataplane can answer, in the
// kernel, before they reach conntrack, the firewall and the TUN. Above that rate a flood only fills
// the TUN's queue, and the kernel then drops whatever comes next — the LAN hosts' answers for
// established connections included. Sources that completed a proxied handshake lately skip it.
//
// Fail-open: the table is created with `flags owner` from an `nft -i` child that lives as long as
// we do. When tunguard dies, however it dies, the pipe closes, nft exits and the kernel deletes the
// table with it.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { NetcfgError } from './ip.js';
import {
  type KernelLimitSettings,
  kernelLimitAllow,
  kernelLimitRules,
  kernelLimitSetup,
  parseKernelLimitCounters,
} from './kernel-limits.js';
import { NftReader } from './nft-reader.js';
import { type GuardPrefixes, offloadGuardCommands } from './offload-guard.js';
import { PoliceSources } from './police-sources.js';
import {
  ifnames,
  LOCAL_TABLE,
  type RouterLocalOptions,
  routerLocalCommands,
  routerLocalWans,
} from './router-local.js';

export const POLICE_TABLE = 'tunguard';
/** Entries of each known-sources set (when full, new sources wait for old ones to time out). */
const KNOWN_SET_SIZE = 65536;
/** How long a source stays known after its last completed handshake, s. */
export const KNOWN_TIMEOUT_S = 600;

export interface PoliceOptions {
  /** The uplink devices whose SYNs are policed (SynPolice.setWans changes them at run time). */
  wan: string | readonly string[];
  /** New SYNs per second from the WAN let through (0: no limit; the table still serves the fast path). */
  rate: number;
  /** Also take the router's own services behind the proxy (src/netcfg/router-local.ts). */
  local?: RouterLocalOptions;
  /** The ICMP/UDP limits, enforced first in the kernel (src/netcfg/kernel-limits.ts). */
  limits?: KernelLimitSettings;
  /** Sources the limits never apply to (CIDR strings). */
  allow?: readonly string[];
  /** Protected prefixes whose proxied connections fw4 must not offload (src/netcfg/offload-guard.ts). */
  offloadGuard?: GuardPrefixes;
}

/**
 * The skb mark bit of a WAN SYN to a protected prefix that conntrack was told to leave alone while
 * the kernel fast path answers (bpf/synproxy.c sends those SYN-ACKs straight out, no conntrack).
 */
export const FAST_NOTRACK_MARK = 0x10000000;

export function nftAvailable(): boolean {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function tableExists(): boolean {
  try {
    execFileSync('nft', ['list', 'table', 'inet', POLICE_TABLE], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The commands that build the table (one per line, for `nft -i`). */
export function policeCommands(o: PoliceOptions): string {
  const t = `inet ${POLICE_TABLE}`;
  const wans = typeof o.wan === 'string' ? [o.wan] : o.wan;
  const burst = Math.max(1, Math.round(o.rate / 10));
  const lines = [
    `add table ${t} { flags owner; }`,
    // Sources that completed a proxied handshake lately (the daemon adds them) skip the police:
    // a spoofed flood cannot complete one, so during a flood the clients already known keep
    // connecting at once instead of waiting for a SYN retransmission to win the lottery.
    `add set ${t} known4 { type ipv4_addr; flags timeout; size ${KNOWN_SET_SIZE}; }`,
    `add set ${t} known6 { type ipv6_addr; flags timeout; size ${KNOWN_SET_SIZE}; }`,
    // The uplinks by name, in a set: a travel router's uplink changes (hotel Wi-Fi, USB tethering,
    // LTE) and the set follows it without rebuilding the chain.
    `add set ${t} wans { type ifname; }`,
    ...(wans.length > 0 ? [`add element ${t} wans { ${ifnames(wans)} }`] : []),
    // While the kernel fast path answers (moderate and risky tiers), flood SYNs to the routed LAN
    // prefixes make no conntrack entry: the daemon fills these sets then, and empties them in the
    // normal tier, where the proxy's SYN-ACKs must meet the SYN's entry. A port forward's SYN is
    // addressed to the router (not in the sets): it keeps its entry, which its DNAT needs.
    `add set ${t} fast4 { type ipv4_addr; flags interval; }`,
    `add set ${t} fast6 { type ipv6_addr; flags interval; }`,
    // Likewise SYNs to the router's own addresses while the fast path answers those (at the TUN's
    // egress): they keep their conntrack entry (a port forward's DNAT needs it), so no mark.
    `add set ${t} fastlocal4 { type ipv4_addr; flags interval; }`,
    `add set ${t} fastlocal6 { type ipv6_addr; flags interval; }`,
    // One chain, before conntrack (raw): every packet the router receives crosses it, and under a
    // flood every SYN does, so what is not a new WAN SYN leaves at once, before any set lookup.
    `add chain ${t} syn_police { type filter hook prerouting priority raw; policy accept; }`,
    `add rule ${t} syn_police iifname != @wans accept`,
    `add rule ${t} syn_police meta l4proto != tcp accept`,
    `add rule ${t} syn_police tcp flags & (fin | syn | rst | ack) != syn accept`,
    // SYNs the kernel fast path answers cost no more than the kernel's own forwarding (the police
    // is for what would cross the TUN); the mark tells the program they have no conntrack entry.
    `add rule ${t} syn_police ip daddr @fast4 meta mark set meta mark | ${FAST_NOTRACK_MARK} notrack accept`,
    `add rule ${t} syn_police ip6 daddr @fast6 meta mark set meta mark | ${FAST_NOTRACK_MARK} notrack accept`,
    `add rule ${t} syn_police ip daddr @fastlocal4 accept`,
    `add rule ${t} syn_police ip6 daddr @fastlocal6 accept`,
    `add rule ${t} syn_police ip saddr @known4 accept`,
    `add rule ${t} syn_police ip6 saddr @known6 accept`,
    ...(o.rate > 0
      ? [`add rule ${t} syn_police limit rate over ${o.rate}/second burst ${burst} packets counter drop`]
      : []),
    ...(o.limits ? kernelLimitSetup(t) : []),
    ...(o.local ? routerLocalCommands(o.local, wans) : []),
    ...(o.offloadGuard ? offloadGuardCommands(t, o.offloadGuard) : []),
  ];
  const tail =
    (o.limits ? kernelLimitRules(t, o.limits) : '') +
    (o.limits && o.allow ? kernelLimitAllow(t, o.allow) : '');
  return `${lines.join('\n')}\n${tail}`;
}

/** The police table, owned by a child `nft -i`: gone when the child (or we) go. */
export class SynPolice {
  private child?: ChildProcess;
  private stderr = '';
  private local?: RouterLocalOptions;
  private limitsOn = false;
  /** Reads the limits' counters every second without a new nft each time. */
  private readonly reader = new NftReader();
  /**
   * Sources sent to the known sets and sources marked aggressive (the caller's ms). Twice the sets'
   * size of known ones (a full set refuses adds, which are still remembered); as many marks.
   */
  private readonly sources = new PoliceSources(2 * KNOWN_SET_SIZE, KNOWN_SET_SIZE, KNOWN_TIMEOUT_S * 1000);

  /** `log`: where an nft that dies under us is reported (the table and its sets went with it). */
  constructor(private readonly log: (msg: string) => void = () => {}) {}

  async setup(o: PoliceOptions): Promise<void> {
    // A table left by an older version without the owner flag would shadow ours: remove it.
    try {
      execFileSync('nft', ['delete', 'table', 'inet', POLICE_TABLE], { stdio: 'ignore' });
    } catch {
      /* not there */
    }
    this.local = o.local;
    this.limitsOn = o.limits !== undefined;
    const child = spawn('nft', ['-i'], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    let installed = false;
    // A write to a dead nft fails with EPIPE: reported through 'exit' below, never a crash.
    child.stdin?.on('error', () => {});
    child.on('error', (err) => {
      this.stderr += `${err.message}\n`;
    });
    child.once('exit', (code, signal) => {
      if (this.child !== child || !installed) return; // our teardown, or a setup that fails anyway
      this.child = undefined;
      this.log(
        `syn police: nft exited (${signal ?? code}): the SYN police is gone until a restart${this.stderr ? `; it said: ${this.stderr.trim().slice(-300)}` : ''}`,
      );
    });
    child.stderr?.on('data', (d: Buffer) => {
      // Kept for the error of a failed setup; later messages (a timed-out element) only the tail.
      this.stderr = (this.stderr + d.toString()).slice(-4096);
    });
    child.stdin?.write(policeCommands(o));
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) break;
      if (tableExists()) {
        installed = true;
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    this.teardown();
    const why =
      this.stderr.trim() || (child.exitCode !== null ? `nft exited ${child.exitCode}` : 'timed out');
    throw new NetcfgError(`cannot install the SYN police table: ${why}`);
  }

  /**
   * Whether the router-local tables are in place (their own nft transactions: a kernel without
   * nft_dup_ipv4 refuses them while the rest of the table stands). Waits up to a second for nft.
   */
  async localInstalled(): Promise<boolean> {
    if (!this.local || !this.child) return false;
    const fams = this.local.ipv6 ? ['ip', 'ip6'] : ['ip'];
    const ok = () =>
      fams.every((f) => {
        try {
          execFileSync('nft', ['list', 'chain', f, LOCAL_TABLE, 'local_out'], { stdio: 'ignore' });
          return true;
        } catch {
          return false;
        }
      });
    for (let i = 0; i < 50; i++) {
      if (ok()) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }

  /**
   * Which families' offload guard rules are in the table (nft takes the lines one by one, after the
   * table itself is there). Waits up to a second for nft to add every one asked for.
   */
  async guardInstalled(want: { v4: boolean; v6: boolean }): Promise<{ v4: boolean; v6: boolean }> {
    const read = () => {
      try {
        const chain = execFileSync('nft', ['list', 'chain', 'inet', POLICE_TABLE, 'offload_guard'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        return { v4: chain.includes('@guard4'), v6: chain.includes('@guard6') };
      } catch {
        return { v4: false, v6: false };
      }
    };
    let got = read();
    for (let i = 0; i < 50 && this.child && ((want.v4 && !got.v4) || (want.v6 && !got.v6)); i++) {
      await new Promise((r) => setTimeout(r, 20));
      got = read();
    }
    return { v4: want.v4 && got.v4, v6: want.v6 && got.v6 };
  }

  /** New ICMP/UDP limits (a reload). No effect without the table. */
  setLimits(limits: KernelLimitSettings): void {
    if (this.limitsOn) this.child?.stdin?.write(kernelLimitRules(`inet ${POLICE_TABLE}`, limits));
  }

  /** A new allowlist (a reload or the API). No effect without the table. */
  setAllow(prefixes: readonly string[]): void {
    if (this.limitsOn) this.child?.stdin?.write(kernelLimitAllow(`inet ${POLICE_TABLE}`, prefixes));
  }

  /** The kernel limits' drops so far, by dataplane counter name (empty without the table). */
  async limitCounters(): Promise<Record<string, number>> {
    if (!this.limitsOn || !this.child) return {};
    const out = await this.reader.ask(`list counters table inet ${POLICE_TABLE}`);
    try {
      return out === undefined ? {} : parseKernelLimitCounters(out);
    } catch {
      return {};
    }
  }

  /** What nft said last (for the warning when the router-local tables did not come up). */
  lastError(): string {
    return this.stderr.trim().split('\n').slice(-2).join(' ');
  }

  /**
   * Marks sources (IPv4/IPv6 text) known for KNOWN_TIMEOUT_S: they skip the SYN police. A source
   * already known is re-added (its timeout refreshed) once half its time has passed. No effect
   * when the table is not there. `now`: ms, any monotonic clock.
   */
  addKnown(addresses: Iterable<string>, now: number): void {
    const stdin = this.child?.stdin;
    if (!stdin) return;
    const t = `inet ${POLICE_TABLE}`;
    const del = (a: string) => `delete element ${t} ${a.includes(':') ? 'known6' : 'known4'} { ${a} }\n`;
    let cmds = '';
    for (const a of addresses) {
      const verdict = this.sources.admit(a, now);
      if (verdict === 'skip') continue;
      // `add` leaves an existing element's timeout as it was: delete it first (its own line and
      // transaction, so an element that has already timed out only costs an error message).
      if (verdict === 'refresh') cmds += del(a);
      cmds += `add element ${t} ${a.includes(':') ? 'known6' : 'known4'} { ${a} timeout ${KNOWN_TIMEOUT_S}s }\n`;
    }
    for (const a of this.sources.takeEvicted()) cmds += del(a);
    if (cmds) stdin.write(cmds);
  }

  /**
   * Fast path answering (`prefixes`: the protected ones; `local`: the router's own addresses it
   * answers for) or not (empty): SYNs to these prefixes skip conntrack, and SYNs to either skip the
   * police, from now on, or no longer. No effect when the table is not there.
   */
  fastNotrack(prefixes: readonly string[], local: readonly string[] = []): void {
    const stdin = this.child?.stdin;
    if (!stdin) return;
    const t = `inet ${POLICE_TABLE}`;
    let cmds = '';
    for (const [set, list] of [
      ['fast', prefixes],
      ['fastlocal', local],
    ] as const) {
      const v4 = list.filter((p) => !p.includes(':'));
      const v6 = list.filter((p) => p.includes(':'));
      cmds += `flush set ${t} ${set}4\nflush set ${t} ${set}6\n`;
      if (v4.length > 0) cmds += `add element ${t} ${set}4 { ${v4.join(', ')} }\n`;
      if (v6.length > 0) cmds += `add element ${t} ${set}6 { ${v6.join(', ')} }\n`;
    }
    stdin.write(cmds);
  }

  /**
   * A source the dataplane marked aggressive (`address`: "198.51.100.7", "2001:db8::1", or a /64 mark
   * "2001:db8:1:2::/64") until `until`: having completed a handshake once no longer lets it skip the
   * police. `until`: the clock addKnown is given.
   */
  dropAggressive(address: string, until: number): void {
    const t = `inet ${POLICE_TABLE}`;
    let cmds = '';
    for (const a of this.sources.mark(address, until))
      cmds += `delete element ${t} ${a.includes(':') ? 'known6' : 'known4'} { ${a} }\n`;
    if (cmds) this.child?.stdin?.write(cmds);
  }

  /** Polices SYNs arriving on these devices from now on (and no others). No effect without the table. */
  setWans(wans: readonly string[]): void {
    const t = `inet ${POLICE_TABLE}`;
    const add = wans.length > 0 ? `add element ${t} wans { ${ifnames(wans)} }\n` : '';
    const local = this.local ? routerLocalWans(this.local, wans) : '';
    this.child?.stdin?.write(`flush set ${t} wans\n${add}${local}`);
  }

  teardown(): void {
    this.child?.stdin?.end();
    this.child = undefined;
    this.reader.close();
  }
}
