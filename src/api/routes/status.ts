// GET /status, /tiers, /ratelimit: what the daemon and its defenses are doing now.

import { Hono } from 'hono';
import { LimitQuery, NoQuery } from '../schemas.js';
import { query, type RouteContext } from './context.js';

export function statusRoutes({ deps }: RouteContext) {
  return new Hono()
    .get('/status', query(NoQuery), (c) => c.json(deps.status()))
    .get('/tiers', query(LimitQuery), (c) => c.json(deps.tiers.history(c.req.valid('query').limit)))
    .get('/ratelimit', query(NoQuery), (c) => c.json(deps.ratelimit.stats()));
}
