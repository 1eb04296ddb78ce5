// The OpenAPI 3.1 description served at /api/v1/openapi.json, written beside the schemas (schemas.ts,
// deps.ts). A test holds it equal to the routes the app really has.

import { CONNECTION_STATES } from './deps.js';
import { CONTROL_EVENT_TYPES } from './events.js';
import {
  errors,
  int,
  type Json,
  jsonBody,
  map,
  nullable,
  obj,
  ok,
  pp,
  qp,
  ref,
  str,
  time,
} from './openapi-parts.js';
import { REMEDIATION_PREFIX, remediationPaths, remediationSchemas } from './openapi-remediation.js';
import { MAX_API_CONFIG_BYTES } from './schemas.js';

const PREFIX = str({ description: 'IPv4/IPv6 address or CIDR prefix with host bits clear', maxLength: 64 });
const LIMIT = qp('limit', int(1, 1000, 100), 'at most this many items');

/** What every list answer carries beside its items (src/api/util.ts listAnswer). */
const PAGING: Record<string, Json> = {
  total: { type: 'integer', description: 'items in all' },
  offset: { type: 'integer' },
  limit: nullable({ type: 'integer', description: 'at most this many from offset; null: not cut' }),
};

const schemas: Record<string, Json> = {
  Error: obj(
    {
      error: str({ description: 'machine-readable code: bad_request, unauthorized, not_found, ...' }),
      detail: str({ description: 'what is wrong, for a human' }),
      issues: {
        type: 'array',
        items: obj({ path: str(), line: { type: 'integer' }, message: str() }, ['message']),
      },
    },
    ['error', 'detail'],
  ),
  Time: {
    type: 'integer',
    minimum: 0,
    description:
      "ms since the Unix epoch (UTC). The one form of every time in the API, the event stream and the CLI --json: sorts and subtracts without parsing, in JavaScript (new Date(ms)) and in the router's Lua alike",
  },
  Tier: { type: 'string', enum: ['normal', 'moderate', 'risky'] },
  Status: obj(
    {
      tier: nullable(ref('Tier')),
      halfOpen: nullable({ type: 'integer' }),
      counters: map({ type: 'number' }),
      drops: map({ type: 'number' }),
      perWorker: { type: 'array', items: map({ type: 'number' }) },
      uptimeSeconds: { type: 'number' },
      version: str(),
      startedAt: time(),
      notes: map(str()),
      config: ref('ConfigStatus'),
    },
    ['tier', 'halfOpen', 'counters', 'drops', 'perWorker', 'uptimeSeconds', 'version', 'startedAt'],
  ),
  ReloadRecord: obj({
    at: time(),
    trigger: { type: 'string', enum: ['sighup', 'api'] },
    result: { type: 'string', enum: ['applied', 'refused'] },
    changed: { type: 'array', items: str() },
    applied: { type: 'array', items: str() },
    notApplied: { type: 'array', items: obj({ part: str(), reason: str() }) },
    problems: { type: 'array', items: str(), description: 'why the file was refused, one per line' },
  }),
  ConfigStatus: obj({
    path: nullable(str({ description: 'the config file; null: built-in defaults' })),
    sha256: str({ description: 'SHA-256 of the configuration text in force' }),
    inForce: {
      type: 'string',
      enum: ['file', 'last-good', 'file-without-errors', 'defaults'],
      description: 'the file, or what runs instead because the file had errors at start',
    },
    since: time(),
    problems: { type: 'array', items: str(), description: 'why the file on disk is not in force' },
    pendingRestart: { type: 'array', items: str() },
    lastReload: nullable(ref('ReloadRecord')),
  }),
  TierChange: obj({
    at: time(),
    from: nullable(ref('Tier')),
    to: ref('Tier'),
    synsInWindow: { type: 'integer' },
  }),
  Tiers: obj(
    {
      current: nullable(ref('Tier')),
      thresholds: obj({
        windowSeconds: { type: 'integer' },
        moderate: { type: 'integer' },
        risky: { type: 'integer' },
      }),
      items: { type: 'array', items: ref('TierChange') },
      ...PAGING,
      note: str(),
    },
    ['current', 'thresholds', 'items', 'total', 'offset', 'limit'],
  ),
  Connection: obj({
    id: str(),
    family: { type: 'integer', enum: [4, 6] },
    src: str(),
    sport: { type: 'integer' },
    dst: str(),
    dport: { type: 'integer' },
    state: { type: 'string', enum: [...CONNECTION_STATES] },
    direction: { type: 'string', enum: ['inbound', 'outbound'] },
    firstSeenAt: time(),
    updatedAt: time(),
  }),
  ConnectionPage: obj(
    {
      items: { type: 'array', items: ref('Connection') },
      total: { type: 'integer' },
      offset: { type: 'integer' },
      limit: { type: 'integer' },
      note: str(),
    },
    ['items', 'total', 'offset', 'limit'],
  ),
  Attacker: obj({
    address: str(),
    family: { type: 'integer', enum: [4, 6] },
    reason: str(),
    unfinished: nullable({ type: 'integer' }),
    markedAt: time(),
    expiresAt: time(),
    marks: { type: 'integer' },
  }),
  Attackers: obj({ items: { type: 'array', items: ref('Attacker') }, ...PAGING, note: str() }, [
    'items',
    'total',
    'offset',
    'limit',
  ]),
  ClearResult: obj({ cleared: { type: 'integer' }, dataplaneNotified: { type: 'boolean' }, note: str() }, [
    'cleared',
    'dataplaneNotified',
  ]),
  Bucket: obj({
    enabled: { type: 'boolean' },
    rate: { type: 'integer' },
    burst: { type: 'integer' },
    perSourceRate: { type: 'integer' },
    perSourceBurst: { type: 'integer' },
    packetsPerSecond: { type: 'number' },
    dropped: map({ type: 'number' }),
  }),
  RateLimit: obj({ enforced: { type: 'boolean' }, icmp: ref('Bucket'), udp: ref('Bucket'), note: str() }, [
    'enforced',
    'icmp',
    'udp',
  ]),
  ConfigIssue: obj({ line: { type: 'integer' }, column: { type: 'integer' }, message: str() }, [
    'line',
    'message',
  ]),
  ConfigView: obj({
    path: nullable(str()),
    persisted: { type: 'boolean' },
    etag: str(),
    uci: str(),
    config: { type: 'object', description: 'the parsed TunguardConfig (src/config/schema.ts)' },
    warnings: { type: 'array', items: ref('ConfigIssue') },
    pendingRestart: { type: 'array', items: str() },
  }),
  ConfigApply: obj({
    view: ref('ConfigView'),
    applied: { type: 'array', items: str() },
    pendingRestart: { type: 'array', items: str() },
    notApplied: { type: 'array', items: obj({ part: str(), reason: str() }) },
  }),
  ConfigCheck: obj({
    valid: { type: 'boolean' },
    issues: { type: 'array', items: ref('ConfigIssue') },
    warnings: { type: 'array', items: ref('ConfigIssue') },
  }),
  UciBody: {
    type: 'object',
    properties: { uci: str({ description: `UCI text, at most ${MAX_API_CONFIG_BYTES} bytes` }) },
    required: ['uci'],
    additionalProperties: false,
  },
  AllowEntry: obj({ cidr: str(), family: { type: 'integer', enum: [4, 6] }, section: str(), comment: str() }),
  AllowList: obj({
    items: { type: 'array', items: ref('AllowEntry') },
    ...PAGING,
    persisted: { type: 'boolean' },
  }),
  AllowChange: obj({
    entry: ref('AllowEntry'),
    changed: { type: 'boolean' },
    persisted: { type: 'boolean' },
  }),
};

const responses: Record<string, Json> = Object.fromEntries(
  [
    [400, 'Bad input (the issues say which field and why)'],
    [401, 'Missing or wrong bearer token'],
    [404, 'No such resource'],
    [409, 'Conflict'],
    [412, 'If-Match does not match the current configuration'],
    [413, 'Request body too large'],
    [415, 'Body is not application/json'],
    [422, 'The configuration is invalid (issues carry the UCI line)'],
    [502, "The host's agent could not be reached or answered wrongly"],
    [503, 'Too many event-stream clients, or the service is unavailable'],
  ].map(([code, description]) => [
    `E${code}`,
    { description, content: { 'application/json': { schema: ref('Error') } } },
  ]),
);

const get = (summary: string, response: Json, parameters: Json[] = [], codes = [400, 401]): Json => ({
  get: { summary, parameters, responses: { '200': response, ...errors(...codes) } },
});

/**
 * The document (built once). `mounted` names the extra route groups the app serves (ApiDeps.extraRoutes
 * paths, e.g. '/remediation'): their paths are described only when they are there.
 */
export function openApiDocument(version: string, mounted: readonly string[] = []): Json {
  const paths: Record<string, Json> = {
    '/healthz': {
      get: {
        summary: 'Liveness probe (no auth, no details)',
        security: [],
        responses: {
          '200': ok(obj({ ok: { type: 'boolean' } })),
          '503': ok(obj({ ok: { type: 'boolean' } }), 'Unhealthy'),
        },
      },
    },
    '/metrics': get('Prometheus text exposition', ok(str(), 'OK', 'text/plain'), [], [401]),
    '/api/v1/openapi.json': get('This document', ok({ type: 'object' }), [], [401]),
    '/api/v1/status': get('Tier, half-open handshakes, counters, uptime, version', ok(ref('Status'))),
    '/api/v1/tiers': get('Tier changes, newest first', ok(ref('Tiers')), [LIMIT]),
    '/api/v1/ratelimit': get('ICMP and UDP rate limits and what they dropped', ok(ref('RateLimit'))),
    '/api/v1/connections': get('Proxied connections, paged and filtered', ok(ref('ConnectionPage')), [
      qp('offset', int(0, 10_000_000, 0), 'skip this many'),
      qp('limit', int(1, 1000, 50), 'page size'),
      qp('src', PREFIX, 'source address or prefix'),
      qp('dst', PREFIX, 'destination address or prefix'),
      qp('port', int(1, 65535), 'either port'),
      qp('state', { type: 'string', enum: [...CONNECTION_STATES] }, 'connection state'),
      qp('family', { type: 'string', enum: ['4', '6'] }, 'address family'),
    ]),
    '/api/v1/attackers': {
      ...get('Sources marked aggressive', ok(ref('Attackers')), [LIMIT]),
      delete: {
        summary: 'Clear every mark',
        responses: { '200': ok(ref('ClearResult')), ...errors(400, 401) },
      },
    },
    '/api/v1/attackers/{address}': {
      delete: {
        summary: "Clear one source's mark",
        parameters: [pp('address', 'IPv4 or IPv6 address')],
        responses: { '200': ok(ref('ClearResult')), ...errors(400, 401, 404) },
      },
    },
    '/api/v1/config': {
      ...get('The configuration in force (UCI text and parsed)', ok(ref('ConfigView')), [], [400, 401]),
      put: {
        summary: 'Replace the configuration: validated, persisted atomically, applied',
        parameters: [{ name: 'If-Match', in: 'header', schema: str(), description: 'etag from GET' }],
        requestBody: jsonBody(ref('UciBody')),
        responses: { '200': ok(ref('ConfigApply')), ...errors(400, 401, 412, 413, 415, 422) },
      },
    },
    '/api/v1/config/check': {
      post: {
        summary: 'Validate UCI text without applying it',
        requestBody: jsonBody(ref('UciBody')),
        responses: { '200': ok(ref('ConfigCheck')), ...errors(400, 401, 413, 415) },
      },
    },
    '/api/v1/allowlist': {
      ...get('Prefixes exempt from the defenses', ok(ref('AllowList'))),
      post: {
        summary: 'Add a prefix (its own `config allow` section)',
        requestBody: jsonBody({
          type: 'object',
          properties: {
            cidr: PREFIX,
            prefix: {
              ...PREFIX,
              deprecated: true,
              description:
                'the old name of cidr, taken until the next release (answered with a Deprecation header)',
            },
            comment: str({ maxLength: 200 }),
          },
          oneOf: [{ required: ['cidr'] }, { required: ['prefix'] }],
          additionalProperties: false,
        }),
        responses: {
          '200': ok(ref('AllowChange'), 'Already there'),
          '201': ok(ref('AllowChange'), 'Added'),
          ...errors(400, 401, 413, 415, 422),
        },
      },
    },
    '/api/v1/allowlist/{address}': {
      delete: {
        summary: 'Remove a host prefix (/32 or /128)',
        parameters: [pp('address', 'address')],
        responses: { '200': ok(ref('AllowChange')), ...errors(400, 401, 404) },
      },
    },
    '/api/v1/allowlist/{address}/{bits}': {
      delete: {
        summary: 'Remove a prefix',
        parameters: [pp('address', 'network address'), pp('bits', 'prefix length')],
        responses: { '200': ok(ref('AllowChange')), ...errors(400, 401, 404) },
      },
    },
    '/api/v1/events': get(
      `Server-Sent Events: hello, then ${CONTROL_EVENT_TYPES.join(', ')}; 'dropped' when a slow client lost events`,
      ok(str(), 'An event stream', 'text/event-stream'),
      [
        qp(
          'types',
          str({ description: `comma-separated among ${CONTROL_EVENT_TYPES.join(', ')}` }),
          'only these types',
        ),
      ],
      [400, 401, 503],
    ),
  };
  const allSchemas = { ...schemas };
  if (mounted.includes(REMEDIATION_PREFIX)) {
    Object.assign(paths, remediationPaths(`/api/v1${REMEDIATION_PREFIX}`));
    Object.assign(allSchemas, remediationSchemas());
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'tunguard control API',
      version,
      description:
        'Bearer token in every request but /healthz and the dashboard page; the token is in the file ' +
        'named by the api token_file option (default <state-dir>/api.token). Errors are {error, detail}.',
    },
    servers: [{ url: 'http://127.0.0.1:7447' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: allSchemas,
      responses,
    },
  };
}
