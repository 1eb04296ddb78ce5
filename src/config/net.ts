// Address syntax, for the whole program: IPv4/IPv6 addresses, CIDR prefixes and listen addresses, parsed
// strictly (no leading zeros in IPv4 octets, no zone ids) and printed canonically (RFC 5952 for IPv6).
// The prefix matcher (defense/prefix.ts), the steering program and the API all parse here; only the
// hot-path matching of packet bytes is theirs.

/** An address family, as the IP header's version field gives it. */
export type AddressFamily = 4 | 6;

/** A validated network prefix; `address` has no host bits set. */
export interface CidrPrefix {
  family: 4 | 6;
  /** Canonical network address ("192.168.1.0", "fd00::"). */
  address: string;
  /** Prefix length: 0..32 (IPv4) or 0..128 (IPv6). */
  bits: number;
  /** Canonical "address/bits". */
  cidr: string;
}

/** A validated `address:port` to listen on. */
export interface ListenAddress {
  family: 4 | 6;
  /** Canonical address, without brackets. */
  host: string;
  port: number;
}

/** Where the API listens when the config names nothing (the CLI looks there too). */
export const DEFAULT_LISTEN: ListenAddress = { family: 4, host: '127.0.0.1', port: 7447 };

/** Thrown for malformed addresses; the message says what is wrong, without the input. */
export class AddressSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressSyntaxError';
  }
}

function fail(message: string): never {
  throw new AddressSyntaxError(message);
}

/** Parses dotted-quad IPv4 into 4 bytes. */
export function parseIPv4(text: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4) fail('an IPv4 address has four dot-separated numbers');
  const out = new Uint8Array(4);
  parts.forEach((p, i) => {
    if (!/^[0-9]{1,3}$/.test(p)) fail(`'${p}' is not an IPv4 address byte`);
    if (p.length > 1 && p[0] === '0') fail(`'${p}': leading zeros are ambiguous (octal?)`);
    const n = Number(p);
    if (n > 255) fail(`'${p}' is more than 255`);
    out[i] = n;
  });
  return out;
}

function parseGroups(part: string): number[] {
  if (part === '') return [];
  return part.split(':').map((g) => {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) fail(`'${g}' is not an IPv6 group (1 to 4 hex digits)`);
    return Number.parseInt(g, 16);
  });
}

/** Parses an IPv6 address (with `::` and a trailing dotted IPv4 allowed) into 16 bytes. */
export function parseIPv6(text: string): Uint8Array {
  if (text.includes('%')) fail('zone ids (%…) are not allowed here');
  const halves = text.split('::');
  if (halves.length > 2) fail("'::' may appear only once");
  // A trailing dotted quad stands for the last two groups.
  let tail4: number[] = [];
  let last = halves[halves.length - 1];
  const lastColon = last.lastIndexOf(':');
  const lastPart = last.slice(lastColon + 1);
  if (lastPart.includes('.')) {
    const v4 = parseIPv4(lastPart);
    tail4 = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
    last = lastColon < 0 ? '' : last.slice(0, lastColon);
    if (lastColon >= 0 && last === '' && halves.length === 1) fail(`'${text}' is not an IPv6 address`);
  }
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0]);
    const tail = [...parseGroups(last), ...tail4];
    const missing = 8 - head.length - tail.length;
    if (missing < 1) fail("too many groups around '::'");
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    groups = [...parseGroups(last), ...tail4];
    if (groups.length !== 8) fail('an IPv6 address has eight groups (or uses ::)');
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Formats 4 or 16 bytes canonically (dotted quad; RFC 5952 for IPv6). */
export function formatAddress(bytes: Uint8Array): string {
  return formatAddressAt(bytes, 0, bytes.length === 4 ? 4 : 6);
}

/** Formats the address of `family` at buf[off] (e.g. in a packet). Allocates: not for the hot path. */
export function formatAddressAt(buf: Uint8Array, off: number, family: number): string {
  if (family === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((buf[off + i] << 8) | buf[off + i + 1]);
  // The longest run of two or more zero groups (the first on a tie) becomes '::'.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/**
 * The family of the 16-byte address at buf[off] in the form the kernel fast path keys sources by
 * (bpf/synproxy.c): IPv4 as ::ffff:a.b.c.d (its 4 bytes at off + 12), anything else IPv6. No allocation.
 */
export function mappedFamilyAt(buf: Uint8Array, off: number): 4 | 6 {
  for (let i = 0; i < 10; i++) if (buf[off + i] !== 0) return 6;
  return buf[off + 10] === 0xff && buf[off + 11] === 0xff ? 4 : 6;
}

/** Formats such a 16-byte address ("192.0.2.7" for a mapped IPv4 one). Allocates. */
export function formatMappedAt(buf: Uint8Array, off: number): string {
  return mappedFamilyAt(buf, off) === 4 ? formatAddressAt(buf, off + 12, 4) : formatAddressAt(buf, off, 6);
}

/** Parses an address of either family. */
export function parseAddress(text: string): { family: AddressFamily; bytes: Uint8Array } {
  if (text.includes(':')) return { family: 6, bytes: parseIPv6(text) };
  if (/^[0-9.]+$/.test(text)) return { family: 4, bytes: parseIPv4(text) };
  return fail('not an IPv4 or IPv6 address');
}

/** A prefix as bytes: the network address (4 or 16 bytes, host bits clear) and its length. */
export interface PrefixBytes {
  family: AddressFamily;
  bytes: Uint8Array;
  bits: number;
}

/**
 * Parses "address/bits" or a bare address (a host prefix: /32 or /128). Host bits must be clear:
 * "10.0.0.1/8" is an error that names the network meant, since guessing could widen an allowlist.
 */
export function parseCidr(text: string): CidrPrefix {
  const { family, bytes, bits } = parsePrefix(text);
  const address = formatAddress(bytes);
  return { family, address, bits, cidr: `${address}/${bits}` };
}

/**
 * parseCidr's bytes. Without `strict`, host bits are cleared instead of refused (an interface address
 * such as "192.168.1.1/24" names its network).
 */
export function parsePrefix(text: string, strict = true): PrefixBytes {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const { family, bytes } = parseAddress(addrText);
  const max = family === 4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const bitsText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(bitsText) || Number(bitsText) > max) {
      fail(`prefix length must be 0..${max}`);
    }
    bits = Number(bitsText);
  }
  const net = bytes.slice();
  for (let i = 0; i < net.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    net[i] &= (0xff << (8 - keep)) & 0xff;
  }
  if (strict && net.some((b, i) => b !== bytes[i]))
    fail(`host bits set (the network is ${formatAddress(net)}/${bits})`);
  return { family, bytes: net, bits };
}

/** Parses "a.b.c.d:port" or "[ipv6]:port"; the port is 1..65535. */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([^\]]*)\]|([0-9.]+)):([0-9]+)$/.exec(text);
  if (!m) return fail('expected address:port, e.g. 127.0.0.1:7447 or [::1]:7447');
  const [, v6, v4, portText] = m;
  const port = Number(portText);
  if (!/^[1-9][0-9]{0,4}$/.test(portText) || port > 65535) fail('the port must be 1..65535');
  if (v6 !== undefined) return { family: 6, host: formatAddress(parseIPv6(v6)), port };
  return { family: 4, host: formatAddress(parseIPv4(v4)), port };
}

/**
 * Ports the Fetch standard blocks ("bad ports"): Node's fetch (the CLI) and browsers (the dashboard)
 * refuse to connect to them, so an API listening there could be reached by neither.
 */
export const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104,
  109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515,
  526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049,
  3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** "127.0.0.1:7447" / "[::1]:7447". */
export function formatListen(l: ListenAddress): string {
  return l.family === 6 ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`;
}

/** Whether an address is the wildcard (0.0.0.0 or ::). */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}
