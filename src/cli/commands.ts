// The CLI commands that talk to the daemon's API (status, tiers, connections, attackers, allow; and the
// remediation service's hosts, scan import, rules, remediate) and
// `config check`, which needs no daemon. Human output by default, the API's JSON with --json.
// One file (about 880 lines) for now: #12 splits it per command group with one formatter module.
// Exit codes: 0 ok, 1 runtime or daemon error (or an invalid config for `config check`), 2 usage,
// 3 the daemon is not running.

import { randomBytes } from 'node:crypto';
import { chmodSync, constants, copyFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { type ConfigStatus, describeInForce } from '../api/config-status.js';
import {
  type AllowChange,
  type AllowEntry,
  type AttackerList,
  type ClearResult,
  CONNECTION_STATES,
  type ConnectionRecord,
  type Page,
  type StatusSnapshot,
  type TierHistoryView,
} from '../api/deps.js';
import { ConfigError, hasControlCharacter, loadConfigFile, parseCidr } from '../config/index.js';
import { importDirOf } from '../remediation/import-file.js';
import { DISPATCH_STATUSES, REMEDY_MODES } from '../remediation/names.js';
import type { DetectionState } from '../remediation/service.js';
import { DEFAULT_CONFIG_PATH } from './api-locate.js';
import { parseCommand } from './args.js';
import { ApiClient, CliError, EXIT, type LocateFlags, locate } from './client.js';
import { programs, rulesDelete, rulesSave } from './rule-edit.js';
import { didYouMean } from './suggest.js';
import { reportError, UsageError } from './usage.js';

const COMMON_HELP = `common options:
  --api <addr:port|url>  the API (default: from <state-dir>/api.json, else the config's listen)
  --state-dir <dir>      the daemon's state dir (default: the config's state_dir, /var/run/tunguard)
  --config <file>        the UCI config (default /etc/config/tunguard when present)
  --token-file <file>    the API token (default: what the daemon uses; or env TUNGUARD_TOKEN)
  --timeout <s>          seconds to wait for the daemon (default 5)
  --json                 the API's JSON instead of text
  -h, --help             this text

exit codes: 0 ok, 1 error, 2 usage, 3 the daemon is not running`;

export const COMMAND_HELP: Record<string, string> = {
  status: `usage: tunguard status [options]\n\nTier, half-open handshakes, packet counters, drops, uptime.\n\n${COMMON_HELP}\n`,
  tiers: `usage: tunguard tiers [--limit n] [options]\n\nThe risk tier now and its recent changes.\n\n${COMMON_HELP}\n`,
  connections: `usage: tunguard connections [--src p] [--dst p] [--port n] [--state s] [--family 4|6]
                            [--offset n] [--limit n] [options]

Connections proxied by the SYN proxy, newest first.
  --state s    ${CONNECTION_STATES.join(', ')}
  --family f   4 or 6
${COMMON_HELP}\n`,
  attackers: `usage: tunguard attackers [--limit n] [options]
       tunguard attackers clear [<address>] [options]

Sources marked aggressive (their SYNs are dropped for a while); clear one mark or all.

${COMMON_HELP}\n`,
  allow: `usage: tunguard allow list [options]
       tunguard allow add <address|prefix> [--comment text] [options]
       tunguard allow del <address|prefix> [options]

The allowlist: sources never subject to the defenses. Changes are written to the config file.

${COMMON_HELP}\n`,
  hosts: `usage: tunguard hosts [<host>] [--offset n] [--limit n] [options]

LAN hosts the router knows (from scans and traffic), with their risk, a page at a time (default 200,
at most 1000); one host in detail.

${COMMON_HELP}\n`,
  scan: `usage: tunguard scan import <file> [--format auto|nmap|nessus|openvas] [options]

Imports a scanner report (nmap XML, Nessus v2, OpenVAS XML) that is on the router: the daemon reads
the file itself (streamed), so it must be readable by the daemon. Default --timeout 300.

${COMMON_HELP}\n`,
  rules: `usage: tunguard rules [<rule-id>] [options]
       tunguard rules save [--new] <rule.json|-> [options]
       tunguard rules delete <rule-id> [options]

Remediation rules (environment, threat, combined); one rule in full. 'save' replaces the rule with
the file's id (--new: creates it, and an existing id is an error); '-' reads the rule from stdin.

${COMMON_HELP}\n`,
  programs: `usage: tunguard programs [list] [options]
       tunguard programs add <file> --id <id> --location <location> [--platform any|linux|windows|macos]

Cleanup programs the router keeps and sends to agents itself (a rule's program with this id and
location), each pinned by its sha256; at most 2 MiB each. --spec - reads id, location and platform
as JSON from stdin instead.

${COMMON_HELP}\n`,
  remediate: `usage: tunguard remediate <host> [--rule <id>] [--mode auto|program|reference|file-op] [options]

Queues a remedy for a host's agent: the given rule's, else the first rule that matches the host now.
Prints the dispatch (its status shows in 'tunguard remediate' --json and the API's /dispatches/<id>).

${COMMON_HELP}\n`,
  dispatches: `usage: tunguard dispatches [<dispatch-id>] [--host <host>] [--status <status>] [options]

Remedies queued for hosts' agents, oldest first, with their status; one dispatch in full with its
audit trail.

  --host h       only this host
  --status s     ${DISPATCH_STATUSES.join(', ')}

${COMMON_HELP}\n`,
  detect: `usage: tunguard detect [--now] [options]

The periodic detection of 'config detect' (seed: the protected hosts re-checked on a schedule,
scanned with nmap first when configured): the schedule, whether a round runs, the last round's
report. --now starts the configured round at once (its report: 'tunguard detect' when it is done).

${COMMON_HELP}\n`,
  config: `usage: tunguard config check [<file>] [--json]

Checks a UCI config file (default: --config, else ${DEFAULT_CONFIG_PATH}) without a daemon.
Exit code 0 when valid, 1 when not (each problem with its line on stderr), 2 usage.\n`,
};

const COMMON_OPTIONS = {
  api: { type: 'string' },
  'state-dir': { type: 'string' },
  config: { type: 'string' },
  'token-file': { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(
  cmd: string,
  argv: string[],
  extra: O,
  positionals = false,
) {
  return parseCommand(argv, { ...COMMON_OPTIONS, ...extra }, positionals, COMMAND_HELP[cmd]);
}

function intOption(
  v: string | undefined,
  name: string,
  min: number,
  max: number,
  cmd: string,
): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`--${name}: expected an integer ${min}..${max}, got '${v}'`, COMMAND_HELP[cmd]);
  return Number(v);
}

function prefixArg(v: string, what: string, cmd: string): string {
  try {
    return parseCidr(v).cidr;
  } catch (err) {
    throw new UsageError(
      `${what}: '${v}' is not an address or prefix: ${(err as Error).message}`,
      COMMAND_HELP[cmd],
    );
  }
}

export function client(values: LocateFlags & { timeout?: string }, cmd: string): ApiClient {
  const timeout = intOption(values.timeout, 'timeout', 1, 600, cmd) ?? 5;
  return new ApiClient(locate(values), timeout * 1000);
}

export function out(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
}

export function printJson(x: unknown): void {
  out(JSON.stringify(x, null, 2));
}

// ---------------------------------------------------------------------------------------------------
// Formatting

export function human(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

export function duration(seconds: number): string {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

function time(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** A left-aligned text table (columns separated by two spaces). */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Commands

async function status(argv: string[]): Promise<number> {
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
    `api         ${c.where.url}`,
    // The LAN listeners' certificate: what a remote client or browser must see (TUNGUARD_API_FINGERPRINT).
    ...(c.where.tlsFingerprint ? [`api tls     sha256 ${c.where.tlsFingerprint}`] : []),
    ...(s.config ? configLines(s.config) : []),
  ];
  out(lines.join('\n'));
  return EXIT.OK;
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

async function tiers(argv: string[]): Promise<number> {
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

async function connections(argv: string[]): Promise<number> {
  const { values } = parse('connections', argv, {
    src: { type: 'string' },
    dst: { type: 'string' },
    port: { type: 'string' },
    state: { type: 'string' },
    family: { type: 'string' },
    offset: { type: 'string' },
    limit: { type: 'string' },
  });
  if (values.help) return help('connections');
  const q = new URLSearchParams();
  if (values.src !== undefined) q.set('src', prefixArg(values.src, '--src', 'connections'));
  if (values.dst !== undefined) q.set('dst', prefixArg(values.dst, '--dst', 'connections'));
  const port = intOption(values.port, 'port', 1, 65535, 'connections');
  if (port !== undefined) q.set('port', String(port));
  if (values.state !== undefined)
    q.set('state', oneOf(values.state, 'state', CONNECTION_STATES, 'connections'));
  if (values.family !== undefined) {
    q.set('family', oneOf(values.family, 'family', ['4', '6'], 'connections'));
  }
  q.set('offset', String(intOption(values.offset, 'offset', 0, 10_000_000, 'connections') ?? 0));
  q.set('limit', String(intOption(values.limit, 'limit', 1, 1000, 'connections') ?? 50));
  const p = await client(values, 'connections').request<Page<ConnectionRecord>>(`/api/v1/connections?${q}`);
  if (values.json) {
    printJson(p);
    return EXIT.OK;
  }
  if (p.note) out(`note: ${p.note}`);
  if (p.items.length === 0) {
    out(p.total === 0 ? 'no connections' : `no connections at offset ${p.offset} (${p.total} in all)`);
    return EXIT.OK;
  }
  const ep = (a: string, port: number) => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`);
  out(
    table(
      ['FROM', 'TO', 'STATE', 'DIR', 'UPDATED'],
      p.items.map((x) => [ep(x.src, x.sport), ep(x.dst, x.dport), x.state, x.direction, time(x.updatedAt)]),
    ),
  );
  out(`${p.offset + 1}-${p.offset + p.items.length} of ${p.total}`);
  return EXIT.OK;
}

async function attackers(argv: string[]): Promise<number> {
  const { values, positionals } = parse('attackers', argv, { limit: { type: 'string' } }, true);
  if (values.help) return help('attackers');
  const [sub, address, ...more] = positionals;
  if (sub !== undefined && sub !== 'clear' && sub !== 'list')
    throw new UsageError(
      `unknown attackers subcommand '${sub}'${didYouMean(sub, ['list', 'clear'])}`,
      COMMAND_HELP.attackers,
    );
  if (more.length > 0 || (sub !== 'clear' && address !== undefined))
    throw new UsageError('too many arguments', COMMAND_HELP.attackers);
  const c = client(values, 'attackers');
  if (sub === 'clear') {
    let path = '/api/v1/attackers';
    if (address !== undefined) {
      const p = prefixArg(address, 'address', 'attackers');
      path += `/${encodeURIComponent(p.replace(/\/(32|128)$/, ''))}`;
    }
    const r = await c.request<ClearResult>(path, { method: 'DELETE' });
    if (values.json) printJson(r);
    else out(`cleared ${r.cleared} mark(s)${r.note ? ` (${r.note})` : ''}`);
    return EXIT.OK;
  }
  const limit = intOption(values.limit, 'limit', 1, 1000, 'attackers') ?? 50;
  const a = await c.request<AttackerList>(`/api/v1/attackers?limit=${limit}`);
  if (values.json) {
    printJson(a);
    return EXIT.OK;
  }
  if (a.note) out(`note: ${a.note}`);
  if (a.items.length === 0) {
    out('no sources marked');
    return EXIT.OK;
  }
  const now = Date.now();
  out(
    table(
      ['ADDRESS', 'UNFINISHED', 'MARKED', 'EXPIRES IN', 'TIMES'],
      a.items.map((x) => [
        x.address,
        x.unfinished === null ? '-' : String(x.unfinished),
        time(x.markedAt),
        duration(Math.max(0, (x.expiresAt - now) / 1000)),
        String(x.marks),
      ]),
    ),
  );
  if (a.total > a.items.length) out(`${a.items.length} of ${a.total}`);
  return EXIT.OK;
}

/** An enum option's value, or a usage error naming the valid values (and the nearest one). */
function oneOf(
  value: string,
  flag: string,
  valid: readonly string[],
  cmd: keyof typeof COMMAND_HELP,
): string {
  if (valid.includes(value)) return value;
  throw new UsageError(
    `--${flag}: expected one of ${valid.join(', ')}, got '${value}'${didYouMean(value, valid)}`,
    COMMAND_HELP[cmd],
  );
}

async function allow(argv: string[]): Promise<number> {
  const { values, positionals } = parse('allow', argv, { comment: { type: 'string' } }, true);
  if (values.help) return help('allow');
  const [sub, arg, ...more] = positionals;
  if (more.length > 0) throw new UsageError('too many arguments', COMMAND_HELP.allow);
  const c = () => client(values, 'allow');
  switch (sub) {
    case undefined:
    case 'list': {
      if (arg !== undefined) throw new UsageError('allow list takes no argument', COMMAND_HELP.allow);
      const l = await c().request<{ items: AllowEntry[]; persisted: boolean }>('/api/v1/allowlist');
      if (values.json) printJson(l);
      else if (l.items.length === 0) out('the allowlist is empty');
      else
        out(
          table(
            ['PREFIX', 'SECTION', 'COMMENT'],
            l.items.map((e) => [e.cidr, e.section, e.comment]),
          ),
        );
      return EXIT.OK;
    }
    case 'add': {
      if (arg === undefined) throw new UsageError('allow add needs an address or prefix', COMMAND_HELP.allow);
      const prefix = prefixArg(arg, 'prefix', 'allow');
      const comment = values.comment ?? '';
      if (comment.length > 200 || hasControlCharacter(comment))
        throw new UsageError('--comment: at most 200 characters, no control characters', COMMAND_HELP.allow);
      const r = await c().request<AllowChange>('/api/v1/allowlist', {
        method: 'POST',
        body: { cidr: prefix, comment },
      });
      if (values.json) printJson(r);
      else
        out(
          `${r.changed ? 'added' : 'already allowed:'} ${r.entry.cidr}${r.persisted ? '' : ' (in memory only: the daemon runs without a config file)'}`,
        );
      return EXIT.OK;
    }
    case 'del':
    case 'delete':
    case 'rm': {
      if (arg === undefined) throw new UsageError('allow del needs an address or prefix', COMMAND_HELP.allow);
      const prefix = prefixArg(arg, 'prefix', 'allow');
      const r = await c().request<AllowChange>(
        `/api/v1/allowlist/${prefix.split('/').map(encodeURIComponent).join('/')}`,
        {
          method: 'DELETE',
        },
      );
      if (values.json) printJson(r);
      else out(`removed ${r.entry.cidr} (from ${r.entry.section})`);
      return EXIT.OK;
    }
    default:
      throw new UsageError(
        `unknown allow subcommand '${sub}'${didYouMean(sub, ['list', 'add', 'del'])}`,
        COMMAND_HELP.allow,
      );
  }
}

// ---------------------------------------------------------------------------------------------------
// Remediation: hosts, scan import, rules, remediate (under /api/v1/remediation)

const REM = '/api/v1/remediation';

interface HostRow {
  id: string;
  ipv4: string[];
  ipv6: string[];
  hostnames: string[];
  osName?: string;
  softwareCount: number;
  threatCount: number;
  risk: { score: number; level: string };
  agent: boolean;
}

interface HostDetailView {
  host: {
    id: string;
    ipv4: string[];
    ipv6: string[];
    macs: string[];
    macVendor?: string;
    hostnames: string[];
    os: { name?: string; version?: string; source: string; confidence: number }[];
    software: { product: string; version?: string; port?: number; protocol?: string; source: string }[];
    threats?: {
      key: string;
      type: string;
      name?: string;
      title?: string;
      severity?: string;
      cvss?: number;
    }[];
  };
  matchedCves: { key: string; certainty?: string; cvss?: number }[];
  risk: { score: number; level: string };
  agent?: { address: string; port: number };
  matchingRules: { ruleId: string; set: string; threats: string[] }[];
  cveFeedLoaded?: boolean;
}

function oneArg(positionals: string[], cmd: string, what?: string): string | undefined {
  if (positionals.length > 1) throw new UsageError('too many arguments', COMMAND_HELP[cmd]);
  const a = positionals[0];
  if (a !== undefined && (a.length === 0 || a.length > 256))
    throw new UsageError(`${what ?? 'argument'}: expected 1-256 characters`, COMMAND_HELP[cmd]);
  return a;
}

/** The first `n` items and how many more there are (the rest is in --json). */
function atMost(items: string[], n: number): string[] {
  return items.length > n ? [...items.slice(0, n), `… ${items.length - n} more`] : items;
}

/** The CVEs a scanner reported on the host, then those matched from its software (`?` = possibly). */
function hostCves(h: HostDetailView): string[] {
  const reported = (h.host.threats ?? []).filter((t) => t.type === 'vulnerability').map((t) => t.key);
  const matched = h.matchedCves
    .filter((m) => !reported.includes(m.key))
    .map((m) => `${m.key}${m.certainty === 'affected' ? '' : '?'}`);
  return [...new Set(reported), ...matched];
}

/** The scanner's own findings and malware on the host: name and severity (keys stay in --json). */
function hostFindings(h: HostDetailView): string[] {
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

async function hosts(argv: string[]): Promise<number> {
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
    const h = await c.request<HostDetailView>(`${REM}/hosts/${encodeURIComponent(ident)}`);
    if (values.json) {
      printJson(h);
      return EXIT.OK;
    }
    out(hostDetailText(h));
    return EXIT.OK;
  }
  const r = await c.request<Page<HostRow>>(`${REM}/hosts?${q}`);
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
export function hostDetailText(h: HostDetailView): string {
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

const FORMATS = ['auto', 'nmap', 'nessus', 'openvas'];

/**
 * A copy of `file` in the daemon's import directory (made O_EXCL under a random name, 0600), or the file
 * itself when it is already there; remove() deletes only a copy.
 */
function stageImport(file: string, importDir: string): { path: string; remove: () => void } {
  if (dirname(file) === importDir) return { path: file, remove: () => {} };
  const copy = join(importDir, `cli-${randomBytes(8).toString('hex')}${extname(file)}`);
  try {
    copyFileSync(file, copy, constants.COPYFILE_EXCL);
    chmodSync(copy, 0o600);
  } catch (err) {
    rmSync(copy, { force: true });
    throw new CliError(
      `cannot copy ${file} into the daemon's import directory ${importDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (run as root on the router)`,
    );
  }
  return { path: copy, remove: () => rmSync(copy, { force: true }) };
}

async function scan(argv: string[]): Promise<number> {
  const { values, positionals } = parse('scan', argv, { format: { type: 'string' } }, true);
  if (values.help) return help('scan');
  const [sub, file, ...more] = positionals;
  if (sub !== 'import')
    throw new UsageError(
      sub === undefined
        ? 'scan needs a subcommand (import)'
        : `unknown scan subcommand '${sub}'${didYouMean(sub, ['import'])}`,
      COMMAND_HELP.scan,
    );
  if (file === undefined) throw new UsageError('scan import needs a report file', COMMAND_HELP.scan);
  if (more.length > 0) throw new UsageError('too many arguments', COMMAND_HELP.scan);
  const format = oneOf(values.format ?? 'auto', 'format', FORMATS, 'scan');
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(`${file}: no such file`);
  const timeout = intOption(values.timeout, 'timeout', 1, 3600, 'scan') ?? 300;
  const c = new ApiClient(locate(values), timeout * 1000);
  // The daemon reads reports only from its import directory: a copy goes there for the request.
  const staged = stageImport(path, importDirOf(c.where.stateDir));
  const r = await c
    .request<{
      hostIds: string[];
      threatsSeen?: number;
      findings?: number;
      findingsKept?: number;
      findingsNotKept?: Record<string, number>;
      addressesRefused?: number;
      badAddresses?: string[];
    }>(`${REM}/scans`, {
      method: 'POST',
      body: { path: staged.path, format },
    })
    .finally(staged.remove);
  if (values.json) printJson(r);
  else {
    const lines = [
      `imported ${path}: ${r.hostIds.length} host(s)${r.threatsSeen !== undefined ? `, ${r.threatsSeen} threat(s) seen` : ''}`,
    ];
    if (r.findings !== undefined) {
      const notKept = Object.entries(r.findingsNotKept ?? {})
        .map(([why, n]) => `${n} ${why}`)
        .join(', ');
      lines.push(
        `findings: ${r.findings} in the report, ${r.findingsKept ?? 0} kept${notKept ? `, not kept: ${notKept}` : ''}`,
      );
    }
    if (r.addressesRefused)
      lines.push(`addresses refused: ${r.addressesRefused} (${(r.badAddresses ?? []).join(', ')})`);
    out(lines.join('\n'));
  }
  return EXIT.OK;
}

interface RuleView {
  id: string;
  kind: string;
  name?: string;
  enabled: boolean;
  priority: number;
}

async function rules(argv: string[]): Promise<number> {
  if (argv[0] === 'save') return rulesSave(argv.slice(1));
  if (argv[0] === 'delete') return rulesDelete(argv.slice(1));
  const { values, positionals } = parse('rules', argv, {}, true);
  if (values.help) return help('rules');
  const id = oneArg(positionals, 'rules', 'rule id');
  const c = client(values, 'rules');
  if (id !== undefined) {
    printJson(await c.request<RuleView>(`${REM}/rules/${encodeURIComponent(id)}`));
    return EXIT.OK;
  }
  const r = await c.request<{ items: RuleView[] }>(`${REM}/rules`);
  if (values.json) {
    printJson(r);
    return EXIT.OK;
  }
  if (r.items.length === 0) {
    out('no rules');
    return EXIT.OK;
  }
  out(
    table(
      ['ID', 'KIND', 'ENABLED', 'PRIORITY', 'NAME'],
      r.items.map((x) => [x.id, x.kind, x.enabled ? 'yes' : 'no', String(x.priority), x.name ?? '']),
    ),
  );
  return EXIT.OK;
}

async function remediate(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'remediate',
    argv,
    { rule: { type: 'string' }, mode: { type: 'string' } },
    true,
  );
  if (values.help) return help('remediate');
  const host = oneArg(positionals, 'remediate', 'host');
  if (host === undefined) throw new UsageError('remediate needs a host', COMMAND_HELP.remediate);
  if (values.mode !== undefined) oneOf(values.mode, 'mode', REMEDY_MODES, 'remediate');
  const c = client(values, 'remediate');
  let ruleId = values.rule;
  if (ruleId === undefined) {
    const h = await c.request<HostDetailView>(`${REM}/hosts/${encodeURIComponent(host)}`);
    ruleId = h.matchingRules[0]?.ruleId;
    if (ruleId === undefined)
      throw new CliError(`no rule matches ${host} now; name one with --rule <id> ('tunguard rules')`);
  }
  const d = await c.request<{ id: string; hostId: string; status: string; ruleId?: string }>(
    `${REM}/dispatch`,
    {
      method: 'POST',
      body: { host, ruleId, ...(values.mode !== undefined ? { mode: values.mode } : {}) },
    },
  );
  if (values.json) printJson(d);
  else out(`dispatch ${d.id} for ${d.hostId} (rule ${ruleId}): ${d.status}`);
  return EXIT.OK;
}

interface DispatchRow {
  id: string;
  hostId: string;
  ruleId?: string;
  status: string;
  createdAt: number;
  updatedAt?: number;
}

async function dispatches(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'dispatches',
    argv,
    { host: { type: 'string' }, status: { type: 'string' } },
    true,
  );
  if (values.help) return help('dispatches');
  const id = oneArg(positionals, 'dispatches', 'dispatch id');
  const c = client(values, 'dispatches');
  if (id !== undefined) {
    if (values.host !== undefined || values.status !== undefined)
      throw new UsageError('--host and --status filter the list, not one dispatch', COMMAND_HELP.dispatches);
    printJson(await c.request<DispatchRow>(`${REM}/dispatches/${encodeURIComponent(id)}`));
    return EXIT.OK;
  }
  if (values.status !== undefined) oneOf(values.status, 'status', DISPATCH_STATUSES, 'dispatches');
  const q = new URLSearchParams();
  if (values.host !== undefined) q.set('host', values.host);
  if (values.status !== undefined) q.set('status', values.status);
  const query = q.toString() === '' ? '' : `?${q}`;
  const r = await c.request<{ items: DispatchRow[] }>(`${REM}/dispatches${query}`);
  if (values.json) {
    printJson(r);
    return EXIT.OK;
  }
  if (r.items.length === 0) {
    out('no dispatches');
    return EXIT.OK;
  }
  out(
    table(
      ['ID', 'HOST', 'RULE', 'STATUS', 'CREATED'],
      r.items.map((d) => [d.id, d.hostId, d.ruleId ?? '-', d.status, time(d.createdAt)]),
    ),
  );
  return EXIT.OK;
}

async function detect(argv: string[]): Promise<number> {
  const { values } = parse('detect', argv, { now: { type: 'boolean' } });
  if (values.help) return help('detect');
  const c = client(values, 'detect');
  const st = values.now
    ? await c.request<DetectionState>(`${REM}/detect`, { method: 'POST', body: {} })
    : await c.request<DetectionState>(`${REM}/detect`);
  if (values.json) {
    printJson(st);
    return EXIT.OK;
  }
  if (values.now) out('detection round started');
  if (!st.scheduled) out("schedule: off (config detect: option enabled '1')");
  else {
    const what = [
      st.protectedHosts?.length ? st.protectedHosts.join(', ') : '',
      st.scanLan ? 'the LAN' : '',
    ].filter((x) => x);
    out(
      `schedule: every ${st.intervalSeconds} s: ${what.join(' and ') || 'nothing'}${st.scan ? ', nmap scan first' : ''}`,
    );
    if (st.nextRunAt !== undefined) out(`next round: ${time(st.nextRunAt)}`);
  }
  if (st.running) out('a round is running');
  const l = st.last;
  if (!l) out('last round: none yet');
  else {
    const r = l.report;
    out(
      `last round (${l.trigger}): ${time(l.startedAt)}, ${((l.finishedAt - l.startedAt) / 1000).toFixed(1)} s: checked ${r.checked}, scanned ${r.scanned}, queued ${r.queued.length}, skipped ${r.skipped.length}`,
    );
    if (r.missing.length > 0) out(`  not in the inventory: ${r.missing.join(', ')}`);
    if (r.scanError) out(`  scan failed: ${r.scanError}`);
  }
  return EXIT.OK;
}

function parseConfigArgs(argv: string[]) {
  const options = {
    json: { type: 'boolean' },
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  return parseCommand(argv, options, true, COMMAND_HELP.config);
}

function configCommand(argv: string[]): number {
  const parsed = parseConfigArgs(argv);
  const { values, positionals } = parsed;
  if (values.help) return help('config');
  const [sub, file, ...more] = positionals;
  if (sub !== 'check')
    throw new UsageError(
      sub === undefined
        ? 'config needs a subcommand'
        : `unknown config subcommand '${sub}'${didYouMean(sub, ['check'])}`,
      COMMAND_HELP.config,
    );
  if (more.length > 0) throw new UsageError('too many arguments', COMMAND_HELP.config);
  const path = file ?? values.config ?? DEFAULT_CONFIG_PATH;
  try {
    const { warnings } = loadConfigFile(path);
    if (values.json) printJson({ valid: true, path, issues: [], warnings });
    else {
      out(`${path}: ok`);
      for (const w of warnings) process.stderr.write(`${path}: warning: ${w.message}\n`);
    }
    return EXIT.OK;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (values.json) printJson({ valid: false, path, issues: err.issues, error: err.message });
    else process.stderr.write(`${err.message}\n`);
    return EXIT.ERROR;
  }
}

function help(cmd: string): number {
  process.stdout.write(COMMAND_HELP[cmd]);
  return EXIT.OK;
}

export const API_COMMANDS: Record<string, (argv: string[]) => Promise<number> | number> = {
  status,
  tiers,
  connections,
  attackers,
  allow,
  hosts,
  scan,
  rules,
  programs,
  remediate,
  dispatches,
  detect,
  config: configCommand,
};

/** Runs a command; a CliError becomes its message on stderr (JSON with --json) and its exit code. */
export async function apiCommand(cmd: string, argv: string[]): Promise<number> {
  try {
    return await API_COMMANDS[cmd](argv);
  } catch (err) {
    if (err instanceof CliError) return reportError(err, cmd, argv.includes('--json'));
    throw err;
  }
}
