// Valibot schemas for every input the API takes: query strings, path parameters, JSON bodies, headers.
// Query and path values arrive as strings; each is parsed strictly and says what it expected.

import * as v from 'valibot';
import { type CidrPrefix, hasControlCharacter, parseCidr } from '../config/index.js';
import { CONTROL_EVENT_TYPES } from './events.js';
import { CONNECTION_STATES } from './responses.js';
import { documented, documentedMore } from './schema-parts.js';
import { shown } from './util.js';

/** The message when a query parameter is given twice (it then arrives as an array). */
/** Largest configuration accepted through the API (the loader takes files up to 1 MiB). */
export const MAX_API_CONFIG_BYTES = 256 * 1024;

export const ONE = 'expected a single value (the parameter is repeated)';

/** Refuses control characters (and, with `slashes`, / and \\: the value names one thing, not a path). */
export function noControlCharacters(slashes = false) {
  return slashes
    ? v.check(
        (s: string) => !hasControlCharacter(s) && !/[/\\]/.test(s),
        'control characters and slashes are not allowed',
      )
    : v.check((s: string) => !hasControlCharacter(s), 'control characters are not allowed');
}

/** A decimal integer in [min, max] given as a string (the document shows the integer). */
export function intString(min: number, max: number, description?: string) {
  return v.pipe(
    v.string(ONE),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const s = dataset.value;
      const n = /^[0-9]{1,10}$/.test(s) ? Number(s) : Number.NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        addIssue({ message: `expected an integer ${min}..${max}, got ${shown(s)}` });
        return NEVER;
      }
      return n;
    }),
    documented<number>({
      type: 'integer',
      minimum: min,
      maximum: max,
      ...(description ? { description } : {}),
    }),
  );
}

/** An address or CIDR prefix (host bits clear), parsed by the config's strict parser. */
export function prefixString(what = 'an IPv4/IPv6 address or prefix', description?: string) {
  return v.pipe(
    v.string(ONE),
    v.description(description ?? 'IPv4/IPv6 address or CIDR prefix with host bits clear'),
    v.maxLength(64, `expected ${what} (at most 64 characters)`),
    v.rawTransform(({ dataset, addIssue, NEVER }): CidrPrefix => {
      try {
        return parseCidr(dataset.value);
      } catch (err) {
        addIssue({ message: `expected ${what}, got ${shown(dataset.value)}: ${(err as Error).message}` });
        return NEVER;
      }
    }),
  );
}

/** A single address (no prefix length). */
export function addressString() {
  return v.pipe(
    v.string(ONE),
    v.maxLength(64, 'expected an IPv4/IPv6 address (at most 64 characters)'),
    v.rawTransform(({ dataset, addIssue, NEVER }): CidrPrefix => {
      const s = dataset.value;
      try {
        if (s.includes('/')) throw new Error('a single address has no /length');
        return parseCidr(s);
      } catch (err) {
        addIssue({ message: `expected an IPv4/IPv6 address, got ${shown(s)}: ${(err as Error).message}` });
        return NEVER;
      }
    }),
  );
}

/** Text without control characters (what UCI can hold and a terminal can show). */
function plainText(max: number) {
  return v.pipe(
    v.string('expected a string'),
    v.maxLength(max, `expected at most ${max} characters`),
    noControlCharacters(),
  );
}

/** Routes without parameters still refuse unknown ones (a typo should not be silently ignored). */
export const NoQuery = v.strictObject({}, (issue) => `unknown query parameter '${String(issue.input)}'`);

/** A query object that names its known parameters when it meets another. */
export function strictQuery<T extends v.ObjectEntries>(entries: T) {
  return v.strictObject(entries, (issue) =>
    issue.expected === 'never'
      ? `unknown query parameter (known: ${Object.keys(entries).join(', ') || 'none'})`
      : 'expected query parameters',
  );
}

export const LimitQuery = strictQuery({
  limit: v.optional(intString(1, 1000, 'at most this many items'), '100'),
});

export const ConnectionsQuery = strictQuery({
  offset: v.optional(intString(0, 10_000_000, 'skip this many'), '0'),
  limit: v.optional(intString(1, 1000, 'page size'), '50'),
  src: v.optional(prefixString(undefined, 'source address or prefix')),
  dst: v.optional(prefixString(undefined, 'destination address or prefix')),
  port: v.optional(intString(1, 65535, 'either port')),
  state: v.optional(
    v.pipe(
      v.string(ONE),
      v.picklist(CONNECTION_STATES, `expected one of ${CONNECTION_STATES.join(', ')}`),
      v.description('connection state'),
    ),
  ),
  family: v.optional(
    v.pipe(v.string(ONE), v.picklist(['4', '6'], 'expected 4 or 6'), v.description('address family')),
  ),
});

export const EventsQuery = strictQuery({
  types: v.optional(
    v.pipe(
      v.string(ONE),
      v.maxLength(200),
      v.transform((s) => s.split(',').filter((x) => x !== '')),
      v.array(
        v.picklist(CONTROL_EVENT_TYPES, `expected event types among ${CONTROL_EVENT_TYPES.join(', ')}`),
      ),
      v.minLength(1, 'expected at least one event type'),
      documented<(typeof CONTROL_EVENT_TYPES)[number][]>({
        type: 'string',
        description: `only these types: comma-separated among ${CONTROL_EVENT_TYPES.join(', ')}`,
      }),
    ),
  ),
});

export const AddressParam = v.strictObject({
  address: v.pipe(addressString(), v.description('IPv4 or IPv6 address')),
});

export const PrefixParam = v.strictObject({
  address: v.pipe(v.string(), v.description('network address')),
  bits: v.optional(v.pipe(v.string(), v.description('prefix length'))),
});

// The allowlist answers entries as `cidr` (lists, changes, the SSE event): a body names it the same.
// `prefix`, its name in bodies before, is still taken for one release (answered with a Deprecation header).
export const AllowBody = v.pipe(
  v.strictObject(
    {
      cidr: v.optional(prefixString()),
      prefix: v.optional(
        v.pipe(
          prefixString(
            undefined,
            'the old name of cidr, taken until the next release (answered with a Deprecation header)',
          ),
          documentedMore({ deprecated: true }),
        ),
      ),
      comment: v.optional(plainText(200), ''),
    },
    (issue) =>
      issue.expected === 'never' ? 'unknown field (known: cidr, comment)' : 'expected a JSON object',
  ),
  v.check((b) => (b.cidr === undefined) !== (b.prefix === undefined), 'expected the field cidr'),
  documentedMore({ oneOf: [{ required: ['cidr'] }, { required: ['prefix'] }] }),
);

export const UciBody = v.strictObject(
  {
    uci: v.pipe(
      v.string('expected the UCI text as a string'),
      v.check(
        (s) => Buffer.byteLength(s) <= MAX_API_CONFIG_BYTES,
        `expected at most ${MAX_API_CONFIG_BYTES} bytes of UCI text`,
      ),
      v.description(`UCI text, at most ${MAX_API_CONFIG_BYTES} bytes`),
    ),
  },
  (issue) => (issue.expected === 'never' ? 'unknown field (known: uci)' : 'expected a JSON object'),
);

export const IfMatchHeader = v.object({
  'if-match': v.optional(
    v.pipe(v.string(), v.maxLength(100, 'If-Match is too long'), v.description('etag from GET')),
  ),
});
