// Small helpers shared by the API modules.

import { createHash } from 'node:crypto';

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** A value shortened for an error message (never echo huge or binary input back). */
export function shown(s: string, max = 60): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return `'${clean.length > max ? `${clean.slice(0, max - 3)}...` : clean}'`;
}

/**
 * A list answer with the paging fields every list carries: `total` items in all, from `offset`, at most
 * `limit` (null: the list is not cut).
 */
export function listAnswer<T>(
  items: T[],
  o: { total?: number; offset?: number; limit?: number | null } = {},
): { items: T[]; total: number; offset: number; limit: number | null } {
  return { items, total: o.total ?? items.length, offset: o.offset ?? 0, limit: o.limit ?? null };
}
