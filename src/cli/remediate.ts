// `tunguard remediate <host>` queues a remedy for a host's agent; `tunguard dispatches` lists what was queued.

import type {
  DispatchDetail,
  DispatchListItem,
  DispatchQueued,
  HostDetail,
  ListAnswer,
} from '../api/answers.js';
import { DISPATCH_STATUSES, REMEDY_MODES } from '../remediation/names.js';
import { CliError, EXIT, REM } from './client.js';
import { out, printJson, tableOr, time } from './format.js';
import { COMMAND_HELP, help } from './help.js';
import { client, oneArg, oneOf, parse } from './options.js';
import { UsageError } from './usage.js';

export async function remediate(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'remediate',
    argv,
    { rule: { type: 'string' }, mode: { type: 'string' } },
    true,
  );
  if (values.help) return help('remediate');
  const host = oneArg(positionals, 'remediate', 'host');
  if (host === undefined) throw new UsageError('remediate needs a host', COMMAND_HELP.remediate);
  if (values.mode !== undefined) oneOf(values.mode, 'mode', REMEDY_MODES, 'remediate');
  const c = client(values, 'remediate');
  let ruleId = values.rule;
  if (ruleId === undefined) {
    const h = await c.request<HostDetail>(`${REM}/hosts/${encodeURIComponent(host)}`);
    ruleId = h.matchingRules[0]?.ruleId;
    if (ruleId === undefined)
      throw new CliError(`no rule matches ${host} now; name one with --rule <id> ('tunguard rules')`);
  }
  const d = await c.request<DispatchQueued>(`${REM}/dispatch`, {
    method: 'POST',
    body: { host, ruleId, ...(values.mode !== undefined ? { mode: values.mode } : {}) },
  });
  if (values.json) printJson(d);
  else out(`dispatch ${d.id} for ${d.hostId} (rule ${ruleId}): ${d.status}`);
  return EXIT.OK;
}

export async function dispatches(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'dispatches',
    argv,
    { host: { type: 'string' }, status: { type: 'string' } },
    true,
  );
  if (values.help) return help('dispatches');
  const id = oneArg(positionals, 'dispatches', 'dispatch id');
  const c = client(values, 'dispatches');
  if (id !== undefined) {
    if (values.host !== undefined || values.status !== undefined)
      throw new UsageError('--host and --status filter the list, not one dispatch', COMMAND_HELP.dispatches);
    printJson(await c.request<DispatchDetail>(`${REM}/dispatches/${encodeURIComponent(id)}`));
    return EXIT.OK;
  }
  if (values.status !== undefined) oneOf(values.status, 'status', DISPATCH_STATUSES, 'dispatches');
  const q = new URLSearchParams();
  if (values.host !== undefined) q.set('host', values.host);
  if (values.status !== undefined) q.set('status', values.status);
  const query = q.toString() === '' ? '' : `?${q}`;
  const r = await c.request<ListAnswer<DispatchListItem>>(`${REM}/dispatches${query}`);
  if (values.json) printJson(r);
  else
    out(
      tableOr(
        'no dispatches',
        ['ID', 'HOST', 'RULE', 'STATUS', 'CREATED'],
        r.items.map((d) => [d.id, d.hostId, d.ruleId ?? '-', d.status, time(d.createdAt)]),
      ),
    );
  return EXIT.OK;
}
