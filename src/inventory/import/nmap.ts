// nmap XML (-oX) → observations, one per <host>, streamed.

import { tryNormalizeCpe } from '../cpe.js';
import { emptyObservation, type Observation, type OsRecord, type SoftwareRecord } from '../model.js';
import { TextCap, type XmlHandler } from '../xml-stream.js';

/** How many OS matches of one host to keep (nmap lists many, best first). */
const MAX_OS = 3;

/** Handler for <nmaprun>; emits each host that has at least one address. */
export function nmapHandler(emit: (o: Observation) => void, now: number): XmlHandler {
  let host: Observation | undefined;
  let port: { number: number; protocol: 'tcp' | 'udp'; open: boolean } | undefined;
  let service: SoftwareRecord | undefined;
  let serviceCpes: string[] = [];
  let osMatch: { name: string; accuracy: number; classes: number } | undefined;
  let osClass: OsRecord | undefined;
  const text = new TextCap(1024);

  return {
    open(name, a, stack) {
      const parent = stack[stack.length - 2];
      switch (name) {
        case 'host':
          host = emptyObservation();
          break;
        case 'status':
          if (host && parent === 'host') host.up = a.state === 'up';
          break;
        case 'address':
          if (!host || !a.addr) break;
          if (a.addrtype === 'ipv4') host.ipv4.push(a.addr);
          else if (a.addrtype === 'ipv6') host.ipv6.push(a.addr.toLowerCase());
          else if (a.addrtype === 'mac') {
            host.mac = a.addr;
            if (a.vendor) host.macVendor = a.vendor;
          }
          break;
        case 'hostname':
          if (host && a.name && !host.hostnames.includes(a.name)) host.hostnames.push(a.name);
          break;
        case 'port': {
          const n = Number(a.portid);
          if (host && Number.isInteger(n) && n > 0 && n < 65536)
            port = { number: n, protocol: a.protocol === 'udp' ? 'udp' : 'tcp', open: false };
          break;
        }
        case 'state':
          if (port && parent === 'port') port.open = a.state === 'open';
          break;
        case 'service':
          if (!port) break;
          serviceCpes = [];
          service = {
            product: a.product ?? '',
            service: a.name,
            port: port.number,
            protocol: port.protocol,
            // nmap's conf is 0–10 (10 = probed and matched, 3 = guessed from the port table).
            confidence: Math.min(100, Number(a.conf ?? 3) * 10),
            source: 'nmap',
            seenAt: now,
          };
          if (a.version) service.version = a.version;
          if (a.extrainfo) service.extra = a.extrainfo;
          break;
        case 'osmatch':
          osMatch = { name: a.name ?? '', accuracy: Number(a.accuracy ?? 0), classes: 0 };
          break;
        case 'osclass': {
          osClass = {
            confidence: Number(a.accuracy ?? osMatch?.accuracy ?? 0),
            source: 'nmap',
            seenAt: now,
          };
          const name =
            osMatch?.name || [...new Set([a.vendor, a.osfamily, a.osgen].filter(Boolean))].join(' ');
          if (name) osClass.name = name;
          if (a.vendor) osClass.vendor = a.vendor;
          if (a.osfamily) osClass.family = a.osfamily;
          if (a.osgen) osClass.version = a.osgen;
          break;
        }
        case 'cpe':
          text.take();
          break;
      }
    },
    text(t, stack) {
      if (stack[stack.length - 1] === 'cpe') text.add(t);
    },
    close(name, stack) {
      const parent = stack[stack.length - 2];
      if (name === 'cpe') {
        const cpe = tryNormalizeCpe(text.take());
        if (!cpe) return;
        if (parent === 'service' && service) serviceCpes.push(cpe);
        else if (parent === 'osclass' && osClass && !osClass.cpe) osClass.cpe = cpe;
      } else if (name === 'service' && service && port) {
        // The application CPE names the product; an OS CPE under a service (e.g. cpe:/o:linux) is a hint only.
        const app = serviceCpes.find((c) => c.startsWith('cpe:2.3:a:'));
        if (app) service.cpe = app;
      } else if (name === 'port' && host && port) {
        if (port.open && service && (service.product || service.cpe)) {
          if (!service.product) service.product = service.service ?? '';
          host.software.push(service);
        }
        port = undefined;
        service = undefined;
      } else if (name === 'osclass' && host && osClass) {
        // Keep the first class of each match (the match's own best reading); old nmap has classes only.
        if ((!osMatch || osMatch.classes++ === 0) && host.os.length < MAX_OS) host.os.push(osClass);
        osClass = undefined;
      } else if (name === 'osmatch') {
        if (host && osMatch && osMatch.classes === 0 && host.os.length < MAX_OS && osMatch.name)
          host.os.push({ name: osMatch.name, confidence: osMatch.accuracy, source: 'nmap', seenAt: now });
        osMatch = undefined;
      } else if (name === 'host' && host) {
        if (host.ipv4.length || host.ipv6.length || host.mac) emit(host);
        host = undefined;
      }
    },
  };
}
