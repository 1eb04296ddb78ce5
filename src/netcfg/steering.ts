// Steering: puts the TUN on the LAN side of the router's forwarding with three tc programs attached
// through TCX links (src/netcfg/steering-programs.ts says what each does and why). The kernel
// firewall then judges every forwarded packet once, with its real devices, as without tunguard.
//
// Fail-open: the links belong to this process. When it dies, however it dies, its fds close, the
// kernel detaches the programs, and traffic takes the kernel path unprotected instead of stopping.
// Nothing is left to clean up after a crash. A kernel without TCX gets cls_bpf filters instead, which
// stay: there a heartbeat guard opens the path within a second and the next start deletes them
// (src/netcfg/tc-attach.ts).
import { existsSync, readFileSync } from 'node:fs';
import type { TunAddon } from '../tun/addon.js';
import { ProgType } from '../tun/ebpf.js';
import { ipTry, NetcfgError } from './ip.js';
import { LOCAL_MARK } from './router-local.js';
import {
  lanEgressProgram,
  lanIngressProgram,
  REINJECT_MARK,
  type SteeredLan,
  tunIngressProgram,
} from './steering-programs.js';
import { readSysctl, writeSysctl } from './sysctl.js';
import { attachTc, detachTc } from './tc-attach.js';

export interface SteeringOptions {
  tun: string;
  wan: string;
  lan: readonly string[];
  /** Routing table an older tunguard steered through (its leftover rules are removed at start). */
  table: number;
  ipv6: boolean;
  /** fd of the map of flows that take the kernel path (src/tun/flow-bypass.ts); none: all cross the TUN. */
  bypassMap?: number;
  /** Proxy the router's own services too (src/netcfg/router-local.ts). */
  local?: boolean;
}

export const STEERING_DEFAULTS = { table: 4747, ipv6: true } as const;

/** ARPHRD_ETHER: LAN devices must carry Ethernet frames (re-injected packets get an Ethernet header). */
const ARPHRD_ETHER = 1;

export function interfaceExists(dev: string): boolean {
  return /^[\w.@:-]{1,15}$/.test(dev) && existsSync(`/sys/class/net/${dev}`);
}

export function interfaceMtu(dev: string): number {
  return Number(readFileSync(`/sys/class/net/${dev}/mtu`, 'utf8'));
}

/** A number from /sys/class/net/<dev>/<what> (ifindex, type), or undefined when the device is gone. */
export function deviceNumber(dev: string, what: string): number | undefined {
  if (!interfaceExists(dev)) return undefined;
  try {
    return Number(readFileSync(`/sys/class/net/${dev}/${what}`, 'utf8'));
  } catch {
    return undefined; // gone between the two reads
  }
}

function sysNet(dev: string, what: string): string {
  return readFileSync(`/sys/class/net/${dev}/${what}`, 'utf8').trim();
}

/** Fails early, with the reason, when steering cannot work here. */
export function checkSteering(o: Pick<SteeringOptions, 'wan' | 'lan'>): void {
  for (const dev of [o.wan, ...o.lan]) {
    if (!interfaceExists(dev)) throw new NetcfgError(`unknown interface '${dev}' (no /sys/class/net/${dev})`);
  }
  if (o.lan.includes(o.wan)) throw new NetcfgError(`interface '${o.wan}' is given as both WAN and LAN`);
  for (const dev of o.lan) {
    if (Number(sysNet(dev, 'type')) !== ARPHRD_ETHER)
      throw new NetcfgError(`LAN interface '${dev}' is not an Ethernet device (a bridge, a port, a VLAN)`);
  }
}

/** What the LAN programs need to know of one LAN device. */
export function steeredLan(dev: string): SteeredLan {
  const mac = sysNet(dev, 'address')
    .split(':')
    .map((h) => Number.parseInt(h, 16));
  if (mac.length !== 6 || mac.some((b) => !(b >= 0 && b <= 255)))
    throw new NetcfgError(`LAN interface '${dev}' has no MAC address`);
  return { ifindex: Number(sysNet(dev, 'ifindex')), mac: Uint8Array.from(mac) };
}

/** Removes the policy-routing rules of table T left by an older tunguard. Returns how many. */
export function removeLegacyRules(o: Pick<SteeringOptions, 'table' | 'ipv6'>): number {
  let removed = 0;
  for (const fam of o.ipv6 ? ['-4', '-6'] : ['-4']) {
    for (let guard = 0; guard < 64 && ipTry([fam, 'rule', 'del', 'lookup', String(o.table)]); guard++)
      removed++;
    ipTry([fam, 'route', 'flush', 'table', String(o.table)]);
  }
  return removed;
}

/** The attached programs: their link fds (closing them detaches) and the program fds. */
export class Steering {
  private fds: number[] = [];

  private constructor(private readonly addon: TunAddon) {}

  /**
   * Attaches the programs on a TUN that is up. Throws with the reason (a kernel older than 6.6 has
   * no TCX) and leaves nothing attached when any step fails. Returns the start-up log's description.
   */
  static setup(o: SteeringOptions, addon: TunAddon): { steering: Steering; description: string } {
    checkSteering(o);
    if (!interfaceExists(o.tun)) throw new NetcfgError(`TUN device '${o.tun}' is not up`);
    if (readSysctl('net.ipv4.ip_forward') !== '1')
      process.emitWarning(
        'net.ipv4.ip_forward is 0: the router does not forward IPv4; tunguard will not change that',
      );
    if (o.ipv6 && readSysctl('net.ipv6.conf.all.forwarding') !== '1')
      process.emitWarning('net.ipv6.conf.all.forwarding is 0: IPv6 is not forwarded here');
    // The TUN program asks the kernel's routes where each packet goes as if it entered from the TUN,
    // which needs forwarding on the TUN itself; nothing is ever routed to it.
    writeSysctl(`net.ipv4.conf.${o.tun}.forwarding`, '1');
    writeSysctl(`net.ipv6.conf.${o.tun}.disable_ipv6`, '0');
    writeSysctl(`net.ipv6.conf.${o.tun}.forwarding`, '1');
    const legacy = removeLegacyRules(o);
    const lans = o.lan.map(steeredLan);
    const programOptions = {
      tunIfindex: Number(sysNet(o.tun, 'ifindex')),
      lans,
      ipv6: o.ipv6,
      mark: REINJECT_MARK,
      bypassMap: o.bypassMap,
      ...(o.local ? { localMark: LOCAL_MARK } : {}),
    };
    const s = new Steering(addon);
    try {
      const load = (name: string, insns: Uint8Array) => {
        try {
          const fd = addon.bpfLoad(ProgType.SCHED_CLS, insns);
          s.fds.push(fd);
          return fd;
        } catch (err) {
          throw new NetcfgError(`cannot load the ${name} program: ${(err as Error).message}`);
        }
      };
      const attach = (prog: number, dev: string, ifindex: number, egress: boolean, name: string) => {
        try {
          s.fds.push(attachTc(addon, prog, ifindex, egress, false, name));
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          const hint = e.code === 'EINVAL' ? ' (TCX needs Linux 6.6 or later)' : '';
          throw new NetcfgError(
            `cannot attach to ${dev} ${egress ? 'egress' : 'ingress'}: ${e.message}${hint}`,
          );
        }
      };
      const lanIn = load('LAN ingress', lanIngressProgram(programOptions));
      const lanOut = load('LAN egress', lanEgressProgram(programOptions));
      const tunIn = load('TUN ingress', tunIngressProgram(programOptions));
      // The TUN's program first: whatever the LAN programs send it must find its way back.
      attach(tunIn, o.tun, programOptions.tunIfindex, false, 'tg_tun_in');
      o.lan.forEach((dev, i) => {
        attach(lanOut, dev, lans[i].ifindex, true, 'tg_lan_out');
        attach(lanIn, dev, lans[i].ifindex, false, 'tg_lan_in');
      });
    } catch (err) {
      s.teardown();
      throw err;
    }
    const families = o.ipv6 ? 'IPv4+IPv6' : 'IPv4';
    const note = legacy > 0 ? `; removed ${legacy} policy-routing rule(s) of table ${o.table}` : '';
    return {
      steering: s,
      description: `${o.lan.join(',')} <-> ${o.tun} (tc programs on the LAN side, ${families}${o.bypassMap === undefined ? '' : ', LAN-opened flows bypass'})${note}`,
    };
  }

  /** Detaches everything (closing the links); idempotent. */
  teardown(): void {
    // Links first, in reverse: the LAN programs go before the TUN's, so nothing is sent to a TUN
    // whose own program is already gone.
    for (const fd of this.fds.reverse()) {
      detachTc(this.addon, fd);
    }
    this.fds = [];
  }
}
