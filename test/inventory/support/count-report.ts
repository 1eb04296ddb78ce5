// An independent count of a scanner report's hosts, products, versions, findings and CVEs, by walking
// an element tree of the whole file. It shares no code with src/inventory/import: it is what the
// importers are checked against, so it states each format's rules afresh (and simply).

import { isIP } from 'node:net';
import { all, type El, kid, kids, kidText, parseDom } from './xml-dom.js';

export interface ReportCounts {
  hosts: number;
  products: number;
  versions: number;
  findings: number;
  cves: number;
}

const CVE = /^CVE-\d{4}-\d{4,}$/i;
const validIp = (s: string) => isIP(s.trim()) !== 0;

/** Product and version of an application CPE (URI `cpe:/a:…` or 2.3 `cpe:2.3:a:…`); undefined for others. */
function cpeApp(raw: string): { product: string; version?: string } | undefined {
  const s = raw.trim().split(/\s/)[0].replace(/^x-/, '');
  const p = s.split(':');
  const uri = p[1] === '/a';
  const fs = p[1] === '2.3' && p[2] === 'a';
  if (!uri && !fs) return undefined;
  const at = uri ? 2 : 3;
  const field = (i: number) => {
    const v = p[at + i];
    if (v === undefined || v === '' || v === '*' || v === '-') return '';
    return decodeURIComponent(v).replace(/\\(.)/g, '$1');
  };
  const product = field(1);
  if (!product) return undefined;
  const version = field(2) + field(3);
  return { product, ...(version ? { version } : {}) };
}

class Tally {
  hosts = new Set<string>();
  products = new Set<string>();
  versions = new Set<string>();
  findings = new Set<string>();
  cves = new Set<string>();
  product(name: string, version?: string) {
    if (!name) return;
    this.products.add(name.toLowerCase());
    if (version) this.versions.add(`${name.toLowerCase()}|${version}`);
  }
  done(): ReportCounts {
    return {
      hosts: this.hosts.size,
      products: this.products.size,
      versions: this.versions.size,
      findings: this.findings.size,
      cves: this.cves.size,
    };
  }
}

function countNmap(root: El): ReportCounts {
  const t = new Tally();
  for (const h of kids(root, 'host')) {
    if (kid(h, 'status')?.attrs.state !== 'up') continue;
    const addrs = kids(h, 'address');
    const ip = addrs.find(
      (a) => (a.attrs.addrtype === 'ipv4' || a.attrs.addrtype === 'ipv6') && validIp(a.attrs.addr),
    );
    const mac = addrs.find((a) => a.attrs.addrtype === 'mac');
    const key = ip?.attrs.addr.toLowerCase() ?? mac?.attrs.addr.toLowerCase();
    if (!key) continue;
    t.hosts.add(key);
    for (const port of all(h, 'port')) {
      if (kid(port, 'state')?.attrs.state !== 'open') continue;
      const svc = kid(port, 'service');
      if (!svc) continue;
      const hasApp = kids(svc, 'cpe').some((c) => c.text.trim().startsWith('cpe:/a:'));
      const product = svc.attrs.product || (hasApp ? (svc.attrs.name ?? '') : '');
      t.product(product, svc.attrs.product ? svc.attrs.version : undefined);
    }
    for (const script of all(h, 'script')) {
      const id = script.attrs.id ?? '';
      if (!/^(vulners|vulscan)/.test(id)) continue;
      const port = script.parent?.name === 'port' ? script.parent.attrs.portid : '';
      const ids: string[] = [];
      for (const row of all(script, 'table')) {
        const elems = Object.fromEntries(kids(row, 'elem').map((e) => [e.attrs.key, e.text.trim()]));
        if (elems.id && CVE.test(elems.id) && (!elems.type || elems.type === 'cve'))
          ids.push(elems.id.toUpperCase());
      }
      if (!ids.length)
        for (const m of (script.attrs.output ?? '').matchAll(/CVE-\d{4}-\d{4,}/g)) ids.push(m[0]);
      for (const c of ids) {
        t.findings.add(`${key}|${c}|${port}`);
        t.cves.add(c);
      }
    }
  }
  return t.done();
}

const PLATFORM = new Set([
  'debian',
  'ubuntu',
  'centos',
  'linux',
  'unix',
  'win32',
  'win64',
  'upnp',
  'dlnadoc',
  'with',
]);
const KNOWN_SERVERS = new Set([
  'apache',
  'nginx',
  'microsoft-iis',
  'lighttpd',
  'php',
  'openssl',
  'minidlna',
  'python',
]);

/** The server programs of an HTTP Server value, as an admin would read it. */
function serverProducts(value: string): Array<{ product: string; version?: string }> {
  const noComments = value.replace(/\([^()]*\)/g, ' ');
  const tokens = [...noComments.matchAll(/([A-Za-z][\w.+-]*)(?:\/([\w.+~-]+))?/g)]
    .slice(0, 8)
    .map((m) => ({ product: m[1], version: m[2] }))
    .filter((x) => !PLATFORM.has(x.product.toLowerCase()));
  if (!tokens.length) return [];
  const known = tokens.filter((x) => KNOWN_SERVERS.has(x.product.toLowerCase()));
  if (known.length) return known;
  const versioned = tokens.filter((x) => x.version);
  return [versioned.length ? versioned[versioned.length - 1] : tokens[0]];
}

function countNessus(root: El): ReportCounts {
  const t = new Tally();
  for (const rh of all(root, 'ReportHost')) {
    const tags = Object.fromEntries(all(rh, 'tag').map((g) => [g.attrs.name, g.text.trim()]));
    const name = rh.attrs.name ?? '';
    const key = validIp(tags['host-ip'] ?? '')
      ? tags['host-ip']
      : validIp(name)
        ? name
        : /^[\d.]+$/.test(name) || name.includes(':') || !name
          ? undefined
          : name;
    if (!key) continue;
    t.hosts.add(key.toLowerCase());
    for (const [k, v] of Object.entries(tags))
      if (/^cpe(-\d+)?$/.test(k)) {
        const app = cpeApp(v);
        if (app) t.product(app.product, app.version);
      }
    for (const item of kids(rh, 'ReportItem')) {
      for (const c of kids(item, 'cpe'))
        for (const one of c.text.trim().split(/\s+/)) {
          const app = cpeApp(one);
          if (app) t.product(app.product, app.version);
        }
      const out = kidText(item, 'plugin_output');
      if (item.attrs.pluginID === '10267') {
        const m = /SSH-[\d.]+-([^_\s-]+)(?:_([^\s-]+))?/.exec(out);
        if (m) t.product(m[1], m[2]);
      } else if (item.attrs.pluginID === '10107' && out) {
        const line =
          out
            .replace(/^[^:]*:\s*/, '')
            .split(/\r?\n/)
            .find((l) => l.trim()) ?? '';
        for (const p of serverProducts(line)) t.product(p.product, p.version);
      }
      if (Number(item.attrs.severity) <= 0) continue;
      t.findings.add(`${key}|${item.attrs.pluginID}|${Number(item.attrs.port) || ''}`);
      for (const c of kids(item, 'cve')) if (CVE.test(c.text.trim())) t.cves.add(c.text.trim().toUpperCase());
    }
  }
  return t.done();
}

function countOpenvas(root: El): ReportCounts {
  const t = new Tally();
  for (const r of all(root, 'result')) {
    if (r.parent?.name !== 'results') continue;
    const hostEl = kid(r, 'host');
    const ip = hostEl?.text.trim() ?? '';
    // A result names its host by address, else (the address being no address) by its hostname.
    const addr = validIp(ip) ? ip.toLowerCase() : hostEl ? kidText(hostEl, 'hostname').toLowerCase() : '';
    if (!addr) continue;
    t.hosts.add(addr);
    const nvt = kid(r, 'nvt');
    for (const det of all(r, 'detection'))
      for (const d of all(det, 'detail'))
        if (kidText(d, 'name') === 'product') {
          const app = cpeApp(kidText(d, 'value'));
          if (app) t.product(app.product, app.version);
        }
    const word = kidText(r, 'threat').toLowerCase();
    const sevText = kidText(r, 'severity') || (nvt ? kidText(nvt, 'cvss_base') : '');
    const score = sevText ? Number(sevText) : undefined;
    const threat =
      word === 'false positive' || word === 'log' || word === 'debug'
        ? false
        : ['critical', 'high', 'medium', 'low'].includes(word)
          ? true
          : score !== undefined && score > 0;
    if (!threat || (score !== undefined && score < 0)) continue;
    const portText = kidText(r, 'port');
    const port = /(\d+)\/(tcp|udp)\)?$/.exec(portText)?.[1] ?? '';
    t.findings.add(`${addr}|${nvt?.attrs.oid ?? kidText(nvt ?? r, 'name')}|${port}`);
    const ids = [
      ...all(r, 'ref')
        .filter((x) => (x.attrs.type ?? '').toLowerCase() === 'cve')
        .map((x) => x.attrs.id ?? ''),
      ...(nvt ? kidText(nvt, 'cve') : '').split(/[,\s]+/),
    ];
    for (const id of ids) if (CVE.test(id)) t.cves.add(id.toUpperCase());
  }
  for (const h of all(root, 'host')) {
    if (h.parent?.name !== 'report') continue;
    const ip = kidText(h, 'ip');
    if (!validIp(ip)) continue;
    t.hosts.add(ip.toLowerCase());
    for (const d of kids(h, 'detail'))
      if (kidText(d, 'name') === 'App') {
        const app = cpeApp(kidText(d, 'value'));
        if (app) t.product(app.product, app.version);
      }
  }
  return t.done();
}

/** Counts a whole report (UTF-8 text) by its root element. */
export function countReport(xml: string): ReportCounts & { format: 'nmap' | 'nessus' | 'openvas' } {
  const root = parseDom(xml);
  if (root.name === 'nmaprun') return { format: 'nmap', ...countNmap(root) };
  if (root.name === 'NessusClientData_v2') return { format: 'nessus', ...countNessus(root) };
  if (root.name === 'report' || root.name === 'get_reports_response')
    return { format: 'openvas', ...countOpenvas(root) };
  throw new Error(`not a scanner report: <${root.name}>`);
}
