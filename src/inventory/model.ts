// The host model: identity keys, OS and software records with source and confidence, and merging observations.

import { parseIPv6 } from '../config/net.js';
import type { MalwareKind, Severity, ThreatType, VulnScheme } from './threat.js';

/** Where a fact came from; passive evidence is weaker than a scan and says so through `confidence`. */
export type EvidenceSource =
  | 'nmap'
  | 'nessus'
  | 'openvas'
  | 'dhcp'
  | 'tcp-syn'
  | 'http-ua'
  | 'banner'
  | 'agent'
  | 'manual';

/** An operating-system guess. */
export interface OsRecord {
  name?: string;
  vendor?: string;
  family?: string;
  version?: string;
  /** CPE 2.3 formatted string. */
  cpe?: string;
  /** 0–100. */
  confidence: number;
  source: EvidenceSource;
  seenAt: number;
  /** The passive fingerprint behind the guess (a p0f-style TCP SYN signature), when there is one. */
  signature?: string;
}

/** A piece of network-facing software. */
export interface SoftwareRecord {
  product: string;
  vendor?: string;
  version?: string;
  /** CPE 2.3 formatted string. */
  cpe?: string;
  port?: number;
  protocol?: 'tcp' | 'udp';
  service?: string;
  extra?: string;
  confidence: number;
  source: EvidenceSource;
  seenAt: number;
}

/** A threat found on a host (reported by a scanner or an agent). */
export interface HostThreat {
  /** Canonical vuln id (CVE-…) or malware key. */
  key: string;
  type: ThreatType;
  scheme?: VulnScheme;
  kind?: MalwareKind;
  name?: string;
  title?: string;
  port?: number;
  severity?: Severity;
  cvss?: number;
  /** The part of the scanner that reported it, when not the scanner itself (nmap's `vulners` script). */
  origin?: string;
  source: EvidenceSource;
  seenAt: number;
}

/** How a fact was learned: watching traffic, a scanner report, the host's agent, or an admin. */
export type EvidenceClass = 'passive' | 'scan' | 'agent' | 'manual';

const CLASS_OF: Record<EvidenceSource, EvidenceClass> = {
  dhcp: 'passive',
  'tcp-syn': 'passive',
  'http-ua': 'passive',
  banner: 'passive',
  nmap: 'scan',
  nessus: 'scan',
  openvas: 'scan',
  agent: 'agent',
  manual: 'manual',
};

export function evidenceClass(source: EvidenceSource): EvidenceClass {
  return CLASS_OF[source];
}

/** What one scanner or one passive observation says about one host. */
export interface Observation {
  ipv4: string[];
  ipv6: string[];
  mac?: string;
  macVendor?: string;
  hostnames: string[];
  dhcpClientId?: string;
  up: boolean;
  os: OsRecord[];
  software: SoftwareRecord[];
  threats: HostThreat[];
}

/** A LAN host as the router knows it. */
export interface Host {
  id: string;
  macs: string[];
  macVendor?: string;
  ipv4: string[];
  ipv6: string[];
  hostnames: string[];
  dhcpClientId?: string;
  os: OsRecord[];
  software: SoftwareRecord[];
  threats: HostThreat[];
  firstSeen: number;
  lastSeen: number;
}

export function emptyObservation(): Observation {
  return { ipv4: [], ipv6: [], hostnames: [], up: true, os: [], software: [], threats: [] };
}

/** Lower-case colon form of a MAC; undefined when it is not one. */
export function normalizeMac(mac: string): string | undefined {
  const hex = mac.trim().toLowerCase().replace(/[-:.]/g, '');
  if (!/^[0-9a-f]{12}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}

/** Locally administered (bit 0x02 of the first octet): randomised phone MACs; no stable identity. */
export function isLocallyAdministered(mac: string): boolean {
  return (Number.parseInt(mac.slice(0, 2), 16) & 0x02) !== 0;
}

/**
 * The key a host is stored under: a universal MAC; else the DHCP client id; else the hostname;
 * else the first address. A randomised MAC changes per network, so it never keys a host.
 */
export function hostKey(
  o: Pick<Observation, 'mac' | 'dhcpClientId' | 'hostnames' | 'ipv4' | 'ipv6'>,
): string {
  const mac = o.mac ? normalizeMac(o.mac) : undefined;
  if (mac && !isLocallyAdministered(mac)) return `mac:${mac}`;
  if (o.dhcpClientId) return `dhcp:${o.dhcpClientId.toLowerCase()}`;
  if (o.hostnames[0]) return `name:${o.hostnames[0].toLowerCase()}`;
  if (o.ipv4[0]) return `ip:${o.ipv4[0]}`;
  if (o.ipv6[0]) return `ip:${o.ipv6[0].toLowerCase()}`;
  throw new Error('observation has no identity (no MAC, client id, hostname or address)');
}

/**
 * How many of each identity list a host keeps (the newest): a LAN client that cycles addresses or
 * names must not grow one host without bound.
 */
export const HOST_LIST_CAPS = { macs: 8, ipv4: 16, ipv6: 32, hostnames: 8 } as const;

/** `a` then `b` without repeats, the newest `cap` kept (b is newer). */
const union = (a: string[], b: string[], cap: number) => {
  const all = [...new Set([...a, ...b])];
  return all.length > cap ? all.slice(all.length - cap) : all;
};

/** Whether everything the router knows of the host came from watching traffic (no scan, agent or admin). */
export function isPassiveOnly(h: Host): boolean {
  const passive = (r: { source: EvidenceSource }) => evidenceClass(r.source) === 'passive';
  return h.os.every(passive) && h.software.every(passive) && h.threats.every(passive);
}

const SCANNERS: ReadonlySet<EvidenceSource> = new Set(['nmap', 'nessus', 'openvas']);

/**
 * Records from a scanner replace that scanner's earlier records (a scan is a snapshot) unless `append`
 * (a later part of the same import); passive records upsert.
 */
function mergeRecords<T extends { source: EvidenceSource }>(
  old: T[],
  fresh: T[],
  same: (a: T, b: T) => boolean,
  append: boolean,
): T[] {
  const snapshotSources = new Set(
    append ? [] : fresh.filter((r) => SCANNERS.has(r.source)).map((r) => r.source),
  );
  const kept = old.filter((r) => !snapshotSources.has(r.source) && !fresh.some((f) => same(f, r)));
  return [...fresh, ...kept];
}

const sameSoftware = (a: SoftwareRecord, b: SoftwareRecord) =>
  a.source === b.source && a.product === b.product && a.port === b.port && a.protocol === b.protocol;
const sameOs = (a: OsRecord, b: OsRecord) => a.source === b.source && a.name === b.name;
const sameThreat = (a: HostThreat, b: HostThreat) => a.key === b.key && a.port === b.port;

/** A host with nothing known of it yet but its id. */
export function newHost(id: string, now: number): Host {
  return {
    id,
    macs: [],
    ipv4: [],
    ipv6: [],
    hostnames: [],
    os: [],
    software: [],
    threats: [],
    firstSeen: now,
    lastSeen: now,
  };
}

/** Folds an observation into a host (or makes a new host); `append` keeps this import's earlier records. */
export function mergeObservation(host: Host | undefined, o: Observation, now: number, append = false): Host {
  const mac = o.mac ? normalizeMac(o.mac) : undefined;
  const h: Host = host ? { ...host } : newHost(hostKey(o), now);
  const cap = HOST_LIST_CAPS;
  if (mac) h.macs = union(h.macs, [mac], cap.macs);
  if (o.macVendor) h.macVendor = o.macVendor;
  h.ipv4 = union(h.ipv4, o.ipv4, cap.ipv4);
  h.ipv6 = union(
    h.ipv6,
    o.ipv6.map((a) => a.toLowerCase()),
    cap.ipv6,
  );
  h.hostnames = union(h.hostnames, o.hostnames, cap.hostnames);
  if (o.dhcpClientId) h.dhcpClientId = o.dhcpClientId;
  h.os = mergeRecords(h.os, o.os, sameOs, append).sort((a, b) => b.confidence - a.confidence);
  h.software = mergeRecords(h.software, o.software, sameSoftware, append);
  h.threats = mergeRecords(h.threats, o.threats, sameThreat, append);
  h.lastSeen = now;
  return h;
}

/**
 * A host known only by an address (its id is the address key, an IPv6 /64 for passive sources): what
 * traffic from that address showed. It is never folded into a host known by its MAC or its agent, since
 * any LAN client can send from any address.
 */
export function isProvisional(h: Host): boolean {
  return h.id.startsWith('ip:') && h.macs.length === 0 && h.dhcpClientId === undefined;
}

/**
 * The id of the host that passive traffic from `address` is kept under: the address itself, or for
 * IPv6 its /64 (a LAN client picks any of 2^64 source addresses in its prefix at no cost).
 */
export function passiveAddressId(address: string): string {
  if (!address.includes(':')) return `ip:${address}`;
  let b: Uint8Array;
  try {
    b = parseIPv6(address);
  } catch {
    return `ip:${address.toLowerCase()}`;
  }
  const groups = Array.from({ length: 4 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16));
  // `ip:2001:db8:2:0:*`: no slash, so the id works in a URL path as every host id must.
  return `ip:${groups.join(':')}:*`;
}

/** The host's best OS guess. */
export function bestOs(h: Host): OsRecord | undefined {
  return h.os[0];
}
