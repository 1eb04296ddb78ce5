// The control plane's memory of what the dataplane reported: tier history, attacker marks, gauges. Fed
// only by dataplane events (events.ts), bounded in size, and honest: nothing is known until reported.

import type { CidrPrefix } from '../config/index.js';
import { formatAddress, parseAddress } from '../config/net.js';
import type { AttackerRecord, ConnectionQuery, ConnectionRecord, Page, Tier, TierChange } from './deps.js';
import { TIERS } from './deps.js';
import type { ConnSyncRecord, ControlEvent, DataplaneEvent } from './events.js';

const rank = (t: Tier) => TIERS.indexOf(t);

/** Tier changes, newest last, at most `limit` kept. */
export class TierHistory {
  private readonly changes: TierChange[] = [];
  /** The latest tier of each worker. */
  private readonly perWorker = new Map<number, Tier>();
  private currentTier: Tier | null = null;
  /** When the first report arrived (null: never). */
  reportedAt: number | null = null;

  constructor(private readonly limit = 1000) {}

  get current(): Tier | null {
    return this.currentTier;
  }

  /** Applies a tier report; returns the change when the overall tier moved. */
  report(tier: Tier, synsInWindow: number, at: number, worker = 0): TierChange | undefined {
    this.perWorker.set(worker, tier);
    this.reportedAt ??= at;
    let top: Tier = 'normal';
    for (const t of this.perWorker.values()) if (rank(t) > rank(top)) top = t;
    if (top === this.currentTier) return undefined;
    const change: TierChange = { at, from: this.currentTier, to: top, synsInWindow };
    this.currentTier = top;
    this.changes.push(change);
    if (this.changes.length > this.limit) this.changes.splice(0, this.changes.length - this.limit);
    return change;
  }

  /** Changes kept (at most the bound given at construction). */
  get count(): number {
    return this.changes.length;
  }

  /** The newest `limit` changes, newest first. */
  recent(limit: number): TierChange[] {
    return this.changes.slice(-limit).reverse();
  }
}

/** Sources marked aggressive, keyed by address; expired marks are dropped when read. */
export class AttackerBook {
  private readonly marks = new Map<string, AttackerRecord>();
  private readonly markCount = new Map<string, number>();

  constructor(
    private readonly limit = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  mark(address: string, reason: string, holdSeconds: number, unfinished: number | null, at: number) {
    const marks = (this.markCount.get(address) ?? 0) + 1;
    this.markCount.set(address, marks);
    const rec: AttackerRecord = {
      address,
      family: address.includes(':') ? 6 : 4,
      reason,
      unfinished,
      markedAt: at,
      expiresAt: Math.round(at + holdSeconds * 1000),
      marks,
    };
    this.marks.delete(address);
    this.marks.set(address, rec);
    // Bounded: the oldest marks go first (a Map iterates in insertion order).
    while (this.marks.size > this.limit) {
      const oldest = this.marks.keys().next().value as string;
      this.marks.delete(oldest);
    }
    if (this.markCount.size > this.limit * 2) this.markCount.clear();
    return rec;
  }

  unmark(address: string): boolean {
    return this.marks.delete(address);
  }

  clear(): number {
    const n = this.marks.size;
    this.marks.clear();
    return n;
  }

  has(address: string): boolean {
    this.expire();
    return this.marks.has(address);
  }

  private expire(): void {
    const now = this.now();
    for (const [a, r] of this.marks) if (r.expiresAt <= now) this.marks.delete(a);
  }

  /**
   * Active marks, most unfinished handshakes (then newest) first. A few of many (status.json's top
   * ten, every second, of up to `limit` marks under a spoofed flood) are picked in one pass, not
   * by sorting them all.
   */
  list(limit: number): { items: AttackerRecord[]; total: number } {
    this.expire();
    const total = this.marks.size;
    if (limit * 8 >= total) return { items: [...this.marks.values()].sort(byRank).slice(0, limit), total };
    // The best `limit` so far, in order; ties keep the book's order, as the (stable) sort does.
    const top: AttackerRecord[] = [];
    for (const r of this.marks.values()) {
      if (top.length === limit && byRank(r, top[limit - 1]) >= 0) continue;
      let i = top.length;
      while (i > 0 && byRank(r, top[i - 1]) < 0) i--;
      top.splice(i, 0, r);
      if (top.length > limit) top.pop();
    }
    return { items: top, total };
  }
}

/** The order of GET /attackers: most unfinished handshakes, then newest, first. */
function byRank(a: AttackerRecord, b: AttackerRecord): number {
  return (b.unfinished ?? 0) - (a.unfinished ?? 0) || b.markedAt - a.markedAt;
}

/** The latest gauges of each worker, summed. */
export class Gauges {
  private readonly halfOpenByWorker = new Map<number, number>();

  report(halfOpen: number, worker = 0): void {
    this.halfOpenByWorker.set(worker, halfOpen);
  }

  /** Sum over workers; null until any worker reported. */
  get halfOpen(): number | null {
    if (this.halfOpenByWorker.size === 0) return null;
    let n = 0;
    for (const x of this.halfOpenByWorker.values()) n += x;
    return n;
  }
}

/** Whether `bytes` lies in `prefix` (same family). */
export function inPrefix(bytes: Uint8Array, prefix: CidrPrefix): boolean {
  if ((bytes.length === 4 ? 4 : 6) !== prefix.family) return false;
  const net = parseAddress(prefix.address).bytes;
  let bits = prefix.bits;
  for (let i = 0; i < net.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i] & mask) !== net[i]) return false;
  }
  return true;
}

interface BookEntry {
  rec: ConnectionRecord;
  src: Uint8Array;
  dst: Uint8Array;
}

export interface ConnectionBookOptions {
  /** Name of a numeric connection state (the SYN proxy's ConnState). */
  stateName: (n: number) => string;
  /** Whether an address (bytes) is on the LAN side: decides inbound/outbound (default: all are). */
  isLan?: (addr: Uint8Array) => boolean;
  /**
   * Whether the kernel translates a connection now (the daemon's map holds it): its `path`. Asked
   * for the listed page only, when it is listed (a hand-over changes nothing the proxy reports).
   */
  inKernel?: (client: Uint8Array, cPort: number, server: Uint8Array, sPort: number) => boolean;
  /** Connections kept at most (default 100,000). */
  limit?: number;
  now?: () => number;
}

/** The proxied connections, kept from the SYN proxy's conn-sync reports. Bounded; newest first. */
export class ConnectionBook {
  private readonly conns = new Map<string, BookEntry>();
  /** Whether any report ever arrived (the SYN proxy runs). */
  reported = false;

  private readonly stateName: (n: number) => string;
  private readonly isLan: (addr: Uint8Array) => boolean;
  private readonly inKernel: ConnectionBookOptions['inKernel'] & {};
  private readonly limit: number;
  private readonly now: () => number;

  constructor(o: ConnectionBookOptions) {
    this.stateName = o.stateName;
    this.isLan = o.isLan ?? (() => true);
    this.inKernel = o.inKernel ?? (() => false);
    this.limit = o.limit ?? 100_000;
    this.now = o.now ?? Date.now;
  }

  get size(): number {
    return this.conns.size;
  }

  sync(upserts: readonly ConnSyncRecord[], removes: readonly string[]): void {
    this.reported = true;
    for (const k of removes) this.conns.delete(k);
    for (const u of upserts) {
      const old = this.conns.get(u.key);
      const src = Buffer.from(u.client, 'hex');
      const dst = Buffer.from(u.server, 'hex');
      const rec: ConnectionRecord = {
        id: u.key,
        family: u.ver === 4 ? 4 : 6,
        src: formatAddress(src),
        sport: u.cPort,
        dst: formatAddress(dst),
        dport: u.sPort,
        state: this.stateName(u.state),
        direction: this.isLan(dst) ? 'inbound' : 'outbound',
        path: 'proxy', // as stored; list() says where it is now
        // Whole ms, the API's one time form (the proxy's clock gives fractions).
        firstSeenAt: old?.rec.firstSeenAt ?? Math.round(Math.min(u.updated, this.now())),
        updatedAt: Math.round(u.updated),
      };
      this.conns.delete(u.key);
      this.conns.set(u.key, { rec, src, dst });
    }
    while (this.conns.size > this.limit) this.conns.delete(this.conns.keys().next().value as string);
  }

  list(q: ConnectionQuery): Page<ConnectionRecord> {
    const match = (e: BookEntry) =>
      (q.family === undefined || e.rec.family === q.family) &&
      (q.state === undefined || e.rec.state === q.state) &&
      (q.port === undefined || e.rec.sport === q.port || e.rec.dport === q.port) &&
      (q.src === undefined || inPrefix(e.src, q.src)) &&
      (q.dst === undefined || inPrefix(e.dst, q.dst));
    const all: BookEntry[] = [];
    for (const e of this.conns.values()) if (match(e)) all.push(e);
    all.reverse(); // newest (most recently changed) first
    return {
      items: all.slice(q.offset, q.offset + q.limit).map(
        (e): ConnectionRecord => ({
          ...e.rec,
          path: this.inKernel(e.src, e.rec.sport, e.dst, e.rec.dport) ? 'kernel' : 'proxy',
        }),
      ),
      total: all.length,
      offset: q.offset,
      limit: q.limit,
    };
  }
}

/**
 * Feeds one dataplane event into the stores; returns the control event to publish, if any.
 * `now` is the arrival time used when the event has no `at`.
 */
export function applyDataplaneEvent(
  e: DataplaneEvent,
  stores: { tiers: TierHistory; attackers: AttackerBook; gauges: Gauges; connections: ConnectionBook },
  now: number,
): ControlEvent | undefined {
  const at = ('at' in e ? e.at : undefined) ?? now;
  switch (e.type) {
    case 'tier': {
      if (e.halfOpen !== undefined) stores.gauges.report(e.halfOpen, e.worker);
      const change = stores.tiers.report(e.tier, e.synsInWindow, at, e.worker);
      return change ? { type: 'tier', ...change } : undefined;
    }
    case 'attacker':
      if (e.action === 'mark') {
        const rec = stores.attackers.mark(e.address, e.reason, e.holdSeconds, e.unfinished ?? null, at);
        return { type: 'attacker', action: 'mark', at, attacker: rec };
      }
      stores.attackers.unmark(e.address);
      return { type: 'attacker', action: 'unmark', at, address: e.address, reason: e.reason ?? 'expired' };
    case 'gauges':
      stores.gauges.report(e.halfOpen, e.worker);
      return undefined;
    case 'conn-sync':
      stores.connections.sync(e.upserts, e.removes);
      return undefined;
  }
}
