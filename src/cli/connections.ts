// `tunguard connections`: the SYN proxy's connections, filtered and a page at a time.

import { CONNECTION_STATES, type ConnectionRecord, type Page } from '../api/deps.js';
import { EXIT } from './client.js';
import { out, printJson, table, time } from './format.js';
import { help } from './help.js';
import { client, intOption, oneOf, parse, prefixArg } from './options.js';

export async function connections(argv: string[]): Promise<number> {
  const { values } = parse('connections', argv, {
    src: { type: 'string' },
    dst: { type: 'string' },
    port: { type: 'string' },
    state: { type: 'string' },
    family: { type: 'string' },
    offset: { type: 'string' },
    limit: { type: 'string' },
  });
  if (values.help) return help('connections');
  const q = new URLSearchParams();
  if (values.src !== undefined) q.set('src', prefixArg(values.src, '--src', 'connections'));
  if (values.dst !== undefined) q.set('dst', prefixArg(values.dst, '--dst', 'connections'));
  const port = intOption(values.port, 'port', 1, 65535, 'connections');
  if (port !== undefined) q.set('port', String(port));
  if (values.state !== undefined)
    q.set('state', oneOf(values.state, 'state', CONNECTION_STATES, 'connections'));
  if (values.family !== undefined) {
    q.set('family', oneOf(values.family, 'family', ['4', '6'], 'connections'));
  }
  q.set('offset', String(intOption(values.offset, 'offset', 0, 10_000_000, 'connections') ?? 0));
  q.set('limit', String(intOption(values.limit, 'limit', 1, 1000, 'connections') ?? 50));
  const p = await client(values, 'connections').request<Page<ConnectionRecord>>(`/api/v1/connections?${q}`);
  if (values.json) {
    printJson(p);
    return EXIT.OK;
  }
  if (p.note) out(`note: ${p.note}`);
  if (p.items.length === 0) {
    out(p.total === 0 ? 'no connections' : `no connections at offset ${p.offset} (${p.total} in all)`);
    return EXIT.OK;
  }
  const ep = (a: string, port: number) => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`);
  out(
    table(
      // PATH: where the connection's packets are translated now (the kernel, or the proxy).
      ['FROM', 'TO', 'STATE', 'DIR', 'PATH', 'UPDATED'],
      p.items.map((x) => [
        ep(x.src, x.sport),
        ep(x.dst, x.dport),
        x.state,
        x.direction,
        x.path,
        time(x.updatedAt),
      ]),
    ),
  );
  out(`${p.offset + 1}-${p.offset + p.items.length} of ${p.total}`);
  return EXIT.OK;
}
