// What the API needs from the rest of the daemon. The API calls these; it never reaches into the dataplane
// or the stores itself, so the dataplane side stays free of the API (dependencies point one way).

import type { Hono } from 'hono';
import type { CidrPrefix, ConfigIssue, TunguardConfig } from '../config/index.js';
import type { ConfigStatus } from './config-status.js';
import type { ControlEvent } from './events.js';

/** The risk tiers of DESIGN.md section 1.2. */
export type Tier = 'normal' | 'moderate' | 'risky';

export const TIERS: readonly Tier[] = ['normal', 'moderate', 'risky'];

/** States a proxied connection is listed in (ConnState's names, src/defense/conntable.ts; a test holds them equal). */
export const CONNECTION_STATES = ['syn-sent', 'established', 'fin-wait', 'closed'] as const;

/** `GET /api/v1/status`. Nullable fields are null while nothing measures them, with a note saying why. */
export interface StatusSnapshot {
  /** The current risk tier; null until the defense stage reports one (never guessed). */
  tier: Tier | null;
  /** Unfinished (half-open) handshakes the defense stage counts now; null until it reports them. */
  halfOpen: number | null;
  /** Dataplane counters summed over the workers (monotonic). */
  counters: Record<string, number>;
  /** The counters that are drop reasons (malformed_* and every stage's reasons), name → count. */
  drops: Record<string, number>;
  /** Per-worker counters, in worker order. */
  perWorker: Record<string, number>[];
  uptimeSeconds: number;
  version: string;
  /** When the dataplane started (ms since the epoch). */
  startedAt: number;
  /** Why a null field is null, keyed by field name ("tier", "halfOpen"). */
  notes?: Record<string, string>;
  /** The configuration: file, checksum, what is in force, the last reload, pending restarts. */
  config?: ConfigStatus;
}

/** One change of tier. */
export interface TierChange {
  /** Milliseconds since the epoch. */
  at: number;
  from: Tier | null;
  to: Tier;
  /** New SYNs in the sliding window when the tier changed. */
  synsInWindow: number;
}

export interface TierHistoryView {
  current: Tier | null;
  /** Thresholds in force (from the configuration). */
  thresholds: { windowSeconds: number; moderate: number; risky: number };
  /** Newest first. */
  items: TierChange[];
  /** Changes kept in all; `items` is the newest `limit` of them. */
  total?: number;
  note?: string;
}

/** A proxied connection: `src` is the side that opened it (the client), `dst` the host it reached. */
export interface ConnectionRecord {
  id: string;
  family: 4 | 6;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** 'syn-sent', 'established', 'fin-wait', 'closed' (the SYN proxy's connection states). */
  state: string;
  /** inbound: opened from outside toward a LAN host; outbound: opened by a LAN host. */
  direction: 'inbound' | 'outbound';
  /** Milliseconds since the epoch: when the control plane first heard of it, and its last state change. */
  firstSeenAt: number;
  updatedAt: number;
}

export interface ConnectionQuery {
  offset: number;
  limit: number;
  /** Filters: an address or prefix for either end, a port of either end, a state, a family. */
  src?: CidrPrefix;
  dst?: CidrPrefix;
  port?: number;
  state?: string;
  family?: 4 | 6;
}

export interface Page<T> {
  items: T[];
  /** Matching items in all pages. */
  total: number;
  offset: number;
  limit: number;
  note?: string;
}

/** A source marked aggressive (its SYNs are dropped until `expiresAt`). */
export interface AttackerRecord {
  address: string;
  family: 4 | 6;
  reason: string;
  /** Unfinished handshakes that got it marked. */
  unfinished: number | null;
  markedAt: number;
  expiresAt: number;
  /** How many times it was marked since the daemon started. */
  marks: number;
}

export interface AttackerList {
  items: AttackerRecord[];
  total: number;
  note?: string;
}

export interface ClearResult {
  /** Marks removed from the API's view. */
  cleared: number;
  /** Whether the dataplane was told (false when nothing was cleared). */
  dataplaneNotified: boolean;
  note?: string;
}

/** One token bucket as configured, and what it dropped. */
export interface BucketStats {
  enabled: boolean;
  rate: number;
  burst: number;
  perSourceRate: number;
  perSourceBurst: number;
  /** Packets of this protocol per second through the dataplane (last second). */
  packetsPerSecond: number;
  /** Drops by counter name; empty while no rate-limit stage runs. */
  dropped: Record<string, number>;
}

export interface RateLimitStats {
  /** Whether a rate-limit stage runs in the dataplane (its drop counters exist). */
  enforced: boolean;
  icmp: BucketStats;
  udp: BucketStats & { exemptPorts: number[] };
  note?: string;
}

/** `GET /api/v1/config`. */
export interface ConfigView {
  /** The file the configuration lives in; null when the daemon runs on built-in defaults. */
  path: string | null;
  /** Whether writes reach a file (false: kept in memory only, lost at restart). */
  persisted: boolean;
  /** Opaque version of the text; send it back as If-Match to avoid lost updates. */
  etag: string;
  uci: string;
  config: TunguardConfig;
  warnings: ConfigIssue[];
  /** Settings changed since start that only a restart applies ("main.queues"). */
  pendingRestart: string[];
}

/** What happened to a new configuration. */
export interface ConfigApplyResult {
  view: ConfigView;
  /** Parts applied at once ("api.listen", "allow", ...). */
  applied: string[];
  /** Parts that need a restart. */
  pendingRestart: string[];
  /** Parts stored but not (yet) applied, with the reason. */
  notApplied: { part: string; reason: string }[];
}

export interface ConfigCheckResult {
  valid: boolean;
  issues: ConfigIssue[];
  warnings: ConfigIssue[];
}

/** Thrown by config/allowlist writes; the API maps `kind` to a status code. */
export class DepsError extends Error {
  constructor(
    readonly kind: 'invalid' | 'conflict' | 'not_found' | 'precondition_failed' | 'unavailable',
    message: string,
    readonly issues: readonly ConfigIssue[] = [],
  ) {
    super(message);
    this.name = 'DepsError';
  }
}

export interface AllowEntry {
  cidr: string;
  family: 4 | 6;
  /** Where it is configured: 'main' (allow_prefix) or the allow section's name ('@allow[0]' if anonymous). */
  section: string;
  comment: string;
}

export interface AllowChange {
  entry: AllowEntry;
  /** False when the prefix was already there (add) . */
  changed: boolean;
  persisted: boolean;
}

/** Subscription to control-plane events (the dataplane's, and the daemon's own). */
export interface EventSourceDep {
  subscribe(listener: (e: ControlEvent) => void): () => void;
  /** Dataplane events that matched no documented shape (for /metrics). */
  ignored?(): number;
}

/** Everything `createApi` needs. Every method is synchronous or quick: the handlers await nothing slow. */
export interface ApiDeps {
  version: string;
  status(): StatusSnapshot;
  tiers: { history(limit: number): TierHistoryView };
  connections: { list(q: ConnectionQuery): Promise<Page<ConnectionRecord>> };
  attackers: {
    list(limit: number): AttackerList;
    /** Clears one source's mark, or every mark. */
    clear(address?: string): Promise<ClearResult>;
  };
  ratelimit: { stats(): RateLimitStats };
  config: {
    get(): ConfigView;
    check(uci: string): ConfigCheckResult;
    /** Validates, persists atomically (when there is a file), applies. Throws DepsError. */
    set(uci: string, ifMatch?: string): Promise<ConfigApplyResult>;
  };
  allowlist: {
    list(): { items: AllowEntry[]; persisted: boolean };
    add(prefix: CidrPrefix, comment: string): Promise<AllowChange>;
    /** Throws DepsError('not_found') when no section holds it. */
    remove(prefix: CidrPrefix): Promise<AllowChange>;
  };
  events: EventSourceDep;
  /** The main thread's event-loop delay over the last complete window (for /metrics). */
  eventLoopDelay?(): { windowSeconds: number; p50Ms: number; p99Ms: number; maxMs: number } | undefined;
  /** Health for `/healthz` (no secrets): ok=false makes it answer 503. */
  health(): { ok: boolean; detail?: string };
  /**
   * Mount point for route groups that arrive later (the remediation service's hosts, threats, rules,
   * dispatches): each is mounted under /api/v1/<path> behind the same auth, body limit and error handling.
   */
  extraRoutes?: {
    path: string;
    app: Hono;
    /** Body limit of this group's routes, bytes (default: the app's; at most 4 MiB). */
    bodyLimit?: number;
  }[];
}
