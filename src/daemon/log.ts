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

/**
 * A bound on the lines of one kind: a spoofed flood can mark thousands of aggressive sources a
 * second, and a line for each would wipe OpenWrt's small log ring (logd keeps 64 KiB) of everything
 * else. The first `perWindow` of a window are logged one by one; the rest are counted and summed up
 * in one line when the window ends (the API lists every one of them).
 */
export class LogBudget {
  private windowStart = Number.NEGATIVE_INFINITY;
  private used = 0;
  private held = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly perWindow: number,
    private readonly windowMs: number,
    private readonly summary: (held: number) => void,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Whether this line may be written; false: it was counted for the window's summary. */
  take(): boolean {
    const now = this.clock();
    if (now - this.windowStart >= this.windowMs) {
      this.flush();
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used < this.perWindow) {
      this.used++;
      return true;
    }
    if (this.held++ === 0) {
      this.timer = setTimeout(() => this.flush(), Math.max(0, this.windowStart + this.windowMs - now));
      this.timer.unref();
    }
    return false;
  }

  /** Writes the summary of what was held back, if anything (also at the window's end, and on stop). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.held === 0) return;
    const n = this.held;
    this.held = 0;
    this.summary(n);
  }
}
