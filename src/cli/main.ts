// The `tunguard` command: dispatches to subcommands. Exit codes: 0 ok, 1 runtime failure, 2 usage,
// 3 the daemon is not running (commands that talk to it).
import { UsageError } from './usage.js';

const HELP = `usage: tunguard <command> [options]

commands:
  run          run the daemon in the foreground (see 'tunguard run --help')
  status       tier, half-open handshakes, counters, uptime of the running daemon
  tiers        the risk tier and its recent changes
  connections  connections proxied by the SYN proxy
  attackers    sources marked aggressive; 'attackers clear [addr]'
  allow        the allowlist: 'allow list', 'allow add <prefix>', 'allow del <prefix>'
  hosts        LAN hosts (from scans and traffic) with their risk; 'hosts <host>' for one
  scan         'scan import <file>': import an nmap, Nessus or OpenVAS report
  rules        remediation rules; 'rules <id>' for one
  remediate    'remediate <host> [--rule id]': send a remedy to the host's agent
  dispatches   remedies sent to agents and their status; 'dispatches <id>' for one
  detect       the periodic detection (config detect) and its last round; 'detect --now' runs one
  config       'config check [file]': validate a UCI config file
  help         this text

Each takes --help; all but run take --json. Exit codes: 0 ok, 1 error, 2 usage,
3 the daemon is not running.
`;

/** Commands served by ./commands.js (loaded only when used: the daemon's modules stay unloaded). */
const API_COMMAND_NAMES = new Set([
  'status',
  'tiers',
  'connections',
  'attackers',
  'allow',
  'hosts',
  'scan',
  'rules',
  'remediate',
  'dispatches',
  'detect',
  'config',
]);

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run':
        return await (await import('./run.js')).runCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return cmd === undefined ? 2 : 0;
      default:
        if (API_COMMAND_NAMES.has(cmd)) return await (await import('./commands.js')).apiCommand(cmd, rest);
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`tunguard: ${err.message}\n${err.help ?? "try 'tunguard help'"}\n`);
      return 2;
    }
    process.stderr.write(`tunguard: ${(err as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`tunguard: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  },
);
