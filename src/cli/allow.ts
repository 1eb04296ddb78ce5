// `tunguard allow list|add|del`: the allowlist (the daemon writes changes to the config file).

import type { AllowList } from '../api/answers.js';
import type { AllowChange } from '../api/deps.js';
import { hasControlCharacter } from '../config/index.js';
import { EXIT } from './client.js';
import { out, printJson, tableOr } from './format.js';
import { COMMAND_HELP, help } from './help.js';
import { client, parse, prefixArg } from './options.js';
import { didYouMean } from './suggest.js';
import { UsageError } from './usage.js';

export async function allow(argv: string[]): Promise<number> {
  const { values, positionals } = parse('allow', argv, { comment: { type: 'string' } }, true);
  if (values.help) return help('allow');
  const [sub, arg, ...more] = positionals;
  if (more.length > 0) throw new UsageError('too many arguments', COMMAND_HELP.allow);
  const c = () => client(values, 'allow');
  switch (sub) {
    case undefined:
    case 'list': {
      if (arg !== undefined) throw new UsageError('allow list takes no argument', COMMAND_HELP.allow);
      const l = await c().request<AllowList>('/api/v1/allowlist');
      if (values.json) printJson(l);
      else
        out(
          tableOr(
            'the allowlist is empty',
            ['PREFIX', 'SECTION', 'COMMENT'],
            l.items.map((e) => [e.cidr, e.section, e.comment]),
          ),
        );
      return EXIT.OK;
    }
    case 'add': {
      if (arg === undefined) throw new UsageError('allow add needs an address or prefix', COMMAND_HELP.allow);
      const prefix = prefixArg(arg, 'prefix', 'allow');
      const comment = values.comment ?? '';
      if (comment.length > 200 || hasControlCharacter(comment))
        throw new UsageError('--comment: at most 200 characters, no control characters', COMMAND_HELP.allow);
      const r = await c().request<AllowChange>('/api/v1/allowlist', {
        method: 'POST',
        body: { cidr: prefix, comment },
      });
      if (values.json) printJson(r);
      else
        out(
          `${r.changed ? 'added' : 'already allowed:'} ${r.entry.cidr}${r.persisted ? '' : ' (in memory only: the daemon runs without a config file)'}`,
        );
      return EXIT.OK;
    }
    case 'del':
    case 'delete':
    case 'rm': {
      if (arg === undefined) throw new UsageError('allow del needs an address or prefix', COMMAND_HELP.allow);
      const prefix = prefixArg(arg, 'prefix', 'allow');
      const r = await c().request<AllowChange>(
        `/api/v1/allowlist/${prefix.split('/').map(encodeURIComponent).join('/')}`,
        {
          method: 'DELETE',
        },
      );
      if (values.json) printJson(r);
      else out(`removed ${r.entry.cidr} (from ${r.entry.section})`);
      return EXIT.OK;
    }
    default:
      throw new UsageError(
        `unknown allow subcommand '${sub}'${didYouMean(sub, ['list', 'add', 'del'])}`,
        COMMAND_HELP.allow,
      );
  }
}
