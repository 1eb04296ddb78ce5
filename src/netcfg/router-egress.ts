// The last leg of the router's own answers on a proxied connection (src/netcfg/router-local.ts):
// a tc program at each uplink's egress sends what the output chain marked (ROUTE_MARK) into the TUN,
// where the proxy translates it back (steering-programs.ts, uplinkEgressProgram).
//
// It follows the uplinks by ifindex, not by name: a PPPoE or WireGuard uplink that reconnects is a
// new device under the same name, and its old attachment went with the old one. follow() is cheap
// (a sysfs read per uplink) and is called on every uplink change and every second.
//
// Fail-open as the steering: the links are this process's fds, gone when it dies; the nft tables
// that set the mark are gone too, and the router answers directly again.
import { closeQuietly, type TunAddon } from '../tun/addon.js';
import { ProgType } from '../tun/ebpf.js';
import { NetcfgError } from './ip.js';
import { ROUTE_MARK } from './router-local.js';
import { deviceNumber } from './steering.js';
import { uplinkEgressProgram } from './steering-programs.js';
import { attachTc, detachTc } from './tc-attach.js';

export class RouterEgress {
  /** The links by the ifindex of the uplink they are attached to. */
  private readonly links = new Map<number, number>();

  private constructor(
    private readonly addon: TunAddon,
    private readonly prog: number,
  ) {}

  /** Loads the program for the TUN `tun` (up). Throws with the reason. */
  static load(addon: TunAddon, tun: string): RouterEgress {
    const tunIfindex = deviceNumber(tun, 'ifindex');
    if (tunIfindex === undefined) throw new NetcfgError(`TUN device '${tun}' is not up`);
    try {
      return new RouterEgress(
        addon,
        addon.bpfLoad(ProgType.SCHED_CLS, uplinkEgressProgram({ tunIfindex, mark: ROUTE_MARK })),
      );
    } catch (err) {
      throw new NetcfgError(`cannot load the uplink egress program: ${(err as Error).message}`);
    }
  }

  /**
   * Attached to each of `uplinks` that exists now, and to nothing else: links of devices gone (or
   * re-created under a new ifindex) are closed. An uplink that cannot be attached throws after the
   * others are done (retried at the next call).
   */
  follow(uplinks: readonly string[]): void {
    const now = new Map<number, string>();
    for (const dev of uplinks) {
      const ifindex = deviceNumber(dev, 'ifindex');
      if (ifindex !== undefined) now.set(ifindex, dev);
    }
    for (const [ifindex, fd] of this.links) {
      if (now.has(ifindex)) continue;
      this.links.delete(ifindex);
      detachTc(this.addon, fd);
    }
    const failed: string[] = [];
    for (const [ifindex, dev] of now) {
      if (this.links.has(ifindex)) continue;
      try {
        this.links.set(ifindex, attachTc(this.addon, this.prog, ifindex, true, false, 'tg_uplink_out'));
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const hint = e.code === 'EINVAL' ? ' (TCX needs Linux 6.6 or later)' : '';
        failed.push(`${dev}: ${e.message}${hint}`);
      }
    }
    if (failed.length > 0)
      throw new NetcfgError(`cannot attach the uplink egress program (${failed.join('; ')})`);
  }

  /** The uplinks it is attached to (their ifindexes). */
  get ifindexes(): number[] {
    return [...this.links.keys()];
  }

  /** Detaches (links first) and frees the program; idempotent. */
  close(): void {
    for (const fd of this.links.values()) detachTc(this.addon, fd);
    closeQuietly(this.addon, this.prog);
    this.links.clear();
  }
}
