// GET /connections: the proxied connections, paged and filterable.

import { Hono } from 'hono';
import type { ConnectionQuery } from '../deps.js';
import { ConnectionsQuery } from '../schemas.js';
import { query, type RouteContext } from './context.js';

export function connectionRoutes({ deps }: RouteContext) {
  return new Hono().get('/connections', query(ConnectionsQuery), async (c) => {
    const q = c.req.valid('query');
    const cq: ConnectionQuery = { offset: q.offset, limit: q.limit };
    if (q.src) cq.src = q.src;
    if (q.dst) cq.dst = q.dst;
    if (q.port !== undefined) cq.port = q.port;
    if (q.state !== undefined) cq.state = q.state;
    if (q.family !== undefined) cq.family = q.family === '4' ? 4 : 6;
    return c.json(await deps.connections.list(cq));
  });
}
