// The `tunguard` command: dispatches to subcommands. Exit codes: 0 ok, 1 runtime failure, 2 usage.
import { runCommand } from './run.js';
import { UsageError } from './usage.js';

const HELP = `usage: tunguard <command> [options]

commands:
  run        run the daemon in the foreground (see 'tunguard run --help')
  help       this text
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run':
        return await runCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return cmd === undefined ? 2 : 0;
      default:
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
