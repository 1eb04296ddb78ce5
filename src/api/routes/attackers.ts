// GET /attackers (sources marked aggressive), DELETE /attackers[/:address] (clear marks).

import { Hono } from 'hono';
import { ApiError } from '../errors.js';
import { AddressParam, LimitQuery, NoQuery } from '../schemas.js';
import { param, query, type RouteContext } from './context.js';

export function attackerRoutes({ deps }: RouteContext) {
  return new Hono()
    .get('/attackers', query(LimitQuery), (c) => {
      const limit = c.req.valid('query').limit;
      return c.json({ ...deps.attackers.list(limit), offset: 0, limit });
    })
    .delete('/attackers', query(NoQuery), async (c) => c.json(await deps.attackers.clear()))
    .delete('/attackers/:address', param(AddressParam), query(NoQuery), async (c) => {
      const { address } = c.req.valid('param');
      const r = await deps.attackers.clear(address.address);
      if (r.cleared === 0) throw new ApiError(404, 'not_found', `${address.address} is not marked`);
      return c.json(r);
    });
}
