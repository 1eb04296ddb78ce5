// A directory reached without following links, whose entries are then acted on by name. On Linux it is
// a descriptor: every component from `/` down is opened O_DIRECTORY|O_NOFOLLOW relative to the one
// before it (through /proc/self/fd, Node has no openat), so a parent swapped for a symlink after the
// walk cannot redirect what we rename, link or create: the descriptor still names the directory we
// checked. Windows has no /proc and no O_NOFOLLOW in Node: there the handle is the lstat-checked path
// (paths.ts), as before, and the dev/ino checks of the callers catch a swapped final entry.

import { closeSync, constants, existsSync, lstatSync, openSync } from 'node:fs';
import { Refused } from './refused.js';

/** Whether this platform gets descriptor handles (the rest keeps checked paths). */
export const USES_DESCRIPTORS = process.platform === 'linux';

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

export interface DirHandle {
  /** The directory as it was named (for messages and results). */
  readonly path: string;
  /** A path to `name` inside this directory that does not depend on the directory's own path. */
  entry(name: string): string;
  close(): void;
}

class FdHandle implements DirHandle {
  constructor(
    readonly path: string,
    private readonly fd: number,
  ) {}
  entry(name: string): string {
    return `/proc/self/fd/${this.fd}/${name}`;
  }
  close(): void {
    closeSync(this.fd);
  }
}

class PathHandle implements DirHandle {
  constructor(
    readonly path: string,
    private readonly join: (dir: string, name: string) => string,
  ) {}
  entry(name: string): string {
    return this.join(this.path, name);
  }
  close(): void {}
}

/** Why opening `name` (a directory on the way) failed, as the refusal the agent reports. */
function refusal(e: unknown, at: string, parentFd: number, name: string): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new Refused('not-found', `${at} does not exist`);
  if (code === 'ELOOP' || code === 'ENOTDIR') {
    let link = code === 'ELOOP';
    try {
      link ||= lstatSync(`/proc/self/fd/${parentFd}/${name}`).isSymbolicLink();
    } catch {}
    return link
      ? new Refused('symlink', `${at} is a link (symbolic link or junction); links are never followed`)
      : new Refused('not-found', `${at} is not a directory`);
  }
  return e instanceof Error ? e : new Error(String(e));
}

/**
 * Opens the canonical absolute directory `path`, no component followed if it is a link. On Windows
 * `join` builds entries from the path, which the caller has checked with resolveUnderRoots.
 */
export function openDir(path: string, join: (dir: string, name: string) => string): DirHandle {
  if (!USES_DESCRIPTORS) return new PathHandle(path, join);
  if (!existsSync('/proc/self/fd'))
    throw new Error(
      '/proc is not mounted: the agent needs /proc/self/fd to act on files without following links',
    );
  let fd = openSync('/', DIR_FLAGS);
  let at = '';
  for (const name of path.split('/').filter((c) => c !== '')) {
    at = `${at}/${name}`;
    let next: number;
    try {
      next = openSync(`/proc/self/fd/${fd}/${name}`, DIR_FLAGS);
    } catch (e) {
      const err = refusal(e, at, fd, name);
      closeSync(fd);
      throw err;
    }
    closeSync(fd);
    fd = next;
  }
  return new FdHandle(path, fd);
}
