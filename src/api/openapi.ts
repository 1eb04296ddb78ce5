// The OpenAPI 3.1 document served at /api/v1/openapi.json, generated: every route has an entry in a
// route table (method, path, summary, the valibot schemas its input is validated with, the schema of
// each answer) and @valibot/to-json-schema writes the JSON Schemas. Nothing is described twice: the
// schemas the routes validate with and the types the handlers return are the ones converted here. A
// test holds the tables equal to the routes the app has.

import { type ConversionConfig, type JsonSchema, toJsonSchema } from '@valibot/to-json-schema';
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

/** Converts valibot schemas to the document's JSON Schemas, components referred to by $ref. */
function converter(components: Record<string, Schema>) {
  const config: ConversionConfig = {
    target: 'draft-2020-12',
    definitions: components,
    // What a request check or transformation does is said in the error answer, not in JSON Schema.
    // A query pipeline (string, then picklist) is documented as both; what cannot be said is left out.
    errorMode: 'ignore',
    ignoreActions: ['check', 'transform', 'raw_transform', 'trim'],
    overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}`,
    // `documented` (schema-parts.ts): the JSON Schema the pipe has so far is replaced.
    overrideAction: ({ valibotAction }) =>
      (valibotAction as { metadata?: { openapi?: JsonSchema } }).metadata?.openapi,
    overrideSchema: ({ valibotSchema, jsonSchema }) => {
      // A value the document describes by `documented` (documentedAs).
      if (valibotSchema.type === 'custom') return {};
      // A query string's default ('100') as the integer it is parsed to.
      if (jsonSchema.type === 'integer' && typeof jsonSchema.default === 'string')
        return { ...jsonSchema, default: Number(jsonSchema.default) };
      return undefined;
    },
  };
  return {
    one(s: Schema | Json): Json {
      if (!isSchema(s)) return s;
      const { $schema: _s, $defs: _d, ...rest } = toJsonSchema(s, config) as Json;
      return rest;
    },
    components(): Json {
      const out: Json = {};
      for (const [name, s] of Object.entries(components)) {
        // Converted without itself as a definition, so the component is its schema, not a $ref to itself.
        const { [name]: _self, ...others } = components;
        const {
          $schema: _s,
          $defs: _d,
          ...rest
        } = toJsonSchema(s, { ...config, definitions: others }) as Json;
        out[name] = rest;
      }
      return out;
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
export function documentPaths(groups: readonly RouteGroup[], components: Record<string, Schema>): Json {
  const convert = converter(components);
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
    paths: documentPaths(groups, components),
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: converter(components).components(),
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
