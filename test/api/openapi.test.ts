// The generated OpenAPI document: every route the app serves is in it and nothing else (core and
// remediation), its schemas compile as JSON Schema 2020-12, and what the generator derives from the
// valibot schemas (query integers, times, records, request bodies) is what the routes take and answer.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/api/openapi.js';
import { documentedAndServed, startTestDaemon, type TestDaemon } from './helpers.js';

let d: TestDaemon;
// biome-ignore lint/suspicious/noExplicitAny: the document is walked, not typed
let doc: any;

beforeAll(async () => {
  d = await startTestDaemon({ remediation: true });
  doc = openApiDocument('test', ['/remediation']);
});

afterAll(async () => {
  await d?.close();
});

/** What the document lacks and what it has too many, against the routes the app serves. */
function drift(routes: readonly { method: string; path: string }[]) {
  const { documented, served } = documentedAndServed(doc, routes);
  return {
    undocumented: served.filter((r) => !documented.includes(r)),
    notServed: documented.filter((r) => !served.includes(r)),
  };
}

describe('the document and the app', () => {
  it('describe the same routes (core and remediation)', () => {
    const routes = d.cp.api.app.routes;
    expect(drift(routes)).toEqual({ undocumented: [], notServed: [] });
    const served = documentedAndServed(doc, routes).served;
    expect(served.filter((r) => r.includes('/remediation/')).length).toBe(29);
    expect(served.filter((r) => !r.includes('/remediation/')).length).toBe(18);
  });

  it('(control) a route the app serves and the document lacks is found, and the other way round', () => {
    const extra = new Hono().get('/api/v1/undocumented', (c) => c.text('x')).routes;
    expect(drift([...d.cp.api.app.routes, ...extra])).toEqual({
      undocumented: ['GET /api/v1/undocumented'],
      notServed: [],
    });
    const withoutOne = d.cp.api.app.routes.filter(
      (r) => !(r.method === 'DELETE' && r.path === '/api/v1/remediation/rules/:id'),
    );
    expect(drift(withoutOne)).toEqual({
      undocumented: [],
      notServed: ['DELETE /api/v1/remediation/rules/:id'],
    });
  });

  it('without the remediation group mounted, describes none of its routes', () => {
    const core = openApiDocument('test');
    expect(Object.keys(core.paths as object).filter((p) => p.includes('/remediation'))).toEqual([]);
    expect(Object.keys(core.paths as object).length).toBeGreaterThan(10);
  });
});

describe('the generated schemas', () => {
  it('compile as JSON Schema 2020-12, and every $ref names a component', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ ...doc, $id: 'openapi' });
    for (const name of Object.keys(doc.components.schemas))
      expect(() => ajv.compile({ $ref: `openapi#/components/schemas/${name}` }), name).not.toThrow();
    const refs = new Set<string>();
    const walk = (x: unknown): void => {
      if (typeof x !== 'object' || x === null) return;
      const ref = (x as { $ref?: unknown }).$ref;
      if (typeof ref === 'string') refs.add(ref);
      for (const v of Object.values(x)) walk(v);
    };
    walk(doc);
    for (const ref of refs) {
      const [, where, name] = ref.match(/^#\/components\/(schemas|responses)\/(.+)$/) ?? [];
      expect(doc.components[where]?.[name], ref).toBeDefined();
    }
  });

  it('show a query string parsed to an integer as the integer, with its limits and default', () => {
    const params = doc.paths['/api/v1/connections'].get.parameters;
    const by = (n: string) => params.find((p: { name: string }) => p.name === n);
    expect(by('limit')).toEqual({
      name: 'limit',
      in: 'query',
      schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
      description: 'page size',
    });
    expect(by('port').schema).toEqual({ type: 'integer', minimum: 1, maximum: 65535 });
    expect(by('state').schema.enum).toEqual(['syn-sent', 'established', 'fin-wait', 'closed']);
    const events = doc.paths['/api/v1/events'].get.parameters[0];
    expect(events.schema.type).toBe('string');
  });

  it('refer to the components by name and keep request bodies strict', () => {
    const status = doc.components.schemas.Status;
    expect(status.properties.startedAt).toEqual({ $ref: '#/components/schemas/Time' });
    expect(status.properties.config).toEqual({ $ref: '#/components/schemas/ConfigStatus' });
    expect(status.required).toEqual(expect.arrayContaining(['tier', 'halfOpen', 'counters', 'startedAt']));
    expect(status.required).not.toContain('notes');
    expect(doc.components.schemas.RateLimit.properties.udp).toEqual({
      $ref: '#/components/schemas/UdpBucket',
    });
    expect(doc.components.schemas.UdpBucket.required).toContain('exemptPorts');
    const put = doc.paths['/api/v1/config'].put;
    expect(put.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/UciBody',
    });
    expect(doc.components.schemas.UciBody.additionalProperties).toBe(false);
    expect(put.parameters).toContainEqual(expect.objectContaining({ name: 'If-Match', in: 'header' }));
    // A path's shape and its characters: two regexes, both kept (one pattern, the other in allOf).
    const del = doc.components.schemas.Action.oneOf.find(
      (o: { properties: { action: { const: string } } }) => o.properties.action.const === 'file.delete',
    );
    expect(del.properties.location.pattern).toBe('^(\\/|\\\\|[A-Za-z]:)');
    expect(del.properties.location.allOf).toEqual([{ pattern: '^[A-Za-z0-9 ._+,:=@%/\\\\?-]*$' }]);
    const scans = doc.paths['/api/v1/remediation/scans'].post.requestBody.content;
    expect(Object.keys(scans).sort()).toEqual(['application/json', 'application/xml']);
    expect(doc.paths['/api/v1/healthz']).toBeUndefined();
    expect(doc.paths['/healthz'].get.security).toEqual([]);
  });
});
