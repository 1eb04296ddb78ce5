// CPE names: 2.2 URI and 2.3 formatted string ↔ WFN (NISTIR 7695), normalisation and name matching.

/** Logical value ANY ('*' in a formatted string, empty in a URI). */
export const ANY: unique symbol = Symbol('ANY');
/** Logical value NA ('-'). */
export const NA: unique symbol = Symbol('NA');

/** A WFN attribute value: ANY, NA, or a WFN string (non-alphanumerics quoted with '\', '*'/'?' unquoted = wildcards). */
export type WfnValue = string | typeof ANY | typeof NA;

export const WFN_ATTRS = [
  'part',
  'vendor',
  'product',
  'version',
  'update',
  'edition',
  'language',
  'sw_edition',
  'target_sw',
  'target_hw',
  'other',
] as const;
export type WfnAttr = (typeof WFN_ATTRS)[number];
export type Wfn = Record<WfnAttr, WfnValue>;

export class CpeError extends Error {
  override name = 'CpeError';
}

function emptyWfn(): Wfn {
  const w = {} as Wfn;
  for (const a of WFN_ATTRS) w[a] = ANY;
  return w;
}

const isAlnum = (c: string) => /^[A-Za-z0-9_]$/.test(c);

/** Decodes one URI component (percent-encoding, %01/%02 wildcards) into a WFN value. */
function decodeUriComponent(s: string): WfnValue {
  if (s === '') return ANY;
  if (s === '-') return NA;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new CpeError(`bad percent-encoding in "${s}"`);
      i += 2;
      const code = Number.parseInt(hex, 16);
      if (code === 1) out += '?';
      else if (code === 2) out += '*';
      else if (code >= 0x21 && code <= 0x7e) out += `\\${String.fromCharCode(code)}`;
      else throw new CpeError(`percent-encoded byte %${hex} not allowed in "${s}"`);
      continue;
    }
    if (isAlnum(c)) out += c.toLowerCase();
    else if (c === '.' || c === '-' || c === '~') out += `\\${c}`;
    else throw new CpeError(`character "${c}" not allowed in CPE URI component "${s}"`);
  }
  return out;
}

/** Unbinds a CPE 2.2 URI (`cpe:/a:vendor:product:version...`), including a packed `~` edition. */
export function unbindUri(uri: string): Wfn {
  if (!/^cpe:\/[aoh]?/i.test(uri)) throw new CpeError(`not a CPE 2.2 URI: "${uri}"`);
  const comps = uri.slice(5).split(':');
  if (comps.length > 7) throw new CpeError(`too many components in "${uri}"`);
  const w = emptyWfn();
  const names: WfnAttr[] = ['part', 'vendor', 'product', 'version', 'update', 'edition', 'language'];
  comps.forEach((comp, i) => {
    if (i === 0 && comp !== '' && !/^[aoh]$/i.test(comp)) throw new CpeError(`bad part "${comp}"`);
    if (names[i] === 'edition' && comp.startsWith('~')) {
      const packed = comp.split('~');
      if (packed.length !== 6) throw new CpeError(`bad packed edition "${comp}"`);
      w.edition = decodeUriComponent(packed[1]);
      w.sw_edition = decodeUriComponent(packed[2]);
      w.target_sw = decodeUriComponent(packed[3]);
      w.target_hw = decodeUriComponent(packed[4]);
      w.other = decodeUriComponent(packed[5]);
      return;
    }
    w[names[i]] = decodeUriComponent(i === 0 ? comp.toLowerCase() : comp);
  });
  return w;
}

/** Splits a formatted string on ':' that are not escaped. */
function splitFs(fs: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < fs.length; i++) {
    const c = fs[i];
    if (c === '\\' && i + 1 < fs.length) {
      cur += c + fs[i + 1];
      i++;
    } else if (c === ':') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

function unbindFsValue(s: string): WfnValue {
  if (s === '*') return ANY;
  if (s === '-') return NA;
  if (s === '') throw new CpeError('empty component in formatted string');
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      if (i + 1 >= s.length) throw new CpeError(`dangling escape in "${s}"`);
      out += c + s[i + 1].toLowerCase();
      i++;
    } else if (isAlnum(c)) out += c.toLowerCase();
    else if (c === '*' || c === '?')
      out += c; // wildcards stay unquoted
    else out += `\\${c}`;
  }
  return out;
}

/** Unbinds a CPE 2.3 formatted string (`cpe:2.3:a:vendor:product:...`, 11 attributes). */
export function unbindFs(fs: string): Wfn {
  if (!/^cpe:2\.3:/i.test(fs)) throw new CpeError(`not a CPE 2.3 formatted string: "${fs}"`);
  const parts = splitFs(fs.slice(8));
  if (parts.length !== 11) throw new CpeError(`expected 11 attributes, got ${parts.length} in "${fs}"`);
  const w = emptyWfn();
  WFN_ATTRS.forEach((a, i) => {
    w[a] = unbindFsValue(parts[i]);
  });
  if (typeof w.part === 'string' && !/^[aoh]$/.test(w.part)) throw new CpeError(`bad part in "${fs}"`);
  return w;
}

/** Parses either binding. */
export function parseCpe(s: string): Wfn {
  const t = s.trim();
  if (/^cpe:2\.3:/i.test(t)) return unbindFs(t);
  if (/^cpe:\//i.test(t)) return unbindUri(t);
  throw new CpeError(`not a CPE name: "${s}"`);
}

function bindFsValue(v: WfnValue): string {
  if (v === ANY) return '*';
  if (v === NA) return '-';
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === '\\' && i + 1 < v.length) {
      const n = v[i + 1];
      // '.', '-' and '_' are written bare in a formatted string; everything else stays escaped.
      out += n === '.' || n === '-' || n === '_' ? n : `\\${n}`;
      i++;
    } else out += c;
  }
  return out;
}

/** Binds a WFN to a CPE 2.3 formatted string. */
export function toFs(w: Wfn): string {
  return `cpe:2.3:${WFN_ATTRS.map((a) => bindFsValue(w[a])).join(':')}`;
}

/** The logical (unquoted) text of a WFN string value; undefined for ANY/NA. */
export function wfnText(v: WfnValue): string | undefined {
  if (typeof v !== 'string') return undefined;
  return v.replace(/\\(.)/g, '$1');
}

/** Makes a WFN string value from plain text (quotes every non-alphanumeric). */
export function wfnString(text: string): WfnValue {
  if (text === '') return ANY;
  let out = '';
  for (const c of text.toLowerCase()) out += isAlnum(c) ? c : `\\${c}`;
  return out;
}

/** Vendor spellings that name the same vendor in scanner output and in NVD. */
const VENDOR_ALIASES: Record<string, string> = {
  microsoft_corporation: 'microsoft',
  apache_software_foundation: 'apache',
  the_apache_software_foundation: 'apache',
};

/** Products whose vendor changed over time: NVD and nmap use all spellings; fold them into one. */
const PRODUCT_VENDORS: Record<string, string> = {
  'igor_sysoev:nginx': 'f5',
  'nginx:nginx': 'f5',
};

/**
 * Scanner CPEs put OpenSSH's portable suffix in the version (8.9p1); NVD splits it into
 * version 8.9 and update p1. Normalise to NVD's form so both sides compare alike.
 */
function applyQuirks(w: Wfn): void {
  if (typeof w.vendor === 'string' && VENDOR_ALIASES[w.vendor]) w.vendor = VENDOR_ALIASES[w.vendor];
  const pv = `${String(w.vendor)}:${String(w.product)}`;
  if (PRODUCT_VENDORS[pv]) w.vendor = PRODUCT_VENDORS[pv];
  const version = wfnText(w.version);
  if (w.vendor === 'openbsd' && w.product === 'openssh' && version && w.update === ANY) {
    const m = /^(\d+(?:\.\d+)*)(p\d+)$/.exec(version);
    if (m) {
      w.version = wfnString(m[1]);
      w.update = wfnString(m[2]);
    }
  }
}

/** Parses a CPE and applies the aliases and quirks (vendor renames, OpenSSH pN split). */
export function parseNormalized(s: string): Wfn {
  const w = parseCpe(s);
  applyQuirks(w);
  return w;
}

/** Any CPE string → normalised CPE 2.3 formatted string (aliases and known vendor quirks applied). */
export function normalizeCpe(s: string): string {
  return toFs(parseNormalized(s));
}

/** Like normalizeCpe, but returns undefined instead of throwing (scanner output is untrusted). */
export function tryNormalizeCpe(s: string): string | undefined {
  try {
    return normalizeCpe(s);
  } catch {
    return undefined;
  }
}

/** Matches a WFN string pattern with unquoted '*' / '?' wildcards against a WFN string. */
const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

function wildcardMatch(pattern: string, value: string): boolean {
  if (!/(^|[^\\])[*?]/.test(pattern)) return pattern === value;
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) {
      re += `\\\\${escapeRe(pattern[i + 1])}`;
      i++;
    } else if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else re += escapeRe(c);
  }
  return new RegExp(`${re}$`).test(value);
}

/** Whether one attribute of a source pattern matches a target value (NISTIR 7696, superset-or-equal). */
export function attrMatches(source: WfnValue, target: WfnValue): boolean {
  if (source === ANY) return true;
  if (source === NA) return target === NA;
  if (typeof target !== 'string') return false;
  return wildcardMatch(source, target);
}

/** Whether `source` (e.g. an NVD criteria) matches `target` (a host CPE), optionally skipping attributes. */
export function cpeMatches(source: Wfn, target: Wfn, skip: readonly WfnAttr[] = []): boolean {
  for (const a of WFN_ATTRS) {
    if (skip.includes(a)) continue;
    if (!attrMatches(source[a], target[a])) return false;
  }
  return true;
}
