// The CLI's errors and exit codes. Usage errors exit with code 2: one line saying what is wrong, and a hint naming the command's help
// (`try 'tunguard status --help'`), never the whole help text.
import { logLine, logPrefix } from '../config/logfmt.js';

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

/**
 * An error on stderr and its exit code (`cmd`: the command it belongs to, if any): one line (a config
 * error may list its lines) and, for a usage error, a hint naming the help to read. With --json, the
 * API's `{error, detail}` shape instead. The daemon's (`run`) is one of its log lines (logfmt, like
 * all it says: procd hands both to syslog, where a collector parses them).
 */
export function reportError(err: unknown, cmd: string | undefined, json: boolean): number {
  const where = cmd !== undefined ? `tunguard ${cmd}` : 'tunguard';
  let code: number;
  let error: string;
  let hint = '';
  if (err instanceof UsageError) {
    code = EXIT.USAGE;
    error = 'usage';
    if (err.help !== '') hint = cmd !== undefined ? `try '${where} --help'` : "try 'tunguard help'";
  } else if (err instanceof CliError) {
    code = err.code;
    error = err.apiError ?? (code === EXIT.NOT_RUNNING ? 'not_running' : 'error');
  } else {
    code = EXIT.ERROR;
    error = 'internal';
  }
  const detail = (err as Error).message;
  if (cmd === 'run' && !json)
    process.stderr.write(
      `${logPrefix()}${logLine(detail, 'error', { event: 'exit', code, error, ...(hint ? { hint } : {}) })}\n`,
    );
  else if (json) process.stderr.write(`${JSON.stringify({ error, detail })}\n`);
  else process.stderr.write(`${where}: ${detail}\n${hint ? `${hint}\n` : ''}`);
  return code;
}
