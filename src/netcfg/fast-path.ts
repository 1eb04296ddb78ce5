// The SYN proxy's kernel fast path (bpf/synproxy.c): loads its two programs and their shared maps,
// fills the protected prefixes, and attaches one in front of the steering program at each LAN
// device's egress (where the kernel has forwarded a SYN after the firewall judged it), the other at
// each uplink's ingress (where it answers SYNs to the pairs the first has seen fw4 accept). The
// dataplane's SYN gate then drives both through the maps (src/tun/fast-path-maps.ts): the tier sets
// the mode every tick.
//
// Fail-open as the steering: the links are this process's fds, gone when it dies (without TCX,
// src/netcfg/tc-attach.ts's guard passes everything once the daemon is gone).
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { parsePrefix } from '../config/net.js';
import { closeQuietly, type TunAddon } from '../tun/addon.js';
import type { LoadedProgram } from '../tun/bpf-object.js';
import {
  CONF_SIZE,
  encodeConf,
  FastMapName,
  FastMode,
  type FastPathFds,
  type FastSettings,
  possibleCpus,
  prefixKey,
} from '../tun/fast-path-maps.js';
import { loadProgramPair } from './bpf-pair.js';
import { NetcfgError } from './ip.js';
import { deviceNumber } from './steering.js';
import { attachTc, detachTc } from './tc-attach.js';

export const FAST_PATH_OBJECT = 'synproxy';
export const FAST_PATH_SECTION = 'tc';
/** The program for the uplinks' ingress, in the same object (it shares the first one's maps). */
export const FAST_PATH_UPLINK_SECTION = 'tc/uplink';

/** ARPHRD_* of /sys/class/net/<dev>/type whose frames start with a 14-byte Ethernet header. */
const ARPHRD_ETHER = 1;
/**
 * ARPHRD_* of devices whose packets start with the IP header at tc ingress: tun (NONE), PPP (as
 * pppoe-wan), raw-IP WWAN, IP-in-IP/SIT/GRE tunnels, WireGuard (NONE). Anything else is not
 * attached: a header length guessed wrong would answer with a mangled packet.
 */
const ARPHRD_L3 = new Set([65534, 512, 519, 768, 769, 776, 778, 823]);

/** The link-layer header length the uplink program is told for a device of this ARPHRD type. */
export function uplinkHeaderLength(arphrd: number): number | undefined {
  if (arphrd === ARPHRD_ETHER) return 14;
  return ARPHRD_L3.has(arphrd) ? 0 : undefined;
}

export type FastPathChoice = 'off' | 'auto' | 'on';

/** tg_fp_protected's values: which hook answers a destination's SYNs (PROT_* in bpf/synproxy.c). */
export const Protect = {
  /** A routed LAN prefix: answered at the LAN device's egress. */
  lan: 1,
  /** One of the router's own addresses: answered at the TUN's egress (src/netcfg/router-local.ts). */
  router: 2,
} as const;

export class FastPath {
  private links: number[] = [];
  /** The LAN devices' links by ifindex (a device netifd drops or re-creates gives its link back). */
  private readonly lanLinks = new Map<number, number>();
  /** The router's addresses in the map now (replaced as a whole by protectRouter). */
  private routerNets: string[] = [];
  /** The uplinks' ingress links by ifindex. */
  private readonly uplinkLinks = new Map<number, number>();
  /** Their link-layer header lengths, in tg_fp_uplinks while the uplink program answers. */
  private readonly uplinkL2 = new Map<number, number>();
  private answeringAtUplinks = true;

  private constructor(
    private readonly addon: TunAddon,
    private readonly loaded: LoadedProgram,
    /** The uplinks' program (its maps are `loaded`'s). */
    private readonly uplinkProg: number,
    readonly cpus: number,
    readonly settings: FastSettings,
  ) {}

  /** Loads the program with its maps, in PASS mode, protecting `prefixes`. Throws with the reason. */
  static load(
    addon: TunAddon,
    settings: FastSettings,
    prefixes: readonly string[],
    /** Entries of the moderate tier's 4-tuple chart (syn_cache_size); the object's own size if none. */
    chartSize?: number,
  ): FastPath {
    const { first: loaded, second: uplinkProg } = loadProgramPair(
      addon,
      FAST_PATH_OBJECT,
      [FAST_PATH_SECTION, FAST_PATH_UPLINK_SECTION],
      ['the SYN fast path', "the SYN fast path's uplink program"],
      chartSize === undefined ? {} : { [FastMapName.chart]: chartSize },
    );
    const fp = new FastPath(
      addon,
      loaded,
      uplinkProg,
      possibleCpus(readFileSync('/sys/devices/system/cpu/possible', 'utf8')),
      settings,
    );
    try {
      const def = loaded.defs.get(FastMapName.conf);
      if (def?.valueSize !== CONF_SIZE)
        throw new NetcfgError(
          `the fast path object does not match this tunguard (settings of ${def?.valueSize} bytes, not ${CONF_SIZE})`,
        );
      const conf = encodeConf(settings, FastMode.PASS, Date.now());
      if (addon.bpfMapWrite(fp.map(FastMapName.conf), new Uint8Array(4), 4, 1, conf, false) !== 0)
        throw new NetcfgError('the kernel refused the fast path settings');
      fp.protect(prefixes);
    } catch (err) {
      fp.close();
      throw err;
    }
    return fp;
  }

  private map(name: string): number {
    const fd = this.loaded.maps.get(name);
    if (fd === undefined) throw new NetcfgError(`the fast path object has no map '${name}'`);
    return fd;
  }

  /** The fds the dataplane's SYN gate drives the program through. */
  get fds(): FastPathFds {
    return {
      conf: this.map(FastMapName.conf),
      aggressive: this.map(FastMapName.aggressive),
      stats: this.map(FastMapName.stats),
      sources: this.map(FastMapName.sources),
      suspects: this.map(FastMapName.suspects),
    };
  }

  /** Adds the prefixes whose SYNs the program may answer (IPv4 and IPv6 CIDR strings). */
  protect(prefixes: readonly string[], kind: number = Protect.lan): void {
    const fd = this.map(FastMapName.protected);
    for (const p of prefixes) {
      const c = parsePrefix(p, false);
      if (this.addon.bpfMapWrite(fd, prefixKey(c.bytes, c.bits), 20, 1, new Uint8Array([kind]), false) !== 0)
        throw new NetcfgError(`the fast path cannot protect ${p} (its table is full)`);
    }
  }

  /**
   * The router's own addresses (host prefixes) whose SYNs the program answers at the TUN's egress,
   * replacing the last list: the ones no longer there are taken out first.
   */
  protectRouter(addresses: readonly string[]): void {
    const fd = this.map(FastMapName.protected);
    for (const p of this.routerNets) {
      if (addresses.includes(p)) continue;
      const c = parsePrefix(p, false);
      this.addon.bpfMapWrite(fd, prefixKey(c.bytes, c.bits), 20, 1, new Uint8Array(1), true);
    }
    this.routerNets = [...addresses];
    this.protect(addresses, Protect.router);
  }

  /**
   * At the TUN's egress, where the router-local chain's copies of WAN SYNs to the router arrive
   * (first in line: nothing else is attached there today).
   */
  attachTun(dev: string): void {
    try {
      const ifindex = Number(readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8'));
      this.links.push(attachTc(this.addon, this.loaded.prog, ifindex, true, true, 'tg_fast_tun'));
    } catch (err) {
      throw new NetcfgError(`cannot attach the SYN fast path to ${dev} egress: ${(err as Error).message}`);
    }
  }

  /** In front of the steering program at each LAN device's egress. */
  attach(lans: readonly { dev: string; ifindex: number }[]): void {
    for (const l of lans) {
      try {
        if (this.lanLinks.has(l.ifindex)) continue;
        this.lanLinks.set(
          l.ifindex,
          attachTc(this.addon, this.loaded.prog, l.ifindex, true, true, 'tg_fast'),
        );
      } catch (err) {
        throw new NetcfgError(
          `cannot attach the SYN fast path to ${l.dev} egress: ${(err as Error).message}`,
        );
      }
    }
  }

  /** Closes the links of LAN devices not in `ifindexes` (gone, or re-created under a new index). */
  keepLans(ifindexes: ReadonlySet<number>): void {
    for (const [ifindex, fd] of this.lanLinks) {
      if (ifindexes.has(ifindex)) continue;
      this.lanLinks.delete(ifindex);
      detachTc(this.addon, fd);
    }
  }

  /**
   * The uplink program at the ingress of each of `uplinks` that exists now, and of nothing else:
   * links of devices gone (or re-created under a new ifindex) are closed, and their header length
   * taken out of the map. A device that cannot be attached (its link type unknown, no TCX) throws
   * after the others are done (retried at the next call).
   */
  followUplinks(uplinks: readonly string[]): void {
    const now = new Map<number, { dev: string; l2?: number }>();
    for (const dev of uplinks) {
      const ifindex = deviceNumber(dev, 'ifindex');
      const type = deviceNumber(dev, 'type');
      if (ifindex !== undefined && type !== undefined)
        now.set(ifindex, { dev, l2: uplinkHeaderLength(type) });
    }
    for (const [ifindex, fd] of this.uplinkLinks) {
      if (now.has(ifindex)) continue;
      this.uplinkLinks.delete(ifindex);
      detachTc(this.addon, fd);
      this.uplinkL2.delete(ifindex);
      this.writeUplink(ifindex, undefined);
    }
    const failed: string[] = [];
    for (const [ifindex, { dev, l2 }] of now) {
      if (this.uplinkLinks.has(ifindex)) continue;
      if (l2 === undefined) {
        failed.push(`${dev}: neither Ethernet nor an IP-only device`);
        continue;
      }
      if (!this.writeUplink(ifindex, this.answeringAtUplinks ? l2 : undefined)) {
        failed.push(`${dev}: too many uplinks`);
        continue;
      }
      try {
        this.uplinkLinks.set(
          ifindex,
          attachTc(this.addon, this.uplinkProg, ifindex, false, true, 'tg_fast_uplink'),
        );
        this.uplinkL2.set(ifindex, l2);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        this.writeUplink(ifindex, undefined);
        failed.push(`${dev}: ${e.message}${e.code === 'EINVAL' ? ' (TCX needs Linux 6.6 or later)' : ''}`);
      }
    }
    if (failed.length > 0)
      throw new NetcfgError(`cannot attach the SYN fast path to an uplink's ingress (${failed.join('; ')})`);
  }

  /**
   * Whether the uplink program answers (its links stay either way): off, tg_fp_uplinks is emptied and
   * it passes every packet (src/netcfg/source-rules.ts says when).
   */
  setUplinkAnswering(on: boolean): void {
    this.answeringAtUplinks = on;
    for (const [ifindex, l2] of this.uplinkL2) this.writeUplink(ifindex, on ? l2 : undefined);
  }

  get uplinkAnswering(): boolean {
    return this.answeringAtUplinks;
  }

  /** Writes (or, undefined, deletes) an uplink's header length; false when the map is full. */
  private writeUplink(ifindex: number, l2: number | undefined): boolean {
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, ifindex, LE);
    const value = new Uint8Array(4);
    new DataView(value.buffer).setUint32(0, l2 ?? 0, LE);
    return (
      this.addon.bpfMapWrite(this.map(FastMapName.uplinks), key, 4, 1, value, l2 === undefined) === 0 ||
      l2 === undefined
    );
  }

  /** Uplinks the uplink program is attached to (their ifindexes). */
  get uplinkIfindexes(): number[] {
    return [...this.uplinkLinks.keys()];
  }

  /** LAN devices the program is attached to (their ifindexes). */
  get lanIfindexes(): number[] {
    return [...this.lanLinks.keys()];
  }

  /** Detaches (links first) and frees the program and its maps; idempotent. */
  close(): void {
    const links = [...this.uplinkLinks.values(), ...this.lanLinks.values(), ...this.links].reverse();
    this.lanLinks.clear();
    this.uplinkLinks.clear();
    this.uplinkL2.clear();
    for (const link of links) detachTc(this.addon, link);
    for (const fd of [this.loaded.prog, this.uplinkProg, ...this.loaded.maps.values()]) {
      closeQuietly(this.addon, fd);
    }
    this.links = [];
    this.loaded.maps.clear();
  }

  /** The loaded program's fd (tests run it with BPF_PROG_TEST_RUN). */
  get program(): number {
    return this.loaded.prog;
  }

  /** The uplinks' program's fd (tests run it with BPF_PROG_TEST_RUN). */
  get uplinkProgram(): number {
    return this.uplinkProg;
  }

  /** A map's fd by name (FastMapName), for tests and the bench to look into. */
  mapFd(name: string): number {
    return this.map(name);
  }
}

const LE = endianness() === 'LE';
