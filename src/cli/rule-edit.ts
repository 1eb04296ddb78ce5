// The CLI verbs that change remediation rules and the programs the router sends itself:
// `rules save`, `rules delete`, `programs [list]`, `programs add`. LuCI's rpcd plugin runs them too,
// passing what the browser sent on stdin, so a rule or a location (a Windows path has backslashes)
// reaches the API as JSON without ever being a shell word. The API validates; these only shape input.

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { MAX_PROGRAM_BYTES } from '../remediation/programs.js';
import { CliError, EXIT } from './client.js';
import { COMMAND_HELP, client, out, parse, printJson } from './commands.js';
import { UsageError } from './usage.js';

const REM = '/api/v1/remediation';

/** A rule or a program spec on stdin or in a file: small JSON (LuCI's editor sends a few KiB). */
export const MAX_SPEC_BYTES = 64 * 1024;

/** Reads at most `max` bytes of a regular file (never through a symlink); refuses a larger one. */
export function readBounded(path: string, max: number, what: string): Buffer {
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

function jsonObject(text: Buffer, what: string): Record<string, unknown> {
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

interface ProgramRow {
  id: string;
  location: string;
  platform: string;
  sha256: string;
  size: number;
  storedAt: number;
}

/** `programs [list]`, `programs add <file> (--id <id> --location <loc> [--platform p] | --spec -)`. */
export async function programs(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'programs',
    argv,
    {
      id: { type: 'string' },
      location: { type: 'string' },
      platform: { type: 'string' },
      spec: { type: 'string' },
    },
    true,
  );
  if (values.help) {
    process.stdout.write(COMMAND_HELP.programs);
    return EXIT.OK;
  }
  const [sub, file, ...more] = positionals;
  if (more.length > 0) throw new UsageError('too many arguments', COMMAND_HELP.programs);
  const c = client(values, 'programs');
  if (sub === undefined || sub === 'list') {
    const r = await c.request<{ items: ProgramRow[] }>(`${REM}/programs`);
    if (values.json) printJson(r);
    else if (r.items.length === 0) out('no programs stored');
    else
      out(
        r.items
          .map((p) => `${p.id}\t${p.location}\t${p.platform}\t${p.size} bytes\tsha256 ${p.sha256}`)
          .join('\n'),
      );
    return EXIT.OK;
  }
  if (sub !== 'add') throw new UsageError(`unknown programs subcommand '${sub}'`, COMMAND_HELP.programs);
  if (file === undefined) throw new UsageError('programs add needs the program file', COMMAND_HELP.programs);
  // --spec - : the id, location and platform as JSON on stdin (what the rpcd plugin passes).
  const spec =
    values.spec === undefined
      ? {}
      : jsonObject(readBounded(values.spec, MAX_SPEC_BYTES, 'the spec'), 'the spec');
  const id = values.id ?? spec.id;
  const location = values.location ?? spec.location;
  const platform = values.platform ?? spec.platform;
  if (typeof id !== 'string' || typeof location !== 'string')
    throw new UsageError('programs add needs --id and --location', COMMAND_HELP.programs);
  if (platform !== undefined && typeof platform !== 'string')
    throw new UsageError('--platform: expected any, linux, windows or macos', COMMAND_HELP.programs);
  const content = readBounded(file, MAX_PROGRAM_BYTES, 'the program');
  if (content.length === 0) throw new CliError(`the program ${file} is empty`, EXIT.USAGE);
  const r = await c.request<ProgramRow>(`${REM}/programs`, {
    method: 'POST',
    body: { id, location, ...(platform ? { platform } : {}), content: content.toString('base64') },
  });
  if (values.json) printJson(r);
  else out(`stored ${r.id} for ${r.location}: ${r.size} bytes, sha256 ${r.sha256}`);
  return EXIT.OK;
}
