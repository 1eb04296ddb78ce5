// The log-line format of the daemon and of the command line's refusals (one place, so both stay
// parseable alike), for logread and for scripts: logfmt, one line each, always in this
// order: `level=<error|warn|info> [event=<topic>] msg="<what happened, for a human>" [key=value ...]`.
// The fields after msg are the stable part a script or a fleet collector keys on; the message may be
// reworded. A "topic: " prefix of a message ("api: ...", "detect: ...") also gives its event.

export type LogLevel = 'error' | 'warn' | 'info';
export type LogFields = Record<string, string | number | boolean | undefined>;
/** How the daemon's parts log: a message, a level (default info), stable fields. */
export type Log = (msg: string, level?: LogLevel, fields?: LogFields) => void;

/** A value as logfmt has it: bare when it is one plain word, else a JSON string (one line, escaped). */
export function logValue(v: string | number | boolean): string {
  const s = String(v);
  return /^[\w.:/@,+-]+$/.test(s) ? s : JSON.stringify(s);
}

export function logLine(msg: string, level: LogLevel = 'info', fields: LogFields = {}): string {
  let lvl = level;
  const topic = /^(?!warning:|error:)([a-z][a-z-]{1,15}): /.exec(msg);
  const event = fields.event ?? topic?.[1];
  // Older call sites say how bad it is in words ("warning: ...", "api: WARNING: ...").
  const said = /^(?:[a-z][a-z-]{1,15}: )?(warning|WARNING|ERROR|error): /.exec(msg);
  if (said && lvl === 'info') lvl = /^e/i.test(said[1]) ? 'error' : 'warn';
  const parts = [`level=${lvl}`];
  if (event !== undefined) parts.push(`event=${logValue(event)}`);
  parts.push(`msg=${logValue(msg)}`);
  for (const [k, v] of Object.entries(fields))
    if (k !== 'event' && v !== undefined) parts.push(`${k}=${logValue(v)}`);
  return parts.join(' ');
}

/**
 * Set (to 1) by whoever hands the daemon's output to a system log that already tags each line with
 * the program's name: the init script, under procd (`tunguard[pid]: ...`). Elsewhere (a terminal, a
 * pipe, a file shared with other programs) each line says whose it is itself.
 */
export const LOG_TAGGED_ENV = 'TUNGUARD_LOG_TAGGED';

/** What starts each of the daemon's log lines: its name, unless the system log tags it already. */
export function logPrefix(env: NodeJS.ProcessEnv = process.env): string {
  return env[LOG_TAGGED_ENV] === '1' ? '' : 'tunguard: ';
}
