// Every answer the API serves agrees with its own document: each route the app has is called (with a
// request meant to succeed where one is at hand, and with an empty or wrong one), and the status, the
// media type and the JSON body must be what /api/v1/openapi.json says for that route and status,
// checked by a JSON Schema 2020-12 validator (ajv) against the served document itself.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_UCI, http, type Res, startTestDaemon, type TestDaemon } from './helpers.js';

let d: TestDaemon;
// biome-ignore lint/suspicious/noExplicitAny: the document is checked by the validator, not by types
let doc: any;

beforeAll(async () => {
  d = await startTestDaemon({ remediation: true });
  doc = (await http(d.url, 'GET', '/api/v1/openapi.json', { token: d.token })).json;
});

afterAll(async () => {
  await d?.close();
});

/** Path parameters by name: one value that exists or parses, so the route's own answer is seen. */
const PARAMS: Record<string, string> = {
  address: '198.51.100.9',
  bits: '32',
  id: 'no-such-id',
};

/** Requests meant to succeed (bodies the routes take), beside the empty ones every route gets. */
const GOOD: [string, string, unknown?][] = [
  ['PUT', '/api/v1/config', { uci: BASE_UCI }],
  ['POST', '/api/v1/config/check', { uci: BASE_UCI }],
  ['POST', '/api/v1/allowlist', { prefix: '203.0.113.0/24' }],
  ['DELETE', '/api/v1/allowlist/203.0.113.0/24'],
  ['POST', '/api/v1/remediation/rules', { id: 'r1', set: 'FIG4', match: {}, action: 'alert' }],
  ['GET', '/api/v1/connections?limit=5'],
  ['GET', '/api/v1/attackers?limit=1'],
];

/** The document's operation for a served path ("/api/v1/allowlist/:address" ↔ "{address}"). */
function operation(method: string, template: string) {
  const path = template.replace(/:(\w+)/g, '{$1}');
  return doc.paths?.[path]?.[method.toLowerCase()];
}

// biome-ignore lint/suspicious/noExplicitAny: document fragments
function resolve(x: any): any {
  if (x?.$ref === undefined) return x;
  const parts = String(x.$ref).replace(/^#\//, '').split('/');
  return resolve(parts.reduce((o, k) => o?.[k], doc));
}

/** Problems of one answer against the document (empty: it agrees). */
function check(ajv: Ajv2020, method: string, template: string, r: Res): string[] {
  const where = `${method} ${template} → ${r.status}`;
  const op = operation(method, template);
  if (!op) return [`${where}: route not in the document`];
  const response = resolve(op.responses?.[String(r.status)] ?? op.responses?.default);
  if (!response) return [`${where}: status not documented (${Object.keys(op.responses ?? {}).join(', ')})`];
  const type = (r.headers.get('content-type') ?? '').split(';')[0].trim();
  const content = response.content ?? {};
  if (!(type in content))
    return [`${where}: served ${type}, documented ${Object.keys(content).join(', ') || 'no body'}`];
  if (type !== 'application/json' || content[type].schema === undefined) return [];
  const validate = ajv.compile({ $ref: `openapi#${pointer(op, r.status, type)}` });
  if (validate(r.json)) return [];
  return [`${where}: ${ajv.errorsText(validate.errors, { separator: '; ' })}`];
}

/** A JSON pointer into the document to the schema of this answer (a $ref'd response: its component). */
// biome-ignore lint/suspicious/noExplicitAny: document fragments
function pointer(op: any, status: number, type: string): string {
  const esc = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
  const key = op.responses?.[String(status)] !== undefined ? String(status) : 'default';
  const raw = op.responses[key];
  const base =
    raw.$ref !== undefined
      ? String(raw.$ref).replace(/^#/, '')
      : `/paths/${esc(pathOf(op))}/${methodOf(op)}/responses/${key}`;
  return `${base}/content/${esc(type)}/schema`;
}

// Reverse lookups for the pointer (operations are the document's own objects).
// biome-ignore lint/suspicious/noExplicitAny: document fragments
function pathOf(op: any): string {
  for (const [p, ops] of Object.entries(doc.paths)) if (Object.values(ops as object).includes(op)) return p;
  throw new Error('operation not in the document');
}
// biome-ignore lint/suspicious/noExplicitAny: document fragments
function methodOf(op: any): string {
  for (const ops of Object.values(doc.paths))
    for (const [m, o] of Object.entries(ops as object)) if (o === op) return m;
  throw new Error('operation not in the document');
}

function validator(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ ...doc, $id: 'openapi' });
  return ajv;
}

describe('served answers against /api/v1/openapi.json', () => {
  it('every route, with good, empty and unauthenticated requests, answers as documented', async () => {
    const ajv = validator();
    const routes = d.cp.api.app.routes.filter(
      (x) =>
        x.method !== 'ALL' &&
        !['/', '/dashboard.js', '/healthz'].includes(x.path) &&
        x.path !== '/api/v1/events',
    );
    expect(routes.length).toBeGreaterThan(40);
    const problems: string[] = [];
    const seen = new Set<number>();
    const call = async (method: string, template: string, path: string, body?: unknown, token = d.token) => {
      const r = await http(d.url, method, path, { token, body });
      seen.add(r.status);
      problems.push(...check(ajv, method, template, r));
    };
    for (const [method, path, body] of GOOD) {
      const template = routes.find(
        (x) =>
          x.method === method && new RegExp(`^${x.path.replace(/:\w+/g, '[^/]+')}$`).test(path.split('?')[0]),
      )?.path;
      expect(template, `${method} ${path} is served`).toBeDefined();
      await call(method, template as string, path, body);
    }
    for (const { method, path: template } of routes) {
      const path = template.replace(/:(\w+)/g, (_, name: string) => PARAMS[name] ?? 'x');
      const body = method === 'GET' || method === 'DELETE' ? undefined : {};
      await call(method, template, path, body);
      await call(method, template, path, body, 'wrong-token');
    }
    expect(problems).toEqual([]);
    // The run saw successes and the usual refusals, so each kind of answer was checked.
    for (const status of [200, 400, 401, 404]) expect(seen.has(status), `a ${status} was served`).toBe(true);
  });

  it('(control) an answer that differs from the document is caught', () => {
    const ajv = validator();
    const headers = new Headers({ 'content-type': 'application/json' });
    const status = { status: 200, headers, text: '', json: { tier: 'bogus' } };
    expect(check(ajv, 'GET', '/api/v1/status', status)).not.toEqual([]);
    const error = { status: 401, headers, text: '', json: { error: 'unauthorized' } };
    expect(check(ajv, 'GET', '/api/v1/status', error).join()).toMatch(/detail/);
    const text = {
      status: 200,
      headers: new Headers({ 'content-type': 'text/plain' }),
      text: 'x',
      json: undefined,
    };
    expect(check(ajv, 'GET', '/api/v1/status', text).join()).toMatch(/served text\/plain/);
    expect(check(ajv, 'GET', '/api/v1/status', { ...status, status: 418 }).join()).toMatch(/not documented/);
  });
});
