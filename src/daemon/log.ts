// The daemon's logging: the line format is config/logfmt.ts (the command line writes its refusals
// with it too); what is here is the daemon's own.
import type { Log } from '../config/logfmt.js';

export { type Log, type LogFields, type LogLevel, logLine, logPrefix, logValue } from '../config/logfmt.js';

/**
 * Node's own warnings (`(node:31207) Warning: ...` on stderr) as our log lines instead: the daemon's
 * process.emitWarning calls and Node's alike.
 */
export function takeOverWarnings(log: Log): void {
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) => {
    log(w.message, 'warn', { event: 'node', warning: w.code ?? w.name });
  });
}
