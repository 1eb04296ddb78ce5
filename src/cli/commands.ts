// The CLI commands that talk to the daemon's API (status, tiers, connections, attackers, allow; and the
// remediation service's hosts, scan import, rules, programs, remediate, dispatches, detect) and
// `config check`, which needs no daemon: the table main.ts dispatches through. Each command group has
// its module (status.ts, hosts.ts, …), sharing format.ts for output, options.ts for argument checks and
// help.ts for the help texts. Human output by default, the API's JSON with --json.
// Exit codes: 0 ok, 1 runtime or daemon error (or an invalid config for `config check`), 2 usage,
// 3 the daemon is not running.

import { allow } from './allow.js';
import { attackers } from './attackers.js';
import { CliError } from './client.js';
import type { ApiCommandName } from './command-names.js';
import { configCommand } from './config-check.js';
import { connections } from './connections.js';
import { detect } from './detect.js';
import { hosts } from './hosts.js';
import { programs } from './programs.js';
import { dispatches, remediate } from './remediate.js';
import { rules } from './rules.js';
import { scan } from './scan.js';
import { status, tiers } from './status.js';
import { reportError } from './usage.js';

export const API_COMMANDS: Record<ApiCommandName, (argv: string[]) => Promise<number> | number> = {
  status,
  tiers,
  connections,
  attackers,
  allow,
  hosts,
  scan,
  rules,
  programs,
  remediate,
  dispatches,
  detect,
  config: configCommand,
};

/** Runs a command; a CliError becomes its message on stderr (JSON with --json) and its exit code. */
export async function apiCommand(cmd: string, argv: string[]): Promise<number> {
  try {
    return await API_COMMANDS[cmd as ApiCommandName](argv);
  } catch (err) {
    if (err instanceof CliError) return reportError(err, cmd, argv.includes('--json'));
    throw err;
  }
}
