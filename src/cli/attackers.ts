// `tunguard attackers [clear [<address>]]`: sources marked aggressive, and clearing their marks.

import type { AttackerList, ClearResult } from '../api/deps.js';
import { EXIT } from './client.js';
import { duration, out, printJson, table, time } from './format.js';
import { COMMAND_HELP, help } from './help.js';
import { client, intOption, parse, prefixArg } from './options.js';
import { didYouMean } from './suggest.js';
import { UsageError } from './usage.js';

export async function attackers(argv: string[]): Promise<number> {
  const { values, positionals } = parse('attackers', argv, { limit: { type: 'string' } }, true);
  if (values.help) return help('attackers');
  const [sub, address, ...more] = positionals;
  if (sub !== undefined && sub !== 'clear' && sub !== 'list')
    throw new UsageError(
      `unknown attackers subcommand '${sub}'${didYouMean(sub, ['list', 'clear'])}`,
      COMMAND_HELP.attackers,
    );
  if (more.length > 0 || (sub !== 'clear' && address !== undefined))
    throw new UsageError('too many arguments', COMMAND_HELP.attackers);
  const c = client(values, 'attackers');
  if (sub === 'clear') {
    let path = '/api/v1/attackers';
    if (address !== undefined) {
      const p = prefixArg(address, 'address', 'attackers');
      path += `/${encodeURIComponent(p.replace(/\/(32|128)$/, ''))}`;
    }
    const r = await c.request<ClearResult>(path, { method: 'DELETE' });
    if (values.json) printJson(r);
    else out(`cleared ${r.cleared} mark(s)${r.note ? ` (${r.note})` : ''}`);
    return EXIT.OK;
  }
  const limit = intOption(values.limit, 'limit', 1, 1000, 'attackers') ?? 50;
  const a = await c.request<AttackerList>(`/api/v1/attackers?limit=${limit}`);
  if (values.json) {
    printJson(a);
    return EXIT.OK;
  }
  if (a.note) out(`note: ${a.note}`);
  if (a.items.length === 0) {
    out('no sources marked');
    return EXIT.OK;
  }
  const now = Date.now();
  out(
    table(
      ['ADDRESS', 'UNFINISHED', 'MARKED', 'EXPIRES IN', 'TIMES'],
      a.items.map((x) => [
        x.address,
        x.unfinished === null ? '-' : String(x.unfinished),
        time(x.markedAt),
        duration(Math.max(0, (x.expiresAt - now) / 1000)),
        String(x.marks),
      ]),
    ),
  );
  if (a.total > a.items.length) out(`${a.items.length} of ${a.total}`);
  return EXIT.OK;
}
