// dnsmasq's lease file (OpenWrt: /tmp/dhcp.leases) → observations (MAC, address, hostname, client id).
// DHCP talks to the router itself, so it never crosses the TUN: the lease file is the passive DHCP
// source. Parsed strictly: a line that is not exactly a lease is rejected and counted, never guessed at.
// Format (dnsmasq src/lease.c): IPv4 `expiry mac ipv4 hostname|* clientid|*`; a `duid <server duid>`
// line; IPv6 `expiry [T]iaid ipv6 hostname|* duid|*`. Expiry is epoch seconds, 0 = never.

import { isIPv4, isIPv6 } from 'node:net';
import { emptyObservation, normalizeMac, type Observation } from '../model.js';

export interface Lease {
  /** Epoch ms, 0 = infinite. */
  expiresAt: number;
  /** Lower-case colon MAC (IPv4 Ethernet leases only). */
  mac?: string;
  address: string;
  hostname?: string;
  /** Client id (IPv4 option 61) or DUID (IPv6), lower-case hex without separators. */
  clientId?: string;
}

export interface LeaseParse {
  leases: Lease[];
  /** Lines that were not a lease (1-based line numbers, first 10), and how many in all. */
  rejectedLines: number[];
  rejected: number;
}

/** Files bigger than this are not a lease file of a travel router: refused whole. */
export const MAX_LEASE_FILE_BYTES = 1 << 20;
const MAX_LEASES = 8192;

const EXPIRY = /^(0|[1-9]\d{0,11})$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const IAID = /^T?\d{1,10}$/;
/** RFC 1123 labels (dnsmasq only keeps legal names; anything else here is refused). */
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const HEXBYTES = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){0,254}$/;

function clientIdOf(field: string): string | undefined | null {
  if (field === '*') return undefined;
  return HEXBYTES.test(field) ? field.replace(/:/g, '').toLowerCase() : null;
}

function hostnameOf(field: string): string | undefined | null {
  if (field === '*') return undefined;
  return HOSTNAME.test(field) ? field : null;
}

/** One line → a lease, `'skip'` (the server's duid line, a blank line), or undefined (malformed). */
function parseLine(line: string): Lease | 'skip' | undefined {
  if (line === '') return 'skip';
  const f = line.split(' ');
  if (f.length === 2 && f[0] === 'duid') return HEXBYTES.test(f[1]) ? 'skip' : undefined;
  if (f.length !== 5 || !EXPIRY.test(f[0])) return undefined;
  const hostname = hostnameOf(f[3]);
  const clientId = clientIdOf(f[4]);
  if (hostname === null || clientId === null) return undefined;
  const lease: Lease = { expiresAt: Number(f[0]) * 1000, address: '' };
  if (MAC.test(f[1]) && isIPv4(f[2])) {
    lease.mac = normalizeMac(f[1]);
    lease.address = f[2];
  } else if (IAID.test(f[1]) && isIPv6(f[2]) && !f[2].includes('%')) {
    lease.address = f[2].toLowerCase();
  } else return undefined; // other hardware types ("6-…"), or fields out of place
  if (hostname) lease.hostname = hostname;
  if (clientId) lease.clientId = clientId;
  return lease;
}

/** Parses the file's text; leases expired before `now` (ms) are left out. */
export function parseLeaseFile(text: string, now: number): LeaseParse {
  const out: LeaseParse = { leases: [], rejectedLines: [], rejected: 0 };
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, i) => {
    const l = parseLine(raw);
    if (l === 'skip') return;
    if (!l || out.leases.length >= MAX_LEASES) {
      out.rejected++;
      if (out.rejectedLines.length < 10) out.rejectedLines.push(i + 1);
      return;
    }
    if (l.expiresAt === 0 || l.expiresAt > now) out.leases.push(l);
  });
  return out;
}

/** An observation of the host a lease names (a randomised MAC is keyed by client id or name instead). */
export function leaseObservation(l: Lease): Observation {
  const o = emptyObservation();
  if (l.mac) o.mac = l.mac;
  (l.address.includes(':') ? o.ipv6 : o.ipv4).push(l.address);
  if (l.hostname) o.hostnames.push(l.hostname);
  if (l.clientId) o.dhcpClientId = l.clientId;
  return o;
}
