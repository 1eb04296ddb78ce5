// What the remediation routes answer, as valibot schemas the document is generated from (the inventory's
// facts are in host-answers.ts). The types stay where the service builds them (remediation, state: the
// API depends on them, not the other way); `Documents` below fails the build when a type and its
// schema part ways.

import * as v from 'valibot';
import { ActionSchema, PublicKeyText, type Result, ResultSchema } from '../agent/protocol.js';
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
import type { Documents } from './answer-check.js';
import {
  Confidence,
  EvidenceSource,
  Host,
  HostThreat,
  ImportSummary,
  OsRecord,
  PassiveStats,
  Port,
  RiskScore,
  SoftwareRecord,
  Strings,
  Threat,
  VulnMatch,
} from './host-answers.js';
import { documented, Int, Time } from './schema-parts.js';

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

type DispatchStatusAnswer = Omit<DispatchType, 'actions'> & {
  actions: Array<Record<string, unknown>>;
  audit: AuditEntryType[];
};

// The build fails here when a type the service answers with and its schema part ways.
export const DOCUMENTED: Record<string, true> = {
  RiskScore: true satisfies Documents<typeof RiskScore, RiskScoreType>,
  HostSummary: true satisfies Documents<typeof HostSummary, HostSummaryType>,
  Agent: true satisfies Documents<typeof Agent, AgentRecord>,
  HostDetail: true satisfies Documents<typeof HostDetail, HostDetailType>,
  ProgramInfo: true satisfies Documents<typeof ProgramInfo, ProgramInfoType>,
  AgentResult: true satisfies Documents<typeof AgentResult, Result>,
  Dispatch: true satisfies Documents<typeof Dispatch, DispatchType | DispatchStatusAnswer>,
  AuditEntry: true satisfies Documents<typeof AuditEntry, AuditEntryType>,
  DetectionReport: true satisfies Documents<typeof DetectionReport, DetectionReportType>,
  DetectionState: true satisfies Documents<typeof DetectionState, DetectionStateType>,
  RemediateResult: true satisfies Documents<typeof RemediateResult, RemediateResultType>,
  Pairing: true satisfies Documents<typeof Pairing, PendingPairing>,
  PairingOutcome: true satisfies Documents<typeof PairingOutcome, PairingOutcomeType>,
};
