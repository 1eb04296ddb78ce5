// GET /events: Server-Sent Events. A `hello` with the status first, then tier changes, attacker marks,
// counters each second, config and allowlist changes. Each client has its own bounded queue: a client
// that reads too slowly loses its oldest events (announced by a `dropped` event), nobody else waits.

import { Hono } from 'hono';
import { ApiError } from '../errors.js';
import { EventsQuery } from '../schemas.js';
import { query, type RouteContext } from './context.js';

export function eventRoutes({ deps, hub }: RouteContext) {
  return new Hono().get('/events', query(EventsQuery), (c) => {
    const types = c.req.valid('query').types;
    const client = hub.connect(types ? new Set(types) : undefined);
    if (!client)
      throw new ApiError(503, 'too_many_clients', `at most ${hub.maxClients} event streams at once`);
    const hello = hub.frameFor('hello', {
      status: deps.status(),
      queueLimit: hub.queueLimit,
      types: types ?? null,
    });
    const retry = new TextEncoder().encode('retry: 2000\n\n');
    const first = new Uint8Array(retry.length + hello.length);
    first.set(retry);
    first.set(hello, retry.length);
    return new Response(client.stream(first), {
      status: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      },
    });
  });
}
