// `tunguard rules [<id>]`: the remediation rules, or one in full; `rules save|delete` are in rule-edit.ts.

import type { ListAnswer, Rule } from '../api/answers.js';
import { EXIT, REM } from './client.js';
import { out, printJson, tableOr } from './format.js';
import { help } from './help.js';
import { client, oneArg, parse } from './options.js';
import { rulesDelete, rulesSave } from './rule-edit.js';

export async function rules(argv: string[]): Promise<number> {
  if (argv[0] === 'save') return rulesSave(argv.slice(1));
  if (argv[0] === 'delete') return rulesDelete(argv.slice(1));
  const { values, positionals } = parse('rules', argv, {}, true);
  if (values.help) return help('rules');
  const id = oneArg(positionals, 'rules', 'rule id');
  const c = client(values, 'rules');
  if (id !== undefined) {
    printJson(await c.request<Rule>(`${REM}/rules/${encodeURIComponent(id)}`));
    return EXIT.OK;
  }
  const r = await c.request<ListAnswer<Rule>>(`${REM}/rules`);
  if (values.json) printJson(r);
  else
    out(
      tableOr(
        'no rules',
        ['ID', 'KIND', 'ENABLED', 'PRIORITY', 'NAME'],
        r.items.map((x) => [x.id, x.kind, x.enabled ? 'yes' : 'no', String(x.priority), x.name ?? '']),
      ),
    );
  return EXIT.OK;
}
