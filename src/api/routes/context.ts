// What every route group gets: the deps, the event hub, and the validators with the API's error format.

import { vValidator } from '@hono/valibot-validator';
import type { MiddlewareHandler } from 'hono';
import type * as v from 'valibot';
import type { ApiDeps } from '../deps.js';
import { ApiError, validationHook } from '../errors.js';
import type { SseHub } from '../events.js';

export interface RouteContext {
  deps: ApiDeps;
  hub: SseHub;
}

/** Validates the query string (unknown parameters are refused). */
export const query = <T extends v.GenericSchema>(schema: T) => vValidator('query', schema, validationHook);

/** Validates path parameters. */
export const param = <T extends v.GenericSchema>(schema: T) => vValidator('param', schema, validationHook);

/** Validates a JSON body; anything but application/json is a 415 first. */
export const json = <T extends v.GenericSchema>(schema: T) => vValidator('json', schema, validationHook);

/** Validates request headers. */
export const header = <T extends v.GenericSchema>(schema: T) => vValidator('header', schema, validationHook);

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

/** Refuses a body that does not say it is JSON (415), so a form post can never pass as an empty object. */
export const requireJson: MiddlewareHandler = async (c, next) => {
  const type = (c.req.header('content-type') ?? '').split(';')[0].trim();
  if (!JSON_TYPE.test(type))
    throw new ApiError(
      415,
      'unsupported_media_type',
      `expected Content-Type: application/json, got ${type === '' ? 'none' : `'${type.slice(0, 60)}'`}`,
    );
  await next();
};
