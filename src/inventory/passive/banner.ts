// Service banners seen in cleartext (SSH identification string, HTTP Server header) → software records.

import { cpeForProduct } from '../products.js';

export interface BannerFind {
  product: string;
  version?: string;
  /** Extra words after the version, e.g. a distro ("Ubuntu-3ubuntu0.6"), which hints at backports. */
  comment?: string;
  /** An OS the banner names, if any. */
  os?: string;
  cpe?: string;
}

const ascii = (b: Uint8Array, max: number) => {
  let s = '';
  const n = Math.min(b.length, max);
  for (let i = 0; i < n; i++) s += String.fromCharCode(b[i]);
  return s;
};

const OS_WORDS = [
  'Ubuntu',
  'Debian',
  'FreeBSD',
  'OpenBSD',
  'CentOS',
  'Red Hat',
  'Fedora',
  'Raspbian',
  'Win32',
  'Win64',
];
const osIn = (s: string) => OS_WORDS.find((w) => s.toLowerCase().includes(w.toLowerCase()));

/** Parses an SSH identification string (RFC 4253 §4.2: `SSH-protoversion-softwareversion SP comments`). */
export function parseSshBanner(input: Uint8Array | string): BannerFind | undefined {
  const s = typeof input === 'string' ? input : ascii(input, 255);
  const line = s.split(/\r?\n/, 1)[0];
  const m =
    /^SSH-(\d+\.\d+)-([^\s-]+)(?:[ -](.*))?$/.exec(line) ?? /^SSH-(\d+\.\d+)-(\S+?)(?: (.*))?$/.exec(line);
  if (!m) return undefined;
  const sw = m[2];
  const comment = m[3]?.trim() || undefined;
  const u = sw.indexOf('_');
  const product = u > 0 ? sw.slice(0, u) : sw;
  const version = u > 0 ? sw.slice(u + 1) : undefined;
  const out: BannerFind = { product };
  if (version) out.version = version;
  if (comment) out.comment = comment;
  const os = comment ? osIn(comment) : undefined;
  if (os) out.os = os;
  const cpe = cpeForProduct(product, version);
  if (cpe) out.cpe = cpe;
  return out;
}

/** Parses an HTTP `Server:` value (`Apache/2.4.52 (Ubuntu)`, `nginx/1.18.0`). */
export function parseServerHeader(value: string): BannerFind | undefined {
  const m = /^\s*([A-Za-z][\w.+-]*?)(?:\/([\w.+~-]+))?(?:\s+(.*))?\s*$/.exec(value);
  if (!m) return undefined;
  const out: BannerFind = { product: m[1] };
  if (m[2]) out.version = m[2];
  if (m[3]) out.comment = m[3];
  const os = m[3] ? osIn(m[3]) : undefined;
  if (os) out.os = os;
  const cpe = cpeForProduct(m[1], m[2]);
  if (cpe) out.cpe = cpe;
  return out;
}

/** Finds the Server header in the head of an HTTP response and parses it. */
export function parseHttpResponseBanner(bytes: Uint8Array): BannerFind | undefined {
  const head = ascii(bytes, 8192);
  if (!/^HTTP\/\d(\.\d)? \d{3}/.test(head)) return undefined;
  const end = head.indexOf('\r\n\r\n');
  const lines = (end >= 0 ? head.slice(0, end) : head).split('\r\n');
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c > 0 && l.slice(0, c).trim().toLowerCase() === 'server') return parseServerHeader(l.slice(c + 1));
  }
  return undefined;
}
