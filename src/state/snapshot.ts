// Flash-safe durable state: the live LMDB store sits in tmpfs (RAM), and a compacted copy of it goes
// to flash (durable_dir) every commit_interval and at stop, the way nlbwmon keeps its database. Flash
// then sees one sequential file write per interval instead of LMDB's page writes on every commit, and
// a NOR router's jffs2 overlay, which refuses the shared writable mmap LMDB needs, never holds a live
// store.
//
// A snapshot file is LMDB's compacted copy (mdb_env_copy2 with MDB_CP_COMPACT, lmdb-js's backup())
// followed by a trailer that proves it whole: magic "TGSNAP01", the copy's length (u64 BE) and its
// sha256. Two generations are kept, durable.snap and durable.snap.prev: a snapshot is written beside
// them and renamed into place, so a crash at any point leaves at least one complete snapshot. At start
// a snapshot whose trailer does not match (truncated, damaged) is refused with a log line saying why,
// moved aside to durable.snap.bad, and the previous one is restored instead; with none usable the
// store starts empty. The daemon never stops over a snapshot.

import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { RootDatabase } from 'lmdb';

export const SNAPSHOT_FILE = 'durable.snap';
export const PREVIOUS_FILE = 'durable.snap.prev';
export const REFUSED_FILE = 'durable.snap.bad';
const MAGIC = Buffer.from('TGSNAP01', 'latin1');
export const TRAILER_BYTES = MAGIC.length + 8 + 32;
/** A snapshot larger than this is refused unread (the live store's map is 256 MB). */
const MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024 + TRAILER_BYTES;

const NOFOLLOW = constants.O_NOFOLLOW;

/** LMDB's last committed transaction (lmdb-js types getStats() as {}). */
function lastTxn(env: RootDatabase): number {
  return (env.getStats() as { lastTxnId: number }).lastTxnId;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The sha256 of the first `length` bytes of an open file. */
function hashOf(fd: number, length: number): Buffer {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 16);
  for (let pos = 0; pos < length; ) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, length - pos), pos);
    if (n === 0) throw new Error(`ended at byte ${pos} of ${length}`);
    h.update(buf.subarray(0, n));
    pos += n;
  }
  return h.digest();
}

/**
 * Why the snapshot at `file` cannot be restored (undefined: it is whole). Checks the trailer only;
 * the file is opened without following a symlink.
 */
export function checkSnapshot(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | NOFOLLOW);
  } catch (err) {
    return (err as Error).message;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return 'not a regular file';
    if (st.size < TRAILER_BYTES) return `${st.size} bytes: shorter than its trailer (truncated)`;
    if (st.size > MAX_SNAPSHOT_BYTES) return `${st.size} bytes: larger than any store this daemon writes`;
    const trailer = Buffer.alloc(TRAILER_BYTES);
    readSync(fd, trailer, 0, TRAILER_BYTES, st.size - TRAILER_BYTES);
    if (!trailer.subarray(0, MAGIC.length).equals(MAGIC))
      return 'no snapshot trailer at its end (truncated or not a snapshot)';
    const length = Number(trailer.readBigUInt64BE(MAGIC.length));
    if (length !== st.size - TRAILER_BYTES)
      return `its trailer names ${length} bytes of data, the file has ${st.size - TRAILER_BYTES}`;
    if (!hashOf(fd, length).equals(trailer.subarray(MAGIC.length + 8))) return 'sha256 mismatch (damaged)';
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Copies a checked snapshot's data (without the trailer) to `to`, a new file (0600). */
function unpack(file: string, to: string): number {
  const src = openSync(file, constants.O_RDONLY | NOFOLLOW);
  try {
    const length = fstatSync(src).size - TRAILER_BYTES;
    const dst = openSync(to, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
    try {
      const buf = Buffer.allocUnsafe(1 << 16);
      for (let pos = 0; pos < length; ) {
        const n = readSync(src, buf, 0, Math.min(buf.length, length - pos), pos);
        if (n === 0) throw new Error(`${file} ended at byte ${pos}`);
        writeSync(dst, buf, 0, n);
        pos += n;
      }
    } finally {
      closeSync(dst);
    }
    return length;
  } finally {
    closeSync(src);
  }
}

export interface RestoreResult {
  /** Which snapshot the live store came from; 'live' when tmpfs still held one; 'none': empty. */
  from: 'live' | 'current' | 'previous' | 'legacy' | 'none';
  bytes: number;
}

/**
 * Puts the newest whole snapshot of `snapshotDir` into `liveDir` as the live store's data file
 * (`dataFile`), unless `liveDir` already has one: a restart without a reboot finds tmpfs still holding
 * a store newer than any snapshot.
 */
export function restoreSnapshot(
  snapshotDir: string,
  liveDir: string,
  dataFile: string,
  log: (m: string) => void,
): RestoreResult {
  mkdirSync(liveDir, { recursive: true, mode: 0o700 });
  const live = join(liveDir, dataFile);
  if (existsSync(live)) return { from: 'live', bytes: 0 };
  const current = join(snapshotDir, SNAPSHOT_FILE);
  const previous = join(snapshotDir, PREVIOUS_FILE);
  for (const [file, from] of [
    [current, 'current'],
    [previous, 'previous'],
  ] as const) {
    if (!existsSync(file)) continue;
    const why = checkSnapshot(file);
    if (why === undefined) {
      const bytes = unpack(file, live);
      log(`durable: restored ${bytes} bytes from ${file}`);
      return { from, bytes };
    }
    if (file === current) {
      // Moved aside (not deleted: someone may want to look at it), so the next snapshot does not
      // rotate it over the good previous one.
      const aside = join(snapshotDir, REFUSED_FILE);
      rmSync(aside, { force: true });
      renameSync(file, aside);
      log(
        `durable: snapshot ${file} refused: ${why}; moved to ${aside}; ${existsSync(previous) ? `trying the previous one, ${previous}` : 'no previous snapshot'}`,
      );
    } else {
      log(`durable: previous snapshot ${file} refused too: ${why}; kept where it is`);
    }
  }
  // An older version kept the live store on flash itself: move its contents to tmpfs; the first
  // snapshot then replaces it (Snapshotter removes it once that snapshot is on flash).
  const legacy = join(snapshotDir, dataFile);
  if (existsSync(legacy)) {
    copyFileSync(legacy, live, constants.COPYFILE_EXCL);
    chmodSync(live, 0o600);
    const bytes = statSync(live).size;
    log(
      `durable: took ${bytes} bytes from ${legacy} (an older version's store on flash); it goes once the first snapshot is written`,
    );
    return { from: 'legacy', bytes };
  }
  log(`durable: no usable snapshot in ${snapshotDir}: starting with an empty store`);
  return { from: 'none', bytes: 0 };
}

/**
 * Writes a compacted snapshot of `env` into `snapshotDir` and rotates the generations; returns the
 * bytes written to flash.
 */
export async function writeSnapshot(env: RootDatabase, snapshotDir: string): Promise<number> {
  mkdirSync(snapshotDir, { recursive: true, mode: 0o700 });
  const tmp = join(snapshotDir, `${SNAPSHOT_FILE}.tmp`);
  rmSync(tmp, { force: true }); // a leftover of a crash; rm does not follow a symlink
  await env.backup(tmp, true);
  // The store holds the router's private key: the snapshot is the owner's alone, like the store.
  chmodSync(tmp, 0o600);
  const fd = openSync(tmp, constants.O_RDWR | NOFOLLOW);
  let total: number;
  try {
    const length = fstatSync(fd).size;
    const trailer = Buffer.alloc(TRAILER_BYTES);
    MAGIC.copy(trailer);
    trailer.writeBigUInt64BE(BigInt(length), MAGIC.length);
    hashOf(fd, length).copy(trailer, MAGIC.length + 8);
    writeSync(fd, trailer, 0, TRAILER_BYTES, length);
    fsyncSync(fd);
    total = length + TRAILER_BYTES;
  } finally {
    closeSync(fd);
  }
  const current = join(snapshotDir, SNAPSHOT_FILE);
  if (existsSync(current)) renameSync(current, join(snapshotDir, PREVIOUS_FILE));
  renameSync(tmp, current);
  fsyncDir(snapshotDir);
  return total;
}

export interface SnapshotterOptions {
  env: RootDatabase;
  snapshotDir: string;
  /** 0: only at stop. */
  intervalMs: number;
  log: (m: string) => void;
  /** An older version's store files on flash: snapshot at once, then remove them. */
  legacyFiles?: string[];
}

/**
 * Snapshots on an interval, skipping an interval in which nothing was committed (LMDB's last
 * transaction id unchanged): a quiet router writes nothing to flash.
 */
export class Snapshotter {
  private timer: NodeJS.Timeout | undefined;
  private writtenTxn: number;
  private running: Promise<void> = Promise.resolve();
  /** Bytes written to flash since the start, and how many snapshots. */
  readonly stats = { bytes: 0, snapshots: 0, skipped: 0, failed: 0 };

  constructor(private readonly o: SnapshotterOptions) {
    // What was restored is on flash already.
    this.writtenTxn = o.legacyFiles ? -1 : lastTxn(o.env);
    if (o.legacyFiles) void this.snapshot();
    if (o.intervalMs > 0) {
      this.timer = setInterval(() => void this.snapshot(), o.intervalMs);
      this.timer.unref();
    }
  }

  /** One snapshot now if anything changed since the last; never throws (a failure is logged). */
  snapshot(): Promise<void> {
    this.running = this.running.then(async () => {
      const txn = lastTxn(this.o.env);
      if (txn === this.writtenTxn) {
        this.stats.skipped++;
        return;
      }
      try {
        const bytes = await writeSnapshot(this.o.env, this.o.snapshotDir);
        this.writtenTxn = txn;
        this.stats.bytes += bytes;
        this.stats.snapshots++;
        for (const f of this.o.legacyFiles?.splice(0) ?? []) {
          rmSync(f, { force: true });
          this.o.log(`durable: removed ${f}: its contents are in the snapshot now`);
        }
      } catch (err) {
        this.stats.failed++;
        this.o.log(`durable: snapshot to ${this.o.snapshotDir} failed: ${(err as Error).message}`);
      }
    });
    return this.running;
  }

  /** Stops the interval and writes the last snapshot (call before the store closes). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.o.env.flushed;
    await this.snapshot();
  }
}
