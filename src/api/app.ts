// The hono app: public /healthz and dashboard page, everything else behind the bearer token, under
// /api/v1 (plus /metrics). hono's bearer auth, body limit, secure headers and CORS (optional), our JSON
// errors, and the once-a-second counters event for SSE clients.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import { timingSafeEqual } from 'hono/utils/buffer';
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
import { MAX_API_CONFIG_BYTES } from './schemas.js';

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
  /** Told of every request as it comes (the control plane's sampler wakes for it). */
  onRequest?: () => void;
}

export interface Api {
  app: Hono;
  hub: SseHub;
  /** Stops the timers and ends every event stream. */
  close(): void;
}

/**
 * hono's secure headers, limited to what the API has always sent: nosniff and no referrer. The others
 * (HSTS, frame and cross-origin policies) would change what a browser may do with the dashboard.
 */
const SECURE_HEADERS = {
  xContentTypeOptions: true,
  referrerPolicy: true,
  crossOriginEmbedderPolicy: false,
  crossOriginResourcePolicy: false,
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  strictTransportSecurity: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
} as const;

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

/**
 * Reads the (size-checked) request body and caches it as text for the validators: a body that is not
 * UTF-8 is a 400 naming that, not a JSON error about replacement characters.
 */
async function readUtf8Body(c: Context): Promise<void> {
  if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.raw.body === null) return;
  let text: string;
  try {
    text = utf8.decode(await c.req.arrayBuffer());
  } catch {
    throw new ApiError(400, 'bad_request', 'the request body is not valid UTF-8');
  }
  (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
}

/** No route takes a larger body, whatever it asks for; a too-large body up to this size is read and dropped. */
const MAX_BODY = 4 << 20;

/**
 * hono's body limit with our 413. The rest of a too-large body is read and dropped first (up to
 * MAX_BODY; beyond, the connection is closed), so a client still sending sees the answer.
 */
function limitBody(max: number): MiddlewareHandler {
  const tooLarge = () =>
    new ApiError(413, 'payload_too_large', `the request body is larger than ${max} bytes`);
  return (c, next) => {
    const source = standardRequest(c);
    return bodyLimit({
      maxSize: max,
      onError: async () => {
        await discardRest(c, source);
        throw tooLarge();
      },
    })(c, next);
  };
}

/**
 * The node adapter's own Request (server.ts keeps the global objects untouched) is not one the global
 * Request constructor can copy, and hono's body limit copies a request without Content-Length once it
 * has read the body: such a request is made a standard one, reading through the returned reader (which
 * the 413 then drains).
 */
function standardRequest(c: Context): ReadableStreamDefaultReader<Uint8Array> | undefined {
  const raw = c.req.raw;
  if (raw.body === null || (raw.headers.has('content-length') && !raw.headers.has('transfer-encoding')))
    return undefined;
  const source = raw.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      const { done, value } = await source.read();
      if (done) ctl.close();
      else ctl.enqueue(value);
    },
    cancel: (reason) => source.cancel(reason),
  });
  c.req.raw = new Request(raw.url, {
    method: raw.method,
    headers: raw.headers,
    body,
    signal: raw.signal,
    duplex: 'half',
  } as RequestInit);
  return source;
}

/** Reads and drops what is left of the body, up to MAX_BODY; past that, the connection is closed. */
async function discardRest(c: Context, source: ReadableStreamDefaultReader<Uint8Array> | undefined) {
  const declared = Number(c.req.header('content-length') ?? Number.NaN);
  const reader = source ?? (declared > MAX_BODY ? undefined : c.req.raw.body?.getReader());
  let seen = 0;
  for (;;) {
    const next = reader
      ? await reader.read().catch(() => ({ done: true as const, value: undefined }))
      : undefined;
    if (!next || next.done) break;
    seen += next.value.length;
    if (seen > MAX_BODY) break;
  }
  if (!reader || seen > MAX_BODY) {
    void reader?.cancel().catch(() => {});
    c.header('Connection', 'close');
  }
}

/** A 401 in our error shape; hono's bearer auth adds the WWW-Authenticate challenge. */
function unauthorized(detail: string) {
  return (c: Context) => jsonError(c, 401, 'unauthorized', detail);
}

export function createApi(deps: ApiDeps, opts: ApiOptions): Api {
  const log = opts.log ?? (() => {});
  const hub = new SseHub(opts.sse);
  const ctx: RouteContext = { deps, hub };
  const responses = new Map<number, number>();
  const assets = loadAssets();
  const defaultLimiter = limitBody(opts.bodyLimit ?? 16 * 1024);
  const configLimiter = limitBody(MAX_API_CONFIG_BYTES + 4096);
  const extraLimiters = new Map<number, MiddlewareHandler>();
  const extraLimiter = (max: number) => {
    const known = extraLimiters.get(max);
    if (known) return known;
    const made = limitBody(max);
    extraLimiters.set(max, made);
    return made;
  };
  // The document describes the route groups mounted here too (remediation, when the daemon has it). It
  // is generated when first asked for (tens of ms here, more on a router), not at every start.
  let openapi: string | undefined;
  const openApiText = () => {
    openapi ??= JSON.stringify(
      openApiDocument(
        deps.version,
        (deps.extraRoutes ?? []).map((e) => e.path),
      ),
    );
    return openapi;
  };

  const app = new Hono();
  app.onError((err, c) => errorResponse(err, c, log));

  // Count responses; answers are not cached unless a route says so.
  app.use('*', async (c, next) => {
    opts.onRequest?.();
    await next();
    const code = c.res.status;
    if (responses.has(code) || responses.size < MAX_RESPONSE_CODES)
      responses.set(code, (responses.get(code) ?? 0) + 1);
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
  });
  // The security headers every answer carries (the dashboard page adds its own CSP).
  app.use('*', secureHeaders(SECURE_HEADERS));

  // CORS, only when configured: any origin (auth is a bearer token, never a cookie).
  const corsHeaders = cors({
    origin: '*',
    allowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowHeaders: ['Authorization', 'Content-Type', 'If-Match'],
    exposeHeaders: ['ETag'],
    maxAge: 600,
  });
  app.use('*', (c, next) => (opts.cors?.() && c.req.header('origin') ? corsHeaders(c, next) : next()));

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

  // Everything else needs the token (read on every request: a reload may change it).
  const challenge = 'Bearer realm="tunguard"';
  const wrong = {
    wwwAuthenticateHeader: `${challenge}, error="invalid_token"`,
    message: unauthorized('wrong bearer token'),
  };
  const auth = bearerAuth({
    verifyToken: (given) => timingSafeEqual(given, opts.token()),
    noAuthenticationHeader: {
      wwwAuthenticateHeader: challenge,
      message: unauthorized('missing bearer token (Authorization: Bearer <token>)'),
    },
    // Another scheme or a malformed value: as a wrong token (a 401 the client can act on, not a 400).
    invalidAuthenticationHeader: wrong,
    invalidToken: wrong,
  });
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
    const limiter = path.startsWith(`${API_PREFIX}/config`)
      ? configLimiter
      : extra?.bodyLimit !== undefined
        ? extraLimiter(Math.min(extra.bodyLimit, MAX_BODY))
        : defaultLimiter;
    return limiter(c, async () => {
      await readUtf8Body(c);
      await next();
    });
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
  app.get(`${API_PREFIX}/openapi.json`, (c) =>
    c.body(openApiText(), 200, { 'Content-Type': 'application/json' }),
  );

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
    // Nobody listens: no snapshot (an idle router's main thread does nothing it need not).
    if (!hub.wants('counters')) {
      prev = undefined;
      return;
    }
    let s: StatusSnapshot;
    try {
      s = deps.status();
    } catch (err) {
      log(`status for the counters event failed: ${(err as Error).message}`);
      return;
    }
    const at = Date.now();
    if (prev) {
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
  // The counters event and the keep-alive comments run only while an event stream is open.
  let countersTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  const stopTimers = () => {
    clearInterval(countersTimer);
    clearInterval(heartbeatTimer);
    countersTimer = heartbeatTimer = undefined;
    prev = undefined;
  };
  hub.onClients = (count) => {
    if (count === 0) stopTimers();
    else if (!countersTimer) {
      countersTimer = setInterval(tick, opts.countersIntervalMs ?? 1000);
      countersTimer.unref();
      heartbeatTimer = setInterval(() => hub.heartbeat(), opts.heartbeatMs ?? 15_000);
      heartbeatTimer.unref();
    }
  };
  const unsubscribe = deps.events.subscribe((e) => {
    if (e.type !== 'counters') hub.publish(e.type, e);
  });

  return {
    app,
    hub,
    close() {
      stopTimers();
      unsubscribe();
      hub.closeAll();
    },
  };
}
