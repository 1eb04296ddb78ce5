// OpenVAS / Greenbone GMP report XML → observations (one per <result>, one per host-details block), streamed.

import { parseCpe, tryNormalizeCpe, wfnText } from '../cpe.js';
import { emptyObservation, type Observation, type SoftwareRecord } from '../model.js';
import { parseVulnId, type Severity } from '../threat.js';
import { TextCap, type XmlHandler } from '../xml-stream.js';

/** Elements whose text we read; descriptions and the rest are skipped. */
const FIELDS = new Set([
  'host',
  'hostname',
  'port',
  'name',
  'threat',
  'severity',
  'cve',
  'bid',
  'ip',
  'value',
]);

const THREAT_WORDS: Record<string, Severity> = { high: 'high', medium: 'medium', low: 'low', log: 'none' };

/** A software record from a CPE (the product's name is the CPE product, its version the CPE version). */
function softwareFromCpe(cpe: string, location: string | undefined, now: number): SoftwareRecord | undefined {
  const fs = tryNormalizeCpe(cpe);
  if (!fs?.startsWith('cpe:2.3:a:')) return undefined;
  const w = parseCpe(fs);
  const rec: SoftwareRecord = {
    product: wfnText(w.product) ?? '',
    cpe: fs,
    confidence: 80,
    source: 'openvas',
    seenAt: now,
  };
  const vendor = wfnText(w.vendor);
  if (vendor) rec.vendor = vendor;
  const version = [wfnText(w.version), wfnText(w.update)].filter(Boolean).join('');
  if (version) rec.version = version;
  const m = location ? /^(\d+)\/(tcp|udp)$/.exec(location) : null;
  if (m) {
    rec.port = Number(m[1]);
    rec.protocol = m[2] as 'tcp' | 'udp';
  }
  return rec;
}

function setAddress(o: Observation, addr: string): void {
  const a = addr.trim();
  if (!a) return;
  if (a.includes(':')) o.ipv6.push(a.toLowerCase());
  else o.ipv4.push(a);
}

export function openvasHandler(emit: (o: Observation) => void, now: number): XmlHandler {
  // A <result> finding.
  let result:
    | {
        addr: string;
        hostname?: string;
        port?: string;
        name?: string;
        threat?: string;
        severity?: number;
        refs: string[];
        products: Array<{ cpe: string; location?: string }>;
      }
    | undefined;
  let detection: { name?: string; cpe?: string; location?: string } | undefined;
  // A report-level <host> details block.
  let details: { addr: string; pairs: Array<[string, string]>; name?: string } | undefined;
  const text = new TextCap(8 * 1024);

  const resultDone = () => {
    if (!result?.addr) return;
    const o = emptyObservation();
    setAddress(o, result.addr);
    if (result.hostname) o.hostnames.push(result.hostname);
    const pm = result.port ? /^(\d+)\/(tcp|udp)$/.exec(result.port) : null;
    const port = pm ? Number(pm[1]) : undefined;
    const sev = result.severity;
    const severity = THREAT_WORDS[(result.threat ?? '').toLowerCase()];
    if (sev !== undefined && sev > 0) {
      for (const r of result.refs) {
        const id = parseVulnId(r);
        if (!id) continue;
        o.threats.push({
          key: id.id,
          type: 'vulnerability',
          scheme: id.scheme,
          ...(result.name ? { title: result.name } : {}),
          ...(port ? { port } : {}),
          cvss: sev,
          ...(severity ? { severity } : {}),
          source: 'openvas',
          seenAt: now,
        });
      }
    }
    for (const p of result.products) {
      const s = softwareFromCpe(p.cpe, p.location ?? result.port, now);
      if (s) o.software.push(s);
    }
    emit(o);
  };

  const detailsDone = () => {
    if (!details?.addr) return;
    const o = emptyObservation();
    setAddress(o, details.addr);
    const get = (n: string) => details!.pairs.find(([k]) => k === n)?.[1];
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
    for (const [k, v] of details.pairs) {
      if (k === 'App') {
        const s = softwareFromCpe(v, get(v), now);
        if (s) o.software.push(s);
      } else if (k === 'MAC') o.mac = v;
      else if (k === 'hostname' && !o.hostnames.includes(v)) o.hostnames.push(v);
    }
    emit(o);
  };

  return {
    open(name, a, stack) {
      const parent = stack[stack.length - 2];
      if (name === 'result' && parent === 'results') {
        result = { addr: '', refs: [], products: [] };
      } else if (name === 'host' && parent === 'report') {
        details = { addr: '', pairs: [] };
      } else if (name === 'ref' && result && (a.type ?? '').toLowerCase() === 'cve' && a.id) {
        result.refs.push(a.id);
      } else if (name === 'ref' && result && (a.type ?? '').toLowerCase() === 'bid' && a.id) {
        result.refs.push(`BID-${a.id}`);
      } else if (name === 'detection' && result) {
        detection = {};
      }
      if (FIELDS.has(name)) text.take();
    },
    text(t, stack) {
      const cur = stack[stack.length - 1];
      // The address is the host element's own text, beside child elements (<asset/>, <hostname>).
      if (result && cur === 'host' && stack[stack.length - 2] === 'result') result.addr += t;
      else if ((result || details) && FIELDS.has(cur)) text.add(t);
    },
    close(name, stack) {
      const parent = stack[stack.length - 2];
      if (name === 'result' && parent === 'results') {
        resultDone();
        result = undefined;
        return;
      }
      if (name === 'host' && parent === 'report') {
        detailsDone();
        details = undefined;
        return;
      }
      if (name === 'detection' && result && detection) {
        if (detection.cpe)
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
        else if (name === 'name' && parent === 'nvt') result.name = v;
        else if (name === 'threat' && parent === 'result') result.threat = v;
        else if (name === 'severity' && parent === 'result') result.severity = Number(v);
        else if (
          (name === 'cve' || name === 'bid') &&
          parent === 'nvt' &&
          v &&
          v !== 'NOCVE' &&
          v !== 'NOBID'
        )
          for (const id of v.split(/[,\s]+/).filter(Boolean))
            result.refs.push(name === 'bid' ? `BID-${id}` : id);
      } else if (details) {
        if (name === 'ip' && parent === 'host') details.addr = v;
        else if (name === 'name' && parent === 'detail') details.name = v;
        else if (name === 'value' && parent === 'detail' && details.name) {
          details.pairs.push([details.name, v]);
          details.name = undefined;
        }
      }
    },
  };
}
