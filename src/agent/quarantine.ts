// "Delete" as a move into quarantine (with metadata) that `restore` undoes; chmod through an O_NOFOLLOW fd.
// Every entry is reached through a directory handle (dir-handle.ts), never by re-walking its path.

import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fchmodSync,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { writeFileAtomicSync } from '../state/atomic-file.js';
import { type DirHandle, openDir } from './dir-handle.js';
import { Refused, resolveUnderRoots } from './paths.js';
import { hostRules } from './platform.js';
import { makePrivateDir } from './state.js';

const MetaSchema = v.strictObject({
  originalPath: v.string(),
  mode: v.number(),
  size: v.number(),
  sha256: v.string(),
  at: v.number(),
  commandId: v.string(),
});
type Meta = v.InferOutput<typeof MetaSchema>;

/**
 * O_NOFOLLOW where the platform has it. Windows has no such open flag in Node: there the dev/ino check
 * below is what catches a link swapped in after lstat (a link's own file id is not its target's).
 */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
/** A new file only: O_EXCL fails on any existing entry, a symlink included, so nothing is overwritten. */
const CREATE_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

/** Windows refuses to open or move a file another process holds without sharing: EBUSY from libuv. */
function inUse(e: unknown, path: string): Refused | undefined {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EBUSY'
    ? new Refused('file-in-use', `${path} is in use by another process; nothing was moved`)
    : undefined;
}

/** Opens a regular file without following a final symlink, and checks it is the file lstat saw. */
function openExact(at: string, shown: string, expect: { dev: number; ino: number }): number {
  let fd: number;
  try {
    fd = openSync(at, OPEN_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new Refused('symlink', `${shown} became a symbolic link`);
    throw inUse(e, shown) ?? new Refused('not-found', `${shown}: ${code}`);
  }
  const st = fstatSync(fd);
  if (st.dev !== expect.dev || st.ino !== expect.ino || !st.isFile()) {
    closeSync(fd);
    throw new Refused('symlink', `${shown} changed while it was being checked`);
  }
  return fd;
}

function hashFd(fd: number): string {
  const h = createHash('sha256');
  const buf = Buffer.alloc(64 * 1024);
  let pos = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n <= 0) break;
    h.update(buf.subarray(0, n));
    pos += n;
  }
  return h.digest('hex');
}

/**
 * Creates `to` (never an existing entry, never through a final link: O_EXCL) with the bytes of `fromFd`,
 * flushed. Returns the new file's descriptor; on failure nothing is left at `to`.
 */
function copyExclusive(fromFd: number, to: string, mode: number): number {
  const out = openSync(to, CREATE_FLAGS, mode);
  try {
    const buf = Buffer.alloc(64 * 1024);
    let pos = 0;
    for (;;) {
      const n = readSync(fromFd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      writeSync(out, buf, 0, n, pos);
      pos += n;
    }
    fsyncSync(out);
    return out;
  } catch (e) {
    closeSync(out);
    rmSync(to, { force: true });
    throw e;
  }
}

/** Link errors that mean "this file system cannot hard-link here", where a copy does the same job. */
const NO_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

const sameFile = (a: { dev: number; ino: number }, b: { dev: number; ino: number }) =>
  a.dev === b.dev && a.ino === b.ino;

export class Quarantine {
  constructor(
    private readonly dir: string,
    private readonly roots: string[],
  ) {
    makePrivateDir(dir);
  }

  /** Runs `fn` with the directory holding `path` and the quarantine directory open as handles. */
  private withDirs<T>(path: string, fn: (parent: DirHandle, store: DirHandle) => T): T {
    const parent = openDir(hostRules.dirname(path), hostRules.join);
    try {
      const store = openDir(this.dir, hostRules.join);
      try {
        return fn(parent, store);
      } finally {
        store.close();
      }
    } finally {
      parent.close();
    }
  }

  /** Moves a regular file under a root into quarantine; returns its id and digest. */
  put(
    location: string,
    name: string,
    commandId: string,
  ): { quarantineId: string; sha256: string; path: string } {
    const r = resolveUnderRoots(location, name, this.roots);
    const seen = r.stat;
    if (!seen?.isFile()) throw new Refused('not-a-regular-file', `${r.path} is not a regular file`);
    return this.withDirs(r.path, (parent, store) => {
      const src = parent.entry(hostRules.basename(r.path));
      const fd = openExact(src, r.path, seen);
      try {
        const sha256 = hashFd(fd);
        const id = randomBytes(16).toString('hex');
        const meta: Meta = {
          originalPath: r.path,
          mode: seen.mode & 0o7777,
          size: seen.size,
          sha256,
          at: Date.now(),
          commandId,
        };
        const metaFile = store.entry(`${id}.json`);
        writeFileAtomicSync(metaFile, JSON.stringify(meta));
        try {
          this.moveIn(fd, src, store.entry(`${id}.data`), r.path, sha256);
        } catch (e) {
          // Nothing moved (a file in use on Windows, a permission, a swap): no record of a quarantine that is not.
          rmSync(metaFile, { force: true });
          throw inUse(e, r.path) ?? e;
        }
        return { quarantineId: id, sha256, path: r.path };
      } finally {
        closeSync(fd);
      }
    });
  }

  /**
   * Moves the open file `fd` (entry `src`) to `data`. rename() moves the entry itself and never follows
   * a final symlink; the inode check after it catches an entry swapped in since the open. Across file
   * systems (EXDEV) the bytes are copied from the descriptor already checked, the copy is checked against
   * the digest, and the original is unlinked only if its entry still names that file.
   */
  private moveIn(fd: number, src: string, data: string, shown: string, sha256: string): void {
    const opened = fstatSync(fd);
    try {
      renameSync(src, data);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      const copy = copyExclusive(fd, data, 0o600);
      try {
        if (hashFd(copy) !== sha256)
          throw new Refused('hash-mismatch', `${shown} changed while it was being copied`);
        if (!sameFile(lstatSync(src), opened))
          throw new Refused('symlink', `${shown} changed during the move`);
        unlinkSync(src);
      } catch (err) {
        rmSync(data, { force: true });
        throw err;
      } finally {
        closeSync(copy);
      }
      return;
    }
    const moved = lstatSync(data);
    if (!moved.isFile() || !sameFile(moved, opened)) {
      // Something swapped the entry between the open and the move: put it back, never over another file.
      linkSync(data, src);
      unlinkSync(data);
      throw new Refused('symlink', `${shown} changed during the move`);
    }
  }

  /**
   * Puts a quarantined file back where it was, if that place is still under a root and free. The entry
   * is created by link() (or an O_EXCL copy where the file system cannot link), which fails when the
   * name exists: a file that appears there meanwhile is never overwritten.
   */
  restore(id: string): { path: string; sha256: string } {
    const metaFile = join(this.dir, `${id}.json`);
    if (!existsSync(metaFile) || !existsSync(join(this.dir, `${id}.data`)))
      throw new Refused('not-found', `no quarantined file ${id}`);
    const meta = v.parse(MetaSchema, JSON.parse(readFileSync(metaFile, 'utf8')));
    const r = resolveUnderRoots(
      hostRules.dirname(meta.originalPath),
      hostRules.basename(meta.originalPath),
      this.roots,
      false,
    );
    if (r.stat) throw new Refused('exists', `${r.path} exists; not overwriting it`);
    this.withDirs(r.path, (parent, store) => {
      const dest = parent.entry(hostRules.basename(r.path));
      const data = store.entry(`${id}.data`);
      const fd = openSync(data, OPEN_FLAGS);
      try {
        let placed = fd;
        try {
          linkSync(data, dest);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code ?? '';
          if (code === 'EEXIST') throw new Refused('exists', `${r.path} exists; not overwriting it`);
          if (!NO_LINK.has(code)) throw e;
          try {
            placed = copyExclusive(fd, dest, 0o600);
          } catch (c) {
            if ((c as NodeJS.ErrnoException).code === 'EEXIST')
              throw new Refused('exists', `${r.path} exists; not overwriting it`);
            throw c;
          }
        }
        try {
          fchmodSync(placed, meta.mode & 0o777);
        } finally {
          if (placed !== fd) closeSync(placed);
        }
        unlinkSync(data);
      } finally {
        closeSync(fd);
      }
    });
    unlinkSync(metaFile);
    return { path: r.path, sha256: meta.sha256 };
  }

  /** chmod of a regular file under a root (permission bits only), through a no-follow descriptor. */
  chmod(location: string, name: string, mode: number): { path: string } {
    const r = resolveUnderRoots(location, name, this.roots);
    const seen = r.stat;
    if (!seen?.isFile()) throw new Refused('not-a-regular-file', `${r.path} is not a regular file`);
    const parent = openDir(hostRules.dirname(r.path), hostRules.join);
    try {
      const fd = openExact(parent.entry(hostRules.basename(r.path)), r.path, seen);
      try {
        fchmodSync(fd, mode & 0o777);
      } finally {
        closeSync(fd);
      }
    } finally {
      parent.close();
    }
    return { path: r.path };
  }
}
