// Small valibot pieces the API's request and answer schemas share, and the one way a schema says how
// the document should show it when its JSON Schema cannot be derived (openapi.ts reads it).

import * as v from 'valibot';

/** A JSON Schema fragment, as the document holds it. */
export type Json = Record<string, unknown>;

/**
 * How the document shows a schema whose value is not what arrives as JSON: a query string parsed to an
 * integer, a comma-separated list, an object described elsewhere. Last in its pipe: it replaces the
 * JSON Schema derived from what comes before (openapi.ts).
 */
export const documented = <T>(json: Json) => v.metadata<T, { openapi: Json }>({ openapi: json });

/** What the document adds to the JSON Schema derived from a schema (what a check says: oneOf, deprecated). */
export const documentedMore = <T>(json: Json) => v.metadata<T, Json>(json);

/** A value of type T the document describes as `json` (never parsed: answers are not validated here). */
export const documentedAs = <T>(json: Json) =>
  v.pipe(
    v.custom<T>(() => true),
    documented<T>(json),
  );

export const Int = v.pipe(v.number(), v.integer());

/** The one form of every time in the API: whole ms since the epoch. */
export const Time = v.pipe(
  v.number(),
  v.integer(),
  v.minValue(0),
  v.description(
    "ms since the Unix epoch (UTC). The one form of every time in the API, the event stream and the CLI --json: sorts and subtracts without parsing, in JavaScript (new Date(ms)) and in the router's Lua alike",
  ),
);
