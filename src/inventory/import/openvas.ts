// OpenVAS / Greenbone GMP report XML → observations (one per <result>, one per host-details block), streamed.
// Reads both the GVM layout (per-result <severity>, <refs>) and the OpenVAS 6/7 one (<threat> with
// nvt/cvss_base, nvt/cve and nvt/bid lists, ports written `microsoft-ds (445/tcp)`).

import { tryNormalizeCpe } from '../cpe.js';
import { emptyObservation, type HostThreat, type Observation } from '../model.js';
import {
  findingKey,
  malwareKey,
  malwareOfFinding,
  parseVulnId,
  type Severity,
  severityFromCvss,
} from '../threat.js';
import { TextCap, type XmlHandler } from '../xml-stream.js';
import {
  addAddress,
  addHostname,
  clip,
  emitIdentified,
  OPENVAS_THREAT,
  pushSoftware,
  REPORT_HOST_CAPS,
  softwareFromCpe,
} from './records.js';
import { countNotKept, type ImportTally } from './tally.js';

/** Elements whose text we read; descriptions and the rest are skipped. */
const FIELDS = new Set([
  'host',
  'hostname',
  'port',
  'name',
  'family',
  'threat',
  'severity',
  'cvss_base',
  'cve',
  'bid',
  'ip',
  'value',
]);

/** Findings remembered per file to drop repeats (one host, NVT and port); past this, repeats are kept. */
const MAX_SEEN = 200_000;
/** The text of a result's <host> (an address: at most 45 characters). */
const MAX_ADDR_TEXT = 64;
/** CVE and BID references kept per result (a real NVT names a few dozen at most). */
const MAX_REFS = 256;
/** Name/value details kept per report-level host (a real scan has a few hundred). */
const MAX_DETAILS = 4096;
const pushRef = (list: string[], v: string) => {
  if (list.length < MAX_REFS) list.push(clip(v, 256));
};

/** `80/tcp`, `microsoft-ds (445/tcp)` → port and protocol; `general/tcp`, `general/CPE-T` → none. */
export function parseOpenvasPort(text: string): { port: number; protocol: 'tcp' | 'udp' } | undefined {
  const m = /(?:^|\()(\d{1,5})\/(tcp|udp)\)?$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[1]);
  return port > 0 && port < 65536 ? { port, protocol: m[2] as 'tcp' | 'udp' } : undefined;
}

interface Result {
  addr: string;
  hostname?: string;
  port?: string;
  oid?: string;
  name?: string;
  family?: string;
  threat?: string;
  severity?: number;
  cvssBase?: number;
  refs: string[];
  products: Array<{ cpe: string; location?: string }>;
}

export function openvasHandler(
  emit: (o: Observation) => void,
  now: number,
  tally: ImportTally,
  maxSeen = MAX_SEEN,
): XmlHandler {
  let result: Result | undefined;
  let detection: { name?: string; cpe?: string; location?: string } | undefined;
  // A report-level <host> details block.
  let details: { addr: string; pairs: Array<[string, string]>; name?: string } | undefined;
  const text = new TextCap(8 * 1024);
  const seen = new Set<string>();

  const resultDone = (r: Result) => {
    const o = emptyObservation();
    addAddress(o, r.addr, tally);
    if (r.hostname) addHostname(o, r.hostname);
    const where = r.port ? parseOpenvasPort(r.port) : undefined;
    const port = where?.port;
    // GVM writes the score per result (after overrides); OpenVAS 6/7 only the NVT's base score.
    const score = Number.isFinite(r.severity)
      ? r.severity
      : Number.isFinite(r.cvssBase)
        ? r.cvssBase
        : undefined;
    const word = (r.threat ?? '').trim().toLowerCase();
    const severity: Severity | undefined =
      OPENVAS_THREAT[word] ?? (score !== undefined ? severityFromCvss(score) : undefined);
    tally.findings++;
    if (word === 'false positive' || (score !== undefined && score < 0))
      countNotKept(tally, 'false-positive');
    else if (severity === undefined || severity === 'none') countNotKept(tally, 'informational');
    else {
      const key = findingKey('openvas', r.oid || r.name || 'unknown');
      const seenKey = `${r.addr}/${key}/${port ?? ''}`;
      if (seen.has(seenKey)) countNotKept(tally, 'duplicate');
      else {
        if (seen.size < maxSeen) seen.add(seenKey);
        tally.findingsKept++;
        const base = {
          ...(r.name ? { title: r.name } : {}),
          ...(port ? { port } : {}),
          ...(score !== undefined && score > 0 ? { cvss: score } : {}),
          severity,
          source: 'openvas' as const,
          seenAt: now,
        };
        const threats: HostThreat[] = [
          { key, type: 'finding', ...(r.name ? { name: r.name } : {}), ...base },
        ];
        for (const ref of new Set(r.refs)) {
          const id = parseVulnId(ref);
          if (id) threats.push({ key: id.id, type: 'vulnerability', scheme: id.scheme, ...base });
        }
        const kind = r.name ? malwareOfFinding(r.name, r.family) : undefined;
        if (kind && r.name)
          threats.push({ key: malwareKey(kind, r.name), type: 'malware', kind, name: r.name, ...base });
        o.threats.push(...threats);
      }
    }
    for (const p of r.products) {
      const loc = p.location ? parseOpenvasPort(p.location) : where;
      const s = softwareFromCpe(p.cpe, 'openvas', now, loc ?? {});
      if (s) pushSoftware(o.software, s);
    }
    emitIdentified(o, emit, tally);
  };

  const detailsDone = (d: NonNullable<typeof details>) => {
    const o = emptyObservation();
    addAddress(o, d.addr, tally);
    // The first value of each name (as a scan of the pairs would find it), looked up once each.
    const first = new Map<string, string>();
    for (const [k, v] of d.pairs) if (!first.has(k)) first.set(k, v);
    const get = (n: string) => first.get(n);
    const osCpe = get('best_os_cpe');
    const osTxt = get('best_os_txt');
    if (osCpe || osTxt) {
      const cpe = osCpe ? tryNormalizeCpe(osCpe) : undefined;
      o.os.push({
        ...(osTxt ? { name: osTxt } : {}),
        ...(cpe ? { cpe } : {}),
        confidence: 80,
        source: 'openvas',
        seenAt: now,
      });
    }
    for (const [k, v] of d.pairs) {
      if (k === 'App') {
        const loc = get(v);
        const s = softwareFromCpe(v, 'openvas', now, (loc && parseOpenvasPort(loc)) || {});
        if (s) pushSoftware(o.software, s);
      } else if (k === 'MAC') o.mac = clip(v, 64);
      else if (k === 'hostname') addHostname(o, v);
    }
    emitIdentified(o, emit, tally);
  };

  return {
    open(name, a, stack) {
      const parent = stack[stack.length - 2];
      if (name === 'result' && parent === 'results') {
        result = { addr: '', refs: [], products: [] };
      } else if (name === 'host' && parent === 'report') {
        details = { addr: '', pairs: [] };
      } else if (name === 'nvt' && result && a.oid) {
        result.oid = a.oid;
      } else if (name === 'ref' && result && (a.type ?? '').toLowerCase() === 'cve' && a.id) {
        pushRef(result.refs, a.id);
      } else if (name === 'ref' && result && (a.type ?? '').toLowerCase() === 'bid' && a.id) {
        pushRef(result.refs, `BID-${a.id}`);
      } else if (name === 'detection' && result) {
        detection = {};
      }
      if (FIELDS.has(name)) text.take();
    },
    text(t, stack) {
      const cur = stack[stack.length - 1];
      // The address is the host element's own text, beside child elements (<asset/>, <hostname>).
      if (result && cur === 'host' && stack[stack.length - 2] === 'result') {
        // An address is at most 45 characters; a longer text is refused as an address anyway.
        if (result.addr.length < MAX_ADDR_TEXT) result.addr = clip(result.addr + t, MAX_ADDR_TEXT);
      } else if ((result || details) && FIELDS.has(cur)) text.add(t);
    },
    close(name, stack) {
      const parent = stack[stack.length - 2];
      if (name === 'result' && parent === 'results') {
        if (result) resultDone(result);
        result = undefined;
        return;
      }
      if (name === 'host' && parent === 'report') {
        if (details) detailsDone(details);
        details = undefined;
        return;
      }
      if (name === 'detection' && result && detection) {
        if (detection.cpe && result.products.length < REPORT_HOST_CAPS.software)
          result.products.push({
            cpe: detection.cpe,
            ...(detection.location ? { location: detection.location } : {}),
          });
        detection = undefined;
        return;
      }
      if (!FIELDS.has(name)) return;
      const v = text.take().trim();
      if (result) {
        if (detection) {
          if (name === 'name' && parent === 'detail') detection.name = v;
          else if (name === 'value' && detection.name === 'product') detection.cpe = v;
          else if (name === 'value' && detection.name === 'location') detection.location = v;
          return;
        }
        if (name === 'host' && parent === 'result') result.addr = result.addr.trim();
        else if (name === 'hostname' && parent === 'host') result.hostname = v || undefined;
        else if (name === 'port' && parent === 'result') result.port = v;
        else if (name === 'name' && parent === 'nvt') result.name = clip(v);
        else if (name === 'family' && parent === 'nvt') result.family = clip(v, 128);
        else if (name === 'threat' && parent === 'result') result.threat = v;
        else if (name === 'severity' && parent === 'result' && v) result.severity = Number(v);
        else if (name === 'cvss_base' && parent === 'nvt' && v) result.cvssBase = Number(v);
        else if (
          (name === 'cve' || name === 'bid') &&
          parent === 'nvt' &&
          v &&
          v !== 'NOCVE' &&
          v !== 'NOBID'
        )
          for (const id of v.split(/[,\s]+/).filter(Boolean))
            pushRef(result.refs, name === 'bid' ? `BID-${id}` : id);
      } else if (details) {
        if (name === 'ip' && parent === 'host') details.addr = v;
        else if (name === 'name' && parent === 'detail') details.name = v;
        else if (name === 'value' && parent === 'detail' && details.name) {
          if (details.pairs.length < MAX_DETAILS) details.pairs.push([details.name, v]);
          details.name = undefined;
        }
      }
    },
  };
}
