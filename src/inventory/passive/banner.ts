// Service banners seen in cleartext (SSH identification string, HTTP Server header) → software records.

import { hasControlCharacter } from '../../config/text.js';
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

/**
 * Tokens of a Server value that name a platform or a protocol, not the server program: distributions
 * (`Debian/4.0r9`), kernels, and protocol versions (`UPnP/1.0`, `DLNADOC/1.50`).
 */
const PLATFORM_TOKEN =
  /^(?:debian|ubuntu|centos|red ?hat|rhel|fedora|raspbian|suse|gentoo|freebsd|openbsd|netbsd|linux|unix|posix|win32|win64|windows|upnp|dlnadoc|dlna|http|with)$/i;

/**
 * The products a Server value names, the server program first: the first known product, else the last
 * versioned token that is no platform or protocol tag (`Debian/4.0r9 DLNADOC/1.50 UPnP/1.0 MiniDLNA/1.0`
 * is MiniDLNA 1.0), then any other known product (`PHP/5.2.4` beside Apache).
 */
export function serverHeaderFinds(value: string): BannerFind[] {
  const tokens = serverProducts(value, 8).filter((f) => !PLATFORM_TOKEN.test(f.product));
  if (!tokens.length) return [];
  const primary = tokens.find((f) => f.cpe) ?? [...tokens].reverse().find((f) => f.version) ?? tokens[0];
  // The platform's name in a tag still says which OS this is (the comment of the server's own token may not).
  if (!primary.os) {
    const os = osIn(value);
    if (os) primary.os = os;
  }
  return [primary, ...tokens.filter((f) => f !== primary && f.cpe)];
}

/** Parses an HTTP `Server:` value (`Apache/2.4.52 (Ubuntu)`, `nginx/1.18.0`) into its server program. */
export function parseServerHeader(value: string): BannerFind | undefined {
  return serverHeaderFinds(value)[0];
}

/** The Server header's value in the head of an HTTP response; undefined when there is none. */
function serverHeaderOf(bytes: Uint8Array): string | undefined {
  const head = ascii(bytes, 8192);
  if (!/^HTTP\/\d(\.\d)? \d{3}/.test(head)) return undefined;
  const end = head.indexOf('\r\n\r\n');
  const lines = (end >= 0 ? head.slice(0, end) : head).split('\r\n');
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c > 0 && l.slice(0, c).trim().toLowerCase() === 'server') return l.slice(c + 1);
  }
  return undefined;
}

/** Finds the Server header in the head of an HTTP response and parses it. */
export function parseHttpResponseBanner(bytes: Uint8Array): BannerFind | undefined {
  const v = serverHeaderOf(bytes);
  return v === undefined ? undefined : parseServerHeader(v);
}

/**
 * Every product token of a Server value (RFC 9110 §10.2.4: `product[/version]` and comments), e.g.
 * `Apache/2.4.52 (Ubuntu) OpenSSL/3.0.2` or `SimpleHTTP/0.6 Python/3.11.2`; at most 4.
 */
export function serverProducts(value: string, max = 4): BannerFind[] {
  const out: BannerFind[] = [];
  if (hasControlCharacter(value) || value.length > 512) return out;
  const re = /([A-Za-z][\w.+-]*)(?:\/([\w.+~-]+))?((?:\s*\([^()]*\))*)/g;
  for (let m = re.exec(value); m && out.length < max; m = re.exec(value)) {
    const f: BannerFind = { product: m[1] };
    if (m[2]) f.version = m[2];
    const comment = m[3].trim();
    if (comment) f.comment = comment;
    const os = comment ? osIn(comment) : undefined;
    if (os) f.os = os;
    const cpe = cpeForProduct(m[1], m[2]);
    if (cpe) f.cpe = cpe;
    out.push(f);
  }
  return out;
}

/** Every product the Server header of an HTTP response names. */
export function httpResponseProducts(bytes: Uint8Array): BannerFind[] {
  const v = serverHeaderOf(bytes);
  return v === undefined ? [] : serverProducts(v);
}

/** FTP and SMTP servers that name themselves in their 220 greeting (RFC 959 §4.2, RFC 5321 §4.2). */
const GREETERS: Array<[RegExp, string, 'ftp' | 'smtp']> = [
  [/\bvsFTPd(?: (\d+(?:\.\d+)+))?/i, 'vsftpd', 'ftp'],
  [/\bProFTPD(?: (\d+(?:\.\d+)+[a-z]?))?/i, 'ProFTPD', 'ftp'],
  [/\bPure-FTPd\b/i, 'Pure-FTPd', 'ftp'],
  [/\bFileZilla Server(?: (?:version )?(\d+(?:\.\d+)+))?/i, 'FileZilla Server', 'ftp'],
  [/\bMicrosoft FTP Service\b/i, 'Microsoft FTP Service', 'ftp'],
  [/\bESMTP Postfix\b/i, 'Postfix', 'smtp'],
  [/\bExim (\d+(?:\.\d+)+)/i, 'Exim', 'smtp'],
  [/\bSendmail (\d+(?:\.\d+)+)/i, 'Sendmail', 'smtp'],
  [/\bOpenSMTPD\b/i, 'OpenSMTPD', 'smtp'],
];

/** Parses a `220` greeting line of an FTP or SMTP server; undefined when it names no known product. */
export function parseGreeting(
  input: Uint8Array | string,
): (BannerFind & { service: 'ftp' | 'smtp' }) | undefined {
  const s = typeof input === 'string' ? input : ascii(input, 512);
  const line = s.split(/\r?\n/, 1)[0];
  if (!/^220[ -]/.test(line)) return undefined;
  for (const [re, product, service] of GREETERS) {
    const m = re.exec(line);
    if (!m) continue;
    const out: BannerFind & { service: 'ftp' | 'smtp' } = { product, service };
    if (m[1]) out.version = m[1];
    const paren = /\(([^()]*)\)\s*$/.exec(line)?.[1];
    const os = osIn(line);
    if (os) out.os = os;
    if (paren && paren !== m[0]) out.comment = paren;
    const cpe = cpeForProduct(product, m[1]);
    if (cpe) out.cpe = cpe;
    return out;
  }
  return undefined;
}
