// Path semantics of the two platforms the agent runs on: what a canonical path is, how roots compare,
// which names are refused. Pure string rules: the file system checks (links, reparse points) are paths.ts's.

import { Refused } from './refused.js';

export interface PathRules {
  readonly kind: 'posix' | 'win32';
  readonly sep: '/' | '\\';
  /**
   * The one spelling of an absolute path this platform accepts, or a refusal. Windows: `X:\a\b` (a
   * `\\?\X:\` long form is taken as the same path); never UNC, device, drive-relative or rooted forms.
   */
  canonical(p: string): string;
  /** Refuses a single file name this platform would read as something else (reserved device, stream). */
  checkName(name: string): void;
  join(dir: string, name: string): string;
  dirname(p: string): string;
  basename(p: string): string;
  /** The components of canonical `p` below canonical `root`, or undefined when `p` is not strictly under it. */
  below(p: string, root: string): string[] | undefined;
  /** Whether two canonical paths name the same place (Windows compares without case). */
  same(a: string, b: string): boolean;
}

const notCanonical = (p: string, why: string) =>
  new Refused('path-not-canonical', `path ${JSON.stringify(p)} is not canonical: ${why}`);

// ---- POSIX ----

export const posixRules: PathRules = {
  kind: 'posix',
  sep: '/',
  canonical(p) {
    if (!p.startsWith('/')) throw notCanonical(p, 'not absolute');
    if (p.includes('\0')) throw notCanonical(p, 'NUL byte');
    if (p === '/') return p;
    if (p.endsWith('/')) throw notCanonical(p, 'trailing slash');
    for (const c of p.split('/').slice(1))
      if (c === '' || c === '.' || c === '..') throw notCanonical(p, `component ${JSON.stringify(c)}`);
    return p;
  },
  checkName(name) {
    if (name.includes('/') || name === '' || name === '.' || name === '..')
      throw notCanonical(name, 'not a single file name');
  },
  join: (dir, name) => (dir === '/' ? `/${name}` : `${dir}/${name}`),
  dirname(p) {
    const i = p.lastIndexOf('/');
    return i <= 0 ? '/' : p.slice(0, i);
  },
  basename: (p) => p.slice(p.lastIndexOf('/') + 1),
  below(p, root) {
    const prefix = root === '/' ? '/' : `${root}/`;
    if (!p.startsWith(prefix) || p.length === prefix.length) return undefined;
    return p.slice(prefix.length).split('/');
  },
  same: (a, b) => a === b,
};

// ---- Windows ----

/** CON, PRN, AUX, NUL, COM0-9, LPT0-9 (and the superscript digits Windows also reserves), any extension. */
const RESERVED = /^(con|prn|aux|nul|conin\$|conout\$|(com|lpt)[0-9\u00b9\u00b2\u00b3])$/i;
/** Characters Win32 refuses in a name, plus ':' (a stream: `file:stream`) and '/' (a second separator). */
const BAD_CHAR = /[<>:"/|?*]/;
/** Control characters (U+0000-U+001F), which no Windows name may hold. */
const hasControl = (s: string) => [...s].some((ch) => ch.charCodeAt(0) < 0x20);
const DRIVE_ABS = /^[A-Za-z]:\\/;
const MAX_COMPONENT = 255;
/** NTFS allows 32767 UTF-16 units through the `\\?\` form; Node adds that prefix itself on every call. */
const MAX_PATH_LONG = 32_000;

function checkWinComponent(c: string, whole: string): void {
  if (c === '') throw notCanonical(whole, 'empty component');
  if (c === '.' || c === '..') throw notCanonical(whole, `component ${c}`);
  if (hasControl(c)) throw notCanonical(whole, 'control character');
  const bad = BAD_CHAR.exec(c);
  if (bad)
    throw bad[0] === ':'
      ? new Refused('path-not-canonical', `${JSON.stringify(whole)} names an alternate data stream`)
      : notCanonical(whole, `character ${JSON.stringify(bad[0])}`);
  // Win32 drops trailing dots and spaces: "evil.sys." would be another spelling of "evil.sys".
  if (/[. ]$/.test(c)) throw notCanonical(whole, `component ${JSON.stringify(c)} ends in a dot or space`);
  if (c.length > MAX_COMPONENT) throw notCanonical(whole, 'component longer than 255');
  // "NUL.txt" opens the NUL device on older Windows: the stem before the first dot decides.
  const stem = c.split('.')[0].replace(/ +$/, '');
  if (RESERVED.test(stem))
    throw new Refused('path-not-canonical', `${JSON.stringify(c)} is a reserved device name`);
}

export const win32Rules: PathRules = {
  kind: 'win32',
  sep: '\\',
  canonical(p) {
    if (p.includes('\0')) throw notCanonical(p, 'NUL byte');
    let q = p;
    if (q.startsWith('\\\\?\\') || q.startsWith('\\??\\')) {
      q = q.slice(4);
      if (!DRIVE_ABS.test(q))
        throw notCanonical(p, 'a \\\\?\\ path that is not on a drive (UNC or a device)');
    } else if (q.startsWith('\\\\.\\') || q.startsWith('//./') || q.startsWith('//?/'))
      throw notCanonical(p, 'a device path');
    else if (q.startsWith('\\\\') || q.startsWith('//'))
      throw notCanonical(p, 'a UNC path (another machine)');
    if (!DRIVE_ABS.test(q))
      throw notCanonical(p, /^[A-Za-z]:/.test(q) ? 'drive-relative' : 'not a drive-absolute path');
    if (q.length > MAX_PATH_LONG) throw notCanonical(p, 'too long');
    const drive = `${q[0].toUpperCase()}:`;
    if (q.length === 3) return `${drive}\\`;
    for (const c of q.slice(3).split('\\')) checkWinComponent(c, p);
    return `${drive}${q.slice(2)}`;
  },
  checkName(name) {
    if (name.includes('\\')) throw notCanonical(name, 'not a single file name');
    checkWinComponent(name, name);
  },
  join: (dir, name) => (dir.endsWith('\\') ? `${dir}${name}` : `${dir}\\${name}`),
  dirname(p) {
    const i = p.lastIndexOf('\\');
    return i <= 2 ? p.slice(0, 3) : p.slice(0, i);
  },
  basename: (p) => p.slice(p.lastIndexOf('\\') + 1),
  below(p, root) {
    const prefix = root.endsWith('\\') ? root : `${root}\\`;
    if (p.length <= prefix.length || !sameText(p.slice(0, prefix.length), prefix)) return undefined;
    return p.slice(prefix.length).split('\\');
  },
  same: (a, b) => sameText(a, b),
};

/** NTFS compares names through an upper-case table; toUpperCase is that table for every name we accept. */
function sameText(a: string, b: string): boolean {
  return a.length === b.length && a.toUpperCase() === b.toUpperCase();
}

/** The rules of the platform this process runs on. */
export const hostRules: PathRules = process.platform === 'win32' ? win32Rules : posixRules;

/**
 * Expands `%Name%` from `env` the way cmd.exe does (names without case), for configured Windows paths
 * such as `%ProgramData%\tunguard-agent`. An unknown name is an error, not an empty string.
 */
export function expandWinEnv(p: string, env: NodeJS.ProcessEnv = process.env): string {
  return p.replace(/%([A-Za-z_][A-Za-z0-9_()]*)%/g, (_, name: string) => {
    const key = Object.keys(env).find((k) => k.toUpperCase() === name.toUpperCase());
    const val = key === undefined ? undefined : env[key];
    if (!val) throw new Error(`%${name}% is not set`);
    return val;
  });
}

/** %SystemRoot% as Windows set it (every Windows process has it; the fallback is its usual value). */
export function systemRoot(): string {
  return process.env.SystemRoot ?? process.env.SYSTEMROOT ?? 'C:\\Windows';
}

/**
 * The environment for Windows' own tools (icacls, taskkill). A service's environment may lack PATH
 * (Wine's SCM gives none), and without one libuv finds no program at all, even by absolute path.
 */
export function systemToolEnv(): NodeJS.ProcessEnv {
  const root = systemRoot();
  return { SystemRoot: root, windir: root, PATH: `${root}\\System32;${root}` };
}
