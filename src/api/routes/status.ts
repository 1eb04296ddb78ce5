// GET /status, /tiers, /ratelimit: what the daemon and its defenses are doing now.

import { Hono } from 'hono';
import { LimitQuery, NoQuery } from '../schemas.js';
import { query, type RouteContext } from './context.js';

export function statusRoutes({ deps }: RouteContext) {
  return new Hono()
    .get('/status', query(NoQuery), (c) => c.json(deps.status()))
    .get('/tiers', query(LimitQuery), (c) => {
      const limit = c.req.valid('query').limit;
      const h = deps.tiers.history(limit);
      return c.json({ ...h, total: h.total ?? h.items.length, offset: 0, limit });
    })
    .get('/ratelimit', query(NoQuery), (c) => c.json(deps.ratelimit.stats()));
}
