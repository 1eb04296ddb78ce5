// Safe path resolution: canonical, absolute, under a configured root, and no symlink in any component.

import { lstatSync, realpathSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import type { Refusal } from './protocol.js';

export class Refused extends Error {
  override name = 'Refused';
  constructor(
    readonly refusal: Refusal,
    message: string,
  ) {
    super(message);
  }
}

/** Checks configured roots at start: each must exist, be a directory and contain no symlink. */
export function checkRoots(roots: string[]): string[] {
  return roots.map((r) => {
    const clean = r.length > 1 ? r.replace(/\/+$/, '') : r;
    const real = realpathSync(clean);
    if (real !== clean)
      throw new Error(`root ${r} is not canonical (resolves to ${real}); configure the real path`);
    if (!lstatSync(real).isDirectory()) throw new Error(`root ${r} is not a directory`);
    return real;
  });
}

/** True when `p` is written canonically: absolute, no empty, '.' or '..' components, no trailing slash. */
export function isCanonical(p: string): boolean {
  if (!p.startsWith('/') || p.includes('\0')) return false;
  if (p !== '/' && p.endsWith('/')) return false;
  return p
    .split('/')
    .slice(1)
    .every((c) => c !== '' && c !== '.' && c !== '..');
}

export interface Resolved {
  path: string;
  root: string;
  /** lstat of the final component (undefined when `mustExist` is false and it is absent). */
  stat?: Stats;
}

/**
 * Resolves `location`/`name` under one of `roots`. Refuses traversal and non-canonical spellings,
 * paths outside every root, and any symlink on the way (lstat of each component; never followed).
 */
export function resolveUnderRoots(
  location: string,
  name: string,
  roots: string[],
  mustExist = true,
): Resolved {
  const dir = location.length > 1 ? location.replace(/\/$/, '') : location;
  const full = dir === '/' ? `/${name}` : `${dir}/${name}`;
  if (!isCanonical(dir) || !isCanonical(full) || posix.normalize(full) !== full || name.includes('/'))
    throw new Refused('path-not-canonical', `path ${JSON.stringify(full)} is not canonical`);
  const root = roots.find((r) => full.startsWith(`${r}/`));
  if (!root) throw new Refused('path-outside-roots', `path ${full} is outside the allowed roots`);
  const parts = full.slice(root.length + 1).split('/');
  let cur = root;
  let stat: Stats | undefined;
  for (let i = 0; i < parts.length; i++) {
    cur = `${cur}/${parts[i]}`;
    try {
      stat = lstatSync(cur);
    } catch {
      if (i === parts.length - 1 && !mustExist) return { path: full, root };
      throw new Refused('not-found', `${cur} does not exist`);
    }
    if (stat.isSymbolicLink())
      throw new Refused('symlink', `${cur} is a symbolic link; links are never followed`);
    if (i < parts.length - 1 && !stat.isDirectory())
      throw new Refused('not-found', `${cur} is not a directory`);
  }
  return { path: full, root, stat };
}
