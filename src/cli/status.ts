// `tunguard status` and `tunguard tiers`: the daemon's health, counters, config in force, and the risk tier.

import { type ConfigStatus, describeInForce } from '../api/config-status.js';
import type { PoliceStatus, StatusSnapshot, TierHistoryView } from '../api/deps.js';
import { EXIT } from './client.js';
import { duration, human, out, printJson, table, time } from './format.js';
import { help } from './help.js';
import { client, intOption, parse } from './options.js';

export async function status(argv: string[]): Promise<number> {
  const { values } = parse('status', argv, {});
  if (values.help) return help('status');
  const c = client(values, 'status');
  const s = await c.request<StatusSnapshot>('/api/v1/status');
  if (values.json) {
    printJson(s);
    return EXIT.OK;
  }
  const k = s.counters;
  const tier = s.tier ?? `unknown (${s.notes?.tier ?? 'not reported'})`;
  const drops = Object.entries(s.drops)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1]);
  const lines = [
    `tunguard ${s.version}, up ${duration(s.uptimeSeconds)} (since ${time(s.startedAt)})`,
    `tier        ${tier}`,
    `half-open   ${s.halfOpen ?? 'unknown'}`,
    `packets     rx ${human(k.rx_packets ?? 0)}  tx ${human(k.tx_packets ?? 0)}  (tcp ${human(k.tcp ?? 0)}, udp ${human(k.udp ?? 0)}, icmp ${human(k.icmp ?? 0)}, other ${human(k.other_proto ?? 0)})`,
    `bytes       rx ${human(k.rx_bytes ?? 0)}B  tx ${human(k.tx_bytes ?? 0)}B`,
    `drops       ${drops.length === 0 ? 'none' : drops.map(([n, v]) => `${n} ${human(v)}`).join(', ')}`,
    `workers     ${s.perWorker.length}`,
    policeLine(s.police),
    `api         ${c.where.url}`,
    // The LAN listeners' certificate: what a remote client or browser must see (TUNGUARD_API_FINGERPRINT).
    ...(c.where.tlsFingerprint ? [`api tls     sha256 ${c.where.tlsFingerprint}`] : []),
    ...(s.config ? configLines(s.config) : []),
  ];
  out(lines.join('\n'));
  return EXIT.OK;
}

const times = (n: number) => `${n} time${n === 1 ? '' : 's'}`;

/** The SYN police's nft table: installed, or gone (and why) while the daemon builds it again. */
export function policeLine(p: PoliceStatus | undefined): string {
  if (!p) return 'police      none (no nft, or nothing needs it)';
  const history = p.lost > 0 ? ` (lost ${times(p.lost)}, rebuilt ${times(p.rebuilt)})` : '';
  if (p.installed) return `police      installed${history}`;
  return `police      WARNING: the SYN police's nft table is gone${history}: ${p.reason ?? 'no reason given'}; SYN floods, ICMP/UDP floods and the offload guard are unchecked in the kernel until tunguard rebuilds it`;
}

/** The status' config lines: the file and checksum, what is in force and why, the last reload. */
export function configLines(c: ConfigStatus): string[] {
  const lines = [
    `config      ${c.path ?? 'none (built-in defaults)'}${c.path ? `, sha256 ${c.sha256.slice(0, 16)}` : ''}, since ${time(c.since)}`,
  ];
  if (c.inForce !== 'file' && c.path !== null)
    lines.push(`            ERROR: the file is not in force: running on ${describeInForce(c.inForce)}`);
  for (const p of c.problems) lines.push(`            ${p}`);
  const r = c.lastReload;
  if (r) {
    const what =
      r.result === 'refused'
        ? 'refused (the configuration in force stays)'
        : r.changed.length === 0
          ? 'applied, no setting changed'
          : `applied: ${r.changed.join(', ')}`;
    lines.push(`reload      ${time(r.at)} (${r.trigger}) ${what}`);
    for (const n of r.notApplied) lines.push(`            not applied: ${n.part}: ${n.reason}`);
  } else lines.push('reload      none since the start');
  if (c.pendingRestart.length > 0)
    lines.push(`restart     needed to apply ${c.pendingRestart.join(', ')} (/etc/init.d/tunguard restart)`);
  return lines;
}

export async function tiers(argv: string[]): Promise<number> {
  const { values } = parse('tiers', argv, { limit: { type: 'string' } });
  if (values.help) return help('tiers');
  const limit = intOption(values.limit, 'limit', 1, 1000, 'tiers') ?? 20;
  const t = await client(values, 'tiers').request<TierHistoryView>(`/api/v1/tiers?limit=${limit}`);
  if (values.json) {
    printJson(t);
    return EXIT.OK;
  }
  const th = t.thresholds;
  out(
    `tier now: ${t.current ?? 'unknown'}   (new SYNs per ${th.windowSeconds} s: ≤${th.moderate} normal, ≤${th.risky} moderate, more risky)`,
  );
  if (t.note) out(`note: ${t.note}`);
  if (t.items.length === 0) out('no tier changes yet');
  else
    out(
      table(
        ['TIME', 'FROM', 'TO', 'NEW SYNS'],
        t.items.map((i) => [time(i.at), i.from ?? '-', i.to, String(i.synsInWindow)]),
      ),
    );
  return EXIT.OK;
}
