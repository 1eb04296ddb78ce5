// The durable store: one lmdb-js environment with sub-databases for inventory and remediation. On a
// router it lives in tmpfs and reaches flash as snapshots (./snapshot.ts); without `snapshot` it is
// written in place (tests, a host with a disk).

import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import { restoreSnapshot, Snapshotter } from './snapshot.js';

/** The store's data file in its directory. */
export const DURABLE_FILE = 'durable.mdb';

/** Sub-databases, each a key → value map (msgpack values). */
export const DURABLE_DBS = [
  'hosts',
  'threats',
  'rules',
  'dispatches',
  'audit',
  /** Paired agents (public keys, addresses). */
  'agents',
  /** Cleanup programs the router stores and sends (pinned by sha256). */
  'programs',
  /** Agent pairings started but not yet confirmed, with their expiry (they outlive a restart). */
  'pairings',
  /** Router identity and settings; holds the router's private key, so the store is 0600. */
  'meta',
  /** Hosts of a scanner import still being read; moved into `hosts` in one transaction at its end. */
  'import-staging',
] as const;
export type DurableDbName = (typeof DURABLE_DBS)[number];

export type DurableKey = string | number | Array<string | number>;

export interface DurableStore {
  readonly path: string;
  readonly env: RootDatabase;
  db<V = unknown, K extends DurableKey = string>(name: DurableDbName): Database<V, K>;
  /** Resolves when every write so far is on disk. */
  flushed(): Promise<void>;
  /** Snapshots to flash, when the store is kept in tmpfs (undefined otherwise). */
  readonly snapshots?: Snapshotter;
  close(): Promise<void>;
}

export interface DurableOptions {
  /** Upper bound of the map (the file grows as needed up to this). */
  mapSize?: number;
  /**
   * Keep the store in `dir` (tmpfs) and snapshot it to `snapshot.dir` (flash) every `intervalMs` and
   * at close; at open, restore the newest whole snapshot when `dir` has no store yet.
   */
  snapshot?: { dir: string; intervalMs: number; log: (m: string) => void };
}

/**
 * Opens (creating when needed) the durable store in directory `dir` (made 0700; the data file 0600,
 * since the router's signing key is kept in `meta`).
 */
export function openDurable(dir: string, opts: DurableOptions = {}): DurableStore {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const snap = opts.snapshot;
  const restored = snap ? restoreSnapshot(snap.dir, dir, DURABLE_FILE, snap.log) : undefined;
  const path = join(dir, DURABLE_FILE);
  const env = open({
    path,
    maxDbs: DURABLE_DBS.length + 4,
    mapSize: opts.mapSize ?? 256 * 1024 * 1024,
    compression: false,
    // Flash: batch writes into few commits, each flushed before its promise resolves.
    commitDelay: 20,
  });
  for (const f of [path, `${path}-lock`]) if (existsSync(f)) chmodSync(f, 0o600);
  const dbs = new Map<DurableDbName, Database<unknown, DurableKey>>();
  for (const name of DURABLE_DBS) dbs.set(name, env.openDB<unknown, DurableKey>({ name }));
  const snapshots = snap
    ? new Snapshotter({
        env,
        snapshotDir: snap.dir,
        intervalMs: snap.intervalMs,
        log: snap.log,
        ...(restored?.from === 'legacy'
          ? { legacyFiles: [join(snap.dir, DURABLE_FILE), join(snap.dir, `${DURABLE_FILE}-lock`)] }
          : {}),
      })
    : undefined;
  return {
    path,
    env,
    snapshots,
    db<V, K extends DurableKey>(name: DurableDbName) {
      const d = dbs.get(name);
      if (!d) throw new Error(`unknown durable database "${name}"`);
      return d as unknown as Database<V, K>;
    },
    async flushed() {
      await env.flushed;
    },
    async close() {
      await env.flushed;
      await snapshots?.stop();
      await env.close();
    },
  };
}
