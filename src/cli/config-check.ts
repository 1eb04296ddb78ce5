// `tunguard config check [<file>]`: validates a UCI config file without a daemon.

import { ConfigError, loadConfigFile } from '../config/index.js';
import { DEFAULT_CONFIG_PATH } from './api-locate.js';
import { parseCommand } from './args.js';
import { out, printJson } from './format.js';
import { COMMAND_HELP, help } from './help.js';
import { didYouMean } from './suggest.js';
import { EXIT, UsageError } from './usage.js';

function parseConfigArgs(argv: string[]) {
  const options = {
    json: { type: 'boolean' },
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  return parseCommand(argv, options, true, COMMAND_HELP.config);
}

export function configCommand(argv: string[]): number {
  const parsed = parseConfigArgs(argv);
  const { values, positionals } = parsed;
  if (values.help) return help('config');
  const [sub, file, ...more] = positionals;
  if (sub !== 'check')
    throw new UsageError(
      sub === undefined
        ? 'config needs a subcommand'
        : `unknown config subcommand '${sub}'${didYouMean(sub, ['check'])}`,
      COMMAND_HELP.config,
    );
  if (more.length > 0) throw new UsageError('too many arguments', COMMAND_HELP.config);
  const path = file ?? values.config ?? DEFAULT_CONFIG_PATH;
  try {
    const { warnings } = loadConfigFile(path);
    if (values.json) printJson({ valid: true, path, issues: [], warnings });
    else {
      out(`${path}: ok`);
      for (const w of warnings) process.stderr.write(`${path}: warning: ${w.message}\n`);
    }
    return EXIT.OK;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (values.json) printJson({ valid: false, path, issues: err.issues, error: err.message });
    else process.stderr.write(`${err.message}\n`);
    return EXIT.ERROR;
  }
}
