// A config file with errors, made usable: the lines of its problems are left out so those settings take
// their defaults (a section whose header is the problem goes whole). Used only at start, so that one
// typo never leaves the router without its defenses; the file itself is never changed.

import { ConfigError, type ConfigIssue } from './errors.js';
import { configFromText, type LoadedConfig } from './load.js';

/** Rounds of dropping lines (a dropped value can expose a cross-field problem on another line). */
const MAX_ROUNDS = 8;

export interface Salvaged {
  loaded: LoadedConfig;
  /** The text with the problem lines commented out (line numbers unchanged). */
  text: string;
  /** Every problem whose line was left out, as first reported. */
  dropped: ConfigIssue[];
}

/** The text without the lines of `issues`; undefined when an issue has no line to drop. */
function withoutLines(lines: string[], issues: readonly ConfigIssue[]): string[] | undefined {
  const out = [...lines];
  for (const i of issues) {
    const at = i.line - 1;
    if (!Number.isInteger(at) || at < 0 || at >= out.length) return undefined;
    const drop = (n: number) => {
      if (!out[n].startsWith('#')) out[n] = `# (left out: ${i.message.replace(/\n/g, ' ')}) ${out[n]}`;
    };
    drop(at);
    // A bad section header takes its options with it (they would join the section before it).
    if (/^\s*config\b/.test(lines[at]))
      for (let n = at + 1; n < out.length && !/^\s*config\b/.test(lines[n]); n++) drop(n);
  }
  return out;
}

/**
 * The usable part of a config text with errors, or undefined when nothing usable is left (or nothing
 * was wrong). `extra`: checks beyond the schema that need the running system (a listen address of the
 * WAN device); their problem lines are left out too.
 */
export function salvageConfig(
  text: string,
  path: string,
  extra?: (loaded: LoadedConfig, text: string) => ConfigIssue[],
): Salvaged | undefined {
  let lines = text.split('\n');
  const dropped: ConfigIssue[] = [];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const t = lines.join('\n');
    try {
      const loaded = configFromText(t, path);
      const more = extra?.(loaded, t) ?? [];
      if (more.length > 0) throw new ConfigError(path, more);
      return dropped.length === 0 ? undefined : { loaded, text: t, dropped };
    } catch (err) {
      if (!(err instanceof ConfigError) || err.issues.length === 0) return undefined;
      const next = withoutLines(lines, err.issues);
      if (next === undefined) return undefined;
      dropped.push(...err.issues);
      lines = next;
    }
  }
  return undefined;
}
