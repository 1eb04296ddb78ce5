// Proxied connections translated in the kernel (bpf/seqadj.c): loads its two programs with their
// shared maps and attaches them in front of the steering programs at each LAN device, the client's
// direction at egress and the server's at ingress. The dataplane's SYN proxy fills the connection map
// (src/tun/xlate-map.ts); what is not in it takes the steering programs' path, as before.
//
// Fail-open as the steering: the links and the map are this process's fds, gone when it dies (the
// steering goes with them, so nothing is left that translates a connection no proxy holds).
import { closeQuietly, type TunAddon } from '../tun/addon.js';
import type { LoadedProgram } from '../tun/bpf-object.js';
import {
  encodeXlateConf,
  writeXlateKey,
  XLATE_CONF_SIZE,
  XLATE_HELD,
  XLATE_HELD_KEY,
  XLATE_HELD_SIZE,
  XLATE_KEY_SIZE,
  XLATE_MAX_CONNS,
  XLATE_NONE_HELD,
  XLATE_OBJECT,
  XLATE_TO_CLIENT_SECTION,
  XLATE_TO_SERVER_SECTION,
  XLATE_VALUE_SIZE,
  XlateMapName,
} from '../tun/xlate-map.js';
import { loadProgramPair } from './bpf-pair.js';
import { NetcfgError } from './ip.js';
import { attachTc, detachTc } from './tc-attach.js';

/** Tests only: sizes the connection map smaller, so that a full map is reached with a few connections. */
export const XLATE_CONNS_ENV = 'TUNGUARD_TEST_XLATE_CONNS';

/**
 * The connection map's size: XLATE_MAX_CONNS, or the smaller one XLATE_CONNS_ENV asks for (lab tests
 * of a full map); anything else there is refused, never taken as a larger map.
 */
export function xlateMapSize(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[XLATE_CONNS_ENV];
  if (v === undefined || v === '') return XLATE_MAX_CONNS;
  const n = /^[0-9]{1,6}$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 1 && n <= XLATE_MAX_CONNS))
    throw new NetcfgError(`${XLATE_CONNS_ENV}: expected an integer 1..${XLATE_MAX_CONNS}, got '${v}'`);
  return n;
}

export class KernelXlate {
  /** Links by LAN ifindex: [egress, ingress]. */
  private readonly lanLinks = new Map<number, number[]>();
  private closed = false;
  private readonly addrs = new Uint8Array(32);
  private readonly keyScratch = new Uint8Array(XLATE_KEY_SIZE);
  private readonly valueScratch = new Uint8Array(XLATE_VALUE_SIZE);

  private constructor(
    private readonly addon: TunAddon,
    private readonly toServer: LoadedProgram,
    private readonly toClientProg: number,
  ) {}

  /** Loads both programs and their maps; throws NetcfgError with the reason. */
  static load(addon: TunAddon, maxConns = XLATE_MAX_CONNS): KernelXlate {
    const { first: toServer, second: toClient } = loadProgramPair(
      addon,
      XLATE_OBJECT,
      [XLATE_TO_SERVER_SECTION, XLATE_TO_CLIENT_SECTION],
      ['the kernel translation of proxied connections', "the kernel translation's program toward the client"],
      { [XlateMapName.conns]: maxConns },
    );
    const x = new KernelXlate(addon, toServer, toClient);
    const conns = toServer.defs.get(XlateMapName.conns);
    const conf = toServer.defs.get(XlateMapName.conf);
    const held = toServer.defs.get(XlateMapName.held);
    if (
      conns?.keySize !== XLATE_KEY_SIZE ||
      conns.valueSize !== XLATE_VALUE_SIZE ||
      conf?.valueSize !== XLATE_CONF_SIZE ||
      held?.valueSize !== XLATE_HELD_SIZE
    ) {
      x.close();
      throw new NetcfgError('the kernel translation object does not match this tunguard (its map layout)');
    }
    return x;
  }

  private map(name: string): number {
    const fd = this.toServer.maps.get(name);
    if (fd === undefined) throw new NetcfgError(`the kernel translation object has no map '${name}'`);
    return fd;
  }

  /** The connection map, for the dataplane (src/tun/xlate-map.ts). */
  get connsFd(): number {
    return this.map(XlateMapName.conns);
  }

  /** The word that says whether the connection map may hold a connection, for the dataplane. */
  get heldFd(): number {
    return this.map(XlateMapName.held);
  }

  /**
   * Whether the programs look segments up at all (bpf/seqadj.c's tg_xl_held): the main thread says so
   * from the counters (connections handed over minus taken back), the workers with each hand-over.
   */
  setHeld(held: boolean): void {
    if (this.closed) return;
    this.addon.bpfMapWrite(this.heldFd, XLATE_HELD_KEY, 4, 1, held ? XLATE_HELD : XLATE_NONE_HELD, false);
  }

  /**
   * The main thread's share of setHeld: from the workers' counters summed, whether a connection handed
   * over has not been taken back (each counts only what the kernel accepted).
   */
  heldFromCounters(c: Readonly<Record<string, number>>): void {
    this.setHeld((c.xlate_handed ?? 0) > (c.xlate_removed ?? 0));
  }

  get programs(): { toServer: number; toClient: number } {
    return { toServer: this.toServer.prog, toClient: this.toClientProg };
  }

  /**
   * Whether the map holds a connection now (its packets are translated here, not by the proxy); off
   * the packet path (the API's connection list).
   */
  holds(client: Uint8Array, cPort: number, server: Uint8Array, sPort: number): boolean {
    if (this.closed || client.length !== server.length) return false;
    const n = client.length;
    this.addrs.set(server, 0);
    this.addrs.set(client, n);
    writeXlateKey(this.keyScratch, 0, this.addrs, n === 4 ? 4 : 6, 0, sPort, n, cPort);
    return this.addon.bpfMapRead(this.map(XlateMapName.conns), this.keyScratch, this.valueScratch);
  }

  /** What the programs must leave alone: the TUN's own packets, and those it re-injects (this mark). */
  configure(tunIfindex: number, reinjectMark: number): void {
    const conf = encodeXlateConf(tunIfindex, reinjectMark);
    if (this.addon.bpfMapWrite(this.map(XlateMapName.conf), new Uint8Array(4), 4, 1, conf, false) !== 0)
      throw new NetcfgError('the kernel refused the translation settings');
  }

  /**
   * In front of the programs already at each LAN device's egress and ingress (the steering's); the
   * SYN fast path, attached after this, goes in front of it at egress.
   */
  attach(lans: readonly { dev: string; ifindex: number }[]): void {
    for (const l of lans) {
      if (this.lanLinks.has(l.ifindex)) continue;
      const links: number[] = [];
      try {
        links.push(attachTc(this.addon, this.toServer.prog, l.ifindex, true, true, 'tg_xlate_server'));
        links.push(attachTc(this.addon, this.toClientProg, l.ifindex, false, true, 'tg_xlate_client'));
      } catch (err) {
        for (const fd of links) detachTc(this.addon, fd);
        throw new NetcfgError(`cannot attach the kernel translation to ${l.dev}: ${(err as Error).message}`);
      }
      this.lanLinks.set(l.ifindex, links);
    }
  }

  /** Closes the links of LAN devices not in `ifindexes` (gone, or re-created under a new index). */
  keepLans(ifindexes: ReadonlySet<number>): void {
    for (const [ifindex, fds] of this.lanLinks) {
      if (ifindexes.has(ifindex)) continue;
      this.lanLinks.delete(ifindex);
      for (const fd of fds) detachTc(this.addon, fd);
    }
  }

  /** Detaches both programs everywhere (the map stays: the workers may still write to it). */
  detach(): void {
    for (const fds of this.lanLinks.values()) for (const fd of fds) detachTc(this.addon, fd);
    this.lanLinks.clear();
  }

  /** Detaches, and frees the programs and maps; idempotent. */
  close(): void {
    if (this.closed) return; // an fd number closed twice may be someone else's by then
    this.closed = true;
    this.detach();
    for (const fd of [this.toServer.prog, this.toClientProg, ...this.toServer.maps.values()])
      closeQuietly(this.addon, fd);
  }
}
