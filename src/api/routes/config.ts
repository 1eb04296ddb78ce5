// GET/PUT /config (UCI text, validated by src/config, persisted atomically), POST /config/check, and the
// allowlist: GET/POST /allowlist, DELETE /allowlist/:address[/:bits].

import { Hono } from 'hono';
import { type CidrPrefix, parseCidr } from '../../config/index.js';
import { ApiError } from '../errors.js';
import { AllowBody, IfMatchHeader, NoQuery, PrefixParam, UciBody } from '../schemas.js';
import { listAnswer, shown } from '../util.js';
import { header, json, param, query, type RouteContext, requireJson } from './context.js';

export function configRoutes({ deps }: RouteContext) {
  return new Hono()
    .get('/config', query(NoQuery), (c) => {
      const view = deps.config.get();
      c.header('ETag', view.etag);
      return c.json(view);
    })
    .put('/config', query(NoQuery), header(IfMatchHeader), requireJson, json(UciBody), async (c) => {
      const ifMatch = c.req.valid('header')['if-match'];
      const r = await deps.config.set(c.req.valid('json').uci, ifMatch);
      c.header('ETag', r.view.etag);
      return c.json(r);
    })
    .post('/config/check', query(NoQuery), requireJson, json(UciBody), (c) =>
      c.json(deps.config.check(c.req.valid('json').uci)),
    );
}

export function allowlistRoutes({ deps }: RouteContext) {
  const remove = async (address: string, bits: string | undefined) => {
    const text = bits === undefined ? address : `${address}/${bits}`;
    let prefix: ReturnType<typeof parseCidr>;
    try {
      if (text.length > 64) throw new Error('too long');
      prefix = parseCidr(text);
    } catch (err) {
      throw new ApiError(
        400,
        'bad_request',
        `expected an address or prefix, got ${shown(text)}: ${(err as Error).message}`,
      );
    }
    return deps.allowlist.remove(prefix);
  };
  return new Hono()
    .get('/allowlist', query(NoQuery), (c) => {
      const l = deps.allowlist.list();
      return c.json({ ...listAnswer(l.items), persisted: l.persisted });
    })
    .post('/allowlist', query(NoQuery), requireJson, json(AllowBody), async (c) => {
      const b = c.req.valid('json');
      // RFC 9745: the old field name still works this release; clients are told it goes.
      if (b.prefix !== undefined) c.header('Deprecation', '@1796515200');
      const r = await deps.allowlist.add((b.cidr ?? b.prefix) as CidrPrefix, b.comment);
      return c.json(r, r.changed ? 201 : 200);
    })
    .delete('/allowlist/:address', param(PrefixParam), query(NoQuery), async (c) =>
      c.json(await remove(c.req.valid('param').address, undefined)),
    )
    .delete('/allowlist/:address/:bits', param(PrefixParam), query(NoQuery), async (c) => {
      const p = c.req.valid('param');
      return c.json(await remove(p.address, p.bits));
    });
}
