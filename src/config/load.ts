// Loading the configuration: a file or text → TunguardConfig and warnings, or one ConfigError that names
// the file and the line of every problem.

import { readFileSync, statSync } from 'node:fs';
import { ConfigError, type ConfigIssue, issueAt } from './errors.js';
import { interpretUci, type TunguardConfig } from './schema.js';
import { parseUci, type UciDocument, UciError, type UciWarning } from './uci.js';

export interface LoadedConfig {
  config: TunguardConfig;
  /** Legal but probably unintended settings, each with its line ("line 9: ..."). */
  warnings: ConfigIssue[];
}

/** Config files are small; anything bigger than this is not one. */
export const MAX_CONFIG_BYTES = 1 << 20;

/** The built-in defaults (what an empty /etc/config/tunguard gives). A fresh object on every call. */
export function defaultConfig(): TunguardConfig {
  return configFromUci({ sections: [] }, '<defaults>').config;
}

/** Interprets an already parsed document; throws ConfigError naming `pathForMessages`. */
export function configFromUci(doc: UciDocument, pathForMessages = '<config>'): LoadedConfig {
  const { config, issues, warnings } = interpretUci(doc);
  if (!config) throw new ConfigError(pathForMessages, issues);
  return { config, warnings };
}

/** Parses and interprets UCI text; throws ConfigError (never anything else) for a bad config. */
export function configFromText(text: string, pathForMessages = '<config>'): LoadedConfig {
  const parserWarnings: UciWarning[] = [];
  let doc: UciDocument;
  try {
    doc = parseUci(text, { onWarning: (w) => parserWarnings.push(w) });
  } catch (err) {
    if (err instanceof UciError) {
      throw new ConfigError(pathForMessages, [issueAt(err.line, err.reason, err.column)], undefined, {
        cause: err,
      });
    }
    throw err;
  }
  const loaded = configFromUci(doc, pathForMessages);
  const warnings = [
    ...parserWarnings.map((w): ConfigIssue => ({ line: w.line, column: w.column, message: w.message })),
    ...loaded.warnings,
  ].sort((a, b) => a.line - b.line);
  return { config: loaded.config, warnings };
}

/**
 * Reads and interprets a UCI config file (synchronously: it is read once at start and on SIGHUP).
 * Throws ConfigError with `.path`, and `.line` for problems in the text.
 */
export function loadConfigFile(path: string): LoadedConfig {
  let bytes: Buffer;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new ConfigError(path, [], 'not a regular file');
    if (st.size > MAX_CONFIG_BYTES) throw new ConfigError(path, [], `larger than ${MAX_CONFIG_BYTES} bytes`);
    bytes = readFileSync(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(path, [], `cannot read: ${e.code ?? e.message}`, { cause: err });
  }
  const text = bytes.toString('utf8');
  const bad = text.indexOf('\uFFFD');
  if (bad >= 0) {
    const line = text.slice(0, bad).split('\n').length;
    const column = bad - text.lastIndexOf('\n', bad - 1);
    throw new ConfigError(path, [issueAt(line, 'not valid UTF-8 text', column)]);
  }
  return configFromText(text, path);
}
