// Nessus v2 (.nessus) → observations, one per <ReportHost>, streamed; the <Policy> block is skipped.

import { tryNormalizeCpe } from '../cpe.js';
import { emptyObservation, type HostThreat, type Observation, type SoftwareRecord } from '../model.js';
import { parseSshBanner, serverHeaderFinds } from '../passive/banner.js';
import { findingKey, malwareKey, malwareOfFinding, parseVulnId, severityFromCvss } from '../threat.js';
import { TextCap, type XmlHandler } from '../xml-stream.js';
import {
  addAddress,
  addHostname,
  addSoftware,
  clip,
  emitIdentified,
  NESSUS_SEVERITY,
  REPORT_HOST_CAPS,
  softwareFromCpe,
} from './records.js';
import { countNotKept, type ImportTally } from './tally.js';

/** Plugins whose output holds a banner we can read a product and version from. */
const SSH_VERSION_PLUGIN = '10267';
const HTTP_SERVER_PLUGIN = '10107';
/** Child elements of a ReportItem whose text we read; all else (descriptions, outputs) is skipped. */
const ITEM_FIELDS = new Set(['cve', 'bid', 'cvss3_base_score', 'cvss_base_score', 'plugin_output', 'cpe']);
/** Threats per host kept from one file; a runaway report cannot grow memory without end. */
const MAX_THREATS_PER_HOST = 20_000;
/** CVE, BID and CPE elements kept per ReportItem (a real plugin names a few dozen at most). */
const MAX_REFS_PER_ITEM = 256;
const pushRef = (list: string[], v: string) => {
  if (v && list.length < MAX_REFS_PER_ITEM) list.push(clip(v, 256));
};

interface Item {
  port: number;
  protocol: 'tcp' | 'udp';
  svc: string;
  severity: number;
  pluginId: string;
  pluginName: string;
  family: string;
  cves: string[];
  bids: string[];
  cvss?: number;
  output?: string;
  cpes: string[];
}

export function nessusHandler(emit: (o: Observation) => void, now: number, tally: ImportTally): XmlHandler {
  let host: Observation | undefined;
  let seen: Set<string> | undefined;
  let osCpes: string[] = [];
  /** Application CPEs of the host's `cpe-N` tags: installed software, often with a version. */
  let appCpes: string[] = [];
  let appCpeSet = new Set<string>();
  /** The ReportHost's name when it is no address and no host-ip tag gave one (counted at the host's end). */
  let badName: string | undefined;
  let tag: string | undefined;
  let item: Item | undefined;
  const text = new TextCap(16 * 1024);

  /** Adds a threat once per key and port; says why not when it was not added. */
  const addThreat = (t: HostThreat): 'duplicate' | 'over-limit' | undefined => {
    if (!host || !seen) return 'over-limit';
    const k = `${t.key}/${t.port ?? ''}`;
    if (seen.has(k)) return 'duplicate';
    if (host.threats.length >= MAX_THREATS_PER_HOST) return 'over-limit';
    seen.add(k);
    host.threats.push(t);
    return undefined;
  };

  const hostTag = (name: string, value: string) => {
    if (!host) return;
    const v = value.trim();
    if (!v) return;
    if (name === 'host-ip') {
      addAddress(host, v, tally);
    } else if (name === 'mac-address') host.mac = clip(v.split(/\s+/)[0], 64);
    else if (name === 'host-fqdn' || name === 'hostname' || name === 'netbios-name') {
      addHostname(host, v);
    } else if (name === 'operating-system') {
      // Several lines = several candidates, none certain.
      const lines = v.split(/\r?\n/).filter(Boolean);
      for (const l of lines.slice(0, 3))
        if (host.os.length < REPORT_HOST_CAPS.osGuesses)
          host.os.push({
            name: clip(l),
            confidence: lines.length > 1 ? 50 : 80,
            source: 'nessus',
            seenAt: now,
          });
    } else if (/^cpe(-\d+)?$/.test(name)) {
      // "cpe:/o:linux:linux_kernel -> Linux Kernel"; attached to the OS guess when the host ends.
      const raw = v.split(/\s/)[0].replace(/^x-/, '');
      if (/^cpe:(?:\/|2\.3:)a:/.test(raw)) {
        if (!appCpeSet.has(raw) && appCpes.length < REPORT_HOST_CAPS.software) {
          appCpeSet.add(raw);
          appCpes.push(raw);
        }
      } else {
        const cpe = tryNormalizeCpe(raw);
        if (
          cpe?.startsWith('cpe:2.3:o:') &&
          !osCpes.includes(cpe) &&
          osCpes.length < REPORT_HOST_CAPS.osGuesses
        )
          osCpes.push(cpe);
      }
    }
  };

  const software = (rec: Omit<SoftwareRecord, 'confidence' | 'source' | 'seenAt'>) => {
    if (host) addSoftware(host.software, { ...rec, confidence: 80, source: 'nessus', seenAt: now });
  };

  const bannerSoftware = (it: Item) => {
    if (!it.output || (it.pluginId !== SSH_VERSION_PLUGIN && it.pluginId !== HTTP_SERVER_PLUGIN)) return;
    const where = {
      ...(it.port ? { port: it.port } : {}),
      protocol: it.protocol,
      ...(it.svc ? { service: it.svc } : {}),
    };
    const finds =
      it.pluginId === SSH_VERSION_PLUGIN
        ? [parseSshBanner(/SSH-[\d.]+-\S+(?: [^\r\n]*)?/.exec(it.output)?.[0] ?? '')]
        : serverHeaderFinds(
            it.output
              .replace(/^[^:]*:\s*/, '')
              .split(/\r?\n/)
              .find(Boolean) ?? '',
          );
    for (const b of finds)
      if (b)
        software({
          product: b.product,
          ...(b.version ? { version: b.version } : {}),
          ...(b.cpe ? { cpe: b.cpe } : {}),
          ...(b.comment ? { extra: b.comment } : {}),
          ...where,
        });
  };

  const finishItem = (it: Item) => {
    if (!host) return;
    const port = it.port || undefined;
    tally.findings++;
    bannerSoftware(it);
    for (const c of it.cpes.flatMap((x) => x.split(/\s+/)).filter(Boolean)) {
      const rec = softwareFromCpe(c, 'nessus', now, {
        ...(port ? { port } : {}),
        protocol: it.protocol,
        ...(it.svc ? { service: it.svc } : {}),
      });
      if (rec) addSoftware(host.software, rec);
    }
    if (it.severity <= 0) {
      countNotKept(tally, 'informational');
      return;
    }
    const cvss = it.cvss !== undefined && Number.isFinite(it.cvss) ? it.cvss : undefined;
    const word = NESSUS_SEVERITY[Math.min(4, it.severity)];
    const base = {
      title: it.pluginName,
      ...(port ? { port } : {}),
      ...(cvss !== undefined ? { cvss } : {}),
      source: 'nessus' as const,
      seenAt: now,
    };
    // The finding itself, under the plugin's id: many (EOL OS, default logins, SMB signing) have no CVE.
    const why = addThreat({
      key: findingKey('nessus', it.pluginId || it.pluginName),
      type: 'finding',
      name: it.pluginName,
      severity: word,
      ...base,
    });
    if (why) countNotKept(tally, why);
    else tally.findingsKept++;
    for (const raw of [...it.cves, ...it.bids.map((b) => `BID-${b}`)]) {
      const id = parseVulnId(raw);
      if (id)
        addThreat({
          key: id.id,
          type: 'vulnerability',
          scheme: id.scheme,
          severity: cvss !== undefined ? severityFromCvss(cvss) : word,
          ...base,
        });
    }
    const kind = /backdoor/i.test(it.family) ? 'backdoor' : malwareOfFinding(it.pluginName, it.family);
    if (kind)
      addThreat({
        key: malwareKey(kind, it.pluginName),
        type: 'malware',
        kind,
        name: it.pluginName,
        ...base,
      });
  };

  return {
    open(name, a, stack) {
      if (stack[1] === 'Policy') return;
      switch (name) {
        case 'ReportHost':
          host = emptyObservation();
          seen = new Set();
          osCpes = [];
          appCpes = [];
          appCpeSet = new Set();
          badName = undefined;
          if (a.name) addHostname(host, a.name);
          break;
        case 'tag':
          if (host) {
            tag = a.name;
            text.take();
          }
          break;
        case 'ReportItem':
          if (!host) break;
          item = {
            port: Number(a.port) || 0,
            protocol: a.protocol === 'udp' ? 'udp' : 'tcp',
            svc: a.svc_name ?? '',
            severity: Number(a.severity) || 0,
            pluginId: a.pluginID ?? '',
            pluginName: clip(a.pluginName ?? ''),
            family: clip(a.pluginFamily ?? '', 128),
            cves: [],
            bids: [],
            cpes: [],
          };
          break;
        default:
          if (item && ITEM_FIELDS.has(name)) text.take();
      }
    },
    text(t, stack) {
      const cur = stack[stack.length - 1];
      if ((tag && cur === 'tag') || (item && ITEM_FIELDS.has(cur))) text.add(t);
    },
    close(name) {
      if (name === 'tag' && tag) {
        hostTag(tag, text.take());
        tag = undefined;
      } else if (item && ITEM_FIELDS.has(name)) {
        const v = text.take().trim();
        if (name === 'cve') pushRef(item.cves, v);
        else if (name === 'bid') pushRef(item.bids, v);
        else if (name === 'cvss3_base_score') item.cvss = Number(v);
        else if (name === 'cvss_base_score' && item.cvss === undefined) item.cvss = Number(v);
        else if (name === 'plugin_output') item.output = v;
        else if (name === 'cpe') pushRef(item.cpes, v);
      } else if (name === 'ReportItem' && item) {
        finishItem(item);
        item = undefined;
      } else if (name === 'ReportHost' && host) {
        // host-ip comes first when known; the ReportHost name is then only a label.
        if (!host.ipv4.length && !host.ipv6.length && host.hostnames[0]) {
          const n = host.hostnames[0];
          // A name of digits and dots (or with a colon) is meant as an address: refuse it when it is none.
          if (/^[\d.]+$/.test(n) || n.includes(':')) {
            if (!addAddress(host, n, tally)) badName = n;
          }
        }
        host.hostnames = host.hostnames.filter(
          (h) => h !== badName && !host!.ipv4.includes(h) && !host!.ipv6.includes(h),
        );
        for (const c of appCpes) {
          const rec = softwareFromCpe(c, 'nessus', now);
          if (rec) addSoftware(host.software, rec);
        }
        if (osCpes.length && host.os[0]) host.os[0].cpe = osCpes[0];
        else if (osCpes.length)
          host.os.push({ cpe: osCpes[0], confidence: 60, source: 'nessus', seenAt: now });
        emitIdentified(host, emit, tally);
        host = undefined;
        seen = undefined;
      }
    },
  };
}
