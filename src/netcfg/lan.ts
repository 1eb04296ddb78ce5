// What the LAN is: its devices as netifd names them (they change at run time: a bridge re-created by
// a network reload gets a new ifindex, a renamed one a new name), and the prefixes behind them (their
// connected subnets and whatever the main table routes through them), which the SYN proxy protects.
import { readFileSync } from 'node:fs';
import { ip } from './ip.js';
import { upInterfaces } from './uplinks.js';

interface RouteJson {
  dst?: string;
  dev?: string;
  type?: string;
}

export function lanPrefixes(devs: readonly string[], ipv6: boolean): string[] {
  const out = new Set<string>();
  for (const fam of ipv6 ? ['-4', '-6'] : ['-4']) {
    for (const dev of devs) {
      const routes = JSON.parse(
        ip(['-j', fam, 'route', 'show', 'table', 'main', 'dev', dev]) || '[]',
      ) as RouteJson[];
      for (const r of routes) {
        if (!r.dst || r.dst === 'default' || (r.type && r.type !== 'unicast')) continue;
        if (r.dst.startsWith('fe80:')) continue; // link-local never crosses a router
        out.add(r.dst.includes('/') ? r.dst : `${r.dst}/${fam === '-4' ? 32 : 128}`);
      }
    }
  }
  return [...out];
}

/** The devices of netifd's logical LAN interfaces (`networks`, e.g. lan, guest) that are up, sorted. */
export function lanDevicesOf(dump: unknown, networks: readonly string[]): string[] {
  const devs = new Set<string>();
  for (const i of upInterfaces(dump)) if (networks.includes(i.name as string)) devs.add(i.device);
  return [...devs].sort();
}

/**
 * Each device that exists as `<name>#<ifindex>`: the programs are attached by ifindex, so a device
 * deleted and made again under the same name is a change too. Devices not there (yet) are left out.
 */
export function lanLinks(devs: readonly string[], sysNet = '/sys/class/net'): string[] {
  const out: string[] = [];
  for (const dev of devs) {
    try {
      out.push(`${dev}#${Number(readFileSync(`${sysNet}/${dev}/ifindex`, 'utf8'))}`);
    } catch {
      /* not (or no longer) there */
    }
  }
  return out.sort();
}

/** The device names of lanLinks keys. */
export function linkNames(links: readonly string[]): string[] {
  return links.map((l) => l.slice(0, l.lastIndexOf('#')));
}
