// "Delete" as a move into quarantine (with metadata) that `restore` undoes; chmod through an O_NOFOLLOW fd.

import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fchmodSync,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { writeFileAtomicSync } from '../state/atomic-file.js';
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

/** Windows refuses to open or move a file another process holds without sharing: EBUSY from libuv. */
function inUse(e: unknown, path: string): Refused | undefined {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EBUSY'
    ? new Refused('file-in-use', `${path} is in use by another process; nothing was moved`)
    : undefined;
}

/** Opens a regular file without following a final symlink, and checks it is the file lstat saw. */
function openExact(path: string, expect: { dev: number; ino: number }): number {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new Refused('symlink', `${path} became a symbolic link`);
    throw inUse(e, path) ?? new Refused('not-found', `${path}: ${code}`);
  }
  const st = fstatSync(fd);
  if (st.dev !== expect.dev || st.ino !== expect.ino || !st.isFile()) {
    closeSync(fd);
    throw new Refused('symlink', `${path} changed while it was being checked`);
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
 * Moves a file; across volumes (EXDEV) copies then unlinks, and when the unlink fails (Windows: the
 * source is in use) removes the copy again, so a move is either done or not done, never both.
 */
function moveOrCopy(from: string, to: string): void {
  try {
    renameSync(from, to);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
  }
  copyFileSync(from, to, constants.COPYFILE_EXCL);
  try {
    unlinkSync(from);
  } catch (e) {
    rmSync(to, { force: true });
    throw e;
  }
}

export class Quarantine {
  constructor(
    private readonly dir: string,
    private readonly roots: string[],
  ) {
    makePrivateDir(dir);
  }

  /** Moves a regular file under a root into quarantine; returns its id and digest. */
  put(
    location: string,
    name: string,
    commandId: string,
  ): { quarantineId: string; sha256: string; path: string } {
    const r = resolveUnderRoots(location, name, this.roots);
    if (!r.stat?.isFile()) throw new Refused('not-a-regular-file', `${r.path} is not a regular file`);
    const fd = openExact(r.path, r.stat);
    let sha256: string;
    try {
      sha256 = hashFd(fd);
    } finally {
      closeSync(fd);
    }
    const id = randomBytes(16).toString('hex');
    const data = join(this.dir, `${id}.data`);
    const meta: Meta = {
      originalPath: r.path,
      mode: r.stat.mode & 0o7777,
      size: r.stat.size,
      sha256,
      at: Date.now(),
      commandId,
    };
    const metaFile = join(this.dir, `${id}.json`);
    writeFileAtomicSync(metaFile, JSON.stringify(meta));
    // rename() moves the directory entry itself and never follows a final symlink.
    try {
      moveOrCopy(r.path, data);
    } catch (e) {
      // Nothing moved (a file in use on Windows, a permission): no record of a quarantine that is not.
      rmSync(metaFile, { force: true });
      throw inUse(e, r.path) ?? e;
    }
    const moved = lstatSync(data);
    if (!moved.isFile() || moved.ino !== r.stat.ino) {
      // Something swapped the entry between the check and the move: put it back and refuse.
      renameSync(data, r.path);
      unlinkSync(join(this.dir, `${id}.json`));
      throw new Refused('symlink', `${r.path} changed during the move`);
    }
    return { quarantineId: id, sha256, path: r.path };
  }

  /** Moves a quarantined file back where it was, if that place is still under a root and free. */
  restore(id: string): { path: string; sha256: string } {
    const metaFile = join(this.dir, `${id}.json`);
    const data = join(this.dir, `${id}.data`);
    if (!existsSync(metaFile) || !existsSync(data))
      throw new Refused('not-found', `no quarantined file ${id}`);
    const meta = v.parse(MetaSchema, JSON.parse(readFileSync(metaFile, 'utf8')));
    const r = resolveUnderRoots(
      hostRules.dirname(meta.originalPath),
      hostRules.basename(meta.originalPath),
      this.roots,
      false,
    );
    if (r.stat || existsSync(r.path)) throw new Refused('exists', `${r.path} exists; not overwriting it`);
    moveOrCopy(data, r.path);
    const fd = openExact(r.path, lstatSync(r.path));
    try {
      fchmodSync(fd, meta.mode & 0o777);
    } finally {
      closeSync(fd);
    }
    unlinkSync(metaFile);
    return { path: r.path, sha256: meta.sha256 };
  }

  /** chmod of a regular file under a root (permission bits only), through a no-follow descriptor. */
  chmod(location: string, name: string, mode: number): { path: string } {
    const r = resolveUnderRoots(location, name, this.roots);
    if (!r.stat?.isFile()) throw new Refused('not-a-regular-file', `${r.path} is not a regular file`);
    const fd = openExact(r.path, r.stat);
    try {
      fchmodSync(fd, mode & 0o777);
    } finally {
      closeSync(fd);
    }
    return { path: r.path };
  }
}
