// nmap XML (-oX) → observations, one per <host>, streamed.

import { tryNormalizeCpe } from '../cpe.js';
import { emptyObservation, type Observation, type OsRecord, type SoftwareRecord } from '../model.js';
import { parseVulnId, severityFromCvss } from '../threat.js';
import { TextCap, type XmlHandler } from '../xml-stream.js';
import { addAddress, addHostname, clip, pushSoftware, REPORT_HOST_CAPS } from './records.js';
import { countNotKept, type ImportTally } from './tally.js';

/** How many OS matches of one host to keep (nmap lists many, best first). */
const MAX_OS = 3;
/** CVEs kept per host from vulnerability scripts; vulners can list hundreds per service. */
export const MAX_SCRIPT_CVES = 5_000;
/** NSE scripts whose output lists CVEs that apply to the service they ran against. */
const CVE_SCRIPTS = /^(?:vulners|vulscan)/;

/** An <osmatch> and the first <osclass> nmap gave it (or, in nmap 5's layout, the first sibling class). */
interface Match {
  name: string;
  accuracy: number;
  cls?: OsRecord;
}

/** One vulnerability script run: its id, the port it ran on, and the CVEs read from its tables. */
interface Script {
  id: string;
  port?: number;
  output: string;
  cves: Map<string, number | undefined>;
  /** The `<elem key=…>` values of the innermost table being read. */
  row?: Record<string, string>;
  elemKey?: string;
}

/**
 * nmap 5 lists classes beside the matches, unpaired: the class whose vendor, family and generation the
 * match's name mentions most is its class (ties: the first, nmap's best).
 */
function classFor(name: string, classes: OsRecord[]): OsRecord | undefined {
  const n = name.toLowerCase();
  let best: OsRecord | undefined;
  let bestScore = 0;
  for (const c of classes) {
    const words = [c.vendor, c.family, c.version?.replace(/\.x$/i, '')].filter((w): w is string =>
      Boolean(w),
    );
    const score = words.filter((w) => n.includes(w.toLowerCase())).length;
    if (score > bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best ?? classes[0];
}

/** Handler for <nmaprun>; emits each host that has at least one address. */
export function nmapHandler(emit: (o: Observation) => void, now: number, tally: ImportTally): XmlHandler {
  let host: Observation | undefined;
  let port: { number: number; protocol: 'tcp' | 'udp'; open: boolean } | undefined;
  let service: SoftwareRecord | undefined;
  let serviceCpes: string[] = [];
  let matches: Match[] = [];
  let match: Match | undefined;
  /** <osclass> elements outside any <osmatch> (nmap ≤ 5 writes them as siblings before the matches). */
  let looseClasses: OsRecord[] = [];
  let osClass: OsRecord | undefined;
  let script: Script | undefined;
  let seenCves = new Set<string>();
  const text = new TextCap(1024);

  const scriptDone = (s: Script) => {
    if (!host) return;
    // Tables give id and score; older vulners and vulscan write only the text.
    if (!s.cves.size)
      for (const m of s.output.matchAll(/\b(CVE-\d{4}-\d{4,})\]?(?:\s+(\d{1,2}\.\d)(?![\d.]))?/g))
        if (!s.cves.has(m[1])) s.cves.set(m[1], m[2] ? Number(m[2]) : undefined);
    for (const [raw, cvss] of s.cves) {
      const id = parseVulnId(raw);
      if (!id) continue;
      tally.findings++;
      const k = `${id.id}/${s.port ?? ''}`;
      if (seenCves.has(k)) {
        countNotKept(tally, 'duplicate');
        continue;
      }
      if (seenCves.size >= MAX_SCRIPT_CVES) {
        countNotKept(tally, 'over-limit');
        continue;
      }
      seenCves.add(k);
      tally.findingsKept++;
      host.threats.push({
        key: id.id,
        type: 'vulnerability',
        scheme: id.scheme,
        ...(s.port ? { port: s.port } : {}),
        ...(cvss !== undefined && Number.isFinite(cvss) ? { cvss, severity: severityFromCvss(cvss) } : {}),
        origin: s.id,
        source: 'nmap',
        seenAt: now,
      });
    }
  };

  const osOfHost = (): OsRecord[] => {
    if (!matches.length) return looseClasses.slice(0, MAX_OS);
    // The best match's own name ("Linux 2.6.32 - 3.10") says more than its class ("Linux Linux 2.6.X").
    return matches.slice(0, MAX_OS).map((m) => {
      const cls = m.cls ?? classFor(m.name, looseClasses);
      const rec: OsRecord = { ...(cls ?? {}), confidence: m.accuracy, source: 'nmap', seenAt: now };
      if (m.name) rec.name = m.name;
      return rec;
    });
  };

  return {
    open(name, a, stack) {
      const parent = stack[stack.length - 2];
      switch (name) {
        case 'host':
          host = emptyObservation();
          matches = [];
          looseClasses = [];
          seenCves = new Set();
          break;
        case 'status':
          if (host && parent === 'host') host.up = a.state === 'up';
          break;
        case 'address':
          if (!host || !a.addr) break;
          if (a.addrtype === 'ipv4' || a.addrtype === 'ipv6') addAddress(host, a.addr, tally);
          else if (a.addrtype === 'mac') {
            host.mac = clip(a.addr, 64);
            if (a.vendor) host.macVendor = clip(a.vendor);
          }
          break;
        case 'hostname':
          if (host && a.name) addHostname(host, a.name);
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
            product: clip(a.product ?? ''),
            ...(a.name ? { service: clip(a.name, 64) } : {}),
            port: port.number,
            protocol: port.protocol,
            // nmap's conf is 0–10 (10 = probed and matched, 3 = guessed from the port table).
            confidence: Math.min(100, Number(a.conf ?? 3) * 10),
            source: 'nmap',
            seenAt: now,
          };
          if (a.version) service.version = clip(a.version, 128);
          if (a.extrainfo) service.extra = clip(a.extrainfo);
          break;
        case 'script':
          if (host && a.id && CVE_SCRIPTS.test(a.id))
            script = {
              id: a.id,
              ...(port && parent === 'port' ? { port: port.number } : {}),
              output: a.output ?? '',
              cves: new Map(),
            };
          break;
        case 'table':
          if (script) script.row = {};
          break;
        case 'elem':
          if (script) {
            script.elemKey = a.key;
            text.take();
          }
          break;
        case 'osmatch':
          match = { name: clip(a.name ?? ''), accuracy: Number(a.accuracy ?? 0) };
          break;
        case 'osclass': {
          osClass = {
            confidence: Number(a.accuracy ?? match?.accuracy ?? 0),
            source: 'nmap',
            seenAt: now,
          };
          const [vendor, family, gen] = [a.vendor, a.osfamily, a.osgen].map((x) => (x ? clip(x, 128) : x));
          const cname = [...new Set([vendor, family, gen].filter(Boolean))].join(' ');
          if (cname) osClass.name = cname;
          if (vendor) osClass.vendor = vendor;
          if (family) osClass.family = family;
          if (gen) osClass.version = gen;
          break;
        }
        case 'cpe':
          text.take();
          break;
      }
    },
    text(t, stack) {
      const cur = stack[stack.length - 1];
      if (cur === 'cpe' || (script && cur === 'elem')) text.add(t);
    },
    close(name, stack) {
      const parent = stack[stack.length - 2];
      if (name === 'cpe') {
        const cpe = tryNormalizeCpe(text.take());
        if (!cpe) return;
        if (parent === 'service' && service) serviceCpes.push(cpe);
        else if (parent === 'osclass' && osClass && !osClass.cpe) osClass.cpe = cpe;
      } else if (name === 'elem' && script) {
        if (script.row && script.elemKey) script.row[script.elemKey] = text.take().trim();
        script.elemKey = undefined;
      } else if (name === 'table' && script) {
        const r = script.row;
        // vulners rows: id, type (cve, exploitdb, …), cvss; only CVE ids are vulnerabilities we can key.
        if (
          r?.id &&
          (!r.type || r.type.toLowerCase() === 'cve') &&
          /^CVE-/i.test(r.id) &&
          !script.cves.has(r.id)
        )
          script.cves.set(r.id.toUpperCase(), r.cvss ? Number(r.cvss) : undefined);
        script.row = undefined;
      } else if (name === 'script' && script) {
        scriptDone(script);
        script = undefined;
      } else if (name === 'service' && service && port) {
        // The application CPE names the product; an OS CPE under a service (e.g. cpe:/o:linux) is a hint only.
        const app = serviceCpes.find((c) => c.startsWith('cpe:2.3:a:'));
        if (app) service.cpe = app;
      } else if (name === 'port' && host && port) {
        if (port.open && service && (service.product || service.cpe)) {
          if (!service.product) service.product = service.service ?? '';
          pushSoftware(host.software, service);
        }
        port = undefined;
        service = undefined;
      } else if (name === 'osclass' && host && osClass) {
        if (match) match.cls ??= osClass;
        else if (looseClasses.length < REPORT_HOST_CAPS.osGuesses) looseClasses.push(osClass);
        osClass = undefined;
      } else if (name === 'osmatch') {
        if (host && match && matches.length < REPORT_HOST_CAPS.osGuesses) matches.push(match);
        match = undefined;
      } else if (name === 'host' && host) {
        host.os = osOfHost();
        if (host.ipv4.length || host.ipv6.length || host.mac) emit(host);
        else if (host.up) tally.hostsRefused++;
        host = undefined;
      }
    },
  };
}
