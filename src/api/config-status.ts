// What the status says about the configuration: which file, its checksum, what is in force (the file, or
// a fallback after errors at start), the last reload with its result and reasons, and the settings that
// wait for a restart. A refused reload or a start on a fallback is no longer only in the log.

import { createHash } from 'node:crypto';

/** One reload (SIGHUP) or change through the API, as it ended. */
export interface ReloadRecord {
  /** ISO time. */
  /** ms since the epoch. */
  at: number;
  trigger: 'sighup' | 'api';
  /** 'refused': the file had errors; the configuration in force stayed. */
  result: 'applied' | 'refused';
  /** Settings that differ from before ("defense.syn", "main.queues", ...). */
  changed: string[];
  applied: string[];
  notApplied: { part: string; reason: string }[];
  /** Why it was refused: the file's problems, one per line. */
  problems: string[];
}

export interface ConfigStatus {
  /** The config file (null: the daemon runs on built-in defaults, no file). */
  path: string | null;
  /** SHA-256 of the configuration text in force (compare: sha256sum /etc/config/tunguard). */
  sha256: string;
  /**
   * 'file': the file as written; 'last-good': the copy kept from the last good file (the file had
   * errors at start); 'file-without-errors': the file without its bad lines; 'defaults': built-in.
   */
  inForce: 'file' | 'last-good' | 'file-without-errors' | 'defaults';
  /** When the configuration in force was taken (ms since the epoch). */
  since: number;
  /** Why the file on disk is not in force (its problems, one per line); empty when it is. */
  problems: string[];
  /** Settings changed since the start that only a restart applies. */
  pendingRestart: string[];
  lastReload: ReloadRecord | null;
}

/** How the status and the log name what runs instead of a file with errors. */
export function describeInForce(inForce: ConfigStatus['inForce']): string {
  return {
    file: 'the file',
    'last-good': 'the last good configuration',
    'file-without-errors': 'the file without its bad lines (their settings at their defaults)',
    defaults: 'the built-in defaults',
  }[inForce];
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The control plane's record of the configuration's history (start, reloads, API changes). */
export class ConfigHealth {
  private inForce: ConfigStatus['inForce'];
  private since = Date.now();
  private problems: string[];
  private last: ReloadRecord | null = null;

  constructor(start: { inForce: ConfigStatus['inForce']; problems?: string[] }) {
    this.inForce = start.inForce;
    this.problems = start.problems ?? [];
  }

  /** A new configuration is in force (reload or API): the file is good again. */
  applied(r: Omit<ReloadRecord, 'at' | 'result' | 'problems'>, fromFile: boolean): ReloadRecord {
    this.inForce = fromFile ? 'file' : 'defaults';
    this.since = Date.now();
    this.problems = [];
    this.last = { at: this.since, result: 'applied', problems: [], ...r };
    return this.last;
  }

  /** The file was refused: what is in force stays, and the status says why. */
  refused(trigger: ReloadRecord['trigger'], problems: string[]): ReloadRecord {
    this.problems = problems;
    this.last = {
      at: Date.now(),
      trigger,
      result: 'refused',
      changed: [],
      applied: [],
      notApplied: [],
      problems,
    };
    return this.last;
  }

  status(path: string | undefined, textInForce: string, pendingRestart: string[]): ConfigStatus {
    return {
      path: path ?? null,
      sha256: sha256(textInForce),
      inForce: this.inForce,
      since: this.since,
      problems: this.problems,
      pendingRestart,
      lastReload: this.last,
    };
  }
}
