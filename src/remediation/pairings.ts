// Agent pairings started by code but not yet confirmed, kept in the durable store with their expiry so
// a daemon restart between "pair" and "confirm" loses nothing; expired ones are dropped.

import type { Database } from 'lmdb';
import type { DurableStore } from '../state/durable.js';

export interface PendingPairing {
  id: string;
  address: string;
  port: number;
  /** What the agent named itself and the key it offered (pinned once the pairing is confirmed). */
  hostId: string;
  agentKey: string;
  /** The code both sides showed ("12345-67890"). */
  code: string;
  routerName: string;
  /** The inventory host the admin named for the agent (else one is bound when the pairing is confirmed). */
  host?: string;
  startedAt: number;
  expiresAt: number;
}

/** How long a started pairing waits for the admin's confirmation. */
export const PAIRING_TTL_MS = 10 * 60_000;

export class PairingStore {
  private readonly db: Database<PendingPairing, string>;

  constructor(
    store: DurableStore,
    private readonly now: () => number = Date.now,
  ) {
    this.db = store.db<PendingPairing>('pairings');
  }

  async add(p: PendingPairing): Promise<void> {
    await this.db.put(p.id, p);
  }

  /** A pairing that has not expired (an expired one reads as absent). */
  get(id: string): PendingPairing | undefined {
    const p = this.db.get(id);
    return p && p.expiresAt > this.now() ? p : undefined;
  }

  /** Pairings still waiting, oldest first. */
  list(): PendingPairing[] {
    const now = this.now();
    return [...this.db.getRange()]
      .map((e) => e.value)
      .filter((p) => p.expiresAt > now)
      .sort((a, b) => a.startedAt - b.startedAt);
  }

  async remove(id: string): Promise<boolean> {
    return this.db.remove(id);
  }

  /** Deletes expired pairings; returns their ids. */
  async sweep(): Promise<string[]> {
    const now = this.now();
    const gone = [...this.db.getRange()].filter((e) => e.value.expiresAt <= now).map((e) => e.key);
    if (gone.length > 0)
      await this.db.transaction(() => {
        for (const id of gone) this.db.remove(id);
      });
    return gone;
  }
}
