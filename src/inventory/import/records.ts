// What the three importers build the same way: checked addresses, software from a CPE, severity words.

import { isIPv4, isIPv6 } from 'node:net';
import { parseCpe, tryNormalizeCpe, wfnText } from '../cpe.js';
import type { EvidenceSource, Observation, SoftwareRecord } from '../model.js';
import type { Severity } from '../threat.js';
import { countNotKept, type ImportTally } from './tally.js';

/** Refused addresses named in the summary; the count goes on past it. */
export const MAX_BAD_ADDRESSES = 10;

/**
 * Adds `addr` to the observation when it is an IPv4 or IPv6 address; otherwise counts it as refused
 * (a report saying 192.168.1.1001 names no host we could ever reach) and returns false.
 */
export function addAddress(o: Observation, addr: string, tally: ImportTally): boolean {
  const a = addr.trim();
  if (isIPv4(a)) {
    if (!o.ipv4.includes(a)) o.ipv4.push(a);
    return true;
  }
  if (isIPv6(a)) {
    const l = a.toLowerCase();
    if (!o.ipv6.includes(l)) o.ipv6.push(l);
    return true;
  }
  if (a) {
    tally.addressesRefused++;
    if (tally.badAddresses.length < MAX_BAD_ADDRESSES && !tally.badAddresses.includes(a))
      tally.badAddresses.push(a);
  }
  return false;
}

/**
 * Hands an observation on when something identifies its host; otherwise counts the host as refused and
 * its kept findings as not kept, so the summary never claims what the store will not hold.
 */
export function emitIdentified(o: Observation, emit: (o: Observation) => void, tally: ImportTally): void {
  if (o.ipv4.length || o.ipv6.length || o.mac || o.hostnames.length || o.dhcpClientId) {
    emit(o);
    return;
  }
  tally.hostsRefused++;
  const lost = new Set(o.threats.filter((t) => t.type === 'finding').map((t) => `${t.key}/${t.port ?? ''}`))
    .size;
  tally.findingsKept -= lost;
  countNotKept(tally, 'no-identity', lost);
}

/** A software record from an application CPE (product and version from the CPE); undefined for others. */
export function softwareFromCpe(
  cpe: string,
  source: EvidenceSource,
  now: number,
  where: { port?: number; protocol?: 'tcp' | 'udp'; service?: string } = {},
): SoftwareRecord | undefined {
  // Nessus writes distribution versions with '+' (5.6.40-38+ubuntu20.04.1), which a CPE URI must escape.
  const uri = cpe.trim().replace(/^x-/, '');
  const escaped = uri.startsWith('cpe:/')
    ? uri.replace(/[^A-Za-z0-9._~%:/-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    : uri;
  const fs = tryNormalizeCpe(escaped);
  if (!fs?.startsWith('cpe:2.3:a:')) return undefined;
  const w = parseCpe(fs);
  const product = wfnText(w.product);
  if (!product) return undefined;
  const rec: SoftwareRecord = { product, cpe: fs, confidence: 80, source, seenAt: now };
  const vendor = wfnText(w.vendor);
  if (vendor) rec.vendor = vendor;
  const version = [wfnText(w.version), wfnText(w.update)].filter(Boolean).join('');
  if (version) rec.version = version;
  if (where.port) rec.port = where.port;
  if (where.port && where.protocol) rec.protocol = where.protocol;
  if (where.service) rec.service = where.service;
  return rec;
}

/** `vendor:product` of a CPE 2.3 string (the key two records of one product share). */
export function cpeProductKey(cpe: string): string {
  return cpe.split(':').slice(3, 5).join(':');
}

/**
 * Adds software records, one per product and port: a versioned record replaces an unversioned one of
 * the same product (a host tag `cpe:/a:apache:log4j:2.14.1` beside a plugin's `cpe:/a:apache:log4j`).
 */
export function addSoftware(list: SoftwareRecord[], rec: SoftwareRecord): void {
  const key = rec.cpe ? cpeProductKey(rec.cpe) : rec.product.toLowerCase();
  const same = (r: SoftwareRecord) =>
    (r.cpe ? cpeProductKey(r.cpe) : r.product.toLowerCase()) === key &&
    (r.port === rec.port || r.port === undefined || rec.port === undefined);
  const i = list.findIndex(same);
  if (i < 0) {
    list.push(rec);
    return;
  }
  const old = list[i];
  if (!old.version && rec.version) list[i] = { ...rec, port: rec.port ?? old.port };
  else if (old.version === rec.version && old.port === undefined && rec.port !== undefined) list[i] = rec;
  else if (old.version && rec.version && old.version !== rec.version) list.push(rec);
}

/** Nessus `severity` attribute (0–4) → severity word; 0 is informational. */
export const NESSUS_SEVERITY: Record<number, Severity> = {
  0: 'none',
  1: 'low',
  2: 'medium',
  3: 'high',
  4: 'critical',
};

/** OpenVAS/GVM `<threat>` words → severity; Log, Debug and False Positive are not threats. */
export const OPENVAS_THREAT: Record<string, Severity> = {
  critical: 'critical',
  high: 'high',
  medium: 'medium',
  low: 'low',
  log: 'none',
  debug: 'none',
};
