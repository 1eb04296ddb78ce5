// The OpenAPI 3.1 document served at /api/v1/openapi.json, generated: every route has an entry in a
// route table (method, path, summary, the valibot schemas its input is validated with, the schema of
// each answer) and @valibot/to-json-schema writes the JSON Schemas. The inputs are the schemas the
// routes validate with; the core answers are the schemas their types are inferred from (responses.ts);
// the remediation answers are held to the service's types at compile time (answer-check.ts).
// test/api/openapi.test.ts holds the tables equal to the routes the app has.

import { type ConversionConfig, type JsonSchema, toJsonSchemaDefs } from '@valibot/to-json-schema';
import type * as v from 'valibot';
import { CORE_ROUTES } from './openapi-core.js';
import { REMEDIATION_PREFIX, remediationDocs } from './openapi-remediation.js';
import { CORE_COMPONENTS } from './responses.js';
import type { Json } from './schema-parts.js';
import { UciBody } from './schemas.js';

export type { Json };

type Schema = v.GenericSchema;

/** One answer of a route: its schema (valibot, or a JSON Schema for what is not JSON) and media type. */
export interface Answer {
  schema: Schema | Json;
  description?: string;
  /** Default application/json. */
  type?: string;
}

/** A route as the document describes it. */
export interface RouteDoc {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** As hono writes it (`:name` for a path parameter). */
  path: string;
  summary: string;
  /** Served without the bearer token. */
  public?: boolean;
  query?: Schema;
  param?: Schema;
  header?: Schema;
  /** The JSON body, or the bodies by media type. */
  body?: Schema | { content: Record<string, Schema | Json> };
  /** The answers by status; a bare schema is a JSON answer described "OK". */
  answers: Record<number, Answer | Schema>;
  /** Error statuses (answered with the Error schema). */
  errors?: number[];
}

/** A group of routes mounted at `prefix` with the component schemas its answers refer to. */
export interface RouteGroup {
  prefix: string;
  routes: readonly RouteDoc[];
  components: Record<string, Schema>;
}

const ERRORS: Record<number, string> = {
  400: 'Bad input (the issues say which field and why)',
  401: 'Missing or wrong bearer token',
  404: 'No such resource',
  409: 'Conflict',
  412: 'If-Match does not match the current configuration',
  413: 'Request body too large',
  415: 'Body is not application/json',
  422: 'The configuration is invalid (issues carry the UCI line)',
  502: "The host's agent could not be reached or answered wrongly",
  503: 'Too many event-stream clients, or the service is unavailable',
};

const isSchema = (x: unknown): x is Schema => (x as { kind?: unknown } | null)?.kind === 'schema';

const CONVERSION: ConversionConfig = {
  target: 'draft-2020-12',
  // What a request check or transformation does is said in the error answer, not in JSON Schema.
  // A query pipeline (string, then picklist) is documented as both; what cannot be said is left out.
  errorMode: 'ignore',
  ignoreActions: ['check', 'transform', 'raw_transform', 'trim'],
  overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}`,
  overrideAction: ({ valibotAction, jsonSchema, errors }) => {
    // `documented` (schema-parts.ts): the JSON Schema the pipe has so far is replaced.
    const documented = (valibotAction as { metadata?: { openapi?: JsonSchema } }).metadata?.openapi;
    if (documented) return documented;
    // A second regex (a path's shape, then its characters): JSON Schema has one pattern, the rest allOf.
    const regex = (valibotAction as { type: string; requirement?: RegExp }).requirement;
    if (valibotAction.type === 'regex' && regex && errors && jsonSchema.pattern !== regex.source)
      return { ...jsonSchema, allOf: [...(jsonSchema.allOf ?? []), { pattern: regex.source }] };
    return undefined;
  },
  overrideSchema: ({ valibotSchema, jsonSchema }) => {
    // A value the document describes by `documented` (documentedAs).
    if (valibotSchema.type === 'custom') return {};
    // A query string's default ('100') as the integer it is parsed to.
    if (jsonSchema.type === 'integer' && typeof jsonSchema.default === 'string')
      return { ...jsonSchema, default: Number(jsonSchema.default) };
    return undefined;
  },
};

/** Every valibot schema a route of the groups names (inputs and answers). */
function schemasOf(groups: readonly RouteGroup[]): Schema[] {
  const out: Schema[] = [];
  for (const r of groups.flatMap((g) => g.routes)) {
    const body = r.body && !isSchema(r.body) ? Object.values(r.body.content) : [r.body];
    const answers = Object.values(r.answers).map((a) => (isSchema(a) ? a : a.schema));
    for (const s of [r.query, r.param, r.header, ...body, ...answers]) if (isSchema(s)) out.push(s);
  }
  return out;
}

/**
 * Converts the components and every other schema in one pass (the converter converts every definition
 * again for each call: one call per schema took seconds). The others are converted under names of
 * their own and put back inline wherever they stand; components are referred to by $ref.
 */
function converter(components: Record<string, Schema>, schemas: readonly Schema[]) {
  const names = new Map<Schema, string>(Object.entries(components).map(([k, s]) => [s, k]));
  const inlined = new Map<string, Schema>();
  const definitions: Record<string, Schema> = { ...components };
  for (const s of schemas) {
    if (names.has(s)) continue;
    const key = `~inline${inlined.size}`;
    names.set(s, key);
    inlined.set(key, s);
    definitions[key] = s;
  }
  const converted = toJsonSchemaDefs(definitions, CONVERSION) as Record<string, Json>;
  const PREFIX = '#/components/schemas/';
  const resolve = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(resolve);
    if (typeof x !== 'object' || x === null) return x;
    const ref = (x as { $ref?: unknown }).$ref;
    if (typeof ref === 'string' && inlined.has(ref.slice(PREFIX.length)))
      return resolve(converted[ref.slice(PREFIX.length)]);
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, resolve(v)]));
  };
  return {
    one(s: Schema | Json): Json {
      if (!isSchema(s)) return s;
      const name = names.get(s);
      if (name === undefined) throw new Error('a schema the route tables do not name');
      return (inlined.has(name) ? resolve(converted[name]) : { $ref: `${PREFIX}${name}` }) as Json;
    },
    components(): Json {
      return Object.fromEntries(Object.keys(components).map((k) => [k, resolve(converted[k])]));
    },
  };
}

/** An object schema's fields as OpenAPI parameters (`in` query, path or header). */
function parameters(
  convert: (s: Schema) => Json,
  s: Schema | undefined,
  where: string,
  only?: string[],
): Json[] {
  if (!s) return [];
  const js = convert(s) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(js.properties ?? {})
    .filter(([name]) => !only || only.includes(name))
    .map(([name, schema]) => {
      const { description, ...rest } = schema;
      return {
        // Header names as HTTP writes them (hono's validator sees them lower-case).
        name: where === 'header' ? name.replace(/(^|-)([a-z])/g, (m) => m.toUpperCase()) : name,
        in: where,
        ...(where === 'path' || js.required?.includes(name) ? { required: true } : {}),
        schema: rest,
        ...(description !== undefined ? { description } : {}),
      };
    });
}

function operation(convert: ReturnType<typeof converter>, r: RouteDoc): Json {
  const one = (s: Schema | Json) => convert.one(s);
  const pathNames = [...r.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
  const params = [
    ...parameters(one, r.param, 'path', pathNames),
    ...parameters(one, r.query, 'query'),
    ...parameters(one, r.header, 'header'),
  ];
  const body =
    r.body === undefined
      ? undefined
      : {
          required: true,
          content: Object.fromEntries(
            Object.entries(isSchema(r.body) ? { 'application/json': r.body } : r.body.content).map(
              ([type, s]) => [type, { schema: one(s) }],
            ),
          ),
        };
  const responses: Json = {};
  for (const [status, a] of Object.entries(r.answers)) {
    const answer: Answer = isSchema(a) ? { schema: a } : a;
    responses[status] = {
      description: answer.description ?? 'OK',
      content: { [answer.type ?? 'application/json']: { schema: one(answer.schema) } },
    };
  }
  for (const code of r.errors ?? []) responses[String(code)] = { $ref: `#/components/responses/E${code}` };
  return {
    summary: r.summary,
    ...(r.public ? { security: [] } : {}),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(body ? { requestBody: body } : {}),
    responses,
  };
}

/** The paths of route groups: `{ "/api/v1/x/{id}": { get: …, delete: … } }`. */
function documentPaths(groups: readonly RouteGroup[], convert: ReturnType<typeof converter>): Json {
  const paths: Record<string, Json> = {};
  for (const g of groups)
    for (const r of g.routes) {
      const path = `${g.prefix}${r.path}`.replace(/:(\w+)/g, '{$1}');
      paths[path] = { ...paths[path], [r.method.toLowerCase()]: operation(convert, r) };
    }
  return paths;
}

/** The route groups of the app: the core API, and the groups mounted (ApiDeps.extraRoutes paths). */
export function routeGroups(mounted: readonly string[] = []): RouteGroup[] {
  const groups: RouteGroup[] = [
    { prefix: '', routes: CORE_ROUTES, components: { ...CORE_COMPONENTS, UciBody } },
  ];
  if (mounted.includes(REMEDIATION_PREFIX)) groups.push(remediationDocs(`/api/v1${REMEDIATION_PREFIX}`));
  return groups;
}

/**
 * The document (built once). `mounted` names the extra route groups the app serves (ApiDeps.extraRoutes
 * paths, e.g. '/remediation'): their paths are described only when they are there.
 */
export function openApiDocument(version: string, mounted: readonly string[] = []): Json {
  const groups = routeGroups(mounted);
  const components: Record<string, Schema> = Object.assign({}, ...groups.map((g) => g.components));
  const convert = converter(components, schemasOf(groups));
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
    paths: documentPaths(groups, convert),
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: convert.components(),
      responses: Object.fromEntries(
        Object.entries(ERRORS).map(([code, description]) => [
          `E${code}`,
          {
            description,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
          },
        ]),
      ),
    },
  };
}
