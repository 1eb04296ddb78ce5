// Replacing a file so that a crash or a full disk leaves the old content or the new, never a mix: a
// temporary file beside it (created exclusively, so a planted file or link is never written through),
// fsync, rename over the old one, then fsync of the directory so the rename itself is durable.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** The new file's mode; 'keep' takes the old file's (0600 when there is none). Default 0600. */
  mode?: number | 'keep';
  /**
   * fsync the file and its directory (default true). False for a snapshot rewritten every second (the
   * status file): readers still never see a partial file, and flash is not worn by a sync a second.
   */
  sync?: boolean;
}

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function tempBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Replaces `path` with `data` atomically (see the file header). */
export function writeFileAtomicSync(path: string, data: string, opts: AtomicWriteOptions = {}): void {
  let mode = opts.mode ?? 0o600;
  if (mode === 'keep') {
    try {
      mode = statSync(path).mode & 0o777;
    } catch {
      mode = 0o600;
    }
  }
  const tmp = tempBeside(path);
  const fd = openSync(tmp, CREATE, mode);
  try {
    try {
      writeSync(fd, data);
      if (opts.sync !== false) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  if (opts.sync === false) return;
  try {
    const dir = openSync(dirname(path), constants.O_RDONLY);
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  }
}

/** The same, without blocking the event loop (the daemon's config writes). */
export async function writeFileAtomic(
  path: string,
  data: string,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  let mode = opts.mode ?? 0o600;
  if (mode === 'keep') {
    try {
      mode = (await stat(path)).mode & 0o777;
    } catch {
      mode = 0o600;
    }
  }
  const tmp = tempBeside(path);
  const fh = await open(tmp, CREATE, mode);
  try {
    try {
      await fh.writeFile(data);
      if (opts.sync !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (opts.sync === false) return;
  try {
    const dir = await open(dirname(path), constants.O_RDONLY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  }
}
