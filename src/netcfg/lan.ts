// What lies behind the LAN devices: the prefixes of their routes (connected subnets and whatever
// the main table routes through them), which the SYN proxy protects.
import { ip } from './ip.js';

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
