// API errors: every failure answers JSON `{error, detail}` with the right status; no stack traces, and no
// 5xx for anything a client can send.

import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type * as v from 'valibot';
import type { ConfigIssue } from '../config/index.js';
import { DepsError } from './deps.js';

/** The machine-readable `error` values. */
export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'precondition_failed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'invalid_config'
  | 'too_many_clients'
  | 'unavailable'
  | 'bad_gateway'
  | 'internal';

export interface ErrorBody {
  error: ErrorCode;
  detail: string;
  /** Validation problems, one per field ("query.limit: ..."), or config issues with their lines. */
  issues?: { path?: string; line?: number; message: string }[];
}

/** An error a handler throws to answer with `status`. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    detail: string,
    readonly issues?: ErrorBody['issues'],
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

export function errorBody(code: ErrorCode, detail: string, issues?: ErrorBody['issues']): ErrorBody {
  return issues && issues.length > 0 ? { error: code, detail, issues } : { error: code, detail };
}

export function jsonError(
  c: Context,
  status: ContentfulStatusCode,
  code: ErrorCode,
  detail: string,
  issues?: ErrorBody['issues'],
): Response {
  return c.json(errorBody(code, detail, issues), status);
}

function issuePath(issue: v.BaseIssue<unknown>): string {
  return (issue.path ?? []).map((p) => String(p.key)).join('.');
}

/** Valibot issues → the `issues` list and a one-line detail. */
export function validationIssues(target: string, issues: readonly v.BaseIssue<unknown>[]) {
  const list = issues.slice(0, 20).map((i) => {
    const p = issuePath(i);
    return { path: p === '' ? target : `${target}.${p}`, message: i.message };
  });
  const detail = list.map((i) => `${i.path}: ${i.message}`).join('; ');
  return { list, detail: detail.length > 500 ? `${detail.slice(0, 497)}...` : detail };
}

/** The hook given to vValidator: a 400 with the reasons, instead of valibot's raw result. */
export function validationHook(
  result: { success: boolean; issues?: readonly v.BaseIssue<unknown>[]; target: string },
  c: Context,
): Response | undefined {
  if (result.success) return undefined;
  const { list, detail } = validationIssues(result.target, result.issues ?? []);
  return jsonError(c, 400, 'bad_request', `invalid ${result.target}: ${detail}`, list);
}

function configIssues(issues: readonly ConfigIssue[]) {
  return issues.slice(0, 50).map((i) => ({ line: i.line, message: i.message }));
}

/** Maps anything thrown in a handler to a response; unknown errors become a 500 without details. */
export function errorResponse(err: unknown, c: Context, log?: (msg: string) => void): Response {
  if (err instanceof ApiError) return jsonError(c, err.status, err.code, err.message, err.issues);
  if (err instanceof DepsError) {
    switch (err.kind) {
      case 'invalid':
        return jsonError(c, 422, 'invalid_config', err.message, configIssues(err.issues));
      case 'conflict':
        return jsonError(c, 409, 'conflict', err.message);
      case 'not_found':
        return jsonError(c, 404, 'not_found', err.message);
      case 'precondition_failed':
        return jsonError(c, 412, 'precondition_failed', err.message);
      case 'unavailable':
        return jsonError(c, 503, 'unavailable', err.message);
    }
  }
  if (err instanceof HTTPException) {
    // A middleware's own answer in our shape (the bearer auth's 401 with its challenge).
    if (err.res) return err.getResponse();
    const status = err.status;
    if (status === 413) return jsonError(c, 413, 'payload_too_large', 'the request body is too large');
    if (status === 401) return jsonError(c, 401, 'unauthorized', err.message || 'unauthorized');
    if (status >= 400 && status < 500) {
      const detail = err.message || 'bad request';
      return jsonError(c, status as ContentfulStatusCode, 'bad_request', detail);
    }
  }
  // Body-reading failures of a broken client (aborted upload, bad encoding) are the client's fault.
  if (err instanceof TypeError && /body|json|decode/i.test(err.message))
    return jsonError(c, 400, 'bad_request', 'the request body could not be read');
  log?.(`internal error on ${c.req.method} ${c.req.path}: ${(err as Error)?.message ?? String(err)}`);
  if (process.env.TUNGUARD_DEBUG) log?.(String((err as Error)?.stack));
  return jsonError(c, 500, 'internal', 'internal error (see the daemon log)');
}
