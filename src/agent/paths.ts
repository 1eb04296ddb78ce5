// Safe path resolution: canonical, absolute, under a configured root, and no link in any component.
// The spelling rules are the platform's (platform.ts); on Windows lstat reports symbolic links and
// junctions (mount-point reparse points) alike as links, so both are refused the same way.

import { lstatSync, realpathSync, type Stats } from 'node:fs';
import { hostRules, type PathRules } from './platform.js';
import { Refused } from './refused.js';

export { Refused };

/** Checks configured roots at start: each must exist, be a directory and contain no link. */
export function checkRoots(roots: string[], rules: PathRules = hostRules): string[] {
  return roots.map((r) => {
    const trimmed = rules.kind === 'posix' && r.length > 1 ? r.replace(/\/+$/, '') : r.replace(/\\+$/, '');
    const clean = rules.canonical(trimmed);
    // The native realpath resolves links, junctions and 8.3 short names: any of them makes it differ.
    const real = rules.kind === 'win32' ? realpathSync.native(clean) : realpathSync(clean);
    if (!rules.same(rules.canonical(real), clean))
      throw new Error(`root ${r} is not canonical (resolves to ${real}); configure the real path`);
    if (!lstatSync(clean).isDirectory()) throw new Error(`root ${r} is not a directory`);
    return clean;
  });
}

/** True when `p` is written canonically for the host platform. */
export function isCanonical(p: string, rules: PathRules = hostRules): boolean {
  try {
    return rules.canonical(p) === p;
  } catch {
    return false;
  }
}

export interface Resolved {
  path: string;
  root: string;
  /** lstat of the final component (undefined when `mustExist` is false and it is absent). */
  stat?: Stats;
}

/**
 * Resolves `location`/`name` under one of `roots`. Refuses traversal and non-canonical spellings,
 * paths outside every root, and any link on the way (lstat of each component; never followed).
 */
export function resolveUnderRoots(
  location: string,
  name: string,
  roots: string[],
  mustExist = true,
  rules: PathRules = hostRules,
): Resolved {
  const dir = rules.kind === 'posix' && location.length > 1 ? location.replace(/\/$/, '') : location;
  rules.checkName(name);
  const full = rules.canonical(rules.join(rules.canonical(dir), name));
  let root: string | undefined;
  let parts: string[] | undefined;
  for (const r of roots) {
    parts = rules.below(full, r);
    if (parts) {
      root = r;
      break;
    }
  }
  if (!root || !parts) throw new Refused('path-outside-roots', `path ${full} is outside the allowed roots`);
  let cur = root;
  let stat: Stats | undefined;
  for (let i = 0; i < parts.length; i++) {
    cur = rules.join(cur, parts[i]);
    try {
      stat = lstatSync(cur);
    } catch {
      if (i === parts.length - 1 && !mustExist) return { path: cur, root };
      throw new Refused('not-found', `${cur} does not exist`);
    }
    if (stat.isSymbolicLink())
      throw new Refused('symlink', `${cur} is a link (symbolic link or junction); links are never followed`);
    if (i < parts.length - 1 && !stat.isDirectory())
      throw new Refused('not-found', `${cur} is not a directory`);
  }
  return { path: cur, root, stat };
}
