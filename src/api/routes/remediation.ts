// The remediation service over HTTP (mounted under /api/v1/remediation): hosts, threats, rules CRUD with
// import/export, scanner report imports, dispatch and dispatch status, agents (pairing by code or by a
// copied key) and the audit log. Every input is validated with valibot; what a client can get wrong is a
// 4xx with the reason, never a 5xx (an agent that cannot be reached is a 502).
// One file (about 710 lines): one hono sub-app whose routes share the service, the input schemas, the
// body limits and the error mapping; REMEDIATION_INPUTS at the end lists them for the document's test.

import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import * as v from 'valibot';
import { ActionSchema, PublicKeyText } from '../../agent/protocol.js';
import { ImportError, SCAN_FORMATS } from '../../inventory/import/index.js';
import { HOST_THREAT_TYPES, MALWARE_KINDS } from '../../inventory/threat.js';
import { AgentError } from '../../remediation/agent-client.js';
import {
  ImportFileError,
  MAX_FEED_FILE,
  MAX_REPORT_BODY,
  MAX_REPORT_FILE,
  openImportFile,
} from '../../remediation/import-file.js';
import { choices, DISPATCH_STATUSES, LOOKUP_MODES, REMEDY_MODES } from '../../remediation/names.js';
import { MAX_PROGRAM_BYTES } from '../../remediation/programs.js';
import { RuleError, RuleSchema } from '../../remediation/rules.js';
import type { RemediationService } from '../../remediation/service.js';
import { ApiError, validationIssues } from '../errors.js';
import { documented, documentedMore } from '../schema-parts.js';
import { intString, NoQuery, noControlCharacters, ONE, strictQuery } from '../schemas.js';
import { listAnswer, shown } from '../util.js';
import { json, param, query, requireJson } from './context.js';

/** Raw XML scan reports posted as the body (the app's body limit for this group must allow it). */
export const MAX_SCAN_BODY = MAX_REPORT_BODY;
/** Every other body of this group (rules, dispatches). */
export const MAX_JSON_BODY = 256 * 1024;
/** A rules file for POST /rules/import. */
export const MAX_RULES_BODY = 2 << 20;
/** POST /programs: the largest program the router keeps, base64, and room for the other fields. */
export const MAX_PROGRAM_BODY = Math.ceil(MAX_PROGRAM_BYTES / 3) * 4 + 4096;

function bodyObject<T extends v.ObjectEntries>(entries: T) {
  return v.strictObject(entries, (issue) =>
    issue.expected === 'never'
      ? `unknown field (known: ${Object.keys(entries).join(', ')})`
      : 'expected a JSON object',
  );
}

/** A host as the service finds it: id, address, MAC or name (no control characters, no slashes). */
const HostIdent = v.pipe(
  v.string(ONE),
  v.minLength(1, 'expected a host id, address, MAC or name'),
  v.maxLength(256, 'expected at most 256 characters'),
  noControlCharacters(true),
  v.description('host id, IP address, MAC or name'),
);

const RuleId = v.pipe(
  v.string(ONE),
  v.regex(/^[A-Za-z0-9._-]{1,64}$/, 'rule id: 1-64 of letters, digits, . _ -'),
  v.description('rule id'),
);
const DispatchId = v.pipe(
  v.string(ONE),
  v.regex(/^[A-Za-z0-9-]{1,64}$/, 'expected a dispatch id (letters, digits and -)'),
  v.description('dispatch id'),
);

const HostParam = v.strictObject({ id: HostIdent });
const RuleParam = v.strictObject({ id: RuleId });
const DispatchParam = v.strictObject({ id: DispatchId });

const HostsQuery = strictQuery({
  offset: v.optional(intString(0, 10_000_000, 'hosts to skip (id order)'), '0'),
  limit: v.optional(intString(1, 1000, 'at most this many'), '200'),
});

const ThreatsQuery = strictQuery({
  type: v.optional(
    v.pipe(
      v.picklist(HOST_THREAT_TYPES, `expected ${choices(HOST_THREAT_TYPES)}`),
      v.description('only this type'),
    ),
  ),
  offset: v.optional(intString(0, 10_000_000, 'skip this many (in key order)'), '0'),
  limit: v.optional(intString(1, 10_000, 'at most this many'), '1000'),
});

const DispatchesQuery = strictQuery({
  host: v.optional(HostIdent),
  status: v.optional(
    v.pipe(
      v.picklist(DISPATCH_STATUSES, `expected ${choices(DISPATCH_STATUSES)}`),
      v.description('only this status'),
    ),
  ),
});

const ImportQuery = strictQuery({
  replace: v.optional(
    v.pipe(
      v.string(ONE),
      v.picklist(['0', '1', 'true', 'false'], 'expected 0, 1, true or false'),
      v.transform((s) => s === '1' || s === 'true'),
      v.description('drop the rules not in the file'),
    ),
    'false',
  ),
});

const FormatEnum = v.picklist(['auto', ...SCAN_FORMATS], `expected auto, ${SCAN_FORMATS.join(', ')}`);
const ScanQuery = strictQuery({ format: v.optional(FormatEnum, 'auto') });

/** A report file's absolute path (no `..`, no control characters); import-file.ts confines it to the import directory. */
const ReportPath = v.pipe(
  v.string('expected the report path as a string'),
  v.minLength(2, 'expected an absolute path'),
  v.maxLength(4096, 'expected at most 4096 characters'),
  noControlCharacters(),
  v.check((p) => isAbsolute(p) && p.startsWith('/'), 'expected an absolute path'),
  v.check((p) => !p.split('/').includes('..'), "'..' is not allowed in the path"),
  v.description(
    "a regular file directly in the daemon's import directory, <state_dir>/import (no link, at most 64 MiB for a report, 512 MiB for a feed); 'tunguard scan import' copies the file there",
  ),
);

const ScanBody = bodyObject({ path: ReportPath, format: v.optional(FormatEnum, 'auto') });

/** An NVD 2.0 JSON feed file already on the router. */
const FeedBody = bodyObject({ path: ReportPath });

const Lookup = v.pipe(
  v.picklist(LOOKUP_MODES, `expected ${choices(LOOKUP_MODES)}`),
  v.description(
    'ordered: environment rules, then threat rules, then combined rules (every match); first-hit: stop at the first set that has one; simultaneous: by priority only',
  ),
);
const RemedyModeEnum = v.pipe(
  v.picklist(REMEDY_MODES, `expected ${choices(REMEDY_MODES)}`),
  v.description('auto: the program when the router stores it, else the file operations'),
);

/** POST /hosts/:id/remediate: how to look rules up and which remedy type to send (both optional). */
const RemediateBody = bodyObject({ lookup: v.optional(Lookup), mode: v.optional(RemedyModeEnum) });

/** A malicious program found on a host (by its agent's tooling, an antivirus, or the admin). */
const ThreatReportBody = bodyObject({
  type: v.literal('malware', 'expected type: malware'),
  kind: v.picklist(MALWARE_KINDS, `expected a kind: ${MALWARE_KINDS.join(', ')}`),
  name: v.pipe(
    v.string('expected the program name as a string'),
    v.trim(),
    v.minLength(1, 'expected a program name'),
    v.maxLength(128, 'expected at most 128 characters'),
    noControlCharacters(),
  ),
});

/** A cleanup program the router keeps and sends itself, its bytes base64. */
const ProgramBody = bodyObject({
  id: v.pipe(
    v.string('expected the program id as a string'),
    v.regex(/^[A-Za-z0-9._-]{1,128}$/, 'program id: letters, digits, . _ -'),
  ),
  /** The location a rule's program reference names (with the id, the key rules find it by). */
  location: v.pipe(
    v.string('expected the location as a string'),
    v.minLength(1, 'expected a location'),
    v.maxLength(256, 'expected at most 256 characters'),
  ),
  platform: v.optional(
    v.picklist(['any', 'linux', 'windows', 'macos'], 'expected any, linux, windows or macos'),
  ),
  content: v.pipe(
    v.string('expected the program as base64'),
    v.minLength(1, 'expected the program as base64'),
    v.maxLength(Math.ceil(MAX_PROGRAM_BYTES / 3) * 4, `expected at most ${MAX_PROGRAM_BYTES} bytes`),
    v.regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected the program as base64'),
  ),
});

const RulesFile = v.looseObject(
  {
    version: v.literal(1, 'expected version 1'),
    // Each rule is validated as the store takes it (all or nothing), the document names the schema.
    rules: v.pipe(
      v.array(v.unknown(), 'expected rules: [...]'),
      documented<unknown[]>({ type: 'array', items: { $ref: '#/components/schemas/Rule' } }),
    ),
  },
  'expected a rules file {version: 1, rules: [...]}',
);

const DispatchBody = v.pipe(
  bodyObject({
    host: HostIdent,
    ruleId: v.optional(RuleId),
    actions: v.optional(
      v.pipe(
        v.array(ActionSchema),
        v.minLength(1, 'expected at least one action'),
        v.maxLength(64, 'expected at most 64 actions'),
      ),
    ),
    mode: v.optional(RemedyModeEnum),
    ttlMs: v.optional(
      v.pipe(
        v.number('expected a number of milliseconds'),
        v.integer('expected an integer'),
        v.minValue(1000, 'expected at least 1000 ms'),
        v.maxValue(30 * 86_400_000, 'expected at most 30 days'),
      ),
    ),
  }),
  v.check(
    (b) => (b.ruleId === undefined) !== (b.actions === undefined),
    'expected exactly one of ruleId or actions',
  ),
  v.check((b) => b.mode === undefined || b.ruleId !== undefined, 'mode applies to a rule only'),
  documentedMore({ oneOf: [{ required: ['ruleId'] }, { required: ['actions'] }] }),
);

/** Where a host's agent listens: an IPv4/IPv6 address or a DNS name. */
const AgentAddress = v.pipe(
  v.string('expected the agent address as a string'),
  v.check(
    (a) =>
      isIP(a) !== 0 ||
      /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
        a,
      ),
    'expected an IPv4 or IPv6 address or a host name',
  ),
  v.description('IPv4 or IPv6 address, or a host name'),
);
const AgentPort = v.pipe(
  v.number('expected the agent port as a number'),
  v.integer('expected an integer port'),
  v.minValue(1, 'expected a port 1..65535'),
  v.maxValue(65535, 'expected a port 1..65535'),
);
/** The id an agent names itself by (its config's hostId). */
const AgentHostId = v.pipe(
  v.string('expected the host id as a string'),
  v.minLength(1, 'expected a host id'),
  v.maxLength(128, 'expected at most 128 characters'),
  noControlCharacters(true),
  v.description('the id the agent names itself by'),
);

const PairBody = bodyObject({
  address: AgentAddress,
  port: AgentPort,
  routerName: v.optional(
    v.pipe(
      v.string('expected the router name as a string'),
      v.minLength(1, 'expected a router name'),
      v.maxLength(64, 'expected at most 64 characters'),
      noControlCharacters(),
    ),
  ),
  host: v.optional(HostIdent),
});

const PairConfirmBody = bodyObject({
  pairingId: v.pipe(
    v.string('expected the pairing id as a string'),
    v.uuid('expected a pairing id (a UUID)'),
  ),
  /** Whether the code the agent shows is the one the router showed (default yes). */
  accept: v.optional(v.boolean('expected accept: true or false'), true),
});

const AgentKeyBody = bodyObject({
  hostId: AgentHostId,
  address: AgentAddress,
  port: AgentPort,
  agentKey: v.pipe(v.string('expected the agent key as a string'), PublicKeyText),
  host: v.optional(HostIdent),
});

const AgentParam = v.strictObject({ id: AgentHostId });

/** One detection round over the protected hosts the admin names; without hosts, the
 *  configured round (config detect: its protected hosts and scan) runs now. */
const DetectBody = bodyObject({
  hosts: v.optional(
    v.pipe(
      v.array(HostIdent, 'expected hosts: [address, MAC, name or id, ...]'),
      v.minLength(1, 'expected at least one host'),
      v.maxLength(256, 'expected at most 256 hosts'),
    ),
  ),
  lookup: v.optional(Lookup),
  mode: v.optional(RemedyModeEnum),
});

const AuditQuery = strictQuery({
  offset: v.optional(intString(0, 10_000_000, 'skip this many of the newest'), '0'),
  limit: v.optional(intString(1, 10_000, 'at most this many (given oldest first)'), '100'),
  host: v.optional(HostIdent),
  dispatch: v.optional(DispatchId),
});

/** Caps the (already read) body of a route below the group's limit. */
function maxBody(max: number): MiddlewareHandler {
  return async (c, next) => {
    const text = await c.req.text();
    if (Buffer.byteLength(text) > max)
      throw new ApiError(413, 'payload_too_large', `the request body is larger than ${max} bytes`);
    await next();
  };
}

/** Service errors a client caused → 4xx; anything else goes on to the app's handler (a 500). */
function clientError(err: unknown): never {
  if (err instanceof ApiError) throw err;
  if (err instanceof RuleError) {
    const m = err.message;
    if (/^no rule /.test(m)) throw new ApiError(404, 'not_found', m);
    if (/ exists$/.test(m)) throw new ApiError(409, 'conflict', m);
    if (/no paired agent|already has a paired agent/.test(m)) throw new ApiError(409, 'conflict', m);
    if (/^no host /.test(m)) throw new ApiError(404, 'not_found', m);
    throw new ApiError(400, 'bad_request', m);
  }
  if (err instanceof AgentError) {
    // The agent said no (already paired, not in pairing mode): a conflict; it could not be reached: 502.
    if (err.reason === 'protocol' && /refused/.test(err.message))
      throw new ApiError(409, 'conflict', err.message);
    throw new ApiError(502, 'bad_gateway', `agent: ${err.message}`);
  }
  if (err instanceof ImportError) throw new ApiError(400, 'bad_request', `import failed: ${err.message}`);
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR')
    throw new ApiError(400, 'bad_request', `cannot read the report: ${code}`);
  throw err;
}

async function guarded<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    clientError(err);
  }
}

const XML_TYPE = /^(application|text)\/([\w.-]+\+)?xml$/i;
const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

function contentType(c: Context): string {
  return (c.req.header('content-type') ?? '').split(';')[0].trim();
}

/** The remediation routes; mount with `{ path: '/remediation', app, bodyLimit: MAX_SCAN_BODY }`. */
export function remediationRoutes(svc: RemediationService, opts: { importDir: string }) {
  /** A file named in a request: only from the import directory (import-file.ts says why and how). */
  const openImport = (path: string, maxBytes: number) => {
    try {
      return openImportFile(opts.importDir, path, maxBytes);
    } catch (err) {
      if (err instanceof ImportFileError) throw new ApiError(400, 'bad_request', err.message);
      throw err;
    }
  };
  const importFile = async (path: string, format: 'auto' | (typeof SCAN_FORMATS)[number]) => {
    const stream = openImport(path, MAX_REPORT_FILE);
    try {
      return await guarded(() => svc.importScan(stream, format));
    } finally {
      stream.destroy();
    }
  };

  return (
    new Hono()
      .use('*', async (c, next) => {
        const scans = c.req.method === 'POST' && /\/scans$/.test(c.req.path);
        const rulesImport = c.req.method === 'POST' && /\/rules\/import$/.test(c.req.path);
        const program = c.req.method === 'POST' && /\/programs$/.test(c.req.path);
        const limit = rulesImport ? MAX_RULES_BODY : program ? MAX_PROGRAM_BODY : MAX_JSON_BODY;
        if (!scans) await maxBody(limit)(c, async () => {});
        await next();
      })
      // ---- hosts and threats ----
      // One page at a time: the summaries (rule matching included) are worked out for that page only.
      .get('/hosts', query(HostsQuery), async (c) => {
        const q = c.req.valid('query');
        return c.json(await svc.listHosts({ offset: q.offset, limit: q.limit }));
      })
      .get('/hosts/:id', param(HostParam), query(NoQuery), async (c) => {
        const { id } = c.req.valid('param');
        const h = await svc.getHost(id);
        if (!h) throw new ApiError(404, 'not_found', `no host ${shown(id)}`);
        return c.json(h);
      })
      // The dashboard's "remediate": every rule that matches the host now, in lookup order ({} is a fine body).
      .post(
        '/hosts/:id/remediate',
        param(HostParam),
        query(NoQuery),
        requireJson,
        json(RemediateBody),
        async (c) => {
          const { id } = c.req.valid('param');
          const b = c.req.valid('json');
          const r = await guarded(() =>
            svc.remediateHost(id, {
              ...(b.lookup !== undefined ? { lookup: b.lookup } : {}),
              ...(b.mode !== undefined ? { mode: b.mode } : {}),
            }),
          );
          return c.json(r, r.queued.length > 0 ? 202 : 200);
        },
      )
      .post(
        '/hosts/:id/threats',
        param(HostParam),
        query(NoQuery),
        requireJson,
        json(ThreatReportBody),
        async (c) => {
          const { id } = c.req.valid('param');
          const b = c.req.valid('json');
          const h = await svc.getHost(id);
          if (!h) throw new ApiError(404, 'not_found', `no host ${shown(id)}`);
          await guarded(() => svc.reportMalware(h.host.id, b.kind, b.name));
          const after = await svc.getHost(h.host.id);
          return c.json({ hostId: h.host.id, threats: after?.host.threats ?? [] }, 201);
        },
      )
      .get('/threats', query(ThreatsQuery), async (c) => {
        const q = c.req.valid('query');
        const type = q.type ? { type: q.type } : {};
        const items = await svc.listThreats({ offset: q.offset, limit: q.limit, ...type });
        return c.json(
          listAnswer(items, { total: svc.countThreats(q.type), offset: q.offset, limit: q.limit }),
        );
      })
      .post('/threats/feed', query(NoQuery), requireJson, json(FeedBody), async (c) => {
        const { path } = c.req.valid('json');
        const stream = openImport(path, MAX_FEED_FILE);
        let loaded: number;
        try {
          loaded = await guarded(() => svc.loadNvdFeed(stream));
        } finally {
          stream.destroy();
        }
        return c.json({ loaded }, 201);
      })
      // ---- passive inventory ----
      .get('/passive', query(NoQuery), async (c) => {
        const stats = svc.passiveStats();
        return c.json(stats ? { running: true, ...stats } : { running: false });
      })
      // ---- rules (export/import before /rules/:id) ----
      .get('/rules/export', query(NoQuery), async (c) =>
        c.body(await svc.exportRules(), 200, {
          'Content-Type': 'application/json',
          'Content-Disposition': 'attachment; filename="tunguard-rules.json"',
        }),
      )
      .post('/rules/import', query(ImportQuery), requireJson, json(RulesFile), async (c) => {
        const body = c.req.valid('json');
        const r = await guarded(() =>
          svc.importRules(JSON.stringify(body), { replace: c.req.valid('query').replace }),
        );
        return c.json(r);
      })
      // ---- programs the router sends itself ----
      .get('/programs', query(NoQuery), async (c) => c.json(listAnswer(await svc.listPrograms())))
      .post('/programs', query(NoQuery), requireJson, json(ProgramBody), async (c) => {
        const b = c.req.valid('json');
        const content = Buffer.from(b.content, 'base64');
        if (content.length > MAX_PROGRAM_BYTES)
          throw new ApiError(
            413,
            'payload_too_large',
            `the program is larger than ${MAX_PROGRAM_BYTES} bytes`,
          );
        const info = await guarded(() =>
          svc.putProgram({
            id: b.id,
            location: b.location,
            ...(b.platform ? { platform: b.platform } : {}),
            content,
          }),
        );
        return c.json(info, 201);
      })
      .get('/rules', query(NoQuery), async (c) => c.json(listAnswer(await svc.listRules())))
      .post('/rules', query(NoQuery), requireJson, json(RuleSchema), async (c) => {
        const r = await guarded(() => svc.createRule(c.req.valid('json')));
        return c.json(r, 201);
      })
      .get('/rules/:id', param(RuleParam), query(NoQuery), async (c) => {
        const { id } = c.req.valid('param');
        const r = await svc.getRule(id);
        if (!r) throw new ApiError(404, 'not_found', `no rule ${id}`);
        return c.json(r);
      })
      .put('/rules/:id', param(RuleParam), query(NoQuery), requireJson, json(RuleSchema), async (c) => {
        const { id } = c.req.valid('param');
        const body = c.req.valid('json');
        if (body.id !== id)
          throw new ApiError(400, 'bad_request', `the body's id '${body.id}' is not the path's '${id}'`);
        return c.json(await guarded(() => svc.updateRule(id, body)));
      })
      .delete('/rules/:id', param(RuleParam), query(NoQuery), async (c) => {
        const { id } = c.req.valid('param');
        // Looked up first: the store's remove() does not say whether the rule was there.
        if (!(await svc.getRule(id)) || !(await svc.deleteRule(id)))
          throw new ApiError(404, 'not_found', `no rule ${id}`);
        return c.json({ deleted: id });
      })
      // ---- scanner reports ----
      .post('/scans', query(ScanQuery), async (c) => {
        const type = contentType(c);
        const q = c.req.valid('query');
        if (XML_TYPE.test(type)) {
          const text = await c.req.text();
          if (text.trim() === '') throw new ApiError(400, 'bad_request', 'the XML body is empty');
          return c.json(await guarded(() => svc.importScan([text], q.format)), 201);
        }
        if (!JSON_TYPE.test(type))
          throw new ApiError(
            415,
            'unsupported_media_type',
            `expected Content-Type: application/json ({path, format?}) or application/xml (the report), got ${type === '' ? 'none' : shown(type)}`,
          );
        let raw: unknown;
        try {
          raw = JSON.parse(await c.req.text());
        } catch {
          throw new ApiError(400, 'bad_request', 'invalid json: the body is not valid JSON');
        }
        const r = v.safeParse(ScanBody, raw);
        if (!r.success) {
          const { list, detail } = validationIssues('json', r.issues);
          throw new ApiError(400, 'bad_request', `invalid json: ${detail}`, list);
        }
        const b = r.output;
        if (q.format !== 'auto' && b.format !== 'auto' && q.format !== b.format)
          throw new ApiError(400, 'bad_request', 'the query and the body name different formats');
        return c.json(await importFile(b.path, b.format !== 'auto' ? b.format : q.format), 201);
      })
      // ---- detection and dispatch ----
      .get('/detect', query(NoQuery), (c) => c.json(svc.detectionState()))
      .post('/detect', query(NoQuery), requireJson, json(DetectBody), async (c) => {
        const b = c.req.valid('json');
        const base = b.hosts ? { protectedHosts: b.hosts } : svc.scheduledDetection();
        if (!base)
          throw new ApiError(
            400,
            'bad_request',
            "no hosts given and no detection configured (config detect: option enabled '1', list protected_host)",
          );
        const o = {
          ...base,
          ...(b.lookup !== undefined ? { lookup: b.lookup } : {}),
          ...(b.mode !== undefined ? { remedyMode: b.mode } : {}),
        };
        if (!b.hosts) {
          // The configured round may scan for minutes: it runs on, GET /detect shows it and its report.
          void svc.detectNow(o).catch(() => {});
          return c.json(svc.detectionState(), 202);
        }
        return c.json(await guarded(() => svc.detectNow(o)));
      })
      .post('/dispatch', query(NoQuery), requireJson, json(DispatchBody), async (c) => {
        const b = c.req.valid('json');
        const d = await guarded(() =>
          svc.dispatch(b.host, {
            ...(b.ruleId !== undefined ? { ruleId: b.ruleId } : {}),
            ...(b.actions !== undefined ? { actions: b.actions } : {}),
            ...(b.mode !== undefined ? { mode: b.mode } : {}),
            ...(b.ttlMs !== undefined ? { ttlMs: b.ttlMs } : {}),
          }),
        );
        const status = await svc.dispatchStatus(d.id);
        return c.json(status ?? { id: d.id, hostId: d.hostId, status: d.status }, 202);
      })
      .get('/dispatches', query(DispatchesQuery), async (c) => {
        const q = c.req.valid('query');
        const items = await svc.listDispatches({
          ...(q.host !== undefined ? { hostId: q.host } : {}),
          ...(q.status !== undefined ? { status: q.status } : {}),
        });
        // Program bytes are not echoed back in lists either.
        return c.json(
          listAnswer(
            items.map((d) => ({
              ...d,
              actions: d.actions.map((a) => {
                if (a.action === 'program.run' && a.content) {
                  const { content: _c, ...rest } = a;
                  return rest;
                }
                return a;
              }),
            })),
          ),
        );
      })
      .get('/dispatches/:id', param(DispatchParam), query(NoQuery), async (c) => {
        const { id } = c.req.valid('param');
        const d = await svc.dispatchStatus(id);
        if (!d) throw new ApiError(404, 'not_found', `no dispatch ${id}`);
        return c.json(d);
      })
      // ---- agents ----
      .get('/agents', query(NoQuery), async (c) => c.json(listAnswer(await svc.listAgents())))
      // Pairings started and not yet confirmed (kept across a restart until they expire).
      .get('/agents/pairings', query(NoQuery), async (c) => c.json(listAnswer(await svc.listPairings())))
      // Pairing by code: the router connects to the agent (in pairing mode), both sides show the code.
      .post('/agents/pair', query(NoQuery), requireJson, json(PairBody), async (c) => {
        const b = c.req.valid('json');
        const p = await guarded(() =>
          svc.pairAgent({
            address: b.address,
            port: b.port,
            ...(b.routerName !== undefined ? { routerName: b.routerName } : {}),
            ...(b.host !== undefined ? { host: b.host } : {}),
          }),
        );
        return c.json(p, 201);
      })
      // The admin says whether the codes matched; the agent is stored once the host accepted too.
      .post('/agents/pair/confirm', query(NoQuery), requireJson, json(PairConfirmBody), async (c) => {
        const b = c.req.valid('json');
        let r: Awaited<ReturnType<typeof svc.confirmPairing>>;
        try {
          r = await svc.confirmPairing(b.pairingId, b.accept);
        } catch (err) {
          if (err instanceof Error && /^no pairing /.test(err.message))
            throw new ApiError(404, 'not_found', `${err.message} (unknown, already confirmed or expired)`);
          clientError(err);
        }
        // Still waiting for the host: 202, ask again.
        return c.json(r, r.paired ? 201 : r.pending ? 202 : 200);
      })
      // Pairing by a copied key: the agent's key goes here; the answer carries the router's key to pin on
      // the host (`tunguard-agent trust-router --key K`).
      .post('/agents', query(NoQuery), requireJson, json(AgentKeyBody), async (c) => {
        const b = c.req.valid('json');
        if ((await svc.listAgents()).some((a) => a.hostId === b.hostId))
          throw new ApiError(
            409,
            'conflict',
            `host ${b.hostId} already has a paired agent (delete it first)`,
          );
        const rec = await guarded(() => svc.addAgentKey(b));
        return c.json({ agent: rec, routerKey: svc.routerPublicKey() }, 201);
      })
      .delete('/agents/:id', param(AgentParam), query(NoQuery), async (c) => {
        const { id } = c.req.valid('param');
        if (!(await svc.removeAgent(id))) throw new ApiError(404, 'not_found', `no paired agent ${id}`);
        return c.json({ deleted: id });
      })
      // ---- audit log ----
      .get('/audit', query(AuditQuery), async (c) => {
        const q = c.req.valid('query');
        // Newest first counted: offset 0 is the latest `limit` entries (given in time order).
        const page = await svc.auditPage({
          offset: q.offset,
          limit: q.limit,
          ...(q.host !== undefined ? { hostId: q.host } : {}),
          ...(q.dispatch !== undefined ? { dispatchId: q.dispatch } : {}),
        });
        return c.json(listAnswer(page.items, { total: page.total, offset: q.offset, limit: q.limit }));
      })
  );
}

/**
 * What each route of the group validates (JSON body, query string, path parameters), by "METHOD path":
 * the OpenAPI document is generated from these (src/api/openapi-remediation.ts).
 */
export const REMEDIATION_INPUTS: Record<
  string,
  { body?: v.GenericSchema; query: v.GenericSchema; param?: v.GenericSchema }
> = {
  'GET /hosts': { query: HostsQuery },
  'GET /hosts/:id': { query: NoQuery, param: HostParam },
  'POST /hosts/:id/remediate': { body: RemediateBody, query: NoQuery, param: HostParam },
  'POST /hosts/:id/threats': { body: ThreatReportBody, query: NoQuery, param: HostParam },
  'GET /threats': { query: ThreatsQuery },
  'POST /threats/feed': { body: FeedBody, query: NoQuery },
  'GET /passive': { query: NoQuery },
  'GET /rules/export': { query: NoQuery },
  'POST /rules/import': { body: RulesFile, query: ImportQuery },
  'GET /programs': { query: NoQuery },
  'POST /programs': { body: ProgramBody, query: NoQuery },
  'GET /rules': { query: NoQuery },
  'POST /rules': { body: RuleSchema, query: NoQuery },
  'GET /rules/:id': { query: NoQuery, param: RuleParam },
  'PUT /rules/:id': { body: RuleSchema, query: NoQuery, param: RuleParam },
  'DELETE /rules/:id': { query: NoQuery, param: RuleParam },
  'POST /scans': { body: ScanBody, query: ScanQuery },
  'GET /detect': { query: NoQuery },
  'POST /detect': { body: DetectBody, query: NoQuery },
  'POST /dispatch': { body: DispatchBody, query: NoQuery },
  'GET /dispatches': { query: DispatchesQuery },
  'GET /dispatches/:id': { query: NoQuery, param: DispatchParam },
  'GET /agents': { query: NoQuery },
  'GET /agents/pairings': { query: NoQuery },
  'POST /agents/pair': { body: PairBody, query: NoQuery },
  'POST /agents/pair/confirm': { body: PairConfirmBody, query: NoQuery },
  'POST /agents': { body: AgentKeyBody, query: NoQuery },
  'DELETE /agents/:id': { query: NoQuery, param: AgentParam },
  'GET /audit': { query: AuditQuery },
};
