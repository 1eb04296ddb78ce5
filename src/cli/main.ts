// The `tunguard` command: dispatches to subcommands. Exit codes: 0 ok, 1 runtime failure, 2 usage,
// 3 the daemon is not running (commands that talk to it).
import { logLine, logPrefix } from '../config/logfmt.js';
import { API_COMMAND_NAMES } from './command-names.js';
import { exitQuietlyOnClosedPipe } from './pipes.js';
import { didYouMean } from './suggest.js';
import { reportError, UsageError } from './usage.js';
import { tunguardVersion } from './version.js';

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
  rules        remediation rules; 'rules <id>' for one; 'rules save <file>', 'rules delete <id>'
  programs     cleanup programs the router sends itself; 'programs add <file> --id --location'
  remediate    'remediate <host> [--rule id]': send a remedy to the host's agent
  dispatches   remedies sent to agents and their status; 'dispatches <id>' for one
  detect       the periodic detection (config detect) and its last round; 'detect --now' runs one
  config       'config check [file]': validate a UCI config file
  help         this text
  version      the version (also --version)

Each takes --help; all but run take --json. Exit codes: 0 ok, 1 error, 2 usage,
3 the daemon is not running.
`;

/** Commands served by ./commands.js (loaded only when used: the daemon's modules stay unloaded). */
const API_COMMANDS = new Set<string>(API_COMMAND_NAMES);

/** What `tunguard` answers: a command name, or one of these. */
const TOP_WORDS = ['run', 'help', 'version', ...API_COMMAND_NAMES];

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run':
        return await (await import('../daemon/run.js')).runCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return cmd === undefined ? 2 : 0;
      case 'version':
      case '--version':
      case '-V':
        process.stdout.write(`tunguard ${tunguardVersion()}\n`);
        return 0;
      default:
        if (API_COMMANDS.has(cmd)) return await (await import('./commands.js')).apiCommand(cmd, rest);
        throw new UsageError(
          cmd.startsWith('-')
            ? `unknown option '${cmd}'${didYouMean(cmd, ['--help', '--version'])}`
            : `unknown command '${cmd}'${didYouMean(cmd, TOP_WORDS)}`,
        );
    }
  } catch (err) {
    const known = cmd !== undefined && (cmd === 'run' || API_COMMANDS.has(cmd));
    return reportError(err, known ? cmd : undefined, argv.includes('--json'));
  }
}

// The daemon keeps running when its output pipes close (run.ts); a command stops quietly.
if (process.argv[2] !== 'run') exitQuietlyOnClosedPipe();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    // The daemon's last words are a log line like the others (the stack in a field, on one line).
    const e = err as Error;
    process.stderr.write(
      process.argv[2] === 'run'
        ? `${logPrefix()}${logLine(`failed: ${e.message ?? String(err)}`, 'error', { event: 'exit', code: 1, stack: e.stack })}\n`
        : `tunguard: ${e.stack ?? err}\n`,
    );
    process.exitCode = 1;
  },
);
