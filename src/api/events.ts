// Events: the shapes the dataplane emits (and the commands it may take), the control events the API
// streams, and the fan-out to Server-Sent-Events clients, where a slow client can only lose its own
// oldest events and never holds up the publisher.
// One file (about 400 lines, a tenth of it this header): an event's shape, its check and the stream
// that carries it change together, so a new event type is one edit in one place.
//
// ## What the dataplane emits (main thread: `dataplane.emit('event', e)`)
//
// The Dataplane handle (src/dataplane/dataplane.ts) re-emits what its workers post. The API takes plain
// objects with a `type`; anything else is counted (/metrics) and ignored. `at` is wall-clock ms since the
// epoch; a smaller value (a worker's performance.now()) or none is replaced by the arrival time. `worker`
// is the worker index when several workers report the same kind of thing.
//
//   { type: 'tier', tier: 'normal'|'moderate'|'risky', synsInWindow: number, halfOpen?: number,
//     at?: number, worker?: number }
//       On every change. What the SYN gate posts today ({type:'tier', at, from, to, synCount, halfOpen},
//       src/dataplane/stages/syn-gate.ts) is accepted as is: to → tier, synCount → synsInWindow. With
//       several workers the history records the highest tier of any worker.
//   { type: 'attacker', action?: 'mark', address: string, holdSeconds: number, unfinished?: number,
//     reason?: string, at?: number, worker?: number }
//       A source (or a /64 "2001:db8:1:2::/64") was marked aggressive; its SYNs are dropped for
//       holdSeconds. {type:'attacker', address, at, until, unfinished} is accepted (no action = mark;
//       until − at → holdSeconds). reason defaults to 'unfinished-handshakes'. The SYN gate sends its
//       marks as one { type: 'attackers', at, addresses, until, unfinished } of typed arrays a tick
//       (src/dataplane/attacker-batch.ts: a spoofed flood marks thousands a second), which the
//       control plane takes apart into these marks.
//   { type: 'attacker', action: 'unmark', address: string, reason?: 'expired'|'cleared', at?: number }
//   { type: 'gauges', halfOpen: number, synsInWindow?: number, connections?: number, at?: number,
//     worker?: number }
//       Levels that are not monotonic counters, about once a second. halfOpen = SYNs answered minus
//       handshakes completed in the window. With several workers the API sums the latest of each.
//   { type: 'conn-sync', upserts: ConnRecord[], removes: string[] }
//       The SYN proxy's connection changes (src/state/connstore.ts), about once a second: the API keeps
//       its connection list from them (key, ver, client/server as hex, cPort, sPort, state, updated).
//
// Counters stay in the SharedArrayBuffer (Dataplane.counters()), named by convention: `drop_*` and
// `malformed_*` are drops (shown by reason), `gauge_*` are levels, not totals (gauge_tier 0/1/2 and
// gauge_half_open give the status' tier and halfOpen: the highest tier and the sum of half-open over
// the workers), the rest are monotonic counts. The rate-limit view takes drop_icmp* and drop_udp*.
//
// ## Commands the control plane sends when the dataplane offers `command(c)` (optional; absent today)
//
//   { type: 'attackers.clear', address?: string }    clear one mark, or all
//   { type: 'allowlist.set', prefixes: string[] }    the full allowlist (CIDR strings)
//   { type: 'settings', syn: SynDefenseConfig, ratelimit: { icmp, udp } }   after a reload
//
// and when it offers `request(q)`, a promise for:
//
//   { type: 'connections', offset, limit, src?, dst?, port?, state?, family? }
//     → { items: ConnectionRecord[], total: number }
//   (without it, the connection list is the one kept from conn-sync events)

import * as v from 'valibot';
import type { ConfigStatus } from './config-status.js';
import type { AttackerRecord, Tier, TierChange } from './deps.js';

// ---------------------------------------------------------------------------------------------------
// Dataplane events

const TierSchema = v.picklist(['normal', 'moderate', 'risky']);
const Count = v.pipe(v.number(), v.integer(), v.minValue(0));
const Time = v.optional(v.pipe(v.number(), v.finite(), v.minValue(0)));
const Worker = v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255)));
const Address = v.pipe(v.string(), v.maxLength(64), v.regex(/^[0-9A-Fa-f.:]+(\/[0-9]{1,3})?$/));
const Hex = v.pipe(v.string(), v.regex(/^([0-9a-f]{8}|[0-9a-f]{32})$/));
const Port = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535));

export const ConnSyncRecordSchema = v.object({
  key: v.pipe(v.string(), v.maxLength(200)),
  ver: v.picklist([4, 6]),
  client: Hex,
  server: Hex,
  cPort: Port,
  sPort: Port,
  state: Count,
  updated: v.pipe(v.number(), v.finite()),
});

export type ConnSyncRecord = v.InferOutput<typeof ConnSyncRecordSchema>;

export const DataplaneEventSchema = v.variant('type', [
  v.object({
    type: v.literal('tier'),
    tier: TierSchema,
    synsInWindow: Count,
    halfOpen: v.optional(Count),
    at: Time,
    worker: Worker,
  }),
  v.variant('action', [
    v.object({
      type: v.literal('attacker'),
      action: v.literal('mark'),
      address: Address,
      reason: v.optional(v.pipe(v.string(), v.maxLength(64)), 'unfinished-handshakes'),
      holdSeconds: v.pipe(v.number(), v.finite(), v.minValue(0)),
      unfinished: v.optional(Count),
      at: Time,
      worker: Worker,
    }),
    v.object({
      type: v.literal('attacker'),
      action: v.literal('unmark'),
      address: Address,
      reason: v.optional(v.picklist(['expired', 'cleared'])),
      at: Time,
      worker: Worker,
    }),
  ]),
  v.object({
    type: v.literal('gauges'),
    halfOpen: Count,
    synsInWindow: v.optional(Count),
    connections: v.optional(Count),
    at: Time,
    worker: Worker,
  }),
  v.object({
    type: v.literal('conn-sync'),
    upserts: v.array(ConnSyncRecordSchema),
    removes: v.array(v.pipe(v.string(), v.maxLength(200))),
  }),
]);

export type DataplaneEvent = v.InferOutput<typeof DataplaneEventSchema>;

/** Wall-clock ms before which an `at` is taken for a monotonic clock (2001-09-09). */
const EPOCH_MS_FLOOR = 1e12;

/** Accepts the defense modules' own event objects (TierEvent, AggressiveEvent) spread into a message. */
function normalize(x: unknown, now: number): unknown {
  if (typeof x !== 'object' || x === null) return x;
  const e = { ...(x as Record<string, unknown>) };
  const at = typeof e.at === 'number' ? e.at : undefined;
  if (e.type === 'tier') {
    if (e.tier === undefined && typeof e.toName === 'string') e.tier = e.toName;
    if (e.tier === undefined && typeof e.to === 'string') e.tier = e.to;
    if (e.synsInWindow === undefined && typeof e.synCount === 'number') e.synsInWindow = e.synCount;
    for (const k of ['from', 'to', 'fromName', 'toName', 'synCount']) delete e[k];
  } else if (e.type === 'attacker' && (e.action ?? 'mark') === 'mark') {
    e.action = 'mark';
    if (e.holdSeconds === undefined && typeof e.until === 'number' && at !== undefined)
      e.holdSeconds = Math.max(0, (e.until - at) / 1000);
    delete e.until;
  }
  // The API's one time form is whole ms since the epoch: a worker's clock gives fractions.
  if (at !== undefined) e.at = at < EPOCH_MS_FLOOR ? now : Math.round(at);
  if (typeof e.holdSeconds === 'number') e.holdSeconds = Math.round(e.holdSeconds * 1000) / 1000;
  return e;
}

/** A dataplane event, or undefined for anything that is not one of the documented shapes. */
export function parseDataplaneEvent(x: unknown, now = Date.now()): DataplaneEvent | undefined {
  const r = v.safeParse(DataplaneEventSchema, normalize(x, now));
  return r.success ? r.output : undefined;
}

/** Commands to the dataplane (sent only if it offers `command`). */
export type DataplaneCommand =
  | { type: 'attackers.clear'; address?: string }
  | { type: 'allowlist.set'; prefixes: string[] }
  | { type: 'settings'; syn: unknown; ratelimit: unknown };

// ---------------------------------------------------------------------------------------------------
// Control events: what /api/v1/events streams (the SSE `event:` field is the `type`).

export type ControlEvent =
  | ({ type: 'tier' } & TierChange)
  | { type: 'attacker'; action: 'mark'; at: number; attacker: AttackerRecord }
  | { type: 'attacker'; action: 'unmark'; at: number; address: string; reason: string }
  | {
      type: 'counters';
      at: number;
      /** Seconds the rates are measured over. */
      intervalSeconds: number;
      tier: Tier | null;
      halfOpen: number | null;
      counters: Record<string, number>;
      /** Per-second deltas of every counter. */
      rates: Record<string, number>;
      drops: Record<string, number>;
      dropRates: Record<string, number>;
    }
  | { type: 'config'; at: number; applied: string[]; pendingRestart: string[]; source: 'api' | 'reload' }
  | { type: 'allowlist'; at: number; action: 'add' | 'remove'; cidr: string }
  | { type: 'attackers-cleared'; at: number; address: string | null; cleared: number }
  /** The configuration's status changed: a reload applied or refused, a change through the API. */
  | { type: 'config-status'; at: number; config: ConfigStatus };

export type ControlEventType = ControlEvent['type'];

export const CONTROL_EVENT_TYPES: readonly ControlEventType[] = [
  'tier',
  'attacker',
  'counters',
  'config',
  'allowlist',
  'attackers-cleared',
  'config-status',
];

/** A tiny synchronous bus: the daemon publishes control events, the API (and tests) subscribe. */
export class ControlBus {
  private readonly listeners = new Set<(e: ControlEvent) => void>();

  subscribe(listener: (e: ControlEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(e: ControlEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A listener's failure is its own; the others still get the event.
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// SSE fan-out

const encoder = new TextEncoder();

/** One SSE frame, encoded once for every client. */
function frame(id: number, type: string, data: unknown): Uint8Array {
  return encoder.encode(`id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
}

export interface SseHubOptions {
  /** Events a client may have waiting before its oldest are dropped. */
  queueLimit?: number;
  /** Concurrent SSE clients; more are refused (503). */
  maxClients?: number;
}

export interface SseHubStats {
  clients: number;
  published: number;
  /** Events dropped from slow clients' queues, over all clients since start. */
  dropped: number;
}

/** One connected SSE client: its own bounded queue, drained only as fast as its socket takes data. */
export class SseClient {
  private readonly queue: Uint8Array[] = [];
  private head = 0;
  private wake: (() => void) | undefined;
  /** Dropped since the client last got a `dropped` notice. */
  private droppedSinceNotice = 0;
  dropped = 0;
  closed = false;

  constructor(
    private readonly hub: SseHub,
    readonly types: ReadonlySet<string> | undefined,
    private readonly limit: number,
  ) {}

  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Called by the hub; never blocks, never grows past the limit (drops the oldest instead). */
  push(chunk: Uint8Array): number {
    let dropped = 0;
    this.queue.push(chunk);
    while (this.queue.length - this.head > this.limit) {
      this.head++;
      dropped++;
    }
    if (this.head > 1024 || (this.head > 0 && this.head * 2 > this.queue.length)) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.dropped += dropped;
    this.droppedSinceNotice += dropped;
    this.wake?.();
    return dropped;
  }

  /** The next chunk to send: everything queued, after a `dropped` notice if events were lost. */
  private take(): Uint8Array {
    const parts: Uint8Array[] = [];
    if (this.droppedSinceNotice > 0) {
      parts.push(encoder.encode(`event: dropped\ndata: {"count":${this.droppedSinceNotice}}\n\n`));
      this.droppedSinceNotice = 0;
    }
    for (let i = this.head; i < this.queue.length; i++) parts.push(this.queue[i]);
    this.queue.length = 0;
    this.head = 0;
    if (parts.length === 1) return parts[0];
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /**
   * The response body. highWaterMark 0: nothing is pulled until the HTTP layer asks (it stops asking
   * while the socket is full), so the queue above is the only buffer and stays bounded.
   */
  stream(first?: Uint8Array): ReadableStream<Uint8Array> {
    if (first) this.queue.push(first);
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          while (this.queued === 0 && this.droppedSinceNotice === 0 && !this.closed) {
            await new Promise<void>((resolve) => {
              this.wake = resolve;
            });
            this.wake = undefined;
          }
          if (this.closed && this.queued === 0) {
            controller.close();
            return;
          }
          controller.enqueue(this.take());
        },
        cancel: () => this.close(),
      },
      { highWaterMark: 0 },
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.remove(this);
    this.wake?.();
  }
}

export class SseHub {
  private readonly clients = new Set<SseClient>();
  private seq = 0;
  private publishedCount = 0;
  private droppedCount = 0;
  readonly queueLimit: number;
  readonly maxClients: number;
  /** Called with the number of clients after one comes or goes (the API runs its timers only for them). */
  onClients: (count: number) => void = () => {};

  constructor(opts: SseHubOptions = {}) {
    this.queueLimit = opts.queueLimit ?? 256;
    this.maxClients = opts.maxClients ?? 32;
  }

  /** A new client, or undefined when there are already maxClients. */
  connect(types?: ReadonlySet<string>): SseClient | undefined {
    if (this.clients.size >= this.maxClients) return undefined;
    const c = new SseClient(this, types, this.queueLimit);
    this.clients.add(c);
    this.onClients(this.clients.size);
    return c;
  }

  remove(c: SseClient): void {
    if (this.clients.delete(c)) this.onClients(this.clients.size);
  }

  /** Whether anybody listens (for `type`, when given): the publisher can skip building an event. */
  wants(type?: string): boolean {
    for (const c of this.clients) if (!type || !c.types || c.types.has(type)) return true;
    return false;
  }

  /** Queues the event for every interested client. O(clients); never waits. */
  publish(type: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const id = ++this.seq;
    let chunk: Uint8Array | undefined;
    for (const c of this.clients) {
      if (c.types && !c.types.has(type)) continue;
      chunk ??= frame(id, type, data);
      this.droppedCount += c.push(chunk);
    }
    this.publishedCount++;
  }

  /** A comment line to every client (keeps proxies and idle timers from closing the stream). */
  heartbeat(): void {
    const chunk = encoder.encode(': keep-alive\n\n');
    for (const c of this.clients) this.droppedCount += c.push(chunk);
  }

  /** An encoded frame for one client (the greeting). */
  frameFor(type: string, data: unknown): Uint8Array {
    return frame(++this.seq, type, data);
  }

  stats(): SseHubStats {
    return { clients: this.clients.size, published: this.publishedCount, dropped: this.droppedCount };
  }

  /** Each client's queue length and losses. */
  clientStats(): { queued: number; dropped: number }[] {
    return [...this.clients].map((c) => ({ queued: c.queued, dropped: c.dropped }));
  }

  /** Ends every stream (shutdown). */
  closeAll(): void {
    for (const c of [...this.clients]) c.close();
  }
}
