// The options every API command shares and the checks of option and argument values, each a usage
// error (exit 2) naming the valid values.

import type { ParseArgsConfig } from 'node:util';
import { parseCidr } from '../config/index.js';
import { parseCommand } from './args.js';
import { ApiClient, type LocateFlags, locate } from './client.js';
import { COMMAND_HELP } from './help.js';
import { didYouMean } from './suggest.js';
import { UsageError } from './usage.js';

const COMMON_OPTIONS = {
  api: { type: 'string' },
  'state-dir': { type: 'string' },
  config: { type: 'string' },
  'token-file': { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(
  cmd: string,
  argv: string[],
  extra: O,
  positionals = false,
) {
  return parseCommand(argv, { ...COMMON_OPTIONS, ...extra }, positionals, COMMAND_HELP[cmd]);
}

export function intOption(
  v: string | undefined,
  name: string,
  min: number,
  max: number,
  cmd: string,
): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`--${name}: expected an integer ${min}..${max}, got '${v}'`, COMMAND_HELP[cmd]);
  return Number(v);
}

export function prefixArg(v: string, what: string, cmd: string): string {
  try {
    return parseCidr(v).cidr;
  } catch (err) {
    throw new UsageError(
      `${what}: '${v}' is not an address or prefix: ${(err as Error).message}`,
      COMMAND_HELP[cmd],
    );
  }
}

export function client(values: LocateFlags & { timeout?: string }, cmd: string): ApiClient {
  const timeout = intOption(values.timeout, 'timeout', 1, 600, cmd) ?? 5;
  return new ApiClient(locate(values), timeout * 1000);
}

/** An enum option's value, or a usage error naming the valid values (and the nearest one). */
export function oneOf(
  value: string,
  flag: string,
  valid: readonly string[],
  cmd: keyof typeof COMMAND_HELP,
): string {
  if (valid.includes(value)) return value;
  throw new UsageError(
    `--${flag}: expected one of ${valid.join(', ')}, got '${value}'${didYouMean(value, valid)}`,
    COMMAND_HELP[cmd],
  );
}

export function oneArg(positionals: string[], cmd: string, what?: string): string | undefined {
  if (positionals.length > 1) throw new UsageError('too many arguments', COMMAND_HELP[cmd]);
  const a = positionals[0];
  if (a !== undefined && (a.length === 0 || a.length > 256))
    throw new UsageError(`${what ?? 'argument'}: expected 1-256 characters`, COMMAND_HELP[cmd]);
  return a;
}
