// Version parsing, comparison (undefined = incomparable) and NVD-style range matching.

/** One comparable piece of a version. */
type Part =
  | { k: 'num'; n: bigint }
  | { k: 'pre'; rank: number; n: bigint } // dev < alpha < beta < rc: before the release
  | { k: 'post'; n: bigint } // OpenSSH p1, "patch", "pl": after the release
  | { k: 'letter'; c: string } // OpenSSL 1.0.2k: after the release, ordered by letter
  | { k: 'word'; w: string }; // anything else: comparable only to the same word

export interface ParsedVersion {
  /** Debian/RPM epoch when written ("1:"); NVD never writes one, so it is compared only when both have it. */
  epoch?: bigint;
  parts: Part[];
  /** Distro revision (Debian "-3ubuntu0.1", RPM ".el8"): the package may carry backported fixes. */
  revision?: string;
}

const PRE: Record<string, number> = {
  dev: 0,
  snapshot: 0,
  alpha: 1,
  a: 1,
  beta: 2,
  b: 2,
  pre: 3,
  rc: 3,
  c: 3,
};
const POST = new Set(['p', 'patch', 'pl', 'post']);

/** Splits a distro revision off: "1:8.9p1-3ubuntu0.1", "8.9p1 Ubuntu 3ubuntu0.6", "2.4.6-99.el8". */
function splitRevision(v: string): { upstream: string; revision?: string } {
  const space = /^(\S+)\s+(.*)$/.exec(v);
  if (space) return { upstream: space[1], revision: space[2] };
  const m = /^(.*?)-(\d[\w.+~]*(?:ubuntu|deb|build|el|fc|mga|suse|rh)[\w.+~]*)$/i.exec(v);
  if (m) return { upstream: m[1], revision: m[2] };
  const alpine = /^(.*?)-(r\d+)$/.exec(v);
  if (alpine) return { upstream: alpine[1], revision: alpine[2] };
  const el = /^(.*?)[.-](el\d+[\w.]*|fc\d+)$/i.exec(v);
  if (el) return { upstream: el[1], revision: el[2] };
  return { upstream: v };
}

/** Parses a version string; returns undefined when nothing version-like is there. */
export function parseVersion(input: string): ParsedVersion | undefined {
  let v = input.trim().toLowerCase();
  if (v === '' || v === '*' || v === '-') return undefined;
  let epoch: bigint | undefined;
  const e = /^(\d+):(.+)$/.exec(v);
  if (e) {
    epoch = BigInt(e[1]);
    v = e[2];
  }
  const { upstream, revision } = splitRevision(v);
  v = upstream.replace(/^v(?=\d)/, '');
  const tokens = v.match(/\d+|[a-z]+/g);
  if (!tokens || !/^\d/.test(tokens[0])) return undefined;
  const parts: Part[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const next = tokens[i + 1];
    const nextIsNum = next !== undefined && /^\d/.test(next);
    if (/^\d/.test(t)) parts.push({ k: 'num', n: BigInt(t) });
    else if (Object.hasOwn(PRE, t) && (t.length > 1 || nextIsNum)) {
      parts.push({ k: 'pre', rank: PRE[t], n: nextIsNum ? BigInt(next) : 0n });
      if (nextIsNum) i++;
    } else if (POST.has(t) && nextIsNum) {
      parts.push({ k: 'post', n: BigInt(next) });
      i++;
    } else if ((t.length === 1 || /^z[a-z]$/.test(t)) && !nextIsNum)
      parts.push({ k: 'letter', c: t }); // OpenSSL k, zb
    else parts.push({ k: 'word', w: t });
  }
  const out: ParsedVersion = { parts };
  if (epoch !== undefined) out.epoch = epoch;
  if (revision) out.revision = revision;
  return out;
}

const cmp = (a: bigint | string | number, b: bigint | string | number) => (a < b ? -1 : a > b ? 1 : 0);

/** Sign of "version that goes on with `p`" against one that ended here. undefined = incomparable. */
function tailSign(p: Part): number | undefined {
  switch (p.k) {
    case 'num':
      return p.n === 0n ? 0 : 1; // 1.0 == 1.0.0, 1.0.1 > 1.0
    case 'pre':
      return -1; // 1.0rc1 < 1.0
    case 'post':
    case 'letter':
      return 1; // 8.9p1 > 8.9, 1.0.2a > 1.0.2
    default:
      return undefined;
  }
}

function comparePart(a: Part, b: Part): number | undefined {
  if (a.k === b.k) {
    switch (a.k) {
      case 'num':
        return cmp(a.n, (b as typeof a).n);
      case 'pre': {
        const bb = b as typeof a;
        return cmp(a.rank, bb.rank) || cmp(a.n, bb.n);
      }
      case 'post':
        return cmp(a.n, (b as typeof a).n);
      case 'letter':
        return cmp(a.c, (b as typeof a).c);
      case 'word':
        return a.w === (b as typeof a).w ? 0 : undefined;
    }
  }
  if (a.k === 'word' || b.k === 'word') return undefined;
  if ((a.k === 'post' && b.k === 'letter') || (a.k === 'letter' && b.k === 'post')) return undefined;
  // A further number outranks a pre-release, patch or letter at the same place: 1.0.1 > 1.0p1 > 1.0rc1.
  const rank = (p: Part) => (p.k === 'pre' ? 0 : p.k === 'num' ? 2 : 1);
  return cmp(rank(a), rank(b));
}

function compareTail(rest: Part[], sign: 1 | -1): number | undefined {
  for (const p of rest) {
    const s = tailSign(p);
    if (s === undefined) return undefined;
    if (s !== 0) return s * sign;
  }
  return 0;
}

/** Compares two parsed versions: -1, 0, 1, or undefined when the schemes do not line up. */
export function compareParsed(a: ParsedVersion, b: ParsedVersion): number | undefined {
  if (a.epoch !== undefined && b.epoch !== undefined && a.epoch !== b.epoch) return cmp(a.epoch, b.epoch);
  const n = Math.min(a.parts.length, b.parts.length);
  for (let i = 0; i < n; i++) {
    const c = comparePart(a.parts[i], b.parts[i]);
    if (c !== 0) return c;
  }
  if (a.parts.length > n) return compareTail(a.parts.slice(n), 1);
  if (b.parts.length > n) return compareTail(b.parts.slice(n), -1);
  return 0;
}

/** Compares two version strings; undefined when either is not a version or they cannot be ordered. */
export function compareVersions(a: string, b: string): number | undefined {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (!pa || !pb) return undefined;
  return compareParsed(pa, pb);
}

/** An NVD cpeMatch version range; any subset of the four bounds. */
export interface VersionRange {
  versionStartIncluding?: string;
  versionStartExcluding?: string;
  versionEndIncluding?: string;
  versionEndExcluding?: string;
}

export type RangeResult = 'in' | 'out' | 'incomparable';

/** Whether `version` lies in `range`. A bound that cannot be compared gives 'incomparable' (no match). */
export function inRange(version: string, range: VersionRange): RangeResult {
  const v = parseVersion(version);
  if (!v) return 'incomparable';
  const checks: Array<[string | undefined, (c: number) => boolean]> = [
    [range.versionStartIncluding, (c) => c >= 0],
    [range.versionStartExcluding, (c) => c > 0],
    [range.versionEndIncluding, (c) => c <= 0],
    [range.versionEndExcluding, (c) => c < 0],
  ];
  let out = false;
  for (const [bound, ok] of checks) {
    if (bound === undefined) continue;
    const b = parseVersion(bound);
    if (!b) return 'incomparable';
    const c = compareParsed(v, b);
    if (c === undefined) return 'incomparable';
    if (!ok(c)) out = true;
  }
  return out ? 'out' : 'in';
}

/** Whether a range has any bound at all. */
export function hasBounds(r: VersionRange): boolean {
  return (
    r.versionStartIncluding !== undefined ||
    r.versionStartExcluding !== undefined ||
    r.versionEndIncluding !== undefined ||
    r.versionEndExcluding !== undefined
  );
}
