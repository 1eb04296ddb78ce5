// The configuration's error and warning types: every problem in a config file names its line.

/** One problem (or warning) in a config file. */
export interface ConfigIssue {
  /** 1-based line the problem is on. */
  line: number;
  /** 1-based column, when known (syntax errors). */
  column?: number;
  /** "line 7: option moderate_threshold: expected an integer ≥ 1, got '-3'" (no file name). */
  message: string;
}

/**
 * A config file that cannot be used. `issues` lists every problem found (sorted by line; syntax errors
 * stop at the first); `line`/`column` are those of the first. `line` is undefined only when the file as a
 * whole is the problem (cannot be read, too large, not UTF-8 text).
 */
export class ConfigError extends Error {
  /** The file (or the name given for text) the error is in. */
  readonly path: string;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly issues: readonly ConfigIssue[];

  constructor(
    path: string,
    issues: readonly ConfigIssue[],
    fileLevelReason?: string,
    options?: ErrorOptions,
  ) {
    const text =
      issues.length > 0
        ? issues.map((i) => `${path}: ${i.message}`).join('\n')
        : `${path}: ${fileLevelReason}`;
    super(text, options);
    this.name = 'ConfigError';
    this.path = path;
    this.issues = issues;
    this.line = issues[0]?.line;
    this.column = issues[0]?.column;
  }
}

/** Builds an issue whose message starts with "line N: ". */
export function issueAt(line: number, reason: string, column?: number): ConfigIssue {
  return column === undefined
    ? { line, message: `line ${line}: ${reason}` }
    : { line, column, message: `line ${line}: ${reason}` };
}
