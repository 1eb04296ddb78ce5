// The remediation routes' part of openapi.json (mounted under /api/v1/remediation): request bodies as
// the valibot schemas of src/api/routes/remediation.ts and src/remediation/rules.ts accept them (a test
// compares fields, required fields and enums), responses as the service returns them.
// One file (about 960 lines): a document section, read beside the routes it describes; #12 replaces it
// with a document generated from the valibot schemas.

import { HOST_THREAT_TYPES, MALWARE_KINDS } from '../inventory/threat.js';
import { DISPATCH_STATUSES, LOOKUP_MODES, REMEDY_MODES } from '../remediation/names.js';
import { THREAT_TYPES } from '../remediation/rules.js';
import {
  errors,
  int,
  type Json,
  jsonBody,
  nullable,
  obj,
  ok,
  pp,
  qp,
  ref,
  str,
  time,
} from './openapi-parts.js';

/** Where the control plane mounts the group (ApiDeps.extraRoutes path). */
export const REMEDIATION_PREFIX = '/remediation';

const arr = (items: Json, extra: Json = {}): Json => ({ type: 'array', items, ...extra });
const bool = (extra: Json = {}): Json => ({ type: 'boolean', ...extra });
const num = (extra: Json = {}): Json => ({ type: 'number', ...extra });
const enumOf = (values: readonly (string | number)[], extra: Json = {}): Json => ({
  type: typeof values[0] === 'number' ? 'integer' : 'string',
  enum: [...values],
  ...extra,
});
/** A request body object: unknown fields are refused (valibot strictObject). */
const strict = (properties: Record<string, Json>, required: string[]): Json => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});
/** A list answer: its items and the paging fields every list carries (src/api/util.ts listAnswer). */
const items = (schema: Json): Json =>
  obj(
    {
      items: arr(schema),
      total: { type: 'integer' },
      offset: { type: 'integer' },
      limit: { oneOf: [{ type: 'integer' }, { type: 'null' }], description: 'null: the list is not cut' },
    },
    ['items', 'total', 'offset', 'limit'],
  );

const SCAN_FORMATS = ['nmap', 'nessus', 'openvas'];
const LOOKUP = enumOf([...LOOKUP_MODES], {
  description:
    'ordered: environment rules, then threat rules, then combined rules (every match); first-hit: stop at the first set that has one; simultaneous: by priority only',
});
const REMEDY_MODE = enumOf([...REMEDY_MODES], {
  description: 'auto: the program when the router stores it, else the file operations',
});
const DISPATCH_STATUS = [...DISPATCH_STATUSES];
const EVIDENCE_SOURCES = [
  'nmap',
  'nessus',
  'openvas',
  'dhcp',
  'tcp-syn',
  'http-ua',
  'banner',
  'agent',
  'manual',
];
const HOST_IDENT = str({ minLength: 1, maxLength: 256, description: 'host id, IP address, MAC or name' });
const REPORT_PATH = str({
  minLength: 2,
  maxLength: 4096,
  description:
    "a regular file directly in the daemon's import directory, <state_dir>/import (no link, at most 64 MiB for a report, 512 MiB for a feed); 'tunguard scan import' copies the file there",
});
const SAFE_NAME = '^[A-Za-z0-9._+@-]+$';
const SAFE_TEXT = '^[A-Za-z0-9 ._+,:=@%/\\\\-]*$';
/** A path: SAFE_TEXT and '?' (Windows' `\\?\C:\` long form). */
const PATH_TEXT = '^[A-Za-z0-9 ._+,:=@%/\\\\?-]*$';
const SHA256 = str({ pattern: '^[0-9a-f]{64}$' });
const QUARANTINE_ID = str({ pattern: '^[0-9a-f]{32}$' });
const PORT = int(1, 65535);
const AGENT_ADDRESS = str({ maxLength: 253, description: 'IPv4 or IPv6 address, or a host name' });
const AGENT_HOST_ID = str({ minLength: 1, maxLength: 128, description: 'the id the agent names itself by' });
const HOST_BINDING = str({
  minLength: 1,
  maxLength: 256,
  description:
    'the inventory host the agent serves (id, address, MAC or name); default: the host known at its address by a MAC, a scan or the admin, else a host of its own',
});
const PUBLIC_KEY = str({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'raw Ed25519 public key, base64url' });
const VERSION = str({ minLength: 1, maxLength: 64 });
const TEXT = str({ minLength: 1, maxLength: 256 });

const ABS_PATH = str({
  minLength: 1,
  maxLength: 4096,
  pattern: PATH_TEXT,
  description:
    "absolute path: /… on a Linux host, C:\\… (or \\\\?\\C:\\…) on a Windows host; the agent checks its platform's spelling",
});
const FILE_NAME = str({ minLength: 1, maxLength: 255, pattern: SAFE_NAME });

/** The agent actions (src/agent/protocol.ts ActionSchema). */
const ACTION: Json = {
  oneOf: [
    strict({ action: { const: 'ping' } }, ['action']),
    strict({ action: { const: 'file.delete' }, location: ABS_PATH, name: FILE_NAME }, [
      'action',
      'location',
      'name',
    ]),
    strict({ action: { const: 'file.quarantine' }, location: ABS_PATH, name: FILE_NAME }, [
      'action',
      'location',
      'name',
    ]),
    strict({ action: { const: 'file.restore' }, quarantineId: QUARANTINE_ID }, ['action', 'quarantineId']),
    strict({ action: { const: 'file.chmod' }, location: ABS_PATH, name: FILE_NAME, mode: int(0, 0o777) }, [
      'action',
      'location',
      'name',
      'mode',
    ]),
    strict(
      {
        action: { const: 'program.run' },
        programId: str({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' }),
        sha256: SHA256,
        content: str({ description: 'the program itself, base64 (a program the router sends)' }),
        location: {
          ...ABS_PATH,
          description: 'where the host stores the program (a program the host keeps)',
        },
        args: arr(str({ maxLength: 1024, pattern: SAFE_TEXT }), { maxItems: 64, default: [] }),
        timeoutMs: int(100, 3_600_000, 60_000),
      },
      ['action', 'programId', 'sha256'],
    ),
  ],
  discriminator: { propertyName: 'action' },
};

const RANGE = {
  ...strict(
    {
      versionStartIncluding: VERSION,
      versionStartExcluding: VERSION,
      versionEndIncluding: VERSION,
      versionEndExcluding: VERSION,
    },
    [],
  ),
  minProperties: 1,
};

const schemas: Record<string, Json> = {
  RiskScore: obj({
    score: num({ minimum: 0, maximum: 10 }),
    level: enumOf(['none', 'low', 'medium', 'high', 'critical']),
  }),
  EvidenceSource: enumOf(EVIDENCE_SOURCES, {
    description: 'dhcp, tcp-syn, http-ua and banner are passive (learned from traffic), with a confidence',
  }),
  OsRecord: obj(
    {
      name: str(),
      vendor: str(),
      family: str(),
      version: str(),
      cpe: str(),
      confidence: int(0, 100),
      source: ref('EvidenceSource'),
      seenAt: time(),
      signature: str({ description: 'p0f-style TCP SYN signature (source tcp-syn)' }),
    },
    ['confidence', 'source', 'seenAt'],
  ),
  SoftwareRecord: obj(
    {
      product: str(),
      vendor: str(),
      version: str(),
      cpe: str(),
      port: PORT,
      protocol: enumOf(['tcp', 'udp']),
      service: str(),
      extra: str({ description: 'banner comment or User-Agent' }),
      confidence: int(0, 100),
      source: ref('EvidenceSource'),
      seenAt: time(),
    },
    ['product', 'confidence', 'source', 'seenAt'],
  ),
  HostThreat: obj(
    {
      key: str({
        description:
          "CVE-…, MALWARE:<kind>:<name>, or the scanner's own id: NESSUS:<plugin>, OPENVAS:<NVT OID>",
      }),
      type: enumOf(['vulnerability', 'malware', 'finding']),
      scheme: enumOf(['CVE', 'BUGTRAQ', 'CNCVE', 'CNNVD']),
      kind: enumOf(MALWARE_KINDS),
      name: str(),
      title: str(),
      port: PORT,
      severity: enumOf(['none', 'low', 'medium', 'high', 'critical']),
      cvss: num(),
      origin: str({ description: 'the part of the scanner that reported it (nmap script vulners, vulscan)' }),
      source: ref('EvidenceSource'),
      seenAt: time(),
    },
    ['key', 'type', 'source', 'seenAt'],
  ),
  Host: obj(
    {
      id: str(),
      macs: arr(str()),
      macVendor: str(),
      ipv4: arr(str()),
      ipv6: arr(str()),
      hostnames: arr(str()),
      dhcpClientId: str(),
      os: arr(ref('OsRecord')),
      software: arr(ref('SoftwareRecord')),
      threats: arr(ref('HostThreat')),
      firstSeen: time(),
      lastSeen: time(),
    },
    ['id', 'macs', 'ipv4', 'ipv6', 'hostnames', 'os', 'software', 'threats', 'firstSeen', 'lastSeen'],
  ),
  HostSummary: obj(
    {
      id: str(),
      ipv4: arr(str()),
      ipv6: arr(str()),
      macs: arr(str()),
      hostnames: arr(str()),
      osName: str({ description: 'the best named OS guess (the detail has every OsRecord as `os`)' }),
      osSource: ref('EvidenceSource'),
      osConfidence: int(0, 100),
      softwareCount: { type: 'integer' },
      software: arr(
        obj(
          {
            product: str(),
            version: str(),
            port: PORT,
            source: ref('EvidenceSource'),
            confidence: int(0, 100),
          },
          ['product', 'source', 'confidence'],
        ),
        { maxItems: 8, description: 'the first software records (the detail has them all)' },
      ),
      threatCount: { type: 'integer' },
      threatKeys: arr(str(), { maxItems: 10 }),
      risk: ref('RiskScore'),
      evidence: arr(enumOf(['agent', 'manual', 'passive', 'scan'])),
      matchingRules: arr(str()),
      agent: bool(),
      lastDispatch: obj({ id: str(), status: enumOf(DISPATCH_STATUS), ruleId: str(), updatedAt: time() }, [
        'id',
        'status',
        'updatedAt',
      ]),
      lastSeen: time(),
    },
    [
      'id',
      'ipv4',
      'ipv6',
      'macs',
      'hostnames',
      'softwareCount',
      'software',
      'threatCount',
      'threatKeys',
      'risk',
      'evidence',
      'matchingRules',
      'agent',
      'lastSeen',
    ],
  ),
  VulnMatch: obj(
    {
      key: str(),
      certainty: enumOf(['affected', 'possibly-affected']),
      via: arr(obj({ criteria: str(), hostCpe: str() })),
      cvss: num(),
      summary: str(),
    },
    ['key', 'certainty', 'via'],
  ),
  Agent: obj(
    {
      hostId: str(),
      address: str(),
      port: PORT,
      agentKey: PUBLIC_KEY,
      pairedAt: time(),
      pairedBy: enumOf(['code', 'key']),
      inventoryHostId: str({ description: 'the inventory host this agent serves, bound when it was paired' }),
    },
    ['hostId', 'address', 'port', 'agentKey', 'pairedAt', 'pairedBy'],
  ),
  HostDetail: obj(
    {
      host: ref('Host'),
      matchedCves: arr(ref('VulnMatch')),
      risk: ref('RiskScore'),
      agent: ref('Agent'),
      matchingRules: arr(obj({ ruleId: str(), set: enumOf(['FIG4', 'FIG5', 'FIG6']), threats: arr(str()) })),
      cveFeedLoaded: {
        type: 'boolean',
        description: 'whether a CVE feed is loaded; without one no CVE can match the host software',
      },
    },
    ['host', 'matchedCves', 'risk', 'matchingRules', 'cveFeedLoaded'],
  ),
  Threat: {
    oneOf: [
      obj(
        {
          key: str(),
          type: { const: 'vulnerability' },
          scheme: enumOf(['CVE', 'BUGTRAQ', 'CNCVE', 'CNNVD']),
          summary: str(),
          cvss: num(),
          severity: str(),
          published: str(),
          configurations: arr({ type: 'object', description: 'NVD configurations (nodes of cpeMatch)' }),
          source: enumOf(['nvd', 'scan']),
        },
        ['key', 'type', 'scheme', 'configurations', 'source'],
      ),
      obj({
        key: str(),
        type: { const: 'malware' },
        kind: enumOf(MALWARE_KINDS),
        name: str(),
        source: str(),
      }),
      obj({
        key: str({ description: 'NESSUS:<plugin id> or OPENVAS:<NVT OID>' }),
        type: { const: 'finding' },
        name: str(),
        cvss: num(),
        severity: enumOf(['none', 'low', 'medium', 'high', 'critical']),
        source: str(),
      }),
    ],
  },
  Environment: {
    ...strict(
      {
        osType: TEXT,
        osVersions: arr(TEXT, { minItems: 1, maxItems: 64 }),
        software: TEXT,
        softwareVersions: arr(VERSION, { minItems: 1, maxItems: 256 }),
        softwareRange: RANGE,
      },
      [],
    ),
    minProperties: 1,
    description: 'network environment data: OS and software identity and version; versions need software',
  },
  ThreatCriteria: {
    ...strict({ type: enumOf(THREAT_TYPES), id: TEXT, includePossible: bool({ default: false }) }, []),
    anyOf: [{ required: ['type'] }, { required: ['id'] }],
    description: 'threat detection data: a type and/or an id (CVE…, BUGTRAQ…, a program name)',
  },
  ProgramRef: strict(
    {
      id: str({ pattern: '^[A-Za-z0-9._-]{1,128}$' }),
      location: TEXT,
      platform: enumOf(['any', 'linux', 'windows', 'macos'], { default: 'any' }),
      sha256: SHA256,
      args: arr(str({ maxLength: 1024 }), { maxItems: 64, default: [] }),
      timeoutMs: int(100, 3_600_000, 60_000),
    },
    ['id', 'location'],
  ),
  FileOp: strict(
    {
      name: str({ pattern: SAFE_NAME }),
      location: TEXT,
      op: enumOf(['delete', 'quarantine', 'restore', 'chmod']),
      mode: int(0, 0o777),
      quarantineId: QUARANTINE_ID,
    },
    ['name', 'location', 'op'],
  ),
  Remedy: strict(
    {
      programs: arr(ref('ProgramRef'), { maxItems: 16, default: [] }),
      fileOps: arr(ref('FileOp'), { maxItems: 64, default: [] }),
    },
    [],
  ),
  Rule: {
    oneOf: ['environment', 'threat', 'combined'].map((kind) => {
      const properties: Record<string, Json> = {
        kind: { const: kind },
        id: str({ pattern: '^[A-Za-z0-9._-]{1,64}$' }),
        name: str({ maxLength: 256 }),
        enabled: bool({ default: true }),
        priority: { type: 'integer', default: 100, description: 'lower runs first within a set' },
        remedy: ref('Remedy'),
      };
      const required = ['kind', 'id', 'remedy'];
      if (kind !== 'threat') {
        properties.environment = ref('Environment');
        required.push('environment');
      }
      if (kind !== 'environment') {
        properties.threat = ref('ThreatCriteria');
        required.push('threat');
      }
      return strict(properties, required);
    }),
    discriminator: { propertyName: 'kind' },
    description: 'environment → remedy, threat → remedy, both → remedy',
  },
  ImportSummary: obj({
    observations: { type: 'integer' },
    hostsCreated: { type: 'integer' },
    hostsUpdated: { type: 'integer' },
    skippedDown: { type: 'integer' },
    threatsSeen: { type: 'integer' },
    hostIds: arr(str()),
    findings: { type: 'integer', description: 'findings in the report' },
    findingsKept: { type: 'integer', description: 'findings kept as threats' },
    findingsNotKept: {
      type: 'object',
      description: 'findings left out, by reason',
      properties: Object.fromEntries(
        ['informational', 'false-positive', 'duplicate', 'over-limit', 'no-identity'].map((k) => [
          k,
          { type: 'integer' },
        ]),
      ),
      additionalProperties: false,
    },
    addressesRefused: { type: 'integer', description: 'addresses that are no IPv4/IPv6 address' },
    badAddresses: arr(str()),
    hostsRefused: { type: 'integer', description: 'hosts nothing identified' },
  }),
  Action: ACTION,
  ProgramInfo: obj(
    {
      id: str(),
      location: str(),
      platform: enumOf(['any', 'linux', 'windows', 'macos']),
      sha256: SHA256,
      size: { type: 'integer' },
      storedAt: time(),
    },
    ['id', 'location', 'platform', 'sha256', 'size', 'storedAt'],
  ),
  AgentResult: obj(
    {
      commandId: str(),
      commandDigest: str(),
      hostId: str(),
      ok: bool(),
      refused: str(),
      reason: str(),
      exitCode: nullable(num()),
      signal: nullable(str()),
      timedOut: bool(),
      outputDigest: str(),
      output: str(),
      quarantineId: str(),
      path: str(),
      startedAt: time(),
      finishedAt: time(),
      durationMs: num(),
    },
    ['commandId', 'commandDigest', 'hostId', 'ok', 'startedAt', 'finishedAt', 'durationMs'],
  ),
  Dispatch: obj(
    {
      id: str(),
      hostId: str(),
      ruleId: str(),
      trigger: enumOf(['manual', 'detection']),
      remedyType: enumOf(['program', 'reference', 'file-op', 'custom']),
      actions: arr({ type: 'object', description: 'an Action; program bytes are not echoed back' }),
      step: { type: 'integer' },
      status: enumOf(DISPATCH_STATUS),
      attempts: { type: 'integer' },
      nextAttemptAt: time(),
      createdAt: time(),
      updatedAt: time(),
      expiresAt: time(),
      results: arr(ref('AgentResult')),
      lastError: str(),
      // The command of the current step once sent: a retry sends the same id.
      inFlight: obj({
        step: { type: 'integer' },
        commandId: str(),
        issuedAt: time(),
        expiresAt: time(),
        sent: bool(),
      }),
      audit: arr(ref('AuditEntry'), { description: 'GET /dispatches/{id} and POST /dispatch only' }),
    },
    [
      'id',
      'hostId',
      'trigger',
      'remedyType',
      'actions',
      'step',
      'status',
      'attempts',
      'createdAt',
      'updatedAt',
      'expiresAt',
      'results',
    ],
  ),
  AuditEntry: obj(
    {
      at: time(),
      step: str({
        description: 'rule.matched, dispatch.queued, dispatch.sent, agent.result, agent.paired, …',
      }),
      hostId: str(),
      dispatchId: str(),
      ruleId: str(),
      detail: { type: 'object' },
    },
    ['at', 'step'],
  ),
  DetectionReport: obj(
    {
      scanned: { type: 'integer' },
      checked: { type: 'integer' },
      queued: arr(str({ description: 'dispatch id' })),
      skipped: arr(obj({ hostId: str(), ruleId: str(), why: str() })),
      missing: arr(str({ description: 'named hosts the inventory does not know' })),
      scanError: str(),
    },
    ['scanned', 'checked', 'queued', 'skipped', 'missing'],
  ),
  DetectionState: obj(
    {
      scheduled: bool({ description: "config detect: option enabled '1' (and remediation running)" }),
      intervalSeconds: num(),
      protectedHosts: arr(str()),
      scan: bool({ description: 'each round runs nmap -sV -O first' }),
      scanLan: bool({ description: "the scan covers the LAN's IPv4 prefixes and checks every host found" }),
      running: bool(),
      nextRunAt: time(),
      last: obj(
        {
          startedAt: time(),
          finishedAt: time(),
          trigger: enumOf(['schedule', 'api']),
          report: ref('DetectionReport'),
        },
        ['startedAt', 'finishedAt', 'trigger', 'report'],
      ),
    },
    ['scheduled', 'running'],
  ),
  RemediateResult: obj({
    hostId: str(),
    queued: arr(
      obj(
        {
          id: str(),
          ruleId: str(),
          set: enumOf(['FIG4', 'FIG5', 'FIG6']),
          remedyType: enumOf(['program', 'reference', 'file-op', 'custom']),
        },
        ['id', 'set', 'remedyType'],
      ),
    ),
    skipped: arr(obj({ ruleId: str(), why: str() })),
  }),
  Pairing: obj({
    id: str({ format: 'uuid' }),
    address: str(),
    port: PORT,
    hostId: str(),
    agentKey: PUBLIC_KEY,
    code: str({ pattern: '^\\d{5}-\\d{5}$' }),
    routerName: str(),
    host: str(),
    startedAt: time(),
    expiresAt: time(),
  }),
  PairingStarted: obj({
    pairingId: str({ format: 'uuid' }),
    code: str({ pattern: '^\\d{5}-\\d{5}$', description: 'show it to the admin; the agent shows the same' }),
    hostId: str(),
    agentKey: PUBLIC_KEY,
    expiresAt: time(),
  }),
  PairingOutcome: obj({ paired: bool(), agent: ref('Agent'), reason: str(), pending: { const: true } }, [
    'paired',
  ]),
  PassiveStats: obj(
    {
      running: bool(),
      samples: { type: 'integer' },
      unusable: { type: 'integer' },
      observations: { type: 'integer' },
      written: { type: 'integer' },
      overflow: { type: 'integer' },
      dhcpPackets: { type: 'integer', description: 'DHCP requests read on the LAN devices' },
      dhcpUnusable: { type: 'integer' },
      leaseReads: { type: 'integer' },
      leases: { type: 'integer' },
      leaseLinesRejected: { type: 'integer' },
      newHostsRefused: {
        type: 'integer',
        description: 'Observations of a new host left out: the budget of new hosts was spent',
      },
      identitiesPerMacRefused: {
        type: 'integer',
        description: 'Observations left out: their MAC brought too many identities this hour',
      },
      lastError: str(),
    },
    ['running'],
  ),
};

const op = (summary: string, responses: Record<string, Json>, extra: Json = {}): Json => ({
  summary,
  ...extra,
  responses,
});

/** The group's paths under `base` (/api/v1/remediation). */
export function remediationPaths(base: string): Record<string, Json> {
  const host = pp('id', 'host id, IP address, MAC or name');
  const p: Record<string, Json> = {
    '/hosts': {
      get: op(
        'LAN hosts with OS, software, threats, risk, matching rules and the last dispatch (one page)',
        {
          '200': ok(
            obj({
              items: arr(ref('HostSummary')),
              total: { type: 'integer' },
              offset: { type: 'integer' },
              limit: { type: 'integer' },
            }),
          ),
          ...errors(400, 401),
        },
        {
          parameters: [
            qp('offset', int(0, 10_000_000, 0), 'hosts to skip (id order)'),
            qp('limit', int(1, 1000, 200), 'at most this many'),
          ],
        },
      ),
    },
    '/hosts/{id}': {
      get: op(
        'One host: every record with its source and confidence, matched CVEs, risk, agent, matching rules',
        { '200': ok(ref('HostDetail')), ...errors(400, 401, 404) },
        { parameters: [host] },
      ),
    },
    '/hosts/{id}/remediate': {
      post: op(
        'Queue the remedy of every rule that matches the host now (skips rules whose dispatch is open)',
        {
          '200': ok(ref('RemediateResult'), 'Nothing queued (no rule matches, or all were skipped)'),
          '202': ok(ref('RemediateResult'), 'Queued'),
          ...errors(400, 401, 404, 409, 413, 415),
        },
        {
          parameters: [host],
          requestBody: jsonBody(strict({ lookup: LOOKUP, mode: REMEDY_MODE }, [])),
        },
      ),
    },
    '/hosts/{id}/threats': {
      post: op(
        'Report a malicious program found on the host',
        {
          '201': ok(obj({ hostId: str(), threats: arr(ref('HostThreat')) }), 'Recorded'),
          ...errors(400, 401, 404, 413, 415),
        },
        {
          parameters: [host],
          requestBody: jsonBody(
            strict(
              {
                type: { const: 'malware' },
                kind: enumOf(MALWARE_KINDS),
                name: str({ minLength: 1, maxLength: 128 }),
              },
              ['type', 'kind', 'name'],
            ),
          ),
        },
      ),
    },
    '/threats': {
      get: op(
        'Known threats (vulnerability records, malicious programs)',
        { '200': ok(items(ref('Threat'))), ...errors(400, 401) },
        {
          parameters: [
            qp('type', enumOf(HOST_THREAT_TYPES), 'only this type'),
            qp('offset', int(0, 10_000_000, 0), 'skip this many (in key order)'),
            qp('limit', int(1, 10_000, 1000), 'at most this many'),
          ],
        },
      ),
    },
    '/threats/feed': {
      post: op(
        'Load an NVD 2.0 JSON feed file that is on the router (streamed)',
        { '201': ok(obj({ loaded: { type: 'integer' } }), 'Loaded'), ...errors(400, 401, 413, 415) },
        { requestBody: jsonBody(strict({ path: REPORT_PATH }, ['path'])) },
      ),
    },
    '/passive': {
      get: op('What the passive inventory (packet samples, DHCP requests and leases) has seen', {
        '200': ok(ref('PassiveStats')),
        ...errors(400, 401),
      }),
    },
    '/programs': {
      get: op('Cleanup programs the router keeps and sends itself (without their bytes)', {
        '200': ok(items(ref('ProgramInfo'))),
        ...errors(400, 401),
      }),
      post: op(
        'Store a cleanup program the router sends itself under (id, location), pinned by its sha256',
        { '201': ok(ref('ProgramInfo'), 'Stored'), ...errors(400, 401, 413, 415) },
        {
          requestBody: jsonBody(
            strict(
              {
                id: str({ pattern: '^[A-Za-z0-9._-]{1,128}$' }),
                location: str({
                  minLength: 1,
                  maxLength: 256,
                  description: "the location a rule's program names",
                }),
                platform: enumOf(['any', 'linux', 'windows', 'macos']),
                content: str({
                  minLength: 1,
                  pattern: '^[A-Za-z0-9+/]*={0,2}$',
                  description: 'the program, base64 (at most 2 MiB of bytes)',
                }),
              },
              ['id', 'location', 'content'],
            ),
          ),
        },
      ),
    },
    '/rules/export': {
      get: op('Every rule as a rules file', {
        '200': ok(obj({ version: { const: 1 }, rules: arr(ref('Rule')) }), 'A rules file (attachment)'),
        ...errors(400, 401),
      }),
    },
    '/rules/import': {
      post: op(
        'Import a rules file (all or nothing)',
        {
          '200': ok(obj({ imported: { type: 'integer' }, removed: { type: 'integer' } })),
          ...errors(400, 401, 413, 415),
        },
        {
          parameters: [
            qp(
              'replace',
              enumOf(['0', '1', 'true', 'false'], { default: 'false' }),
              'drop the rules not in the file',
            ),
          ],
          requestBody: jsonBody({
            type: 'object',
            properties: { version: { const: 1 }, rules: arr(ref('Rule')) },
            required: ['version', 'rules'],
          }),
        },
      ),
    },
    '/rules': {
      get: op('Remediation rules', { '200': ok(items(ref('Rule'))), ...errors(400, 401) }),
      post: op(
        'Create a rule',
        { '201': ok(ref('Rule'), 'Created'), ...errors(400, 401, 409, 413, 415) },
        { requestBody: jsonBody(ref('Rule')) },
      ),
    },
    '/rules/{id}': {
      get: op(
        'One rule',
        { '200': ok(ref('Rule')), ...errors(400, 401, 404) },
        { parameters: [pp('id', 'rule id')] },
      ),
      put: op(
        "Replace a rule (the body's id must be the path's)",
        { '200': ok(ref('Rule')), ...errors(400, 401, 404, 413, 415) },
        { parameters: [pp('id', 'rule id')], requestBody: jsonBody(ref('Rule')) },
      ),
      delete: op(
        'Delete a rule',
        { '200': ok(obj({ deleted: str() })), ...errors(400, 401, 404) },
        { parameters: [pp('id', 'rule id')] },
      ),
    },
    '/scans': {
      post: op(
        'Import a scanner report: the XML itself as the body, or {path, format} of a file on the router',
        { '201': ok(ref('ImportSummary'), 'Imported'), ...errors(400, 401, 413, 415) },
        {
          parameters: [qp('format', enumOf(['auto', ...SCAN_FORMATS], { default: 'auto' }), 'report format')],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: strict(
                  { path: REPORT_PATH, format: enumOf(['auto', ...SCAN_FORMATS], { default: 'auto' }) },
                  ['path'],
                ),
              },
              'application/xml': {
                schema: str({ description: 'nmap XML, Nessus v2 or OpenVAS/GMP report' }),
              },
            },
          },
        },
      ),
    },
    '/detect': {
      get: op('The detection schedule (config detect), whether a round runs now, and the last round', {
        '200': ok(ref('DetectionState')),
        ...errors(400, 401),
      }),
      post: op(
        'One detection round now: over the named hosts (answered with its report), or without hosts the configured round with its scan (started: 202, then GET /detect): match rules, queue remedies',
        {
          '200': ok(ref('DetectionReport'), 'The round over the named hosts'),
          '202': ok(ref('DetectionState'), 'The configured round started'),
          ...errors(400, 401, 413, 415),
        },
        {
          requestBody: jsonBody(
            strict(
              { hosts: arr(HOST_IDENT, { minItems: 1, maxItems: 256 }), lookup: LOOKUP, mode: REMEDY_MODE },
              [],
            ),
          ),
        },
      ),
    },
    '/dispatch': {
      post: op(
        "Queue a remedy for a host's agent: a rule's remedy or explicit actions",
        {
          '202': ok(ref('Dispatch'), 'Queued (with its audit trail)'),
          ...errors(400, 401, 404, 409, 413, 415),
        },
        {
          requestBody: jsonBody({
            ...strict(
              {
                host: HOST_IDENT,
                ruleId: str({ pattern: '^[A-Za-z0-9._-]{1,64}$' }),
                actions: arr(ref('Action'), { minItems: 1, maxItems: 64 }),
                mode: { ...REMEDY_MODE, description: 'with ruleId only' },
                ttlMs: int(1000, 30 * 86_400_000),
              },
              ['host'],
            ),
            oneOf: [{ required: ['ruleId'] }, { required: ['actions'] }],
          }),
        },
      ),
    },
    '/dispatches': {
      get: op(
        'Dispatches, oldest first (program bytes left out)',
        { '200': ok(items(ref('Dispatch'))), ...errors(400, 401) },
        {
          parameters: [
            qp('host', HOST_IDENT, 'only this host'),
            qp('status', enumOf(DISPATCH_STATUS), 'only this status'),
          ],
        },
      ),
    },
    '/dispatches/{id}': {
      get: op(
        'One dispatch with its results and audit trail',
        { '200': ok(ref('Dispatch')), ...errors(400, 401, 404) },
        { parameters: [pp('id', 'dispatch id')] },
      ),
    },
    '/agents': {
      get: op('Paired agents', { '200': ok(items(ref('Agent'))), ...errors(400, 401) }),
      post: op(
        "Pair by a copied key: store the agent's key; the answer carries the router's key to pin on the host",
        {
          '201': ok(obj({ agent: ref('Agent'), routerKey: PUBLIC_KEY }), 'Paired'),
          ...errors(400, 401, 409, 413, 415),
        },
        {
          requestBody: jsonBody(
            strict(
              {
                hostId: AGENT_HOST_ID,
                address: AGENT_ADDRESS,
                port: PORT,
                agentKey: PUBLIC_KEY,
                host: HOST_BINDING,
              },
              ['hostId', 'address', 'port', 'agentKey'],
            ),
          ),
        },
      ),
    },
    '/agents/pairings': {
      get: op('Pairings started by code and not yet confirmed (kept across restarts until they expire)', {
        '200': ok(items(ref('Pairing'))),
        ...errors(400, 401),
      }),
    },
    '/agents/pair': {
      post: op(
        'Start pairing with an agent in pairing mode; both sides show the same code',
        { '201': ok(ref('PairingStarted'), 'Started'), ...errors(400, 401, 409, 413, 415, 502) },
        {
          requestBody: jsonBody(
            strict(
              {
                address: AGENT_ADDRESS,
                port: PORT,
                routerName: str({ minLength: 1, maxLength: 64 }),
                host: HOST_BINDING,
              },
              ['address', 'port'],
            ),
          ),
        },
      ),
    },
    '/agents/pair/confirm': {
      post: op(
        'Say whether the codes matched; the agent is stored once the host accepted too',
        {
          '200': ok(ref('PairingOutcome'), 'Not paired (rejected by the admin or the host)'),
          '201': ok(ref('PairingOutcome'), 'Paired'),
          '202': ok(ref('PairingOutcome'), 'The host has not accepted yet: confirm again later'),
          ...errors(400, 401, 404, 409, 413, 415, 502),
        },
        {
          requestBody: jsonBody(
            strict({ pairingId: str({ format: 'uuid' }), accept: bool({ default: true }) }, ['pairingId']),
          ),
        },
      ),
    },
    '/agents/{id}': {
      delete: op(
        'Forget a paired agent (its key is no longer trusted)',
        { '200': ok(obj({ deleted: str() })), ...errors(400, 401, 404) },
        { parameters: [pp('id', 'host id the agent was paired under')] },
      ),
    },
    '/audit': {
      get: op(
        'The audit log, in time order (newest `limit`)',
        { '200': ok(items(ref('AuditEntry'))), ...errors(400, 401) },
        {
          parameters: [
            qp('offset', int(0, 10_000_000, 0), 'skip this many of the newest'),
            qp('limit', int(1, 10_000, 100), 'at most this many (given oldest first)'),
            qp('host', HOST_IDENT, 'only this host'),
            qp('dispatch', str({ pattern: '^[A-Za-z0-9-]{1,64}$' }), 'only this dispatch'),
          ],
        },
      ),
    },
  };
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [`${base}${k}`, v]));
}

/** The component schemas the paths refer to. */
export function remediationSchemas(): Record<string, Json> {
  return schemas;
}
