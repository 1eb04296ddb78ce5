// The CLI's errors and exit codes. Usage errors exit with code 2: one line saying what is wrong, and a hint naming the command's help
// (`try 'tunguard status --help'`), never the whole help text.
export class UsageError extends Error {
  override name = 'UsageError';
  /**
   * `help`: the command's help text, or '' for an error that is not about the command line (a bad
   * config file at start): then no hint follows the message.
   */
  constructor(
    message: string,
    readonly help?: string,
  ) {
    super(message);
  }
}

export const EXIT = { OK: 0, ERROR: 1, USAGE: 2, NOT_RUNNING: 3 } as const;

/** A failure with the exit code it maps to, and the API's `error` code when the API answered one. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly code: number = EXIT.ERROR,
    readonly apiError?: string,
  ) {
    super(message);
  }
}
