// Nessus v2 (.nessus) → observations, one per <ReportHost>, streamed; the <Policy> block is skipped.

import { tryNormalizeCpe } from '../cpe.js';
import { emptyObservation, type HostThreat, type Observation } from '../model.js';
import { parseServerHeader, parseSshBanner } from '../passive/banner.js';
import { malwareKey, parseVulnId, severityFromCvss } from '../threat.js';
import { TextCap, type XmlHandler } from '../xml-stream.js';

/** Plugins whose output holds a banner we can read a product and version from. */
const SSH_VERSION_PLUGIN = '10267';
const HTTP_SERVER_PLUGIN = '10107';
/** Child elements of a ReportItem whose text we read; all else (descriptions, outputs) is skipped. */
const ITEM_FIELDS = new Set(['cve', 'bid', 'cvss3_base_score', 'cvss_base_score', 'plugin_output', 'cpe']);
/** Threats per host kept from one file; a runaway report cannot grow memory without end. */
const MAX_THREATS_PER_HOST = 20_000;

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

export function nessusHandler(emit: (o: Observation) => void, now: number): XmlHandler {
  let host: Observation | undefined;
  let seen: Set<string> | undefined;
  let osCpes: string[] = [];
  let tag: string | undefined;
  let item: Item | undefined;
  const text = new TextCap(16 * 1024);

  const addThreat = (t: HostThreat) => {
    if (!host || !seen) return;
    const k = `${t.key}/${t.port ?? ''}`;
    if (seen.has(k) || host.threats.length >= MAX_THREATS_PER_HOST) return;
    seen.add(k);
    host.threats.push(t);
  };

  const hostTag = (name: string, value: string) => {
    if (!host) return;
    const v = value.trim();
    if (!v) return;
    if (name === 'host-ip') {
      if (v.includes(':')) host.ipv6.unshift(v.toLowerCase());
      else host.ipv4.unshift(v);
    } else if (name === 'mac-address') host.mac = v.split(/\s+/)[0];
    else if (name === 'host-fqdn' || name === 'hostname' || name === 'netbios-name') {
      if (!host.hostnames.includes(v)) host.hostnames.push(v);
    } else if (name === 'operating-system') {
      // Several lines = several candidates, none certain.
      const lines = v.split(/\r?\n/).filter(Boolean);
      for (const l of lines.slice(0, 3))
        host.os.push({ name: l, confidence: lines.length > 1 ? 50 : 80, source: 'nessus', seenAt: now });
    } else if (/^cpe(-\d+)?$/.test(name)) {
      // "cpe:/o:linux:linux_kernel -> Linux Kernel"; attached to the OS guess when the host ends.
      const cpe = tryNormalizeCpe(v.split(/\s/)[0]);
      if (cpe?.startsWith('cpe:2.3:o:') && !osCpes.includes(cpe)) osCpes.push(cpe);
    }
  };

  const finishItem = (it: Item) => {
    if (!host) return;
    const port = it.port || undefined;
    if (it.output && (it.pluginId === SSH_VERSION_PLUGIN || it.pluginId === HTTP_SERVER_PLUGIN)) {
      const banner =
        it.pluginId === SSH_VERSION_PLUGIN
          ? parseSshBanner(/SSH-[\d.]+-\S+(?: [^\r\n]*)?/.exec(it.output)?.[0] ?? '')
          : parseServerHeader(
              it.output
                .replace(/^[^:]*:\s*/, '')
                .split(/\r?\n/)
                .find(Boolean) ?? '',
            );
      if (banner) {
        host.software.push({
          product: banner.product,
          ...(banner.version ? { version: banner.version } : {}),
          ...(banner.cpe ? { cpe: banner.cpe } : {}),
          ...(banner.comment ? { extra: banner.comment } : {}),
          ...(port ? { port } : {}),
          protocol: it.protocol,
          service: it.svc,
          confidence: 80,
          source: 'nessus',
          seenAt: now,
        });
      }
    }
    if (it.severity <= 0) return;
    const cvss = it.cvss;
    const base = {
      title: it.pluginName,
      ...(port ? { port } : {}),
      ...(cvss !== undefined ? { cvss, severity: severityFromCvss(cvss) } : {}),
      source: 'nessus' as const,
      seenAt: now,
    };
    for (const raw of [...it.cves, ...it.bids.map((b) => `BID-${b}`)]) {
      const id = parseVulnId(raw);
      if (id) addThreat({ key: id.id, type: 'vulnerability', scheme: id.scheme, ...base });
    }
    if (/backdoor/i.test(it.family)) {
      addThreat({
        key: malwareKey('backdoor', it.pluginName),
        type: 'malware',
        kind: 'backdoor',
        name: it.pluginName,
        ...base,
      });
    }
  };

  return {
    open(name, a, stack) {
      if (stack[1] === 'Policy') return;
      switch (name) {
        case 'ReportHost':
          host = emptyObservation();
          seen = new Set();
          osCpes = [];
          if (a.name) host.hostnames.push(a.name);
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
            pluginName: a.pluginName ?? '',
            family: a.pluginFamily ?? '',
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
        if (name === 'cve') item.cves.push(v);
        else if (name === 'bid') item.bids.push(v);
        else if (name === 'cvss3_base_score') item.cvss = Number(v);
        else if (name === 'cvss_base_score' && item.cvss === undefined) item.cvss = Number(v);
        else if (name === 'plugin_output') item.output = v;
        else if (name === 'cpe') item.cpes.push(v);
      } else if (name === 'ReportItem' && item) {
        finishItem(item);
        item = undefined;
      } else if (name === 'ReportHost' && host) {
        // host-ip comes first when known; the ReportHost name is then only a label.
        if (!host.ipv4.length && !host.ipv6.length && host.hostnames[0]) {
          const n = host.hostnames[0];
          if (/^\d+\.\d+\.\d+\.\d+$/.test(n)) host.ipv4.push(n);
          else if (n.includes(':')) host.ipv6.push(n.toLowerCase());
        }
        host.hostnames = host.hostnames.filter((h) => !host!.ipv4.includes(h) && !host!.ipv6.includes(h));
        if (osCpes.length && host.os[0]) host.os[0].cpe = osCpes[0];
        else if (osCpes.length)
          host.os.push({ cpe: osCpes[0], confidence: 60, source: 'nessus', seenAt: now });
        emit(host);
        host = undefined;
        seen = undefined;
      }
    },
  };
}
