// `tunguard programs [list]` and `programs add`: the cleanup programs the router keeps and sends agents itself.

import type { ListAnswer, ProgramInfo } from '../api/answers.js';
import { MAX_PROGRAM_BYTES } from '../remediation/programs.js';
import { CliError, EXIT, REM } from './client.js';
import { out, printJson } from './format.js';
import { COMMAND_HELP } from './help.js';
import { client, parse } from './options.js';
import { jsonObject, MAX_SPEC_BYTES, readBounded } from './rule-edit.js';
import { UsageError } from './usage.js';

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
    const r = await c.request<ListAnswer<ProgramInfo>>(`${REM}/programs`);
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
  const r = await c.request<ProgramInfo>(`${REM}/programs`, {
    method: 'POST',
    body: { id, location, ...(platform ? { platform } : {}), content: content.toString('base64') },
  });
  if (values.json) printJson(r);
  else out(`stored ${r.id} for ${r.location}: ${r.size} bytes, sha256 ${r.sha256}`);
  return EXIT.OK;
}
