// `tunguard hosts [<host>]`: the LAN hosts the remediation service knows, a page at a time, or one in detail.

import type { HostDetail, HostPage } from '../api/answers.js';
import { EXIT, REM } from './client.js';
import { atMost, out, printJson, table } from './format.js';
import { help } from './help.js';
import { client, intOption, oneArg, parse } from './options.js';

/** The CVEs a scanner reported on the host, then those matched from its software (`?` = possibly). */
function hostCves(h: HostDetail): string[] {
  const reported = (h.host.threats ?? []).filter((t) => t.type === 'vulnerability').map((t) => t.key);
  const matched = h.matchedCves
    .filter((m) => !reported.includes(m.key))
    .map((m) => `${m.key}${m.certainty === 'affected' ? '' : '?'}`);
  return [...new Set(reported), ...matched];
}

/** The scanner's own findings and malware on the host: name and severity (keys stay in --json). */
function hostFindings(h: HostDetail): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const t of h.host.threats ?? []) {
    if ((t.type !== 'finding' && t.type !== 'malware') || seen.has(t.key)) continue;
    seen.add(t.key);
    const sev =
      t.type === 'malware' ? 'malware' : [t.severity, t.cvss].filter((x) => x !== undefined).join(' ');
    out.push(`${t.name ?? t.title ?? t.key}${sev ? ` (${sev})` : ''}`);
  }
  return out;
}

export async function hosts(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'hosts',
    argv,
    { offset: { type: 'string' }, limit: { type: 'string' } },
    true,
  );
  if (values.help) return help('hosts');
  const ident = oneArg(positionals, 'hosts', 'host');
  const q = new URLSearchParams({
    offset: String(intOption(values.offset, 'offset', 0, 10_000_000, 'hosts') ?? 0),
    limit: String(intOption(values.limit, 'limit', 1, 1000, 'hosts') ?? 200),
  });
  const c = client(values, 'hosts');
  if (ident !== undefined) {
    const h = await c.request<HostDetail>(`${REM}/hosts/${encodeURIComponent(ident)}`);
    if (values.json) {
      printJson(h);
      return EXIT.OK;
    }
    out(hostDetailText(h));
    return EXIT.OK;
  }
  const r = await c.request<HostPage>(`${REM}/hosts?${q}`);
  if (values.json) {
    printJson(r);
    return EXIT.OK;
  }
  if (r.items.length === 0) {
    out(
      r.total === 0
        ? "no hosts known yet (import a scan: 'tunguard scan import FILE')"
        : `no hosts at offset ${r.offset} (${r.total} in all)`,
    );
    return EXIT.OK;
  }
  out(
    table(
      ['HOST', 'ADDRESS', 'NAME', 'OS', 'SOFTWARE', 'THREATS', 'RISK', 'AGENT'],
      r.items.map((h) => [
        h.id,
        h.ipv4[0] ?? h.ipv6[0] ?? '-',
        h.hostnames[0] ?? '-',
        h.osName ?? '-',
        String(h.softwareCount),
        String(h.threatCount),
        `${h.risk.level} ${h.risk.score}`,
        h.agent ? 'yes' : 'no',
      ]),
    ),
  );
  const next = r.offset + r.items.length;
  out(
    `${r.offset + 1}-${next} of ${r.total}${next < r.total ? `; ${r.total - next} more (--offset ${next})` : ''}`,
  );
  return EXIT.OK;
}

/** `hosts <host>`: everything the list shows of a host, and more (software with versions, ports). */
export function hostDetailText(h: HostDetail): string {
  const x = h.host;
  const os = [...x.os].sort((a, b) => b.confidence - a.confidence).find((o) => o.name);
  const ports = [
    ...new Set(x.software.filter((s) => s.port !== undefined).map((s) => `${s.port}/${s.protocol ?? 'tcp'}`)),
  ];
  const found = hostCves(h);
  const cves =
    found.length > 0
      ? atMost(found, 20).join(', ')
      : h.cveFeedLoaded === false
        ? 'unknown: no CVE feed is loaded (POST /api/v1/remediation/threats/feed), so none can match'
        : 'none';
  const lines = [
    `host        ${x.id}`,
    `addresses   ${[...x.ipv4, ...x.ipv6].join(', ') || '-'}`,
    `mac         ${x.macs.join(', ') || '-'}${x.macVendor ? ` (${x.macVendor})` : ''}`,
    `names       ${x.hostnames.join(', ') || '-'}`,
    `os          ${os ? `${os.name}${os.version ? ` ${os.version}` : ''} (${os.source}, ${os.confidence}%)` : '-'}`,
    `ports       ${ports.join(', ') || '-'}`,
    `software    ${x.software.length === 0 ? '-' : ''}`,
    ...x.software.map(
      (s) =>
        `  ${s.product}${s.version ? ` ${s.version}` : ''}${s.port !== undefined ? ` on ${s.port}/${s.protocol ?? 'tcp'}` : ''} (${s.source})`,
    ),
    `cves        ${cves}`,
    `findings    ${atMost(hostFindings(h), 10).join('; ') || 'none'}`,
    `risk        ${h.risk.level} (${h.risk.score})`,
    `agent       ${h.agent ? `${h.agent.address}:${h.agent.port}` : 'none'}`,
    `rules       ${h.matchingRules.map((r) => `${r.ruleId} (${r.set})`).join(', ') || 'none match'}`,
  ];
  return lines.map((l) => l.trimEnd()).join('\n');
}
