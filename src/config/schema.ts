// The configuration schema: valibot schemas that turn the sections of a parsed /etc/config/tunguard into a
// typed TunguardConfig with a default for every field, and the checks across fields. Every problem is
// reported with the UCI line of the option (or section) at fault; unknown sections and options are errors.
// One file (about 810 lines), one section schema after another: the cross-field checks read them all.
// Each option is spelled once, in its section's field table (its UCI name, its parser and default, its
// name in the config object and what it means); the config types are the schemas' InferOutput.

import * as v from 'valibot';
import { LOOKUP_MODES, REMEDY_EVIDENCE } from '../remediation/names.js';
import { ICMP_RATE_DEFAULTS, SYN_DEFAULTS, UDP_RATE_DEFAULTS } from './default-values.js';
import { type ConfigIssue, issueAt } from './errors.js';
import {
  type CidrPrefix,
  DEFAULT_LISTEN,
  FETCH_BLOCKED_PORTS,
  formatListen,
  isWildcard,
  type ListenAddress,
  parseCidr,
  parseListen,
} from './net.js';
import type { UciDocument, UciSection } from './uci.js';

export type { CidrPrefix, ListenAddress } from './net.js';

export interface TunguardConfig {
  main: MainConfig;
  defense: { syn: SynDefenseConfig };
  ratelimit: { icmp: RateLimitConfig; udp: UdpRateLimitConfig };
  /** Sources exempt from the defenses: `list allow_prefix` of main and every `config allow`, deduplicated. */
  allow: CidrPrefix[];
  api: ApiConfig;
  detect: DetectConfig;
}

// ---------------------------------------------------------------------------------------------------
// Field schemas. UCI values are strings (a `list` gives an array): each field parses its string strictly
// and, on failure, says what it expected and what it got. The prefix "option <key>: " and the line are
// added when the issue is mapped back to the file.

const SINGLE = "expected a single value (use 'option', not 'list')";
const INT_MAX = Number.MAX_SAFE_INTEGER;

/** The input as shown in a message: quoted, shortened. */
function shown(s: string): string {
  return `'${s.length > 60 ? `${s.slice(0, 57)}...` : s}'`;
}

function integer(min: number, max: number = INT_MAX, what = 'an integer'): v.GenericSchema<string, number> {
  const expects = max === INT_MAX ? `${what} ≥ ${min}` : `${what} ${min}..${max}`;
  return v.pipe(
    v.string(SINGLE),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const s = dataset.value;
      const n = /^[0-9]{1,16}$/.test(s) ? Number(s) : Number.NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        addIssue({ message: `expected ${expects}, got ${shown(s)}` });
        return NEVER;
      }
      return n;
    }),
  );
}

/** UCI's boolean words (as OpenWrt's config_get_bool takes them). */
const BOOLEANS: Record<string, boolean> = {
  '1': true,
  yes: true,
  on: true,
  true: true,
  enabled: true,
  '0': false,
  no: false,
  off: false,
  false: false,
  disabled: false,
};

function boolean(): v.GenericSchema<string, boolean> {
  return v.pipe(
    v.string(SINGLE),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const s = dataset.value;
      if (!Object.hasOwn(BOOLEANS, s)) {
        addIssue({
          message: `expected a boolean (1/0, yes/no, on/off, true/false, enabled/disabled), got ${shown(s)}`,
        });
        return NEVER;
      }
      return BOOLEANS[s];
    }),
  );
}

function oneOf<const T extends readonly string[]>(values: T): v.GenericSchema<string, T[number]> {
  const expects = values.map((x) => `'${x}'`).join(', ');
  return v.pipe(
    v.string(SINGLE),
    v.picklist(values, (issue) => `expected one of ${expects}, got ${shown(String(issue.input))}`),
  );
}

/** Linux interface names as the steering code accepts them (IFNAMSIZ: at most 15 characters). */
const DEVICE_RE = /^[\w.@:-]{1,15}$/;

function device(): v.GenericSchema<string, string> {
  return v.pipe(
    v.string(SINGLE),
    v.check(
      (s) => DEVICE_RE.test(s) && s !== '.' && s !== '..',
      (issue) =>
        `expected a network device name (1 to 15 of A-Z a-z 0-9 _ . - @ :), got ${shown(String(issue.input))}`,
    ),
  );
}

function absolutePath(): v.GenericSchema<string, string> {
  return v.pipe(
    v.string(SINGLE),
    v.check(
      (s) => s.startsWith('/'),
      (issue) => `expected an absolute path, got ${shown(String(issue.input))}`,
    ),
  );
}

function freeText(): v.GenericSchema<string, string> {
  return v.string(SINGLE);
}

function cidr(): v.GenericSchema<string, CidrPrefix> {
  return v.pipe(
    v.string(SINGLE),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      try {
        return parseCidr(dataset.value);
      } catch (err) {
        addIssue({ message: `bad prefix ${shown(dataset.value)}: ${(err as Error).message}` });
        return NEVER;
      }
    }),
  );
}

function listenAddress(): v.GenericSchema<string, ListenAddress> {
  return v.pipe(
    v.string(SINGLE),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      try {
        const l = parseListen(dataset.value);
        if (FETCH_BLOCKED_PORTS.has(l.port))
          throw new Error(
            `port ${l.port} is one that browsers and Node's fetch refuse to connect to (the dashboard and the CLI could not reach the API); pick another, e.g. 7447`,
          );
        return l;
      } catch (err) {
        addIssue({ message: `bad listen address ${shown(dataset.value)}: ${(err as Error).message}` });
        return NEVER;
      }
    }),
  );
}

/**
 * A list field: `list key 'a'` statements, or one `option key 'a b'` whose value is split at blanks (the
 * OpenWrt habit; `option key ''` is the empty list, which clears a default).
 */
function list<T>(item: v.GenericSchema<string, T>): v.GenericSchema<string | string[], T[]> {
  return v.pipe(
    v.union([v.string(), v.array(v.string())]),
    v.transform((x) => (typeof x === 'string' ? x.split(/[ \t]+/).filter((w) => w !== '') : x)),
    v.array(item),
  );
}

function nonEmpty<T>(schema: v.GenericSchema<string | string[], T[]>, what: string) {
  return v.pipe(
    schema,
    v.check((xs) => xs.length > 0, `needs at least one ${what}`),
  );
}

/** A host as the admin names it: an IP address, a MAC, or a host name (what the inventory indexes). */
const HOST_RE =
  /^(?:[0-9A-Fa-f:.]{2,45}|(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}|[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}))$/;

function hostIdent(): v.GenericSchema<string, string> {
  return v.pipe(
    v.string(SINGLE),
    v.check(
      (s) => HOST_RE.test(s),
      (issue) => `expected an IP address, a MAC or a host name, got ${shown(String(issue.input))}`,
    ),
  );
}

/** An nmap port list ('22,80,8000-8100'), or '' for nmap's default ports. */
function portList(): v.GenericSchema<string, string> {
  return v.pipe(
    v.string(SINGLE),
    v.check(
      (s) =>
        s === '' ||
        (/^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$/.test(s) &&
          s.split(/[,-]/).every((p) => Number(p) >= 1 && Number(p) <= 65535)),
      (issue) => `expected ports like '22,80,8000-8100' (1..65535), got ${shown(String(issue.input))}`,
    ),
  );
}

/** Routing tables the kernel owns: 253 default, 254 main, 255 local. */
const RESERVED_TABLES = new Set([253, 254, 255]);

// ---------------------------------------------------------------------------------------------------
// Section schemas. Defaults are written as UCI strings and go through the same parsing as the file's.

/** One option: its UCI name and its schema (with the default); the table's key is its name in the config. */
interface Field<S extends v.GenericSchema<unknown, unknown>> {
  uci: string;
  schema: S;
}

function opt<S extends v.GenericSchema<unknown, unknown>>(uci: string, schema: S): Field<S> {
  return { uci, schema };
}

type Fields = Record<string, Field<v.GenericSchema<unknown, unknown>>>;
/** What a section's table gives: each config name with its schema's output. */
type SectionOutput<F extends Fields> = { [K in keyof F]: v.InferOutput<F[K]['schema']> };

/** A section: a strict object of the UCI names (unknown options are errors), renamed to the config's. */
function section<F extends Fields>(fields: F) {
  const entries: Record<string, v.GenericSchema<unknown, unknown>> = {};
  for (const f of Object.values(fields)) entries[f.uci] = f.schema;
  return v.pipe(
    v.strictObject(entries),
    v.transform((o: Record<string, unknown>) => {
      const out: Record<string, unknown> = {};
      for (const [name, f] of Object.entries(fields)) out[name] = o[f.uci];
      return out as SectionOutput<F>;
    }),
  );
}

/** Each config name of a table with its UCI name. */
function uciNames<F extends Fields>(fields: F): { readonly [K in keyof F]: string } {
  return Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.uci])) as { [K in keyof F]: string };
}

const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** What the risky tier does with new SYNs: answer with stateless cookies, or drop them. */
const RISKY_ACTIONS = ['cookie', 'drop'] as const;
export type RiskyAction = (typeof RISKY_ACTIONS)[number];
const FAST_PATH_SETTINGS = ['off', 'auto', 'on'] as const;
export type FastPathSetting = (typeof FAST_PATH_SETTINGS)[number];

/** `config tunguard 'main'`: the daemon and where it sits. */
const MAIN_FIELDS = {
  /** Whether the daemon steers and inspects traffic at all. */
  enabled: opt('enabled', v.optional(boolean(), '1')),
  /** WAN device whose forwarded traffic is steered through the TUN. */
  wanDevice: opt('wan_device', v.optional(device(), 'wan')),
  /** LAN devices (one or more). */
  lanDevices: opt('lan_device', v.optional(nonEmpty(list(device()), 'device'), ['br-lan'])),
  /** The TUN device's name. */
  tunName: opt('tun_name', v.optional(device(), 'tg0')),
  /** TUN queues, one dataplane worker each. */
  queues: opt('queues', v.optional(integer(1, 16), '1')),
  /** The policy-routing table an older version steered through (its leftover rules are removed at start). */
  routeTable: opt(
    'route_table',
    v.optional(
      v.pipe(
        integer(1, 0x7ffffff0),
        v.check(
          (n) => !RESERVED_TABLES.has(n),
          (issue) => `table ${issue.input} belongs to the kernel (253 default, 254 main, 255 local)`,
        ),
      ),
      '4747',
    ),
  ),
  /** Steer IPv6 as well as IPv4. */
  ipv6: opt('ipv6', v.optional(boolean(), '1')),
  /** Use the virtio-net header and TSO offloads on the TUN. */
  offload: opt('offload', v.optional(boolean(), '1')),
  /** Runtime state (tmpfs): status.json, the connection store. */
  stateDir: opt('state_dir', v.optional(absolutePath(), '/var/run/tunguard')),
  /** Durable state (flash): hosts, threats, rules, audit log. */
  durableDir: opt('durable_dir', v.optional(absolutePath(), '/etc/tunguard')),
  logLevel: opt('log_level', v.optional(oneOf(LOG_LEVELS), 'info')),
  /** Shortest seconds between status.json writes (written on change, and at least every 30 s); 0 = never. */
  statusIntervalSeconds: opt('status_interval', v.optional(integer(0, 3600), '1')),
  /**
   * Seconds between snapshots of the durable store (kept in stateDir's tmpfs) to durableDir; 0 = only
   * when the daemon stops. An interval without changes writes nothing.
   */
  commitIntervalSeconds: opt('commit_interval', v.optional(integer(0, 604800), '3600')),
  /** Follow netifd's uplinks at run time (the SYN police moves with them). */
  wanFollow: opt('wan_follow', v.optional(boolean(), '0')),
  /** For the init script: start under procd's seccomp filter (the daemon itself does nothing with it). */
  seccomp: opt('seccomp', v.optional(boolean(), '0')),
  /** Follow netifd's LAN interfaces at run time (a re-created or renamed bridge is steered again). */
  lanFollow: opt('lan_follow', v.optional(boolean(), '0')),
  /** netifd's logical interfaces whose devices are the LAN, with lan_follow (lan_device: the fallback). */
  lanNetworks: opt('lan_network', v.optional(nonEmpty(list(device()), 'interface'), ['lan'])),
  /** Sources exempt from the defenses (joined with the allow sections into TunguardConfig.allow). */
  allowPrefixes: opt('allow_prefix', v.optional(list(cidr()), [])),
};

export const MainSectionSchema = section(MAIN_FIELDS);
/** `config tunguard 'main'` (its allow_prefix list goes to TunguardConfig.allow). */
export type MainConfig = Omit<v.InferOutput<typeof MainSectionSchema>, 'allowPrefixes'>;

/** `config defense 'syn'`: the SYN proxy and the risk tiers. */
const SYN_FIELDS = {
  /** Length of the sliding window new SYNs are counted over. */
  windowSeconds: opt('window_seconds', v.optional(integer(1, 60), String(SYN_DEFAULTS.windowSeconds))),
  /** More new SYNs than this in the window: the moderate tier. */
  moderateThreshold: opt(
    'moderate_threshold',
    v.optional(integer(1), String(SYN_DEFAULTS.moderateThreshold)),
  ),
  /** More new SYNs than this in the window: the risky tier. */
  riskyThreshold: opt('risky_threshold', v.optional(integer(1), String(SYN_DEFAULTS.riskyThreshold))),
  riskyAction: opt('risky_action', v.optional(oneOf(RISKY_ACTIONS), 'cookie')),
  /** A source with more unfinished handshakes than this is aggressive (the tracker counts in bytes: 254 at most). */
  maxUnfinishedPerSource: opt(
    'max_unfinished_per_source',
    v.optional(integer(1, 254), String(SYN_DEFAULTS.maxUnfinishedPerSource)),
  ),
  /** How long an aggressive source's SYNs are dropped. */
  aggressiveHoldSeconds: opt(
    'aggressive_hold_seconds',
    v.optional(integer(1, 86400), String(SYN_DEFAULTS.aggressiveHoldSeconds)),
  ),
  /**
   * Entries of the SYN cache (the options of clients without timestamps) and of the fast path's chart of
   * SYN 4-tuples (moderate tier), each.
   */
  // Bounded for the memory it sizes: 47 bytes a slot per worker, and the kernel fast path's chart
  // (about 110 bytes an entry) — at the maximum about 12 MB per worker plus 28 MB in the kernel.
  synCacheSize: opt('syn_cache_size', v.optional(integer(256, 1 << 18), '65536')),
  /** A proxied connection idle this long is forgotten. */
  connectionIdleSeconds: opt('connection_idle_seconds', v.optional(integer(10, 30 * 86400), '7440')),
  /** Proxy connections opened from the WAN side toward LAN hosts. */
  proxyInbound: opt('proxy_inbound', v.optional(boolean(), '1')),
  /** Proxy connections opened from LAN hosts toward the WAN. */
  proxyOutbound: opt('proxy_outbound', v.optional(boolean(), '0')),
  /** The kernel fast path answering SYN floods (eBPF): 'auto' uses it where the kernel can. */
  fastPath: opt('fast_path', v.optional(oneOf(FAST_PATH_SETTINGS), 'auto')),
  /** Proxy WAN connections to the router's own services (its WAN addresses) too. */
  protectRouter: opt('protect_router', v.optional(boolean(), '1')),
};
export const SynSectionSchema = section(SYN_FIELDS);
export type SynDefenseConfig = v.InferOutput<typeof SynSectionSchema>;
/** The UCI name of each SYN option (for messages about the file). */
export const SYN_OPTION_NAMES = uciNames(SYN_FIELDS);

/** The token-bucket options of a rate-limit section (packets per second). */
function rateFields(rate: number, perSource: number) {
  return {
    enabled: opt('enabled', v.optional(boolean(), '1')),
    /** Global rate, packets per second. */
    rate: opt('rate', v.optional(integer(1), String(rate))),
    /** Global bucket size, packets. */
    burst: opt('burst', v.optional(integer(1), String(rate))),
    /** Per-source rate, packets per second; 0 = no per-source limit. */
    perSourceRate: opt('per_source_rate', v.optional(integer(0), String(perSource))),
    /** Per-source bucket size, packets. */
    perSourceBurst: opt('per_source_burst', v.optional(integer(1), String(perSource))),
  };
}

/** `config ratelimit 'icmp'`: ICMP packets per second, globally and per source. */
export const IcmpSectionSchema = section(
  rateFields(ICMP_RATE_DEFAULTS.rate, ICMP_RATE_DEFAULTS.perSourceRate),
);
export type RateLimitConfig = v.InferOutput<typeof IcmpSectionSchema>;

/** `config ratelimit 'udp'`: UDP packets per second, globally and per source; DNS exempt. */
export const UdpSectionSchema = section({
  ...rateFields(UDP_RATE_DEFAULTS.rate, UDP_RATE_DEFAULTS.perSourceRate),
  /** Destination ports whose datagrams are not counted (e.g. 53). */
  exemptPorts: opt(
    'exempt_port',
    v.optional(list(integer(1, 65535, 'a port')), UDP_RATE_DEFAULTS.exemptPorts.map(String)),
  ),
});
export type UdpRateLimitConfig = v.InferOutput<typeof UdpSectionSchema>;

/** `config allow`: sources exempt from the defenses. */
export const AllowSectionSchema = section({
  prefixes: opt('prefix', v.optional(list(cidr()), [])),
  comment: opt('comment', v.optional(freeText(), '')),
});

/** `config api 'api'`: the JSON API. */
export const ApiSectionSchema = section({
  /** Addresses to listen on; empty = no API. */
  listen: opt('listen', v.optional(list(listenAddress()), [formatListen(DEFAULT_LISTEN)])),
  /** File holding the bearer token. */
  tokenFile: opt('token_file', v.optional(absolutePath(), '/etc/tunguard/api.token')),
  /** Send CORS headers. */
  cors: opt('cors', v.optional(boolean(), '0')),
});
export type ApiConfig = v.InferOutput<typeof ApiSectionSchema>;

/** `config detect 'detect'`: periodic re-checks of the protected hosts and the embedded nmap scan. */
export const DetectSectionSchema = section({
  /** Whether the daemon re-checks the protected hosts on its own. */
  enabled: opt('enabled', v.optional(boolean(), '0')),
  /** Hosts as the admin names them: IPv4/IPv6 address, MAC, or host name. */
  protectedHosts: opt('protected_host', v.optional(list(hostIdent()), [])),
  /** Seconds between detection rounds (the first runs shortly after the start). */
  intervalSeconds: opt('interval', v.optional(integer(60, 7 * 86400), '3600')),
  /** Run `nmap -sV -O` on the protected hosts (or the LAN) before matching. */
  scan: opt('scan', v.optional(boolean(), '1')),
  /** Scan the LAN's IPv4 prefixes and check every host found, not only the protected ones. */
  scanLan: opt('scan_lan', v.optional(boolean(), '0')),
  /** A scan is stopped after this long. */
  scanTimeoutSeconds: opt('scan_timeout', v.optional(integer(30, 6 * 3600), '600')),
  /** Packets per second nmap may send (--max-rate). */
  scanMaxRate: opt('scan_max_rate', v.optional(integer(1, 10_000), '100')),
  /** nmap port list; empty: nmap's top 1000. */
  scanPorts: opt('scan_ports', v.optional(portList(), '')),
  /** Lookup across the three rule sets (environment, threat, combined): see LOOKUP_MODES. */
  lookup: opt('lookup', v.optional(oneOf(LOOKUP_MODES), 'ordered')),
  /** Which facts may trigger a remedy: see REMEDY_EVIDENCE (passive facts alone never, by default). */
  remedyEvidence: opt('remedy_evidence', v.optional(oneOf(REMEDY_EVIDENCE), 'confirm')),
  /**
   * Seconds between pings of each paired agent (skipped for one contacted more recently): what the
   * status file's and /metrics' unreachable-agent count rests on. 0: only dispatches tell.
   */
  agentCheckSeconds: opt('agent_check', v.optional(integer(0, 86400), '300')),
});
export type DetectConfig = v.InferOutput<typeof DetectSectionSchema>;

// ---------------------------------------------------------------------------------------------------
// Sections: which types and names exist, and where each goes.

type Slot = 'main' | 'syn' | 'icmp' | 'udp' | 'api' | 'detect' | 'allow';

interface SectionKind {
  /** Accepted names; an empty list accepts any name. */
  names: readonly string[];
  /** Whether the section may be anonymous (then it is the one named names[0]). */
  anonymous: boolean;
  /** Whether several sections of the type may exist. */
  many: boolean;
}

const SECTION_KINDS: Record<string, SectionKind> = {
  tunguard: { names: ['main'], anonymous: true, many: false },
  defense: { names: ['syn'], anonymous: false, many: false },
  ratelimit: { names: ['icmp', 'udp'], anonymous: false, many: false },
  allow: { names: [], anonymous: true, many: true },
  api: { names: ['api'], anonymous: true, many: false },
  detect: { names: ['detect'], anonymous: true, many: false },
};

/** The section types a config file may hold. */
export const SECTION_TYPES: readonly string[] = Object.keys(SECTION_KINDS);

const SLOT_SCHEMAS = {
  main: MainSectionSchema,
  syn: SynSectionSchema,
  icmp: IcmpSectionSchema,
  udp: UdpSectionSchema,
  api: ApiSectionSchema,
  detect: DetectSectionSchema,
  allow: AllowSectionSchema,
} as const;

function slotOf(type: string, name: string | undefined): Slot {
  if (type === 'tunguard') return 'main';
  if (type === 'defense') return 'syn';
  if (type === 'ratelimit') return name === 'icmp' ? 'icmp' : 'udp';
  if (type === 'api') return 'api';
  if (type === 'detect') return 'detect';
  return 'allow';
}

function knownKeys(slot: Slot): string[] {
  const schema = SLOT_SCHEMAS[slot].pipe[0];
  return Object.keys(schema.entries);
}

/** The options each section accepts, by "type" or "type.name" ('defense.syn', 'ratelimit.udp'). */
export const SECTION_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  tunguard: knownKeys('main'),
  'defense.syn': knownKeys('syn'),
  'ratelimit.icmp': knownKeys('icmp'),
  'ratelimit.udp': knownKeys('udp'),
  allow: knownKeys('allow'),
  api: knownKeys('api'),
  detect: knownKeys('detect'),
};

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}

function suggest(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestD = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best === undefined ? '' : `; did you mean '${best}'?`;
}

function describeSection(s: UciSection): string {
  return s.name === undefined ? `config ${s.type}` : `config ${s.type} '${s.name}'`;
}

/** Per-key hints for options that exist elsewhere. */
const HINTS: Record<string, string> = {
  'icmp.exempt_port': ' (exempt_port applies to udp only)',
};

function kindOf(s: UciSection, key: string): 'option' | 'list' {
  return Object.hasOwn(s.lists, key) ? 'list' : 'option';
}

/** Line of value `index` of `key` (a split option value has its one line). */
function lineOf(s: UciSection, key: string, index = 0): number {
  if (Object.hasOwn(s.options, key)) return s.options[key].line;
  if (Object.hasOwn(s.lists, key)) {
    const lines = s.lists[key].lines;
    return lines[Math.min(index, lines.length - 1)] ?? s.lists[key].line;
  }
  return s.line;
}

function has(s: UciSection, key: string): boolean {
  return Object.hasOwn(s.options, key) || Object.hasOwn(s.lists, key);
}

function mapIssue(s: UciSection, slot: Slot, issue: v.BaseIssue<unknown>): ConfigIssue {
  const key = issue.path?.[0]?.key;
  const index = issue.path?.[1]?.key;
  if (typeof key !== 'string') return issueAt(s.line, `${describeSection(s)}: ${issue.message}`);
  const kind = kindOf(s, key);
  const line = lineOf(s, key, typeof index === 'number' ? index : 0);
  if (issue.type === 'strict_object' && issue.expected === 'never') {
    const known = knownKeys(slot);
    const hint = HINTS[`${slot}.${key}`] ?? (suggest(key, known) || ` (known: ${known.join(', ')})`);
    return issueAt(line, `unknown ${kind} '${key}' in ${describeSection(s)}${hint}`);
  }
  return issueAt(line, `${kind} ${key}: ${issue.message}`);
}

/** Where to report a problem involving several keys: the key set last in the file (the first if none). */
function blame(
  s: UciSection | undefined,
  keys: readonly string[],
): { line: number; key: string; prefix: string } {
  let best: { line: number; key: string; prefix: string } | undefined;
  for (const key of keys) {
    if (!s || !has(s, key)) continue;
    const line = lineOf(s, key);
    if (!best || line > best.line) best = { line, key, prefix: `${kindOf(s, key)} ${key}: ` };
  }
  return best ?? { line: s?.line ?? 1, key: keys[0], prefix: '' };
}

/** The lines of the entries of a list field, in the order the schema yields them. */
function entryLines(s: UciSection | undefined, key: string, count: number): number[] {
  if (!s || !has(s, key)) return new Array<number>(count).fill(s?.line ?? 1);
  return Array.from({ length: count }, (_, i) => lineOf(s, key, i));
}

export interface InterpretResult {
  /** The configuration, when there are no issues. */
  config: TunguardConfig | undefined;
  /** Errors, sorted by line. */
  issues: ConfigIssue[];
  /** Things that are legal but likely wrong, sorted by line. */
  warnings: ConfigIssue[];
}

/**
 * Turns a parsed UCI document into a TunguardConfig. Never throws for any document parseUci can produce:
 * problems come back as issues, each with the line at fault.
 */
export function interpretUci(doc: UciDocument): InterpretResult {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const sectionOf: Partial<Record<Exclude<Slot, 'allow'>, UciSection>> = {};
  const allowSections: UciSection[] = [];

  // Which section is which.
  for (const s of doc.sections) {
    if (!Object.hasOwn(SECTION_KINDS, s.type)) {
      const hint = suggest(s.type, SECTION_TYPES) || ` (known: ${SECTION_TYPES.join(', ')})`;
      issues.push(issueAt(s.line, `unknown section type '${s.type}'${hint}`));
      continue;
    }
    const kind = SECTION_KINDS[s.type];
    if (s.name === undefined ? !kind.anonymous : kind.names.length > 0 && !kind.names.includes(s.name)) {
      const names = kind.names.map((n) => `'${n}'`).join(' or ');
      const what = s.name === undefined ? 'needs a name' : `cannot be named '${s.name}'`;
      const hint = s.name === undefined ? '' : suggest(s.name, kind.names);
      issues.push(issueAt(s.line, `config ${s.type} ${what}: expected ${names}${hint}`));
      continue;
    }
    const slot = slotOf(s.type, s.name);
    if (slot === 'allow') {
      allowSections.push(s);
      continue;
    }
    const prior = sectionOf[slot];
    if (prior) {
      issues.push(issueAt(s.line, `${describeSection(s)} repeats the section at line ${prior.line}`));
      continue;
    }
    sectionOf[slot] = s;
  }

  // Each section through its schema (a missing one gets all defaults).
  const run = <T>(
    slot: Slot,
    schema: v.GenericSchema<unknown, T>,
    s: UciSection | undefined,
  ): T | undefined => {
    const input: Record<string, string | string[]> = Object.create(null);
    if (s) {
      for (const [k, o] of Object.entries(s.options)) input[k] = o.value;
      for (const [k, l] of Object.entries(s.lists)) input[k] = l.values;
    }
    const result = v.safeParse(schema, input);
    if (result.success) return result.output;
    if (!s) throw new Error(`internal: the defaults of ${slot} do not validate: ${result.issues[0].message}`);
    for (const issue of result.issues) issues.push(mapIssue(s, slot, issue));
    return undefined;
  };
  const main = run('main', MainSectionSchema, sectionOf.main);
  const syn = run('syn', SynSectionSchema, sectionOf.syn);
  const icmp = run('icmp', IcmpSectionSchema, sectionOf.icmp);
  const udp = run('udp', UdpSectionSchema, sectionOf.udp);
  const api = run('api', ApiSectionSchema, sectionOf.api);
  const detect = run('detect', DetectSectionSchema, sectionOf.detect);
  const allows = allowSections.map((s) => ({ s, out: run('allow', AllowSectionSchema, s) }));

  // Checks across fields.
  if (main) {
    const s = sectionOf.main;
    const seen = new Map<string, number>();
    main.lanDevices.forEach((dev, i) => {
      if (seen.has(dev)) {
        const b = blame(s, ['lan_device']);
        issues.push(
          issueAt(
            entryLines(s, 'lan_device', main.lanDevices.length)[i],
            `${b.prefix}'${dev}' is listed twice`,
          ),
        );
      }
      seen.set(dev, i);
    });
    if (main.lanDevices.includes(main.wanDevice)) {
      const b = blame(s, ['wan_device', 'lan_device']);
      issues.push(issueAt(b.line, `${b.prefix}'${main.wanDevice}' is both the WAN device and a LAN device`));
    }
    if (main.tunName === main.wanDevice || main.lanDevices.includes(main.tunName)) {
      const b = blame(s, ['tun_name', 'wan_device', 'lan_device']);
      issues.push(
        issueAt(b.line, `${b.prefix}'${main.tunName}' is both the TUN device and a WAN or LAN device`),
      );
    }
  }
  if (syn && syn.moderateThreshold >= syn.riskyThreshold) {
    const b = blame(sectionOf.syn, ['moderate_threshold', 'risky_threshold']);
    const reason =
      b.key === 'moderate_threshold'
        ? `${syn.moderateThreshold} must be below risky_threshold (${syn.riskyThreshold})`
        : `${syn.riskyThreshold} must be above moderate_threshold (${syn.moderateThreshold})`;
    issues.push(issueAt(b.line, `${b.prefix}${reason}`));
  }
  for (const [slot, rl] of [
    ['icmp', icmp],
    ['udp', udp],
  ] as const) {
    if (rl && rl.perSourceRate > rl.rate) {
      const b = blame(sectionOf[slot], ['per_source_rate', 'rate']);
      const reason =
        b.key === 'per_source_rate'
          ? `${rl.perSourceRate} must not exceed rate (${rl.rate})`
          : `${rl.rate} must not be below per_source_rate (${rl.perSourceRate})`;
      issues.push(issueAt(b.line, `${b.prefix}${reason}`));
    }
  }
  if (syn?.proxyOutbound) {
    // Accepting it and doing nothing would be a silent lie: say so where the option is.
    const b = blame(sectionOf.syn, ['proxy_outbound']);
    issues.push(
      issueAt(
        b.line,
        `${b.prefix}'1' is not supported yet: connections the LAN opens are counted (synproxy_outbound_syn), not proxied`,
      ),
    );
  }
  if (udp) {
    const s = sectionOf.udp;
    const lines = entryLines(s, 'exempt_port', udp.exemptPorts.length);
    udp.exemptPorts.forEach((p, i) => {
      if (udp.exemptPorts.indexOf(p) !== i)
        warnings.push(issueAt(lines[i], `exempt_port ${p} is listed twice`));
    });
  }
  if (api) {
    const s = sectionOf.api;
    const lines = entryLines(s, 'listen', api.listen.length);
    const seen = new Set<string>();
    api.listen.forEach((l, i) => {
      const addr = formatListen(l);
      if (seen.has(addr))
        issues.push(issueAt(lines[i], `${blame(s, ['listen']).prefix}'${addr}' is listed twice`));
      seen.add(addr);
      if (isWildcard(l.host)) {
        warnings.push(
          issueAt(
            lines[i],
            `the API listens on every address (${addr}), the WAN side included; ` +
              'listen on a LAN address or loopback instead',
          ),
        );
      }
    });
  }

  if (detect) {
    const s = sectionOf.detect;
    const lines = entryLines(s, 'protected_host', detect.protectedHosts.length);
    detect.protectedHosts.forEach((h, i) => {
      if (detect.protectedHosts.indexOf(h) !== i)
        warnings.push(issueAt(lines[i], `protected_host '${h}' is listed twice`));
    });
    if (detect.enabled && detect.protectedHosts.length === 0 && !(detect.scan && detect.scanLan)) {
      const b = blame(s, ['enabled']);
      warnings.push(
        issueAt(
          b.line,
          "detection is enabled but has nothing to check: add list protected_host, or scan_lan '1'",
        ),
      );
    }
    if (detect.scanLan && !detect.scan) {
      const b = blame(s, ['scan_lan', 'scan']);
      warnings.push(issueAt(b.line, "scan_lan '1' has no effect while scan is '0'"));
    }
  }

  // The allowlist: main's allow_prefix, then each allow section, without duplicates.
  const allow: CidrPrefix[] = [];
  const allowSeen = new Map<string, number>();
  const addPrefixes = (prefixes: CidrPrefix[], s: UciSection | undefined, key: string) => {
    const lines = entryLines(s, key, prefixes.length);
    prefixes.forEach((p, i) => {
      const first = allowSeen.get(p.cidr);
      if (first !== undefined) {
        warnings.push(issueAt(lines[i], `allowed prefix ${p.cidr} repeats line ${first}`));
        return;
      }
      if (p.bits === 0) {
        warnings.push(
          issueAt(lines[i], `allowed prefix ${p.cidr} exempts every IPv${p.family} source from the defenses`),
        );
      }
      allowSeen.set(p.cidr, lines[i]);
      allow.push(p);
    });
  };
  if (main) addPrefixes(main.allowPrefixes, sectionOf.main, 'allow_prefix');
  for (const { s, out } of allows) {
    if (!out) continue;
    if (out.prefixes.length === 0) {
      issues.push(issueAt(s.line, `${describeSection(s)} has no prefix (add: list prefix '192.0.2.0/24')`));
      continue;
    }
    addPrefixes(out.prefixes, s, 'prefix');
  }

  const byLine = (a: ConfigIssue, b: ConfigIssue) => a.line - b.line;
  issues.sort(byLine);
  warnings.sort(byLine);
  if (issues.length > 0 || !main || !syn || !icmp || !udp || !api || !detect)
    return { config: undefined, issues, warnings };
  const { allowPrefixes: _, ...mainConfig } = main;
  return {
    config: { main: mainConfig, defense: { syn }, ratelimit: { icmp, udp }, allow, api, detect },
    issues,
    warnings,
  };
}
