// The configuration the daemon starts on. A file with errors never stops the start (procd would respawn
// a daemon that exits until it gives up, and the traffic would flow unprotected): the daemon runs on the
// last configuration that was good (kept in the state dir), else on the file without its bad lines (their
// settings at their defaults), else on the built-in defaults — and says so in the log and the status.
// The bad file is left as it is; a reload takes it once it is fixed.

import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_STATE_DIR } from '../cli/api-locate.js';
import { ConfigError, type ConfigIssue, configFromText, type TunguardConfig } from '../config/index.js';
import { salvageConfig } from '../config/salvage.js';
import { writeFileAtomicSync } from '../state/atomic-file.js';
import { ConfigStore } from './config-store.js';

/** Where the last good configuration is kept, in the state dir. */
export const LAST_GOOD_FILE = 'last-good-config.json';
/** A config file is at most 1 MiB (MAX_CONFIG_BYTES); its JSON copy stays well under this. */
const MAX_LAST_GOOD_BYTES = 4 << 20;

/** What the daemon runs on, when it is not the file as written. */
export interface StartFallback {
  /** 'last-good': the copy in the state dir; 'file-without-errors': the file minus its bad lines. */
  inForce: 'last-good' | 'file-without-errors' | 'defaults';
  /** Why the file is not in force: its problems, one per line. */
  problems: string[];
}

/** A check beyond the schema that needs the running system (run.ts: no API listen on the WAN). */
export type ExtraCheck = (config: TunguardConfig, text: string) => ConfigIssue[];

export interface StartConfig {
  store: ConfigStore;
  fallback?: StartFallback;
}

interface LastGood {
  path: string;
  text: string;
  savedAt: string;
}

/** Keeps `text` as the last good configuration of `path` (0600, replaced atomically, never followed). */
export function saveLastGood(stateDir: string, path: string, text: string): void {
  const body = `${JSON.stringify({ path, text, savedAt: new Date().toISOString() } satisfies LastGood)}\n`;
  writeFileAtomicSync(join(stateDir, LAST_GOOD_FILE), body, { mode: 0o600 });
}

/** The last good configuration kept for `path`, if there is one and it is still valid. */
export function readLastGood(stateDir: string, path: string): { text: string; savedAt: string } | undefined {
  try {
    const fd = openSync(join(stateDir, LAST_GOOD_FILE), constants.O_RDONLY | constants.O_NOFOLLOW);
    let raw: string;
    try {
      raw = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
    if (raw.length > MAX_LAST_GOOD_BYTES) return undefined;
    const g = JSON.parse(raw) as Partial<LastGood>;
    if (g.path !== path || typeof g.text !== 'string' || typeof g.savedAt !== 'string') return undefined;
    configFromText(g.text, path); // still valid for this version's schema
    return { text: g.text, savedAt: g.savedAt };
  } catch {
    return undefined;
  }
}

/**
 * The configuration to start on: the file when it is valid; otherwise a fallback (see the header).
 * Without a file: the built-in defaults. `stateDirFlag`: --state-dir, which wins over the config's.
 */
export function startConfig(
  path: string | undefined,
  stateDirFlag?: string,
  extra?: ExtraCheck,
): StartConfig {
  if (path === undefined) return { store: ConfigStore.fromDefaults() };
  let error: ConfigError;
  try {
    const store = ConfigStore.fromFile(path);
    const issues = extra?.(store.config, store.text) ?? [];
    if (issues.length > 0) throw new ConfigError(path, issues);
    return { store };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    error = err;
  }
  const problems = error.message.split('\n');
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {}
  const salvaged =
    text === '' ? undefined : salvageConfig(text, path, extra && ((l, t) => extra(l.config, t)));
  const stateDir = stateDirFlag ?? salvaged?.loaded.config.main.stateDir ?? DEFAULT_STATE_DIR;
  const good = readLastGood(stateDir, path);
  if (good && (extra?.(configFromText(good.text, path).config, good.text) ?? []).length === 0) {
    const store = new ConfigStore(path, { text: good.text, loaded: configFromText(good.text, path) });
    return { store, fallback: { inForce: 'last-good', problems } };
  }
  if (salvaged) {
    const store = new ConfigStore(path, { text: salvaged.text, loaded: salvaged.loaded });
    return { store, fallback: { inForce: 'file-without-errors', problems } };
  }
  const defaults = ConfigStore.fromDefaults();
  const store = new ConfigStore(path, { text: '', loaded: { config: defaults.config, warnings: [] } });
  return { store, fallback: { inForce: 'defaults', problems } };
}
