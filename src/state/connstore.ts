// The connection store: proxied connections (with their sequence/timestamp offsets), in an LMDB
// environment under the runtime (tmpfs) state dir, so a restarted daemon keeps translating them.
// Written behind: the dataplane reports changes about once a second and they land in one
// transaction; nothing here is on the packet path.
import { open, type RootDatabase } from 'lmdb';

/** One proxied connection as persisted (plain data: it also crosses postMessage). */
export interface ConnRecord {
  /** "ver|client|cport|server|sport", addresses as hex. */
  key: string;
  ver: number;
  client: string;
  server: string;
  cPort: number;
  sPort: number;
  state: number;
  flags: number;
  isnC: number;
  isnP: number;
  isnS: number;
  delta: number;
  tsOff: number;
  tsProxy: number;
  tsClient: number;
  wsClient: number;
  wsAdv: number;
  wsServer: number;
  mss: number;
  /** Wall-clock ms of the last state change. */
  updated: number;
}

export interface ConnSync {
  upserts: ConnRecord[];
  removes: string[];
}

export class ConnStore {
  private readonly db: RootDatabase<ConnRecord, string>;
  private pending: ConnSync = { upserts: [], removes: [] };
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** The last write handed to LMDB (a close waits for it: its callback runs after the call returns). */
  private inflight: Promise<void> = Promise.resolve();
  writes = 0;

  constructor(readonly path: string) {
    // No sync to disk: this store lives on tmpfs and only needs to outlive the process.
    this.db = open<ConnRecord, string>({ path, noSync: true, compression: false });
  }

  /** Every stored connection (start-up: handed to the dataplane). */
  all(): ConnRecord[] {
    return [...this.db.getRange().map(({ value }) => value)];
  }

  get size(): number {
    return this.db.getCount();
  }

  /** Queues a batch of changes; they are committed together within `delayMs`. */
  queue(sync: ConnSync, delayMs = 200): void {
    // A worker's last report can come in after the close at shutdown: it has nowhere to go.
    if (this.closed) return;
    this.pending.upserts.push(...sync.upserts);
    this.pending.removes.push(...sync.removes);
    this.timer ??= setTimeout(() => void this.flush(), delayMs);
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const { upserts, removes } = this.pending;
    this.pending = { upserts: [], removes: [] };
    if (upserts.length === 0 && removes.length === 0) return this.inflight;
    const write = this.inflight.then(() =>
      this.db.transaction(() => {
        for (const r of upserts) this.db.put(r.key, r);
        for (const k of removes) this.db.remove(k);
      }),
    );
    this.inflight = write.then(
      () => {
        this.writes++;
      },
      () => {},
    );
    await write;
  }

  /** Drops connections not updated since `olderThan` (wall ms): stale after a long outage. */
  async expire(olderThan: number): Promise<number> {
    let n = 0;
    await this.db.transaction(() => {
      for (const { key, value } of this.db.getRange()) {
        if (value.updated < olderThan) {
          this.db.remove(key);
          n++;
        }
      }
    });
    return n;
  }

  /** Commits what is queued and what is under way, then closes; later reports are ignored. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flush();
    await this.inflight;
    await this.db.close();
  }
}
