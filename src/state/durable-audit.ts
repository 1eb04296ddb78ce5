// The audit log in the durable store: every remediation step, keyed by [time, sequence]; a bounded
// ring (the oldest entries go once it holds maxEntries and an eighth more).

import type { DurableStore } from './durable.js';

export interface AuditEntry {
  at: number;
  /** What happened, e.g. 'rule.matched', 'dispatch.queued', 'dispatch.sent', 'agent.result'. */
  step: string;
  hostId?: string;
  dispatchId?: string;
  ruleId?: string;
  /** Free detail; never a key or token. */
  detail?: Record<string, unknown>;
}

type AuditKey = [number, number];

/** Entries kept by default: months of a travel router's remediation, a few MB. */
export const DEFAULT_AUDIT_ENTRIES = 20_000;

export class AuditLog {
  private seq = 0;
  private count: number | undefined;
  constructor(
    private readonly store: DurableStore,
    private readonly now: () => number = Date.now,
    readonly maxEntries = DEFAULT_AUDIT_ENTRIES,
  ) {}

  /** Appends one entry (ordered by time, then by call order within a millisecond). */
  async append(e: Omit<AuditEntry, 'at'>): Promise<AuditEntry> {
    const entry: AuditEntry = { at: this.now(), ...e };
    this.seq = (this.seq + 1) % 1_000_000_000;
    const db = this.store.db<AuditEntry, AuditKey>('audit');
    this.count ??= db.getCount();
    await db.put([entry.at, this.seq], entry);
    this.count++;
    if (this.count > this.maxEntries + Math.ceil(this.maxEntries / 8)) {
      const old = [...db.getKeys({ limit: this.count - this.maxEntries })];
      await db.transaction(() => {
        for (const k of old) db.remove(k);
      });
      this.count -= old.length;
    }
    return entry;
  }

  get size(): number {
    return this.store.db<AuditEntry, AuditKey>('audit').getCount();
  }

  /**
   * A page: the entries (of one dispatch or host) after the `offset` newest, at most `limit`, in time
   * order, and how many match in all. The log is bounded (maxEntries and an eighth), so is the count.
   */
  page(filter: { dispatchId?: string; hostId?: string; offset?: number; limit?: number } = {}): {
    items: AuditEntry[];
    total: number;
  } {
    const items: AuditEntry[] = [];
    const db = this.store.db<AuditEntry, AuditKey>('audit');
    const from = filter.offset ?? 0;
    const upTo = filter.limit === undefined ? Number.POSITIVE_INFINITY : from + filter.limit;
    let total = 0;
    if (!filter.dispatchId && !filter.hostId) {
      total = db.getCount();
      for (const { value } of db.getRange({ reverse: true, offset: from, limit: upTo - from }))
        items.push(value);
      return { items: items.reverse(), total };
    }
    for (const { value } of db.getRange({ reverse: true })) {
      if (filter.dispatchId && value.dispatchId !== filter.dispatchId) continue;
      if (filter.hostId && value.hostId !== filter.hostId) continue;
      if (total >= from && total < upTo) items.push(value);
      total++;
    }
    return { items: items.reverse(), total };
  }

  /** Entries in time order, optionally only those of one dispatch or host, newest `limit`. */
  list(filter: { dispatchId?: string; hostId?: string; limit?: number } = {}): AuditEntry[] {
    const out: AuditEntry[] = [];
    const db = this.store.db<AuditEntry, AuditKey>('audit');
    for (const { value } of db.getRange({ reverse: true })) {
      if (filter.dispatchId && value.dispatchId !== filter.dispatchId) continue;
      if (filter.hostId && value.hostId !== filter.hostId) continue;
      out.push(value);
      if (filter.limit && out.length >= filter.limit) break;
    }
    return out.reverse();
  }
}
