// `tunguard scan import <file>`: a scanner report into the inventory, copied into the daemon's import
// directory on the router (streamed there, large reports fit) or sent in the request to another machine's API.

import { randomBytes } from 'node:crypto';
import { chmodSync, constants, copyFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import type { ImportSummary } from '../api/answers.js';
import { isLoopbackHost } from '../api/tls-cert.js';
import { SCAN_FORMATS } from '../inventory/import/formats.js';
import { importDirOf, MAX_REPORT_BODY, MAX_REPORT_FILE } from '../remediation/import-file.js';
import { ApiClient, CliError, EXIT, type Located, locate, REM } from './client.js';
import { out, printJson } from './format.js';
import { COMMAND_HELP, help } from './help.js';
import { intOption, oneOf, parse } from './options.js';
import { readBounded } from './rule-edit.js';
import { didYouMean } from './suggest.js';
import { UsageError } from './usage.js';

const FORMATS = ['auto', ...SCAN_FORMATS];

/**
 * A copy of `file` in the daemon's import directory (made O_EXCL under a random name, 0600), or the file
 * itself when it is already there; remove() deletes only a copy.
 */
function stageImport(file: string, importDir: string): { path: string; remove: () => void } {
  if (dirname(file) === importDir) return { path: file, remove: () => {} };
  const copy = join(importDir, `cli-${randomBytes(8).toString('hex')}${extname(file)}`);
  try {
    copyFileSync(file, copy, constants.COPYFILE_EXCL);
    chmodSync(copy, 0o600);
  } catch (err) {
    rmSync(copy, { force: true });
    throw new CliError(
      `cannot copy ${file} into the daemon's import directory ${importDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (run as root on the router)`,
    );
  }
  return { path: copy, remove: () => rmSync(copy, { force: true }) };
}

/**
 * Whether the API is this machine's, so its import directory is here too: the daemon's own address
 * (api.json, the config) or a loopback one. An --api naming another address is another machine's.
 */
export function onThisMachine(where: Located): boolean {
  if (where.via !== '--api') return true;
  const host = new URL(where.url).hostname.replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || isLoopbackHost(host);
}

/** The daemon reads reports only from its import directory: a copy goes there for the request. */
async function importByPath(c: ApiClient, path: string, format: string): Promise<ImportSummary> {
  const staged = stageImport(path, importDirOf(c.where.stateDir));
  return c
    .request<ImportSummary>(`${REM}/scans`, { method: 'POST', body: { path: staged.path, format } })
    .finally(staged.remove);
}

/** A report to send in the request: at most what the API takes in a body (never through a symlink). */
function reportToSend(file: string, path: string): Buffer<ArrayBuffer> {
  const size = statSync(path).size;
  if (size > MAX_REPORT_BODY)
    throw new CliError(
      `${file} is ${size} bytes: a report sent to the API is at most ${MAX_REPORT_BODY} bytes (${MAX_REPORT_BODY >> 20} MiB); copy it to the router and import it there (up to ${MAX_REPORT_FILE >> 20} MiB)`,
    );
  const bytes = readBounded(path, MAX_REPORT_BODY, 'the report');
  if (bytes.length === 0) throw new CliError(`${file} is empty`);
  return bytes;
}

export async function scan(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'scan',
    argv,
    { format: { type: 'string' }, upload: { type: 'boolean' } },
    true,
  );
  if (values.help) return help('scan');
  const [sub, file, ...more] = positionals;
  if (sub !== 'import')
    throw new UsageError(
      sub === undefined
        ? 'scan needs a subcommand (import)'
        : `unknown scan subcommand '${sub}'${didYouMean(sub, ['import'])}`,
      COMMAND_HELP.scan,
    );
  if (file === undefined) throw new UsageError('scan import needs a report file', COMMAND_HELP.scan);
  if (more.length > 0) throw new UsageError('too many arguments', COMMAND_HELP.scan);
  const format = oneOf(values.format ?? 'auto', 'format', FORMATS, 'scan');
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(`${file}: no such file`);
  const timeout = intOption(values.timeout, 'timeout', 1, 3600, 'scan') ?? 300;
  const c = new ApiClient(locate(values), timeout * 1000);
  const r =
    values.upload || !onThisMachine(c.where)
      ? await c.request<ImportSummary>(`${REM}/scans?format=${format}`, {
          method: 'POST',
          content: { type: 'application/xml', bytes: reportToSend(file, path) },
        })
      : await importByPath(c, path, format);
  if (values.json) printJson(r);
  else {
    const lines = [
      `imported ${path}: ${r.hostIds.length} host(s)${r.threatsSeen !== undefined ? `, ${r.threatsSeen} threat(s) seen` : ''}`,
    ];
    if (r.findings !== undefined) {
      const notKept = Object.entries(r.findingsNotKept ?? {})
        .map(([why, n]) => `${n} ${why}`)
        .join(', ');
      lines.push(
        `findings: ${r.findings} in the report, ${r.findingsKept ?? 0} kept${notKept ? `, not kept: ${notKept}` : ''}`,
      );
    }
    if (r.addressesRefused)
      lines.push(`addresses refused: ${r.addressesRefused} (${(r.badAddresses ?? []).join(', ')})`);
    out(lines.join('\n'));
  }
  return EXIT.OK;
}
