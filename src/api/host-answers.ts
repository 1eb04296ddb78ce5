// What the inventory's facts look like in the API's answers (hosts, their OS, software and threats,
// the threats db, imports, the passive feed), as valibot schemas the document is generated from. The
// types stay in src/inventory, where they are built; `documents` (answer-check.ts) fails the build
// when a type and its schema part ways.

import * as v from 'valibot';
import type {
  FindingRecord,
  ImportSummary as ImportSummaryType,
  MalwareRecord,
} from '../inventory/inventory.js';
import type {
  HostThreat as HostThreatType,
  Host as HostType,
  OsRecord as OsRecordType,
  SoftwareRecord as SoftwareRecordType,
} from '../inventory/model.js';
import type { VulnRecord } from '../inventory/nvd.js';
import type { PassiveFeedStats } from '../inventory/passive/feed.js';
import { HOST_THREAT_TYPES, MALWARE_KINDS, SEVERITIES } from '../inventory/threat.js';
import type { VulnMatch as VulnMatchType } from '../inventory/vuln-match.js';
import type { Documents } from './answer-check.js';
import { documentedMore, Int, Time } from './schema-parts.js';

export const Strings = v.array(v.string());
export const Port = v.pipe(Int, v.minValue(1), v.maxValue(65535));
export const Confidence = v.pipe(Int, v.minValue(0), v.maxValue(100));
const Severity = v.picklist(SEVERITIES);
const Scheme = v.picklist(['CVE', 'BUGTRAQ', 'CNCVE', 'CNNVD']);
const MalwareKind = v.picklist(MALWARE_KINDS);

export const RiskScore = v.object({
  score: v.pipe(v.number(), v.minValue(0), v.maxValue(10)),
  level: Severity,
});

export const EvidenceSource = v.pipe(
  v.picklist(['nmap', 'nessus', 'openvas', 'dhcp', 'tcp-syn', 'http-ua', 'banner', 'agent', 'manual']),
  v.description('dhcp, tcp-syn, http-ua and banner are passive (learned from traffic), with a confidence'),
);

export const OsRecord = v.object({
  name: v.optional(v.string()),
  vendor: v.optional(v.string()),
  family: v.optional(v.string()),
  version: v.optional(v.string()),
  cpe: v.optional(v.string()),
  confidence: Confidence,
  source: EvidenceSource,
  seenAt: Time,
  signature: v.optional(v.pipe(v.string(), v.description('p0f-style TCP SYN signature (source tcp-syn)'))),
});

export const SoftwareRecord = v.object({
  product: v.string(),
  vendor: v.optional(v.string()),
  version: v.optional(v.string()),
  cpe: v.optional(v.string()),
  port: v.optional(Port),
  protocol: v.optional(v.picklist(['tcp', 'udp'])),
  service: v.optional(v.string()),
  extra: v.optional(v.pipe(v.string(), v.description('banner comment or User-Agent'))),
  confidence: Confidence,
  source: EvidenceSource,
  seenAt: Time,
});

export const HostThreat = v.object({
  key: v.pipe(
    v.string(),
    v.description(
      "CVE-…, MALWARE:<kind>:<name>, or the scanner's own id: NESSUS:<plugin>, OPENVAS:<NVT OID>",
    ),
  ),
  type: v.picklist(HOST_THREAT_TYPES),
  scheme: v.optional(Scheme),
  kind: v.optional(MalwareKind),
  name: v.optional(v.string()),
  title: v.optional(v.string()),
  port: v.optional(Port),
  severity: v.optional(Severity),
  cvss: v.optional(v.number()),
  origin: v.optional(
    v.pipe(
      v.string(),
      v.description('the part of the scanner that reported it (nmap script vulners, vulscan)'),
    ),
  ),
  source: EvidenceSource,
  seenAt: Time,
});

export const Host = v.object({
  id: v.string(),
  macs: Strings,
  macVendor: v.optional(v.string()),
  ipv4: Strings,
  ipv6: Strings,
  hostnames: Strings,
  dhcpClientId: v.optional(v.string()),
  os: v.array(OsRecord),
  software: v.array(SoftwareRecord),
  threats: v.array(HostThreat),
  firstSeen: Time,
  lastSeen: Time,
});

export const VulnMatch = v.object({
  key: v.string(),
  certainty: v.picklist(['affected', 'possibly-affected']),
  via: v.array(v.object({ criteria: v.string(), hostCpe: v.string() })),
  cvss: v.optional(v.number()),
  summary: v.optional(v.string()),
});

const VulnerabilityThreat = v.object({
  key: v.string(),
  type: v.literal('vulnerability'),
  scheme: Scheme,
  summary: v.optional(v.string()),
  cvss: v.optional(v.number()),
  severity: v.optional(Severity),
  published: v.optional(v.string()),
  configurations: v.array(
    v.pipe(
      v.custom<VulnRecord['configurations'][number]>(() => true),
      documentedMore({ type: 'object', description: 'NVD configurations (nodes of cpeMatch)' }),
    ),
  ),
  source: v.picklist(['nvd', 'scan']),
});

const MalwareThreat = v.object({
  key: v.string(),
  type: v.literal('malware'),
  kind: MalwareKind,
  name: v.string(),
  source: v.string(),
});

const FindingThreat = v.object({
  key: v.pipe(v.string(), v.description('NESSUS:<plugin id> or OPENVAS:<NVT OID>')),
  type: v.literal('finding'),
  name: v.optional(v.string()),
  cvss: v.optional(v.number()),
  severity: v.optional(Severity),
  source: v.string(),
});

/** A threats-db record: a vulnerability (NVD or a scan's stub), a malicious program, a scanner's check. */
export const Threat = v.variant('type', [VulnerabilityThreat, MalwareThreat, FindingThreat]);

export const ImportSummary = v.object({
  observations: Int,
  hostsCreated: Int,
  hostsUpdated: Int,
  skippedDown: Int,
  threatsSeen: Int,
  hostIds: Strings,
  findings: v.pipe(Int, v.description('findings in the report')),
  findingsKept: v.pipe(Int, v.description('findings kept as threats')),
  findingsNotKept: v.pipe(
    v.strictObject({
      informational: v.optional(Int),
      'false-positive': v.optional(Int),
      duplicate: v.optional(Int),
      'over-limit': v.optional(Int),
      'no-identity': v.optional(Int),
    }),
    v.description('findings left out, by reason'),
  ),
  addressesRefused: v.pipe(Int, v.description('addresses that are no IPv4/IPv6 address')),
  badAddresses: Strings,
  hostsRefused: v.pipe(Int, v.description('hosts nothing identified')),
  hostsNotCreated: v.pipe(
    Int,
    v.description("new hosts left out: the import's budget of new hosts was spent"),
  ),
});

export const PassiveStats = v.object({
  running: v.boolean(),
  samples: v.optional(Int),
  unusable: v.optional(Int),
  observations: v.optional(Int),
  written: v.optional(Int),
  overflow: v.optional(Int),
  dhcpPackets: v.optional(v.pipe(Int, v.description('DHCP requests read on the LAN devices'))),
  dhcpUnusable: v.optional(Int),
  leaseReads: v.optional(Int),
  leases: v.optional(Int),
  leaseLinesRejected: v.optional(Int),
  newHostsRefused: v.optional(
    v.pipe(Int, v.description('Observations of a new host left out: the budget of new hosts was spent')),
  ),
  identitiesPerMacRefused: v.optional(
    v.pipe(Int, v.description('Observations left out: their MAC brought too many identities this hour')),
  ),
  lastError: v.optional(v.string()),
});

// The build fails here when a type the inventory answers with and its schema part ways.
export const INVENTORY_DOCUMENTED: Record<string, true> = {
  OsRecord: true satisfies Documents<typeof OsRecord, OsRecordType>,
  SoftwareRecord: true satisfies Documents<typeof SoftwareRecord, SoftwareRecordType>,
  HostThreat: true satisfies Documents<typeof HostThreat, HostThreatType>,
  Host: true satisfies Documents<typeof Host, HostType>,
  VulnMatch: true satisfies Documents<typeof VulnMatch, VulnMatchType>,
  Threat: true satisfies Documents<typeof Threat, VulnRecord | MalwareRecord | FindingRecord>,
  ImportSummary: true satisfies Documents<typeof ImportSummary, ImportSummaryType>,
  PassiveStats: true satisfies Documents<typeof PassiveStats, PassiveFeedStats & { running: true }>,
};
