// What the three importers build the same way: checked addresses, software from a CPE, severity words.

import { isIPv4, isIPv6 } from 'node:net';
import { parseCpe, tryNormalizeCpe, wfnText } from '../cpe.js';
import type { EvidenceSource, Observation, SoftwareRecord } from '../model.js';
import type { Severity } from '../threat.js';
import { countNotKept, type ImportTally } from './tally.js';

/** Refused addresses named in the summary; the count goes on past it. */
export const MAX_BAD_ADDRESSES = 10;

/**
 * Bounds on one host of a report while it is read: far above a real host's (and above what the store
 * keeps, HOST_LIST_CAPS), so a hostile report cannot grow a host's lists, or the checks on them, without
 * end. What is past a bound is left out.
 */
export const REPORT_HOST_CAPS = { ipv4: 64, ipv6: 64, hostnames: 32, software: 1024, osGuesses: 32 } as const;
/** Longest CPE string read from a report. */
const MAX_CPE = 1024;
/** A host name longer than DNS allows names no host. */
export const MAX_HOSTNAME = 253;
/** Product, version, OS and finding names: a report's text is cut to this. */
export const MAX_FIELD_TEXT = 512;

/** `s` cut to `max` characters (names and versions from a report; the rest of a long one is noise). */
export function clip(s: string, max = MAX_FIELD_TEXT): string {
  return s.length > max ? s.slice(0, max) : s;
}

/** The members of a list built here, so "already there?" is one lookup instead of a scan of the list. */
const members = new WeakMap<string[], Set<string>>();

/** Adds `v` to `list` unless it is there or the list holds `cap`; every add to the list goes through here. */
function addUnique(list: string[], v: string, cap: number): boolean {
  let set = members.get(list);
  if (!set) {
    set = new Set(list);
    members.set(list, set);
  }
  if (set.has(v) || list.length >= cap) return false;
  set.add(v);
  list.push(v);
  return true;
}

/** Adds a host name (trimmed; empty or longer than DNS allows: left out). */
export function addHostname(o: Observation, name: string): void {
  const n = name.trim();
  if (n && n.length <= MAX_HOSTNAME) addUnique(o.hostnames, n, REPORT_HOST_CAPS.hostnames);
}

/**
 * Adds `addr` to the observation when it is an IPv4 or IPv6 address; otherwise counts it as refused
 * (a report saying 192.168.1.1001 names no host we could ever reach) and returns false.
 */
export function addAddress(o: Observation, addr: string, tally: ImportTally): boolean {
  const a = addr.trim();
  if (isIPv4(a)) {
    addUnique(o.ipv4, a, REPORT_HOST_CAPS.ipv4);
    return true;
  }
  if (isIPv6(a)) {
    addUnique(o.ipv6, a.toLowerCase(), REPORT_HOST_CAPS.ipv6);
    return true;
  }
  if (a) {
    tally.addressesRefused++;
    // Named in the summary: cut, as any text a report sends back to the admin.
    const shown = clip(a, 64);
    if (tally.badAddresses.length < MAX_BAD_ADDRESSES && !tally.badAddresses.includes(shown))
      tally.badAddresses.push(shown);
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
  // A real CPE is well under this; a longer one is no name we can match (and is not kept).
  if (cpe.length > MAX_CPE) return undefined;
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
  const key = softwareKey(rec);
  let byKey = softwareIndex.get(list);
  if (!byKey) {
    byKey = new Map();
    for (const [j, r] of list.entries()) byKey.set(softwareKey(r), [...(byKey.get(softwareKey(r)) ?? []), j]);
    softwareIndex.set(list, byKey);
  }
  const at = byKey.get(key) ?? [];
  // The records of one product, in list order: the first on the same port (or where either has none).
  const i =
    at.find((j) => list[j].port === rec.port || list[j].port === undefined || rec.port === undefined) ?? -1;
  const push = () => {
    if (list.length >= REPORT_HOST_CAPS.software) return;
    byKey.set(key, [...at, list.length]);
    list.push(rec);
  };
  if (i < 0) {
    push();
    return;
  }
  const old = list[i];
  if (!old.version && rec.version) list[i] = { ...rec, port: rec.port ?? old.port };
  else if (old.version === rec.version && old.port === undefined && rec.port !== undefined) list[i] = rec;
  else if (old.version && rec.version && old.version !== rec.version) push();
}

/** Pushes a record without merging (nmap: one per open port), within the per-host bound. */
export function pushSoftware(list: SoftwareRecord[], rec: SoftwareRecord): void {
  if (list.length < REPORT_HOST_CAPS.software) list.push(rec);
}

const softwareKey = (r: SoftwareRecord) => (r.cpe ? cpeProductKey(r.cpe) : r.product.toLowerCase());
/** The indices of each product's records in a software list built by addSoftware. */
const softwareIndex = new WeakMap<SoftwareRecord[], Map<string, number[]>>();

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
