// The hono app: public /healthz and dashboard page, everything else behind the bearer token, under
// /api/v1 (plus /metrics). Body size limits, optional CORS, JSON errors, and the once-a-second counters
// event for SSE clients.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import type { ApiDeps, StatusSnapshot } from './deps.js';
import { ApiError, errorResponse, jsonError } from './errors.js';
import { SseHub, type SseHubOptions } from './events.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { attackerRoutes } from './routes/attackers.js';
import { allowlistRoutes, configRoutes } from './routes/config.js';
import { connectionRoutes } from './routes/connections.js';
import type { RouteContext } from './routes/context.js';
import { eventRoutes } from './routes/events.js';
import { statusRoutes } from './routes/status.js';
import { secretEquals } from './util.js';

export const API_PREFIX = '/api/v1';

export interface ApiOptions {
  /** The bearer token now (read on every request, so a reload can change it). */
  token: () => string;
  /** Whether to answer CORS requests (read on every request). Default: never. */
  cors?: () => boolean;
  /** Where internal errors are logged (never with request bodies or the token). */
  log?: (msg: string) => void;
  sse?: SseHubOptions;
  /** Interval of the `counters` event, ms (default 1000). */
  countersIntervalMs?: number;
  /** Interval of SSE keep-alive comments, ms (default 15000). */
  heartbeatMs?: number;
  /** Body limit of most routes, bytes (default 16 KiB); /config takes MAX_API_CONFIG_BYTES + 4 KiB. */
  bodyLimit?: number;
}

export interface Api {
  app: Hono;
  hub: SseHub;
  /** Stops the timers and ends every event stream. */
  close(): void;
}

/** Where the dashboard's files are: beside this module (source) or in the source tree (dist build). */
function findDashboard(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [join(here, 'dashboard'), join(here, '..', '..', '..', 'src', 'api', 'dashboard')]) {
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return undefined;
}

interface Asset {
  body: string;
  type: string;
}

function loadAssets(): Map<string, Asset> {
  const dir = findDashboard();
  const out = new Map<string, Asset>();
  if (!dir) return out;
  out.set('/', { body: readFileSync(join(dir, 'index.html'), 'utf8'), type: 'text/html; charset=utf-8' });
  out.set('/dashboard.js', {
    body: readFileSync(join(dir, 'dashboard.js'), 'utf8'),
    type: 'text/javascript; charset=utf-8',
  });
  return out;
}

/** Route patterns of the app, for telling 405 from 404. */
function routeMatchers(app: Hono): { re: RegExp; method: string }[] {
  return app.routes
    .filter((r) => r.method !== 'ALL')
    .map((r) => ({
      method: r.method,
      re: new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z_]+/g, '[^/]+')}$`),
    }));
}

const MAX_RESPONSE_CODES = 64;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A too-large body up to this size is read and discarded before the 413, so the client sees the answer. */
const DISCARD_MAX = 4 << 20;

/**
 * Reads the request body up to `max` bytes and caches it as text for the validators. Beyond `max`: a 413
 * (the rest of the body is read and discarded up to DISCARD_MAX, so the client is not cut off before it
 * can read the answer). A body that is not UTF-8 is a 400.
 */
async function readBody(c: Context, max: number): Promise<void> {
  const raw = c.req.raw;
  if (c.req.method === 'GET' || c.req.method === 'HEAD' || raw.body === null) return;
  const tooLarge = () =>
    new ApiError(413, 'payload_too_large', `the request body is larger than ${max} bytes`);
  const declared = Number(raw.headers.get('content-length') ?? Number.NaN);
  if (declared > DISCARD_MAX) {
    c.header('Connection', 'close');
    throw tooLarge();
  }
  const reader = raw.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > DISCARD_MAX) {
      void reader.cancel().catch(() => {});
      c.header('Connection', 'close');
      throw tooLarge();
    }
    if (size <= max) chunks.push(value);
  }
  if (size > max) throw tooLarge();
  const buf = Buffer.concat(chunks, size);
  let text: string;
  try {
    text = utf8.decode(buf);
  } catch {
    throw new ApiError(400, 'bad_request', 'the request body is not valid UTF-8');
  }
  (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
}

export function createApi(deps: ApiDeps, opts: ApiOptions): Api {
  const log = opts.log ?? (() => {});
  const hub = new SseHub(opts.sse);
  const ctx: RouteContext = { deps, hub };
  const responses = new Map<number, number>();
  const assets = loadAssets();
  const limit = opts.bodyLimit ?? 16 * 1024;
  const configLimit = 256 * 1024 + 4096;
  // The document describes the route groups mounted here too (remediation, when the daemon has it).
  const openapi = JSON.stringify(
    openApiDocument(
      deps.version,
      (deps.extraRoutes ?? []).map((e) => e.path),
    ),
  );

  const app = new Hono();
  app.onError((err, c) => errorResponse(err, c, log));

  // Count responses, set the headers every answer carries.
  app.use('*', async (c, next) => {
    await next();
    const code = c.res.status;
    if (responses.has(code) || responses.size < MAX_RESPONSE_CODES)
      responses.set(code, (responses.get(code) ?? 0) + 1);
    c.res.headers.set('X-Content-Type-Options', 'nosniff');
    c.res.headers.set('Referrer-Policy', 'no-referrer');
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
  });

  // CORS, only when configured: any origin (auth is a bearer token, never a cookie).
  app.use('*', async (c, next) => {
    if (!opts.cors?.() || !c.req.header('origin')) return next();
    if (c.req.method === 'OPTIONS') {
      return c.body(null, 204, {
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, If-Match',
        'Access-Control-Max-Age': '600',
      });
    }
    await next();
    c.res.headers.set('Access-Control-Allow-Origin', '*');
    c.res.headers.set('Access-Control-Expose-Headers', 'ETag');
  });

  // Public: the probe and the dashboard page (a static page holding no data; it asks for the token).
  app.get('/healthz', (c) => {
    const h = deps.health();
    return c.json({ ok: h.ok }, h.ok ? 200 : 503);
  });
  for (const [path, asset] of assets) {
    app.get(path, (c) => {
      c.header('Content-Type', asset.type);
      c.header(
        'Content-Security-Policy',
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
      );
      return c.body(asset.body);
    });
  }
  if (!assets.has('/')) {
    app.get('/', (c) => jsonError(c, 404, 'not_found', 'the dashboard files are not installed'));
  }

  // Everything else needs the token.
  const auth: MiddlewareHandler = async (c, next) => {
    const h = c.req.header('authorization');
    if (h === undefined) {
      c.header('WWW-Authenticate', 'Bearer realm="tunguard"');
      throw new ApiError(401, 'unauthorized', 'missing bearer token (Authorization: Bearer <token>)');
    }
    const m = /^Bearer[ ]+([^ ]{1,512})[ ]*$/i.exec(h);
    if (!m || !secretEquals(m[1], opts.token())) {
      c.header('WWW-Authenticate', 'Bearer realm="tunguard", error="invalid_token"');
      throw new ApiError(401, 'unauthorized', 'wrong bearer token');
    }
    await next();
  };
  app.use('/metrics', auth);
  app.use(`${API_PREFIX}/*`, auth);
  app.use(`${API_PREFIX}`, auth);

  app.use(`${API_PREFIX}/*`, async (c, next) => {
    const path = c.req.path;
    const extra = (deps.extraRoutes ?? []).find(
      (e) =>
        e.bodyLimit !== undefined &&
        (path === `${API_PREFIX}${e.path}` || path.startsWith(`${API_PREFIX}${e.path}/`)),
    );
    const max = path.startsWith(`${API_PREFIX}/config`)
      ? configLimit
      : extra?.bodyLimit !== undefined
        ? Math.min(extra.bodyLimit, DISCARD_MAX)
        : limit;
    await readBody(c, max);
    await next();
  });

  app.get('/metrics', (c) => {
    const s: StatusSnapshot = deps.status();
    const text = renderMetrics(s, {
      responses,
      sse: hub.stats(),
      attackers: deps.attackers.list(1).total,
      ignoredEvents: deps.events.ignored?.() ?? 0,
      eventLoop: deps.eventLoopDelay?.(),
    });
    return c.body(text, 200, { 'Content-Type': METRICS_CONTENT_TYPE });
  });
  app.get(`${API_PREFIX}/openapi.json`, (c) => c.body(openapi, 200, { 'Content-Type': 'application/json' }));

  const v1 = new Hono()
    .route('/', statusRoutes(ctx))
    .route('/', connectionRoutes(ctx))
    .route('/', attackerRoutes(ctx))
    .route('/', configRoutes(ctx))
    .route('/', allowlistRoutes(ctx))
    .route('/', eventRoutes(ctx));
  app.route(API_PREFIX, v1);
  // The mount point for route groups that come later (remediation: hosts, threats, rules, dispatches).
  for (const extra of deps.extraRoutes ?? []) {
    if (!/^\/[a-z][a-z0-9-]*$/.test(extra.path)) throw new Error(`bad extra route path '${extra.path}'`);
    app.route(`${API_PREFIX}${extra.path}`, extra.app);
  }

  const matchers = routeMatchers(app);
  app.notFound((c) => {
    const path = c.req.path;
    const allowed = [...new Set(matchers.filter((m) => m.re.test(path)).map((m) => m.method))];
    if (allowed.length > 0) {
      c.header('Allow', allowed.join(', '));
      return jsonError(
        c,
        405,
        'method_not_allowed',
        `${c.req.method} is not allowed here (allowed: ${allowed.join(', ')})`,
      );
    }
    return jsonError(c, 404, 'not_found', 'no such resource');
  });

  // The counters event: per-second rates from consecutive snapshots.
  let prev: { at: number; counters: Record<string, number> } | undefined;
  const tick = () => {
    let s: StatusSnapshot;
    try {
      s = deps.status();
    } catch (err) {
      log(`status for the counters event failed: ${(err as Error).message}`);
      return;
    }
    const at = Date.now();
    if (prev && hub.wants('counters')) {
      const dt = Math.max(0.001, (at - prev.at) / 1000);
      const rates: Record<string, number> = {};
      for (const [k, val] of Object.entries(s.counters))
        if (!k.startsWith('gauge_')) rates[k] = Math.max(0, (val - (prev.counters[k] ?? 0)) / dt);
      const dropRates: Record<string, number> = {};
      for (const k of Object.keys(s.drops)) dropRates[k] = rates[k] ?? 0;
      hub.publish('counters', {
        type: 'counters',
        at,
        intervalSeconds: dt,
        tier: s.tier,
        halfOpen: s.halfOpen,
        counters: s.counters,
        rates,
        drops: s.drops,
        dropRates,
      });
    }
    prev = { at, counters: s.counters };
  };
  const countersTimer = setInterval(tick, opts.countersIntervalMs ?? 1000);
  countersTimer.unref();
  const heartbeatTimer = setInterval(() => hub.heartbeat(), opts.heartbeatMs ?? 15_000);
  heartbeatTimer.unref();
  const unsubscribe = deps.events.subscribe((e) => {
    if (e.type !== 'counters') hub.publish(e.type, e);
  });

  return {
    app,
    hub,
    close() {
      clearInterval(countersTimer);
      clearInterval(heartbeatTimer);
      unsubscribe();
      hub.closeAll();
    },
  };
}
