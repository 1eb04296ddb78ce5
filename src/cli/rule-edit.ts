// The CLI verbs that change remediation rules, `rules save` and `rules delete`, and the bounded reads of
// what they and `programs add` take (a file or stdin). LuCI's rpcd plugin runs them too,
// passing what the browser sent on stdin, so a rule or a location (a Windows path has backslashes)
// reaches the API as JSON without ever being a shell word. The API validates; these only shape input.

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { CliError, EXIT, REM } from './client.js';
import { out, printJson } from './format.js';
import { COMMAND_HELP } from './help.js';
import { client, parse } from './options.js';
import { UsageError } from './usage.js';

/** A rule or a program spec on stdin or in a file: small JSON (LuCI's editor sends a few KiB). */
export const MAX_SPEC_BYTES = 64 * 1024;

/** Reads at most `max` bytes of a regular file (never through a symlink); refuses a larger one. */
export function readBounded(path: string, max: number, what: string): Buffer<ArrayBuffer> {
  let fd: number;
  try {
    fd = path === '-' ? 0 : openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ELOOP' ? `${what} ${path} is a symlink: refused` : `cannot open ${what} ${path}: ${code}`,
    );
  }
  try {
    if (fd !== 0) {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new CliError(`${what} ${path} is not a regular file`);
      if (st.size > max) throw new CliError(`${what} ${path} is ${st.size} bytes; at most ${max} are taken`);
    }
    // Read one byte past the bound: stdin has no size to check first.
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (;;) {
      let got: number;
      try {
        got = readSync(fd, buf, n, buf.length - n, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        throw err;
      }
      if (got === 0) break;
      n += got;
      if (n > max) throw new CliError(`${what} is larger than ${max} bytes`);
    }
    return buf.subarray(0, n);
  } finally {
    if (fd !== 0) closeSync(fd);
  }
}

export function jsonObject(text: Buffer, what: string): Record<string, unknown> {
  let x: unknown;
  try {
    x = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw new CliError(`${what} is not JSON: ${(err as Error).message}`, EXIT.USAGE);
  }
  if (x === null || typeof x !== 'object' || Array.isArray(x))
    throw new CliError(`${what} must be a JSON object`, EXIT.USAGE);
  return x as Record<string, unknown>;
}

/**
 * `rules save [--new] <file|->`: a rule (or rpcd's `{"rule": {...}}`) replaces the rule with its id;
 * with --new it is created and an existing id is an error, so an editor never overwrites by accident.
 */
export async function rulesSave(argv: string[]): Promise<number> {
  const { values, positionals } = parse('rules', argv, { new: { type: 'boolean' } }, true);
  if (positionals.length !== 1)
    throw new UsageError('rules save needs one file, or - for stdin', COMMAND_HELP.rules);
  const input = jsonObject(readBounded(positionals[0], MAX_SPEC_BYTES, 'the rule'), 'the rule');
  const rule = (input.rule !== undefined && input.id === undefined ? input.rule : input) as Record<
    string,
    unknown
  >;
  const create = values.new === true || input.create === true;
  if (rule === null || typeof rule !== 'object' || typeof rule.id !== 'string')
    throw new CliError('the rule needs an "id" (1-64 of letters, digits, . _ -)', EXIT.USAGE);
  const c = client(values, 'rules');
  const r = create
    ? await c.request(`${REM}/rules`, { method: 'POST', body: rule })
    : await c.request(`${REM}/rules/${encodeURIComponent(rule.id)}`, { method: 'PUT', body: rule });
  if (values.json) printJson(r);
  else out(`${create ? 'created' : 'saved'} rule ${rule.id}`);
  return EXIT.OK;
}

export async function rulesDelete(argv: string[]): Promise<number> {
  const { values, positionals } = parse('rules', argv, {}, true);
  if (positionals.length !== 1) throw new UsageError('rules delete needs a rule id', COMMAND_HELP.rules);
  const r = await client(values, 'rules').request(`${REM}/rules/${encodeURIComponent(positionals[0])}`, {
    method: 'DELETE',
  });
  if (values.json) printJson(r);
  else out(`deleted rule ${positionals[0]}`);
  return EXIT.OK;
}
