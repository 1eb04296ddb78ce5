// Policy routing that steers forwarded WAN↔LAN traffic through the TUN, and takes it away again.
//
//   ip rule pref P   iif <wan> lookup T        (and one per LAN device, IPv4 and IPv6)
//   table T:         default dev tg0
//
// Packets tunguard writes back arrive with iif tg0, match no rule and take the main table (and the
// kernel's firewall/NAT) as before. Fail-open: the TUN is not persistent, so when the process dies
// the device and every route of table T vanish with it; the rules then find nothing in T and fall
// through to main, and traffic flows unprotected instead of stopping.
import { existsSync, readFileSync } from 'node:fs';
import { ip, ipTry, NetcfgError } from './ip.js';
import { readSysctl, writeSysctl } from './sysctl.js';

export interface SteeringOptions {
  tun: string;
  wan: string;
  lan: readonly string[];
  /** Routing table id for table T. */
  table: number;
  /** Preference of the first rule; one per steered device follows (pref, pref+1, ...). */
  pref: number;
  ipv6: boolean;
}

export const STEERING_DEFAULTS = { table: 4747, pref: 4747, ipv6: true } as const;

export function interfaceExists(dev: string): boolean {
  return /^[\w.@:-]{1,15}$/.test(dev) && existsSync(`/sys/class/net/${dev}`);
}

export function interfaceMtu(dev: string): number {
  return Number(readFileSync(`/sys/class/net/${dev}/mtu`, 'utf8'));
}

/** Fails early, with the reason, when steering cannot work here. */
export function checkSteering(o: SteeringOptions): void {
  for (const dev of [o.wan, ...o.lan]) {
    if (!interfaceExists(dev)) throw new NetcfgError(`unknown interface '${dev}' (no /sys/class/net/${dev})`);
  }
  if (o.lan.includes(o.wan)) throw new NetcfgError(`interface '${o.wan}' is given as both WAN and LAN`);
}

function families(o: SteeringOptions): string[][] {
  return o.ipv6 ? [['-4'], ['-6']] : [['-4']];
}

/** Deletes every rule this table owns (all prefs we may have used), both families. Idempotent. */
export function removeRules(o: Pick<SteeringOptions, 'table' | 'ipv6'>): number {
  let removed = 0;
  for (const fam of o.ipv6 ? [['-4'], ['-6']] : [['-4']]) {
    // A crashed run may have left several; `ip rule del lookup T` removes one per call.
    for (let guard = 0; guard < 64 && ipTry([...fam, 'rule', 'del', 'lookup', String(o.table)]); guard++)
      removed++;
  }
  return removed;
}

/**
 * Sets steering up on a TUN that is already up. Idempotent: stale rules from a crashed run are
 * removed first, routes are replaced. Returns a description for the start-up log line.
 */
export function setupSteering(o: SteeringOptions): string {
  checkSteering(o);
  if (!interfaceExists(o.tun)) throw new NetcfgError(`TUN device '${o.tun}' is not up`);
  // Loose reverse-path filtering on tg0: a packet from the WAN re-enters through tg0 while its
  // source is routed via the WAN device, which strict mode (1) would drop. The kernel uses
  // max(all, dev), so 2 here is loose whatever 'all' says.
  writeSysctl(`net.ipv4.conf.${o.tun}.rp_filter`, '2');
  if (readSysctl('net.ipv4.ip_forward') !== '1')
    process.emitWarning(
      'net.ipv4.ip_forward is 0: the router does not forward IPv4; tunguard will not change that',
    );
  if (o.ipv6) {
    writeSysctl(`net.ipv6.conf.${o.tun}.disable_ipv6`, '0');
    if (readSysctl('net.ipv6.conf.all.forwarding') !== '1')
      process.emitWarning('net.ipv6.conf.all.forwarding is 0: IPv6 is not forwarded here');
  }
  removeRules(o);
  for (const fam of families(o)) {
    ip([...fam, 'route', 'replace', 'default', 'dev', o.tun, 'table', String(o.table)]);
    [o.wan, ...o.lan].forEach((dev, k) => {
      ip([...fam, 'rule', 'add', 'pref', String(o.pref + k), 'iif', dev, 'lookup', String(o.table)]);
    });
  }
  return `${[o.wan, ...o.lan].join(',')} -> ${o.tun} (table ${o.table}, ${o.ipv6 ? 'IPv4+IPv6' : 'IPv4'})`;
}

/** Takes steering down: rules first (traffic returns to the main table at once), then table T. */
export function teardownSteering(o: SteeringOptions): void {
  removeRules(o);
  for (const fam of families(o)) ipTry([...fam, 'route', 'flush', 'table', String(o.table)]);
}
