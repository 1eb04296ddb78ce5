// What the remediation routes answer, as valibot schemas the document is generated from. The types stay
// where the service builds them (inventory, remediation, state: the API depends on them, not the other
// way); `documents` below makes the build fail when a type and its schema part ways.

import * as v from 'valibot';
import { ActionSchema, PublicKeyText, type Result, ResultSchema } from '../agent/protocol.js';
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
import { type AgentRecord, AgentRecordSchema } from '../remediation/agents.js';
import type { DetectionReport as DetectionReportType } from '../remediation/detector.js';
import { DISPATCH_STATUSES } from '../remediation/names.js';
import type { PendingPairing } from '../remediation/pairings.js';
import type { ProgramInfo as ProgramInfoType } from '../remediation/programs.js';
import type { Dispatch as DispatchType } from '../remediation/queue.js';
import {
  EnvironmentSchema,
  FileOpSchema,
  ProgramRefSchema,
  RemedySchema,
  RuleSchema,
  ThreatCriteriaSchema,
} from '../remediation/rules.js';
import type {
  DetectionState as DetectionStateType,
  HostDetail as HostDetailType,
  HostSummary as HostSummaryType,
  PairingOutcome as PairingOutcomeType,
  RemediateResult as RemediateResultType,
  RiskScore as RiskScoreType,
} from '../remediation/service.js';
import type { AuditEntry as AuditEntryType } from '../state/durable-audit.js';
import { documented, documentedMore, Int, Time } from './schema-parts.js';

const Strings = v.array(v.string());
const Port = v.pipe(Int, v.minValue(1), v.maxValue(65535));
const Confidence = v.pipe(Int, v.minValue(0), v.maxValue(100));
const Severity = v.picklist(SEVERITIES);
const Scheme = v.picklist(['CVE', 'BUGTRAQ', 'CNCVE', 'CNNVD']);
const MalwareKind = v.picklist(MALWARE_KINDS);
const Sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));
const PublicKey = v.pipe(PublicKeyText, v.description('raw Ed25519 public key, base64url'));
const PairingCode = v.pipe(v.string(), v.regex(/^\d{5}-\d{5}$/));
const Uuid = v.pipe(v.string(), v.uuid());
/** The rule set a match came from (match.ts: environment, threat, combined rules); the service types it as text. */
const RuleSet = v.pipe(v.string(), documented<string>({ type: 'string', enum: ['FIG4', 'FIG5', 'FIG6'] }));
const RemedyType = v.picklist(['program', 'reference', 'file-op', 'custom']);

/** A list answer (src/api/util.ts listAnswer): its items and the paging fields every list carries. */
export const listOf = <T extends v.GenericSchema>(item: T) =>
  v.object({
    items: v.array(item),
    total: Int,
    offset: Int,
    limit: v.nullable(v.pipe(Int, v.description('null: the list is not cut'))),
  });

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

export const HostSummary = v.object({
  id: v.string(),
  ipv4: Strings,
  ipv6: Strings,
  macs: Strings,
  hostnames: Strings,
  osName: v.optional(
    v.pipe(v.string(), v.description('the best named OS guess (the detail has every OsRecord as `os`)')),
  ),
  osSource: v.optional(EvidenceSource),
  osConfidence: v.optional(Confidence),
  softwareCount: Int,
  software: v.pipe(
    v.array(
      v.object({
        product: v.string(),
        version: v.optional(v.string()),
        port: v.optional(Port),
        source: EvidenceSource,
        confidence: Confidence,
      }),
    ),
    v.maxLength(8),
    v.description('the first software records (the detail has them all)'),
  ),
  threatCount: Int,
  threatKeys: v.pipe(Strings, v.maxLength(10)),
  risk: RiskScore,
  evidence: v.array(v.picklist(['agent', 'manual', 'passive', 'scan'])),
  matchingRules: Strings,
  agent: v.boolean(),
  lastDispatch: v.optional(
    v.object({
      id: v.string(),
      status: v.picklist(DISPATCH_STATUSES),
      ruleId: v.optional(v.string()),
      updatedAt: Time,
    }),
  ),
  lastSeen: Time,
});

export const VulnMatch = v.object({
  key: v.string(),
  certainty: v.picklist(['affected', 'possibly-affected']),
  via: v.array(v.object({ criteria: v.string(), hostCpe: v.string() })),
  cvss: v.optional(v.number()),
  summary: v.optional(v.string()),
});

/** A paired agent as the router stores it (agents.ts) and when and how it was paired. */
export const Agent = v.object({
  ...AgentRecordSchema.entries,
  agentKey: PublicKey,
  pairedAt: Time,
  pairedBy: v.picklist(['code', 'key']),
  inventoryHostId: v.optional(
    v.pipe(v.string(), v.description('the inventory host this agent serves, bound when it was paired')),
  ),
});

export const HostDetail = v.object({
  host: Host,
  matchedCves: v.array(VulnMatch),
  risk: RiskScore,
  agent: v.optional(Agent),
  matchingRules: v.array(v.object({ ruleId: v.string(), set: RuleSet, threats: Strings })),
  cveFeedLoaded: v.pipe(
    v.boolean(),
    v.description('whether a CVE feed is loaded; without one no CVE can match the host software'),
  ),
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

export const ProgramInfo = v.object({
  id: v.string(),
  location: v.string(),
  platform: v.picklist(['any', 'linux', 'windows', 'macos']),
  sha256: Sha256,
  size: Int,
  storedAt: Time,
});

/** An agent's verified result, as the protocol defines it (its times in the API's one form). */
export const AgentResult = v.object({ ...ResultSchema.entries, startedAt: Time, finishedAt: Time });

export const AuditEntry = v.object({
  at: Time,
  step: v.pipe(
    v.string(),
    v.description('rule.matched, dispatch.queued, dispatch.sent, agent.result, agent.paired, …'),
  ),
  hostId: v.optional(v.string()),
  dispatchId: v.optional(v.string()),
  ruleId: v.optional(v.string()),
  detail: v.optional(v.record(v.string(), v.unknown())),
});

const dispatchEntries = {
  id: v.string(),
  hostId: v.string(),
  ruleId: v.optional(v.string()),
  trigger: v.picklist(['manual', 'detection']),
  remedyType: RemedyType,
  step: Int,
  status: v.picklist(DISPATCH_STATUSES),
  attempts: Int,
  nextAttemptAt: Time,
  createdAt: Time,
  updatedAt: Time,
  expiresAt: Time,
  results: v.array(AgentResult),
  lastError: v.optional(v.string()),
  // The command of the current step once sent: a retry sends the same id.
  inFlight: v.optional(
    v.object({ step: Int, commandId: v.string(), issuedAt: Time, expiresAt: Time, sent: v.boolean() }),
  ),
};
/** An action of a dispatch as answered (a sent program's bytes are left out). */
const AnsweredAction = v.pipe(
  v.record(v.string(), v.unknown()),
  v.description('an Action; program bytes are not echoed back'),
);

/** A dispatch as the queue keeps it; GET /dispatches/{id} and POST /dispatch add its audit trail. */
export const Dispatch = v.object({
  ...dispatchEntries,
  actions: v.array(AnsweredAction),
  audit: v.optional(
    v.pipe(v.array(AuditEntry), v.description('GET /dispatches/{id} and POST /dispatch only')),
  ),
});

export const DetectionReport = v.object({
  scanned: Int,
  checked: Int,
  queued: v.array(v.pipe(v.string(), v.description('dispatch id'))),
  skipped: v.array(v.object({ hostId: v.string(), ruleId: v.string(), why: v.string() })),
  missing: v.array(v.pipe(v.string(), v.description('named hosts the inventory does not know'))),
  scanError: v.optional(v.string()),
});

export const DetectionState = v.object({
  scheduled: v.pipe(
    v.boolean(),
    v.description("config detect: option enabled '1' (and remediation running)"),
  ),
  intervalSeconds: v.optional(v.number()),
  protectedHosts: v.optional(Strings),
  scan: v.optional(v.pipe(v.boolean(), v.description('each round runs nmap -sV -O first'))),
  scanLan: v.optional(
    v.pipe(v.boolean(), v.description("the scan covers the LAN's IPv4 prefixes and checks every host found")),
  ),
  running: v.boolean(),
  nextRunAt: v.optional(Time),
  last: v.optional(
    v.object({
      startedAt: Time,
      finishedAt: Time,
      trigger: v.picklist(['schedule', 'api']),
      report: DetectionReport,
    }),
  ),
});

export const RemediateResult = v.object({
  hostId: v.string(),
  queued: v.array(
    v.object({ id: v.string(), ruleId: v.optional(v.string()), set: RuleSet, remedyType: RemedyType }),
  ),
  skipped: v.array(v.object({ ruleId: v.string(), why: v.string() })),
});

export const Pairing = v.object({
  id: Uuid,
  address: v.string(),
  port: Port,
  hostId: v.string(),
  agentKey: PublicKey,
  code: PairingCode,
  routerName: v.string(),
  host: v.optional(v.string()),
  startedAt: Time,
  expiresAt: Time,
});

export const PairingStarted = v.object({
  pairingId: Uuid,
  code: v.pipe(PairingCode, v.description('show it to the admin; the agent shows the same')),
  hostId: v.string(),
  agentKey: PublicKey,
  expiresAt: Time,
});

export const PairingOutcome = v.object({
  paired: v.boolean(),
  agent: v.optional(Agent),
  reason: v.optional(v.string()),
  pending: v.optional(v.literal(true)),
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

export const Deleted = v.object({ deleted: v.string() });
export const ThreatsRecorded = v.object({ hostId: v.string(), threats: v.array(HostThreat) });
export const FeedLoaded = v.object({ loaded: Int });
export const Rule = RuleSchema;
export const RulesFileAnswer = v.object({ version: v.literal(1), rules: v.array(Rule) });
export const RulesImported = v.object({ imported: Int, removed: Int });
export const AgentKeyAdded = v.object({ agent: Agent, routerKey: PublicKey });
export const HostPage = v.object({ items: v.array(HostSummary), total: Int, offset: Int, limit: Int });

/** The component schemas of the remediation part of the document, by name. */
export const REMEDIATION_COMPONENTS = {
  RiskScore,
  EvidenceSource,
  OsRecord,
  SoftwareRecord,
  HostThreat,
  Host,
  HostSummary,
  VulnMatch,
  Agent,
  HostDetail,
  Threat,
  Environment: EnvironmentSchema,
  ThreatCriteria: ThreatCriteriaSchema,
  ProgramRef: ProgramRefSchema,
  FileOp: FileOpSchema,
  Remedy: RemedySchema,
  Rule,
  ImportSummary,
  Action: ActionSchema,
  ProgramInfo,
  AgentResult,
  Dispatch,
  AuditEntry,
  DetectionReport,
  DetectionState,
  RemediateResult,
  Pairing,
  PairingStarted,
  PairingOutcome,
  PassiveStats,
};

/**
 * True when every value of type T is an answer schema S documents and T has no field S leaves out (the
 * top level: nested fields are held by assignability).
 */
type Documents<S extends v.GenericSchema, T> = [T] extends [v.InferOutput<S>]
  ? [Exclude<keyof T, keyof v.InferOutput<S>>] extends [never]
    ? true
    : never
  : never;
type DispatchStatusAnswer = Omit<DispatchType, 'actions'> & {
  actions: Array<Record<string, unknown>>;
  audit: AuditEntryType[];
};

// The build fails here when a type the service answers with and its schema part ways.
export const DOCUMENTED: Record<string, true> = {
  RiskScore: true satisfies Documents<typeof RiskScore, RiskScoreType>,
  OsRecord: true satisfies Documents<typeof OsRecord, OsRecordType>,
  SoftwareRecord: true satisfies Documents<typeof SoftwareRecord, SoftwareRecordType>,
  HostThreat: true satisfies Documents<typeof HostThreat, HostThreatType>,
  Host: true satisfies Documents<typeof Host, HostType>,
  HostSummary: true satisfies Documents<typeof HostSummary, HostSummaryType>,
  VulnMatch: true satisfies Documents<typeof VulnMatch, VulnMatchType>,
  Agent: true satisfies Documents<typeof Agent, AgentRecord>,
  HostDetail: true satisfies Documents<typeof HostDetail, HostDetailType>,
  Threat: true satisfies Documents<typeof Threat, VulnRecord | MalwareRecord | FindingRecord>,
  ImportSummary: true satisfies Documents<typeof ImportSummary, ImportSummaryType>,
  ProgramInfo: true satisfies Documents<typeof ProgramInfo, ProgramInfoType>,
  AgentResult: true satisfies Documents<typeof AgentResult, Result>,
  Dispatch: true satisfies Documents<typeof Dispatch, DispatchType | DispatchStatusAnswer>,
  AuditEntry: true satisfies Documents<typeof AuditEntry, AuditEntryType>,
  DetectionReport: true satisfies Documents<typeof DetectionReport, DetectionReportType>,
  DetectionState: true satisfies Documents<typeof DetectionState, DetectionStateType>,
  RemediateResult: true satisfies Documents<typeof RemediateResult, RemediateResultType>,
  Pairing: true satisfies Documents<typeof Pairing, PendingPairing>,
  PairingOutcome: true satisfies Documents<typeof PairingOutcome, PairingOutcomeType>,
  PassiveStats: true satisfies Documents<typeof PassiveStats, PassiveFeedStats & { running: true }>,
};
