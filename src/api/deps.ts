// What the API needs from the rest of the daemon. The API calls these; it never reaches into the dataplane
// or the stores itself, so the dataplane side stays free of the API (dependencies point one way).

import type { Hono } from 'hono';
import type * as v from 'valibot';
import type { CidrPrefix, ConfigIssue } from '../config/index.js';
import type { ControlEvent } from './events.js';
import type * as R from './responses.js';

/** The risk tiers of DESIGN.md section 1.2. */
export type Tier = v.InferOutput<typeof R.Tier>;

export { CONNECTION_STATES, TIERS } from './responses.js';

// The answers' types, inferred from their schemas in responses.ts (the document is generated from them).
/** `GET /api/v1/status`. Nullable fields are null while nothing measures them, with a note saying why. */
export type StatusSnapshot = v.InferOutput<typeof R.Status>;
export type TierChange = v.InferOutput<typeof R.TierChange>;
export type FlowOffloadStatus = v.InferOutput<typeof R.FlowOffload>;
export type PoliceStatus = v.InferOutput<typeof R.Police>;
export type TierHistoryView = v.InferOutput<typeof R.TierHistory>;
/** A proxied connection: `src` is the side that opened it (the client), `dst` the host it reached. */
export type ConnectionRecord = v.InferOutput<typeof R.Connection>;
/** A source marked aggressive (its SYNs are dropped until `expiresAt`). */
export type AttackerRecord = v.InferOutput<typeof R.Attacker>;
export type AttackerList = v.InferOutput<typeof R.AttackerList>;
export type ClearResult = v.InferOutput<typeof R.ClearResult>;
export type BucketStats = v.InferOutput<typeof R.Bucket>;
export type RateLimitStats = v.InferOutput<typeof R.RateLimit>;
/** `GET /api/v1/config`. */
export type ConfigView = v.InferOutput<typeof R.ConfigView>;
/** What happened to a new configuration. */
export type ConfigApplyResult = v.InferOutput<typeof R.ConfigApply>;
export type ConfigCheckResult = v.InferOutput<typeof R.ConfigCheck>;
export type AllowEntry = v.InferOutput<typeof R.AllowEntry>;
export type AllowChange = v.InferOutput<typeof R.AllowChange>;
// What the list routes answer (the kept items with the paging fields every list carries).
/** `GET /tiers`. */
export type TiersAnswer = v.InferOutput<typeof R.Tiers>;
/** `GET /connections`. */
export type ConnectionPage = v.InferOutput<typeof R.ConnectionPage>;
/** `GET /attackers`. */
export type AttackersAnswer = v.InferOutput<typeof R.Attackers>;
/** `GET /allowlist`. */
export type AllowListAnswer = v.InferOutput<typeof R.AllowList>;
/** Any error answer: `{ error, detail, issues? }`. */
export type ErrorAnswer = v.InferOutput<typeof R.ErrorAnswer>;

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
