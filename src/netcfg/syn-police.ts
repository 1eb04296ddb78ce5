// The SYN police: an nft table that drops new WAN SYNs above what the dataplane can answer, in the
// kernel, before they reach conntrack, the firewall and the TUN. Above that rate a flood only fills
// the TUN's queue, and the kernel then drops whatever comes next — the LAN hosts' answers for
// established connections included. Sources that completed a proxied handshake lately skip it.
//
// Fail-open: the table is created with `flags owner` from an `nft -i` child that lives as long as
// we do. When tunguard dies, however it dies, the pipe closes, nft exits and the kernel deletes the
// table with it. The other way round, an nft that dies under a running tunguard (killed, OOM) takes
// the table too: the police says so at once (onState, one log line) and builds it again from what it
// was told since the start, after a wait that doubles while nft keeps dying (capped, never giving up).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import type { Log } from '../config/logfmt.js';
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
/**
 * The skb mark bit the fast path's uplink program puts on such a SYN itself while the tier answers
 * (bpf/synproxy.c): the police's chain treats it as one to the fast sets, without waiting for the
 * daemon to fill them.
 */
export const FAST_NOTRACK_ASK_MARK = 0x02000000;

/** Waits before rebuilding a lost table: the first, the cap, and how long a table must have lived for
 * its loss to start from the first wait again (a table nft keeps dropping waits longer each time). */
export interface PoliceRestart {
  firstMs: number;
  maxMs: number;
  stableMs: number;
}

export const POLICE_RESTART: PoliceRestart = { firstMs: 1000, maxMs: 60_000, stableMs: 60_000 };

/** The wait before the `n`th rebuild in a row (0: the first): doubling, at most `r.maxMs`. */
export function restartDelay(n: number, r: PoliceRestart): number {
  return Math.min(r.maxMs, r.firstMs * 2 ** Math.min(n, 30));
}

/** Elements a line when the known sets are filled again (a line is one nft transaction). */
const KNOWN_CHUNK = 256;

/** Whether the table is in place, and how often it was lost and built again (`GET /status` `police`). */
export interface PoliceState {
  installed: boolean;
  /** Times nft died under us and took the table. */
  lost: number;
  /** Times the table was built again after that. */
  rebuilt: number;
  /** While not installed: why (the last exit, or the last failed rebuild). */
  reason?: string;
}

/** The offload guard's families (src/netcfg/offload-guard.ts) kept out of flow offloading. */
export interface GuardFamilies {
  v4: boolean;
  v6: boolean;
}

const NO_GUARD: GuardFamilies = { v4: false, v6: false };

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
    // flood every SYN does, so what is not a new SYN leaves at once on two compares, before any
    // set lookup: the uplink's name (a hash-set lookup, perf: ~0.5 % of a forwarding core) is
    // asked of SYNs only, not of every segment of the LAN's own (bypassed) flows.
    `add chain ${t} syn_police { type filter hook prerouting priority raw; policy accept; }`,
    `add rule ${t} syn_police meta l4proto != tcp accept`,
    `add rule ${t} syn_police tcp flags & (fin | syn | rst | ack) != syn accept`,
    `add rule ${t} syn_police iifname != @wans accept`,
    // SYNs the kernel fast path answers cost no more than the kernel's own forwarding (the police
    // is for what would cross the TUN); the mark tells the program they have no conntrack entry.
    `add rule ${t} syn_police meta mark & ${FAST_NOTRACK_ASK_MARK} != 0 meta mark set meta mark & ${~FAST_NOTRACK_ASK_MARK >>> 0} | ${FAST_NOTRACK_MARK} notrack accept`,
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

/** The police table, owned by a child `nft -i`: gone when the child (or we) go; built again when only the child goes. */
export class SynPolice {
  private child?: ChildProcess;
  private stderr = '';
  /** What the table was built from, kept up to date by the setters below: a rebuild's input. */
  private built?: PoliceOptions;
  private wans: readonly string[] = [];
  private fast: { prefixes: readonly string[]; local: readonly string[] } = { prefixes: [], local: [] };
  private state: PoliceState = { installed: false, lost: 0, rebuilt: 0 };
  /**
   * The offload guard's families confirmed in the table now: changed only with `state` (so no reader
   * sees a guard without its table), and confirmed before a rebuilt table is said to be back.
   */
  private guard: GuardFamilies = NO_GUARD;
  /** The families a rebuilt table is checked for: what the daemon confirmed on the first one. */
  private guardWanted: GuardFamilies = NO_GUARD;
  private stopped = false;
  private rebuildTimer?: NodeJS.Timeout;
  /** Rebuilds in a row since a table last lived restart.stableMs (the next wait's exponent). */
  private quickLosses = 0;
  private installedAt = 0;
  /** The limits' drops of the tables lost so far (a new table counts from 0; the status's never go back). */
  private countedBefore: Record<string, number> = {};
  private countedLast: Record<string, number> = {};
  /** Reads the limits' counters every second without a new nft each time. */
  private readonly reader = new NftReader();
  /**
   * Sources sent to the known sets and sources marked aggressive (the caller's ms). Twice the sets'
   * size of known ones (a full set refuses adds, which are still remembered); as many marks.
   */
  private readonly sources = new PoliceSources(2 * KNOWN_SET_SIZE, KNOWN_SET_SIZE, KNOWN_TIMEOUT_S * 1000);
  private readonly onState: (s: PoliceState) => void;
  private readonly restart: PoliceRestart;
  private readonly clock: () => number;

  /**
   * `log`: where a lost table and its rebuild are reported; `onState`: called when the table goes
   * and when it is back; `clock`: the ms clock addKnown and dropAggressive are given (the daemon's
   * performance.now()), which a rebuild needs to give known sources the time they have left.
   */
  constructor(
    private readonly log: Log = () => {},
    o: { onState?: (s: PoliceState) => void; restart?: PoliceRestart; clock?: () => number } = {},
  ) {
    this.onState = o.onState ?? (() => {});
    this.restart = o.restart ?? POLICE_RESTART;
    this.clock = o.clock ?? (() => performance.now());
  }

  /** Whether the table is there now, and its losses and rebuilds (undefined before a setup). */
  get status(): PoliceState | undefined {
    return this.built ? { ...this.state } : undefined;
  }

  /**
   * The offload guard's families in the table now (`GET /status` `flowOffload`): never true while
   * `status.installed` is false, as both change together (a lost table takes the guard at once).
   */
  get guarded(): GuardFamilies {
    return this.state.installed ? { ...this.guard } : NO_GUARD;
  }

  async setup(o: PoliceOptions): Promise<void> {
    // A table left by an older version without the owner flag would shadow ours: remove it.
    try {
      execFileSync('nft', ['delete', 'table', 'inet', POLICE_TABLE], { stdio: 'ignore' });
    } catch {
      /* not there */
    }
    this.built = o;
    this.wans = typeof o.wan === 'string' ? [o.wan] : [...o.wan];
    const why = await this.install(policeCommands(o));
    if (why !== undefined) {
      this.teardown();
      throw new NetcfgError(`cannot install the SYN police table: ${why}`);
    }
    this.state = { ...this.state, installed: true };
  }

  /** Starts an `nft -i` on `commands`; resolves when the table is there (undefined) or why not. */
  private async install(commands: string): Promise<string | undefined> {
    this.stderr = '';
    const child = spawn('nft', ['-i'], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    let installed = false;
    // A write to a dead nft fails with EPIPE: reported through 'exit' below, never a crash.
    child.stdin?.on('error', () => {});
    child.on('error', (err) => {
      this.stderr += `${err.message}\n`;
    });
    child.once('exit', (code, signal) => {
      if (this.child !== child || !installed) return; // our teardown, or an install that fails anyway
      this.child = undefined;
      this.lost(`nft exited (${signal ?? code})`);
    });
    child.stderr?.on('data', (d: Buffer) => {
      // Kept for the error of a failed setup; later messages (a timed-out element) only the tail.
      this.stderr = (this.stderr + d.toString()).slice(-4096);
    });
    child.stdin?.write(commands);
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null || child.signalCode !== null || this.child !== child) break;
      if (tableExists()) {
        installed = true;
        this.installedAt = this.clock();
        return undefined;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    child.stdin?.end();
    if (this.child === child) this.child = undefined;
    return (
      this.stderr.trim() ||
      (child.exitCode !== null || child.signalCode !== null
        ? `nft exited ${child.signalCode ?? child.exitCode}`
        : 'timed out')
    );
  }

  /** nft died under us and the table with it: said at once, and built again after a wait. */
  private lost(why: string): void {
    if (this.clock() - this.installedAt >= this.restart.stableMs) this.quickLosses = 0;
    const delay = restartDelay(this.quickLosses++, this.restart);
    for (const [k, n] of Object.entries(this.countedLast))
      this.countedBefore[k] = (this.countedBefore[k] ?? 0) + n;
    this.countedLast = {};
    const said = this.stderr.trim().slice(-300);
    this.state = { ...this.state, installed: false, lost: this.state.lost + 1, reason: why };
    this.guard = NO_GUARD;
    this.log(
      `warning: syn police: ${why}: the ${POLICE_TABLE} nft table is gone, and with it the SYN police, the kernel ICMP/UDP limits, the router-local proxying, the fast path's notrack sets and the offload guard; rebuilding it in ${delay / 1000} s${said ? `; nft said: ${said}` : ''}`,
      'warn',
      { event: 'police', installed: false, reason: why, retry_s: delay / 1000 },
    );
    this.onState({ ...this.state });
    this.schedule(delay);
  }

  private schedule(delay: number): void {
    clearTimeout(this.rebuildTimer);
    this.rebuildTimer = setTimeout(() => void this.rebuild(), delay);
  }

  private async rebuild(): Promise<void> {
    this.rebuildTimer = undefined;
    if (this.stopped || this.child || !this.built) return;
    const why = await this.install(this.rebuildCommands());
    if (this.stopped) return;
    if (why === undefined) {
      // The guard's lines come after the table's: the table is said to be back with them (or without
      // what nft refused), not a moment before. A loss meanwhile already said so and rescheduled.
      const child = this.child;
      const guard = await this.readGuard(this.guardWanted);
      if (this.stopped || this.child !== child) return;
      this.guard = guard;
      const { reason: _, ...kept } = this.state;
      this.state = { ...kept, installed: true, rebuilt: this.state.rebuilt + 1 };
      this.log(
        `syn police: the ${POLICE_TABLE} nft table is back (rebuilt after ${this.state.lost} loss(es)): uplinks ${this.wans.join(', ') || 'none'}, ${this.sources.knownCount} known source(s)`,
        'info',
        { event: 'police', installed: true, rebuilt: this.state.rebuilt },
      );
      this.onState({ ...this.state });
      return;
    }
    const n = this.quickLosses++;
    const delay = restartDelay(n, this.restart);
    const reason = `the rebuild failed: ${why.split('\n').slice(-2).join(' ')}`;
    // While nft keeps failing the waits grow to the cap: a line for the 1st, 2nd, 4th, 8th… failure
    // in a row, or a new reason, so a router that stays broken does not fill its small log ring.
    const quiet = reason === this.state.reason && (n & (n - 1)) !== 0;
    this.state = { ...this.state, reason };
    if (!quiet)
      this.log(`warning: syn police: ${reason}; trying again in ${delay / 1000} s`, 'warn', {
        event: 'police',
        installed: false,
        reason,
        retry_s: delay / 1000,
      });
    this.schedule(delay);
  }

  /** The start's commands with what changed since (uplinks, limits, allowlist), then the sets' contents. */
  private rebuildCommands(): string {
    const o = { ...(this.built as PoliceOptions), wan: this.wans };
    const t = `inet ${POLICE_TABLE}`;
    let cmds = policeCommands(o) + this.fastCommands();
    const left = this.sources.knownLeft(this.clock());
    for (const fam of ['4', '6'] as const) {
      const mine = left.filter(([a]) => a.includes(':') === (fam === '6'));
      for (let i = 0; i < mine.length; i += KNOWN_CHUNK) {
        const els = mine.slice(i, i + KNOWN_CHUNK).map(([a, ms]) => `${a} timeout ${Math.ceil(ms / 1000)}s`);
        cmds += `add element ${t} known${fam} { ${els.join(', ')} }\n`;
      }
    }
    return cmds;
  }

  /**
   * Whether the router-local tables are in place (their own nft transactions: a kernel without
   * nft_dup_ipv4 refuses them while the rest of the table stands). Waits up to a second for nft.
   */
  async localInstalled(): Promise<boolean> {
    const local = this.built?.local;
    if (!local || !this.child) return false;
    const fams = local.ipv6 ? ['ip', 'ip6'] : ['ip'];
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
   * The router-local tables did not come up (localInstalled) and the daemon went on without them:
   * a rebuild must not bring them back behind its back.
   */
  forgetLocal(): void {
    if (!this.built?.local) return;
    const { local: _, ...rest } = this.built;
    this.built = rest;
  }

  /**
   * Which families' offload guard rules are in the table (nft takes the lines one by one, after the
   * table itself is there). Waits up to a second for nft to add every one asked for. Kept: what
   * `guarded` says, and what a rebuilt table is checked for.
   */
  async guardInstalled(want: GuardFamilies): Promise<GuardFamilies> {
    const got = await this.readGuard(want);
    this.guardWanted = got;
    if (this.state.installed) this.guard = got;
    return got;
  }

  /** guardInstalled's reading, without keeping it. */
  private async readGuard(want: GuardFamilies): Promise<GuardFamilies> {
    if (!want.v4 && !want.v6) return NO_GUARD;
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

  /** New ICMP/UDP limits (a reload). Kept for a rebuild; no effect without the table. */
  setLimits(limits: KernelLimitSettings): void {
    if (!this.built?.limits) return;
    this.built = { ...this.built, limits };
    this.child?.stdin?.write(kernelLimitRules(`inet ${POLICE_TABLE}`, limits));
  }

  /** A new allowlist (a reload or the API). Kept for a rebuild; no effect without the table. */
  setAllow(prefixes: readonly string[]): void {
    if (!this.built?.limits) return;
    this.built = { ...this.built, allow: [...prefixes] };
    this.child?.stdin?.write(kernelLimitAllow(`inet ${POLICE_TABLE}`, prefixes));
  }

  /**
   * The kernel limits' drops so far, by dataplane counter name (empty without the table): those of
   * lost tables (as last read) plus the current one's, so the sum never goes back.
   */
  async limitCounters(): Promise<Record<string, number>> {
    if (!this.built?.limits) return {};
    const total = () => {
      const sum = { ...this.countedBefore };
      for (const [k, n] of Object.entries(this.countedLast)) sum[k] = (sum[k] ?? 0) + n;
      return sum;
    };
    if (!this.child) return total();
    const out = await this.reader.ask(`list counters table inet ${POLICE_TABLE}`);
    try {
      if (out !== undefined && this.child) this.countedLast = parseKernelLimitCounters(out);
    } catch {
      /* a half-built table: the last reading stands */
    }
    return total();
  }

  /** What nft said last (for the warning when the router-local tables did not come up). */
  lastError(): string {
    return this.stderr.trim().split('\n').slice(-2).join(' ');
  }

  /**
   * Marks sources (IPv4/IPv6 text) known for KNOWN_TIMEOUT_S: they skip the SYN police. A source
   * already known is re-added (its timeout refreshed) once half its time has passed. Remembered while
   * the table is lost (a rebuild adds them); no effect before setup. `now`: the constructor's clock.
   */
  addKnown(addresses: Iterable<string>, now: number): void {
    if (!this.built) return;
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
    if (cmds) this.child?.stdin?.write(cmds);
  }

  /**
   * Fast path answering (`prefixes`: the protected ones; `local`: the router's own addresses it
   * answers for) or not (empty): SYNs to these prefixes skip conntrack, and SYNs to either skip the
   * police, from now on, or no longer. Kept for a rebuild; no effect without the table.
   */
  fastNotrack(prefixes: readonly string[], local: readonly string[] = []): void {
    this.fast = { prefixes: [...prefixes], local: [...local] };
    this.child?.stdin?.write(this.fastCommands());
  }

  private fastCommands(): string {
    const t = `inet ${POLICE_TABLE}`;
    let cmds = '';
    for (const [set, list] of [
      ['fast', this.fast.prefixes],
      ['fastlocal', this.fast.local],
    ] as const) {
      const v4 = list.filter((p) => !p.includes(':'));
      const v6 = list.filter((p) => p.includes(':'));
      cmds += `flush set ${t} ${set}4\nflush set ${t} ${set}6\n`;
      if (v4.length > 0) cmds += `add element ${t} ${set}4 { ${v4.join(', ')} }\n`;
      if (v6.length > 0) cmds += `add element ${t} ${set}6 { ${v6.join(', ')} }\n`;
    }
    return cmds;
  }

  /**
   * A source the dataplane marked aggressive (`address`: "198.51.100.7", "2001:db8::1", or a /64 mark
   * "2001:db8:1:2::/64") until `until`: having completed a handshake once no longer lets it skip the
   * police (a rebuilt table leaves it out too). `until`: the clock addKnown is given.
   */
  dropAggressive(address: string, until: number): void {
    const t = `inet ${POLICE_TABLE}`;
    let cmds = '';
    for (const a of this.sources.mark(address, until))
      cmds += `delete element ${t} ${a.includes(':') ? 'known6' : 'known4'} { ${a} }\n`;
    if (cmds) this.child?.stdin?.write(cmds);
  }

  /** Polices SYNs arriving on these devices from now on (and no others). Kept for a rebuild. */
  setWans(wans: readonly string[]): void {
    this.wans = [...wans];
    const t = `inet ${POLICE_TABLE}`;
    const add = wans.length > 0 ? `add element ${t} wans { ${ifnames(wans)} }\n` : '';
    const local = this.built?.local ? routerLocalWans(this.built.local, wans) : '';
    this.child?.stdin?.write(`flush set ${t} wans\n${add}${local}`);
  }

  teardown(): void {
    this.stopped = true;
    clearTimeout(this.rebuildTimer);
    this.child?.stdin?.end();
    this.child = undefined;
    this.state = { ...this.state, installed: false };
    this.guard = NO_GUARD;
    this.reader.close();
  }
}
