// What the API answers, as valibot schemas: the types the daemon and the CLI use are inferred from them
// (deps.ts, config-status.ts) and the served OpenAPI document is generated from them (openapi.ts), so a
// field is spelled once. These schemas describe answers; nothing parses answers with them.

import * as v from 'valibot';
import type { ConfigIssue as LoadedConfigIssue, TunguardConfig } from '../config/index.js';
import { ConfigStatus, ReloadRecord } from './config-status.js';
import { documented, documentedAs, documentedMore, Int, Time } from './schema-parts.js';

export { Int, Time };

/** The risk tiers of DESIGN.md section 1.2. */
export const TIERS = ['normal', 'moderate', 'risky'] as const;
export const Tier = v.picklist(TIERS);

/** States a proxied connection is listed in (ConnState's names, src/defense/conntable.ts; a test holds them equal). */
export const CONNECTION_STATES = ['syn-sent', 'established', 'fin-wait', 'closed'] as const;

const Family = v.pipe(v.picklist([4, 6]), documentedMore<4 | 6>({ type: 'integer' }));
const Counts = v.record(v.string(), v.number());
const Strings = v.array(v.string());

/** What every list answer carries beside its items (src/api/util.ts listAnswer). */
export const PAGING = {
  total: v.pipe(Int, v.description('items in all')),
  offset: Int,
  limit: v.nullable(v.pipe(Int, v.description('at most this many from offset; null: not cut'))),
};

export const ErrorAnswer = v.object({
  error: v.pipe(
    v.string(),
    v.description('machine-readable code: bad_request, unauthorized, not_found, ...'),
  ),
  detail: v.pipe(v.string(), v.description('what is wrong, for a human')),
  issues: v.optional(
    v.array(v.object({ path: v.optional(v.string()), line: v.optional(Int), message: v.string() })),
  ),
});

/** fw4's flow offloading as it concerns the SYN proxy (src/netcfg/offload-guard.ts, ct-helper.ts, flowtables.ts). */
export const FlowOffload = v.object({
  /** Flowtables with `flags offload` (fw4's flow_offloading_hw), as "inet fw4 ft". */
  hardwareFlowtables: v.pipe(
    Strings,
    v.description('flowtables that offload to hardware (flags offload), as "family table name"'),
  ),
  /** New proxied IPv6 connections are kept out of every flowtable (the conntrack helper; without it a ct mark, src/netcfg/offload-guard.ts). The guard is in the police's table: false whenever `police.installed` is (read from the same place, in the same snapshot). */
  ipv6Guarded: v.boolean(),
  /** New proxied IPv4 connections are kept out of every flowtable (the conntrack helper: needs the kernel's nfnetlink_cthelper). False whenever `police.installed` is. */
  ipv4Guarded: v.boolean(),
  /** Set while a hardware flowtable can take proxied connections of a family not kept out past the proxy. */
  warning: v.optional(v.string()),
});

/** The SYN police's nft table (src/netcfg/syn-police.ts), which also holds the kernel limits, the router-local chains, the fast path's notrack sets and the offload guard. */
export const Police = v.object({
  /** The table is in place now; false while nft is gone and the table is being built again. */
  installed: v.boolean(),
  /** Times nft died under the daemon and took the table with it. */
  lost: Int,
  /** Times the table was built again after that. */
  rebuilt: Int,
  /** While not installed: why (nft's exit, or the last failed rebuild). */
  reason: v.optional(v.string()),
});

/** `GET /api/v1/status`. Nullable fields are null while nothing measures them, with a note saying why. */
export const Status = v.object({
  /** The current risk tier; null until the defense stage reports one (never guessed). */
  tier: v.nullable(Tier),
  /** Unfinished (half-open) handshakes the defense stage counts now; null until it reports them. */
  halfOpen: v.nullable(Int),
  /** Dataplane counters summed over the workers (monotonic). */
  counters: Counts,
  /** The counters that are drop reasons (malformed_* and every stage's reasons), name → count. */
  drops: Counts,
  /** Per-worker counters, in worker order. */
  perWorker: v.array(Counts),
  uptimeSeconds: v.number(),
  version: v.string(),
  /** When the dataplane started. */
  startedAt: Time,
  /** Why a null field is null, keyed by field name ("tier", "halfOpen"). */
  notes: v.optional(v.record(v.string(), v.string())),
  /** The configuration: file, checksum, what is in force, the last reload, pending restarts. */
  config: v.optional(ConfigStatus),
  /** Flow offloading and the proxied connections; absent when nothing is proxied. */
  flowOffload: v.optional(FlowOffload),
  /** The SYN police's nft table; absent when the daemon runs without one (no nft, or nothing needs it). */
  police: v.optional(Police),
  /**
   * Paired agents, and how many of them the last contact (a dispatch, or the agent_check ping) did not
   * reach (src/remediation/reach.ts); absent when the remediation service is off.
   */
  agents: v.optional(
    v.pipe(
      v.object({ paired: Int, unreachable: Int }),
      v.description(
        'paired agents, and how many the last contact (a dispatch or the agent_check ping) did not reach; absent when the remediation service is off',
      ),
    ),
  ),
});

/** One change of tier. */
export const TierChange = v.object({
  at: Time,
  from: v.nullable(Tier),
  to: Tier,
  /** New SYNs in the sliding window when the tier changed. */
  synsInWindow: Int,
});

const tierHistory = {
  current: v.nullable(Tier),
  /** Thresholds in force (from the configuration). */
  thresholds: v.object({ windowSeconds: Int, moderate: Int, risky: Int }),
  /** Newest first. */
  items: v.array(TierChange),
};

/** What the daemon keeps of the tier changes (`total`: changes kept; `items` the newest `limit`). */
export const TierHistory = v.object({
  ...tierHistory,
  total: v.optional(Int),
  note: v.optional(v.string()),
});

/** `GET /tiers`. */
export const Tiers = v.object({ ...tierHistory, ...PAGING, note: v.optional(v.string()) });

/** A proxied connection: `src` is the side that opened it (the client), `dst` the host it reached. */
export const Connection = v.object({
  id: v.string(),
  family: Family,
  src: v.string(),
  sport: Int,
  dst: v.string(),
  dport: Int,
  // Typed as text: a state the API does not know yet is named state-<n> rather than dropped.
  state: v.pipe(v.string(), documented<string>({ type: 'string', enum: [...CONNECTION_STATES] })),
  /** inbound: opened from outside toward a LAN host; outbound: opened by a LAN host. */
  direction: v.picklist(['inbound', 'outbound']),
  path: v.pipe(
    v.picklist(['kernel', 'proxy']),
    v.description(
      "where its packets are translated now: 'kernel' (handed over, they no longer cross the TUN) or 'proxy' (the daemon: handshake, teardown, before the LAN host's first bytes, or the kernel's map was full)",
    ),
  ),
  /** When the control plane first heard of it, and its last state change. */
  firstSeenAt: Time,
  updatedAt: Time,
});

/** `GET /connections`: one page (`total`: matching items in all pages). */
export const ConnectionPage = v.object({
  items: v.array(Connection),
  total: Int,
  offset: Int,
  limit: Int,
  note: v.optional(v.string()),
});

/** A source marked aggressive (its SYNs are dropped until `expiresAt`). */
export const Attacker = v.object({
  address: v.string(),
  family: Family,
  reason: v.string(),
  /** Unfinished handshakes that got it marked. */
  unfinished: v.nullable(Int),
  markedAt: Time,
  expiresAt: Time,
  /** How many times it was marked since the daemon started. */
  marks: Int,
});

/** What the daemon keeps of the marks. */
export const AttackerList = v.object({
  items: v.array(Attacker),
  total: Int,
  note: v.optional(v.string()),
});

/** `GET /attackers`. */
export const Attackers = v.object({ items: v.array(Attacker), ...PAGING, note: v.optional(v.string()) });

export const ClearResult = v.object({
  /** Marks removed from the API's view. */
  cleared: Int,
  /** Whether the dataplane was told (false when nothing was cleared). */
  dataplaneNotified: v.boolean(),
  note: v.optional(v.string()),
});

/** One token bucket as configured, and what it dropped. */
export const Bucket = v.object({
  enabled: v.boolean(),
  rate: Int,
  burst: Int,
  perSourceRate: Int,
  perSourceBurst: Int,
  /** Packets of this protocol per second through the dataplane (last second). */
  packetsPerSecond: v.number(),
  /** Drops by counter name; empty while no rate-limit stage runs. */
  dropped: Counts,
});

export const UdpBucket = v.object({ ...Bucket.entries, exemptPorts: v.array(Int) });

export const RateLimit = v.object({
  /** Whether a rate-limit stage runs in the dataplane (its drop counters exist). */
  enforced: v.boolean(),
  icmp: Bucket,
  udp: UdpBucket,
  note: v.optional(v.string()),
});

/** A problem of a configuration text, on its line (src/config/errors.ts; a type check holds them equal). */
export const ConfigIssue = v.object({ line: Int, column: v.optional(Int), message: v.string() });

/** The parsed configuration (src/config/schema.ts): documented as an object, not field by field. */
const ParsedConfig = documentedAs<TunguardConfig>({
  type: 'object',
  description: 'the parsed TunguardConfig (src/config/schema.ts)',
});

const NotApplied = v.array(v.object({ part: v.string(), reason: v.string() }));

/** `GET /api/v1/config`. */
export const ConfigView = v.object({
  /** The file the configuration lives in; null when the daemon runs on built-in defaults. */
  path: v.nullable(v.string()),
  /** Whether writes reach a file (false: kept in memory only, lost at restart). */
  persisted: v.boolean(),
  /** Opaque version of the text; send it back as If-Match to avoid lost updates. */
  etag: v.string(),
  uci: v.string(),
  config: ParsedConfig,
  warnings: v.array(ConfigIssue),
  /** Settings changed since start that only a restart applies ("main.queues"). */
  pendingRestart: Strings,
});

/** What happened to a new configuration. */
export const ConfigApply = v.object({
  view: ConfigView,
  /** Parts applied at once ("api.listen", "allow", ...). */
  applied: Strings,
  /** Parts that need a restart. */
  pendingRestart: Strings,
  /** Parts stored but not (yet) applied, with the reason. */
  notApplied: NotApplied,
});

export const ConfigCheck = v.object({
  valid: v.boolean(),
  issues: v.array(ConfigIssue),
  warnings: v.array(ConfigIssue),
});

export const AllowEntry = v.object({
  cidr: v.string(),
  family: Family,
  /** Where it is configured: 'main' (allow_prefix) or the allow section's name ('@allow[0]' if anonymous). */
  section: v.string(),
  comment: v.string(),
});

/** `GET /allowlist`. */
export const AllowList = v.object({ items: v.array(AllowEntry), ...PAGING, persisted: v.boolean() });

export const AllowChange = v.object({
  entry: AllowEntry,
  /** False when the prefix was already there (add). */
  changed: v.boolean(),
  persisted: v.boolean(),
});

export const Health = v.object({ ok: v.boolean() });

/** The document's component schemas of the core API, by name (the generator refers to them by $ref). */
export const CORE_COMPONENTS = {
  Error: ErrorAnswer,
  Time,
  Tier,
  Status,
  ReloadRecord,
  ConfigStatus,
  TierChange,
  Tiers,
  Connection,
  ConnectionPage,
  Attacker,
  Attackers,
  ClearResult,
  Bucket,
  UdpBucket,
  RateLimit,
  ConfigIssue,
  ConfigView,
  ConfigApply,
  ConfigCheck,
  AllowEntry,
  AllowList,
  AllowChange,
};

/** Fails to compile when two types differ (the schema and a type declared elsewhere). */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _issueIsTheConfigs: Same<v.InferOutput<typeof ConfigIssue>, LoadedConfigIssue> = true;
void _issueIsTheConfigs;
