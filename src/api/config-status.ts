// What the status says about the configuration: which file, its checksum, what is in force (the file, or
// a fallback after errors at start), the last reload with its result and reasons, and the settings that
// wait for a restart. A refused reload or a start on a fallback is no longer only in the log.

import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { Time } from './schema-parts.js';

/** One reload (SIGHUP) or change through the API, as it ended. */
export const ReloadRecord = v.object({
  at: Time,
  trigger: v.picklist(['sighup', 'api']),
  /** 'refused': the file had errors; the configuration in force stayed. */
  result: v.picklist(['applied', 'refused']),
  /** Settings that differ from before ("defense.syn", "main.queues", ...). */
  changed: v.array(v.string()),
  applied: v.array(v.string()),
  notApplied: v.array(v.object({ part: v.string(), reason: v.string() })),
  /** Why it was refused: the file's problems, one per line. */
  problems: v.pipe(v.array(v.string()), v.description('why the file was refused, one per line')),
});
export type ReloadRecord = v.InferOutput<typeof ReloadRecord>;

export const ConfigStatus = v.object({
  /** The config file (null: the daemon runs on built-in defaults, no file). */
  path: v.nullable(v.pipe(v.string(), v.description('the config file; null: built-in defaults'))),
  /** SHA-256 of the configuration text in force (compare: sha256sum /etc/config/tunguard). */
  sha256: v.pipe(v.string(), v.description('SHA-256 of the configuration text in force')),
  /**
   * 'file': the file as written; 'last-good': the copy kept from the last good file (the file had
   * errors at start); 'file-without-errors': the file without its bad lines; 'defaults': built-in.
   */
  inForce: v.pipe(
    v.picklist(['file', 'last-good', 'file-without-errors', 'defaults']),
    v.description('the file, or what runs instead because the file had errors at start'),
  ),
  /** When the configuration in force was taken. */
  since: Time,
  /** Why the file on disk is not in force (its problems, one per line); empty when it is. */
  problems: v.pipe(v.array(v.string()), v.description('why the file on disk is not in force')),
  /** Settings changed since the start that only a restart applies. */
  pendingRestart: v.array(v.string()),
  lastReload: v.nullable(ReloadRecord),
});
export type ConfigStatus = v.InferOutput<typeof ConfigStatus>;

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
